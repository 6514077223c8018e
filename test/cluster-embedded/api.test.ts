import { afterEach, describe, expect, it } from "vitest";
import { type EmbeddedCluster, createEmbeddedCluster } from "../../testbed/cluster/embedded";
import { pod as plainPod, recorder, rejection } from "./helpers";

let c: EmbeddedCluster;
/** Pods for a scheduler that is not running: the embedded scheduler leaves them alone, so watches see only our writes. */
function pod(...args: Parameters<typeof plainPod>) {
  const p = plainPod(...args);
  p.spec.schedulerName = "manual";
  return p;
}
afterEach(() => c?.close());

describe("object store", () => {
  it("starts with the system namespaces and the kubernetes service on the first service address", async () => {
    c = createEmbeddedCluster();
    const ns = await c.list("namespaces");
    expect(ns.items.map((n) => n.metadata.name)).toEqual([
      "default",
      "kube-node-lease",
      "kube-public",
      "kube-system",
    ]);
    expect(ns.items[0].metadata.labels).toEqual({ "kubernetes.io/metadata.name": "default" });
    expect(ns.items[0].status).toEqual({ phase: "Active" });
    const svc = await c.get("services", "kubernetes", "default");
    expect(svc.spec.clusterIP).toBe("10.96.0.1");
    expect(svc.spec.ports[0]).toMatchObject({ name: "https", port: 443, targetPort: 6443 });
  });

  it("uses the first address of a custom service subnet", async () => {
    c = createEmbeddedCluster({ serviceSubnet: "10.32.0.0/16" });
    expect((await c.get("services", "kubernetes")).spec.clusterIP).toBe("10.32.0.1");
  });

  it("stamps uid, creationTimestamp, generation and a global increasing resourceVersion", async () => {
    c = createEmbeddedCluster();
    const a = await c.create("pods", pod("a"));
    const b = await c.create("pods", pod("b"));
    expect(a.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.metadata.uid).not.toBe(b.metadata.uid);
    expect(a.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(a.metadata.generation).toBe(1);
    expect(Number(b.metadata.resourceVersion)).toBeGreaterThan(Number(a.metadata.resourceVersion));
    const list = await c.list("pods");
    expect(Number(list.resourceVersion)).toBeGreaterThanOrEqual(Number(b.metadata.resourceVersion));
  });

  it("keeps namespaced objects apart and cluster-scoped objects without namespace", async () => {
    c = createEmbeddedCluster();
    await c.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
    await c.create("pods", pod("a"), "x");
    await c.create("pods", pod("a"), "default");
    expect((await c.list("pods", { namespace: "x" })).items).toHaveLength(1);
    expect((await c.list("pods")).items).toHaveLength(2);
    const ns = await c.get("namespaces", "x");
    expect(ns.metadata.namespace).toBeUndefined();
  });

  it("answers with the API server's errors", async () => {
    c = createEmbeddedCluster();
    let e = await rejection(c.get("pods", "x", "default"));
    expect([e.status, e.reason, e.message]).toEqual([404, "NotFound", 'pods "x" not found']);
    e = await rejection(c.get("deployments", "x", "default"));
    expect(e.message).toBe('deployments.apps "x" not found');
    await c.create("pods", pod("a"));
    e = await rejection(c.create("pods", pod("a")));
    expect([e.status, e.reason, e.message]).toEqual([409, "AlreadyExists", 'pods "a" already exists']);
    e = await rejection(c.create("pods", pod("a"), "nope"));
    expect([e.status, e.message]).toEqual([404, 'namespaces "nope" not found']);
    e = await rejection(c.create("pods", pod("a", {}, [], "x"), "y"));
    expect(e.status).toBe(400);
  });

  it("rejects a replace with a stale resourceVersion (optimistic concurrency)", async () => {
    c = createEmbeddedCluster();
    const a = await c.create("pods", pod("a", { v: "1" }));
    const updated = await c.replace("pods", { ...a, metadata: { ...a.metadata, labels: { v: "2" } } });
    expect(updated.metadata.labels).toEqual({ v: "2" });
    const e = await rejection(c.replace("pods", { ...a, metadata: { ...a.metadata, labels: { v: "3" } } }));
    expect([e.status, e.reason]).toEqual([409, "Conflict"]);
    expect(e.message).toBe(
      'Operation cannot be fulfilled on pods "a": the object has been modified; please apply your changes to the latest version and try again',
    );
  });

  it("leaves status alone on updates of the main resource and spec alone on status patches", async () => {
    c = createEmbeddedCluster();
    const a = await c.create("pods", { ...pod("a"), status: { phase: "Running" } });
    expect(a.status.phase).toBe("Pending");
    const s = await c.patchStatus("pods", "a", "default", {
      status: { podIP: "10.0.0.5" },
      metadata: { labels: { x: "y" } },
    });
    expect(s.status.podIP).toBe("10.0.0.5");
    expect(s.status.podIPs).toEqual([{ ip: "10.0.0.5" }]);
    expect(s.metadata.labels).toEqual({});
    const r = await c.replace("pods", {
      ...s,
      status: { phase: "Failed" },
      metadata: { ...s.metadata, labels: { x: "y" } },
    });
    expect(r.status.phase).toBe("Pending");
    expect(r.status.podIP).toBe("10.0.0.5");
    expect(r.metadata.labels).toEqual({ x: "y" });
  });

  it("bumps generation on spec changes only and writes nothing for a no-op update", async () => {
    c = createEmbeddedCluster();
    const np = await c.create("networkpolicies", {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "p" },
      spec: { podSelector: {} },
    });
    const same = await c.patch("networkpolicies", "p", "default", { spec: { podSelector: {} } });
    expect(same.metadata.resourceVersion).toBe(np.metadata.resourceVersion);
    const labelled = await c.patch("networkpolicies", "p", "default", { metadata: { labels: { a: "b" } } });
    expect(labelled.metadata.generation).toBe(1);
    const changed = await c.patch("networkpolicies", "p", "default", {
      spec: { podSelector: { matchLabels: { a: "b" } } },
    });
    expect(changed.metadata.generation).toBe(2);
  });

  it("with a seed, two clusters hand out the same uids and generated names", async () => {
    const names = async () => {
      const k = createEmbeddedCluster({ seed: 9 });
      const p = await k.create("pods", { ...pod(""), metadata: { generateName: "web-" } });
      k.close();
      return [p.metadata.name, p.metadata.uid];
    };
    c = createEmbeddedCluster();
    const first = await names();
    expect(await names()).toEqual(first);
  });

  it("names objects from generateName", async () => {
    c = createEmbeddedCluster();
    const p = await c.create("pods", { ...pod(""), metadata: { generateName: "web-" } });
    expect(p.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });
});

describe("watch", () => {
  it("streams ADDED/MODIFIED/DELETED after a list's resourceVersion", async () => {
    c = createEmbeddedCluster();
    await c.create("pods", pod("before"));
    const { resourceVersion } = await c.list("pods");
    const r = recorder();
    const h = await c.watch("pods", { resourceVersion }, r.onEvent, r.onDone);
    await c.create("pods", pod("a"));
    await c.patch("pods", "a", "default", { metadata: { labels: { x: "1" } } });
    await c.delete("pods", "a", "default");
    await c.waitQuiet();
    expect(r.summary()).toEqual(["ADDED a", "MODIFIED a", "DELETED a"]);
    const rvs = r.events.map((e) => Number(e.object.metadata.resourceVersion));
    expect(rvs).toEqual([...rvs].sort((x, y) => x - y));
    h.stop();
    expect(await r.done).toBeUndefined();
  });

  it("resumes from the last seen resourceVersion without losing or repeating events", async () => {
    c = createEmbeddedCluster();
    const { resourceVersion } = await c.list("pods");
    const r1 = recorder();
    const h = await c.watch("pods", { resourceVersion }, r1.onEvent, r1.onDone);
    await c.create("pods", pod("a"));
    await c.waitQuiet();
    h.stop();
    const last = r1.events[r1.events.length - 1].object.metadata.resourceVersion!;
    await c.create("pods", pod("b"));
    await c.delete("pods", "a", "default");
    const r2 = recorder();
    await c.watch("pods", { resourceVersion: last }, r2.onEvent, r2.onDone);
    await c.waitQuiet();
    expect(r2.summary()).toEqual(["ADDED b", "DELETED a"]);
  });

  it("ends with 410 Expired when the resourceVersion left the history", async () => {
    c = createEmbeddedCluster({ watchHistory: 5 });
    const { resourceVersion } = await c.list("pods");
    for (let i = 0; i < 10; i++) await c.create("pods", pod(`p${i}`));
    const r = recorder();
    await c.watch("pods", { resourceVersion }, r.onEvent, r.onDone);
    const err = (await r.done) as import("../../controller/kube/api").KubeApiError;
    expect(err.status).toBe(410);
    expect(err.reason).toBe("Expired");
    expect(err.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
    expect(r.events).toEqual([]);
  });

  it("resourceVersion 0 starts with the current objects as ADDED", async () => {
    c = createEmbeddedCluster();
    await c.create("pods", pod("a"));
    const r = recorder();
    await c.watch("pods", { resourceVersion: "0" }, r.onEvent, r.onDone);
    await c.create("pods", pod("b"));
    await c.waitQuiet();
    expect(r.summary()).toEqual(["ADDED a", "ADDED b"]);
  });

  it("filters by label selector, turning objects that leave or enter it into DELETED/ADDED", async () => {
    c = createEmbeddedCluster();
    const { resourceVersion } = await c.list("pods");
    const r = recorder();
    await c.watch(
      "pods",
      { resourceVersion, labelSelector: "app=web,tier in (a,b),!canary" },
      r.onEvent,
      r.onDone,
    );
    await c.create("pods", pod("a", { app: "web", tier: "a" }));
    await c.create("pods", pod("other", { app: "db", tier: "a" }));
    await c.create("pods", pod("canary", { app: "web", tier: "b", canary: "yes" }));
    await c.patch("pods", "a", "default", { metadata: { labels: { tier: "c" } } });
    await c.patch("pods", "other", "default", { metadata: { labels: { app: "web" } } });
    await c.waitQuiet();
    expect(r.summary()).toEqual(["ADDED a", "DELETED a", "ADDED other"]);
    expect((await c.list("pods", { labelSelector: "app!=web" })).items).toHaveLength(0);
    expect((await c.list("pods", { labelSelector: "canary" })).items.map((p) => p.metadata.name)).toEqual([
      "canary",
    ]);
  });

  it("filters by field selector (spec.nodeName, status.phase, metadata.name)", async () => {
    c = createEmbeddedCluster();
    await c.create("pods", { ...pod("a"), spec: { ...pod("a").spec, nodeName: "n1" } });
    await c.create("pods", pod("b"));
    const onNode = await c.list("pods", { fieldSelector: "spec.nodeName=n1" });
    expect(onNode.items.map((p) => p.metadata.name)).toEqual(["a"]);
    const unbound = await c.list("pods", { fieldSelector: "spec.nodeName=" });
    expect(unbound.items.map((p) => p.metadata.name)).toEqual(["b"]);
    const r = recorder();
    await c.watch(
      "pods",
      { resourceVersion: onNode.resourceVersion, fieldSelector: "status.phase=Running" },
      r.onEvent,
      r.onDone,
    );
    await c.patchStatus("pods", "b", "default", { status: { phase: "Running" } });
    await c.waitQuiet();
    expect(r.summary()).toEqual(["ADDED b"]);
    expect(
      (await c.list("pods", { fieldSelector: "metadata.name!=a" })).items.map((p) => p.metadata.name),
    ).toEqual(["b"]);
    const e = await rejection(c.list("pods", { fieldSelector: "spec.foo=x" }));
    expect([e.status, e.message]).toEqual([400, "field label not supported: spec.foo"]);
  });

  it("sends BOOKMARKs carrying the current resourceVersion only to watches that asked", async () => {
    c = createEmbeddedCluster();
    const { resourceVersion } = await c.list("pods");
    const withB = recorder();
    const without = recorder();
    await c.watch("pods", { resourceVersion, allowWatchBookmarks: true }, withB.onEvent, withB.onDone);
    await c.watch("pods", { resourceVersion }, without.onEvent, without.onDone);
    await c.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { ports: [{ port: 80 }] },
    });
    c.sendBookmarks();
    await c.waitQuiet();
    expect(withB.events.map((e) => e.type)).toEqual(["BOOKMARK"]);
    expect(withB.events[0].object.metadata.resourceVersion).toBe(c.resourceVersion);
    expect(without.events).toEqual([]);
  });

  it("close ends every watch without error", async () => {
    c = createEmbeddedCluster();
    const r = recorder();
    await c.watch("pods", { resourceVersion: "0" }, r.onEvent, r.onDone);
    c.close();
    expect(await r.done).toBeUndefined();
  });
});
