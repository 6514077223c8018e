/**
 * Test helpers for the embedded cluster: what the node emulator would do (register Ready nodes, report pods
 * Running with an IP), a watch recorder, and error capture.
 *
 * Example: await addNode(c, "node-1"); await runPod(c, "default", "web-1", "10.47.255.252");
 */
import type { KubeApiError, KubeObject, WatchEvent } from "../../controller/kube/api";
import type { EmbeddedCluster } from "../../testbed/cluster/embedded";

export async function addNode(
  c: EmbeddedCluster,
  name: string,
  opts: {
    ready?: boolean;
    labels?: Record<string, string>;
    taints?: unknown[];
    unschedulable?: boolean;
  } = {},
): Promise<KubeObject> {
  return c.create("nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "kubernetes.io/hostname": name, ...(opts.labels ?? {}) } },
    spec: { taints: opts.taints, unschedulable: opts.unschedulable },
    status: { conditions: [{ type: "Ready", status: opts.ready === false ? "False" : "True" }] },
  });
}

/** The node emulator's status patch: Running, an IP, and Ready (or not). */
export async function runPod(
  c: EmbeddedCluster,
  ns: string,
  name: string,
  ip: string,
  ready = true,
): Promise<KubeObject> {
  return c.patchStatus("pods", name, ns, {
    status: {
      phase: "Running",
      podIP: ip,
      hostIP: "192.168.0.10",
      conditions: [
        { type: "PodScheduled", status: "True" },
        { type: "Ready", status: ready ? "True" : "False" },
        { type: "ContainersReady", status: ready ? "True" : "False" },
      ],
    },
  });
}

export function pod(
  name: string,
  labels: Record<string, string> = {},
  ports: unknown[] = [],
  ns?: string,
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels, ...(ns ? { namespace: ns } : {}) },
    spec: { containers: [{ name: "main", image: "registry.k8s.io/e2e-test-images/agnhost:2.53", ports }] },
  };
}

export async function rejection(p: Promise<unknown>): Promise<KubeApiError> {
  try {
    await p;
  } catch (e) {
    return e as KubeApiError;
  }
  throw new Error("expected the call to fail");
}

export interface Recorder {
  events: WatchEvent[];
  done: Promise<Error | undefined>;
  onEvent: (ev: WatchEvent) => void;
  onDone: (err?: Error) => void;
  summary(): string[];
}

export function recorder(): Recorder {
  let resolve!: (e: Error | undefined) => void;
  const done = new Promise<Error | undefined>((r) => {
    resolve = r;
  });
  const events: WatchEvent[] = [];
  return {
    events,
    done,
    onEvent: (ev) => events.push(ev),
    onDone: (err) => resolve(err),
    summary: () => events.map((e) => `${e.type} ${e.object.metadata.name ?? ""}`.trim()),
  };
}

/**
 * A minimal node emulator: until nothing changes, every bound pod that has no IP yet is reported Running
 * and Ready with the next address of 10.47.255.0/24 (counting down like Contrail's IPAM).
 */
export async function settle(c: EmbeddedCluster): Promise<void> {
  let next = 252;
  for (;;) {
    await c.waitQuiet();
    const { items } = await c.list("pods");
    const waiting = items.filter((p) => p.spec.nodeName && !p.status?.podIP);
    if (waiting.length === 0) return;
    for (const p of waiting) {
      const used = new Set(items.map((x) => x.status?.podIP).filter(Boolean));
      while (used.has(`10.47.255.${next}`)) next--;
      await runPod(c, p.metadata.namespace!, p.metadata.name!, `10.47.255.${next--}`);
    }
  }
}
