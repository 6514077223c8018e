/**
 * The embedded ReplicaSet controller's choice of surplus pods, in the real controller's order (found by the
 * differential test: the real one empties crowded nodes first, the embedded one used to take the newest pod).
 */
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { deletionOrder } from "../../testbed/cluster/embedded/controllers/workloads";

const NOW = new Date("2026-11-22T13:00:00Z");

function pod(
  name: string,
  node: string,
  opts: { created?: string; ready?: boolean; cost?: number; restarts?: number } = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      uid: `uid-${name}`,
      creationTimestamp: (opts.created ?? "2026-11-22T12:59:00Z") as unknown as Date,
      ...(opts.cost !== undefined
        ? { annotations: { "controller.kubernetes.io/pod-deletion-cost": String(opts.cost) } }
        : {}),
    },
    spec: { nodeName: node, containers: [{ name: "c" }] },
    status: {
      phase: "Running",
      conditions: [
        {
          type: "Ready",
          status: opts.ready === false ? "False" : "True",
          lastTransitionTime: "2026-11-22T12:59:05Z",
        },
      ],
      containerStatuses: [{ name: "c", restartCount: opts.restarts ?? 0 }],
    },
  } as KubeObject;
}

function first(pods: KubeObject[]): string {
  const perNode = new Map<string, number>();
  for (const p of pods) perNode.set(p.spec!.nodeName!, (perNode.get(p.spec!.nodeName!) ?? 0) + 1);
  const doubledUp = new Map(pods.map((p) => [p, perNode.get(p.spec!.nodeName!)!]));
  return [...pods].sort(deletionOrder(doubledUp, NOW))[0]!.metadata.name!;
}

describe("embedded scale-down order (ActivePodsWithRanks)", () => {
  it("takes a pod from the crowded node, even when the lone pod is newer", () => {
    expect(
      first([pod("a", "n1"), pod("b", "n1"), pod("z", "n2", { created: "2026-11-22T12:59:59Z" })]),
    ).not.toBe("z");
  });

  it("takes a not-ready pod before a ready one, and a cheap one before a costly one", () => {
    expect(first([pod("a", "n1"), pod("b", "n2", { ready: false })])).toBe("b");
    expect(first([pod("a", "n1", { cost: 10 }), pod("b", "n2")])).toBe("b");
  });

  it("takes the pod with more restarts, then the one created in a more recent power-of-two age bucket", () => {
    expect(first([pod("a", "n1", { restarts: 3 }), pod("b", "n2")])).toBe("a");
    // 10 s old vs 60 s old: different buckets, the newer goes; 60 s vs 61 s: same bucket, the smaller uid goes
    expect(
      first([
        pod("a", "n1", { created: "2026-11-22T12:59:00Z" }),
        pod("b", "n2", { created: "2026-11-22T12:59:50Z" }),
      ]),
    ).toBe("b");
    expect(
      first([
        pod("b", "n1", { created: "2026-11-22T12:59:00Z" }),
        pod("a", "n2", { created: "2026-11-22T12:58:59Z" }),
      ]),
    ).toBe("a");
  });
});
