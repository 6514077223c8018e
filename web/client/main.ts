/**
 * The web view's client: a hash router over the pages (each an async function returning its DOM), the
 * header's environment line, and the server's pushed events (`/api/events`): a config change refreshes the
 * Configuration and Topology pages, a vrouter change the page of that vrouter. No polling.
 */
import { discardMountHooks, errorBox, getJson, h, mounted, route } from "./dom";
import { configPage } from "./pages/config";
import { reachPage } from "./pages/reach";
import { reportPage } from "./pages/report";
import { topologyPage } from "./pages/topology";
import { tracePage } from "./pages/trace";
import { vrouterPage } from "./pages/vrouter";

interface Summary {
  scenario: { file: string; name: string; model?: string };
  datapath: string;
  layout: string;
  vrouters: string[];
}

let summary: Summary | undefined;
let rendering = 0;

async function render(): Promise<void> {
  const mine = ++rendering;
  discardMountHooks();
  // not ready until this page is drawn (the last page's marker must not answer for this one)
  document.getElementById("page")!.removeAttribute("data-ready");
  // a page that takes a while (a large matrix) says so instead of leaving the last one up
  const busy = setTimeout(() => {
    if (mine === rendering) showBusy("Loading…");
  }, 150);
  const { page, rest, params } = route();
  for (const a of document.querySelectorAll<HTMLAnchorElement>("header nav a"))
    a.classList.toggle("current", a.dataset.page === page);
  let el: HTMLElement;
  try {
    summary ??= await getJson<Summary>("/api/summary");
    const env = document.getElementById("env")!;
    const model = summary.scenario.model ?? "r5";
    // NetworkPolicy layouts exist in r5 only (r4 translates them into security groups)
    env.textContent = `${summary.scenario.name} · ${model} objects${model === "r5" ? `, ${summary.layout} NetworkPolicy layout` : ""} · ${summary.datapath} datapath`;
    switch (page) {
      case "topology":
        el = await topologyPage();
        break;
      case "reach":
        el = await reachPage(params);
        break;
      case "trace":
        el = await tracePage(params);
        break;
      case "vrouter":
        el = await vrouterPage(rest, summary.vrouters);
        break;
      case "report":
        el = await reportPage(rest);
        break;
      default:
        el = await configPage(rest, params);
    }
  } catch (e) {
    el = errorBox(e);
  }
  clearTimeout(busy);
  if (mine !== rendering) return; // a newer navigation won (its render discards this one's hooks)
  document.getElementById("busy")?.remove();
  const main = document.getElementById("page")!;
  main.replaceChildren(el);
  mounted();
  main.dataset.page = page;
  main.dataset.ready = "true";
}

function showBusy(text: string): void {
  let el = document.getElementById("busy");
  if (!el) {
    el = h("div", { id: "busy", role: "status" });
    document.body.appendChild(el);
  }
  el.textContent = text;
}

function listen(): void {
  const events = new EventSource("/api/events");
  events.addEventListener("progress", (ev) => {
    const p = JSON.parse((ev as MessageEvent).data) as { what: string; done: number; total: number };
    if (document.getElementById("busy"))
      showBusy(`Computing the ${p.what}: ${p.done.toLocaleString()} of ${p.total.toLocaleString()} cells…`);
  });
  events.addEventListener("config", () => {
    const { page, rest } = route();
    // an object page re-reads its object; lists and the topology redraw
    if ((page === "config" && !document.querySelector("input:focus")) || page === "topology") void render();
    else if (page === "config" && rest) void render();
  });
  events.addEventListener("vrouter", (ev) => {
    const { node } = JSON.parse((ev as MessageEvent).data) as { node: string };
    const { page, rest } = route();
    if (page === "vrouter" && (rest || summary?.vrouters[0]) === node) void render();
  });
  events.addEventListener("error", () => {
    document.getElementById("env")?.classList.add("offline");
  });
  events.addEventListener("open", () => {
    document.getElementById("env")?.classList.remove("offline");
  });
}

window.addEventListener("hashchange", () => void render());
document.body.appendChild(h("footer", null, "read-only view of a contrail-k8s-testbed environment"));
void render();
listen();
