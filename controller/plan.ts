/**
 * The pure half of reconciling one unit: from the unit's desired objects and edges and what the index holds
 * (the unit's actual objects and edges, the uuids of every object known to exist), the writes to make, in the
 * order to make them:
 *
 *   1. `unref`: edges no longer wanted, or whose target is being replaced — first, they would keep their
 *      targets from being deleted;
 *   2. `deletes`: stale objects, children and referrers first (reverse type rank, longer fq_names first);
 *   3. `requires`: parents and ref targets the unit does not create and the index does not know — the
 *      applier asks the API and reports the unit blocked when one is missing;
 *   4. `upserts`: desired objects in dependency order, each with the create body or an update of only the
 *      fields that differ (objects already as desired are left out);
 *   5. `refs`: edges to add;
 *   6. `lists`: per shared list of an object the unit does not own, its entries to put (new or changed) and
 *      to drop (no longer wanted) — the applier rewrites the list leaving other owners' entries alone.
 *
 * `reconcile.ts` applies a plan (409 on create → adopt the existing object and update it; 404 on update →
 * create it again) and keeps the index current.
 *
 * Example:
 *   const plan = planUnit(desired, { objects: owned.get(desired.key), edges: edges.get(desired.key), known });
 *   plan.deletes.map((a) => a.type)   // ["instance-ip", "virtual-machine-interface", "virtual-machine"]
 */
import { parentTypeOf, TYPE_ORDER } from "./contrail-types";
import type {
  DesiredEdge,
  DesiredListEntry,
  DesiredObject,
  DesiredRef,
  UnitDesired,
} from "./translate/types";
import type { VncRef, VncWrite } from "./vnc/client";

/** An object as the index knows it: its uuid and the last props/refs seen or written. */
export interface ActualObject {
  type: string;
  fq_name: string[];
  uuid: string;
  props: Record<string, unknown>;
  refs: Record<string, VncRef[] | DesiredRef[]>;
}

/** What the index holds that a unit's plan depends on. */
export interface UnitActual {
  /** The unit's objects by `objKey`. */
  objects?: ReadonlyMap<string, ActualObject>;
  /** The unit's edges by `edgeKey`. */
  edges?: ReadonlyMap<string, DesiredEdge>;
  /** Every object known to exist (owned or not): objKey → uuid. */
  known: ReadonlyMap<string, string>;
  /** The unit's entries in shared lists, by `entryKey`. */
  entries?: ReadonlyMap<string, DesiredListEntry>;
}

/** The writes to one shared list: entries (by key) to drop and entries to put, replacing same-keyed ones. */
export interface ListWrite {
  holderType: string;
  holder: string[];
  prop: string;
  list: string;
  keyField: string;
  drop: { key: string; name: string }[];
  put: { key: string; entry: DesiredListEntry }[];
}

/**
 * One object write: a create, or an update carrying only the fields that differ; `why` is the unit. The
 * config daemons' planners produce the same `VncWrite`s.
 */
export type ObjectWrite = Extract<VncWrite, { op: "create" | "update" }>;

export interface Upsert {
  desired: DesiredObject;
  /** What the index holds of it; absent: it is created. */
  current?: ActualObject;
  /**
   * The write, when it is known from the plan alone. Absent when the props hold placeholders (`$subnetOf`,
   * `$uuidOf`) only the applier can resolve: it resolves them and diffs with `objectWrite` then.
   */
  write?: ObjectWrite;
  /** An optional object's parents and ref targets the index does not know: skipped if one is missing. */
  needs?: { type: string; fq_name: string[] }[];
}

export interface UnitPlan {
  unref: { key: string; edge: DesiredEdge }[];
  deletes: ActualObject[];
  requires: { type: string; fq_name: string[] }[];
  upserts: Upsert[];
  refs: { key: string; edge: DesiredEdge }[];
  lists: ListWrite[];
}

const RANK = new Map<string, number>(TYPE_ORDER.map((t, i) => [t, i]));

/** Types whose uuid is the identity of what they stand for (virtual-machine uuid = pod uid). */
const UUID_IS_IDENTITY = new Set(["virtual-machine"]);

export const objKey = (type: string, fq: string[]) => `${type} ${fq.join(":")}`;
export const edgeKey = (e: DesiredEdge) => `${e.fromType} ${e.from.join(":")} ${e.refType} ${e.to.join(":")}`;
export const entryKey = (e: DesiredListEntry) =>
  `${e.holderType} ${e.holder.join(":")} ${e.prop}.${e.list} ${String(e.entry[e.keyField])}`;
export const refFieldType = (field: string) => field.replace(/_refs$/, "").replace(/_/g, "-");

function rank(type: string): number {
  return RANK.get(type) ?? TYPE_ORDER.length;
}

export function planUnit(unit: UnitDesired, actual: UnitActual): UnitPlan {
  const objects = actual.objects ?? new Map<string, ActualObject>();
  const desired = new Map(unit.objects.map((o) => [objKey(o.type, o.fq_name), o]));
  const desiredEdges = new Map(unit.edges.map((e) => [edgeKey(e), e]));

  // objects whose uuid is their identity (VM = pod uid) and that now stand for a new incarnation
  // (pod deleted and recreated under the same name) are replaced, not updated
  const replaced = new Set(
    [...objects.values()]
      .filter((a) => UUID_IS_IDENTITY.has(a.type))
      .filter((a) => {
        const d = desired.get(objKey(a.type, a.fq_name));
        return d !== undefined && d.uuid !== a.uuid;
      })
      .map((a) => objKey(a.type, a.fq_name)),
  );

  const unref = [...(actual.edges ?? [])]
    .filter(([k, e]) => !desiredEdges.has(k) || replaced.has(objKey(e.refType, e.to)))
    .map(([key, edge]) => ({ key, edge }));
  const unrefKeys = new Set(unref.map((u) => u.key));

  const deletes = [...objects.values()]
    .filter((a) => !desired.has(objKey(a.type, a.fq_name)) || replaced.has(objKey(a.type, a.fq_name)))
    .sort((a, b) => rank(b.type) - rank(a.type) || b.fq_name.length - a.fq_name.length);

  const ordered = [...unit.objects].sort(
    (a, b) => rank(a.type) - rank(b.type) || a.fq_name.length - b.fq_name.length,
  );
  const requires = new Map<string, { type: string; fq_name: string[] }>();
  const optionalNeeds = new Map<DesiredObject, { type: string; fq_name: string[] }[]>();
  for (const o of ordered) {
    const needs: [string, string[]][] = [];
    const parent = o.parent_type ?? parentTypeOf(o.type);
    if (parent) needs.push([parent, o.fq_name.slice(0, -1)]);
    for (const [field, refs] of Object.entries(o.refs))
      for (const r of refs) needs.push([refFieldType(field), r.to]);
    for (const [type, fq] of needs) {
      const k = objKey(type, fq);
      if (desired.has(k) || actual.known.has(k)) continue;
      if (o.optional) optionalNeeds.set(o, [...(optionalNeeds.get(o) ?? []), { type, fq_name: fq }]);
      else requires.set(k, { type, fq_name: fq });
    }
  }

  const upserts: Upsert[] = [];
  for (const o of ordered) {
    const k = objKey(o.type, o.fq_name);
    const current = replaced.has(k) ? undefined : objects.get(k);
    const needs = optionalNeeds.get(o);
    const extra = needs ? { needs } : {};
    if (hasPlaceholder(o.props)) {
      upserts.push(current ? { desired: o, current, ...extra } : { desired: o, ...extra });
      continue;
    }
    const write = objectWrite(o, o.props, current, unit.key);
    if (write)
      upserts.push(current ? { desired: o, current, write, ...extra } : { desired: o, write, ...extra });
  }

  const refs = [...desiredEdges]
    .filter(([k]) => !actual.edges?.has(k) || unrefKeys.has(k))
    .map(([key, edge]) => ({ key, edge }));

  return { unref, deletes, requires: [...requires.values()], upserts, refs, lists: planLists(unit, actual) };
}

/** Shared-list writes: entries no longer wanted are dropped, new or changed ones put; grouped per list. */
function planLists(unit: UnitDesired, actual: UnitActual): ListWrite[] {
  const want = new Map((unit.entries ?? []).map((e) => [entryKey(e), e]));
  const have = actual.entries ?? new Map<string, DesiredListEntry>();
  const byList = new Map<string, ListWrite>();
  const group = (e: DesiredListEntry) => {
    const k = `${e.holderType} ${e.holder.join(":")} ${e.prop}.${e.list}`;
    let w = byList.get(k);
    if (!w) {
      w = {
        holderType: e.holderType,
        holder: e.holder,
        prop: e.prop,
        list: e.list,
        keyField: e.keyField,
        drop: [],
        put: [],
      };
      byList.set(k, w);
    }
    return w;
  };
  for (const [k, e] of have)
    if (!want.has(k)) group(e).drop.push({ key: k, name: String(e.entry[e.keyField]) });
  for (const [k, e] of want) {
    const h = have.get(k);
    if (!h || !(subset(e.entry, h.entry) && subset(h.entry, e.entry)))
      group(e).put.push({ key: k, entry: e });
  }
  return [...byList.values()];
}

/**
 * The write that makes `cur` what `o` wants, `props` being `o.props` with placeholders resolved: a create
 * when there is nothing yet, an update of the differing props and ref lists, or nothing. `why`: the unit.
 */
export function objectWrite(
  o: DesiredObject,
  props: Record<string, unknown>,
  cur: ActualObject | undefined,
  why: string,
): ObjectWrite | undefined {
  if (!cur) {
    const body: Record<string, unknown> = { uuid: o.uuid, fq_name: o.fq_name, ...props, ...o.createOnly };
    if (o.parent_type) body.parent_type = o.parent_type;
    for (const [f, refs] of Object.entries(o.refs)) body[f] = refs.map(wireRef);
    return { op: "create", type: o.type, body, why };
  }
  const changed: Record<string, unknown> = {};
  for (const [f, v] of Object.entries(props)) if (!subset(v, cur.props[f])) changed[f] = v;
  for (const [f, refs] of Object.entries(o.refs)) {
    const shared = o.refsSharedWith?.[f] !== undefined;
    const have = (cur.refs[f] ?? []) as VncRef[];
    if (sameRefs(refs, have, shared)) continue;
    // a list another writer adds to keeps that writer's refs: the write is ours plus theirs
    const mine = new Set(refs.map((r) => r.to.join(":")));
    const theirs = shared ? have.filter((h) => !mine.has(h.to.join(":"))).map(keepRef) : [];
    changed[f] = [...refs.map(wireRef), ...theirs];
  }
  return Object.keys(changed).length
    ? { op: "update", type: o.type, uuid: cur.uuid, body: changed, why }
    : undefined;
}

/** What the index holds of an object once `props` and `o`'s refs were written over `cur`. */
export function afterWrite(
  o: DesiredObject,
  props: Record<string, unknown>,
  cur: ActualObject,
): ActualObject {
  return { ...cur, props: { ...cur.props, ...props }, refs: { ...cur.refs, ...o.refs } };
}

export function hasPlaceholder(x: unknown): boolean {
  if (Array.isArray(x)) return x.some(hasPlaceholder);
  if (x && typeof x === "object")
    return "$subnetOf" in x || "$uuidOf" in x || Object.values(x).some(hasPlaceholder);
  return false;
}

function keepRef(r: VncRef): { to: string[]; attr?: unknown } {
  return r.attr === undefined || r.attr === null ? { to: r.to } : { to: r.to, attr: r.attr };
}

function wireRef(r: DesiredRef): { to: string[]; attr?: unknown } {
  return r.attr === undefined ? { to: r.to } : { to: r.to, attr: r.attr };
}

/** Deep "desired ⊆ actual": objects may carry extra keys the server added; arrays match element-wise. */
function subset(want: unknown, have: unknown): boolean {
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

/** `atLeast`: `have` may hold more refs than `want` (another writer adds to the list). */
function sameRefs(want: DesiredRef[], have: (VncRef | DesiredRef)[], atLeast = false): boolean {
  if (atLeast ? want.length > have.length : want.length !== have.length) return false;
  const byTo = new Map(have.map((h) => [h.to.join(":"), h]));
  return want.every((w) => {
    const h = byTo.get(w.to.join(":"));
    if (!h) return false;
    if (w.compareAttr === false || w.attr === undefined) return true;
    return subset(w.attr, h.attr);
  });
}
