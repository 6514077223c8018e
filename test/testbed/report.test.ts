import { describe, expect, it } from "vitest";
import { jsonReport, junitReport, summaryText, textReporter } from "../../testbed/runner/report";
import { loadErrorReport, type RunReport } from "../../testbed/runner/run";
import { ScenarioError } from "../../testbed/scenario/types";

const report: RunReport = {
  scenario: "section-9",
  file: "scenarios/section-9.yaml",
  startedAt: "2026-12-06T07:00:00.123Z",
  warnings: [{ step: 3, line: 28, text: 'networkpolicy x/p: named port "http": the policy is not applied' }],
  durationMs: 1234,
  passed: 1,
  failed: 1,
  checks: [
    {
      step: 2,
      line: 23,
      title: "9.2 <ping>",
      kind: "reach",
      name: "a → b icmp expect allow",
      verdict: "pass",
      output: "PING…",
      durationMs: 250,
    },
    {
      step: 6,
      line: 35,
      title: "9.5 & isolation",
      kind: "reach",
      name: "a → c icmp expect deny",
      verdict: "fail",
      detail: "observed allow (2/2 answered)\npacket trace:\n  route 10.47.255.249/32",
    },
  ],
};

describe("reporters", () => {
  it("JUnit: one testcase per expectation, failures carry file:line and the trace, XML is escaped", () => {
    const xml = junitReport([report]);
    expect(xml).toContain('<testsuite name="section-9" tests="2" failures="1" errors="0"');
    expect(xml).toContain("9.2 &lt;ping&gt;");
    expect(xml).toContain("9.5 &amp; isolation");
    expect(xml).toMatch(
      /<failure message="a → c icmp expect deny">scenarios\/section-9.yaml:35\nobserved allow/,
    );
    expect(xml.match(/<testcase /g)).toHaveLength(2);
  });

  it("JUnit as CI systems read it: totals, timestamp, hostname, per-testcase time, unique names", () => {
    const same = { ...report.checks[0]!, step: 3, line: 30 };
    const again = { ...report.checks[0]!, step: 3, line: 31 };
    const xml = junitReport([{ ...report, checks: [...report.checks, same, again] }], "host-1");
    expect(xml).toMatch(/<testsuites name="ctb" tests="4" failures="1" errors="0" time="1.234">/);
    expect(xml).toMatch(/<testsuite name="section-9" [^>]*timestamp="2026-12-06T07:00:00" hostname="host-1"/);
    expect(xml).toContain('line="23" time="0.250"');
    const names = [...xml.matchAll(/<testcase [^>]*name="([^"]*)"/g)].map((m) => m[1]);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("9.2 &lt;ping&gt;: a → b icmp expect allow (step 3)");
    expect(names).toContain("9.2 &lt;ping&gt;: a → b icmp expect allow (step 3) #2");
  });

  it("a file that cannot be loaded is one error in the batch's JSON and JUnit, beside the files that ran", () => {
    const bad = loadErrorReport(
      "scenarios/broken.yaml",
      new ScenarioError("scenarios/broken.yaml", 7, "steps[0]: unknown action"),
    );
    expect(bad.checks[0]).toMatchObject({ verdict: "error", line: 7 });
    const xml = junitReport([report, bad]);
    expect(xml).toMatch(/<testsuites name="ctb" tests="3" failures="1" errors="1"/);
    expect(xml).toMatch(/<error message="load the scenario file">scenarios\/broken.yaml:7\n.*unknown action/);
    const j = JSON.parse(jsonReport([report, bad]));
    expect(j.scenarios).toHaveLength(2);
    expect(j.ok).toBe(false);
  });

  it("controller warnings appear in the summary, in JSON and in JUnit's system-err", () => {
    expect(summaryText([report])).toContain(
      'scenarios/section-9.yaml:28 networkpolicy x/p: named port "http"',
    );
    expect(JSON.parse(jsonReport([report])).scenarios[0].warnings[0].line).toBe(28);
    expect(junitReport([report])).toMatch(
      /<system-err>scenarios\/section-9.yaml:28 warning: networkpolicy x\/p: named port &quot;http&quot;/,
    );
    let out = "";
    textReporter({ write: (t: string) => (out += t) })({
      type: "warning",
      step: { kind: "apply" } as never,
      text: "left out",
    });
    expect(out).toContain("WARNING  left out");
  });

  it("JSON: ok is false when any expectation failed", () => {
    const j = JSON.parse(jsonReport([report]));
    expect(j.ok).toBe(false);
    expect(j.scenarios[0].checks[1].line).toBe(35);
    expect(JSON.parse(jsonReport([{ ...report, failed: 0, checks: [report.checks[0]!] }])).ok).toBe(true);
  });

  it("summary ends with the N passed, N failed line and lists failures by file:line", () => {
    const s = summaryText([report]);
    expect(s.trim().split("\n").at(-1)).toBe("1 passed, 1 failed");
    expect(s).toContain("scenarios/section-9.yaml:35 [9.5 & isolation] a → c icmp expect deny");
  });

  it("text reporter prints output, verdicts and, for failures only, the explanation", () => {
    let out = "";
    const r = textReporter({ write: (s: string) => (out += s) });
    for (const c of report.checks) r({ type: "check", result: c });
    expect(out).toContain("PASS  a → b icmp expect allow");
    expect(out).toContain("FAIL  a → c icmp expect deny");
    expect(out).toContain("route 10.47.255.249/32");
    expect(out.indexOf("PING…")).toBeLessThan(out.indexOf("PASS"));
  });
});
