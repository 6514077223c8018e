/**
 * The web view (issue 22) in headless Chromium on the bench world (bench/world.ts: namespaces × 10 pods with
 * NetworkPolicies), per size:
 * - time to first render: a fresh page load of the Configuration page until it is drawn;
 * - the Reachability page: until the pods × pods matrix is drawn, split into the server's part (the matrix
 *   request: the datapath's dry run and the Kubernetes oracle for every cell) and the browser's (the rest);
 * - responsiveness: the matrix page's answer to the pointer (on the canvas the cell readout is rewritten; on
 *   the table nothing runs but the browser's own work), from the event to the next frame, p50/p95/max over
 *   200 moves, against the 100 ms.
 * Ratios are against the first size, measured in the same run; the load average is printed before and after.
 * The world is brought up once per size (not timed).
 *
 * Run: `npm run bench -- web` (shipped code) or `node --import tsx bench/web.bench.ts [pods…]` (default 100 1000;
 * the client served is the built one, dist/web: `npm run build` first).
 * Needs chromium (`bash .ci/setup.sh`); `CTB_CHROMIUM` names another binary.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startTestbed } from "../testbed/env";
import { runScenario } from "../testbed/runner/run";
import { loadScenario } from "../testbed/scenario/load";
import { DEFAULT_ASSETS, startWebServer } from "../web/server/server";
import { load, pct } from "./support";
import { writeWorld } from "./world";

const SIZES = process.argv.slice(2).map(Number);
if (SIZES.length === 0) SIZES.push(100, 1000);
const CHROMIUM = process.env.CTB_CHROMIUM ?? "/usr/bin/chromium";
const ms = (x: number) => `${x.toFixed(0)} ms`;

// Run in the page (strings: this file is type-checked without the DOM's types).
/** How long the matrix request took, from the browser's resource timing. */
const SERVER_TIME = `(() => {
  const e = performance.getEntriesByType("resource").filter((r) => r.name.includes("/api/matrix")).at(-1);
  return e ? e.responseEnd - e.startTime : NaN;
})()`;
/** 200 pointer moves over the matrix, each timed from the event to the next frame. */
const POINTER = `(async () => {
  const target = document.querySelector("canvas.heat") ?? document.querySelector("table.matrix");
  const r = target.getBoundingClientRect();
  const times = [];
  for (let k = 0; k < 200; k++) {
    const x = r.left + ((k * 37) % 100) * (r.width / 100) + 1;
    const y = r.top + ((k * 53) % 100) * (r.height / 100) + 1;
    const el = document.elementFromPoint(x, y) ?? target;
    const t0 = performance.now();
    el.dispatchEvent(new MouseEvent("mousemove", { clientX: x, clientY: y, bubbles: true }));
    el.dispatchEvent(new MouseEvent("mouseover", { clientX: x, clientY: y, bubbles: true }));
    await new Promise((done) => requestAnimationFrame(() => done()));
    times.push(performance.now() - t0);
  }
  return times;
})()`;

interface Figures {
  firstRender: number;
  matrix: number;
  server: number;
  interaction: number[];
}

async function measure(pods: number): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), "ctb-bench-web-"));
  try {
    writeWorld(dir, { pods });
    const scenario = loadScenario(join(dir, "scenario.yaml"));
    scenario.steps = scenario.steps.filter((st) => st.kind !== "matrix"); // the page computes its own
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    const report = await runScenario(scenario, tb);
    const web = await startWebServer({
      tb,
      scenario: { file: scenario.file, name: scenario.name },
      netpol: { layout: scenario.controller.netpolLayout ?? "upstream", clusterName: "k8s" },
      report: () => report,
    });
    // --no-sandbox: Chromium's sandbox refuses to start as root (CI machines); the page is ours, on loopback
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      let t = performance.now();
      await page.goto(`${web.url}#/config`);
      await page.waitForSelector('main[data-ready][data-page="config"]');
      const firstRender = performance.now() - t;

      t = performance.now();
      await page.evaluate('location.hash = "#/reach?proto=tcp&port=80"');
      await page.waitForSelector('main[data-ready][data-page="reach"] :is(table.matrix, canvas.heat)', {
        timeout: 600_000,
      });
      const matrix = performance.now() - t;
      const server = (await page.evaluate(SERVER_TIME)) as number;
      // the pointer over 200 cells: each move's handling, from the event to the next frame drawn
      const interaction = (await page.evaluate(POINTER)) as number[];
      return { firstRender, matrix, server, interaction };
    } finally {
      await browser.close();
      await web.close();
      await tb.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: bash .ci/setup.sh installs it`);
  if (!existsSync(join(DEFAULT_ASSETS, "app.js")))
    throw new Error(`${DEFAULT_ASSETS} is not built: npm run build`);
  {
    console.log(`web: sizes ${SIZES.join(", ")}; load average ${load()}`);
    let base: Figures | undefined;
    for (const pods of SIZES) {
      const before = load();
      const f = await measure(pods);
      base ??= f;
      const ratio = (a: number, b: number) => `×${(a / b).toFixed(1)}`;
      console.log(
        [
          `${pods} pods`,
          `first render ${ms(f.firstRender)} (${ratio(f.firstRender, base.firstRender)})`,
          `matrix drawn ${ms(f.matrix)} (${ratio(f.matrix, base.matrix)}; server ${ms(f.server)}, browser ${ms(f.matrix - f.server)}; ${pods * (pods - 1)} cells)`,
          `pointer p50 ${ms(pct(f.interaction, 50))} p95 ${ms(pct(f.interaction, 95))} max ${ms(Math.max(...f.interaction))} (target < 100 ms)`,
          `load ${before} → ${load()}`,
        ].join("; "),
      );
    }
  }
}

await main();
