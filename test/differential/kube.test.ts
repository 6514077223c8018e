/**
 * The Kubernetes-side normalisation of the differential test: run identity (uids, resourceVersions,
 * timestamps, template hashes, generated suffixes, allocated ClusterIPs, placement) does not count, while
 * what the API server adds or leaves out — a generation, a defaulted field — does.
 */
import { describe, expect, it } from "vitest";
import type { KubeObject, ResourceName } from "../../controller/kube/api";
import { diffGraphs } from "./graph";
import { normaliseKube } from "./kube";

function run(o: {
  uid: string;
  hash: string;
  rand: string;
  ip: string;
  node: string;
  svcGeneration?: number;
}): [ResourceName, KubeObject[]][] {
  const svc = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "web",
      namespace: "default",
      uid: o.uid,
      resourceVersion: "17",
      ...(o.svcGeneration ? { generation: o.svcGeneration } : {}),
    },
    spec: {
      clusterIP: o.ip,
      clusterIPs: [o.ip],
      selector: { app: "web" },
      ports: [{ port: 80, protocol: "TCP" }],
    },
  } as KubeObject;
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `web-${o.hash}-${o.rand}`,
      generateName: `web-${o.hash}-`,
      namespace: "default",
      uid: `${o.uid}-pod`,
      labels: { app: "web", "pod-template-hash": o.hash },
      creationTimestamp: new Date(),
    },
    spec: { nodeName: o.node, containers: [{ name: "web" }] },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date() }],
    },
  } as KubeObject;
  return [
    ["services", [svc]],
    ["pods", [pod]],
  ];
}

describe("Kubernetes object normalisation", () => {
  const a = { uid: "u-1", hash: "5d46c96dd4", rand: "x7k2p", ip: "10.96.1.0", node: "n1" };
  const b = { uid: "u-2", hash: "7f9c8d6b45", rand: "m2n4p", ip: "10.101.7.33", node: "n2" };

  it("ignores uids, versions, timestamps, template hashes, generated suffixes, ClusterIPs and placement", () => {
    const d = diffGraphs(normaliseKube(run(a), new Set([a.ip])), normaliseKube(run(b), new Set([b.ip])));
    expect(d).toEqual([]);
  });

  it("reports a generation one server keeps and the other does not", () => {
    const d = diffGraphs(
      normaliseKube(run({ ...a, svcGeneration: 1 }), new Set([a.ip])),
      normaliseKube(run(b), new Set([b.ip])),
    );
    expect(d).toEqual(["services default/web differs:\n  metadata.generation: embedded 1 / local undefined"]);
  });
});
