/**
 * `ctb diff <A> <B> [--netpol-layout L] [--json]`: what gets through in A and not in B and the reverse, workload by
 * workload, with the objects responsible on each side (runner/diff.ts). A side is a scenario file, a scenario
 * file run only to its N-th step (`churn.yaml@2`), or a file of Kubernetes manifests (applied to two nodes, r5).
 * Both run in testbeds of their own on the simulated datapath and the embedded cluster. Exit 0 when nothing
 * differs, 1 when something does (as diff(1)), 2 for a bad command line or file.
 *
 * Example: `ctb diff policy-old.yaml policy-new.yaml`, `ctb diff scenarios/churn.yaml@1 scenarios/churn.yaml@2`
 */
import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import type { EnvTestbed } from "../env";
import type { Scenario } from "../scenario/types";
import { parseVerbArgs, UsageError } from "./flags";
import { onTeardown, say } from "./lifecycle";

/** `file` or `file@N` → the file and the number of steps to run (all by default). */
function sideSpec(arg: string): { file: string; steps?: number; label: string } {
  const m = /^(.*)@(\d+)$/.exec(arg);
  if (m) return { file: m[1]!, steps: Number(m[2]), label: `${m[1]} after step ${m[2]}` };
  return { file: arg, label: arg };
}

async function loadSide(spec: ReturnType<typeof sideSpec>): Promise<Scenario> {
  const { parseScenario } = await import("../scenario/load");
  let text: string;
  try {
    text = readFileSync(spec.file, "utf8");
  } catch (e) {
    throw new UsageError(
      `${spec.file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`,
    );
  }
  const first = parseAllDocuments(text)[0]?.toJS?.() as Record<string, unknown> | undefined;
  // a scenario has steps; anything else is taken as manifests, applied as they are
  const scenario =
    first && typeof first === "object" && "steps" in first
      ? parseScenario(text, spec.file)
      : parseScenario(
          JSON.stringify({
            name: basename(spec.file),
            controller: { model: "r5" },
            nodes: ["node-1", "node-2"],
            steps: [{ apply: { file: resolve(spec.file) } }],
          }),
          spec.file,
        );
  if (spec.steps !== undefined) {
    if (spec.steps < 1 || spec.steps > scenario.steps.length)
      throw new UsageError(
        `${spec.file}@${spec.steps}: the scenario has steps 1 to ${scenario.steps.length}`,
      );
    return { ...scenario, steps: scenario.steps.slice(0, spec.steps) };
  }
  return scenario;
}

export async function diff(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, {
    json: { type: "boolean" },
    "netpol-layout": { type: "string" },
  });
  if (positionals.length !== 2)
    throw new UsageError(`two sides, <A> and <B>, are needed (got ${positionals.length})`);
  const layout = values["netpol-layout"] as string | undefined;
  if (layout !== undefined && layout !== "upstream" && layout !== "kubernetes")
    throw new UsageError(`--netpol-layout must be upstream or kubernetes, not "${layout}"`);
  const specs = positionals.map(sideSpec);
  const scenarios: Scenario[] = [];
  for (const spec of specs) {
    const s = await loadSide(spec);
    scenarios.push(
      layout ? { ...s, controller: { ...s.controller, netpolLayout: layout as "upstream" } } : s,
    );
  }
  const { startTestbed } = await import("../env");
  const { runScenario } = await import("../runner/run");
  const { formatDiff, semanticDiff } = await import("../runner/diff");
  const tbs: EnvTestbed[] = [];
  const closeAll = async () => {
    for (const tb of tbs.splice(0)) await tb.close();
  };
  const off = onTeardown(closeAll);
  try {
    for (const [i, scenario] of scenarios.entries()) {
      const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
      tbs.push(tb);
      // a side is a state to compare, not a test: one that checks nothing is fine
      const r = await runScenario(scenario, tb, { allowNoExpectations: true });
      // a side's own expectations are not the question here, but a failed one is worth knowing
      if (r.failed)
        say(
          `ctb diff: ${specs[i]!.label}: ${r.failed} of its checks failed (its flows are compared as they are)`,
        );
    }
    const { netpolContext } = await import("../runner/matrix-check");
    const netpol = (s: Scenario) => netpolContext(s.controller);
    const d = await semanticDiff(
      { label: specs[0]!.label, tb: tbs[0]!, netpol: netpol(scenarios[0]!) },
      { label: specs[1]!.label, tb: tbs[1]!, netpol: netpol(scenarios[1]!) },
    );
    // the environment that is up (if one is) may run another datapath or cluster than the sides do: say so
    const { readSession } = await import("./session");
    const { copiesNote } = await import("../runner/why");
    const s = readSession();
    const note = s?.ready ? copiesNote(s.datapath, s.cluster) : undefined;
    if (note)
      d.copyNote = note
        .replace("the copies ran", "both sides ran")
        .replace("this environment runs", "the environment that is up runs");
    process.stdout.write(values.json ? `${JSON.stringify(d, null, 2)}\n` : formatDiff(d));
    return d.differences.length ? 1 : 0;
  } finally {
    off();
    await closeAll();
  }
}
