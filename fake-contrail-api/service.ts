/**
 * The config API's object semantics over the store: create (fq_name/parent resolution, validation against the
 * schema, server defaults), partial update, delete with the children/back-ref refusals. Each resource type's
 * own rules (VN routing instance and network id, IPAM subnets and address allocation, VMI MAC, security-group
 * ids, tag names/ids, project default application-policy-set…) live in `types/<type>.ts`, called through the
 * hooks of `types/rules.ts` as upstream calls its `<Type>Server` classes. All methods are synchronous and
 * leave their writes in the store's open transaction; the caller commits.
 * Example: `const vn = svc.create("virtual-network", {fq_name: ["default-domain","default-project","red"]})`.
 */
import { randomUUID } from "node:crypto";
import { badRequest, conflict, isUuid, notFound } from "./errors";
import { IDENTITY_FIELDS, type ResourceType, type TypeInfo, typeInfo } from "./schema";
import { checkSpec } from "./schema-types";
import type { Store, StoredObject, StoredRef, StoreReader } from "./store";
import { Allocations, isJsonObject, type Json, rulesFor, type ServerContext, sameList } from "./types";

/** Request bodies are checked with it at every edge (app, actions). */
export { isJsonObject };

const IDENTITY = new Set<string>(IDENTITY_FIELDS);

const clone = <T>(v: T): T => structuredClone(v);

/** id_perms.uuid form of a uuid: its two 64-bit halves (as JSON numbers, like Python ints). */
function uuidHalves(uuid: string): { uuid_mslong: number; uuid_lslong: number } {
  const hex = uuid.replace(/-/g, "");
  return {
    uuid_mslong: Number(BigInt(`0x${hex.slice(0, 16)}`)),
    uuid_lslong: Number(BigInt(`0x${hex.slice(16)}`)),
  };
}

let lastStamp = "";
/** Python-style isoformat timestamps, strictly increasing so they can serve as ETags. */
function timestamp(): string {
  const d = new Date();
  let s = `${d.toISOString().slice(0, 23)}000`;
  if (s <= lastStamp) {
    const micros = Number(lastStamp.slice(20)) + 1;
    s = `${lastStamp.slice(0, 20)}${String(micros).padStart(6, "0")}`;
  }
  lastStamp = s;
  return s;
}

export class ConfigService {
  private readonly alloc = new Allocations();
  /** What the per-type rules may use. */
  private readonly ctx: ServerContext;

  constructor(readonly store: Store) {
    this.ctx = {
      store,
      alloc: this.alloc,
      create: (type, body) => this.create(type, body),
      rewrite: (obj, change) => this.rewrite(obj, change),
    };
    for (const o of store.all()) this.track(o);
  }

  // ---------------------------------------------------------------- create

  /** `requester`: the caller's project (uuid, no dashes), owner of what it creates under a domain or at the top. */
  create(type: string, body: unknown, requester?: string): StoredObject {
    const info = this.typeOrThrow(type);
    if (!isJsonObject(body)) throw badRequest(`${type}: body must be a JSON object`);
    this.checkKnownFields(info, body);
    const fq = this.fqNameFromBody(info, body);
    const parent = this.resolveParent(info, body, fq);
    const dup = this.store.byFqName(info.type, fq);
    if (dup) throw conflict(`${fq.join(":")} already exists with uuid: ${dup.uuid}`);
    let uuid: string;
    if (body.uuid !== undefined && body.uuid !== null) {
      if (!isUuid(body.uuid)) throw badRequest(`Invalid UUID format: ${String(body.uuid)}`);
      const clash = this.store.get(body.uuid);
      if (clash)
        throw conflict(`uuid ${body.uuid} already exists (${clash.type} ${clash.fq_name.join(":")})`);
      uuid = body.uuid;
    } else uuid = randomUUID();

    const props = this.applyProps(info, body, {});
    for (const [k, v] of Object.entries(info.defaults)) if (props[k] === undefined) props[k] = clone(v);
    const stamp = timestamp();
    const idPerms = (props.id_perms ?? {}) as Json;
    props.id_perms = {
      permissions: {
        owner: "cloud-admin",
        owner_access: 7,
        group: "cloud-admin-group",
        group_access: 7,
        other_access: 7,
        ...((idPerms.permissions as Json | undefined) ?? {}),
      },
      uuid: uuidHalves(uuid),
      enable: true,
      created: stamp,
      creator: null,
      user_visible: true,
      last_modified: stamp,
      description: null,
      ...stripNull(idPerms, ["uuid", "created", "last_modified", "permissions"]),
    };
    const rules = rulesFor(info.type);
    // _ensure_perms2_present: a project owns itself; under a domain or at the top, the creating project owns
    // it; anything else inherits its parent's owner.
    const owner = rules.ownsItself
      ? uuid.replace(/-/g, "")
      : parent && parent.type !== "domain"
        ? (((parent.props.perms2 as Json | undefined)?.owner as string | undefined) ?? "cloud-admin")
        : (requester ?? "cloud-admin");
    props.perms2 = {
      owner,
      owner_access: 7,
      global_access: 0,
      share: [],
      ...stripNull((props.perms2 ?? {}) as Json),
    };
    if (props.display_name === undefined) props.display_name = fq[fq.length - 1];

    const refs = this.applyRefs(info, body, {});
    for (const req of info.required) {
      const present = info.refFields.has(req)
        ? (refs[info.refFields.get(req)!]?.length ?? 0) > 0
        : props[req] != null;
      if (!present) throw badRequest(`${type}: ${req} is required`);
    }
    const obj: StoredObject = {
      type: info.type,
      uuid,
      fq_name: fq,
      parent_type: parent ? parent.type : "config-root",
      ...(parent ? { parent_uuid: parent.uuid } : {}),
      props,
      refs,
    };
    rules.preCreate?.(this.ctx, obj, parent);
    this.store.put(obj);
    this.track(obj);
    rules.postCreate?.(this.ctx, obj);
    return obj;
  }

  // ---------------------------------------------------------------- update

  update(type: string, uuid: string, body: unknown): StoredObject {
    const info = this.typeOrThrow(type);
    const prev = this.getTyped(info.type, uuid);
    const inner = body;
    if (!isJsonObject(inner)) throw badRequest(`${type}: body must be a JSON object`);
    this.checkKnownFields(info, inner);
    if (inner.uuid !== undefined && inner.uuid !== null && inner.uuid !== uuid)
      throw badRequest(`uuid in body (${String(inner.uuid)}) does not match URL (${uuid})`);
    if (inner.fq_name !== undefined && inner.fq_name !== null && !sameList(inner.fq_name, prev.fq_name))
      throw badRequest(`fq_name cannot be changed (${prev.fq_name.join(":")})`);
    const props = this.applyProps(info, inner, prev.props);
    const idPerms = { ...(prev.props.id_perms as Json) };
    if (isJsonObject(inner.id_perms)) {
      Object.assign(idPerms, stripNull(inner.id_perms, ["uuid", "created", "last_modified", "permissions"]));
      if (isJsonObject(inner.id_perms.permissions))
        idPerms.permissions = { ...(idPerms.permissions as Json), ...inner.id_perms.permissions };
    }
    idPerms.last_modified = timestamp();
    props.id_perms = idPerms;
    if (isJsonObject(inner.perms2))
      props.perms2 = { ...(prev.props.perms2 as Json), ...stripNull(inner.perms2) };
    else props.perms2 = prev.props.perms2;
    if (props.display_name === undefined) props.display_name = prev.fq_name[prev.fq_name.length - 1];
    const refs = this.applyRefs(info, inner, prev.refs);
    for (const req of info.required) {
      if (info.refFields.has(req) && (refs[info.refFields.get(req)!]?.length ?? 0) === 0)
        throw badRequest(`${type}: ${req} is required`);
    }
    const obj: StoredObject = { ...prev, props, refs };
    const rules = rulesFor(obj.type);
    rules.preUpdate?.(this.ctx, prev, obj, inner);
    this.untrack(prev);
    this.store.put(obj);
    this.track(obj);
    rules.postUpdate?.(this.ctx, prev, obj, inner);
    return obj;
  }

  /** Replaces props/refs of a stored object without request validation (server-side bookkeeping). */
  private rewrite(obj: StoredObject, change: Partial<Pick<StoredObject, "props" | "refs">>): StoredObject {
    const next: StoredObject = {
      ...obj,
      ...change,
      props: {
        ...(change.props ?? obj.props),
        id_perms: { ...(obj.props.id_perms as Json), last_modified: timestamp() },
      },
    };
    this.untrack(obj);
    this.store.put(next);
    this.track(next);
    return next;
  }

  // ---------------------------------------------------------------- delete

  delete(type: string, uuid: string): void {
    const info = this.typeOrThrow(type);
    const obj = this.getTyped(info.type, uuid);
    rulesFor(info.type).preDelete?.(this.ctx, obj);
    const doomed: StoredObject[] = [];
    this.collectDoomed(obj, doomed);
    const doomedIds = new Set(doomed.map((d) => d.uuid));
    for (const d of doomed) {
      const blocking = this.store
        .referrers(d.uuid)
        .filter(
          (r) =>
            !doomedIds.has(r.uuid) && (r.refs[d.type] ?? []).some((x) => x.uuid === d.uuid && !x.relaxed),
        );
      if (blocking.length)
        throw conflict(
          `Delete when resource still referred: ${blocking.map((b) => `${b.type} ${b.uuid}`).join(", ")}`,
        );
    }
    // Relaxed refs disappear with their target.
    for (const d of doomed) {
      for (const r of this.store.referrers(d.uuid)) {
        if (doomedIds.has(r.uuid)) continue;
        const cur = this.store.get(r.uuid)!;
        this.rewrite(cur, {
          refs: { ...cur.refs, [d.type]: (cur.refs[d.type] ?? []).filter((x) => x.uuid !== d.uuid) },
        });
      }
    }
    for (const d of doomed.reverse()) {
      this.untrack(d);
      this.store.remove(d.uuid);
    }
  }

  /** `obj` and the children that go with it (derived types, `default-*`), deepest last; 409 on other children. */
  private collectDoomed(obj: StoredObject, out: StoredObject[]): void {
    const info = typeInfo(obj.type)!;
    out.push(obj);
    const blocking: StoredObject[] = [];
    for (const c of this.store.children(obj.uuid)) {
      const owned =
        info.derivedChildren.includes(c.type) || c.fq_name[c.fq_name.length - 1].startsWith("default-");
      if (owned) this.collectDoomed(c, out);
      else blocking.push(c);
    }
    if (blocking.length)
      throw conflict(
        `Delete when children still present: ${blocking.map((b) => `${b.type} ${b.fq_name.join(":")}`).join(", ")}`,
      );
  }

  // ---------------------------------------------------------------- reads

  typeOrThrow(type: string): TypeInfo {
    const info = typeInfo(type);
    if (!info) throw notFound(`Unknown resource type: ${type}`);
    return info;
  }

  /** `from` = store.committed for a client's read (only durable state), the working state for a writer. */
  getTyped(type: string, uuid: string, from: StoreReader = this.store): StoredObject {
    if (!isUuid(uuid)) throw notFound(`${type} ${uuid} not found (not a canonical uuid)`);
    const o = from.get(uuid);
    if (!o || o.type !== type) throw notFound(`${type} ${uuid} not found`);
    return o;
  }

  /** Builds a body-shaped ref list (uuid + attr) for an object's refs to `target`. */
  refsAsBody(o: StoredObject, target: string): Json[] {
    return (o.refs[target] ?? []).map((r) => ({ uuid: r.uuid, attr: r.attr }));
  }

  /** Updates server-owned props of an object (used by actions such as chown/chmod/prop-collection-update). */
  setProps(o: StoredObject, props: Json): StoredObject {
    return this.rewrite(o, { props: { ...o.props, ...props } });
  }

  /** Marks `obj`'s ref to `refUuid` as not blocking the target's delete. */
  relaxRef(obj: StoredObject, refUuid: string): void {
    let found = false;
    const refs: Record<string, StoredRef[]> = {};
    for (const [t, list] of Object.entries(obj.refs)) {
      refs[t] = list.map((r) => {
        if (r.uuid !== refUuid) return r;
        found = true;
        return { ...r, relaxed: true };
      });
    }
    if (!found) throw badRequest(`${obj.type} ${obj.uuid} has no ref to ${refUuid}`);
    this.rewrite(obj, { refs });
  }

  // ---------------------------------------------------------------- body handling

  private checkKnownFields(info: TypeInfo, body: Json): void {
    for (const k of Object.keys(body)) {
      // Own keys only: a body key "constructor" must not find Object.prototype.constructor.
      if (Object.hasOwn(info.props, k) || info.refFields.has(k) || IDENTITY.has(k)) continue;
      // Read-only relations a client may echo back from a GET: accepted and ignored.
      if (info.childFields.has(k) || info.backRefFields.has(k)) continue;
      throw badRequest(`Unknown field "${k}" for ${info.type}`);
    }
  }

  private fqNameFromBody(info: TypeInfo, body: Json): string[] {
    let fq = body.fq_name;
    if (fq === undefined || fq === null) {
      // name + parent_uuid is enough to place an object.
      if (typeof body.name === "string" && isUuid(body.parent_uuid)) {
        const p = this.store.get(body.parent_uuid);
        if (!p) throw badRequest(`Parent ${body.parent_uuid} not found`);
        fq = [...p.fq_name, body.name];
      } else if (typeof body.name === "string" && info.parents.includes("config-root")) fq = [body.name];
      else throw badRequest("no fq_name in POST body");
    }
    if (!Array.isArray(fq) || fq.length === 0 || !fq.every((x) => typeof x === "string" && x.length > 0))
      throw badRequest(
        `Invalid fq_name ${JSON.stringify(fq)}: expected a non-empty list of non-empty strings`,
      );
    const last = fq[fq.length - 1] as string;
    if (last.includes(":"))
      throw badRequest(`Invalid name "${last}": ':' is not allowed in the last fq_name element`);
    if (typeof body.name === "string" && body.name !== last)
      throw badRequest(`name "${body.name}" does not match fq_name ${fq.join(":")}`);
    return fq as string[];
  }

  private resolveParent(info: TypeInfo, body: Json, fq: string[]): StoredObject | undefined {
    const pt = body.parent_type;
    if (pt !== undefined && pt !== null && (typeof pt !== "string" || !info.parents.includes(pt)))
      throw badRequest(
        `Invalid parent type ${String(pt)} for ${info.type} (allowed: ${info.parents.join(", ")})`,
      );
    let candidates = (pt as string | undefined) ? [pt as string] : [...info.parents];
    if (isUuid(body.parent_uuid)) {
      const p = this.store.get(body.parent_uuid);
      if (!p) throw badRequest(`Parent ${body.parent_uuid} not found`);
      if (!candidates.includes(p.type)) throw badRequest(`Invalid parent type ${p.type} for ${info.type}`);
      if (!sameList(p.fq_name, fq.slice(0, -1)))
        throw badRequest(`fq_name ${fq.join(":")} is not under parent ${p.fq_name.join(":")}`);
      return p;
    }
    if (fq.length === 1) {
      if (candidates.includes("config-root")) return undefined;
      throw badRequest(
        `${info.type} needs a parent (${info.parents.join(", ")}): fq_name must have ≥ 2 elements`,
      );
    }
    candidates = candidates.filter((c) => c !== "config-root");
    if (candidates.length === 0)
      throw badRequest(`${info.type} is a top-level object: fq_name must have exactly 1 element`);
    const parentFq = fq.slice(0, -1);
    const found = candidates.map((c) => this.store.byFqName(c, parentFq)).filter((p) => p !== undefined);
    if (found.length === 0)
      throw badRequest(`Parent ${parentFq.join(":")} (${candidates.join(" or ")}) of ${info.type} not found`);
    if (found.length > 1) throw badRequest(`Ambiguous parent ${parentFq.join(":")}: give parent_type`);
    return found[0];
  }

  /** Validates and merges the body's properties over `base`; null clears a property. */
  private applyProps(info: TypeInfo, body: Json, base: Json): Json {
    const props: Json = { ...base };
    for (const [k, v] of Object.entries(body)) {
      const p = Object.hasOwn(info.props, k) ? info.props[k] : undefined;
      if (!p) continue;
      const why = checkSpec(p.spec, v, k);
      if (why) throw badRequest(`Bad ${info.type} property ${why}`);
      if (v === null) delete props[k];
      else props[k] = clone(v);
    }
    return props;
  }

  /** Resolves ref fields present in the body (each replaces that whole list) over `base`. */
  private applyRefs(
    info: TypeInfo,
    body: Json,
    base: Record<string, StoredRef[]>,
  ): Record<string, StoredRef[]> {
    const refs: Record<string, StoredRef[]> = { ...base };
    for (const [field, target] of info.refFields) {
      if (!(field in body)) continue;
      const list = body[field];
      if (list === null) {
        delete refs[target];
        continue;
      }
      if (!Array.isArray(list)) throw badRequest(`${field}: expected a list of refs`);
      const out = new Map<string, StoredRef>();
      list.forEach((entry, i) => {
        const r = this.resolveRef(info, target, entry, `${field}[${i}]`);
        const old = base[target]?.find((x) => x.uuid === r.uuid);
        out.set(r.uuid, old?.relaxed ? { ...r, relaxed: true } : r);
      });
      if (out.size) refs[target] = [...out.values()];
      else delete refs[target];
    }
    return refs;
  }

  resolveRef(info: TypeInfo, target: ResourceType | string, entry: unknown, path: string): StoredRef {
    if (!isJsonObject(entry)) throw badRequest(`${path}: expected a ref object {to, uuid, attr}`);
    let t: StoredObject | undefined;
    if (entry.uuid !== undefined && entry.uuid !== null) {
      if (!isUuid(entry.uuid)) throw badRequest(`${path}: invalid uuid ${JSON.stringify(entry.uuid)}`);
      t = this.store.get(entry.uuid);
      if (!t || t.type !== target) throw badRequest(`${path}: Unknown ${target} ref ${entry.uuid}`);
    } else if (Array.isArray(entry.to)) {
      if (!entry.to.every((x) => typeof x === "string"))
        throw badRequest(`${path}.to: expected a list of strings`);
      t = this.store.byFqName(target, entry.to as string[]);
      if (!t) throw badRequest(`${path}: Unknown ${target} ref ${(entry.to as string[]).join(":")}`);
    } else throw badRequest(`${path}: a ref needs "uuid" or "to"`);
    const spec = info.refs[target];
    const attr = entry.attr ?? null;
    if (spec && attr !== null) {
      const why = checkSpec(spec.spec, attr, `${path}.attr`);
      if (why) throw badRequest(`Bad ${info.type} ref attr ${why}`);
    }
    return { uuid: t.uuid, attr: spec ? clone(attr) : null };
  }

  // ---------------------------------------------------------------- allocation bookkeeping

  private track(o: StoredObject): void {
    rulesFor(o.type).track?.(this.ctx, o);
  }

  private untrack(o: StoredObject): void {
    rulesFor(o.type).untrack?.(this.ctx, o);
  }
}

function stripNull(o: Json, drop: string[] = []): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined && !drop.includes(k)) out[k] = v;
  return out;
}
