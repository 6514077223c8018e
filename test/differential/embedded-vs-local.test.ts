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
import { type CheckResult, type RunReport, runScenario } from "../../testbed/runner/run";
import type { Testbed } from "../../testbed/runner/testbed";
import { loadScenario, parseScenario } from "../../testbed/scenario/load";
import type { Scenario } from "../../testbed/scenario/types";
import type { KubeApi } from "../../controller/kube/api";
import { kubectlResult } from "../cluster-local/kubectl";
import { type Graph, diffGraphs, kubeFacts, readGraph } from "./graph";
import { readKube } from "./kube";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");

/** Every shipped scenario. */
const FILES = ["section-9.yaml", "cluster-isolation.yaml", "section-9-r5.yaml", "service-ecmp.yaml", "churn.yaml"];

/**
 * On a real API server a deleted pod is only marked (graceful deletion) until its kubelet confirms with a
 * zero-grace DELETE. The node emulator does not send that yet (KubeApi.delete has no grace period), so such
 * pods would stay Terminating and the settle barrier would rightly never call the cluster converged. Until it
 * does, this stands in for that last kubelet call during local runs: every Terminating pod is force-deleted.
 */
function finishGracefulDeletions(kube: KubeApi, kubeconfig: string): () => Promise<void> {
  const inFlight = new Set<string>();
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = kube
      .list("pods")
      .then(({ items }) =>
        Promise.all(
          items
            .filter((p) => p.metadata.deletionTimestamp && !inFlight.has(p.metadata.uid!))
            .map(async (p) => {
              inFlight.add(p.metadata.uid!);
              const ns = ["-n", p.metadata.namespace!];
              const r = await kubectlResult(kubeconfig, ["delete", "pod", p.metadata.name!, ...ns, "--grace-period=0", "--force", "--wait=false"]);
              if (r.code !== 0 && !r.stderr.includes("NotFound")) inFlight.delete(p.metadata.uid!); // retried next tick
            }),
        ),
      )
      .catch(() => {});
  }, 200);
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/**
 * Known datapath-engine bugs whose verdict depends on where pods run — the real scheduler breaks ties at
 * random, and so does the real ReplicaSet controller choosing which pod a scale-down removes — so the backends
 * may disagree on them for a reason that is not the cluster's. Remove an entry when the engine is fixed.
 */
const PLACEMENT_DEPENDENT_ENGINE_BUGS: { file: string; title?: string; spread?: true; why: string }[] = [
  { file: "section-9.yaml", title: "3.2 e", why: "FIP DNAT reply routed in the wrong VRF across nodes" },
  { file: "section-9.yaml", title: "3.2 d", why: "the same service (FIP DNAT) path, member picked by ECMP" },
  { file: "section-9-r5.yaml", title: "3.2 d", why: "FIP DNAT reply routed in the wrong VRF across nodes" },
  { file: "section-9-r5.yaml", title: "9.6", why: "section-9-r5 9.6" },
  { file: "service-ecmp.yaml", spread: true, why: "ECMP spread losing flows" },
  { file: "churn.yaml", spread: true, why: "ECMP spread losing flows" },
];

function tolerated(file: string, c: CheckResult): boolean {
  return PLACEMENT_DEPENDENT_ENGINE_BUGS.some(
    (b) =>
      b.file === file &&
      (!b.title || (c.title ?? "").startsWith(b.title)) &&
      (!b.spread || c.name.includes("spread over")),
  );
}

/**
 * Known controller issue (not the cluster's): a tag whose last user goes in the same pass as its interface
 * is deleted before the interface lets go of it; the 409 is deferred to a timed retry that does not hold the
 * settle barrier, so right after the step the tag is still there. The embedded cluster deletes a pod at once
 * (one pass); the real one marks it first (two passes), which hides the race.
 */
const STALE_TAG_ON_EMBEDDED = /^only on embedded: tag /;

const missing = missingBinaries(defaultBinDir(), true);
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
  const stopFinisher = cluster.kind === "local" ? finishGracefulDeletions(tb.kube, join(workDir, "kubeconfig")) : undefined;
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
    await stopFinisher?.();
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
    it(`${name}: same verdicts, Contrail objects and Kubernetes objects after every step`, async () => {
      const scenario = loadScenario(join(SCENARIOS, name));
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
            const all = diffGraphs(g, other);
            for (const d of all.filter((x) => STALE_TAG_ON_EMBEDDED.test(x))) notes.push(`after step ${step + 1}: ${d}`);
            const fresh = all.filter((d) => !seen.has(d) && !STALE_TAG_ON_EMBEDDED.test(d));
            for (const d of fresh) seen.add(d);
            if (fresh.length) problems.push(`after step ${step + 1}, the ${what} differ:\n${fresh.join("\n")}`);
          }
        }
        if (notes.length) console.warn(`${name}: tolerated (known engine and controller issues, see the lists above):\n${notes.join("\n")}`);
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
});
