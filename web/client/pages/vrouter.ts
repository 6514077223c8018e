/**
 * Per vrouter, introspect-like: interfaces with counters, VRFs and their routes, next-hops, flows, drop
 * counters. Live: main.ts re-renders this page when the server pushes a `vrouter` event for this compute.
 */
import type { VrouterPage } from "../../shared/views";
import { errorBox, getJson, h, table } from "../dom";

export async function vrouterPage(rest: string, vrouters: string[]): Promise<HTMLElement> {
  const node = rest || vrouters[0] || "";
  const tabs = h(
    "nav",
    { class: "tabs" },
    vrouters.map((v) => h("a", { href: `#/vrouter/${v}`, class: v === node ? "tab current" : "tab" }, v)),
  );
  if (!node) return h("div", null, tabs, h("p", null, "This environment has no vrouter."));
  let body: HTMLElement;
  try {
    const p = await getJson<VrouterPage>(`/api/vrouter/${encodeURIComponent(node)}`);
    const dropList = Object.entries(p.drops);
    body = h(
      "div",
      { class: "vrouter", "data-node": p.node },
      h(
        "p",
        { class: "summary" },
        `${p.node}: fabric ${p.fabricIp}, config version ${p.configVersion}, ${p.interfaces.length} interfaces, ${p.vrfs.length} VRFs, ${p.flowCount} flows`,
        h(
          "span",
          { class: "live", title: "updated when the agent recomputes or a probe makes flows" },
          " ● live",
        ),
      ),
      h("h3", null, "Interfaces"),
      table(
        [
          "vif",
          "name",
          "type",
          "address",
          "MAC",
          "VRF",
          "network",
          "policy",
          "floating IPs",
          "rx",
          "tx",
          "drops",
        ],
        p.interfaces.map((i) => [
          `0/${i.index}`,
          i.vmi ? h("a", { href: `#/config/${i.vmi}` }, i.name) : i.name,
          i.type,
          i.ip ?? "",
          i.mac,
          i.vrf,
          i.vn ?? "",
          i.policy ? "yes" : "no",
          i.floatingIps.join(", "),
          i.rx,
          i.tx,
          i.drops
            ? `${i.drops} (${Object.entries(i.dropReasons)
                .map(([k, n]) => `${k} ${n}`)
                .join(", ")})`
            : "0",
        ]),
      ),
      h("h3", null, "VRFs and routes"),
      p.vrfs.map((v) =>
        h(
          "details",
          { class: "vrf" },
          h("summary", null, `VRF ${v.id} ${v.name} (${v.routes.length} routes)`),
          table(
            ["prefix", "next-hop", "label", "destination VNs", "from"],
            v.routes.map((r) => [r.prefix, r.nh, r.label ?? "", r.destVns.join(", "), r.origin ?? ""]),
          ),
        ),
      ),
      h("h3", null, "Drop counters"),
      dropList.length
        ? table(
            ["reason", "packets"],
            dropList.map(([k, n]) => [k, n]),
          )
        : h("p", null, "No drops."),
      h("h3", null, "Next-hops (nh --list)"),
      h("pre", null, p.text.nh),
      h("h3", null, "Flows (flow -l)"),
      h("pre", { class: "flows" }, p.text.flow),
      h("h3", null, "dropstats"),
      h("pre", null, p.text.dropstats),
    );
  } catch (e) {
    body = errorBox(e);
  }
  return h("div", null, tabs, body);
}
