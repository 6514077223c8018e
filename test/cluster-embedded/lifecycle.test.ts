import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { type EmbeddedCluster, createEmbeddedCluster } from "../../testbed/cluster/embedded";
import { addNode, pod, rejection, runPod, settle } from "./helpers";

let c: EmbeddedCluster;
afterEach(() => {
  expect(c.controllerFailures).toEqual([]);
  c.close();
});

function replicaSet(name: string, replicas: number): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "c", image: "i" }] } },
    },
  };
}

describe("garbage collection", () => {
  it("collects objects whose only owner does not exist, and keeps those with a live owner", async () => {
    c = createEmbeddedCluster();
    const owner = await c.create("pods", pod("owner"));
    const ref = (uid: string, name: string) => ({ apiVersion: "v1", kind: "Pod", name, uid });
    await c.create("pods", {
      ...pod("dangling"),
      metadata: { name: "dangling", ownerReferences: [ref("0000", "ghost")] },
    });
    await c.create("pods", {
      ...pod("two-owners"),
      metadata: {
        name: "two-owners",
        ownerReferences: [ref("0000", "ghost"), ref(owner.metadata.uid!, "owner")],
      },
    });
    await c.waitQuiet();
    expect((await rejection(c.get("pods", "dangling"))).status).toBe(404);
    const kept = await c.get("pods", "two-owners");
    expect(kept.metadata.ownerReferences).toEqual([ref(owner.metadata.uid!, "owner")]);
    await c.delete("pods", "owner", "default");
    await c.waitQuiet();
    expect((await c.list("pods")).items).toEqual([]);
  });
});

describe("pod GC", () => {
  it("deletes the pods of a deleted node; a ReplicaSet replaces them on another node", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.create("replicasets", replicaSet("rs", 2));
    await c.waitQuiet();
    await addNode(c, "node-2");
    await c.delete("nodes", "node-1");
    await c.waitQuiet();
    const pods = (await c.list("pods")).items;
    expect(pods).toHaveLength(2);
    expect(pods.map((p) => p.spec.nodeName)).toEqual(["node-2", "node-2"]);
  });
});

describe("replica sets", () => {
  it("scale down removes unscheduled and not-ready pods before ready ones", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.create("replicasets", replicaSet("rs", 2));
    await settle(c);
    const ready = (await c.list("pods")).items.map((p) => p.metadata.name);
    await c.patch("nodes", "node-1", undefined, { spec: { unschedulable: true } });
    await c.patch("replicasets", "rs", "default", { spec: { replicas: 4 } });
    await c.waitQuiet();
    expect((await c.list("pods")).items).toHaveLength(4);
    await c.patch("replicasets", "rs", "default", { spec: { replicas: 2 } });
    await c.waitQuiet();
    expect((await c.list("pods")).items.map((p) => p.metadata.name).sort()).toEqual(ready.sort());
    const rs = await c.get("replicasets", "rs");
    expect(rs.status).toMatchObject({ replicas: 2, readyReplicas: 2, observedGeneration: 3 });
  });
});

describe("deployments", () => {
  function deployment(image: string, strategy?: unknown): KubeObject {
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: {
        replicas: 4,
        strategy,
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image }] } },
      },
    };
  }

  it("a rolling update waits for new pods to be ready before retiring old ones", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.applyManifest(deployment("nginx:1"));
    await settle(c);
    await c.applyManifest(deployment("nginx:2"));
    await c.waitQuiet(); // no node emulator: new pods never become ready
    const pods = (await c.list("pods")).items;
    const byImage = (img: string) => pods.filter((p) => p.spec.containers[0].image === img).length;
    // maxSurge 25% of 4 = 1 extra pod, maxUnavailable 25% = 1 old pod may go
    expect(byImage("nginx:2")).toBe(2);
    expect(byImage("nginx:1")).toBe(3);
    await settle(c);
    const after = (await c.list("pods")).items;
    expect(after.map((p) => p.spec.containers[0].image)).toEqual(Array(4).fill("nginx:2"));
  });

  it("Recreate removes the old pods before creating new ones", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.applyManifest(deployment("nginx:1", { type: "Recreate" }));
    await settle(c);
    await c.applyManifest(deployment("nginx:2", { type: "Recreate" }));
    await c.waitQuiet();
    const pods = (await c.list("pods")).items;
    expect(pods.map((p) => p.spec.containers[0].image)).toEqual(Array(4).fill("nginx:2"));
  });
});

describe("service endpoint variants", () => {
  it("headless services without ports list addresses; publishNotReadyAddresses counts unready pods as ready", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "h" },
      spec: { clusterIP: "None", selector: { app: "h" } },
    });
    await c.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "p" },
      spec: { selector: { app: "h" }, ports: [{ port: 80 }], publishNotReadyAddresses: true },
    });
    await c.create("pods", pod("h1", { app: "h" }));
    await c.waitQuiet();
    await runPod(c, "default", "h1", "10.47.255.252", false);
    await c.waitQuiet();
    const h = await c.get("endpoints", "h");
    expect(h.metadata.labels).toEqual({
      "service.kubernetes.io/headless": "",
      "endpoints.kubernetes.io/managed-by": "endpoint-controller",
    });
    expect(h.subsets).toEqual([{ notReadyAddresses: [expect.objectContaining({ ip: "10.47.255.252" })] }]);
    const p = await c.get("endpoints", "p");
    expect(p.metadata.labels).toEqual({ "endpoints.kubernetes.io/managed-by": "endpoint-controller" });
    expect(p.subsets).toEqual([
      {
        addresses: [expect.objectContaining({ ip: "10.47.255.252" })],
        ports: [{ port: 80, protocol: "TCP" }],
      },
    ]);
    const slice = (await c.list("endpointslices", { labelSelector: "kubernetes.io/service-name=p" }))
      .items[0];
    expect(slice.endpoints[0].conditions).toEqual({ ready: true, serving: true, terminating: false });
  });

  it("a pod without the named port is left out of that service", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { selector: { app: "s" }, ports: [{ port: 80, targetPort: "serve-80-tcp" }] },
    });
    await c.create("pods", pod("with", { app: "s" }, [{ name: "serve-80-tcp", containerPort: 80 }]));
    await c.create("pods", pod("without", { app: "s" }, [{ name: "serve-81-tcp", containerPort: 81 }]));
    await settle(c);
    const slices = (await c.list("endpointslices", { labelSelector: "kubernetes.io/service-name=s" })).items;
    expect(
      slices.flatMap((s) => s.endpoints.map((e: { targetRef: { name: string } }) => e.targetRef.name)),
    ).toEqual(["with"]);
  });
});

describe("finalizers", () => {
  it("an object with finalizers is only marked for deletion and goes when they are removed", async () => {
    c = createEmbeddedCluster();
    await c.create("pods", { ...pod("f"), metadata: { name: "f", finalizers: ["example.com/hold"] } });
    await c.delete("pods", "f", "default");
    const marked = await c.get("pods", "f");
    expect(marked.metadata.deletionTimestamp).toBeDefined();
    await c.patch("pods", "f", "default", { metadata: { finalizers: null } });
    expect((await rejection(c.get("pods", "f"))).status).toBe(404);
  });

  it("a namespace waits in Terminating for objects held by finalizers", async () => {
    c = createEmbeddedCluster();
    await c.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
    await c.create("pods", { ...pod("f"), metadata: { name: "f", finalizers: ["example.com/hold"] } }, "x");
    await c.create("pods", pod("g"), "x");
    await c.delete("namespaces", "x");
    await c.waitQuiet();
    expect((await c.get("namespaces", "x")).status.phase).toBe("Terminating");
    expect((await c.list("pods", { namespace: "x" })).items.map((p) => p.metadata.name)).toEqual(["f"]);
    await c.patch("pods", "f", "x", { metadata: { finalizers: [] } });
    await c.waitQuiet();
    expect((await rejection(c.get("namespaces", "x"))).status).toBe(404);
  });
});
