/** Scenario report: the environment's run, every expectation with its verdict, what it showed and why it failed. */
import { errorBox, getJson, h } from "../dom";

interface Check {
  step: number;
  line: number;
  title?: string;
  kind: string;
  name: string;
  verdict: "pass" | "fail" | "error";
  detail?: string;
  output?: string;
  durationMs?: number;
}
interface Report {
  scenario: string;
  file: string;
  checks: Check[];
  warnings: { step: number; line: number; text: string }[];
  startedAt: string;
  durationMs: number;
  passed: number;
  failed: number;
}

export async function reportPage(which: string): Promise<HTMLElement> {
  try {
    const r = await getJson<{ ready: boolean; report?: Report; lastRun?: { at: string; reports: Report[] } }>(
      "/api/report",
    );
    const tabs = h(
      "nav",
      { class: "tabs" },
      h(
        "a",
        { href: "#/report", class: which === "last-run" ? "tab" : "tab current" },
        "This environment's run",
      ),
      r.lastRun
        ? h(
            "a",
            { href: "#/report/last-run", class: which === "last-run" ? "tab current" : "tab" },
            `Last ctb run (${r.lastRun.at})`,
          )
        : null,
    );
    if (which === "last-run") {
      if (!r.lastRun)
        return h("div", null, tabs, h("p", null, "No `ctb run` has finished in this directory."));
      return h("div", null, tabs, r.lastRun.reports.map(reportView));
    }
    if (!r.ready || !r.report) return h("div", null, tabs, h("p", null, "The scenario is still running."));
    return h("div", null, tabs, reportView(r.report));
  } catch (e) {
    return errorBox(e);
  }
}

function reportView(rep: Report): HTMLElement {
  let lastStep = -1;
  return h(
    "div",
    { class: "report" },
    h(
      "p",
      { class: `summary ${rep.failed ? "fail" : "pass"}` },
      `${rep.scenario} (${rep.file}): ${rep.passed} passed, ${rep.failed} failed, ${(rep.durationMs / 1000).toFixed(1)} s, started ${rep.startedAt}`,
    ),
    rep.warnings.length
      ? h(
          "ul",
          { class: "warnings" },
          rep.warnings.map((w) => h("li", null, `line ${w.line}: ${w.text}`)),
        )
      : null,
    h(
      "ol",
      { class: "checks" },
      rep.checks.map((c) => {
        const head = c.step !== lastStep && c.title ? h("h3", null, c.title) : null;
        lastStep = c.step;
        return h(
          "li",
          { class: `check ${c.verdict}` },
          head,
          h("span", { class: `badge ${c.verdict}` }, c.verdict),
          " ",
          h("span", { class: "name" }, c.name),
          h("span", { class: "line" }, ` (line ${c.line})`),
          traceLink(c),
          c.output ? h("details", null, h("summary", null, "output"), h("pre", null, c.output)) : null,
          c.detail ? h("pre", { class: "detail" }, c.detail) : null,
        );
      }),
    ),
  );
}

/**
 * A reach expectation's probe, traced again in the environment as it is now (the run's own probes are gone):
 * the runner names a probe `<from> → <to> <proto>[/<port>] expect <verdict>`.
 */
function traceLink(c: Check): HTMLElement | null {
  if (c.kind !== "reach") return null;
  const m = /^(\S+) → (\S+) (icmp|tcp|udp|sctp)(?:\/(\d+))? expect /.exec(c.name);
  if (!m) return null;
  const q = new URLSearchParams({ from: m[1]!, to: m[2]!, proto: m[3]!, ...(m[4] ? { port: m[4] } : {}) });
  return h(
    "a",
    { class: "trace-link", href: `#/trace?${q}`, title: "trace this probe in the environment now" },
    " trace",
  );
}
