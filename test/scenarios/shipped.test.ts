/**
 * End to end: every shipped scenario runs on the embedded cluster and the simulated datapath, with the real
 * controller, config API, config daemons and vrouter agents, and every expectation in it must hold. Scenarios
 * with NetworkPolicies run in both layouts: upstream (what the real kube-manager of the scenario's model builds:
 * r5 firewall policies, r4 security groups; divergences from Kubernetes are listed in the scenario) and
 * kubernetes (the corrected design: no divergence at all), unless the scenario sets its layout.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";

const files = readdirSync("scenarios")
  .filter((f) => f.endsWith(".yaml"))
  .sort();
type Layout = "upstream" | "kubernetes" | "default";
const runs: [string, Layout][] = files.flatMap((f): [string, Layout][] => {
  const text = readFileSync(`scenarios/${f}`, "utf8");
  // a scenario that names its layout (north-south.yaml: upstream's Ingress rules) runs in that one only
  return /kind: NetworkPolicy/.test(text) && !/^\s+netpolLayout:/m.test(text)
    ? [
        [f, "upstream"],
        [f, "kubernetes"],
      ]
    : [[f, "default"]];
});

describe("shipped scenarios (embedded cluster, simulated datapath)", () => {
  it.each(runs)(
    "%s (NetworkPolicy layout: %s): every expectation holds",
    async (file, layout) => {
      const loaded = loadScenario(`scenarios/${file}`);
      const scenario =
        layout !== "default"
          ? { ...loaded, controller: { ...loaded.controller, netpolLayout: layout } }
          : loaded;
      const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
      try {
        const report = await runScenario(scenario, tb);
        const failures = report.checks
          .filter((c) => c.verdict !== "pass")
          .map((c) => `${file}:${c.line} ${c.title ?? ""} ${c.name}\n${c.detail ?? ""}`);
        expect(failures).toEqual([]);
        expect(report.checks.length).toBeGreaterThan(3);
      } finally {
        await tb.close();
      }
    },
    120_000,
  );
});
