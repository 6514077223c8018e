/**
 * Service-member and Ingress tags and the `<c>-Ingress` rules (translate/service-tags.ts): which pods an
 * EndpointSlice change touches, the tag a member's VMI carries, the Tags unit's tags and the Ingress policy's
 * rules, as kube-manager (vnc_endpoints.py, vnc_ingress.py) makes them.
 */
import { describe, expect, it } from "vitest";
import { affectedUnits } from "../../controller/affected";
import { defaultConfig } from "../../controller/config";
import type { KubeObject } from "../../controller/kube/api";
import {
  emptySnapshot,
  emptyView,
  type KubeSnapshot,
  Layout,
  memberUids,
  putObject,
  ServiceMembers,
  translateUnit,
  translationContext,
} from "../../controller/translate";
import { node, ns, pod, service, slice } from "./fake-kube";

const layout = new Layout({ ...defaultConfig("r5"), clusterName: "k8s", netpolLayout: "upstream" });
const withUid = (p: KubeObject) => {
  p.metadata.uid = `uid-${p.metadata.name}`;
  return p;
};
const withSvcUid = (s: KubeObject) => {
  s.metadata.uid = `svc-${s.metadata.name}`;
  return s;
};
const ingress = (name: string, svcs: string[], extra: Record<string, string> = {}): KubeObject => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "Ingress",
  metadata: { name, namespace: "a", uid: `ing-${name}`, annotations: extra },
  spec: {
    rules: [
      {
        host: "shop.example",
        http: {
          paths: svcs.map((s) => ({
            path: `/${s}`,
            pathType: "Exact",
            backend: { service: { name: s, port: { number: 80 } } },
          })),
        },
      },
    ],
  },
});

function world(): { snap: KubeSnapshot; web1: KubeObject; web2: KubeObject } {
  const snap = emptySnapshot();
  const put = (r: keyof KubeSnapshot, o: KubeObject) => putObject(snap, r, o);
  put("nodes", node("n1", "10.1.0.1"));
  put("namespaces", ns("a"));
  const web1 = withUid(pod("a", "web-1", "n1", { app: "web" }));
  const web2 = withUid(pod("a", "web-2", "n1", { app: "web" }));
  put("pods", web1);
  put("pods", web2);
  put("services", withSvcUid(service("a", "web", "10.96.1.1")));
  put("endpointslices", slice("a", "web", [web1]));
  return { snap, web1, web2 };
}

const tagsOf = (snap: KubeSnapshot, podName: string) => {
  const d = translateUnit(`Pod/a/${podName}`, snap, layout, emptyView(), translationContext(snap, layout));
  const vmi = d.objects.find((o) => o.type === "virtual-machine-interface")!;
  return { tags: (vmi.refs.tag_refs ?? []).map((r) => r.to.join(":")), warnings: d.warnings };
};

describe("service-member tags", () => {
  it("a ready endpoint pod's VMI carries <c>-svc=<svc> beside its label tags; a non-member does not", () => {
    const { snap } = world();
    expect(tagsOf(snap, "web-1").tags).toEqual(["app=web", "namespace=a", "k8s-svc=web"]);
    expect(tagsOf(snap, "web-2").tags).toEqual(["app=web", "namespace=a"]);
  });

  it("an EndpointSlice change names only the pods that joined or left, and a Service's delete all of its members", () => {
    const { snap, web1, web2 } = world();
    const m = ServiceMembers.of(snap, memberUids);
    expect(m.of("uid-web-1")).toEqual(["a/web"]);
    putObject(snap, "endpointslices", slice("a", "web", [web2]));
    expect(m.refresh(snap, "a/web").sort()).toEqual(["uid-web-1", "uid-web-2"]);
    expect(m.of("uid-web-1")).toEqual([]);
    expect(m.refresh(snap, "a/web")).toEqual([]);
    putObject(snap, "endpointslices", slice("a", "web", [web1, web2]));
    expect(m.refresh(snap, "a/web")).toEqual(["uid-web-1"]);
    snap.services.delete("a/web");
    expect(m.refresh(snap, "a/web").sort()).toEqual(["uid-web-1", "uid-web-2"]);
    expect(m.of("uid-web-2")).toEqual([]);
  });

  it("a pod in two Services carries the tag of the one it joined last, with a warning naming both", () => {
    const { snap, web1 } = world();
    const api = withSvcUid(service("a", "api", "10.96.1.2"));
    api.metadata.creationTimestamp = "2030-01-01T00:00:00Z" as never;
    putObject(snap, "services", api);
    putObject(snap, "endpointslices", {
      ...slice("a", "api", [web1]),
      metadata: { ...slice("a", "api", []).metadata, name: "api-x" },
    });
    const t = tagsOf(snap, "web-1");
    expect(t.tags).toEqual(["app=web", "namespace=a", "k8s-svc=api"]);
    expect(t.warnings.join("\n")).toMatch(
      /pod a\/web-1: a member of Services web, api; .* carries k8s-svc=api/,
    );
  });

  it("the Tags unit makes one tag per Service and per Ingress; the Ingress's VMI carries its ingress tag", () => {
    const { snap } = world();
    putObject(snap, "ingresses", ingress("front", ["web"]));
    const ctx = translationContext(snap, layout);
    const tags = translateUnit("Tags", snap, layout, emptyView(), ctx).objects.map((o) =>
      o.fq_name.join(":"),
    );
    expect(tags).toEqual(expect.arrayContaining(["k8s-svc=web", "ingress=k8s-a-front"]));
    const ing = translateUnit("Ingress/a/front", snap, layout, emptyView(), ctx);
    const vmi = ing.objects.find((o) => o.type === "virtual-machine-interface")!;
    expect(vmi.refs.tag_refs?.map((r) => r.to.join(":"))).toEqual(["ingress=k8s-a-front", "namespace=a"]);
  });

  it("<c>-Ingress holds one pass rule per Ingress and existing backend Service, from ingress=… to <c>-svc=…", () => {
    const { snap } = world();
    putObject(snap, "ingresses", ingress("front", ["web", "web", "nope"]));
    putObject(snap, "ingresses", ingress("other", ["web"], { "kubernetes.io/ingress.class": "nginx" }));
    const d = translateUnit("Policies", snap, layout, emptyView(), translationContext(snap, layout));
    const fp = d.objects.find((o) => o.fq_name.join(":") === "default-policy-management:k8s-Ingress")!;
    expect(fp.refs.firewall_rule_refs?.map((r) => [r.to.at(-1), r.attr])).toEqual([
      ["k8s-Ingress-a-front-web", { sequence: "00001.0" }],
    ]);
    const rule = d.objects.find((o) => o.fq_name.at(-1) === "k8s-Ingress-a-front-web")!;
    expect(rule.props).toMatchObject({
      action_list: { simple_action: "pass" },
      endpoint_1: { tags: ["ingress=k8s-a-front"] },
      endpoint_2: { tags: ["k8s-svc=web"] },
      direction: ">",
    });
  });

  it("a Service coming or going re-runs the Tags unit and the Policies unit of the Ingresses naming it", () => {
    const { snap } = world();
    putObject(snap, "ingresses", ingress("front", ["web"]));
    const svc = snap.services.get("a/web")!;
    expect(affectedUnits("services", "add", svc, undefined, snap, layout).units).toEqual([
      "Tags",
      "Service/a/web",
      "Ingress/a/front",
      "Policies",
    ]);
    expect(affectedUnits("services", "update", svc, svc, snap, layout).units).toEqual([
      "Service/a/web",
      "Ingress/a/front",
    ]);
  });
});
