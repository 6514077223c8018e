/**
 * Writes the screenshots of the web view's pages that docs/ and README.md show (docs/web/<page>.png), from the
 * section 9 environment in headless Chromium, so they can be redone whenever the pages change:
 *
 *   npx tsx web/screenshots.ts            (needs chromium: bash .ci/setup.sh installs it)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { startTestbed } from "../testbed/env";
import { runScenario } from "../testbed/runner/run";
import { loadScenario } from "../testbed/scenario/load";
import { bundleWebClient } from "./client/bundle.mjs";
import { startWebServer } from "./server/server";

const out = resolve(import.meta.dirname, "../docs/web");
const assets = mkdtempSync(join(tmpdir(), "ctb-web-"));
await bundleWebClient(assets);
const scenario = loadScenario(resolve(import.meta.dirname, "../scenarios/section-9.yaml"));
const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
const report = await runScenario(scenario, tb);
const web = await startWebServer({
  tb,
  scenario: {
    model: scenario.controller.model ?? "r5",
    file: "scenarios/section-9.yaml",
    name: scenario.name,
  },
  netpol: { layout: "upstream", clusterName: "k8s" },
  report: () => report,
  assetsDir: assets,
});
// --no-sandbox: Chromium's sandbox refuses to start as root (CI, containers); the page is our own, on loopback
const browser = await chromium.launch({
  executablePath: process.env.CTB_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const shot = async (hash: string, file: string, then?: () => Promise<void>) => {
    await page.goto(`${web.url}${hash}`);
    await page.waitForSelector("main[data-ready]");
    await then?.();
    await page.waitForTimeout(200);
    await page.screenshot({ path: join(out, file) });
    console.log(`docs/web/${file}`);
  };
  await shot("#/config?q=cluster-network", "configuration.png", async () => {
    await page.locator('a.obj[data-type="virtual-network"]', { hasText: "cluster-network" }).first().click();
    await page.waitForSelector("section.detail");
  });
  await shot("#/topology", "topology.png", async () => {
    await page.waitForSelector("#cy canvas");
  });
  await shot("#/reach", "reachability.png");
  await shot("#/reach", "trace.png", async () => {
    await page.locator('td[data-from^="default/example1-"][data-to^="test-isolated-ns/example3-"] a').click();
    await page.waitForSelector("ol.stages");
  });
  await shot("#/vrouter/b3s37", "vrouter.png");
  await shot("#/report", "report.png");
} finally {
  await browser.close();
  await web.close();
  await tb.close();
  rmSync(assets, { recursive: true, force: true });
}
