/**
 * Level-triggered reconciliation of one unit's desired Contrail objects against what the config API holds.
 * The reconciler keeps an index of the objects this cluster owns (found by their owner annotations on a full
 * scan, then kept current by its own writes) and, per unit: removes stale edges, deletes stale objects in
 * reverse dependency order, creates / updates desired objects in dependency order (create → 409 → adopt the
 * existing object → update), then adds edges. Every uuid is deterministic, so a controller killed at any
 * moment and restarted converges without duplicates, and objects no Kubernetes object explains are deleted.
 *
 * Example:
 *   const r = new Reconciler(new VncClient(url), "k8s");
 *   const units = await r.scan();              // unit keys owning objects in the API
 *   await r.apply(translateUnit("Pod/default/web", snap, layout, r.view, pods));
 */
import { parentTypeOf, scanFieldsOf, TYPE_ORDER } from "./contrail-types";
import { NoIdError, RefsExistError, type VncClient, type VncObject, type VncRef } from "./vnc/client";
import { unitKeyOf } from "./translate/names";
import type { DesiredEdge, DesiredObject, DesiredRef, UnitDesired, UuidOf, VncView } from "./translate/types";

export { TYPE_ORDER } from "./contrail-types";
const RANK = new Map<string, number>(TYPE_ORDER.map((t, i) => [t, i]));

/**
 * Refs kept on objects a unit does not own: (holder type, ref field, also when the holder is ours). A
 * virtual-router's VM refs always belong to the pods; a VN's policy refs only when the VN is not ours
 * (the ip-fabric network).
 */
const EDGE_FIELDS: [string, string, boolean][] = [
  ["virtual-router", "virtual_machine_refs", true],
  ["virtual-network", "network_policy_refs", false],
];

/** Types whose uuid is the identity of what they stand for (virtual-machine uuid = pod uid). */
const UUID_IS_IDENTITY = new Set(["virtual-machine"]);

/**
 * Shared objects whose removal waits for their users (a tag, or an r4 NetworkPolicy security group, still on
 * interfaces the pods' units have not updated yet): a 409 on delete is not a failure of the unit, just
 * something to try again later.
 */
const DEFERRABLE_DELETES = new Set(["tag", "security-group"]);

export interface ApplyResult {
  writes: number;
  /** Deletions put off until the objects are no longer referenced. */
  deferred?: string;
}

/** An object as the index knows it: its uuid and the last props/refs seen or written. */
export interface ActualObject {
  type: string;
  fq_name: string[];
  uuid: string;
  props: Record<string, unknown>;
  refs: Record<string, VncRef[] | DesiredRef[]>;
}

/** The unit cannot be applied now (a parent or ref target that nobody will create is missing). */
export class UnitBlocked extends Error {
  override name = "UnitBlocked";
}

/** Some operations of a unit failed; the others were applied. */
export class UnitFailed extends Error {
  override name = "UnitFailed";
  constructor(readonly errors: Error[]) {
    super(errors.map((e) => e.message).join("; "));
  }
}

export const objKey = (type: string, fq: string[]) => `${type} ${fq.join(":")}`;
const edgeKey = (e: DesiredEdge) => `${e.fromType} ${e.from.join(":")} ${e.refType} ${e.to.join(":")}`;
const refFieldType = (field: string) => field.replace(/_refs$/, "").replace(/_/g, "-");

export interface ReconcilerOptions {
  warn?: (msg: string) => void;
  /**
   * Whether address-allocating creates (pod instance-ips, floating IPs) must reach the API server in the
   * order units were started, so pods get addresses in creation order (.252, .251, …). Serialising costs one
   * round trip per allocation; the controller turns it off for large bursts (cold start). Default: always.
   */
  orderAllocations?: () => boolean;
}

export class Reconciler {
  /** unit key → owned objects by objKey */
  readonly owned = new Map<string, Map<string, ActualObject>>();
  /** unit key → edges applied by that unit */
  readonly edges = new Map<string, Map<string, DesiredEdge>>();
  /** every object known to exist (owned or not): objKey → uuid */
  readonly known = new Map<string, string>();
  /** vn objKey → ipam fq string → subnet uuid */
  private readonly subnets = new Map<string, Map<string, string>>();
  readonly view: VncView = { routersByIp: new Map(), routersByName: new Map() };
  private readonly warn: (m: string) => void;
  private readonly orderAllocations: () => boolean;
  private readonly warnedSubnet = new Set<string>();
  private readonly allocations = new Sequencer();

  constructor(
    readonly vnc: VncClient,
    readonly cluster: string,
    opts: ReconcilerOptions = {},
  ) {
    this.warn = opts.warn ?? (() => {});
    this.orderAllocations = opts.orderAllocations ?? (() => true);
  }

  /**
   * Read every managed type from the API and rebuild the indexes. Returns the unit keys that own objects
   * (some may no longer exist in Kubernetes: applying their empty desired set deletes them).
   */
  async scan(): Promise<Set<string>> {
    const lists = await Promise.all(
      TYPE_ORDER.map(async (type) => {
        const fields = ["annotations", "display_name", ...scanFieldsOf(type)];
        return [type, await this.vnc.list(type, { detail: true, fields })] as const;
      }),
    );
    this.owned.clear();
    this.edges.clear();
    this.known.clear();
    this.subnets.clear();
    this.view.routersByIp.clear();
    this.view.routersByName.clear();
    const ownerOf = new Map<string, string>(); // objKey → unit
    for (const [type, items] of lists) {
      for (const o of items) {
        const k = objKey(type, o.fq_name);
        this.known.set(k, o.uuid);
        const unit = unitKeyOf(o.annotations, this.cluster);
        if (type === "virtual-network") this.noteSubnets(o);
        if (!unit) {
          if (type === "virtual-router") {
            const name = o.fq_name[o.fq_name.length - 1];
            this.view.routersByName.set(name, o.fq_name);
            if (o.virtual_router_ip_address)
              this.view.routersByIp.set(o.virtual_router_ip_address, o.fq_name);
          }
          continue;
        }
        ownerOf.set(k, unit);
        this.record(unit, actualFrom(type, o));
      }
    }
    for (const [type, items] of lists) {
      for (const [holderType, field, ownedHolder] of EDGE_FIELDS) {
        if (holderType !== type) continue;
        for (const o of items) {
          const holderUnit = ownerOf.get(objKey(type, o.fq_name));
          if (holderUnit && !ownedHolder) continue;
          for (const r of (o[field] ?? []) as VncRef[]) {
            const refType = refFieldType(field);
            const targetUnit = ownerOf.get(objKey(refType, r.to));
            // a ref between two objects of the same unit is an ordinary ref, not an edge
            if (!targetUnit || targetUnit === holderUnit) continue;
            const e: DesiredEdge = { fromType: type, from: o.fq_name, refType, to: r.to };
            if (r.attr !== undefined && r.attr !== null) e.attr = r.attr;
            this.edgeMap(targetUnit).set(edgeKey(e), e);
          }
        }
      }
    }
    return new Set([...this.owned.keys(), ...this.edges.keys()]);
  }

  /** Apply one unit. Throws UnitBlocked (nothing changed) or UnitFailed (partly applied; retry later). */
  async apply(unit: UnitDesired): Promise<ApplyResult> {
    if (unit.blocked) throw new UnitBlocked(unit.blocked);
    const actual = this.owned.get(unit.key) ?? new Map<string, ActualObject>();
    // reserve the allocation turn synchronously, so addresses follow the order units were started in
    const slot =
      this.orderAllocations() &&
      unit.objects.some((o) => allocates(o) && !actual.has(objKey(o.type, o.fq_name)))
        ? this.allocations.reserve()
        : undefined;
    try {
      return await this.applyUnit(unit, actual, slot);
    } finally {
      slot?.release();
    }
  }

  private async applyUnit(
    unit: UnitDesired,
    actual: Map<string, ActualObject>,
    slot: Slot | undefined,
  ): Promise<ApplyResult> {
    let writes = 0;
    const errors: Error[] = [];
    const deferred: string[] = [];
    const desired = new Map(unit.objects.map((o) => [objKey(o.type, o.fq_name), o]));
    const desiredEdges = new Map(unit.edges.map((e) => [edgeKey(e), e]));

    // objects whose uuid is their identity (VM = pod uid) and that now stand for a new incarnation
    // (pod deleted and recreated under the same name) are replaced, not updated
    const replaced = new Set(
      [...actual.values()]
        .filter((a) => UUID_IS_IDENTITY.has(a.type))
        .filter((a) => {
          const d = desired.get(objKey(a.type, a.fq_name));
          return d !== undefined && d.uuid !== a.uuid;
        })
        .map((a) => objKey(a.type, a.fq_name)),
    );

    // 1. stale edges first: they would keep their targets from being deleted
    const curEdges = this.edges.get(unit.key);
    for (const [k, e] of curEdges ?? []) {
      if (desiredEdges.has(k) && !replaced.has(objKey(e.refType, e.to))) continue;
      try {
        const from = this.known.get(objKey(e.fromType, e.from));
        if (from) {
          await this.vnc.refUpdate(e.fromType, from, e.refType, e.to, "DELETE");
          writes++;
        }
        curEdges!.delete(k);
      } catch (err) {
        if (err instanceof NoIdError) curEdges!.delete(k);
        else errors.push(err as Error);
      }
    }

    // 2. stale objects, children and referrers first
    const stale = [...actual.values()]
      .filter((a) => !desired.has(objKey(a.type, a.fq_name)) || replaced.has(objKey(a.type, a.fq_name)))
      .sort((a, b) => rank(b.type) - rank(a.type) || b.fq_name.length - a.fq_name.length);
    for (const a of stale) {
      try {
        await this.vnc.delete(a.type, a.uuid);
        writes++;
        this.forget(unit.key, a);
      } catch (err) {
        if (err instanceof NoIdError) this.forget(unit.key, a);
        else if (err instanceof RefsExistError && DEFERRABLE_DELETES.has(a.type))
          deferred.push(`${a.type} ${a.fq_name.join(":")} still in use`);
        else errors.push(err as Error);
      }
    }

    // 3. parents and ref targets this unit does not create must exist
    const ordered = [...unit.objects].sort(
      (a, b) => rank(a.type) - rank(b.type) || a.fq_name.length - b.fq_name.length,
    );
    for (const o of ordered) {
      const needs: [string, string[]][] = [];
      const parent = o.parent_type ?? parentTypeOf(o.type);
      if (parent) needs.push([parent, o.fq_name.slice(0, -1)]);
      for (const [field, refs] of Object.entries(o.refs))
        for (const r of refs) needs.push([refFieldType(field), r.to]);
      for (const [type, fq] of needs) {
        if (desired.has(objKey(type, fq))) continue;
        if (!(await this.exists(type, fq)))
          throw new UnitBlocked(`${describeUnit(unit.key)}: ${type} ${fq.join(":")} does not exist`);
      }
    }
    // (an edge whose holder is missing does not block the unit: it fails alone in step 5 and is retried)

    // 4. create or update in dependency order
    const lastAlloc = ordered.findLastIndex(allocates);
    for (const [i, o] of ordered.entries()) {
      try {
        if (slot && allocates(o)) await slot.turn;
        writes += await this.ensure(unit.key, o, actual.get(objKey(o.type, o.fq_name)));
        if (i === lastAlloc) slot?.release();
      } catch (err) {
        errors.push(err as Error);
        // later objects may depend on this one; stop here and retry the unit
        break;
      }
    }

    // 5. edges
    if (errors.length === 0) {
      for (const [k, e] of desiredEdges) {
        if (this.edges.get(unit.key)?.has(k)) continue;
        try {
          const from = await this.uuidOf(e.fromType, e.from);
          await this.vnc.refUpdate(e.fromType, from, e.refType, e.to, "ADD", e.attr);
          writes++;
          this.edgeMap(unit.key).set(k, e);
        } catch (err) {
          errors.push(
            err instanceof NoIdError
              ? new Error(`${describeUnit(unit.key)}: ${e.fromType} ${e.from.join(":")} does not exist (yet)`)
              : (err as Error),
          );
        }
      }
    }
    if (this.edges.get(unit.key)?.size === 0) this.edges.delete(unit.key);
    if (errors.length) throw new UnitFailed(errors);
    return deferred.length ? { writes, deferred: deferred.join("; ") } : { writes };
  }

  /** Units currently owning objects or edges. */
  ownedUnits(): string[] {
    return [...new Set([...this.owned.keys(), ...this.edges.keys()])];
  }

  /** Create, adopt or update one object; returns the number of writes. */
  private async ensure(unit: string, o: DesiredObject, cur: ActualObject | undefined): Promise<number> {
    const props = await this.resolve(o.props);
    const k = objKey(o.type, o.fq_name);
    if (!cur) {
      const body: Record<string, unknown> = { uuid: o.uuid, fq_name: o.fq_name, ...props, ...o.createOnly };
      if (o.parent_type) body.parent_type = o.parent_type;
      for (const [f, refs] of Object.entries(o.refs)) body[f] = refs.map(wireRef);
      try {
        const created = await this.vnc.create(o.type, body as VncObject);
        this.record(unit, { type: o.type, fq_name: o.fq_name, uuid: created.uuid, props, refs: o.refs });
        this.known.set(k, created.uuid);
        if (o.type === "virtual-network") this.subnets.delete(k);
        return 1;
      } catch (err) {
        if (!(err instanceof RefsExistError)) throw err;
        // it exists (created before a restart, or by someone else under the same fq_name): adopt and update
        const uuid = await this.vnc.fqNameToId(o.type, o.fq_name).catch((e2: unknown) => {
          if (e2 instanceof NoIdError) throw err;
          throw e2;
        });
        const fields = ["annotations", "display_name", ...scanFieldsOf(o.type)];
        cur = actualFrom(o.type, await this.vnc.read(o.type, uuid, { fields }));
        this.known.set(k, uuid);
      }
    }
    const changed: Record<string, unknown> = {};
    for (const [f, v] of Object.entries(props)) if (!subset(v, cur.props[f])) changed[f] = v;
    for (const [f, refs] of Object.entries(o.refs))
      if (!sameRefs(refs, (cur.refs[f] ?? []) as VncRef[])) changed[f] = refs.map(wireRef);
    const next: ActualObject = {
      ...cur,
      props: { ...cur.props, ...props },
      refs: { ...cur.refs, ...o.refs },
    };
    if (Object.keys(changed).length === 0) {
      this.record(unit, next);
      return 0;
    }
    try {
      await this.vnc.update(o.type, cur.uuid, changed as Partial<VncObject>);
    } catch (err) {
      // deleted behind our back (or the API lost its state): forget it and create it again
      if (err instanceof NoIdError) {
        this.forget(unit, cur);
        return this.ensure(unit, o, undefined);
      }
      throw err;
    }
    this.record(unit, next);
    if (o.type === "virtual-network") this.subnets.delete(k);
    return 1;
  }

  /**
   * Replace `$subnetOf` placeholders by the subnet uuid the API server assigned (dropped if unknown) and
   * `$uuidOf` by the uuid of the object as known (its creator's uuid while it does not exist yet).
   */
  private async resolve(v: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!hasPlaceholder(v)) return v;
    const walk = async (x: unknown): Promise<unknown> => {
      if (Array.isArray(x)) return (await Promise.all(x.map(walk))).filter((e) => e !== undefined);
      if (x && typeof x === "object") {
        const so = (x as { $subnetOf?: { vn: string[]; ipam: string[] } }).$subnetOf;
        if (so) return this.subnetUuid(so.vn, so.ipam);
        const uo = (x as UuidOf).$uuidOf;
        if (uo) return this.known.get(objKey(uo.type, uo.fq)) ?? uo.otherwise;
        const out: Record<string, unknown> = {};
        for (const [k, val] of Object.entries(x)) {
          const r = await walk(val);
          if (r !== undefined) out[k] = r;
        }
        return out;
      }
      return x;
    };
    return (await walk(v)) as Record<string, unknown>;
  }

  private async subnetUuid(vn: string[], ipam: string[]): Promise<string | undefined> {
    const k = objKey("virtual-network", vn);
    let m = this.subnets.get(k);
    if (!m?.has(ipam.join(":"))) {
      const uuid = await this.uuidOf("virtual-network", vn);
      this.noteSubnets(await this.vnc.read("virtual-network", uuid, { fields: ["network_ipam_refs"] }), vn);
      m = this.subnets.get(k);
    }
    const s = m?.get(ipam.join(":"));
    if (!s && !this.warnedSubnet.has(`${k} ${ipam}`)) {
      this.warnedSubnet.add(`${k} ${ipam}`);
      this.warn(
        `virtual-network ${vn.join(":")}: no subnet_uuid on its ref to ${ipam.join(":")}; allocating without one`,
      );
    }
    return s;
  }

  private noteSubnets(vn: VncObject, fq = vn.fq_name) {
    const m = new Map<string, string>();
    for (const r of (vn.network_ipam_refs ?? []) as VncRef[]) {
      const s = (r.attr as { ipam_subnets?: { subnet_uuid?: string }[] } | undefined)?.ipam_subnets?.[0]
        ?.subnet_uuid;
      if (s) m.set(r.to.join(":"), s);
    }
    this.subnets.set(objKey("virtual-network", fq), m);
  }

  private async exists(type: string, fq: string[]): Promise<boolean> {
    if (this.known.has(objKey(type, fq))) return true;
    try {
      this.known.set(objKey(type, fq), await this.vnc.fqNameToId(type, fq));
      return true;
    } catch (err) {
      if (err instanceof NoIdError) return false;
      throw err;
    }
  }

  private async uuidOf(type: string, fq: string[]): Promise<string> {
    const k = objKey(type, fq);
    const known = this.known.get(k);
    if (known) return known;
    const uuid = await this.vnc.fqNameToId(type, fq);
    this.known.set(k, uuid);
    return uuid;
  }

  private record(unit: string, a: ActualObject) {
    let m = this.owned.get(unit);
    if (!m) {
      m = new Map();
      this.owned.set(unit, m);
    }
    m.set(objKey(a.type, a.fq_name), a);
  }

  private forget(unit: string, a: ActualObject) {
    const m = this.owned.get(unit);
    const k = objKey(a.type, a.fq_name);
    m?.delete(k);
    if (m?.size === 0) this.owned.delete(unit);
    this.known.delete(k);
    this.subnets.delete(k);
  }

  private edgeMap(unit: string): Map<string, DesiredEdge> {
    let m = this.edges.get(unit);
    if (!m) {
      m = new Map();
      this.edges.set(unit, m);
    }
    return m;
  }
}

function hasPlaceholder(x: unknown): boolean {
  if (Array.isArray(x)) return x.some(hasPlaceholder);
  if (x && typeof x === "object")
    return "$subnetOf" in x || "$uuidOf" in x || Object.values(x).some(hasPlaceholder);
  return false;
}

/** Objects whose create makes the API server pick an address (pod instance-ips, floating IPs). */
function allocates(o: DesiredObject): boolean {
  if (o.type === "instance-ip") return !o.createOnly?.instance_ip_address;
  if (o.type === "floating-ip") return !o.createOnly?.floating_ip_address;
  return false;
}

interface Slot {
  turn: Promise<void>;
  release: () => void;
}

/** FIFO turns: slot n's `turn` resolves when slots 0..n-1 were released. */
class Sequencer {
  private tail: Promise<void> = Promise.resolve();
  reserve(): Slot {
    let release!: () => void;
    const done = new Promise<void>((r) => {
      release = r;
    });
    const turn = this.tail;
    this.tail = this.tail.then(() => done);
    return { turn, release };
  }
}

function rank(type: string): number {
  return RANK.get(type) ?? TYPE_ORDER.length;
}

function describeUnit(key: string): string {
  const [kind, ...rest] = key.split("/");
  return `${kind.toLowerCase()} ${rest.join("/") || "(cluster)"}`;
}

function wireRef(r: DesiredRef): { to: string[]; attr?: unknown } {
  return r.attr === undefined ? { to: r.to } : { to: r.to, attr: r.attr };
}

function actualFrom(type: string, o: VncObject): ActualObject {
  const props: Record<string, unknown> = {};
  const refs: Record<string, VncRef[]> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k.endsWith("_refs")) refs[k] = v as VncRef[];
    else if (!["uuid", "fq_name", "name", "href", "parent_type", "parent_uuid", "parent_href"].includes(k))
      props[k] = v;
  }
  return { type, fq_name: o.fq_name, uuid: o.uuid, props, refs };
}

/** Deep "desired ⊆ actual": objects may carry extra keys the server added; arrays match element-wise. */
export function subset(want: unknown, have: unknown): boolean {
  if (want === have) return true;
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return false;
    return want.every((w, i) => subset(w, have[i]));
  }
  if (want && typeof want === "object") {
    if (!have || typeof have !== "object" || Array.isArray(have)) return false;
    return Object.entries(want).every(([k, v]) => subset(v, (have as Record<string, unknown>)[k]));
  }
  return false;
}

function sameRefs(want: DesiredRef[], have: (VncRef | DesiredRef)[]): boolean {
  if (want.length !== have.length) return false;
  const byTo = new Map(have.map((h) => [h.to.join(":"), h]));
  return want.every((w) => {
    const h = byTo.get(w.to.join(":"));
    if (!h) return false;
    if (w.compareAttr === false || w.attr === undefined) return true;
    return subset(w.attr, h.attr);
  });
}
