/**
 * Differential test of the node emulator against real nodes: each scenario runs on the local control plane and
 * the netns datapath twice — pods run by the testbed's node emulators, then by real kubelet + containerd nodes
 * whose runtime calls the CNI plugin — and the runs must agree on every expectation's verdict and, after every
 * settled step, on the Contrail object graph and on the Kubernetes objects (the pod fields both decide:
 * kubelet-view.ts). The real kubelet is the reference: a difference is a bug in the emulator, or a behaviour of
 * real nodes the emulator does not model yet.
 * Needs the KUBELET, K8S and NETNS tiers (root, containerd, runc, the built control plane with kubelet).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { netnsUsable } from "../../fake-vrouter/netns/ns";
import { ensureImages } from "../../testbed/cluster/kubelet/images";
import type { EnvOptions } from "../../testbed/env";
import { loadScenario } from "../../testbed/scenario/load";
import { kubeletTier } from "../support/kubelet";
import { requireTier } from "../support/tiers";
import { kubeletView } from "./kubelet-view";
import { compareRuns, DIFFERENTIAL_SCENARIOS, runOn, verdictLines } from "./runs";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");
/** The differential scenarios (runs.ts) — each run starts real nodes: ~1 min at load 4. */
const FILES = DIFFERENTIAL_SCENARIOS;

// kubelet nodes (tier KUBELET: the built control plane and kubelet, containerd, runc) in netns compute namespaces
const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns`") && kubeletTier();

describe.runIf(usable)("node emulator vs real kubelet nodes (same scenario, same outcome)", () => {
  for (const name of FILES) {
    it(`${name}: same verdicts, Contrail objects and Kubernetes objects after every step`, async () => {
      await ensureImages({ names: ["pause", "echo"] });
      const scenario = loadScenario(join(SCENARIOS, name));
      const workDir = mkdtempSync(join(tmpdir(), "ctb-diffk-"));
      const env = (nodes: EnvOptions["nodes"]): EnvOptions => ({
        datapath: "netns",
        cluster: { kind: "local" },
        nodes,
        workDir,
      });
      try {
        const emulated = await runOn(scenario, env("emulated"), kubeletView);
        const real = await runOn(scenario, env("kubelet"), kubeletView);
        expect(compareRuns(["emulated", emulated], ["kubelet", real]).join("\n\n")).toBe("");
        // the comparison saw something: both runs judged checks, built objects and ran pods
        expect(verdictLines(real.report).length).toBeGreaterThan(0);
        expect(real.graphs.size).toBeGreaterThan(0);
        expect(real.podsPerNode).not.toMatch(/^(\S+=0 ?)+$/);
      } finally {
        rmSync(workDir, { recursive: true, force: true });
      }
    }, 600_000);
  }
});
