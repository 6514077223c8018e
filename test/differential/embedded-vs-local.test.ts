/**
 * Differential test of the embedded cluster against the real one: each shipped scenario runs once on the
 * embedded cluster and once on the local control plane (real etcd, kube-apiserver, controller-manager,
 * scheduler), and the two runs must agree on every expectation's verdict and, after every settled step, on the
 * Contrail object graph the controller built. The real API server is the reference: a difference is a bug in
 * the embedded cluster (or in the settle barrier that decides when a real cluster is done).
 * Skipped, naming build.sh, when the control plane is not built (unless CTB_REQUIRE_K8S=1).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultBinDir, missingBinaries } from "../../testbed/cluster/local";
import { type ClusterChoice, startTestbed } from "../../testbed/env";
import { type CheckResult, type RunReport, runScenario } from "../../testbed/runner/run";
import type { Testbed } from "../../testbed/runner/testbed";
import { loadScenario } from "../../testbed/scenario/load";
import type { Scenario, Step } from "../../testbed/scenario/types";
import { type Graph, diffGraphs, kubeFacts, readGraph } from "./graph";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");

/** Every shipped scenario. */
const FILES = ["section-9.yaml", "cluster-isolation.yaml", "section-9-r5.yaml", "service-ecmp.yaml", "churn.yaml"];

/**
 * On a real API server a deleted pod is only marked (graceful deletion) until its kubelet confirms with a
 * zero-grace DELETE; the node emulator does not send one yet, so such pods stay Terminating and the settle
 * barrier (rightly) never calls the cluster converged. Until it does, a scenario is compared up to its first
 * step that deletes pods (deleting anything, or resizing a workload). See the helper report.
 */
function deletesPods(step: Step): boolean {
  return step.kind === "delete" || (step.kind === "patch" && WORKLOADS.includes(step.target.kind));
}
const WORKLOADS = ["Deployment", "ReplicaSet", "ReplicationController"];

/**
 * Known datapath-engine bugs whose verdict depends on where the scheduler put the pods (the real scheduler
 * breaks ties at random, the embedded one by node name), so the backends may disagree on them for a reason
 * that is not the cluster's. `<file>: <step title prefix>`; remove an entry when the engine is fixed.
 */
const PLACEMENT_DEPENDENT_ENGINE_BUGS = [
  // floating-IP DNAT reply routed in the wrong VRF when member and client are on different nodes
  "section-9.yaml: 3.2 e",
  "section-9-r5.yaml: 3.2 d",
  "section-9-r5.yaml: 9.6",
  // ECMP spread losing flows
  "service-ecmp.yaml: Flows to the service IP spread",
  "churn.yaml: (untitled) spread",
];

function tolerated(file: string, c: CheckResult): boolean {
  const key = `${file}: ${c.title ?? `(untitled)${c.name.includes("spread over") ? " spread" : ""}`}`;
  return PLACEMENT_DEPENDENT_ENGINE_BUGS.some((k) => key.startsWith(k));
}

const missing = missingBinaries(defaultBinDir());
if (missing.length > 0 && process.env.CTB_REQUIRE_K8S === "1") {
  throw new Error(`CTB_REQUIRE_K8S=1 but ${missing.join(", ")} missing in ${defaultBinDir()}: run build.sh`);
}
if (missing.length > 0) {
  console.warn(
    `test/differential: SKIPPED — ${missing.join(", ")} not built in ${defaultBinDir()}; ` +
      "run `bash testbed/cluster/local/build.sh` first (CI does)",
  );
}

interface Run {
  report: RunReport;
  /** The normalised graph after the last settle of each step, by step index. */
  graphs: Map<number, Graph>;
}

/** Runs the scenario, snapshotting the Contrail graph every time the settle barrier returns. */
async function runOn(scenario: Scenario, cluster: ClusterChoice, workDir: string): Promise<Run> {
  const tb = await startTestbed(scenario, { datapath: "sim", cluster, workDir });
  const graphs = new Map<number, Graph>();
  let step = -1;
  const snapshotting: Testbed = {
    ...tb,
    settle: async () => {
      await tb.settle();
      graphs.set(step, await readGraph(tb.vncUrl, await kubeFacts(tb.kube)));
    },
  };
  try {
    const report = await runScenario(scenario, snapshotting, {
      onEvent: (ev) => {
        if (ev.type === "step") step = ev.step.index;
      },
    });
    return { report, graphs };
  } finally {
    await tb.close();
  }
}

function verdictLines(file: string, r: RunReport): { line: string; tolerated: boolean }[] {
  return r.checks.map((c) => ({
    line: `step ${c.step}${c.title ? ` "${c.title}"` : ""}: ${c.name} → ${c.verdict}`,
    tolerated: tolerated(file, c),
  }));
}

describe.skipIf(missing.length > 0)("embedded cluster vs the real control plane (same scenario, same outcome)", () => {
  for (const name of FILES) {
    it(`${name}: same verdicts and the same Contrail objects after every step`, async () => {
      const full = loadScenario(join(SCENARIOS, name));
      const cut = full.steps.findIndex(deletesPods);
      const scenario = cut < 0 ? full : { ...full, steps: full.steps.slice(0, cut) };
      if (cut >= 0) console.warn(`${name}: compared up to step ${cut + 1} of ${full.steps.length} (the rest deletes pods)`);
      const workDir = mkdtempSync(join(tmpdir(), "ctb-diff-"));
      try {
        const embedded = await runOn(scenario, { kind: "embedded" }, workDir);
        const local = await runOn(scenario, { kind: "local" }, workDir);

        const problems: string[] = [];
        const notes: string[] = [];
        const ve = verdictLines(name, embedded.report);
        const vl = verdictLines(name, local.report);
        if (ve.length !== vl.length) problems.push(`embedded judged ${ve.length} checks, local ${vl.length}`);
        for (let i = 0; i < Math.max(ve.length, vl.length); i++) {
          if (ve[i]?.line === vl[i]?.line) continue;
          const text = `verdict differs:\n  embedded: ${ve[i]?.line ?? "(none)"}\n  local:    ${vl[i]?.line ?? "(none)"}`;
          if (ve[i]?.tolerated && vl[i]?.tolerated) notes.push(text);
          else problems.push(text);
        }
        // a difference usually persists from the step that caused it on: show each one once, where it appears
        const seen = new Set<string>();
        for (const [step, g] of [...embedded.graphs].sort(([a], [b]) => a - b)) {
          const other = local.graphs.get(step);
          if (!other) {
            problems.push(`step ${step + 1}: no Contrail snapshot on local`);
            continue;
          }
          const fresh = diffGraphs(g, other).filter((d) => !seen.has(d));
          for (const d of fresh) seen.add(d);
          if (fresh.length) problems.push(`after step ${step + 1}, the Contrail graphs differ:\n${fresh.join("\n")}`);
        }
        if (notes.length) console.warn(`${name}: tolerated (known engine bugs, placement-dependent):\n${notes.join("\n")}`);
        expect(problems.join("\n\n")).toBe("");
        // the comparison saw something: both runs judged checks and built objects
        expect(ve.length).toBeGreaterThan(0);
        expect(embedded.graphs.size).toBeGreaterThan(0);
      } finally {
        rmSync(workDir, { recursive: true, force: true });
      }
    }, 300_000);
  }
});
