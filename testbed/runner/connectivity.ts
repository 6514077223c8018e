/**
 * Whole-cluster connectivity: for every pair of pods, the set of protocols and ports that gets through
 * (reach-set.ts, the engines' dry run per piece of the port space), printed as analysers print a connectivity
 * map — grouped by equivalent endpoints so it stays readable — with Kubernetes' NetworkPolicy answer beside it
 * where the two differ; exportable as JSON, CSV and Graphviz DOT.
 *
 * Pods are grouped by workload: the same namespace and labels (a Deployment's replicas). A pair of groups is one
 * line when every pair of their pods gets the same set, else one line per pair of pods.
 *
 * Example: `formatConnectivity(await connectivity(tb, { netpol }), "text")`
 */
import type { KubeObject } from "../../controller/kube/api";
import {
  formatProtoPorts,
  formatPortSet,
  PORTED,
  type PortedProto,
  type ProtoPorts,
} from "../../fake-vrouter/datapath/port-space";
import { clusterWorld, type MatrixContext } from "./matrix-check";
import { shareChunks, workerCount } from "../../fake-vrouter/datapath/dry-run-pool";
import { kubernetesProtoPorts, type PortPieces, portPieces, type ReachSet, reachSet } from "./reach-set";
import type { Testbed } from "./testbed";

export interface ConnectivityGroup {
  /** `<ns>/[k=v,…]`, or the pod's own name when it is alone in its group. */
  name: string;
  pods: string[];
}

/** One line of the map: from a group (or one pod) to another, what gets through, and Kubernetes' answer. */
export interface ConnectivityEdge {
  from: string;
  to: string;
  /** What gets through (`tcp 80; icmp`, `nothing`), plus ports delivered only from some source ports. */
  allows: string;
  /** Kubernetes' NetworkPolicy answer, when it differs from `allows`. */
  kubernetes?: string;
  /** Every pair of pods: what gets through as port intervals (from all source ports), for `ctb diff`. */
  delivered?: ProtoPorts;
}

export interface ConnectivityMap {
  groups: ConnectivityGroup[];
  edges: ConnectivityEdge[];
  /** Every pair of pods (from, to, allows, kubernetes?) for machines. */
  pairs: ConnectivityEdge[];
  /** Dry runs (or packets) it took. */
  evaluated: number;
  /** Whether Kubernetes' answer was computed (then `kubernetes` on an edge means they differ). */
  comparedWithKubernetes: boolean;
  /** Threads that answered the pairs (this one and its workers). */
  threads: number;
}

const podKey = (p: KubeObject) => `${p.metadata.namespace}/${p.metadata.name}`;

function workload(p: KubeObject): string {
  const labels = Object.entries((p.metadata.labels ?? {}) as Record<string, string>)
    // the ReplicaSet's hash label differs between rollouts of one workload; it says nothing of policy
    .filter(([k]) => k !== "pod-template-hash")
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  return `${p.metadata.namespace}/[${labels.join(",")}]`;
}

export interface ConnectivityOptions {
  /** Only pods of these namespaces (default: every pod with an address outside kube-system). */
  namespaces?: string[];
  /** With it, Kubernetes' answer is computed for every pair and shown where it differs. */
  netpol?: Pick<MatrixContext, "layout" | "clusterName" | "apsName">;
}

export async function connectivity(tb: Testbed, opts: ConnectivityOptions = {}): Promise<ConnectivityMap> {
  const world = await clusterWorld(tb);
  const pods = world.pods
    .filter(
      (p) =>
        p.status?.podIP &&
        !p.spec?.hostNetwork &&
        p.status?.phase === "Running" &&
        (opts.namespaces
          ? opts.namespaces.includes(p.metadata.namespace!)
          : p.metadata.namespace !== "kube-system"),
    )
    .sort((a, b) => podKey(a).localeCompare(podKey(b)));
  const pieces = await portPieces(tb);
  const cuts = Object.fromEntries(
    PORTED.map((proto) => [proto, pieces[proto].dst.map((p) => p.lo)]),
  ) as Record<PortedProto, number[]>;
  const pairs: ConnectivityEdge[] = [];
  let evaluated = 0;
  const n = pods.length;
  const from = new Uint32Array(n * (n - 1));
  const to = new Uint32Array(n * (n - 1));
  for (let i = 0, k = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      if (i !== j) {
        from[k] = i;
        to[k++] = j;
      }
  const { sets, threads } = await reachSets(tb, {
    ends: pods.map((p) => ({ key: podKey(p), ip: p.status!.podIP as string })),
    from,
    to,
    pieces,
  });
  for (let k = 0; k < from.length; k++) {
    const src = pods[from[k]!]!;
    const dst = pods[to[k]!]!;
    const set = sets[k]!;
    evaluated += set.evaluated;
    const partly = set.bySourcePort.map(
      (d) =>
        `${d.proto} ${formatPortSet(d.ports)} ${d.ecmp ? "by ECMP member" : `from source ports ${formatPortSet(d.deliveredFrom)}`}`,
    );
    const allows = `${formatProtoPorts(set.delivered)}${partly.length ? ` (and ${partly.join(", ")})` : ""}`;
    const edge: ConnectivityEdge = { from: podKey(src), to: podKey(dst), allows, delivered: set.delivered };
    if (opts.netpol) {
      const kube = formatProtoPorts(kubernetesProtoPorts(world, src, dst, cuts));
      if (kube !== allows) edge.kubernetes = kube;
    }
    pairs.push(edge);
  }
  // pair (i, j) of the sorted pods is pairs[i * (n - 1) + (j < i ? j : j - 1)]
  const indexOf = new Map(pods.map((p, i) => [podKey(p), i]));
  const cell = (a: string, b: string) => {
    const i = indexOf.get(a)!;
    const j = indexOf.get(b)!;
    return pairs[i * (n - 1) + (j < i ? j : j - 1)]!;
  };

  // groups of equivalent pods, then one line per pair of groups where every pair of their pods agrees
  const byWorkload = new Map<string, string[]>();
  for (const p of pods) {
    const w = workload(p);
    if (!byWorkload.has(w)) byWorkload.set(w, []);
    byWorkload.get(w)!.push(podKey(p));
  }
  const groups: ConnectivityGroup[] = [...byWorkload].map(([w, members]) => ({
    name: members.length === 1 ? members[0]! : w,
    pods: members,
  }));
  const edges: ConnectivityEdge[] = [];
  for (const g of groups)
    for (const h of groups) {
      const members: ConnectivityEdge[] = [];
      for (const a of g.pods) for (const b of h.pods) if (a !== b) members.push(withoutSets(cell(a, b)));
      if (members.length === 0) continue;
      const same = members.every(
        (m) => m.allows === members[0]!.allows && m.kubernetes === members[0]!.kubernetes,
      );
      if (same)
        edges.push({
          from: g.name,
          to: h.name,
          allows: members[0]!.allows,
          ...(members[0]!.kubernetes !== undefined ? { kubernetes: members[0]!.kubernetes } : {}),
        });
      else edges.push(...members);
    }
  return { groups, edges, pairs, evaluated, comparedWithKubernetes: opts.netpol !== undefined, threads };
}

/**
 * The pairs of the map (pair k: `ends[from[k]]` → `ends[to[k]]`) as a worker is handed them besides the
 * network's image and its queue (connectivity-worker.ts), with each pair's ICMP identifier when the datapath
 * hands them out.
 */
export interface ConnectivityJob {
  ends: { key: string; ip: string }[];
  from: Uint32Array;
  to: Uint32Array;
  icmpIds?: Uint16Array;
  pieces: PortPieces;
}

/** Pair k of a job, asked as the map asks it. */
export function askPair(tb: Testbed, job: ConnectivityJob, k: number): Promise<ReachSet> {
  const src = job.ends[job.from[k]!]!;
  return reachSet(tb, src.key, job.ends[job.to[k]!]!.ip, {
    pieces: job.pieces,
    srcIp: src.ip,
    icmpId: job.icmpIds?.[k],
  });
}

/** Below this many pairs starting a worker (a copy of the network) costs more than it saves. */
const MIN_PAIRS_FOR_WORKERS = 30_000;
/** Pairs per claimed chunk (~20 ms of dry runs at 6–8 a pair). */
const PAIRS_PER_CHUNK = 512;

/**
 * Every pair's reach set, in order: on worker threads where the datapath lends a copy of itself and the map is
 * large (each worker answers chunks of pairs with the same code over a copy of the tables, claimed as this
 * thread claims its own: fake-vrouter/datapath/dry-run-pool.ts `shareChunks`). Each pair carries its ICMP
 * identifier, so the answers are those of asking pair by pair.
 */
async function reachSets(tb: Testbed, job: ConnectivityJob): Promise<{ sets: ReachSet[]; threads: number }> {
  const items = job.from.length;
  job.icmpIds = tb.takeEphemeral?.(items);
  const sets: ReachSet[] = new Array(items);
  const workers = tb.dryRunImage && tb.reachOutcome ? workerCount(items, MIN_PAIRS_FOR_WORKERS) : 0;
  const threads = await shareChunks<ConnectivityJob, ReachSet[]>({
    name: "connectivity-worker",
    items,
    chunk: PAIRS_PER_CHUNK,
    workers,
    image: () => tb.dryRunImage!(),
    job,
    here: async (lo, hi) => {
      for (let k = lo; k < hi; k++) sets[k] = await askPair(tb, job, k);
    },
    take: (lo, answer) => {
      for (const [i, set] of answer.entries()) sets[lo + i] = set;
    },
  });
  return { sets, threads };
}

function withoutSets({ delivered: _, ...e }: ConnectivityEdge): ConnectivityEdge {
  return e;
}

/** A pod's workload: namespace and labels (what NetworkPolicy sees), the unit `ctb diff` compares by. */
export function workloadOf(p: KubeObject): string {
  return workload(p);
}

export type ConnectivityFormat = "text" | "json" | "csv" | "dot";

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
const dotId = (s: string) => `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`;

export function formatConnectivity(m: ConnectivityMap, format: ConnectivityFormat, all = false): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(m, null, 2)}\n`;
    case "csv":
      return `${["from,to,allows,kubernetes", ...m.pairs.map((p) => [p.from, p.to, p.allows, p.kubernetes ?? p.allows].map(csvField).join(","))].join("\n")}\n`;
    case "dot": {
      const lines = ["digraph connectivity {", "  rankdir=LR;", "  node [shape=box];"];
      for (const g of m.groups)
        lines.push(
          `  ${dotId(g.name)} [label=${dotId(g.pods.length > 1 ? `${g.name}\n(${g.pods.length} pods)` : g.name)}];`,
        );
      for (const e of m.edges)
        if (e.allows !== "nothing" || e.kubernetes)
          lines.push(
            `  ${dotId(e.from)} -> ${dotId(e.to)} [label=${dotId(e.kubernetes ? `${e.allows}\n(Kubernetes: ${e.kubernetes})` : e.allows)}${e.kubernetes ? ", color=red" : ""}];`,
          );
      lines.push("}");
      return `${lines.join("\n")}\n`;
    }
    case "text": {
      const lines: string[] = [];
      for (const g of m.groups) if (g.pods.length > 1) lines.push(`${g.name}: ${g.pods.join(", ")}`);
      if (lines.length) lines.push("");
      let denied = 0;
      for (const e of m.edges) {
        if (e.allows === "nothing" && !e.kubernetes && !all) {
          denied++;
          continue;
        }
        lines.push(
          `${e.from} => ${e.to} : ${e.allows}${e.kubernetes ? `   (Kubernetes: ${e.kubernetes})` : ""}`,
        );
      }
      if (denied) lines.push(`(${denied} more with nothing getting through; --all lists them)`);
      const differ = m.pairs.filter((p) => p.kubernetes !== undefined).length;
      lines.push(
        !m.comparedWithKubernetes
          ? `${m.pairs.length} pairs of pods`
          : differ
            ? `${differ} of ${m.pairs.length} pairs of pods: Contrail and Kubernetes NetworkPolicy semantics differ (ctb reach <from> <to> names the rule)`
            : `${m.pairs.length} pairs of pods: Contrail and Kubernetes NetworkPolicy semantics agree`,
      );
      return `${lines.join("\n")}\n`;
    }
  }
}
