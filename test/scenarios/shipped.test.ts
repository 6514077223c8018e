/**
 * End to end: every shipped scenario runs on the embedded cluster and the simulated datapath, with the real
 * controller, config API, config daemons and vrouter agents, and every expectation in it must hold.
 */
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";

const files = readdirSync("scenarios")
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("shipped scenarios (embedded cluster, simulated datapath)", () => {
  it.each(files)("%s: every expectation holds", async (file) => {
    const scenario = loadScenario(`scenarios/${file}`);
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
  }, 120_000);
});
