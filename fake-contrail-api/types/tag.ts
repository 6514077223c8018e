/**
 * tag and tag-type (upstream TagServer, TagTypeServer). A tag is named `<type>=<value>` whatever name the
 * client gave, its type name lower-cased; its tag-type is created with it when missing; `tag_id` is the type
 * id in the upper 16 bits and a value id below — from 0x8000 up for project-scoped tags, from 1 for global
 * ones. A tag-type's id is the next free one from 0x100 unless given. None of these fields ever change.
 * Example: `POST tag {tag_type_name: "Application", tag_value: "web"}` → `fq_name: ["application=web"]`,
 *          `tag_id: "0x00010001"` (the predefined type 1, the first global value).
 */
import { badRequest, conflict } from "../errors";
import type { StoredObject } from "../store";
import { firstFree, hex, type TypeRules } from "./rules";

export const tag: TypeRules = {
  preCreate(ctx, obj, parent) {
    const p = obj.props;
    const typeName = String(p.tag_type_name).toLowerCase();
    const value = String(p.tag_value);
    if (!typeName || typeName.includes("=") || !value)
      throw badRequest("tag needs tag_type_name and tag_value");
    p.tag_type_name = typeName;
    const name = `${typeName}=${value}`;
    obj.fq_name = [...obj.fq_name.slice(0, -1), name];
    p.display_name = name;
    const dup = ctx.store.byFqName("tag", obj.fq_name);
    if (dup) throw conflict(`${obj.fq_name.join(":")} already exists with uuid: ${dup.uuid}`);
    let tagType = ctx.store.byFqName("tag-type", [typeName]);
    if (!tagType) tagType = ctx.create("tag-type", { fq_name: [typeName] });
    const typeId = Number.parseInt(String(tagType.props.tag_type_id), 16);
    const used = ctx.alloc.tagValueIds.get(typeId) ?? new Set<number>();
    // Project-scoped tags take value ids from the upper half, global ones from the lower.
    const valueId = firstFree(used, parent ? 0x8000 : 1);
    p.tag_id = `0x${hex(typeId, 4).slice(2)}${hex(valueId, 4).slice(2)}`;
    obj.refs = { ...obj.refs, "tag-type": [{ uuid: tagType.uuid, attr: null }] };
  },
  preUpdate(_ctx, prev, next) {
    checkTagFieldsUnchanged(prev, next);
  },
  track(ctx, o) {
    const id = Number.parseInt(String(o.props.tag_id), 16);
    const t = id >>> 16;
    if (!ctx.alloc.tagValueIds.has(t)) ctx.alloc.tagValueIds.set(t, new Set());
    ctx.alloc.tagValueIds.get(t)!.add(id & 0xffff);
  },
  untrack(ctx, o) {
    const id = Number.parseInt(String(o.props.tag_id), 16);
    ctx.alloc.tagValueIds.get(id >>> 16)?.delete(id & 0xffff);
  },
};

export const tagType: TypeRules = {
  preCreate(ctx, obj) {
    const p = obj.props;
    if (typeof p.tag_type_id !== "string") p.tag_type_id = hex(firstFree(ctx.alloc.tagTypeIds, 0x100), 4);
    else if (!/^0x[0-9a-fA-F]{1,4}$/.test(p.tag_type_id))
      throw badRequest(`invalid tag_type_id ${p.tag_type_id}`);
  },
  preUpdate(_ctx, prev, next) {
    checkTagFieldsUnchanged(prev, next);
  },
  track(ctx, o) {
    ctx.alloc.tagTypeIds.add(Number.parseInt(String(o.props.tag_type_id), 16));
  },
  untrack(ctx, o) {
    ctx.alloc.tagTypeIds.delete(Number.parseInt(String(o.props.tag_type_id), 16));
  },
};

function checkTagFieldsUnchanged(prev: StoredObject, next: StoredObject): void {
  for (const f of ["tag_type_name", "tag_value", "tag_id", "tag_type_id"])
    if (next.props[f] !== prev.props[f]) throw badRequest(`${f} cannot be changed`);
}
