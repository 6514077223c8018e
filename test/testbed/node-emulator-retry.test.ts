/**
 * The node emulator never leaves a pod Pending while it can still start: a network setup that fails (the CNI
 * gave up waiting for the controller, as happened to 315 of 1,000 pods) is retried like kubelet retries a
 * sandbox, the node stays busy meanwhile (so the settle barrier waits), and a pod that keeps failing is named
 * with its reason.
 */
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { createEmbeddedCluster } from "../../testbed/cluster/embedded/index";
import { type PodPlumber, startNodeEmulator } from "../../testbed/node/emulator";

function pod(name: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default" },
    spec: { nodeName: "node-1", containers: [{ name: "c", image: "agnhost" }] },
  };
}

/** A plumber that fails the first `failures` adds of each pod with `reason`, then gives it 10.0.0.x. */
function flakyPlumber(failures: number, reason: string): PodPlumber & { attempts: Map<string, number> } {
  const attempts = new Map<string, number>();
  let next = 1;
  return {
    attempts,
    async add(p) {
      const n = (attempts.get(p.metadata.name!) ?? 0) + 1;
      attempts.set(p.metadata.name!, n);
      if (n <= failures) throw new Error(reason);
      return { ip: `10.0.0.${next++}` };
    },
    async remove() {},
  };
}

const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("node emulator: pods whose network setup fails", () => {
  it("retries until the pod runs, and is busy (not idle) until then", async () => {
    const kube = createEmbeddedCluster();
    const plumber = flakyPlumber(2, "port API not ready after 40 polls of /vm-cfg/k8s__default__a: 404");
    const node = await startNodeEmulator({ kube, name: "node-1", ip: "10.84.31.11", plumber });
    try {
      await kube.create("pods", pod("a"), "default");
      await waitFor(() => (plumber.attempts.get("a") ?? 0) >= 1);
      // between attempts the node is not idle: a settle barrier waiting on it does not report settled
      await waitFor(() => node.failing().size === 1);
      expect(node.busy()).toBe(true);
      expect(node.failing().get("default/a")).toContain("port API not ready");
      await node.idle();
      const a = await kube.get("pods", "a", "default");
      expect(a.status?.phase).toBe("Running");
      expect(a.status?.podIP).toBe("10.0.0.1");
      expect(plumber.attempts.get("a")).toBe(3);
      expect(node.failing().size).toBe(0);
    } finally {
      await node.stop();
      kube.close();
    }
  }, 20_000);

  it("a pod that never starts keeps the node busy and is named with its reason; ignored pods are not waited for", async () => {
    const kube = createEmbeddedCluster();
    const plumber = flakyPlumber(Number.POSITIVE_INFINITY, "no vif for the VMI");
    const node = await startNodeEmulator({ kube, name: "node-1", ip: "10.84.31.11", plumber });
    try {
      await kube.create("pods", pod("b"), "default");
      await waitFor(() => (plumber.attempts.get("b") ?? 0) >= 2);
      expect(node.busy()).toBe(true);
      expect([...node.failing()]).toEqual([["default/b", "no vif for the VMI"]]);
      const b = await kube.get("pods", "b", "default");
      expect(b.status?.phase).not.toBe("Running");
      expect(JSON.stringify(b.status?.conditions)).toContain("network: no vif for the VMI");
      // a pod the controller reports as blocked is left out, as the settle barrier asks
      expect(node.busy((p) => p === "default/b")).toBe(false);
      await node.idle((p) => p === "default/b");
      // deleting the pod ends its retries
      await kube.delete("pods", "b", "default");
      await waitFor(() => node.failing().size === 0 && !node.busy());
    } finally {
      await node.stop();
      kube.close();
    }
  }, 20_000);
});
