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
import type { ClusterChoice } from "../../testbed/env";
import { loadScenario, parseScenario } from "../../testbed/scenario/load";
import type { Scenario } from "../../testbed/scenario/types";
import { requireTier } from "../support/tiers";
import { compareRuns, DIFFERENTIAL_SCENARIOS, verdictLines, runOn as runEnv } from "./runs";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");

/** The differential scenarios (runs.ts). */
const FILES = DIFFERENTIAL_SCENARIOS;

const missing = missingBinaries(defaultBinDir(), true);
requireTier(
  "K8S",
  missing.length === 0,
  `${missing.join(", ")} not built in ${defaultBinDir()}: run \`bash testbed/cluster/local/build.sh\``,
);

const runOn = (scenario: Scenario, cluster: ClusterChoice, workDir: string) =>
  runEnv(scenario, { datapath: "sim", cluster, workDir });

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

          const problems = compareRuns(["embedded", embedded], ["local", local]);
          const ve = verdictLines(embedded.report);
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
