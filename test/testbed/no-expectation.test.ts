/**
 * A scenario that checks nothing proves nothing: it fails unless the user says that is what they want.
 */
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";

const NOTHING_CHECKED = `
name: applies only
steps:
  - apply: |
      apiVersion: v1
      kind: Namespace
      metadata: {name: quiet}
`;

describe("a scenario with no expectation", () => {
  it("fails with a line saying why, and passes with allowNoExpectations", async () => {
    const scenario = parseScenario(NOTHING_CHECKED, "quiet.yaml");
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    try {
      const strict = await runScenario(scenario, tb);
      expect(strict.failed).toBe(1);
      expect(strict.checks[0]).toMatchObject({
        verdict: "fail",
        name: "the scenario has an expectation",
        line: 4,
      });
      expect(strict.checks[0]!.detail).toMatch(/--allow-no-expectations/);
      const allowed = await runScenario(scenario, tb, { allowNoExpectations: true });
      expect(allowed.failed).toBe(0);
      expect(allowed.checks).toEqual([]);
    } finally {
      await tb.close();
    }
  });
});
