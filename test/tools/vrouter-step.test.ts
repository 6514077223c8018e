/**
 * The scenario `vrouter` step: its command line split as a shell would, checked at load time (a tool that does
 * not exist, a node the scenario does not have, node and nodeOf together) at the line that has it; at run time
 * each row expectation is one check at its own line, and a failed one shows the tool's output.
 */
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { parseScenario, shellWords } from "../../testbed/scenario/load";

const scenario = (step: string) => `name: t
nodes: [n1, n2]
steps:
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: a, namespace: default }
      spec: { containers: [{ name: c, image: agnhost }] }
${step}`;

describe("vrouter step: loading", () => {
  it("splits the command line as sh does", () => {
    expect(shellWords(`flow --match "10.0.0.1 & proto tcp" -l`)).toEqual([
      "flow",
      "--match",
      "10.0.0.1 & proto tcp",
      "-l",
    ]);
    expect(shellWords(`rt --dump 'two words' a\\ b`)).toEqual(["rt", "--dump", "two words", "a b"]);
    expect(shellWords(`flow --match "x`)).toBe('unmatched " (quote)');
  });

  it.each([
    [
      `  - vrouter: { node: n1, run: "ls -l", expect: [{ row: x }] }`,
      9,
      '"ls" is not a vrouter tool (vif, nh, rt, flow, dropstats, mpls, vrfstats)',
    ],
    [
      `  - vrouter: { node: n3, run: "vif --list", expect: [{ row: x }] }`,
      9,
      'vrouter.node "n3" is not a node of this scenario (n1, n2)',
    ],
    [
      `  - vrouter: { node: n1, nodeOf: default/a, run: "vif --list", expect: [{ row: x }] }`,
      9,
      "give node (a node's name) or nodeOf",
    ],
    [
      `  - vrouter:\n      node: n1\n      run: 'flow --match "x'\n      expect: [{ row: x }]`,
      11,
      'vrouter.run: unmatched " (quote)',
    ],
    [
      `  - vrouter: { nodeOf: a, run: "vif --list", expect: [{ row: x }] }`,
      9,
      'vrouter.nodeOf "a" must be <namespace>/<pod>',
    ],
  ])("refuses %s at its line", (step, line, text) => {
    expect(() => parseScenario(scenario(step), "t.yaml")).toThrow(`t.yaml:${line}: `);
    expect(() => parseScenario(scenario(step), "t.yaml")).toThrow(text);
  });

  it("an expectation entry holds one of row or noRow", () => {
    expect(() =>
      parseScenario(
        scenario(`  - vrouter: { node: n1, run: "vif --list", expect: [{ row: x, noRow: y }] }`),
        "t.yaml",
      ),
    ).toThrow(/^t\.yaml:9: /);
  });
});

describe("vrouter step: running (simulated datapath)", () => {
  it("one check per row at its line; a failed one shows the output", async () => {
    const s = parseScenario(
      scenario(`  - vrouter:
      nodeOf: default/a
      run: vif --list
      expect:
        - row: ["Type:Virtual", "IPaddr:\${ip:default/a}"]
        - row: "no such text"
        - noRow: "Type:Virtual"`),
      "t.yaml",
    );
    const tb = await startTestbed(s, { datapath: "sim", cluster: { kind: "embedded" } });
    try {
      const report = await runScenario(s, tb);
      const checks = report.checks.filter((c) => c.kind === "vrouter");
      expect(checks.map((c) => [c.line, c.verdict])).toEqual([
        [13, "pass"],
        [14, "fail"],
        [15, "fail"],
      ]);
      expect(checks[0]!.name).toMatch(
        /^n\d\$ vif --list: a row with "Type:Virtual", "IPaddr:10\.\d+\.\d+\.\d+"$/,
      );
      expect(checks[1]!.detail).toMatch(/^no row holds them all; the output:\nVrouter Interface Table\n/);
      expect(checks[2]!.detail).toMatch(/^this row holds them:\nvif0\/3 +OS: tap/);
    } finally {
      await tb.close();
    }
  });
});
