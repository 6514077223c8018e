/**
 * Shapes stored objects into the JSON the VNC API returns: identity fields with hrefs, properties, refs
 * (`{to, uuid, href, attr}`), children under their plural field and `<type>_back_refs`, honouring
 * `fields`, `exclude_children`, `exclude_back_refs` and `exclude_hrefs`.
 * Example: `renderObject(store, obj, { base: "http://127.0.0.1:8082" })`.
 */
import { typeInfo, underscore } from "./schema";
import type { StoreReader, StoredObject } from "./store";

export interface RenderOptions {
  /** Scheme://host[:port] hrefs start with. */
  base: string;
  /** Only these props/refs/children/back-refs (id_perms and perms2 always come along). */
  fields?: ReadonlySet<string>;
  excludeChildren?: boolean;
  excludeBackRefs?: boolean;
  excludeHrefs?: boolean;
  /** Leave children and back-refs out unless named in `fields` (LIST detail form). */
  onlyRequestedRelations?: boolean;
}

export const hrefOf = (base: string, type: string, uuid: string): string => `${base}/${type}/${uuid}`;

export function renderObject(
  store: StoreReader,
  o: StoredObject,
  opts: RenderOptions,
): Record<string, unknown> {
  const info = typeInfo(o.type)!;
  const { base, fields } = opts;
  const hrefs = !opts.excludeHrefs;
  const want = (f: string) => !fields || fields.has(f);
  const out: Record<string, unknown> = {
    uuid: o.uuid,
    name: o.fq_name[o.fq_name.length - 1],
    fq_name: o.fq_name,
    parent_type: o.parent_type,
  };
  if (o.parent_uuid) {
    out.parent_uuid = o.parent_uuid;
    if (hrefs) out.parent_href = hrefOf(base, o.parent_type, o.parent_uuid);
  }
  if (hrefs) out.href = hrefOf(base, o.type, o.uuid);
  for (const [k, v] of Object.entries(o.props)) {
    if (want(k) || k === "id_perms" || k === "perms2") out[k] = v;
  }
  for (const [target, refs] of Object.entries(o.refs)) {
    const field = `${underscore(target)}_refs`;
    if (!want(field) || refs.length === 0) continue;
    out[field] = refs.map((r) => {
      const t = store.get(r.uuid);
      const ref: Record<string, unknown> = { to: t?.fq_name ?? [], uuid: r.uuid };
      if (hrefs) ref.href = hrefOf(base, target, r.uuid);
      if (r.attr !== null && r.attr !== undefined) ref.attr = r.attr;
      return ref;
    });
  }
  const relation = (f: string) => (opts.onlyRequestedRelations ? !!fields?.has(f) : want(f));
  // LIST detail without fields: no relations to collect, skip the index walks.
  const noRelations = opts.onlyRequestedRelations && !fields;
  if (!opts.excludeChildren && !noRelations) {
    for (const child of store.children(o.uuid)) {
      const field = `${underscore(child.type)}s`;
      if (!relation(field) || !info.childFields.has(field)) continue;
      if (!out[field]) out[field] = [];
      const list = out[field] as unknown[];
      const c: Record<string, unknown> = { to: child.fq_name, uuid: child.uuid };
      if (hrefs) c.href = hrefOf(base, child.type, child.uuid);
      list.push(c);
    }
  }
  if (!opts.excludeBackRefs && !noRelations) {
    for (const from of store.referrers(o.uuid)) {
      const field = `${underscore(from.type)}_back_refs`;
      if (!relation(field)) continue;
      for (const r of from.refs[o.type] ?? []) {
        if (r.uuid !== o.uuid) continue;
        if (!out[field]) out[field] = [];
        const list = out[field] as unknown[];
        const b: Record<string, unknown> = { to: from.fq_name, uuid: from.uuid };
        if (hrefs) b.href = hrefOf(base, from.type, from.uuid);
        if (r.attr !== null && r.attr !== undefined) b.attr = r.attr;
        list.push(b);
      }
    }
  }
  return out;
}
