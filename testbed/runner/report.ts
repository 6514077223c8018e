/**
 * Reporters for scenario runs: a readable live report (each step's title, what a user would have seen, each
 * expectation with its verdict and, for a failure, the packet trace), JSON, and JUnit XML for CI systems.
 *
 * Example: `runScenario(s, tb, { onEvent: textReporter(process.stdout) })`.
 */
import { hostname as osHostname } from "node:os";
import type { CheckResult, RunEvent, RunReport } from "./run";

const useColor = () => process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, s: string) => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);
export const green = (s: string) => paint(32, s);
export const red = (s: string) => paint(31, s);
export const bold = (s: string) => paint(1, s);
export const dim = (s: string) => paint(2, s);

const indent = (text: string, by = "    ") =>
  text
    .split("\n")
    .map((l) => by + l)
    .join("\n");

/** Live text reporter: prints as the run goes, so long runs show progress. */
export function textReporter(out: { write(s: string): unknown }): (ev: RunEvent) => void {
  return (ev) => {
    switch (ev.type) {
      case "step":
        if (ev.step.title) out.write(`\n${bold(ev.step.title)}\n`);
        return;
      case "output":
        out.write(`${indent(ev.text)}\n`);
        return;
      case "check":
        out.write(checkLine(ev.result));
        return;
    }
  };
}

function checkLine(c: CheckResult): string {
  const mark = c.verdict === "pass" ? green("✔ PASS") : red(c.verdict === "error" ? "✘ ERROR" : "✘ FAIL");
  let s = "";
  if (c.output) s += `${indent(c.output)}\n`;
  s += `  ${mark}  ${c.name}\n`;
  if (c.verdict !== "pass" && c.detail) s += `${indent(c.detail, "        ")}\n`;
  return s;
}

export function summaryText(reports: RunReport[]): string {
  const lines = reports.map(
    (r) =>
      `${r.failed === 0 ? green("PASS") : red("FAIL")} ${r.file} (${r.scenario}): ${r.passed} passed, ${r.failed} failed, ${(r.durationMs / 1000).toFixed(1)}s`,
  );
  const passed = reports.reduce((n, r) => n + r.passed, 0);
  const failed = reports.reduce((n, r) => n + r.failed, 0);
  const failures = reports.flatMap((r) =>
    r.checks.filter((c) => c.verdict !== "pass").map((c) => `  ${r.file}:${c.line} ${c.title ? `[${c.title}] ` : ""}${c.name}`),
  );
  return [
    "",
    ...lines,
    ...(failures.length ? ["Failed expectations:", ...failures] : []),
    `${passed} passed, ${failed} failed`,
  ].join("\n");
}

export function jsonReport(reports: RunReport[]): string {
  return JSON.stringify({ ok: reports.every((r) => r.failed === 0), scenarios: reports }, null, 2);
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);

/**
 * JUnit XML as CI systems read it (Jenkins, GitLab, GitHub reporters): totals on <testsuites>, a timestamp and
 * hostname per suite, a time per testcase, and names unique within their suite (a repeated check gets its
 * step number, then a counter, so no CI merges two results into one).
 */
export function junitReport(reports: RunReport[], hostname = osHostname()): string {
  const seconds = (ms: number | undefined) => ((ms ?? 0) / 1000).toFixed(3);
  const count = (r: RunReport, v: string) => r.checks.filter((c) => c.verdict === v).length;
  const suites = reports.map((r) => {
    const seen = new Map<string, number>();
    const cases = r.checks.map((c) => {
      let name = `${c.title ? `${c.title}: ` : ""}${c.name}`;
      if (seen.has(name)) name = `${name} (step ${c.step})`;
      const n = (seen.get(name) ?? 0) + 1;
      seen.set(name, n);
      if (n > 1) name = `${name} #${n}`;
      const tag = c.verdict === "error" ? "error" : "failure";
      const body = c.verdict === "pass" ? "" : `<${tag} message="${xml(c.name)}">${xml(`${r.file}:${c.line}\n${c.detail ?? ""}`)}</${tag}>`;
      const out = c.output ? `<system-out>${xml(c.output)}</system-out>` : "";
      return `    <testcase classname="${xml(r.scenario)}" name="${xml(name)}" file="${xml(r.file)}" line="${c.line}" time="${seconds(c.durationMs)}">${body}${out}</testcase>`;
    });
    const attrs = `tests="${r.checks.length}" failures="${count(r, "fail")}" errors="${count(r, "error")}" skipped="0" time="${seconds(r.durationMs)}"`;
    return `  <testsuite name="${xml(r.scenario)}" ${attrs} timestamp="${xml(r.startedAt.replace(/\.\d+Z$/, ""))}" hostname="${xml(hostname)}" file="${xml(r.file)}">\n${cases.join("\n")}\n  </testsuite>`;
  });
  const total = (f: (r: RunReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const totals = `tests="${total((r) => r.checks.length)}" failures="${total((r) => count(r, "fail"))}" errors="${total((r) => count(r, "error"))}" time="${seconds(total((r) => r.durationMs))}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="ctb" ${totals}>\n${suites.join("\n")}\n</testsuites>\n`;
}
