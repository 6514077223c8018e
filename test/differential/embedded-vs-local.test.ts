/**
 * Differential test of the embedded cluster against the real one: each shipped scenario runs once on the
 * embedded cluster and once on the local control plane (real etcd, kube-apiserver, controller-manager,
 * scheduler), and the two runs must agree on every expectation's verdict and, after every settled step, on the
 * Contrail object graph the controller built and on the Kubernetes objects themselves. The real API server is
 * the reference: a difference is a bug in the embedded cluster (or in the settle barrier that decides when a
 * real cluster is done).
 * Skipped, naming build.sh, when the control plane is not built (unless CTB_REQUIRE_K8S=1).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultBinDir, missingBinaries } from "../../testbed/cluster/local";
import { type ClusterChoice, startTestbed } from "../../testbed/env";
import { type RunReport, runScenario } from "../../testbed/runner/run";
import type { Testbed } from "../../testbed/runner/testbed";
import { loadScenario, parseScenario } from "../../testbed/scenario/load";
import type { Scenario } from "../../testbed/scenario/types";
import { type Graph, diffGraphs, kubeFacts, readGraph } from "./graph";
import { readKube } from "./kube";
import { requireTier } from "../support/tiers";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");

/** Every shipped scenario. */
const FILES = [
  "section-9.yaml",
  "cluster-isolation.yaml",
  "section-9-r5.yaml",
  "service-ecmp.yaml",
  "churn.yaml",
];

const missing = missingBinaries(defaultBinDir(), true);
requireTier(
  "K8S",
  missing.length === 0,
  `${missing.join(", ")} not built in ${defaultBinDir()}: run \`bash testbed/cluster/local/build.sh\``,
);

interface Run {
  report: RunReport;
  /** The normalised Contrail graph after the last settle of each step, by step index. */
  graphs: Map<number, Graph>;
  /** The normalised Kubernetes objects at the same moments. */
  kube: Map<number, Graph>;
  /** Pods per node at the end (node names in order), e.g. "n1=1 n2=1". */
  podsPerNode: string;
}

/** Runs the scenario, snapshotting the Contrail graph every time the settle barrier returns. */
async function runOn(scenario: Scenario, cluster: ClusterChoice, workDir: string): Promise<Run> {
  const tb = await startTestbed(scenario, { datapath: "sim", cluster, workDir });
  const graphs = new Map<number, Graph>();
  const kube = new Map<number, Graph>();
  let step = -1;
  const snapshotting: Testbed = {
    ...tb,
    settle: async () => {
      await tb.settle();
      const facts = await kubeFacts(tb.kube);
      graphs.set(step, await readGraph(tb.vncUrl, facts));
      kube.set(step, await readKube(tb.kube, facts.addresses));
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

function verdictLines(r: RunReport): string[] {
  return r.checks.map((c) => `step ${c.step}${c.title ? ` "${c.title}"` : ""}: ${c.name} → ${c.verdict}`);
}

describe.skipIf(missing.length > 0)(
  "embedded cluster vs the real control plane (same scenario, same outcome)",
  () => {
    for (const name of FILES) {
      it(`${name}: same verdicts, Contrail objects and Kubernetes objects after every step`, async () => {
        const scenario = loadScenario(join(SCENARIOS, name));
        const workDir = mkdtempSync(join(tmpdir(), "ctb-diff-"));
        try {
          const embedded = await runOn(scenario, { kind: "embedded" }, workDir);
          const local = await runOn(scenario, { kind: "local" }, workDir);

          const problems: string[] = [];
          const ve = verdictLines(embedded.report);
          const vl = verdictLines(local.report);
          if (ve.length !== vl.length)
            problems.push(`embedded judged ${ve.length} checks, local ${vl.length}`);
          for (let i = 0; i < Math.max(ve.length, vl.length); i++) {
            if (ve[i] === vl[i]) continue;
            problems.push(
              `verdict differs:\n  embedded: ${ve[i] ?? "(none)"}\n  local:    ${vl[i] ?? "(none)"}`,
            );
          }
          // a difference usually persists from the step that caused it on: show each one once, where it appears
          const seen = new Set<string>();
          for (const [what, e, l] of [
            ["Contrail graphs", embedded.graphs, local.graphs],
            ["Kubernetes objects", embedded.kube, local.kube],
          ] as const) {
            for (const [step, g] of [...e].sort(([a], [b]) => a - b)) {
              const other = l.get(step);
              if (!other) {
                problems.push(`step ${step + 1}: no snapshot of the ${what} on local`);
                continue;
              }
              const fresh = diffGraphs(g, other).filter((d) => !seen.has(d));
              for (const d of fresh) seen.add(d);
              if (fresh.length)
                problems.push(`after step ${step + 1}, the ${what} differ:\n${fresh.join("\n")}`);
            }
          }
          expect(problems.join("\n\n")).toBe("");
          // the comparison saw something: both runs judged checks and built objects
          expect(ve.length).toBeGreaterThan(0);
          expect(embedded.graphs.size).toBeGreaterThan(0);
        } finally {
          rmSync(workDir, { recursive: true, force: true });
        }
      }, 300_000);
    }

    it("a scale-down removes pods from the node that has most of them, as the real ReplicaSet controller does", async () => {
      // three replicas on two nodes land 2+1 on both backends; the real controller then takes one of the pair
      const scenario = parseScenario(
        [
          "name: scale-down",
          "nodes: [n1, n2]",
          "steps:",
          "  - apply: |",
          "      apiVersion: apps/v1",
          "      kind: Deployment",
          "      metadata: { name: web, namespace: default }",
          "      spec:",
          "        replicas: 3",
          "        selector: { matchLabels: { app: web } }",
          "        template:",
          "          metadata: { labels: { app: web } }",
          "          spec: { containers: [{ name: web, image: agnhost }] }",
          "  - pods: [{ namespace: default, name: web-*, count: 3 }]",
          "  - patch: { kind: Deployment, name: web, patch: { spec: { replicas: 2 } } }",
          "  - pods: [{ namespace: default, name: web-*, count: 2 }]",
        ].join("\n"),
        "scale-down.yaml",
      );
      const workDir = mkdtempSync(join(tmpdir(), "ctb-diff-"));
      try {
        const embedded = await runOn(scenario, { kind: "embedded" }, workDir);
        const local = await runOn(scenario, { kind: "local" }, workDir);
        expect(local.report.failed, "the scenario itself on the real cluster").toBe(0);
        expect(local.podsPerNode).toBe("n1=1 n2=1");
        expect(embedded.podsPerNode).toBe(local.podsPerNode);
      } finally {
        rmSync(workDir, { recursive: true, force: true });
      }
    }, 300_000);
  },
);
