/**
 * Reporters for scenario runs: a readable live report (each step's title, what a user would have seen, each
 * expectation with its verdict and, for a failure, the packet trace), JSON, and JUnit XML for CI systems.
 *
 * Example: `runScenario(s, tb, { onEvent: textReporter(process.stdout) })`.
 */
import { hostname as osHostname } from "node:os";
import { dirname, join } from "node:path";
import type { CheckResult, RunEvent, RunReport } from "./run";

const useColor = () => process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, s: string) => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);
export const green = (s: string) => paint(32, s);
export const red = (s: string) => paint(31, s);
export const bold = (s: string) => paint(1, s);
export const dim = (s: string) => paint(2, s);
export const yellow = (s: string) => paint(33, s);

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
      case "warning":
        out.write(`  ${yellow("⚠ WARNING")}  ${ev.text}\n`);
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
    r.checks
      .filter((c) => c.verdict !== "pass")
      .map((c) => `  ${r.file}:${c.line} ${c.title ? `[${c.title}] ` : ""}${c.name}`),
  );
  const warnings = reports.flatMap((r) =>
    (r.warnings ?? []).map((w) => `  ${w.file ? join(dirname(r.file), w.file) : r.file}:${w.line} ${w.text}`),
  );
  return [
    "",
    ...lines,
    ...(warnings.length
      ? ["Warnings (the controller could not translate these as written):", ...warnings]
      : []),
    ...(failures.length ? ["Failed expectations:", ...failures] : []),
    `${passed} passed, ${failed} failed`,
  ].join("\n");
}

export function jsonReport(reports: RunReport[]): string {
  return JSON.stringify({ ok: reports.every((r) => r.failed === 0), scenarios: reports }, null, 2);
}

const xml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!,
  );

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
      const body =
        c.verdict === "pass"
          ? ""
          : `<${tag} message="${xml(c.name)}">${xml(`${r.file}:${c.line}\n${c.detail ?? ""}`)}</${tag}>`;
      const out = c.output ? `<system-out>${xml(c.output)}</system-out>` : "";
      return `    <testcase classname="${xml(r.scenario)}" name="${xml(name)}" file="${xml(r.file)}" line="${c.line}" time="${seconds(c.durationMs)}">${body}${out}</testcase>`;
    });
    const attrs = `tests="${r.checks.length}" failures="${count(r, "fail")}" errors="${count(r, "error")}" skipped="0" time="${seconds(r.durationMs)}"`;
    const warned = r.warnings?.length
      ? `\n    <system-err>${xml(r.warnings.map((w) => `${r.file}:${w.line} warning: ${w.text}`).join("\n"))}</system-err>`
      : "";
    return `  <testsuite name="${xml(r.scenario)}" ${attrs} timestamp="${xml(r.startedAt.replace(/\.\d+Z$/, ""))}" hostname="${xml(hostname)}" file="${xml(r.file)}">\n${cases.join("\n")}${warned}\n  </testsuite>`;
  });
  const total = (f: (r: RunReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const totals = `tests="${total((r) => r.checks.length)}" failures="${total((r) => count(r, "fail"))}" errors="${total((r) => count(r, "error"))}" time="${seconds(total((r) => r.durationMs))}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="ctb" ${totals}>\n${suites.join("\n")}\n</testsuites>\n`;
}

/** A TTY stream (stderr) that progress can be drawn on; anything else gets none. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/**
 * One status line on a terminal's stderr, rewritten in place: what is running (testbed start, each step,
 * a matrix's probes done/total) and for how long, once it has taken more than a couple of seconds. Silent
 * when stderr is not a terminal (CI logs, pipes). Anything written to stdout goes through `wrap`, which
 * clears the line first so the report never interleaves with it.
 *
 * Example: `const p = progress(process.stderr); runScenario(s, tb, { onEvent: p.tee(textReporter(p.wrap(process.stdout))) })`.
 */
export function progress(
  stream: ProgressStream,
  opts: { delayMs?: number; tickMs?: number; now?: () => number } = {},
) {
  const on = !!stream.isTTY;
  // CTB_PROGRESS_DELAY_MS: how long an activity runs before it is shown (tests use 0)
  const delay = opts.delayMs ?? Number(process.env.CTB_PROGRESS_DELAY_MS ?? 2000);
  const now = opts.now ?? Date.now;
  let text = "";
  let since = now();
  let shown = false;
  let timer: NodeJS.Timeout | undefined;
  const clear = () => {
    if (shown) stream.write("\r\x1b[2K");
    shown = false;
  };
  const draw = () => {
    if (!on || !text) return;
    if (now() - since < delay) return;
    const secs = Math.floor((now() - since) / 1000);
    const line = `${text} (${secs}s)`;
    const width = (stream.columns ?? 100) - 1;
    stream.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    shown = true;
  };
  const set = (t: string, restart = true) => {
    if (!on) return;
    text = t;
    if (restart) {
      since = now();
      clear(); // a new activity shows only once it too takes a while
    }
    draw();
    if (!timer) {
      timer = setInterval(draw, opts.tickMs ?? 500);
      timer.unref();
    }
  };
  return {
    enabled: on,
    /** Shows `text` as what is running now (its clock starts now). */
    phase: (t: string) => set(t),
    /** Runner events: each step's start, a matrix's probes done/total. */
    onEvent(ev: RunEvent): void {
      if (ev.type === "step") set(`step ${ev.step.index + 1}: ${ev.step.title ?? ev.step.kind}`);
      else if (ev.type === "progress")
        set(
          `step ${ev.step.index + 1}: ${ev.step.title ?? ev.step.kind} — probes ${ev.done}/${ev.total}`,
          false,
        );
    },
    /** Both this and another event handler. */
    tee(other?: (ev: RunEvent) => void): (ev: RunEvent) => void {
      return (ev) => {
        this.onEvent(ev);
        other?.(ev);
      };
    },
    /** A stream whose writes clear the progress line first (it is redrawn on the next tick). */
    wrap<S extends { write(s: string): unknown }>(out: S): { write(s: string): unknown } {
      return {
        write: (s: string) => {
          clear();
          return out.write(s);
        },
      };
    },
    /** Removes the line and stops the clock. */
    done(): void {
      clear();
      text = "";
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
