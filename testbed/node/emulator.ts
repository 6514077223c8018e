/**
 * The node emulator: a kubelet stand-in shared by every cluster backend. It registers its Node (InternalIP =
 * the compute's fabric address), renews its Lease, runs the pods bound to it by handing them to a
 * `PodPlumber` (simulated engine port, or a network namespace plumbed by the real CNI executable), and writes
 * pod status (podIP, hostIP, phase, Ready) from the result — so EndpointSlices follow, as on a real node.
 *
 * Example: `const n = await startNodeEmulator({ kube, name: "b3s37", ip: "10.84.31.11", plumber }); await n.idle();`
 */
import { type KubeApi, KubeApiError, type KubeObject } from "../../controller/kube/api";
import { Informer } from "../../controller/kube/informer";

export interface PodAddress {
  ip: string;
  mac?: string;
  gateway?: string;
}

/** Gives a pod its network: the datapath-specific half of the node emulator. */
export interface PodPlumber {
  /**
   * Plumb the pod; resolves with its address. Rejects when the network never became ready, or soon after
   * `signal` aborts (the node stops) if it is still waiting.
   */
  add(pod: KubeObject, node: string, signal?: AbortSignal): Promise<PodAddress>;
  /** Unplumb; must succeed when called again or for a pod never plumbed (like CNI DEL). */
  remove(pod: KubeObject, node: string): Promise<void>;
}

export interface NodeEmulatorOptions {
  kube: KubeApi;
  name: string;
  ip: string;
  plumber: PodPlumber;
  /** Lease renewal period; the real kubelet renews every 10 s. 0 disables (embedded cluster). */
  leaseRenewMs?: number;
  log?: (msg: string) => void;
}

export interface NodeEmulator {
  readonly name: string;
  readonly ip: string;
  /** Resolves when no pod of this node is being plumbed or unplumbed. */
  /**
   * Resolves when no pod's work is in flight; `ignore("<ns>/<pod>")` leaves out pods nothing should wait for
   * (their network is blocked on something no one in the cluster will create), checked whenever work ends.
   */
  idle(ignore?: (pod: string) => boolean): Promise<void>;
  busy(ignore?: (pod: string) => boolean): boolean;
  stop(): Promise<void>;
}

export async function startNodeEmulator(opts: NodeEmulatorOptions): Promise<NodeEmulator> {
  const { kube, name, ip, plumber } = opts;
  const log = opts.log ?? (() => {});
  await registerNode(kube, name, ip);
  let leaseTimer: NodeJS.Timeout | undefined;
  if (opts.leaseRenewMs) {
    await renewLease(kube, name).catch((e) => log(`lease ${name}: ${(e as Error).message}`));
    leaseTimer = setInterval(() => {
      renewLease(kube, name).catch((e) => log(`lease ${name}: ${(e as Error).message}`));
    }, opts.leaseRenewMs);
    leaseTimer.unref();
  }

  // pods known to be plumbed here, by uid, and the work in flight per pod (serialised per pod)
  const running = new Map<string, KubeObject>();
  const stopping = new AbortController();
  const inflight = new Map<string, Promise<void>>();
  /** uid → "<ns>/<pod>" of the pods with work in flight */
  const inflightPods = new Map<string, string>();
  let waiters: { ignore?: (pod: string) => boolean; resolve: () => void }[] = [];

  const busy = (ignore?: (pod: string) => boolean) =>
    [...inflight.keys()].some((uid) => !ignore?.(inflightPods.get(uid) ?? ""));
  const settleWaiters = () => {
    const ready = waiters.filter((w) => !busy(w.ignore));
    waiters = waiters.filter((w) => busy(w.ignore));
    for (const w of ready) w.resolve();
  };

  const enqueue = (uid: string, work: () => Promise<void>, pod: KubeObject) => {
    const prev = inflight.get(uid) ?? Promise.resolve();
    const next = prev.then(work).catch((e) => log(`node ${name}: ${(e as Error).message}`));
    inflight.set(uid, next);
    inflightPods.set(uid, `${pod.metadata.namespace}/${pod.metadata.name}`);
    void next.then(() => {
      if (inflight.get(uid) === next) {
        inflight.delete(uid);
        inflightPods.delete(uid);
      }
      settleWaiters();
    });
  };

  const startPod = async (pod: KubeObject) => {
    const uid = pod.metadata.uid!;
    if (running.has(uid)) return;
    const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (pod.spec?.hostNetwork) {
      running.set(uid, pod);
      await setRunning(kube, pod, ip, ip);
      return;
    }
    try {
      const addr = await plumber.add(pod, name, stopping.signal);
      running.set(uid, pod);
      await setRunning(kube, pod, addr.ip, ip);
      log(`node ${name}: pod ${id} running with ${addr.ip}`);
    } catch (e) {
      // like kubelet when CNI ADD fails: the pod stays ContainerCreating with the reason in its status
      log(`node ${name}: pod ${id} network setup failed: ${(e as Error).message}`);
      await kube
        .patchStatus("pods", pod.metadata.name!, pod.metadata.namespace, {
          status: {
            hostIP: ip,
            conditions: [
              { type: "PodScheduled", status: "True" },
              {
                type: "Ready",
                status: "False",
                reason: "ContainersNotReady",
                message: `network: ${(e as Error).message}`,
              },
            ],
          },
        })
        .catch(() => {});
    }
  };

  const stopPod = async (pod: KubeObject) => {
    const uid = pod.metadata.uid!;
    const known = running.get(uid) ?? pod;
    running.delete(uid);
    if (!known.spec?.hostNetwork) await plumber.remove(known, name);
  };

  // every pod event; the ones bound elsewhere are not ours (a kubelet watches spec.nodeName=<itself>)
  const pods = new Informer(kube, "pods", {
    onChange: (type, pod) => {
      if (pod.spec?.nodeName !== name) return;
      const uid = pod.metadata.uid!;
      if (type === "delete") enqueue(uid, () => stopPod(pod), pod);
      else if (pod.metadata.deletionTimestamp) enqueue(uid, () => finishDelete(pod), pod);
      else if (!running.has(uid)) enqueue(uid, () => startPod(pod), pod);
    },
    onError: (e) => log(`node ${name}: pod watch: ${e.message}`),
  });

  // a pod with a deletionTimestamp (real API server, graceful delete) is torn down, then removed for good
  const finishDelete = async (pod: KubeObject) => {
    await stopPod(pod);
    await kube
      .delete("pods", pod.metadata.name!, pod.metadata.namespace, { gracePeriodSeconds: 0 })
      .catch(() => {});
  };

  await pods.start();

  return {
    name,
    ip,
    busy,
    idle: (ignore) =>
      busy(ignore) ? new Promise((resolve) => waiters.push({ ignore, resolve })) : Promise.resolve(),
    async stop() {
      if (leaseTimer) clearInterval(leaseTimer);
      pods.stop();
      // a pod still waiting for its network (blocked in the controller) gives up now
      stopping.abort();
      await Promise.allSettled([...inflight.values()]);
    },
  };
}

async function registerNode(kube: KubeApi, name: string, ip: string): Promise<void> {
  const now = new Date().toISOString();
  const status = {
    addresses: [
      { type: "InternalIP", address: ip },
      { type: "Hostname", address: name },
    ],
    conditions: [
      {
        type: "Ready",
        status: "True",
        reason: "KubeletReady",
        message: "node emulator is posting ready status",
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      },
    ],
    capacity: { cpu: "8", memory: "32Gi", pods: "110" },
    allocatable: { cpu: "8", memory: "32Gi", pods: "110" },
    nodeInfo: {
      kubeletVersion: "ctb-node-emulator",
      containerRuntimeVersion: "ctb://0",
      operatingSystem: "linux",
      architecture: "amd64",
    },
  };
  // Like the kubelet, create the Node with its status (addresses, Ready) in the same request: a Node created
  // bare and patched after is seen by watchers (the controller) without an InternalIP in between.
  const node: KubeObject = {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux" } },
    spec: {},
    status,
  };
  try {
    await kube.create("nodes", node);
    return;
  } catch (e) {
    if (!(e instanceof KubeApiError) || e.status !== 409) throw e;
  }
  await kube.patchStatus("nodes", name, undefined, { status });
}

async function renewLease(kube: KubeApi, name: string): Promise<void> {
  const renewTime = new Date().toISOString().replace("Z", "000Z"); // MicroTime
  try {
    await kube.patch(
      "leases",
      name,
      "kube-node-lease",
      { spec: { renewTime, holderIdentity: name } },
      "merge",
    );
  } catch (e) {
    if (!(e instanceof KubeApiError) || e.status !== 404) throw e;
    await kube.create(
      "leases",
      {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace: "kube-node-lease" },
        spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime },
      },
      "kube-node-lease",
    );
  }
}

async function setRunning(kube: KubeApi, pod: KubeObject, podIP: string, hostIP: string): Promise<void> {
  const now = new Date().toISOString();
  const containers = (pod.spec?.containers ?? []) as { name: string; image?: string }[];
  const cond = (type: string) => ({ type, status: "True", lastTransitionTime: now });
  await kube.patchStatus("pods", pod.metadata.name!, pod.metadata.namespace, {
    status: {
      phase: "Running",
      hostIP,
      hostIPs: [{ ip: hostIP }],
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: now,
      conditions: [cond("PodScheduled"), cond("Initialized"), cond("ContainersReady"), cond("Ready")],
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image ?? "",
        imageID: "",
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } },
      })),
    },
  });
}
