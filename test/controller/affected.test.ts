/**
 * Which units a Kubernetes change affects (pure): one row per kind of change, the caches already holding the
 * change as the informer leaves them; selector membership; tag user counting.
 */
import { describe, expect, it } from "vitest";
import { affectedUnits, NO_SELECTORS, selectorUnits, TagUsers } from "../../controller/affected";
import { defaultConfig, type NetpolLayout } from "../../controller/config";
import type { KubeObject, ResourceName } from "../../controller/kube/api";
import type { ChangeType } from "../../controller/kube/informer";
import { emptySnapshot, type KubeSnapshot, Layout, putObject } from "../../controller/translate";
import { node, ns, pod, service, slice } from "./fake-kube";

/** A scheduled pod with a uid gets an interface (`hasPort`). */
const withUid = (p: KubeObject) => {
  p.metadata.uid = `uid-${p.metadata.namespace}-${p.metadata.name}`;
  return p;
};
const withPort = (p: KubeObject) => {
  p.spec.containers[0].ports = [{ containerPort: 80 }];
  return withUid(p);
};
const labelled = (o: KubeObject, labels: Record<string, string>): KubeObject => ({
  ...o,
  metadata: { ...o.metadata, labels },
});
const isolated = (name: string) => ns(name, { "opencontrail.org/isolation": "true" });
const netpol = (namespace: string, name: string, app: string): KubeObject => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { namespace, name },
  spec: { podSelector: { matchLabels: { app } }, policyTypes: ["Ingress"], ingress: [] },
});

/** A cluster: node n1 (10.1.0.1), namespaces a and b, pods a/web (app=web, port 80) and a/db, b/x, service a/web. */
function cluster(): KubeSnapshot {
  const snap = emptySnapshot();
  const put = (r: keyof KubeSnapshot, o: KubeObject) => putObject(snap, r, o);
  put("nodes", node("n1", "10.1.0.1"));
  put("namespaces", ns("a"));
  put("namespaces", ns("b"));
  put("pods", withPort(pod("a", "web", "n1", { app: "web" })));
  put("pods", withUid(pod("a", "db", "n1", { app: "db" })));
  put("pods", withUid(pod("b", "x", "n2")));
  put("services", service("a", "web", "10.96.1.1"));
  return snap;
}

const layout = (model: "r4" | "r5" = "r5", netpolLayout: NetpolLayout = "upstream") =>
  new Layout({ ...defaultConfig(model), netpolLayout });

describe("affectedUnits", () => {
  const web = withPort(pod("a", "web", "n1", { app: "web" }));
  const rows: {
    name: string;
    resource: ResourceName;
    t: ChangeType;
    o: KubeObject;
    old?: KubeObject;
    model?: "r4" | "r5";
    netpol?: NetpolLayout;
    units: string[];
    selectors: boolean;
  }[] = [
    {
      name: "new namespace: itself, the cluster's share list, tags, its pods and services",
      resource: "namespaces",
      t: "add",
      o: ns("a"),
      units: ["Namespace/a", "Cluster", "Tags", "Pod/a/web", "Pod/a/db", "Service/a/web"],
      selectors: true,
    },
    {
      name: "r4 namespace: no label tags",
      resource: "namespaces",
      t: "add",
      o: ns("a"),
      model: "r4",
      units: ["Namespace/a", "Cluster", "Pod/a/web", "Pod/a/db", "Service/a/web"],
      selectors: true,
    },
    {
      name: "namespace annotation unchanged in substance: no cluster, no tags",
      resource: "namespaces",
      t: "update",
      o: ns("b", { note: "x" }),
      old: ns("b"),
      units: ["Namespace/b", "Pod/b/x"],
      selectors: true,
    },
    {
      name: "namespace isolated: the cluster's share list changes",
      resource: "namespaces",
      t: "update",
      o: isolated("b"),
      old: ns("b"),
      units: ["Namespace/b", "Cluster", "Pod/b/x"],
      selectors: true,
    },
    {
      name: "namespace relabelled: its tags",
      resource: "namespaces",
      t: "update",
      o: labelled(ns("b"), { team: "x" }),
      old: ns("b"),
      units: ["Namespace/b", "Tags", "Pod/b/x"],
      selectors: true,
    },
    {
      name: "new node: its pods",
      resource: "nodes",
      t: "add",
      o: node("n1", "10.1.0.1"),
      units: ["Node/n1", "Pod/a/web", "Pod/a/db"],
      selectors: false,
    },
    {
      name: "node status update, same address: only the node",
      resource: "nodes",
      t: "update",
      o: node("n1", "10.1.0.1"),
      old: node("n1", "10.1.0.1"),
      units: ["Node/n1"],
      selectors: false,
    },
    {
      name: "node address changed: its pods",
      resource: "nodes",
      t: "update",
      o: node("n1", "10.1.0.1"),
      old: node("n1", "10.1.0.9"),
      units: ["Node/n1", "Pod/a/web", "Pod/a/db"],
      selectors: false,
    },
    {
      name: "new pod: its services' member sets; upstream layout: no selector work (rules name label tags, not pods)",
      resource: "pods",
      t: "add",
      o: web,
      units: ["Pod/a/web", "Service/a/web"],
      selectors: false,
    },
    {
      name: "new pod: its services' member sets (per-pod layout)",
      netpol: "kubernetes",
      resource: "pods",
      t: "add",
      o: web,
      units: ["Pod/a/web", "Service/a/web"],
      selectors: true,
    },
    {
      name: "pod status update: only the pod",
      resource: "pods",
      t: "update",
      o: { ...web, status: { podIP: "10.47.255.252" } },
      old: web,
      units: ["Pod/a/web"],
      selectors: false,
    },
    {
      name: "pod relabelled: selectors; upstream layout: no selector work (rules name label tags, not pods)",
      resource: "pods",
      t: "update",
      o: labelled(web, { app: "api" }),
      old: web,
      units: ["Pod/a/web"],
      selectors: false,
    },
    {
      name: "pod relabelled: selectors (per-pod layout)",
      netpol: "kubernetes",
      resource: "pods",
      t: "update",
      o: labelled(web, { app: "api" }),
      old: web,
      units: ["Pod/a/web"],
      selectors: true,
    },
    {
      name: "pod deleted: its services; upstream layout: no selector work (rules name label tags, not pods)",
      resource: "pods",
      t: "delete",
      o: web,
      units: ["Pod/a/web", "Service/a/web"],
      selectors: false,
    },
    {
      name: "pod deleted: its services (per-pod layout)",
      netpol: "kubernetes",
      resource: "pods",
      t: "delete",
      o: web,
      units: ["Pod/a/web", "Service/a/web"],
      selectors: true,
    },
    {
      name: "service",
      resource: "services",
      t: "update",
      o: service("a", "web", "10.96.1.1"),
      units: ["Service/a/web"],
      selectors: false,
    },
    {
      name: "endpointslice moved between services: both",
      resource: "endpointslices",
      t: "update",
      o: slice("a", "web", []),
      old: slice("a", "old", []),
      units: ["Service/a/web", "Service/a/old"],
      selectors: false,
    },
    {
      name: "endpoints",
      resource: "endpoints",
      t: "add",
      o: { apiVersion: "v1", kind: "Endpoints", metadata: { namespace: "a", name: "web" } },
      units: ["Service/a/web"],
      selectors: false,
    },
    {
      name: "network policy: selectors only",
      resource: "networkpolicies",
      t: "add",
      o: netpol("a", "p", "web"),
      units: [],
      selectors: true,
    },
  ];
  for (const r of rows)
    it(r.name, () => {
      const got = affectedUnits(r.resource, r.t, r.o, r.old, cluster(), layout(r.model, r.netpol));
      expect(got.units).toEqual(r.units);
      expect(got.selectors).toBe(r.selectors);
    });

  it("a pod's label tags before and after (r5, scheduled pods only)", () => {
    const relabelled = labelled(web, { app: "api" });
    expect(affectedUnits("pods", "update", relabelled, web, cluster(), layout()).tags).toEqual({
      before: ["app=web", "namespace=a"],
      after: ["app=api", "namespace=a"],
    });
    expect(affectedUnits("pods", "delete", web, undefined, cluster(), layout()).tags).toEqual({
      before: ["app=web", "namespace=a"],
      after: [],
    });
    const unscheduled = withUid(pod("a", "db", "", { app: "db" }));
    expect(affectedUnits("pods", "add", unscheduled, undefined, cluster(), layout()).tags).toEqual({
      before: [],
      after: [],
    });
    expect(affectedUnits("pods", "add", web, undefined, cluster(), layout("r4")).tags).toEqual({
      before: [],
      after: [],
    });
  });
});

describe("selectorUnits", () => {
  it("nothing to do without policies, in the per-pod layout", () => {
    expect(selectorUnits(layout("r5", "kubernetes"), cluster(), NO_SELECTORS, false)).toEqual({
      units: [],
      next: NO_SELECTORS,
    });
  });

  it("the policies unit still owning objects: policies and tags run (the last policy went)", () => {
    expect(selectorUnits(layout("r5", "kubernetes"), cluster(), NO_SELECTORS, true).units).toEqual([
      "Policies",
      "Tags",
    ]);
  });

  it("upstream layout: policies and tags, never a pod (label tags are matched at flow time)", () => {
    const snap = cluster();
    snap.networkpolicies.set("a/p", netpol("a", "p", "web"));
    expect(selectorUnits(layout("r5", "upstream"), snap, NO_SELECTORS, false).units).toEqual([
      "Policies",
      "Tags",
    ]);
  });

  it("per-pod layout: pods that gain or lose their identity tag, and only those", () => {
    const l = layout("r5", "kubernetes");
    const snap = cluster();
    snap.networkpolicies.set("a/p", netpol("a", "p", "web"));
    const first = selectorUnits(l, snap, NO_SELECTORS, false);
    expect(first.units).toEqual(["Policies", "Tags", "Pod/a/web"]);
    expect([...first.next.involved]).toEqual(["a/web"]);
    // nothing changed: no pod
    expect(selectorUnits(l, snap, first.next, true).units).toEqual(["Policies", "Tags"]);
    // the policy now selects db instead
    snap.networkpolicies.set("a/p", netpol("a", "p", "db"));
    expect(selectorUnits(l, snap, first.next, true).units).toEqual([
      "Policies",
      "Tags",
      "Pod/a/web",
      "Pod/a/db",
    ]);
  });

  it("r4 security-group layout: pods whose interface gains or loses a policy security group", () => {
    const l = layout("r4", "upstream");
    const snap = cluster();
    snap.networkpolicies.set("a/p", netpol("a", "p", "web"));
    const first = selectorUnits(l, snap, NO_SELECTORS, false);
    expect(first.units.slice(0, 2)).toEqual(["Policies", "Tags"]);
    expect(first.units).toContain("Pod/a/web");
    expect(selectorUnits(l, snap, first.next, true).units).toEqual(["Policies", "Tags"]);
  });
});

describe("TagUsers", () => {
  it("reports a tag appearing or going unused, not a second user", () => {
    const u = new TagUsers();
    expect(u.change([], ["app=web"])).toBe(true);
    expect(u.change([], ["app=web"])).toBe(false);
    expect(u.change(["app=web"], [])).toBe(false);
    expect(u.change(["app=web"], [])).toBe(true);
  });

  it("a pod relabelled as the only user of its tags reports a change (its tags go, then come back)", () => {
    const u = new TagUsers();
    u.change([], ["app=web"]);
    expect(u.change(["app=web"], ["app=web"])).toBe(true);
  });
});
