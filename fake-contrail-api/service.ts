/**
 * The config API's object semantics over the store: create (fq_name/parent resolution, validation against the
 * schema, server defaults), partial update, delete with the children/back-ref refusals, and the per-type rules
 * of the real server (VN routing instance and network id, IPAM subnets and address allocation, VMI MAC,
 * security-group ids, tag names/ids, project default application-policy-set). All methods are synchronous and
 * leave their writes in the store's open transaction; the caller commits.
 * Example: `const vn = svc.create("virtual-network", {fq_name: ["default-domain","default-project","red"]})`.
 */
import { randomUUID } from "node:crypto";
import { GLOBAL_APS } from "./boot";
import { ApiError, badRequest, conflict, isUuid, notFound } from "./errors";
import {
  allocate,
  checkRequested,
  completeSubnet,
  contains,
  IpamError,
  macFromUuid,
  planSubnet,
  type SubnetPlan,
} from "./ipam";
import { IDENTITY_FIELDS, type IpamSubnet, type ResourceType, type TypeInfo, typeInfo } from "./schema";
import { checkSpec } from "./schema-types";
import type { Store, StoredObject, StoredRef } from "./store";

type Json = Record<string, unknown>;

const FIRST_SG_ID = 8_000_001;
/** VNs the server itself needs; deleting them would break the fabric. */
const UNDELETABLE_VNS = new Set(["ip-fabric", "__link_local__"]);
const IDENTITY = new Set<string>(IDENTITY_FIELDS);

export function isJsonObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

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

/** Allocation state derived from the stored objects (rebuilt on start, never persisted separately). */
class Allocations {
  /** subnet uuid → addresses in use. */
  readonly taken = new Map<string, Set<string>>();
  readonly hints = new Map<string, string>();
  readonly networkIds = new Set<number>();
  readonly sgIds = new Set<number>();
  readonly tagTypeIds = new Set<number>();
  /** tag type id → value ids in use. */
  readonly tagValueIds = new Map<number, Set<number>>();

  takenIn(subnet: string): Set<string> {
    let s = this.taken.get(subnet);
    if (!s) {
      s = new Set();
      this.taken.set(subnet, s);
    }
    return s;
  }
}

export class ConfigService {
  private readonly alloc = new Allocations();

  constructor(readonly store: Store) {
    for (const o of store.all()) this.track(o);
  }

  // ---------------------------------------------------------------- create

  create(type: string, body: unknown): StoredObject {
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
    const owner =
      info.type === "project"
        ? uuid.replace(/-/g, "")
        : parent
          ? (((parent.props.perms2 as Json | undefined)?.owner as string | undefined) ?? "cloud-admin")
          : "cloud-admin";
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
    const followUps = this.beforeCreate(obj, parent);
    this.store.put(obj);
    this.track(obj);
    followUps();
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
    const followUps = this.beforeUpdate(prev, obj, inner);
    this.untrack(prev);
    this.store.put(obj);
    this.track(obj);
    followUps();
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
    if (info.type === "virtual-network" && UNDELETABLE_VNS.has(obj.fq_name[obj.fq_name.length - 1]))
      throw conflict(
        `Cannot delete the ${obj.fq_name.join(":")} virtual network: it is needed by the fabric`,
      );
    if (info.type === "application-policy-set" && sameList(obj.fq_name, GLOBAL_APS))
      throw badRequest("The global application policy set cannot be deleted");
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

  getTyped(type: string, uuid: string): StoredObject {
    if (!isUuid(uuid)) throw notFound(`${type} ${uuid} not found (not a canonical uuid)`);
    const o = this.store.get(uuid);
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
      if (k in info.props || info.refFields.has(k) || IDENTITY.has(k)) continue;
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
      const p = info.props[k];
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

  // ---------------------------------------------------------------- per-type rules

  /** Runs per-type checks and defaults on a new object (mutating it); returns work to do after it is stored. */
  private beforeCreate(obj: StoredObject, parent: StoredObject | undefined): () => void {
    const p = obj.props;
    normaliseRules(obj.type, p);
    switch (obj.type) {
      case "virtual-network": {
        obj.refs = this.completeVnIpamRefs(obj.refs, {});
        const id = p.virtual_network_network_id;
        if (typeof id === "number") {
          if (this.alloc.networkIds.has(id))
            throw conflict(`virtual_network_network_id ${id} is already in use`);
        } else p.virtual_network_network_id = firstFree(this.alloc.networkIds, 1);
        return () => {
          this.create("routing-instance", {
            fq_name: [...obj.fq_name, obj.fq_name[obj.fq_name.length - 1]],
            parent_type: "virtual-network",
            routing_instance_is_default: true,
          });
        };
      }
      case "network-ipam":
        this.completeIpamSubnets(p, {});
        break;
      case "virtual-machine-interface": {
        const macs = p.virtual_machine_interface_mac_addresses as { mac_address?: string[] } | undefined;
        if (!macs?.mac_address?.length)
          p.virtual_machine_interface_mac_addresses = { mac_address: [macFromUuid(obj.uuid)] };
        break;
      }
      case "instance-ip":
        this.allocateInstanceIp(obj);
        break;
      case "floating-ip":
        this.allocateFloatingIp(obj, parent!);
        break;
      case "security-group":
        if (typeof p.security_group_id !== "number")
          p.security_group_id = firstFree(this.alloc.sgIds, FIRST_SG_ID);
        else if (this.alloc.sgIds.has(p.security_group_id))
          throw conflict(`security_group_id ${p.security_group_id} is already in use`);
        break;
      case "tag-type":
        if (typeof p.tag_type_id !== "string")
          p.tag_type_id = hex(firstFree(this.alloc.tagTypeIds, 0x100), 4);
        else if (!/^0x[0-9a-fA-F]{1,4}$/.test(p.tag_type_id))
          throw badRequest(`invalid tag_type_id ${p.tag_type_id}`);
        break;
      case "tag":
        return this.prepareTag(obj, parent);
      case "project":
        return () => {
          const aps = this.create("application-policy-set", {
            fq_name: [...obj.fq_name, "default-application-policy-set"],
            parent_type: "project",
          });
          const cur = this.store.get(obj.uuid)!;
          this.rewrite(cur, {
            refs: { ...cur.refs, "application-policy-set": [{ uuid: aps.uuid, attr: null }] },
          });
        };
    }
    return () => {};
  }

  private beforeUpdate(prev: StoredObject, obj: StoredObject, body: Json): () => void {
    const p = obj.props;
    normaliseRules(obj.type, p);
    switch (obj.type) {
      case "virtual-network": {
        if ("network_ipam_refs" in body) obj.refs = this.completeVnIpamRefs(obj.refs, prev.refs);
        if (p.virtual_network_network_id !== prev.props.virtual_network_network_id)
          throw badRequest("virtual_network_network_id cannot be changed");
        this.checkSubnetsStillServe(prev, obj);
        break;
      }
      case "network-ipam":
        if ("ipam_subnets" in body || "ipam_subnet_method" in body) {
          this.completeIpamSubnets(p, prev.props);
          this.checkSubnetsStillServe(prev, obj);
          if (p.ipam_subnet_method === "flat-subnet") return () => this.refreshFlatRefs(obj);
        }
        break;
      case "instance-ip":
      case "floating-ip": {
        const f = obj.type === "instance-ip" ? "instance_ip_address" : "floating_ip_address";
        if (p[f] !== prev.props[f]) throw badRequest(`${f} cannot be changed (${String(prev.props[f])})`);
        break;
      }
      case "security-group":
        if (p.security_group_id !== prev.props.security_group_id)
          throw badRequest("security_group_id cannot be changed");
        break;
      case "tag":
      case "tag-type":
        for (const f of ["tag_type_name", "tag_value", "tag_id", "tag_type_id"])
          if (p[f] !== prev.props[f]) throw badRequest(`${f} cannot be changed`);
        break;
    }
    return () => {};
  }

  // ---- IPAM

  /** Fills subnet uuids/gateways in VN→IPAM attrs (user-defined) or writes `[{subnet_uuid}]` (flat IPAMs). */
  private completeVnIpamRefs(
    refs: Record<string, StoredRef[]>,
    prevRefs: Record<string, StoredRef[]>,
  ): Record<string, StoredRef[]> {
    const list = refs["network-ipam"];
    if (!list) return refs;
    const out = list.map((r) => {
      const ipam = this.store.get(r.uuid)!;
      const prevAttr = prevRefs["network-ipam"]?.find((x) => x.uuid === r.uuid)?.attr as
        | { ipam_subnets?: IpamSubnet[] }
        | undefined;
      const attr = clone((r.attr ?? {}) as { ipam_subnets?: IpamSubnet[]; host_routes?: unknown });
      if (ipam.props.ipam_subnet_method === "flat-subnet") {
        const subnets = (
          (ipam.props.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? []
        ).map((s) => ({
          subnet_uuid: s.subnet_uuid,
        }));
        return { ...r, attr: { ...attr, ipam_subnets: subnets } };
      }
      attr.ipam_subnets = this.completeSubnets(attr.ipam_subnets ?? [], prevAttr?.ipam_subnets ?? []);
      return { ...r, attr };
    });
    return { ...refs, "network-ipam": out };
  }

  private completeIpamSubnets(p: Json, prev: Json): void {
    const cur = p.ipam_subnets as { subnets?: IpamSubnet[] } | undefined;
    if (!cur?.subnets) return;
    const old = (prev.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? [];
    p.ipam_subnets = { ...cur, subnets: this.completeSubnets(cur.subnets, old) };
  }

  /** Validates subnets, keeps uuids of unchanged prefixes, fills gateway/DNS, rejects overlaps. */
  private completeSubnets(subnets: IpamSubnet[], previous: IpamSubnet[]): IpamSubnet[] {
    const out = subnets.map((s) => {
      const same = previous.find(
        (o) =>
          o.subnet?.ip_prefix === s.subnet?.ip_prefix && o.subnet?.ip_prefix_len === s.subnet?.ip_prefix_len,
      );
      const withUuid = s.subnet_uuid || !same?.subnet_uuid ? s : { ...s, subnet_uuid: same.subnet_uuid };
      return this.ipam(() => completeSubnet(withUuid, randomUUID));
    });
    const plans = out.map((s) => this.ipam(() => planSubnet(s, s.subnet_uuid!)));
    for (let i = 0; i < plans.length; i++)
      for (let j = i + 1; j < plans.length; j++)
        if (
          plans[i].family === plans[j].family &&
          plans[i].network <= plans[j].broadcast &&
          plans[j].network <= plans[i].broadcast
        )
          throw badRequest(`Overlapping subnets ${plans[i].cidr} and ${plans[j].cidr}`);
    return out;
  }

  /** Refuses to drop a subnet that still has addresses allocated from it. */
  private checkSubnetsStillServe(prev: StoredObject, next: StoredObject): void {
    const before = this.ownSubnets(prev);
    const after = new Set(this.ownSubnets(next).map((s) => s.subnet_uuid));
    for (const s of before) {
      if (after.has(s.subnet_uuid)) continue;
      const used = this.alloc.taken.get(s.subnet_uuid!)?.size ?? 0;
      if (used > 0)
        throw conflict(
          `Cannot delete IP block ${s.subnet?.ip_prefix}/${s.subnet?.ip_prefix_len}: ${used} address(es) in use`,
        );
    }
  }

  private ownSubnets(o: StoredObject): IpamSubnet[] {
    if (o.type === "network-ipam")
      return (o.props.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? [];
    return (o.refs["network-ipam"] ?? []).flatMap((r) => {
      const ipam = this.store.get(r.uuid);
      if (ipam?.props.ipam_subnet_method === "flat-subnet") return [];
      return (r.attr as { ipam_subnets?: IpamSubnet[] } | null)?.ipam_subnets ?? [];
    });
  }

  private refreshFlatRefs(ipam: StoredObject): void {
    for (const vn of this.store.referrers(ipam.uuid)) {
      if (vn.type !== "virtual-network") continue;
      this.rewrite(vn, { refs: this.completeVnIpamRefs(vn.refs, vn.refs) });
    }
  }

  /** The VN's subnets in allocation preference order (address_allocation_mode). */
  vnSubnets(vn: StoredObject): SubnetPlan[] {
    const user: SubnetPlan[] = [];
    const flat: SubnetPlan[] = [];
    for (const r of vn.refs["network-ipam"] ?? []) {
      const ipam = this.store.get(r.uuid);
      if (!ipam) continue;
      if (ipam.props.ipam_subnet_method === "flat-subnet") {
        for (const s of (ipam.props.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? [])
          flat.push(planSubnet(s, s.subnet_uuid!));
      } else {
        for (const s of (r.attr as { ipam_subnets?: IpamSubnet[] } | null)?.ipam_subnets ?? [])
          user.push(planSubnet(s, s.subnet_uuid!));
      }
    }
    switch (vn.props.address_allocation_mode) {
      case "flat-subnet-only":
        return flat;
      case "user-defined-subnet-only":
        return user;
      case "flat-subnet-preferred":
        return [...flat, ...user];
      default:
        return [...user, ...flat];
    }
  }

  private allocateInstanceIp(obj: StoredObject): void {
    const p = obj.props;
    const vnRef = obj.refs["virtual-network"]?.[0];
    let plans: SubnetPlan[];
    let owner: string;
    if (vnRef) {
      const vn = this.store.get(vnRef.uuid)!;
      plans = this.vnSubnets(vn);
      owner = `virtual-network ${vn.fq_name.join(":")}`;
    } else if (obj.refs["network-ipam"]?.length) {
      const ipam = this.store.get(obj.refs["network-ipam"][0].uuid)!;
      plans = ((ipam.props.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? []).map((s) =>
        planSubnet(s, s.subnet_uuid!),
      );
      owner = `network-ipam ${ipam.fq_name.join(":")}`;
    } else throw badRequest("instance-ip needs a virtual_network_refs (or network_ipam_refs) entry");
    const family = p.instance_ip_family === "v6" ? "v6" : "v4";
    const requested = p.instance_ip_address as string | undefined;
    if (requested && !p.instance_ip_family) p.instance_ip_family = requested.includes(":") ? "v6" : "v4";
    const { address, subnet } = this.pickAddress(
      plans,
      owner,
      requested,
      p.subnet_uuid as string | undefined,
      requested ? undefined : family,
    );
    p.instance_ip_address = address;
    p.subnet_uuid = subnet;
  }

  private allocateFloatingIp(obj: StoredObject, parent: StoredObject): void {
    const p = obj.props;
    let plans: SubnetPlan[];
    let owner: string;
    if (parent.type === "floating-ip-pool") {
      const vn = this.store.get(parent.parent_uuid!)!;
      plans = this.vnSubnets(vn);
      const only = (parent.props.floating_ip_pool_subnets as { subnet_uuid?: string[] } | undefined)
        ?.subnet_uuid;
      if (only?.length) plans = plans.filter((s) => only.includes(s.subnetUuid));
      owner = `floating-ip-pool ${parent.fq_name.join(":")}`;
    } else {
      // Under an instance-ip (a service VIP) the floating IP shares the parent's address: nothing to allocate.
      const vip = parent.props.instance_ip_address;
      if (typeof vip !== "string") throw badRequest(`instance-ip ${parent.fq_name.join(":")} has no address`);
      if (p.floating_ip_address !== undefined && p.floating_ip_address !== vip)
        throw badRequest(
          `a floating-ip under instance-ip ${parent.fq_name.join(":")} must use its address ${vip}`,
        );
      p.floating_ip_address = vip;
      if (!p.floating_ip_address_family) p.floating_ip_address_family = vip.includes(":") ? "v6" : "v4";
      return;
    }
    const family = p.floating_ip_address_family === "v6" ? "v6" : "v4";
    const requested = p.floating_ip_address as string | undefined;
    const { address } = this.pickAddress(plans, owner, requested, undefined, requested ? undefined : family);
    p.floating_ip_address = address;
    if (!p.floating_ip_address_family) p.floating_ip_address_family = address.includes(":") ? "v6" : "v4";
  }

  private pickAddress(
    plans: SubnetPlan[],
    owner: string,
    requested: string | undefined,
    subnetUuid: string | undefined,
    family: "v4" | "v6" | undefined,
  ): { address: string; subnet: string } {
    if (subnetUuid) {
      plans = plans.filter((s) => s.subnetUuid === subnetUuid);
      if (plans.length === 0) throw badRequest(`Subnet ${subnetUuid} is not a subnet of ${owner}`);
    }
    if (plans.length === 0) throw badRequest(`${owner} has no subnets to allocate from`);
    if (requested) {
      if (typeof requested !== "string") throw badRequest("address must be a string");
      const plan = plans.find((s) => this.ipam(() => contains(s, requested)));
      if (!plan) throw badRequest(`${requested} is not in any subnet of ${owner}`);
      const address = this.ipam(() => checkRequested(plan, requested, this.alloc.takenIn(plan.subnetUuid)));
      return { address, subnet: plan.subnetUuid };
    }
    for (const plan of plans) {
      if (family && plan.family !== family) continue;
      const address = allocate(
        plan,
        this.alloc.takenIn(plan.subnetUuid),
        this.alloc.hints.get(plan.subnetUuid),
      );
      if (address) {
        this.alloc.hints.set(plan.subnetUuid, address);
        return { address, subnet: plan.subnetUuid };
      }
    }
    throw conflict(`${owner} has exhausted its ${family ?? ""} subnets`);
  }

  private ipam<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof IpamError) throw new ApiError(e.status, e.message);
      throw e;
    }
  }

  // ---- tags

  private prepareTag(obj: StoredObject, parent: StoredObject | undefined): () => void {
    const p = obj.props;
    const typeName = String(p.tag_type_name).toLowerCase();
    const value = String(p.tag_value);
    if (!typeName || typeName.includes("=") || !value)
      throw badRequest("tag needs tag_type_name and tag_value");
    p.tag_type_name = typeName;
    const name = `${typeName}=${value}`;
    obj.fq_name = [...obj.fq_name.slice(0, -1), name];
    p.display_name = name;
    const dup = this.store.byFqName("tag", obj.fq_name);
    if (dup) throw conflict(`${obj.fq_name.join(":")} already exists with uuid: ${dup.uuid}`);
    let tagType = this.store.byFqName("tag-type", [typeName]);
    if (!tagType) tagType = this.create("tag-type", { fq_name: [typeName] });
    const typeId = Number.parseInt(String(tagType.props.tag_type_id), 16);
    const used = this.alloc.tagValueIds.get(typeId) ?? new Set<number>();
    // Project-scoped tags take value ids from the upper half, global ones from the lower.
    const valueId = firstFree(used, parent ? 0x8000 : 1);
    p.tag_id = `0x${hex(typeId, 4).slice(2)}${hex(valueId, 4).slice(2)}`;
    obj.refs = { ...obj.refs, "tag-type": [{ uuid: tagType.uuid, attr: null }] };
    return () => {};
  }

  // ---- allocation bookkeeping

  private track(o: StoredObject): void {
    const p = o.props;
    switch (o.type) {
      case "virtual-network":
        if (typeof p.virtual_network_network_id === "number")
          this.alloc.networkIds.add(p.virtual_network_network_id);
        break;
      case "security-group":
        if (typeof p.security_group_id === "number") this.alloc.sgIds.add(p.security_group_id);
        break;
      case "tag-type":
        this.alloc.tagTypeIds.add(Number.parseInt(String(p.tag_type_id), 16));
        break;
      case "tag": {
        const id = Number.parseInt(String(p.tag_id), 16);
        const t = id >>> 16;
        if (!this.alloc.tagValueIds.has(t)) this.alloc.tagValueIds.set(t, new Set());
        this.alloc.tagValueIds.get(t)!.add(id & 0xffff);
        break;
      }
      case "instance-ip":
        if (typeof p.instance_ip_address === "string" && typeof p.subnet_uuid === "string")
          this.alloc.takenIn(p.subnet_uuid).add(p.instance_ip_address);
        break;
      case "floating-ip": {
        const s = this.floatingSubnet(o);
        if (s) this.alloc.takenIn(s).add(p.floating_ip_address as string);
        break;
      }
    }
  }

  private untrack(o: StoredObject): void {
    const p = o.props;
    switch (o.type) {
      case "virtual-network":
        this.alloc.networkIds.delete(p.virtual_network_network_id as number);
        break;
      case "security-group":
        this.alloc.sgIds.delete(p.security_group_id as number);
        break;
      case "tag-type":
        this.alloc.tagTypeIds.delete(Number.parseInt(String(p.tag_type_id), 16));
        break;
      case "tag": {
        const id = Number.parseInt(String(p.tag_id), 16);
        this.alloc.tagValueIds.get(id >>> 16)?.delete(id & 0xffff);
        break;
      }
      case "instance-ip":
        if (typeof p.subnet_uuid === "string")
          this.alloc.taken.get(p.subnet_uuid)?.delete(p.instance_ip_address as string);
        break;
      case "floating-ip": {
        const s = this.floatingSubnet(o);
        if (s) this.alloc.taken.get(s)?.delete(p.floating_ip_address as string);
        break;
      }
    }
  }

  /** The pool subnet a floating IP's address came from (derived: floating IPs do not record it). */
  private floatingSubnet(o: StoredObject): string | undefined {
    const addr = o.props.floating_ip_address;
    if (typeof addr !== "string" || !o.parent_uuid) return undefined;
    const parent = this.store.get(o.parent_uuid);
    if (!parent) return undefined;
    if (parent.type !== "floating-ip-pool") return undefined;
    const vn = parent.parent_uuid ? this.store.get(parent.parent_uuid) : undefined;
    if (!vn) return undefined;
    return this.vnSubnets(vn).find((s) => contains(s, addr))?.subnetUuid;
  }
}

function firstFree(used: ReadonlySet<number>, from: number): number {
  let i = from;
  while (used.has(i)) i++;
  return i;
}

const hex = (n: number, width: number): string => `0x${n.toString(16).padStart(width, "0")}`;

function sameList(a: unknown, b: readonly string[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);
}

function stripNull(o: Json, drop: string[] = []): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined && !drop.includes(k)) out[k] = v;
  return out;
}

/** What create and update both do to rule lists: rule uuids for policy and SG entries, endpoint checks. */
function normaliseRules(type: string, p: Json): void {
  if (type === "security-group") fillRuleUuids(p.security_group_entries);
  else if (type === "network-policy") fillRuleUuids(p.network_policy_entries);
  else if (type === "firewall-rule") checkEndpoints(p);
}

/** Policy rules get a rule_uuid when the client gave none (the agent keys ACL entries by it). */
function fillRuleUuids(entries: unknown): void {
  const rules = (entries as { policy_rule?: Json[] } | undefined)?.policy_rule;
  for (const r of rules ?? []) if (isJsonObject(r) && !r.rule_uuid) r.rule_uuid = randomUUID();
}

/** A firewall-rule endpoint names exactly one of tags, address_group, virtual_network, subnet, any. */
function checkEndpoints(p: Json): void {
  for (const f of ["endpoint_1", "endpoint_2"]) {
    const e = p[f];
    if (!isJsonObject(e)) continue;
    const set = ["tags", "address_group", "virtual_network", "subnet", "any"].filter((k) => {
      const v = e[k];
      return v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0);
    });
    if (set.length !== 1)
      throw badRequest(
        `firewall-rule ${f} must name exactly one of tags, address_group, virtual_network, subnet, any`,
      );
  }
}
