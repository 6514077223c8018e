/**
 * The Contrail object graph a testbed's config API holds, read and normalised so two runs of one scenario on
 * different Kubernetes backends can be compared: identity that only says "which run" (uuids, hrefs,
 * timestamps, MACs derived from uuids, generated pod-name suffixes and template hashes, allocation-order-
 * dependent addresses and tag indexes, scheduler tie-breaks) is masked, while types, names, parents, ref
 * structure and properties stay.
 *
 * Example: `const g = await readGraph(tb.vncUrl, await kubeFacts(tb.kube));  diffGraphs(g, other)`.
 */
import type { KubeApi } from "../../controller/kube/api";

/** The types the controller and its daemons write for a Kubernetes cluster. */
export const GRAPH_TYPES = [
  "project",
  "virtual-network",
  "network-ipam",
  "network-policy",
  "security-group",
  "virtual-machine",
  "virtual-machine-interface",
  "instance-ip",
  "floating-ip",
  "loadbalancer",
  "loadbalancer-listener",
  "loadbalancer-pool",
  "loadbalancer-member",
  "tag",
  "virtual-router",
] as const;

// biome-ignore lint/suspicious/noExplicitAny: config API objects are untyped JSON
type Obj = Record<string, any>;

/** One normalised object per entry, keyed `<type> <masked fq_name>` (`#2`, `#3` … when masking made twins). */
export type Graph = Map<string, string>;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const HEX32 = /\b[0-9a-f]{32}\b/g;
const MAC = /\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b/g;
const TIMESTAMP = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?\b/g;
// <deployment>-<pod-template-hash>-<5 random>: the hash differs between backends by design (embedded README)
const GENERATED_POD = /-[0-9a-z]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}(?![0-9a-z])/g;
const TEMPLATE_HASH_WORD = /\b[0-9a-z]{6,10}\b/g;
const IPV4 = /\b\d{1,3}(\.\d{1,3}){3}\b/g;
/** Fields whose address an allocator picked (ClusterIP allocator, Contrail IPAM, FIP pool). */
const ALLOCATED_ADDRESS_FIELDS = ["instance_ip_address", "floating_ip_address", "vip_address"];
/**
 * Dropped: per-run identity (uuid, also id_perms.uuid's {uuid_mslong, uuid_lslong}; timestamps), or links another
 * field already carries (parent_type + fq_name, refs' `to`).
 */
const DROPPED_FIELDS = new Set([
  "uuid",
  "href",
  "parent_uuid",
  "parent_href",
  "created",
  "last_modified",
  "subnet_uuid",
]);

/** What the Kubernetes side knows that the Contrail names and properties reflect. */
export interface KubeFacts {
  /** Pod IPs and ClusterIPs: allocation-order-dependent on either backend. */
  addresses: Set<string>;
  /** uid → "<Kind> <namespace>/<name>": Contrail reuses pod, service, namespace and policy uids as uuids. */
  uids: Map<string, string>;
  /**
   * pod-template-hash label values: a hash over the pod template whose digits differ between backends by
   * design (embedded README); the r5 model turns labels into tags, so it shows in tag names.
   */
  templateHashes: Set<string>;
}

const UID_KINDS = [
  ["pods", "Pod"],
  ["services", "Service"],
  ["namespaces", "Namespace"],
  ["networkpolicies", "NetworkPolicy"],
  ["nodes", "Node"],
] as const;

export async function kubeFacts(kube: KubeApi): Promise<KubeFacts> {
  const addresses = new Set<string>();
  const uids = new Map<string, string>();
  const templateHashes = new Set<string>();
  for (const [resource, kind] of UID_KINDS) {
    for (const o of (await kube.list(resource)).items) {
      const name = `${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;
      if (o.metadata.uid)
        uids.set(o.metadata.uid, `${kind} ${name.replace(GENERATED_POD, "-<hash>-<rand>")}`);
      for (const ip of o.status?.podIPs ?? []) addresses.add(ip.ip);
      if (o.status?.podIP) addresses.add(o.status.podIP);
      for (const ip of o.spec?.clusterIPs ?? []) addresses.add(ip);
      if (o.spec?.clusterIP && o.spec.clusterIP !== "None") addresses.add(o.spec.clusterIP);
      const hash = o.metadata.labels?.["pod-template-hash"];
      if (hash) templateHashes.add(hash);
    }
  }
  return { addresses, uids, templateHashes };
}

/** Reads every GRAPH_TYPES list (`GET /<type>s?detail=true`) and normalises it. */
export async function readGraph(vncUrl: string, kube: KubeFacts): Promise<Graph> {
  const raw: Record<string, Obj[]> = {};
  for (const type of GRAPH_TYPES) {
    const res = await fetch(`${vncUrl}/${type}s?detail=true`);
    if (!res.ok) throw new Error(`config API: GET /${type}s → ${res.status} ${await res.text()}`);
    const body = (await res.json()) as Record<string, Obj[]>;
    raw[type] = (body[`${type}s`] ?? []).map((w) => w[type] as Obj);
  }
  return normaliseGraph(raw, kube);
}

/**
 * Pure core of readGraph. A uuid is replaced by what it names — the Kubernetes object whose uid it is, else
 * the Contrail object (type and fq_name) — so a ref or annotation pointing at the wrong object still shows.
 */
export function normaliseGraph(raw: Record<string, Obj[]>, kube: KubeFacts): Graph {
  const allocated = new Set(kube.addresses);
  for (const objs of Object.values(raw)) for (const o of objs) collectAllocated(o, allocated);
  const aliases = new Map<string, string>();
  for (const [uid, what] of kube.uids) aliases.set(uid, `{${what}}`);
  const mask = (s: string, self?: string) =>
    s
      .replace(UUID, (u) => (u === self ? "<self>" : (aliases.get(u) ?? "<uuid>")))
      .replace(HEX32, (h) => {
        const u = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
        return aliases.get(u) ?? "<hex>";
      })
      .replace(MAC, "<mac>")
      .replace(TIMESTAMP, "<time>")
      .replace(GENERATED_POD, "-<hash>-<rand>")
      .replace(IPV4, (ip) => (allocated.has(ip) ? "<allocated-ip>" : ip))
      .replace(TEMPLATE_HASH_WORD, (w) => (kube.templateHashes.has(w) ? "<hash>" : w));
  const fqOf = (o: Obj) => mask((o.fq_name as string[]).join(":"), o.uuid);
  // two passes: a Contrail name may embed another Contrail object's uuid (a FIP named after its VMI)
  for (let pass = 0; pass < 2; pass++) {
    const next = new Map<string, string>();
    for (const [type, objs] of Object.entries(raw)) {
      for (const o of objs) if (!kube.uids.has(o.uuid)) next.set(o.uuid, `{${type} ${fqOf(o)}}`);
    }
    for (const [u, a] of next) aliases.set(u, a);
  }

  const entries: [string, string][] = [];
  const placement: string[] = [];
  for (const [type, objs] of Object.entries(raw)) {
    for (const o of objs) {
      const copy: Obj = { ...o };
      // which compute a pod lands on is the scheduler's tie-break (the real one spreads with random ties):
      // compare only that every VM is on some vrouter, not which one
      if (type === "virtual-router" && copy.virtual_machine_refs) {
        for (const r of copy.virtual_machine_refs as Obj[])
          placement.push(mask((r.to as string[]).join(":")));
        delete copy.virtual_machine_refs;
      }
      const norm = canonical(copy, (s) => mask(s, o.uuid));
      entries.push([`${type} ${fqOf(o)}`, JSON.stringify(norm, null, 1)]);
    }
  }
  if (placement.length > 0)
    entries.push(["(placement) VMs bound to a vrouter", JSON.stringify(placement.sort(), null, 1)]);

  entries.sort(([ka, va], [kb, vb]) => (ka === kb ? va.localeCompare(vb) : ka.localeCompare(kb)));
  const graph: Graph = new Map();
  for (const [k, v] of entries) {
    let key = k;
    for (let n = 2; graph.has(key); n++) key = `${k} #${n}`;
    graph.set(key, v);
  }
  return graph;
}

function collectAllocated(o: unknown, into: Set<string>): void {
  if (Array.isArray(o)) for (const x of o) collectAllocated(x, into);
  else if (o && typeof o === "object") {
    for (const [k, v] of Object.entries(o)) {
      if (ALLOCATED_ADDRESS_FIELDS.includes(k) && typeof v === "string") into.add(v);
      else collectAllocated(v, into);
    }
  }
}

/** Masked, key-sorted copy; refs keep `to` and `attr` only and are sorted (their order is creation order). */
function canonical(v: unknown, mask: (s: string) => string, key = ""): unknown {
  // 0xTTTTNNNN: tag type, then an index the config API hands out in tag creation order
  // the index is allocated per type in creation order, and so is a custom type's id (0x0100 up; the predefined
  // types label, application, tier, … keep theirs): tags created in another order must still compare equal
  // security-group ids come from a counter in creation order, which differs between backends
  if (key === "security_group_id" && v !== undefined) return "<allocated>";
  if (key === "tag_id" && typeof v === "string")
    return v.replace(/^(0x[0-9a-f]{4})[0-9a-f]{4}$/i, (_m, type: string) =>
      Number.parseInt(type, 16) >= 0x100 ? "<custom type><index>" : `${type}<index>`,
    );
  if (typeof v === "string") return mask(v);
  if (Array.isArray(v)) {
    const items = v.map((x) => canonical(x, mask));
    if (key.endsWith("_refs") || key === "key_value_pair") {
      return items.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    }
    return items;
  }
  if (v && typeof v === "object") {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) {
      if (DROPPED_FIELDS.has(k) || k.endsWith("_back_refs")) continue;
      out[k] = canonical((v as Obj)[k], mask, k);
    }
    return out;
  }
  return v;
}

/** Human-readable differences between two normalised graphs; empty when they agree. */
export function diffGraphs(a: Graph, b: Graph, names: [string, string] = ["embedded", "local"]): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const va = a.get(k);
    const vb = b.get(k);
    if (va === vb) continue;
    if (va === undefined) out.push(`only on ${names[1]}: ${k}`);
    else if (vb === undefined) out.push(`only on ${names[0]}: ${k}`);
    else out.push(`${k} differs:\n${fieldDiff(JSON.parse(va), JSON.parse(vb), "", names).join("\n")}`);
  }
  return out.sort();
}

function fieldDiff(a: unknown, b: unknown, path: string, names: [string, string]): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (x: unknown) => x !== null && typeof x === "object" && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    const keys = new Set([...Object.keys(a as Obj), ...Object.keys(b as Obj)]);
    return [...keys].flatMap((k) =>
      fieldDiff((a as Obj)[k], (b as Obj)[k], path ? `${path}.${k}` : k, names),
    );
  }
  return [`  ${path || "(object)"}: ${names[0]} ${JSON.stringify(a)} / ${names[1]} ${JSON.stringify(b)}`];
}
