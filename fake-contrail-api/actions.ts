/**
 * The action endpoints besides CRUD and LIST: fqname-to-id, id-to-fqname, ref-update, ref-relax-for-delete,
 * prop-collection-get/update, set-tag, useragent-kv, obj-perms, chown, chmod. Each takes the parsed request
 * body/query and returns the response JSON (throwing ApiError for the documented failures); writes stay in the
 * store's open transaction.
 * Example: `actions.fqNameToId({ type: "project", fq_name: ["default-domain", "default-project"] })`.
 */
import { ApiError, badRequest, isUuid, notFound } from "./errors";
import { LIST_PROPS, MAP_PROPS, typeInfo } from "./schema";
import { type ConfigService, isJsonObject } from "./service";
import type { StoredObject } from "./store";

type Json = Record<string, unknown>;

const normType = (t: unknown): string | undefined =>
  typeof t === "string" ? t.replace(/_/g, "-") : undefined;

function body(b: unknown, action: string): Json {
  if (!isJsonObject(b)) throw badRequest(`${action}: body must be a JSON object`);
  return b;
}

export class Actions {
  constructor(private readonly svc: ConfigService) {}

  private get store() {
    return this.svc.store;
  }

  /** Lookups answer from the committed state only (what a crash cannot take back). */
  private get view() {
    return this.svc.store.committed;
  }

  private objectOrThrow(uuid: unknown): StoredObject {
    if (!isUuid(uuid)) throw badRequest(`invalid uuid ${JSON.stringify(uuid)}`);
    const o = this.store.get(uuid);
    if (!o) throw notFound(`uuid ${uuid} not found`);
    return o;
  }

  fqNameToId(raw: unknown): Json {
    const b = body(raw, "fqname-to-id");
    const type = normType(b.type);
    if (!type || !typeInfo(type)) throw badRequest(`fqname-to-id: invalid type ${JSON.stringify(b.type)}`);
    if (!Array.isArray(b.fq_name) || !b.fq_name.every((x) => typeof x === "string"))
      throw badRequest("fqname-to-id: fq_name must be a list of strings");
    const o = this.view.byFqName(type, b.fq_name as string[]);
    if (!o) throw notFound(`Name ${JSON.stringify(b.fq_name)} not found`);
    return { uuid: o.uuid };
  }

  idToFqName(raw: unknown): Json {
    const b = body(raw, "id-to-fqname");
    if (!isUuid(b.uuid)) throw notFound(`UUID ${String(b.uuid)} not found`);
    const o = this.view.get(b.uuid);
    if (!o) throw notFound(`UUID ${b.uuid} not found`);
    return { fq_name: o.fq_name, type: o.type };
  }

  refUpdate(raw: unknown): Json {
    const b = body(raw, "ref-update");
    const type = normType(b.type);
    const refType = normType(b["ref-type"]);
    if (!type || !b.uuid || !refType || !b.operation)
      throw badRequest("Bad Request: type/uuid/ref-type/operation is null");
    const info = typeInfo(type);
    if (!info) throw badRequest(`ref-update: invalid type ${type}`);
    if (!typeInfo(refType)) throw badRequest(`ref-update: invalid ref-type ${refType}`);
    const op = String(b.operation).toUpperCase();
    if (op !== "ADD" && op !== "DELETE")
      throw badRequest(`Bad Request: operation should be add or delete: ${op}`);
    if (!Object.hasOwn(info.refs, refType)) throw badRequest(`${type} has no refs to ${refType}`);
    const obj = this.svc.getTyped(type, String(b.uuid));
    let refUuid = b["ref-uuid"];
    if (!refUuid) {
      const fq = b["ref-fq-name"];
      if (!Array.isArray(fq)) throw badRequest("Bad Request: ref-uuid or ref-fq-name must be specified");
      const t = this.store.byFqName(refType, fq as string[]);
      if (!t) throw notFound(`Name ${JSON.stringify(fq)} not found`);
      refUuid = t.uuid;
    }
    if (!isUuid(refUuid)) throw badRequest(`invalid ref-uuid ${JSON.stringify(refUuid)}`);
    const field = `${refType.replace(/-/g, "_")}_refs`;
    const current = this.svc.refsAsBody(obj, refType).filter((r) => r.uuid !== refUuid);
    if (op === "ADD") {
      const target = this.store.get(refUuid);
      if (!target || target.type !== refType) throw notFound(`Object Not Found: ${refUuid}`);
      current.push({ uuid: refUuid, attr: b.attr ?? null });
    }
    this.svc.update(type, obj.uuid, { [field]: current });
    return { uuid: obj.uuid };
  }

  refRelaxForDelete(raw: unknown): Json {
    const b = body(raw, "ref-relax-for-delete");
    if (!b.uuid || !b["ref-uuid"])
      throw badRequest("Bad Request: Both uuid and ref-uuid should be specified");
    const obj = this.objectOrThrow(b.uuid);
    if (!isUuid(b["ref-uuid"])) throw badRequest(`invalid ref-uuid ${JSON.stringify(b["ref-uuid"])}`);
    this.svc.relaxRef(obj, b["ref-uuid"]);
    return { uuid: obj.uuid };
  }

  propCollectionGet(q: Json): Json {
    if (!q.uuid) throw badRequest("Object uuid needed for property collection get");
    if (!q.fields || typeof q.fields !== "string")
      throw badRequest("Object fields needed for property collection get");
    if (!isUuid(q.uuid)) throw notFound(`Object Not Found: ${String(q.uuid)}`);
    const o = this.view.get(q.uuid);
    if (!o) throw notFound(`Object Not Found: ${q.uuid}`);
    const info = typeInfo(o.type)!;
    const position = typeof q.position === "string" ? q.position : undefined;
    const out: Json = {};
    for (const f of q.fields.split(",")) {
      if (!Object.hasOwn(info.props, f) || (!Object.hasOwn(MAP_PROPS, f) && !Object.hasOwn(LIST_PROPS, f)))
        throw badRequest(
          `Invalid query parameter: ${f} is neither a ListProperty nor a MapProperty of ${o.type}`,
        );
      const map = MAP_PROPS[f];
      const wrapper = (o.props[f] ?? {}) as Json;
      const elems = (wrapper[map ? map.list : LIST_PROPS[f]] ?? []) as Json[];
      let pairs: Array<[unknown, string]> = map
        ? elems.map((e) => [e, String(e[map.key])])
        : elems.map((e, i) => [e, String(i)]);
      if (position !== undefined) pairs = pairs.filter(([, pos]) => pos === position);
      out[f] = pairs;
    }
    return out;
  }

  propCollectionUpdate(raw: unknown): Json {
    const b = body(raw, "prop-collection-update");
    if (!b.uuid) throw badRequest("Error: prop_collection_update needs obj_uuid");
    if (!isUuid(b.uuid)) throw notFound(`Object Not Found: ${String(b.uuid)}`);
    const o = this.store.get(b.uuid);
    if (!o) throw notFound(`Object Not Found: ${b.uuid}`);
    const info = typeInfo(o.type)!;
    const updates = b.updates ?? [];
    if (!Array.isArray(updates)) throw badRequest("updates must be a list");
    const next: Json = {};
    const current = (f: string, listKey: string): Json[] => [
      ...((((next[f] ?? o.props[f]) as Json | undefined)?.[listKey] as Json[] | undefined) ?? []),
    ];
    for (const u of updates) {
      if (!isJsonObject(u)) throw badRequest("each update must be an object");
      const f = String(u.field);
      const op = String(u.operation ?? "").toLowerCase();
      if (!Object.hasOwn(info.props, f)) throw badRequest(`${f} neither "ListProperty" nor "MapProperty"`);
      const map = MAP_PROPS[f];
      if (map) {
        const elems = current(f, map.list);
        if (op === "set") {
          if (!isJsonObject(u.value) || typeof u.value[map.key] !== "string")
            throw badRequest(`Set needs a value with "${map.key}" in request ${JSON.stringify(u)}`);
          const key = u.value[map.key];
          const i = elems.findIndex((e) => e[map.key] === key);
          if (i >= 0) elems[i] = u.value;
          else elems.push(u.value);
        } else if (op === "delete") {
          if (u.position === undefined || u.position === null)
            throw badRequest(`Delete needs field position in request ${JSON.stringify(u)}`);
          const i = elems.findIndex((e) => e[map.key] === String(u.position));
          if (i < 0) throw notFound(`No ${f} entry with key ${String(u.position)}`);
          elems.splice(i, 1);
        } else throw badRequest(`Unsupported operation ${op} in request ${JSON.stringify(u)}`);
        next[f] = { [map.list]: elems };
      } else if (LIST_PROPS[f]) {
        const key = LIST_PROPS[f];
        const elems = current(f, key);
        const pos = u.position === undefined || u.position === null ? undefined : Number(u.position);
        if (pos !== undefined && (!Number.isInteger(pos) || pos < 0))
          throw badRequest(`invalid position ${String(u.position)}`);
        if (op === "add") {
          if (u.value === undefined || u.value === null)
            throw badRequest(`Add needs field value in request ${JSON.stringify(u)}`);
          if (pos === undefined || pos >= elems.length) elems.push(u.value as Json);
          else elems.splice(pos, 0, u.value as Json);
        } else if (op === "modify") {
          if (u.value === undefined || pos === undefined)
            throw badRequest(`Modify needs field value and position in request ${JSON.stringify(u)}`);
          if (pos >= elems.length) throw notFound(`No ${f} element at position ${pos}`);
          elems[pos] = u.value as Json;
        } else if (op === "delete") {
          if (pos === undefined)
            throw badRequest(`Delete needs field position in request ${JSON.stringify(u)}`);
          if (pos >= elems.length) throw notFound(`No ${f} element at position ${pos}`);
          elems.splice(pos, 1);
        } else throw badRequest(`Unsupported operation ${op} in request ${JSON.stringify(u)}`);
        next[f] = { [key]: elems };
      } else throw badRequest(`${f} neither "ListProperty" nor "MapProperty"`);
    }
    if (Object.keys(next).length) this.svc.update(o.type, o.uuid, next);
    return {};
  }

  setTag(raw: unknown): Json {
    const b = body(raw, "set-tag");
    const type = normType(b.obj_type);
    if (!type || !typeInfo(type)) throw badRequest(`set-tag: invalid obj_type ${JSON.stringify(b.obj_type)}`);
    const obj = this.svc.getTyped(type, String(b.obj_uuid));
    const scope = this.projectOf(obj);
    let refs = this.svc.refsAsBody(obj, "tag");
    const tagOf = (uuid: unknown) => this.store.get(String(uuid));
    for (const [k, spec] of Object.entries(b)) {
      if (k === "obj_type" || k === "obj_uuid") continue;
      const tagType = k.toLowerCase();
      const ofType = (r: Json) => tagOf(r.uuid)?.props.tag_type_name === tagType;
      if (spec === null) {
        refs = refs.filter((r) => !ofType(r));
        continue;
      }
      if (!isJsonObject(spec)) throw badRequest(`set-tag: ${k} must be an object or null`);
      const find = (value: unknown): string => {
        if (typeof value !== "string" || !value)
          throw badRequest(`set-tag: ${k} value must be a non-empty string`);
        const name = `${tagType}=${value}`;
        const fq = spec.is_global || !scope ? [name] : [...scope.fq_name, name];
        const t = this.store.byFqName("tag", fq);
        if (!t) throw notFound(`Tag ${fq.join(":")} not found`);
        return t.uuid;
      };
      if (tagType === "label") {
        const add = spec.add_values ?? (spec.value !== undefined ? [spec.value] : []);
        const del = spec.delete_values ?? [];
        if (!Array.isArray(add) || !Array.isArray(del))
          throw badRequest("set-tag: add_values/delete_values must be lists");
        const delIds = new Set(del.map(find));
        refs = refs.filter((r) => !delIds.has(String(r.uuid)));
        for (const id of add.map(find))
          if (!refs.some((r) => r.uuid === id)) refs.push({ uuid: id, attr: null });
      } else {
        const id = find(spec.value);
        refs = [...refs.filter((r) => !ofType(r)), { uuid: id, attr: null }];
      }
    }
    this.svc.update(type, obj.uuid, { tag_refs: refs });
    return {};
  }

  private projectOf(o: StoredObject): StoredObject | undefined {
    let cur: StoredObject | undefined = o;
    while (cur && cur.type !== "project") cur = cur.parent_uuid ? this.store.get(cur.parent_uuid) : undefined;
    return cur;
  }

  useragentKv(raw: unknown): Json {
    const b = body(raw, "useragent-kv");
    const op = b.operation;
    if (op === "STORE") {
      if (typeof b.key !== "string" || typeof b.value !== "string")
        throw badRequest("useragent-kv STORE needs string key and value");
      this.store.kvSet(b.key, b.value);
      return {};
    }
    if (op === "RETRIEVE") {
      if (b.key === undefined || b.key === null)
        return { value: this.view.kvAll().map(([key, value]) => ({ key, value })) };
      if (Array.isArray(b.key))
        return {
          value: b.key
            .map((k) => ({ key: String(k), value: this.view.kvGet(String(k)) }))
            .filter((e) => e.value !== undefined),
        };
      const v = this.view.kvGet(String(b.key));
      if (v === undefined) throw notFound(`Key ${String(b.key)} not found`);
      return { value: v };
    }
    if (op === "DELETE") {
      if (typeof b.key !== "string") throw badRequest("useragent-kv DELETE needs a key");
      this.store.kvSet(b.key, null);
      return {};
    }
    throw new ApiError(404, `Invalid Operation ${String(op)}`);
  }

  objPerms(q: Json): Json {
    if (!q.uuid) throw badRequest("Bad Request, object uuid is required");
    this.objectOrThrow(q.uuid);
    // aaa_mode no-auth (obj_perms_http_get): no token, no roles, every permission.
    return {
      token_info: null,
      is_cloud_admin_role: false,
      is_global_read_only_role: false,
      permissions: "RWX",
    };
  }

  chown(raw: unknown): Json {
    const b = body(raw, "chown");
    const o = this.objectOrThrow(b.uuid);
    if (typeof b.owner !== "string" || !b.owner) throw badRequest("Bad Request, invalid owner");
    this.svc.setProps(o, { perms2: { ...(o.props.perms2 as Json), owner: b.owner.replace(/-/g, "") } });
    return {};
  }

  chmod(raw: unknown): Json {
    const b = body(raw, "chmod");
    const o = this.objectOrThrow(b.uuid);
    const perms = { ...(o.props.perms2 as Json) };
    const access = (v: unknown, what: string) => {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 7)
        throw badRequest(`Bad Request, invalid ${what} value`);
      return v as number;
    };
    const extra: Json = {};
    if (b.owner !== undefined && b.owner !== null) {
      if (typeof b.owner !== "string") throw badRequest("Bad Request, invalid owner");
      perms.owner = b.owner.replace(/-/g, "");
    }
    if (b.owner_access !== undefined && b.owner_access !== null)
      perms.owner_access = access(b.owner_access, "owner_access");
    if (b.share !== undefined && b.share !== null) {
      if (!Array.isArray(b.share)) throw badRequest("Bad Request, invalid share list");
      perms.share = b.share.map((s) => {
        if (!isJsonObject(s) || typeof s.tenant !== "string")
          throw badRequest("Bad Request, invalid share list");
        return { tenant: s.tenant, tenant_access: access(s.tenant_access, "tenant_access") };
      });
    }
    if (b.global_access !== undefined && b.global_access !== null) {
      perms.global_access = access(b.global_access, "global_access");
      if ("is_shared" in typeInfo(o.type)!.props) extra.is_shared = perms.global_access !== 0;
    }
    this.svc.setProps(o, { perms2: perms, ...extra });
    return {};
  }
}
