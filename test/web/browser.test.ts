/**
 * The web view in a real browser (Debian's chromium, driven by playwright-core; tier BROWSER): the section 9
 * environment, looked at as a user would — the isolated namespace's network on the topology, the matrix with
 * example1 → example3 blocked and example3 → example1 allowed, that cell's trace naming the deciding objects,
 * cluster-network's configuration page with its refs, a vrouter page that follows a new pod without a reload,
 * the scenario's report. The client is bundled from the sources into a directory of the test's own.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EnvTestbed, startTestbed } from "../../testbed/env";
import { jsonReport } from "../../testbed/runner/report";
import { type RunReport, runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";
import { startWebServer, type WebServer } from "../../web/server/server";
import { requireTier } from "../support/tiers";

const CHROMIUM = process.env.CTB_CHROMIUM ?? "/usr/bin/chromium";
const usable = requireTier(
  "BROWSER",
  existsSync(CHROMIUM),
  `needs Debian's chromium at ${CHROMIUM} (bash .ci/setup.sh installs it)`,
);

describe.skipIf(!usable)("web view in a browser (section 9)", () => {
  let tb: EnvTestbed;
  let web: WebServer;
  let browser: Browser;
  let page: Page;
  let report: RunReport;
  let assets: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    assets = mkdtempSync(join(tmpdir(), "ctb-web-"));
    const { bundleWebClient } = await import("../../web/client/bundle.mjs");
    await bundleWebClient(assets);
    const scenario = loadScenario("scenarios/section-9.yaml");
    tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    report = await runScenario(scenario, tb);
    web = await startWebServer({
      tb,
      scenario: { model: scenario.controller.model ?? "r5", file: scenario.file, name: scenario.name },
      netpol: { layout: "upstream", clusterName: "k8s" },
      report: () => report,
      lastRunFile: join(assets, "last-run.json"),
      assetsDir: assets,
    });
    const { chromium } = await import("playwright-core");
    // The CI machine runs tests as root, and Chromium refuses to start its setuid/namespace sandbox as root;
    // --no-sandbox is the only way to run it there. The page it opens is our own, on loopback.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (e) => pageErrors.push(e.message));
  });
  afterAll(async () => {
    await browser?.close();
    await web?.close();
    await tb?.close();
    if (assets) rmSync(assets, { recursive: true, force: true });
  });

  const open = async (hash: string) => {
    const same = page.url() === `${web.url}${hash}`;
    // the page drawn before must not answer for this one (hashchange comes after goto returns)
    if (page.url().startsWith(web.url))
      await page.evaluate('document.getElementById("page").removeAttribute("data-ready")');
    await page.goto(`${web.url}${hash}`);
    if (same) await page.reload(); // the same hash fires no hashchange
    await page.waitForSelector(`main[data-ready][data-page="${hash.slice(2).split(/[/?]/)[0]}"]`);
  };

  it("draws the topology with the isolated namespace's network", async () => {
    expect(report.failed).toBe(0);
    await open("#/topology");
    await page.waitForSelector("#cy canvas");
    const elements = await page.locator("details.elements li").allTextContents();
    expect(elements).toContain("network: test-isolated-ns-vn (isolated)");
    expect(elements).toContain("network: cluster-network");
    expect(elements.filter((e) => e.startsWith("compute: "))).toHaveLength(2);
    expect(elements.some((e) => e.startsWith("pod: test-isolated-ns/example3-"))).toBe(true);
    expect(elements.some((e) => e.startsWith("service: web"))).toBe(true);
    // the graph itself has the network, with its isolation shown in its details when selected
    const details = await page.evaluate(() => {
      const cy = (globalThis as unknown as { cy: import("cytoscape").Core }).cy;
      const vn = cy.nodes().filter((n) => n.data("label") === "test-isolated-ns-vn (isolated)");
      vn.emit("tap");
      return vn.length;
    });
    expect(details).toBe(1);
    await expect.poll(() => page.locator("aside.info").innerText()).toContain("is isolated");
  });

  it("shows the matrix with example1 → example3 blocked and example3 → example1 allowed; the cell opens its trace", async () => {
    await open("#/reach");
    const cell = (from: string, to: string) => page.locator(`td[data-from^="${from}"][data-to^="${to}"]`);
    const blocked = cell("default/example1-", "test-isolated-ns/example3-");
    const allowed = cell("test-isolated-ns/example3-", "default/example1-");
    // blocked by Contrail where Kubernetes (no NetworkPolicy) would allow: the divergence is marked
    expect(await blocked.getAttribute("data-verdict")).toBe("D");
    expect(await blocked.locator("a").getAttribute("title")).toMatch(
      /example1-.* → test-isolated-ns\/example3-.*: blocked by Contrail; Kubernetes allows it/,
    );
    expect(await allowed.getAttribute("data-verdict")).toBe(".");
    expect(await allowed.locator("a").getAttribute("title")).toMatch(/allowed \(Kubernetes agrees\)/);
    expect(await page.locator("p.summary").innerText()).toMatch(
      /4 pods, icmp: 4 cell\(s\) where Contrail and Kubernetes disagree/,
    );

    await blocked.locator("a").click();
    await page.waitForSelector('main[data-ready][data-page="trace"] ol.stages');
    const text = await page.locator("main").innerText();
    expect(text).toContain("Contrail: blocked");
    expect(text).toContain("Kubernetes: allows");
    expect(text).toContain("Drop: NOWHERE_TO_GO at b3s37 route");
    expect(text).toMatch(
      /Deciding Contrail object: routing-instance default-domain:default:cluster-network:cluster-network/,
    );
    expect(text).toContain(
      'Kubernetes object: Namespace test-isolated-ns (isolated: opencontrail.kubernetes.isolated: "true")',
    );
    const deciding = page.locator("ol.stages li.deciding");
    // the VRF's number is the agent's, given as VRFs come (as the real agent numbers them): its name says which
    expect(await deciding.innerText()).toMatch(
      /route\(drop\) no route to 10\.47\.255\.\d+ in VRF \d+ \(default-domain:default:cluster-network:cluster-network\)/,
    );
    // a trace names its endpoints as ctb trace does: a pod prefix, a Service (Kubernetes has no verdict on it)
    await open("#/trace?from=default/example1-*&to=service:test-isolated-ns/example3&proto=tcp&port=80");
    const svc = await page.locator("main").innerText();
    expect(svc).toMatch(
      /default\/example1-\S+ → service:test-isolated-ns\/example3 \(10\.96\.1\.\d+\) tcp\/80/,
    );
    expect(svc).toContain("Contrail: delivered");
    expect(svc).not.toContain("Kubernetes: allows");
    await page.goBack();
    await page.waitForSelector("p.deciding-object a");
    // the deciding object opens its configuration page
    await page.locator("p.deciding-object a").click();
    await page.waitForSelector("section.detail");
    expect(await page.locator("section.detail h2").innerText()).toBe("routing-instance cluster-network");
  });

  it("lists cluster-network's refs, back-refs and Kubernetes object on its configuration page (search → object)", async () => {
    await open("#/config");
    await page.fill('input[name="q"]', "cluster-network");
    await page.press('input[name="q"]', "Enter");
    await page.waitForSelector("main[data-ready] h2:has-text('Search: cluster-network')");
    await page.locator('a.obj[data-type="virtual-network"]', { hasText: "cluster-network" }).first().click();
    await page.waitForSelector("section.detail");
    expect(await page.locator("section.detail h2").innerText()).toBe("virtual-network cluster-network");
    expect(await page.locator("dd.kube").innerText()).toBe("Cluster k8s");
    const refs = await page.locator("table.refs tbody tr").allInnerTexts();
    expect(refs.map((r) => r.split("\t").slice(0, 2).join(" "))).toEqual([
      "network_ipam_refs network-ipam k8s-pod-ipam",
      "network_ipam_refs network-ipam k8s-service-ipam",
    ]);
    const back = await page.locator("table.back-refs tbody tr").allInnerTexts();
    expect(
      back.some((r) => /virtual_machine_interface_back_refs\s+virtual-machine-interface example1-/.test(r)),
    ).toBe(true);
    // a ref is a link to its object
    await page.locator("table.refs a.obj", { hasText: "k8s-pod-ipam" }).click();
    await page.waitForSelector("section.detail h2:has-text('k8s-pod-ipam')");
    // search by address: a pod's IP finds its instance-ip
    const ip = (await tb.kube.list("pods", { namespace: "test-isolated-ns" })).items[0]!.status!.podIP!;
    await open(`#/config?q=${ip}`);
    expect(await page.locator("main table").innerText()).toContain("instance-ip");
  });

  it("follows a vrouter live: a pod started on it appears without a reload", async () => {
    await open("#/vrouter/b3s38");
    const before = await page.locator(".vrouter table").first().locator("tbody tr").count();
    await tb.kube.create("pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "late", namespace: "default" },
      spec: { nodeName: "b3s38", containers: [{ name: "c", image: "busybox" }] },
    });
    await tb.settle();
    await expect
      .poll(() => page.locator(".vrouter table").first().locator("tbody tr").count(), { timeout: 10_000 })
      .toBe(before + 1);
    // a packet sent by someone else (a scenario step, ctb trace) moves the interfaces' counters: the page follows
    const counters = () => page.locator(".vrouter table").first().innerText();
    const countersBefore = await counters();
    const pods = (await tb.kube.list("pods", { namespace: "default" })).items;
    const late = pods.find((p) => p.metadata.name === "late")!;
    const e2 = pods.find((p) => p.metadata.name!.startsWith("example2-"))!;
    const r = await tb.probe({
      from: `default/${e2.metadata.name}`,
      toIp: late.status!.podIP!,
      proto: "icmp",
      count: 1,
    });
    expect(r.received).toBe(1);
    await expect.poll(counters, { timeout: 10_000 }).not.toBe(countersBefore);
  });

  it("shows the scenario's report, serves only under its own name, and raised no script error", async () => {
    await open("#/report");
    expect(await page.locator(".report .summary").innerText()).toMatch(/section-9 .*: 11 passed, 0 failed/);
    expect(await page.locator("li.check.pass").count()).toBe(report.passed);
    // a reach expectation links to its probe, traced in the environment now: 9.5's example1 → example3 is blocked
    const link = page.locator("li.check", {
      hasText: "default/example1-* → test-isolated-ns/example3-* icmp",
    });
    const href = await link.locator("a.trace-link").getAttribute("href");
    expect(href).toBe("#/trace?from=default%2Fexample1-*&to=test-isolated-ns%2Fexample3-*&proto=icmp");
    await open(href!);
    await page.waitForSelector('main[data-ready][data-page="trace"] ol.stages');
    expect(await page.locator(".verdict").first().innerText()).toBe("Contrail: blocked");
    await open("#/report");
    // the last `ctb run` here (its JSON report) on a tab of its own
    writeFileSync(join(assets, "last-run.json"), jsonReport([{ ...report, scenario: "from-ctb-run" }]));
    await open("#/report/last-run");
    expect(await page.locator(".report .summary").innerText()).toMatch(
      /^from-ctb-run .*: 11 passed, 0 failed/,
    );
    // a page of another site reaching 127.0.0.1 by DNS rebinding names its own host: refused
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL("/api/summary", web.url);
      http
        .get(
          { host: u.hostname, port: u.port, path: u.pathname, headers: { host: "evil.example:80" } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
        .on("error", reject);
    });
    expect(status).toBe(421);
    expect(pageErrors).toEqual([]);
  });
});
