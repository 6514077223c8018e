/**
 * Running one scenario on two backends and comparing the runs: every expectation's verdict, and after every
 * settled step the Contrail object graph (graph.ts) and the Kubernetes objects (kube.ts). Shared by the
 * differential tests (embedded vs local control plane; emulated vs real kubelet nodes).
 *
 * Example: `expect(compareRuns(["embedded", a], ["local", b])).toEqual([])`.
 */
import type { EnvOptions } from "../../testbed/env";
import { startTestbed } from "../../testbed/env";
import { type RunReport, runScenario } from "../../testbed/runner/run";
import type { Testbed } from "../../testbed/runner/testbed";
import type { Scenario } from "../../testbed/scenario/types";
import { type Graph, diffGraphs, kubeFacts, readGraph } from "./graph";
import { readKube } from "./kube";

/** The shipped scenarios every differential test runs on both of its backends. */
export const DIFFERENTIAL_SCENARIOS = [
  "section-9.yaml",
  "cluster-isolation.yaml",
  "section-9-r5.yaml",
  "service-ecmp.yaml",
  "churn.yaml",
];

export interface Run {
  report: RunReport;
  /** The normalised Contrail graph after the last settle of each step, by step index. */
  graphs: Map<number, Graph>;
  /** The normalised Kubernetes objects at the same moments. */
  kube: Map<number, Graph>;
  /** Pods per node at the end (node names in order), e.g. "n1=1 n2=1". */
  podsPerNode: string;
}

/** Runs the scenario, snapshotting the Contrail graph every time the settle barrier returns. */
export async function runOn(
  scenario: Scenario,
  env: EnvOptions,
  kubeView?: Parameters<typeof readKube>[2],
): Promise<Run> {
  const tb = await startTestbed(scenario, env);
  const graphs = new Map<number, Graph>();
  const kube = new Map<number, Graph>();
  let step = -1;
  const snapshotting: Testbed = {
    ...tb,
    settle: async () => {
      await tb.settle();
      const facts = await kubeFacts(tb.kube);
      graphs.set(step, await readGraph(tb.vncUrl, facts));
      kube.set(step, await readKube(tb.kube, facts.addresses, kubeView));
    },
  };
  try {
    const report = await runScenario(scenario, snapshotting, {
      onEvent: (ev) => {
        if (ev.type === "step") step = ev.step.index;
      },
    });
    const perNode = new Map(scenario.nodes.map((n) => [n.name, 0]));
    for (const p of (await tb.kube.list("pods")).items) {
      const node = p.spec?.nodeName;
      if (node && perNode.has(node)) perNode.set(node, perNode.get(node)! + 1);
    }
    const podsPerNode = [...perNode].map(([n, c]) => `${n}=${c}`).join(" ");
    return { report, graphs, kube, podsPerNode };
  } finally {
    await tb.close();
  }
}

export function verdictLines(r: RunReport): string[] {
  return r.checks.map((c) => `step ${c.step}${c.title ? ` "${c.title}"` : ""}: ${c.name} → ${c.verdict}`);
}

/** Every difference between the two runs, `b` being the reference; empty when they agree. */
export function compareRuns([an, a]: [string, Run], [bn, b]: [string, Run]): string[] {
  const problems: string[] = [];
  const va = verdictLines(a.report);
  const vb = verdictLines(b.report);
  if (va.length !== vb.length) problems.push(`${an} judged ${va.length} checks, ${bn} ${vb.length}`);
  const w = Math.max(an.length, bn.length);
  for (let i = 0; i < Math.max(va.length, vb.length); i++) {
    if (va[i] === vb[i]) continue;
    problems.push(
      `verdict differs:\n  ${`${an}:`.padEnd(w + 2)}${va[i] ?? "(none)"}\n  ${`${bn}:`.padEnd(w + 2)}${vb[i] ?? "(none)"}`,
    );
  }
  // a difference usually persists from the step that caused it on: show each one once, where it appears
  const seen = new Set<string>();
  for (const [what, ga, gb] of [
    ["Contrail graphs", a.graphs, b.graphs],
    ["Kubernetes objects", a.kube, b.kube],
  ] as const) {
    for (const [step, g] of [...ga].sort(([x], [y]) => x - y)) {
      const other = gb.get(step);
      if (!other) {
        problems.push(`step ${step + 1}: no snapshot of the ${what} on ${bn}`);
        continue;
      }
      const fresh = diffGraphs(g, other, [an, bn]).filter((d) => !seen.has(d));
      for (const d of fresh) seen.add(d);
      if (fresh.length) problems.push(`after step ${step + 1}, the ${what} differ:\n${fresh.join("\n")}`);
    }
  }
  return problems;
}
