/**
 * scenarios/multi-network.yaml end to end on the simulated datapath, then what a user reads off the pods: the
 * k8s.v1.cni.cncf.io/network-status annotation as Multus writes it (every interface, in order, the default
 * network's marked default), and the port API listing every VMI of the pod with its i/N index.
 */
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";

const ROOT = resolve(import.meta.dirname, "../..");

describe("multi-network pods end to end (sim)", () => {
  it("writes network-status for every interface, in order, as Multus does", async () => {
    const scenario = loadScenario(join(ROOT, "scenarios", "multi-network.yaml"));
    const tb = await startTestbed(scenario, {
      datapath: "sim",
      cluster: { kind: "embedded" },
      workDir: join(ROOT, ".ctb", "test-multinet"),
    });
    try {
      // up to the definition's deletion: the pod on both networks is still there
      const cut = scenario.steps.findIndex((s) => s.title?.startsWith("A definition deleted"));
      const report = await runScenario({ ...scenario, steps: scenario.steps.slice(0, cut) }, tb);
      expect(report.checks.filter((c) => c.verdict !== "pass").map((c) => `${c.name}: ${c.detail}`)).toEqual(
        [],
      );
      const pod = await tb.kube.get("pods", "multi", "default");
      const status = JSON.parse(pod.metadata.annotations!["k8s.v1.cni.cncf.io/network-status"]!);
      expect(status.map((s: { name: string; interface: string }) => [s.name, s.interface])).toEqual([
        ["contrail-k8s-cni", "eth0"],
        ["default/blue", "eth1"],
        ["default/green", "green0"],
      ]);
      expect(status[0]).toMatchObject({ default: true, ips: [pod.status.podIP] });
      expect(status[1].ips[0]).toMatch(/^10\.10\.10\./);
      expect(status[2].ips[0]).toMatch(/^10\.20\.20\./);
      expect(status[1].default).toBeUndefined();
      // a plain pod is left as it was (Multus writes no status for it here: it has no attachments)
      const plain = await tb.kube.get("pods", "plain", "default");
      expect(plain.metadata.annotations?.["k8s.v1.cni.cncf.io/network-status"]).toBeUndefined();
    } finally {
      await tb.close();
    }
  });
});
