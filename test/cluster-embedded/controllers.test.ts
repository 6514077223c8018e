import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { type EmbeddedCluster, createEmbeddedCluster } from "../../testbed/cluster/embedded";
import { addNode, pod, recorder, rejection, runPod, settle } from "./helpers";

let c: EmbeddedCluster;
afterEach(() => {
  expect(c.controllerFailures).toEqual([]);
  c.close();
});

const SAFE = "[bcdfghjklmnpqrstvwxz2456789]";

function deployment(name: string, replicas: number, image = "nginx:1.25", ports: unknown[] = []): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "web", image, ports }] },
      },
    },
  };
}

function service(
  name: string,
  selector: Record<string, string> | undefined,
  ports: unknown[],
  extra: object = {},
): KubeObject {
  return { apiVersion: "v1", kind: "Service", metadata: { name }, spec: { selector, ports, ...extra } };
}

async function slicesOf(svc: string, ns = "default"): Promise<KubeObject[]> {
  return (
    await c.list("endpointslices", { namespace: ns, labelSelector: `kubernetes.io/service-name=${svc}` })
  ).items;
}

describe("scheduler", () => {
  it("leaves pods Pending with PodScheduled=False while there is no node, binds them when one appears", async () => {
    c = createEmbeddedCluster();
    await c.create("pods", pod("a"));
    await c.waitQuiet();
    let p = await c.get("pods", "a");
    expect(p.spec.nodeName).toBeUndefined();
    expect(p.status.phase).toBe("Pending");
    expect(p.status.conditions).toEqual([
      expect.objectContaining({
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: "no nodes available to schedule pods",
      }),
    ]);
    await addNode(c, "node-1");
    await c.waitQuiet();
    p = await c.get("pods", "a");
    expect(p.spec.nodeName).toBe("node-1");
    expect(p.status.conditions).toEqual([expect.objectContaining({ type: "PodScheduled", status: "True" })]);
  });

  it("a node's watch on spec.nodeName sees a pod as ADDED when it is bound there (what the node emulator uses)", async () => {
    c = createEmbeddedCluster();
    const { resourceVersion } = await c.list("pods", { fieldSelector: "spec.nodeName=node-1" });
    const r = recorder();
    await c.watch("pods", { resourceVersion, fieldSelector: "spec.nodeName=node-1" }, r.onEvent, r.onDone);
    await c.create("pods", pod("a"));
    await c.waitQuiet();
    expect(r.events).toEqual([]);
    await addNode(c, "node-1");
    await c.waitQuiet();
    expect(r.summary()).toEqual(["ADDED a"]);
    await runPod(c, "default", "a", "10.47.255.252");
    await c.delete("pods", "a", "default");
    await c.waitQuiet();
    expect(r.summary()).toEqual(["ADDED a", "MODIFIED a", "DELETED a"]);
  });

  it("spreads pods by pod count over Ready schedulable nodes", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await addNode(c, "node-2");
    await addNode(c, "node-3", { ready: false });
    await addNode(c, "node-4", { unschedulable: true });
    for (let i = 0; i < 6; i++) await c.create("pods", pod(`p${i}`));
    await c.waitQuiet();
    const { items } = await c.list("pods");
    const perNode = new Map<string, number>();
    for (const p of items) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    expect(Object.fromEntries(perNode)).toEqual({ "node-1": 3, "node-2": 3 });
  });

  it("honours nodeSelector, taints and a preset nodeName", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "cp", {
      taints: [{ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" }],
    });
    await addNode(c, "w1", { labels: { disk: "ssd" } });
    await addNode(c, "w2");
    await c.create("pods", { ...pod("ssd"), spec: { ...pod("ssd").spec, nodeSelector: { disk: "ssd" } } });
    await c.create("pods", { ...pod("pinned"), spec: { ...pod("pinned").spec, nodeName: "cp" } });
    await c.create("pods", { ...pod("gpu"), spec: { ...pod("gpu").spec, nodeSelector: { gpu: "yes" } } });
    await c.waitQuiet();
    expect((await c.get("pods", "ssd")).spec.nodeName).toBe("w1");
    expect((await c.get("pods", "pinned")).spec.nodeName).toBe("cp");
    const gpu = await c.get("pods", "gpu");
    expect(gpu.spec.nodeName).toBeUndefined();
    expect(gpu.status.conditions[0].message).toBe(
      "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    );
  });
});

describe("ClusterIP allocation", () => {
  it("allocates distinct addresses in the service subnet, honours and reserves chosen ones, frees on delete", async () => {
    c = createEmbeddedCluster();
    const a = await c.create("services", service("a", { app: "a" }, [{ port: 80 }]));
    const b = await c.create("services", service("b", { app: "b" }, [{ port: 80 }]));
    expect(a.spec.clusterIP).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/);
    expect(b.spec.clusterIP).not.toBe(a.spec.clusterIP);
    const dns = await c.create(
      "services",
      service(
        "kube-dns",
        { k8s: "dns" },
        [
          { port: 53, protocol: "UDP", name: "dns" },
          { port: 53, name: "dns-tcp" },
        ],
        { clusterIP: "10.96.0.10" },
      ),
    );
    expect(dns.spec.clusterIPs).toEqual(["10.96.0.10"]);
    const dup = await rejection(
      c.create("services", service("dup", {}, [{ port: 80 }], { clusterIP: a.spec.clusterIP })),
    );
    expect(dup.message).toBe(
      `Service "dup" is invalid: spec.clusterIPs[0]: Invalid value: "${a.spec.clusterIP}": provided IP is already allocated`,
    );
    await c.delete("services", "a", "default");
    const again = await c.create(
      "services",
      service("dup", {}, [{ port: 80 }], { clusterIP: a.spec.clusterIP }),
    );
    expect(again.spec.clusterIP).toBe(a.spec.clusterIP);
  });

  it("headless and ExternalName services get no address; NodePort services get node ports", async () => {
    c = createEmbeddedCluster();
    const h = await c.create("services", service("h", { app: "h" }, [{ port: 80 }], { clusterIP: "None" }));
    expect(h.spec.clusterIPs).toEqual(["None"]);
    const x = await c.create(
      "services",
      service("x", undefined, [], { type: "ExternalName", externalName: "example.com" }),
    );
    expect(x.spec.clusterIP).toBeUndefined();
    const np = await c.create("services", service("np", { app: "n" }, [{ port: 80 }], { type: "NodePort" }));
    expect(np.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30000);
    expect(np.spec.ports[0].nodePort).toBeLessThanOrEqual(32767);
  });

  it("keeps the address through updates that omit it and refuses to change it", async () => {
    c = createEmbeddedCluster();
    const s = await c.create("services", service("s", { app: "s" }, [{ port: 80 }]));
    const applied = await c.replace("services", {
      ...service("s", { app: "t" }, [{ port: 80 }]),
      metadata: { name: "s", namespace: "default" },
    });
    expect(applied.spec.clusterIP).toBe(s.spec.clusterIP);
    const e = await rejection(
      c.patch("services", "s", "default", { spec: { clusterIP: "10.96.5.5", clusterIPs: ["10.96.5.5"] } }),
    );
    expect(e.message).toBe(
      `Service "s" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.5.5"}: may not change once set`,
    );
  });
});

describe("endpoints and endpoint slices", () => {
  it("follow pod readiness, resolving named target ports per pod", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.create(
      "services",
      service("web", { app: "web" }, [{ name: "http", port: 80, targetPort: "http" }]),
    );
    await c.create("pods", pod("web-a", { app: "web" }, [{ name: "http", containerPort: 8080 }]));
    await c.create("pods", pod("web-b", { app: "web" }, [{ name: "http", containerPort: 9090 }]));
    await c.create("pods", pod("other", { app: "db" }, [{ name: "http", containerPort: 8080 }]));
    await c.waitQuiet();
    // nothing has an address yet: one placeholder slice, Endpoints without subsets
    let slices = await slicesOf("web");
    expect(slices).toHaveLength(1);
    expect(slices[0].endpoints).toBeNull();
    expect(slices[0].metadata.name).toMatch(new RegExp(`^web-${SAFE}{5}$`));
    expect(slices[0].metadata.labels?.["endpointslice.kubernetes.io/managed-by"]).toBe(
      "endpointslice-controller.k8s.io",
    );
    expect((await c.get("endpoints", "web")).subsets).toBeUndefined();

    const watchRv = (await c.list("endpointslices")).resourceVersion;
    const r = recorder();
    await c.watch(
      "endpointslices",
      { resourceVersion: watchRv, labelSelector: "kubernetes.io/service-name=web" },
      r.onEvent,
      r.onDone,
    );

    const a = await runPod(c, "default", "web-a", "10.47.255.252", false);
    await runPod(c, "default", "web-b", "10.47.255.251", true);
    await runPod(c, "default", "other", "10.47.255.250", true);
    await c.waitQuiet();
    expect(r.events.length).toBeGreaterThan(0);
    slices = await slicesOf("web");
    const byPort = Object.fromEntries(slices.map((s) => [s.ports[0].port, s]));
    expect(Object.keys(byPort).sort()).toEqual(["8080", "9090"]);
    expect(byPort[8080].ports).toEqual([{ name: "http", port: 8080, protocol: "TCP" }]);
    expect(byPort[8080].endpoints).toEqual([
      {
        addresses: ["10.47.255.252"],
        conditions: { ready: false, serving: false, terminating: false },
        nodeName: "node-1",
        targetRef: { kind: "Pod", namespace: "default", name: "web-a", uid: a.metadata.uid },
      },
    ]);
    expect(byPort[9090].endpoints[0].conditions.ready).toBe(true);
    expect(byPort[8080].metadata.ownerReferences[0]).toMatchObject({
      kind: "Service",
      name: "web",
      controller: true,
    });
    let ep = await c.get("endpoints", "web");
    expect(ep.subsets).toHaveLength(2);
    expect(ep.subsets).toEqual(
      expect.arrayContaining([
        {
          notReadyAddresses: [expect.objectContaining({ ip: "10.47.255.252", nodeName: "node-1" })],
          ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        },
        {
          addresses: [
            expect.objectContaining({
              ip: "10.47.255.251",
              targetRef: expect.objectContaining({ name: "web-b" }),
            }),
          ],
          ports: [{ name: "http", port: 9090, protocol: "TCP" }],
        },
      ]),
    );

    // web-a becomes Ready, web-b goes away
    await runPod(c, "default", "web-a", "10.47.255.252", true);
    await c.delete("pods", "web-b", "default");
    await c.waitQuiet();
    slices = await slicesOf("web");
    expect(slices).toHaveLength(1);
    expect(
      slices[0].endpoints.map((e: { addresses: string[]; conditions: { ready: boolean } }) => [
        e.addresses[0],
        e.conditions.ready,
      ]),
    ).toEqual([["10.47.255.252", true]]);
    ep = await c.get("endpoints", "web");
    expect(ep.subsets).toEqual([
      {
        addresses: [expect.objectContaining({ ip: "10.47.255.252" })],
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      },
    ]);
  });

  it("are removed with their service; selector-less services are left to the user", async () => {
    c = createEmbeddedCluster();
    await c.create("services", service("web", { app: "web" }, [{ port: 80 }]));
    await c.create("services", service("manual", undefined, [{ port: 80 }]));
    await c.waitQuiet();
    expect(await slicesOf("web")).toHaveLength(1);
    expect(await slicesOf("manual")).toHaveLength(0);
    await c.delete("services", "web", "default");
    await c.waitQuiet();
    expect(await slicesOf("web")).toHaveLength(0);
    expect((await rejection(c.get("endpoints", "web"))).status).toBe(404);
  });
});

describe("workloads", () => {
  it("Deployment -> ReplicaSet <deploy>-<hash> -> pods <rs>-<5 chars>, scaled up and down", async () => {
    c = createEmbeddedCluster();
    await c.applyManifest(deployment("example1", 3));
    await c.waitQuiet();
    const rss = (await c.list("replicasets")).items;
    expect(rss).toHaveLength(1);
    const rs = rss[0];
    expect(rs.metadata.name).toMatch(new RegExp(`^example1-${SAFE}{6,10}$`));
    const hash = rs.metadata.name!.slice("example1-".length);
    expect(rs.metadata.labels?.["pod-template-hash"]).toBe(hash);
    expect(rs.spec.selector.matchLabels).toEqual({ app: "example1", "pod-template-hash": hash });
    expect(rs.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Deployment",
      name: "example1",
      controller: true,
    });
    let pods = (await c.list("pods")).items;
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.metadata.name).toMatch(new RegExp(`^${rs.metadata.name}-${SAFE}{5}$`));
      expect(p.metadata.labels).toEqual({ app: "example1", "pod-template-hash": hash });
      expect(p.metadata.ownerReferences?.[0]).toMatchObject({
        kind: "ReplicaSet",
        name: rs.metadata.name,
        uid: rs.metadata.uid,
      });
    }
    // the same template in another cluster hashes to the same name
    const other = createEmbeddedCluster();
    await other.applyManifest(deployment("example1", 1));
    await other.waitQuiet();
    expect((await other.list("replicasets")).items[0].metadata.name).toBe(rs.metadata.name);
    other.close();

    await c.applyManifest(deployment("example1", 5));
    await c.waitQuiet();
    expect((await c.list("pods")).items).toHaveLength(5);
    await c.patch("deployments", "example1", "default", { spec: { replicas: 1 } });
    await c.waitQuiet();
    pods = (await c.list("pods")).items;
    expect(pods).toHaveLength(1);
  });

  it("rolls out a new template: new ReplicaSet up, old one down, as pods become ready", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.applyManifest(deployment("web", 4, "nginx:1.25"));
    await settle(c);
    const first = (await c.list("replicasets")).items[0].metadata.name;
    await c.applyManifest(deployment("web", 4, "nginx:1.26"));
    await settle(c);
    const rss = (await c.list("replicasets")).items;
    expect(rss).toHaveLength(2);
    const next = rss.find((r) => r.metadata.name !== first)!;
    expect(next.spec.replicas).toBe(4);
    expect(rss.find((r) => r.metadata.name === first)!.spec.replicas).toBe(0);
    expect(next.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("2");
    const pods = (await c.list("pods")).items;
    expect(pods).toHaveLength(4);
    expect(pods.every((p) => p.spec.containers[0].image === "nginx:1.26")).toBe(true);
    const d = await c.get("deployments", "web");
    expect(d.status).toMatchObject({
      replicas: 4,
      updatedReplicas: 4,
      readyReplicas: 4,
      availableReplicas: 4,
    });
  });

  it("ReplicationController keeps its pods, named <rc>-<5 chars>, and adopts matching orphans", async () => {
    c = createEmbeddedCluster();
    await c.create("pods", pod("orphan", { app: "rc" }));
    await c.create("replicationcontrollers", {
      apiVersion: "v1",
      kind: "ReplicationController",
      metadata: { name: "rc" },
      spec: {
        replicas: 3,
        template: { metadata: { labels: { app: "rc" } }, spec: { containers: [{ name: "c", image: "i" }] } },
      },
    });
    await c.waitQuiet();
    const pods = (await c.list("pods")).items;
    expect(pods).toHaveLength(3);
    expect(
      pods
        .filter((p) => p.metadata.name !== "orphan")
        .every((p) => new RegExp(`^rc-${SAFE}{5}$`).test(p.metadata.name!)),
    ).toBe(true);
    expect((await c.get("pods", "orphan")).metadata.ownerReferences?.[0]).toMatchObject({
      kind: "ReplicationController",
      name: "rc",
    });
    await c.delete("pods", "orphan", "default");
    await c.waitQuiet();
    expect((await c.list("pods")).items).toHaveLength(3);
    expect((await c.get("replicationcontrollers", "rc")).status).toMatchObject({ replicas: 3 });
  });

  it("deleting a Deployment garbage-collects its ReplicaSets and pods", async () => {
    c = createEmbeddedCluster();
    await c.applyManifest(deployment("web", 2));
    await c.waitQuiet();
    await c.delete("deployments", "web", "default");
    await c.waitQuiet();
    expect((await c.list("replicasets")).items).toEqual([]);
    expect((await c.list("pods")).items).toEqual([]);
  });
});

describe("namespace deletion", () => {
  it("goes through Terminating, deletes the content, then the namespace", async () => {
    c = createEmbeddedCluster();
    await addNode(c, "node-1");
    await c.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
    await c.create("deployments", { ...deployment("web", 2), metadata: { name: "web", namespace: "x" } });
    await c.create("services", {
      ...service("web", { app: "web" }, [{ port: 80 }]),
      metadata: { name: "web", namespace: "x" },
    });
    await c.create("networkpolicies", {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "deny", namespace: "x" },
      spec: { podSelector: {} },
    });
    await settle(c);
    const { resourceVersion } = await c.list("namespaces");
    const r = recorder();
    await c.watch("namespaces", { resourceVersion, fieldSelector: "metadata.name=x" }, r.onEvent, r.onDone);
    await c.delete("namespaces", "x");
    const terminating = await c.get("namespaces", "x").catch(() => undefined);
    expect(terminating?.status.phase).toBe("Terminating");
    await c.waitQuiet();
    expect(r.summary()).toEqual(["MODIFIED x", "DELETED x"]);
    expect(r.events[0].object.status.phase).toBe("Terminating");
    for (const res of [
      "pods",
      "services",
      "endpoints",
      "endpointslices",
      "networkpolicies",
      "deployments",
      "replicasets",
    ] as const) {
      expect((await c.list(res, { namespace: "x" })).items).toEqual([]);
    }
    expect((await rejection(c.get("namespaces", "x"))).status).toBe(404);
  });
});
