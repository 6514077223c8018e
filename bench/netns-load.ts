/**
 * What the netns traffic benches share: a world started from a scenario's text on the netns datapath, and a
 * load generator run inside a namespace — `concurrency` loops of one request each, for `seconds`, printing
 * requests, errors and p50/p99 latency as JSON — so every path of a bench is measured the same way.
 *
 * Example: `const f = await loadIn(ns, LOOP, "…one request…", { seconds: 3, concurrency: 4 })`.
 */
import { join } from "node:path";
import { execIn } from "../fake-vrouter/netns/ns";
import { startTestbed } from "../testbed/env";
import { runScenario } from "../testbed/runner/run";
import { parseScenario } from "../testbed/scenario/load";

export interface LoadFigures {
  n: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

/**
 * Runs `setup` then `concurrency` copies of `one` (a JS function body that calls `ok()` or `fail()` once per
 * request) in a node process inside `netns`, for `seconds`.
 */
export async function loadIn(
  netns: string,
  setup: string,
  one: string,
  o: { seconds: number; concurrency: number },
): Promise<LoadFigures> {
  const script = `${setup}
const lat = []; let errors = 0; const end = Date.now() + ${o.seconds * 1000};
function one() {
  if (Date.now() > end) return Promise.resolve();
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let settled = false;
    const ok = () => { if (settled) return; settled = true; lat.push(Number(process.hrtime.bigint() - t0) / 1e6); resolve(); };
    const fail = () => { if (settled) return; settled = true; errors++; resolve(); };
    ${one}
  }).then(one);
}
const t = Date.now();
Promise.all(Array.from({ length: ${o.concurrency} }, one)).then(() => {
  lat.sort((a, b) => a - b);
  const p = (x) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))];
  console.log(JSON.stringify({ n: lat.length, errors, seconds: (Date.now() - t) / 1000, p50: p(0.5), p99: p(0.99) }));
});`;
  const r = await execIn(netns, process.execPath, ["-e", script], { timeoutMs: (o.seconds + 30) * 1000 });
  if (r.code !== 0) throw new Error(`load generator in ${netns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as LoadFigures;
}

export const perSecond = (f: LoadFigures) => f.n / f.seconds;

/** One printed row: label, rate, p50, p99, counts. */
export const figuresLine = (label: string, f: LoadFigures, unit: string, width = 48) =>
  `${label.padEnd(width)} ${perSecond(f).toFixed(0).padStart(6)} ${unit}/s  p50 ${f.p50.toFixed(2)} ms  p99 ${f.p99.toFixed(2)} ms  (${f.n} answered, ${f.errors} errors)`;

/** The bench's world: its scenario text run on the netns datapath; throws if any of its checks failed. */
export async function netnsWorld(text: string, name: string) {
  const scenario = parseScenario(text, `${name}.yaml`);
  const tb = await startTestbed(scenario, {
    datapath: "netns",
    cluster: { kind: "embedded" },
    workDir: join(process.cwd(), ".ctb", name),
  });
  try {
    const report = await runScenario(scenario, tb);
    if (report.failed > 0) throw new Error("the bench world did not come up (a check failed)");
  } catch (e) {
    await tb.close();
    throw e;
  }
  return tb;
}
