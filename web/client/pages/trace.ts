/**
 * Trace: one packet's path stage by stage (vif, flow, policy, route, next-hop, NAT, tunnel) with the Contrail
 * object each stage used and the Kubernetes object behind it, the deciding stage marked, the drop reason, and
 * Kubernetes' own verdict beside Contrail's.
 */
import type { TraceStage as Stage, TraceView } from "../../shared/views";
import { errorBox, getJson, h } from "../dom";

export async function tracePage(params: URLSearchParams): Promise<HTMLElement> {
  const from = params.get("from") ?? "";
  const to = params.get("to") ?? "";
  const proto = params.get("proto") ?? "icmp";
  const port = params.get("port") ?? "";
  const field = (name: string, value: string, placeholder: string) =>
    h("input", { name, value, placeholder, "aria-label": name }) as HTMLInputElement;
  const f = field("from", from, "namespace/pod");
  const t = field("to", to, "namespace/pod or address");
  const pr = field("proto", proto, "icmp, tcp, udp, sctp");
  const po = field("port", port, "port");
  const form = h(
    "form",
    {
      class: "controls",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const q = new URLSearchParams({
          from: f.value,
          to: t.value,
          proto: pr.value,
          ...(po.value ? { port: po.value } : {}),
        });
        location.hash = `#/trace?${q}`;
      },
    },
    f,
    t,
    pr,
    po,
    h("button", { type: "submit" }, "Trace"),
  );
  if (!from || !to)
    return h(
      "div",
      { class: "trace" },
      form,
      h("p", null, "Pick a cell on the Reachability page, or name two pods."),
    );
  let body: HTMLElement;
  try {
    const q = new URLSearchParams({ from, to, proto, ...(port ? { port } : {}) });
    body = traceView(await getJson<TraceView>(`/api/trace?${q}`));
  } catch (e) {
    body = errorBox(e);
  }
  return h("div", { class: "trace" }, form, body);
}

function traceView(v: TraceView): HTMLElement {
  const diverge = v.kubernetes !== undefined && v.kubernetes !== v.contrail;
  return h(
    "section",
    null,
    h("h2", null, `${v.from} → ${v.to} (${v.toIp}) ${v.proto}${v.port ? `/${v.port}` : ""}`),
    h(
      "div",
      { class: "verdicts" },
      h(
        "p",
        { class: `verdict ${v.contrail}` },
        `Contrail: ${v.contrail === "allow" ? "delivered" : "blocked"}`,
      ),
      v.kubernetes
        ? h(
            "p",
            { class: `verdict ${v.kubernetes}` },
            `Kubernetes: ${v.kubernetes === "allow" ? "allows" : "denies"}`,
          )
        : null,
    ),
    diverge
      ? h("p", { class: "diverge-note" }, "Contrail and Kubernetes NetworkPolicy semantics disagree here.")
      : null,
    h("p", { class: "decided" }, h("strong", null, "Decided by: "), v.decidedBy),
    v.decidingObject
      ? h(
          "p",
          { class: "deciding-object" },
          h("strong", null, "Deciding Contrail object: "),
          v.decidingObject.uuid
            ? h(
                "a",
                { href: `#/config/${v.decidingObject.uuid}` },
                `${v.decidingObject.type} ${v.decidingObject.fqName}`,
              )
            : `${v.decidingObject.type} ${v.decidingObject.fqName}`,
        )
      : null,
    v.kubernetesObject
      ? h("p", { class: "deciding-kube" }, h("strong", null, "Kubernetes object: "), v.kubernetesObject)
      : null,
    v.why ? h("p", { class: "why" }, h("strong", null, "Why: "), v.why) : null,
    v.kubernetesReason
      ? h("p", { class: "k8s-reason" }, h("strong", null, "Kubernetes' reason: "), v.kubernetesReason)
      : null,
    v.drop
      ? h("p", { class: "drop" }, h("strong", null, "Drop: "), `${v.drop.reason} at ${v.drop.where}`)
      : null,
    h(
      "ol",
      { class: "stages" },
      v.stages.map((s) =>
        h(
          "li",
          { class: `stage${s.deciding ? " deciding" : ""}${s.outcome ? ` ${s.outcome.split(" ")[0]}` : ""}` },
          h("span", { class: "where" }, s.where),
          " ",
          h("span", { class: "stage-name" }, s.stage, s.outcome ? `(${s.outcome})` : ""),
          " ",
          s.text,
          s.contrail
            ? h(
                "span",
                { class: "contrail-obj" },
                " ",
                s.contrail.uuid
                  ? h("a", { href: `#/config/${s.contrail.uuid}` }, `${s.contrail.type} ${s.contrail.fqName}`)
                  : `${s.contrail.type} ${s.contrail.fqName}`,
              )
            : null,
          s.kube ? h("span", { class: "kube-obj" }, ` ← ${s.kube.kind} ${s.kube.name}`) : null,
          s.deciding ? h("strong", { class: "deciding-mark" }, " ◀ deciding") : null,
        ),
      ),
    ),
    v.firewall.length
      ? h(
          "div",
          null,
          h("h3", null, "Firewall decisions"),
          h(
            "ul",
            null,
            v.firewall.map((d) =>
              h(
                "li",
                null,
                `${d.where} end on ${d.compute}: ${d.action}`,
                d.rule
                  ? ` by firewall-rule ${d.rule} (sequence ${d.sequence}) of ${d.policy}`
                  : ` (no rule of ${d.policy ?? "any policy"} matched)`,
              ),
            ),
          ),
        )
      : null,
  );
}
