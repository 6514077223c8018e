/**
 * Semantic diff of two environments (`ctb diff A B`): every class of flows allowed in one and denied in the
 * other, between the same workloads, with the objects responsible on each side — the question a reviewer of a
 * policy change asks. Each side is a scenario run to its end (or to one of its steps) in a testbed of its own;
 * its whole-cluster connectivity (connectivity.ts) is compared workload by workload (namespace and labels: a
 * Deployment's pods have other names in each run), and each difference is explained by one traced packet on each
 * side: the rule that let it through on one, the drop and the rule that denied it on the other.
 *
 * Example: `formatDiff(await semanticDiff([{ label: "a.yaml", tb: a, netpol }, { label: "b.yaml", tb: b, netpol }]))`
 */
import type { KubeObject } from "../../controller/kube/api";
import {
  formatProtoPorts,
  PORTED,
  type PortedProto,
  type ProtoPorts,
  subtractProtoPorts,
} from "../../fake-vrouter/datapath/port-space";
import { connectivity, workloadOf } from "./connectivity";
import { clusterWorld, describeDecision, type MatrixContext } from "./matrix-check";
import type { Testbed } from "./testbed";

export interface DiffSide {
  /** How the side is named in the report (the file, with its step). */
  label: string;
  tb: Testbed;
  netpol: Pick<MatrixContext, "layout" | "clusterName" | "apsName">;
}

/** One packet of a difference and what decided it on each side. */
export interface DiffWitness {
  proto: PortedProto | "icmp";
  port?: number;
  /** Per side: the pods the packet went between, and the verdict with what decided it. */
  a: string;
  b: string;
}

export interface DiffEntry {
  from: string;
  to: string;
  /** What gets through on each side (`tcp 80; icmp`, `nothing`), and what only one side lets through. */
  a: string;
  b: string;
  onlyA: string;
  onlyB: string;
  witnesses: DiffWitness[];
}

export interface DiffResult {
  a: string;
  b: string;
  /** Workloads present on one side only (their flows are not compared). */
  onlyInA: string[];
  onlyInB: string[];
  /** Pairs of workloads compared. */
  compared: number;
  differences: DiffEntry[];
  /** Set when the sides ran another datapath or cluster than the environment that is up (one line, printed). */
  copyNote?: string;
}

interface Side {
  label: string;
  tb: Testbed;
  netpol: DiffSide["netpol"];
  /** workload → its pods (ns/name). */
  pods: Map<string, string[]>;
  /** "fromWorkload>toWorkload" → what gets through between their pods (the first pair's; see `varies`). */
  sets: Map<string, { set: ProtoPorts; from: string; to: string; toIp: string }>;
  /** Pairs of workloads whose pods do not all get the same set. */
  varies: Set<string>;
}

async function sideOf(s: DiffSide): Promise<Side> {
  const world = await clusterWorld(s.tb);
  const m = await connectivity(s.tb);
  const byPod = new Map<string, KubeObject>(
    world.pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]),
  );
  const pods = new Map<string, string[]>();
  for (const g of m.groups)
    for (const name of g.pods) {
      const w = workloadOf(byPod.get(name)!);
      if (!pods.has(w)) pods.set(w, []);
      pods.get(w)!.push(name);
    }
  const sets: Side["sets"] = new Map();
  const varies = new Set<string>();
  for (const pair of m.pairs) {
    const key = `${workloadOf(byPod.get(pair.from)!)}>${workloadOf(byPod.get(pair.to)!)}`;
    const set = pair.delivered!;
    const seen = sets.get(key);
    if (!seen)
      sets.set(key, { set, from: pair.from, to: pair.to, toIp: byPod.get(pair.to)!.status?.podIP ?? "" });
    else if (formatProtoPorts(seen.set) !== formatProtoPorts(set)) varies.add(key);
  }
  return { label: s.label, tb: s.tb, netpol: s.netpol, pods, sets, varies };
}

/** One packet of `proto`/`port` between the side's pods for this pair, and what decided it. */
async function witness(side: Side, key: string, proto: PortedProto | "icmp", port?: number): Promise<string> {
  const at = side.sets.get(key)!;
  const r = await side.tb.probe({
    from: at.from,
    toIp: at.toIp,
    proto,
    ...(port !== undefined ? { port } : {}),
    count: 1,
  });
  const world = await clusterWorld(side.tb);
  const through = r.received > 0 || r.refused > 0;
  const decided = describeDecision(r, world, side.netpol);
  return `${at.from} → ${at.to}: ${through ? "gets through" : `dropped${r.drop ? ` (${r.drop.reason} at ${r.drop.where})` : ""}`}; ${decided}`;
}

/** The first packet of a set (a protocol and port), to send as a witness. */
function firstPacket(p: ProtoPorts): { proto: PortedProto | "icmp"; port?: number } | undefined {
  for (const proto of PORTED) if (p[proto].length) return { proto, port: p[proto][0]!.lo };
  return p.icmp ? { proto: "icmp" } : undefined;
}

export async function semanticDiff(a: DiffSide, b: DiffSide): Promise<DiffResult> {
  const A = await sideOf(a);
  const B = await sideOf(b);
  const onlyInA = [...A.pods.keys()].filter((w) => !B.pods.has(w)).sort();
  const onlyInB = [...B.pods.keys()].filter((w) => !A.pods.has(w)).sort();
  const differences: DiffEntry[] = [];
  let compared = 0;
  for (const key of [...A.sets.keys()].sort()) {
    const inB = B.sets.get(key);
    if (!inB) continue;
    compared++;
    const inA = A.sets.get(key)!;
    const onlyA = subtractProtoPorts(inA.set, inB.set);
    const onlyB = subtractProtoPorts(inB.set, inA.set);
    const [from, to] = key.split(">") as [string, string];
    const vary = [A, B].filter((s) => s.varies.has(key)).map((s) => s.label);
    if (formatProtoPorts(onlyA) === "nothing" && formatProtoPorts(onlyB) === "nothing" && !vary.length)
      continue;
    const witnesses: DiffWitness[] = [];
    for (const only of [onlyA, onlyB]) {
      const p = firstPacket(only);
      if (!p) continue;
      witnesses.push({
        ...p,
        a: await witness(A, key, p.proto, p.port),
        b: await witness(B, key, p.proto, p.port),
      });
    }
    differences.push({
      from,
      to,
      a: `${formatProtoPorts(inA.set)}${A.varies.has(key) ? " (for its first pair of pods; others differ)" : ""}`,
      b: `${formatProtoPorts(inB.set)}${B.varies.has(key) ? " (for its first pair of pods; others differ)" : ""}`,
      onlyA: formatProtoPorts(onlyA),
      onlyB: formatProtoPorts(onlyB),
      witnesses,
    });
  }
  return { a: a.label, b: b.label, onlyInA, onlyInB, compared, differences };
}

export function formatDiff(d: DiffResult): string {
  const lines = [`--- A: ${d.a}`, `+++ B: ${d.b}`];
  for (const w of d.onlyInA) lines.push(`workload only in A: ${w}`);
  for (const w of d.onlyInB) lines.push(`workload only in B: ${w}`);
  for (const e of d.differences) {
    lines.push("", `${e.from} => ${e.to}`);
    lines.push(`  A: ${e.a}`, `  B: ${e.b}`);
    if (e.onlyA !== "nothing") lines.push(`  - allowed in A only: ${e.onlyA}`);
    if (e.onlyB !== "nothing") lines.push(`  + allowed in B only: ${e.onlyB}`);
    for (const w of e.witnesses) {
      lines.push(`    ${w.proto}${w.port !== undefined ? `/${w.port}` : ""}:`);
      lines.push(`      A: ${w.a}`, `      B: ${w.b}`);
    }
  }
  lines.push(
    "",
    d.differences.length
      ? `${d.differences.length} of ${d.compared} pairs of workloads differ`
      : `no difference in what gets through between ${d.compared} pairs of workloads`,
  );
  if (d.copyNote) lines.push(`(${d.copyNote})`);
  return `${lines.join("\n")}\n`;
}
