/**
 * NetworkPolicy end to end through the whole testbed (embedded cluster, controller, fake API and daemons,
 * agents, simulated datapath): the verdicts of test/controller/scenarios/networkpolicy.yaml must all hold.
 */
import { join } from "node:path";
import { expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";

it("enforces NetworkPolicy with Kubernetes semantics (ingress, egress, both, deletion)", async () => {
  const scenario = loadScenario(join(import.meta.dirname, "scenarios", "networkpolicy.yaml"));
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    const report = await runScenario(scenario, tb);
    const failed = report.checks
      .filter((c) => c.verdict !== "pass")
      .map((c) => `${c.name}: ${c.detail ?? ""}`);
    expect(failed).toEqual([]);
    expect(report.passed).toBeGreaterThanOrEqual(20);
  } finally {
    await tb.close();
  }
});
