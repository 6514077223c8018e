/**
 * The real-cluster settle barrier's judgement (`unconverged`), without a cluster: the states a real
 * controller-manager passes through between "the pod is Ready" and "the Service's EndpointSlice lists it",
 * "the Deployment scaled down" and "the extra pods are gone", "the owner is deleted" and "the GC removed its
 * dependents" must count as not converged; a finished state must count as converged.
 */
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { type ClusterState, unconverged } from "../../testbed/cluster/quiet";

const RS_UID = "rs-uid";

function pod(
  name: string,
  ip: string,
  labels: Record<string, string>,
  extra: Partial<KubeObject["metadata"]> = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: "default",
      uid: `uid-${name}`,
      labels,
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-1", uid: RS_UID, controller: true },
      ],
      ...extra,
    },
    spec: { nodeName: "node-1" },
    status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] },
  };
}

function slice(addresses: string[][]): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-abcde",
      namespace: "default",
      uid: "uid-slice",
      labels: { "kubernetes.io/service-name": "web" },
      ownerReferences: [{ apiVersion: "v1", kind: "Service", name: "web", uid: "uid-svc" }],
    },
    endpoints: addresses.map((a) => ({ addresses: a, conditions: { ready: true } })),
  } as unknown as KubeObject;
}

/** A converged cluster: a 2-replica ReplicaSet, its pods Ready, the Service's slice listing both. */
function converged(): ClusterState {
  return {
    namespaces: [
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "default", uid: "uid-ns" },
        status: { phase: "Active" },
      },
    ],
    deployments: [],
    replicasets: [
      {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: { name: "web-1", namespace: "default", uid: RS_UID, generation: 1 },
        spec: { replicas: 2 },
        status: { replicas: 2, observedGeneration: 1 },
      },
    ],
    replicationcontrollers: [],
    pods: [pod("web-1-a", "10.47.255.252", { app: "web" }), pod("web-1-b", "10.47.255.251", { app: "web" })],
    services: [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web", namespace: "default", uid: "uid-svc" },
        spec: { selector: { app: "web" } },
      },
    ],
    endpointslices: [slice([["10.47.255.252"], ["10.47.255.251"]])],
  };
}

describe("real-cluster quiet: unconverged()", () => {
  it("accepts a finished state", () => {
    expect(unconverged(converged())).toEqual([]);
  });

  it("waits for the EndpointSlice controller to list a pod that just became Ready", () => {
    const s = converged();
    s.endpointslices = [slice([["10.47.255.252"]])];
    expect(unconverged(s)).toEqual([
      "service default/web's EndpointSlices list [10.47.255.252], its ready pods are [10.47.255.251,10.47.255.252]",
    ]);
  });

  it("waits for a selector Service's first EndpointSlice", () => {
    const s = converged();
    s.endpointslices = [];
    expect(unconverged(s)).toEqual(["service default/web has no EndpointSlice yet"]);
  });

  it("waits while a ReplicaSet still owns more pods than it wants (status already scaled down)", () => {
    const s = converged();
    s.replicasets[0] = {
      ...s.replicasets[0]!,
      spec: { replicas: 1 },
      status: { replicas: 1, observedGeneration: 1 },
    };
    s.endpointslices = [slice([["10.47.255.252"], ["10.47.255.251"]])];
    expect(unconverged(s)).toContain("ReplicaSet default/web-1 owns 2/1 pods");
  });

  it("waits for the garbage collector when an owner is gone, but not for owners of kinds it does not read", () => {
    const s = converged();
    s.replicasets = [];
    expect(unconverged(s)).toContain(
      "pods default/web-1-a waits for the garbage collector (ReplicaSet web-1 is gone)",
    );
    const t = converged();
    t.pods.push(
      pod(
        "db-0",
        "10.47.255.250",
        { app: "db" },
        { ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "db", uid: "uid-sts" }] },
      ),
    );
    expect(unconverged(t)).toEqual([]);
  });

  it("waits for terminating pods and namespaces", () => {
    const s = converged();
    s.pods[0] = pod(
      "web-1-a",
      "10.47.255.252",
      { app: "web" },
      { deletionTimestamp: new Date("2026-11-22T13:00:00Z"), ownerReferences: [] },
    );
    s.namespaces.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "team-a", uid: "uid-a" },
      status: { phase: "Terminating" },
    });
    const why = unconverged(s);
    expect(why).toContain("pod default/web-1-a is terminating");
    expect(why).toContain("namespace team-a is terminating");
  });
});
