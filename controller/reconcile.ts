/**
 * Level-triggered reconciliation of one unit's desired Contrail objects against what the config API holds.
 * The reconciler keeps an index of the objects this cluster owns (found by their owner annotations on a full
 * scan, then kept current by its own writes). Per unit, `plan.ts` works out from the index alone what to
 * write (stale edges, stale objects in reverse dependency order, creates and changed fields in dependency
 * order, new edges); this file is the applier: it makes the calls in that order and handles the API's answers
 * (create → 409 → adopt the existing object → update; update → 404 → create again; a shared object still in
 * use → its delete is deferred). Every uuid is deterministic, so a controller killed at any moment and
 * restarted converges without duplicates, and objects no Kubernetes object explains are deleted.
 *
 * Example:
 *   const r = new Reconciler(new VncClient(url), "k8s");
 *   const units = await r.scan();              // unit keys owning objects in the API
 *   await r.apply(translateUnit("Pod/default/web", snap, layout, r.view, pods));
 */
import { scanFieldsOf, TYPE_ORDER } from "./contrail-types";
import {
  type ActualObject,
  afterWrite,
  edgeKey,
  entryKey,
  hasPlaceholder,
  type ListWrite,
  type ObjectWrite,
  objectWrite,
  objKey,
  planUnit,
  refFieldType,
  type UnitPlan,
  type Upsert,
} from "./plan";
import { type KeyValue, unitKeyOf } from "./translate/names";
import type {
  DesiredEdge,
  DesiredListEntry,
  DesiredObject,
  NestedHost,
  UnitDesired,
  UuidOf,
  VncView,
} from "./translate/types";
import {
  BadRequest,
  NoIdError,
  RefsExistError,
  type VncClient,
  type VncObject,
  type VncRef,
} from "./vnc/client";

/**
 * Refs kept on objects a unit does not own: (holder type, ref field, also when the holder is ours). A
 * virtual-router's VM refs always belong to the pods; a VN's policy refs only when the VN is not ours
 * (the ip-fabric network).
 */
const EDGE_FIELDS: [string, string, boolean][] = [
  ["virtual-router", "virtual_machine_refs", true],
  ["virtual-network", "network_policy_refs", false],
];

/**
 * Shared objects whose removal waits for their users (a tag, or an r4 NetworkPolicy security group, still on
 * interfaces the pods' units have not updated yet; a NetworkAttachmentDefinition's network deleted while pods
 * still have interfaces on it, which upstream refuses too): a 409 on delete is not a failure of the unit, just
 * something to try again later.
 */
const DEFERRABLE_DELETES = new Set(["tag", "security-group", "virtual-network", "network-ipam"]);

export interface ApplyResult {
  writes: number;
  /** Deletions put off until the objects are no longer referenced. */
  deferred?: string;
  /** What was left out (optional objects whose parent or ref target does not exist), each naming its object. */
  warnings?: string[];
}

/**
 * The unit cannot be applied now (a parent or ref target that nobody will create is missing). `external`: what
 * is missing is something no unit of this cluster creates (UnitDesired.external), so only someone else can
 * unblock it.
 */
export class UnitBlocked extends Error {
  override name = "UnitBlocked";
  constructor(
    message: string,
    readonly external = false,
  ) {
    super(message);
  }
}

/** Some operations of a unit failed; the others were applied. */
export class UnitFailed extends Error {
  override name = "UnitFailed";
  constructor(readonly errors: Error[]) {
    super(errors.map((e) => e.message).join("; "));
  }
}

export interface ReconcilerOptions {
  warn?: (msg: string) => void;
  /**
   * Whether address-allocating creates (pod instance-ips, floating IPs) must reach the API server in the
   * order units were started, so pods get addresses in creation order (.252, .251, …). Serialising costs one
   * round trip per allocation; the controller turns it off for large bursts (cold start). Default: always.
   */
  orderAllocations?: () => boolean;
  /** Shared lists units keep entries in, read on every scan so entries are found again after a restart. */
  sharedLists?: SharedList[];
  /** kubernetes_cluster_owner (default `k8s`): objects carrying another owner are not this controller's. */
  owner?: string;
}

/** A list property of an object the controller does not own, where units keep entries (see DesiredListEntry). */
export interface SharedList {
  holderType: string;
  holder: string[];
  prop: string;
  list: string;
  keyField: string;
  /** The unit an entry found in the list belongs to; undefined: not this cluster's. */
  ownerOf: (entry: Record<string, unknown>) => string | undefined;
}

export class Reconciler {
  /** unit key → owned objects by objKey */
  readonly owned = new Map<string, Map<string, ActualObject>>();
  /** unit key → edges applied by that unit */
  readonly edges = new Map<string, Map<string, DesiredEdge>>();
  /** unit key → its entries in shared lists, by entryKey */
  readonly entries = new Map<string, Map<string, DesiredListEntry>>();
  /** every object known to exist (owned or not): objKey → uuid */
  readonly known = new Map<string, string>();
  /** vn objKey → ipam fq string → subnet uuid */
  private readonly subnets = new Map<string, Map<string, string>>();
  readonly view: VncView = {
    routersByIp: new Map(),
    routersByName: new Map(),
    exists: (type, fq) => this.known.has(objKey(type, fq)),
  };
  /** nested_mode: VM interfaces on the underlay by address, and sub-interface VLAN tags, as last read. */
  private readonly nestedHosts = new Map<string, NestedHost>();
  private readonly nestedVlans = new Map<string, number>();
  private nestedAt = -Infinity;
  private nestedRead: Promise<void> | undefined;
  private readonly warn: (m: string) => void;
  /** kubernetes_cluster_owner: the `owner` annotation this controller's objects carry. */
  private readonly owner: string;
  private readonly orderAllocations: () => boolean;
  private readonly warnedSubnet = new Set<string>();
  private readonly allocations = new Sequencer();
  private readonly sharedLists: SharedList[];
  /** shared list holder → the tail of the writes queued on it (read-modify-write, one at a time) */
  private readonly listLocks = new Map<string, Promise<unknown>>();

  constructor(
    readonly vnc: VncClient,
    readonly cluster: string,
    opts: ReconcilerOptions = {},
  ) {
    this.warn = opts.warn ?? (() => {});
    this.owner = opts.owner ?? "k8s";
    this.orderAllocations = opts.orderAllocations ?? (() => true);
    this.sharedLists = opts.sharedLists ?? [];
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
    const shared = await Promise.all(
      this.sharedLists.map(async (sl) => {
        try {
          const o = await this.vnc.readByFqName(sl.holderType, sl.holder, { fields: [sl.prop] });
          const items = (o[sl.prop] as Record<string, unknown> | undefined)?.[sl.list];
          return [sl, Array.isArray(items) ? (items as Record<string, unknown>[]) : []] as const;
        } catch (err) {
          if (err instanceof NoIdError) return [sl, []] as const;
          throw err;
        }
      }),
    );
    this.owned.clear();
    this.edges.clear();
    this.entries.clear();
    for (const [sl, items] of shared)
      for (const entry of items) {
        const unit = sl.ownerOf(entry);
        if (!unit) continue;
        const { ownerOf: _, ...where } = sl;
        const e: DesiredListEntry = { ...where, entry };
        this.entryMap(unit).set(entryKey(e), e);
      }
    this.known.clear();
    this.subnets.clear();
    this.view.routersByIp.clear();
    this.view.routersByName.clear();
    const ownerOf = new Map<string, string>(); // objKey → unit
    for (const [type, items] of lists) {
      for (const o of items) {
        const k = objKey(type, o.fq_name);
        this.known.set(k, o.uuid);
        const unit = unitKeyOf(o.annotations, this.cluster, this.owner);
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
    return new Set(this.ownedUnits());
  }

  /** Apply one unit. Throws UnitBlocked (nothing changed) or UnitFailed (partly applied; retry later). */
  async apply(unit: UnitDesired): Promise<ApplyResult> {
    if (unit.blocked) throw new UnitBlocked(unit.blocked, unit.blockedExternally);
    const plan = planUnit(unit, {
      objects: this.owned.get(unit.key),
      edges: this.edges.get(unit.key),
      known: this.known,
      entries: this.entries.get(unit.key),
    });
    // reserve the allocation turn synchronously, so addresses follow the order units were started in
    const slot =
      this.orderAllocations() && plan.upserts.some((u) => allocates(u.desired) && !u.current)
        ? this.allocations.reserve()
        : undefined;
    try {
      return await this.applyUnit(unit, plan, slot);
    } finally {
      slot?.release();
    }
  }

  /** Make a plan's writes in order; see plan.ts. */
  private async applyUnit(
    desired: UnitDesired,
    plan: UnitPlan,
    slot: Slot | undefined,
  ): Promise<ApplyResult> {
    const unit = desired.key;
    let writes = 0;
    const errors: Error[] = [];
    const deferred: string[] = [];
    const warnings: string[] = [];

    // 1. stale edges first: they would keep their targets from being deleted
    const curEdges = this.edges.get(unit);
    for (const { key, edge: e } of plan.unref) {
      try {
        const from = this.known.get(objKey(e.fromType, e.from));
        if (from) {
          await this.vnc.refUpdate(e.fromType, from, e.refType, e.to, "DELETE");
          writes++;
        }
        curEdges?.delete(key);
      } catch (err) {
        if (err instanceof NoIdError) curEdges?.delete(key);
        else errors.push(err as Error);
      }
    }

    // 2. stale objects, children and referrers first
    for (const a of plan.deletes) {
      try {
        await this.vnc.delete(a.type, a.uuid);
        writes++;
        this.forget(unit, a);
      } catch (err) {
        if (err instanceof NoIdError) this.forget(unit, a);
        else if (err instanceof RefsExistError && DEFERRABLE_DELETES.has(a.type))
          deferred.push(`${a.type} ${a.fq_name.join(":")} still in use`);
        else errors.push(err as Error);
      }
    }

    // 3. parents and ref targets this unit does not create must exist
    for (const { type, fq_name } of plan.requires)
      if (!(await this.exists(type, fq_name)))
        throw new UnitBlocked(
          `${describeUnit(unit)}: ${type} ${fq_name.join(":")} does not exist`,
          (desired.external ?? []).some((x) => x.type === type && x.fq_name.join(":") === fq_name.join(":")),
        );
    // (an edge whose holder is missing does not block the unit: it fails alone in step 5 and is retried)

    // 4. create or update in dependency order
    const lastAlloc = plan.upserts.findLastIndex((u) => allocates(u.desired));
    for (const [i, u] of plan.upserts.entries()) {
      try {
        if (u.needs) {
          const missing = [];
          for (const n of u.needs) if (!(await this.exists(n.type, n.fq_name))) missing.push(n);
          if (missing.length) {
            warnings.push(
              `${u.desired.optional}: ${missing.map((n) => `${n.type} ${n.fq_name.join(":")}`).join(", ")} does not exist`,
            );
            if (i === lastAlloc) slot?.release();
            continue;
          }
        }
        if (slot && allocates(u.desired)) await slot.turn;
        writes += await this.ensure(unit, u);
        if (i === lastAlloc) slot?.release();
      } catch (err) {
        if (i === lastAlloc) slot?.release();
        // an optional object the API refuses (an external address outside its pool's subnets, or taken) is
        // left out, as upstream logs the error and goes on
        if (
          u.desired.optional &&
          !u.current &&
          (err instanceof BadRequest || err instanceof RefsExistError)
        ) {
          warnings.push(`${u.desired.optional}: ${err.message}`);
          continue;
        }
        errors.push(err as Error);
        // later objects may depend on this one; stop here and retry the unit
        break;
      }
    }

    // 5. edges
    if (errors.length === 0) {
      for (const { key, edge: e } of plan.refs) {
        try {
          const from = await this.uuidOf(e.fromType, e.from);
          await this.vnc.refUpdate(e.fromType, from, e.refType, e.to, "ADD", e.attr);
          writes++;
          this.edgeMap(unit).set(key, e);
        } catch (err) {
          errors.push(
            err instanceof NoIdError
              ? new Error(`${describeUnit(unit)}: ${e.fromType} ${e.from.join(":")} does not exist (yet)`)
              : (err as Error),
          );
        }
      }
    }
    if (this.edges.get(unit)?.size === 0) this.edges.delete(unit);

    // 6. entries in shared lists (they depend on no object of the unit)
    for (const w of plan.lists) {
      try {
        writes += await this.writeList(unit, w);
      } catch (err) {
        errors.push(
          err instanceof NoIdError
            ? new Error(`${describeUnit(unit)}: ${w.holderType} ${w.holder.join(":")} does not exist (yet)`)
            : (err as Error),
        );
      }
    }
    if (this.entries.get(unit)?.size === 0) this.entries.delete(unit);
    if (errors.length) throw new UnitFailed(errors);
    return {
      writes,
      ...(deferred.length ? { deferred: deferred.join("; ") } : {}),
      ...(warnings.length ? { warnings } : {}),
    };
  }

  /**
   * nested_mode: read the VMs' interfaces on `underlay` (an instance-ip there and a host_id binding, as
   * vnc_pod.py `_get_host_vmi` finds them) and every sub-interface's VLAN tag, at most every 250 ms (a pod
   * unit asks before it translates: the controller does not watch the config API); the view answers from it.
   */
  async refreshNested(underlay: string[]): Promise<void> {
    if (performance.now() - this.nestedAt < 250) return;
    this.nestedRead ??= (async () => {
      try {
        const [iips, vmis] = await Promise.all([
          this.vnc.list("instance-ip", {
            detail: true,
            fields: ["instance_ip_address", "virtual_network_refs", "virtual_machine_interface_refs"],
          }),
          this.vnc.list("virtual-machine-interface", {
            detail: true,
            fields: [
              "virtual_machine_interface_bindings",
              "virtual_machine_interface_refs",
              "virtual_machine_interface_properties",
            ],
          }),
        ]);
        type Ref = { uuid: string; to: string[] };
        const byUuid = new Map(vmis.map((v) => [v.uuid, v]));
        const vlansOf = new Map<string, Set<number>>();
        this.nestedVlans.clear();
        for (const v of vmis) {
          const tag = (
            v.virtual_machine_interface_properties as { sub_interface_vlan_tag?: number } | undefined
          )?.sub_interface_vlan_tag;
          if (typeof tag !== "number") continue;
          this.nestedVlans.set(v.fq_name.join(":"), tag);
          for (const r of (v.virtual_machine_interface_refs as Ref[] | undefined) ?? []) {
            const set = vlansOf.get(r.uuid) ?? new Set<number>();
            set.add(tag);
            vlansOf.set(r.uuid, set);
          }
        }
        this.nestedHosts.clear();
        const net = underlay.join(":");
        for (const iip of iips) {
          const addr = iip.instance_ip_address as string | undefined;
          if (
            !addr ||
            !((iip.virtual_network_refs as Ref[] | undefined) ?? []).some((r) => r.to.join(":") === net)
          )
            continue;
          for (const r of (iip.virtual_machine_interface_refs as Ref[] | undefined) ?? []) {
            const v = byUuid.get(r.uuid);
            const pairs = (
              v?.virtual_machine_interface_bindings as { key_value_pair?: KeyValue[] } | undefined
            )?.key_value_pair;
            const hostId = pairs?.find((p) => p.key === "host_id")?.value;
            if (v && hostId)
              this.nestedHosts.set(addr, {
                uuid: v.uuid,
                fq_name: v.fq_name,
                hostId,
                vlans: vlansOf.get(v.uuid) ?? new Set(),
              });
          }
        }
        this.view.nested = {
          host: (ip) => this.nestedHosts.get(ip),
          vlanOf: (fq) => this.ownedVlan(fq) ?? this.nestedVlans.get(fq.join(":")),
        };
      } finally {
        this.nestedAt = performance.now();
        this.nestedRead = undefined;
      }
    })();
    await this.nestedRead;
  }

  /** The VLAN tag this controller last wrote on one of its VMIs (fresher than the last nested read). */
  private ownedVlan(fq: string[]): number | undefined {
    const k = objKey("virtual-machine-interface", fq);
    for (const objs of this.owned.values()) {
      const o = objs.get(k);
      if (o)
        return (
          o.props.virtual_machine_interface_properties as { sub_interface_vlan_tag?: number } | undefined
        )?.sub_interface_vlan_tag;
    }
    return undefined;
  }

  /** Units currently owning objects, edges or shared-list entries. */
  ownedUnits(): string[] {
    return [...new Set([...this.owned.keys(), ...this.edges.keys(), ...this.entries.keys()])];
  }

  /**
   * Rewrite one shared list: read it, put this unit's new and changed entries in place of same-keyed ones (or
   * at the end), drop the ones it no longer wants, keep everyone else's; one write, only if it changed. Writes
   * to the same holder are serialised (read-modify-write).
   */
  private writeList(unit: string, w: ListWrite): Promise<number> {
    const lockKey = objKey(w.holderType, w.holder);
    const run = async (): Promise<number> => {
      const uuid = await this.uuidOf(w.holderType, w.holder);
      const obj = await this.vnc.read(w.holderType, uuid, { fields: [w.prop] });
      const cur = (obj[w.prop] ?? {}) as Record<string, unknown>;
      const list = (Array.isArray(cur[w.list]) ? cur[w.list] : []) as Record<string, unknown>[];
      const drop = new Set(w.drop.map((d) => d.name));
      const put = new Map(w.put.map((p) => [String(p.entry.entry[w.keyField]), p.entry.entry]));
      const placed = new Set<string>();
      const next: Record<string, unknown>[] = [];
      for (const e of list) {
        const name = String(e[w.keyField]);
        const replacement = put.get(name);
        if (replacement) {
          // the first same-named entry is replaced; duplicates of it go
          if (!placed.has(name)) next.push(replacement);
          placed.add(name);
        } else if (!drop.has(name)) next.push(e);
      }
      for (const [name, e] of put) if (!placed.has(name)) next.push(e);
      let writes = 0;
      if (JSON.stringify(next) !== JSON.stringify(list)) {
        await this.vnc.update(w.holderType, uuid, { [w.prop]: { ...cur, [w.list]: next } });
        writes = 1;
      }
      const m = this.entryMap(unit);
      for (const d of w.drop) m.delete(d.key);
      for (const p of w.put) m.set(p.key, p.entry);
      return writes;
    };
    const tail = (this.listLocks.get(lockKey) ?? Promise.resolve()).then(run, run);
    const settled = tail.catch(() => {});
    this.listLocks.set(lockKey, settled);
    void settled.then(() => {
      if (this.listLocks.get(lockKey) === settled) this.listLocks.delete(lockKey);
    });
    return tail;
  }

  /** Create, adopt or update one object of the plan; returns the number of writes. */
  private async ensure(unit: string, u: Upsert): Promise<number> {
    const o = u.desired;
    // placeholders resolve only now: a subnet of a network this unit has just created, an adopted uuid
    const props = u.write ? o.props : await this.resolve(o.props);
    return this.write(unit, o, props, u.current, u.write ?? objectWrite(o, props, u.current, unit));
  }

  /** One object write and the API's answers to it: 409 on create → adopt and update; 404 on update → create. */
  private async write(
    unit: string,
    o: DesiredObject,
    props: Record<string, unknown>,
    cur: ActualObject | undefined,
    w: ObjectWrite | undefined,
  ): Promise<number> {
    const k = objKey(o.type, o.fq_name);
    if (!w) {
      if (cur) this.record(unit, afterWrite(o, props, cur));
      return 0;
    }
    if (w.op === "create") {
      try {
        const created = await this.vnc.create(o.type, w.body as VncObject);
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
        const adopted = actualFrom(o.type, await this.vnc.read(o.type, uuid, { fields }));
        this.known.set(k, uuid);
        return this.write(unit, o, props, adopted, objectWrite(o, props, adopted, unit));
      }
    }
    try {
      await this.vnc.update(o.type, w.uuid, w.body as Partial<VncObject>);
    } catch (err) {
      // deleted behind our back (or the API lost its state): forget it and create it again
      if (err instanceof NoIdError && cur) {
        this.forget(unit, cur);
        return this.write(unit, o, props, undefined, objectWrite(o, props, undefined, unit));
      }
      throw err;
    }
    if (cur) this.record(unit, afterWrite(o, props, cur));
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

  private entryMap(unit: string): Map<string, DesiredListEntry> {
    let m = this.entries.get(unit);
    if (!m) {
      m = new Map();
      this.entries.set(unit, m);
    }
    return m;
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

export function describeUnit(key: string): string {
  const [kind, ...rest] = key.split("/");
  return `${kind.toLowerCase()} ${rest.join("/") || "(cluster)"}`;
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
