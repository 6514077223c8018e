/**
 * The node emulator: a kubelet stand-in shared by every cluster backend. It registers its Node (InternalIP =
 * the compute's fabric address), renews its Lease, runs the pods bound to it by handing them to a
 * `PodPlumber` (simulated engine port, or a network namespace plumbed by the real CNI executable), and writes
 * pod status (podIP, hostIP, phase, Ready) from the result — so EndpointSlices follow, as on a real node.
 *
 * Example: `const n = await startNodeEmulator({ kube, name: "b3s37", ip: "10.84.31.11", plumber }); await n.idle();`
 */
import { setMaxListeners } from "node:events";
import { type KubeApi, KubeApiError, type KubeObject } from "../../controller/kube/api";
import { Informer } from "../../controller/kube/informer";
import {
  NETWORK_STATUS_ANNOTATION,
  NETWORKS_ANNOTATION,
  parsePodNetworks,
} from "../../controller/translate/multinet";

export interface PodAddress {
  ip: string;
  mac?: string;
  gateway?: string;
  /**
   * Every interface plugged, the default network's first (a pod with `k8s.v1.cni.cncf.io/networks` has more):
   * what the pod's `k8s.v1.cni.cncf.io/network-status` annotation lists.
   */
  interfaces?: PodInterface[];
}

/** One plugged interface of a pod. */
export interface PodInterface {
  /** container interface name (eth0, eth1 or the name the attachment asked for) */
  ifname: string;
  /** the attachment as network-status names it: "<ns>/<definition>"; absent for the default network */
  network?: string;
  ip: string;
  mac?: string;
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
  /** Pods of this node whose network setup failed and is being retried, with the last failure ("<ns>/<pod>": why). */
  failing(): Map<string, string>;
  /**
   * What the readiness probes of pod "<ns>/<pod>" answer from now on (a scenario's `readiness` step): the pod's
   * Ready condition follows, as kubelet's prober sets it. False when the pod does not run here.
   */
  setReadiness(pod: string, passing: boolean): Promise<boolean>;
  stop(): Promise<void>;
}

/** First retry of a pod whose network setup failed; doubled per failure up to RETRY_MAX_MS (kubelet backs off too). */
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 5_000;

export async function startNodeEmulator(opts: NodeEmulatorOptions): Promise<NodeEmulator> {
  const { kube, name, ip, plumber } = opts;
  const log = opts.log ?? (() => {});
  /** "<ns>/<pod>" whose readiness probe fails (kept across restarts of the pod's sandbox, like the app's state). */
  const probeFailing = new Set<string>();
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
  /** uid → the pod as last seen (a retry starts from it) */
  const latestPods = new Map<string, KubeObject>();
  const stopping = new AbortController();
  setMaxListeners(0, stopping.signal); // every pod waiting for its network listens to it
  const inflight = new Map<string, Promise<void>>();
  /** uid → "<ns>/<pod>" of the pods with work in flight */
  const inflightPods = new Map<string, string>();
  let waiters: { ignore?: (pod: string) => boolean; resolve: () => void }[] = [];
  /** uid → the pod whose network setup failed, why, and its retry (a pending retry is work in flight) */
  const failed = new Map<string, { id: string; reason: string; delay: number; timer?: NodeJS.Timeout }>();

  const busy = (ignore?: (pod: string) => boolean) =>
    [...inflight.keys()].some((uid) => !ignore?.(inflightPods.get(uid) ?? "")) ||
    [...failed.values()].some((f) => f.timer && !ignore?.(f.id));
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
      await setRunning(kube, pod, ip, ip, !probeFailing.has(id));
      return;
    }
    try {
      // Multus' part of the sandbox set-up: every attachment the pod names must have its definition
      await checkAttachments(kube, pod);
      const addr = await plumber.add(pod, name, stopping.signal);
      running.set(uid, pod);
      clearFailure(uid);
      await setRunning(kube, pod, addr.ip, ip, !probeFailing.has(id));
      await writeNetworkStatus(kube, pod, addr).catch((e) =>
        log(`node ${name}: pod ${id}: network-status not written: ${(e as Error).message}`),
      );
      log(`node ${name}: pod ${id} running with ${addr.ip}`);
    } catch (e) {
      // like kubelet when CNI ADD fails: the pod stays ContainerCreating with the reason in its status, and its
      // sandbox is tried again after a backoff (a pod is never left Pending while the testbed is still working)
      log(`node ${name}: pod ${id} network setup failed: ${(e as Error).message}`);
      if (!stopping.signal.aborted) scheduleRetry(pod, (e as Error).message);
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

  const clearFailure = (uid: string) => {
    const f = failed.get(uid);
    if (f?.timer) clearTimeout(f.timer);
    failed.delete(uid);
  };

  const scheduleRetry = (pod: KubeObject, reason: string) => {
    const uid = pod.metadata.uid!;
    const prev = failed.get(uid);
    const delay = prev ? Math.min(prev.delay * 2, RETRY_MAX_MS) : RETRY_FIRST_MS;
    const entry = { id: `${pod.metadata.namespace}/${pod.metadata.name}`, reason, delay } as {
      id: string;
      reason: string;
      delay: number;
      timer?: NodeJS.Timeout;
    };
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      const latest = latestPods.get(uid);
      if (latest && !running.has(uid) && !stopping.signal.aborted)
        enqueue(uid, () => startPod(latest), latest);
      else settleWaiters();
    }, delay);
    failed.set(uid, entry);
  };

  const stopPod = async (pod: KubeObject) => {
    const uid = pod.metadata.uid!;
    clearFailure(uid);
    const known = running.get(uid) ?? pod;
    running.delete(uid);
    if (!known.spec?.hostNetwork) await plumber.remove(known, name);
  };

  // the pods bound here, as a kubelet watches them (spec.nodeName=<itself>): the API server filters, so 50
  // nodes do not each receive (a copy of) every pod event of the cluster
  const pods = new Informer(kube, "pods", {
    fieldSelector: `spec.nodeName=${name}`,
    onChange: (type, pod) => {
      if (pod.spec?.nodeName !== name) return;
      const uid = pod.metadata.uid!;
      if (type === "delete") latestPods.delete(uid);
      else latestPods.set(uid, pod);
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
    failing: () => new Map([...failed.values()].map((f) => [f.id, f.reason])),
    async setReadiness(id, passing) {
      if (passing) probeFailing.delete(id);
      else probeFailing.add(id);
      const pod = [...running.values()].find((p) => `${p.metadata.namespace}/${p.metadata.name}` === id);
      if (!pod) return false;
      await setReady(kube, pod, passing);
      return true;
    },
    idle: (ignore) =>
      busy(ignore) ? new Promise((resolve) => waiters.push({ ignore, resolve })) : Promise.resolve(),
    async stop() {
      if (leaseTimer) clearInterval(leaseTimer);
      pods.stop();
      // a pod still waiting for its network (blocked in the controller) gives up now
      stopping.abort();
      for (const uid of [...failed.keys()]) clearFailure(uid);
      await Promise.allSettled([...inflight.values()]);
    },
  };
}

/** The name Multus gives the cluster's default network in network-status (the delegate's CNI config name). */
export const DEFAULT_NETWORK_NAME = "contrail-k8s-cni";

/**
 * What Multus refuses before any plugin runs: an unreadable networks annotation, or an attachment whose
 * NetworkAttachmentDefinition does not exist (its error text, so the pod's status reads as on a real node).
 */
async function checkAttachments(kube: KubeApi, pod: KubeObject): Promise<void> {
  const v = pod.metadata.annotations?.[NETWORKS_ANNOTATION];
  if (v === undefined) return;
  const ns = pod.metadata.namespace!;
  const who = `Multus: [${ns}/${pod.metadata.name}/${pod.metadata.uid}]`;
  const list = parsePodNetworks(v, ns);
  if (typeof list === "string")
    throw new Error(`${who}: error parsing the pod's network annotation: ${list}`);
  for (const a of list) {
    let nad: KubeObject;
    try {
      nad = await kube.get("networkattachmentdefinitions", a.name, a.namespace);
    } catch (e) {
      if (!(e instanceof KubeApiError) || e.status !== 404) throw e;
      throw new Error(
        `${who}: error getting pod network: cannot find a network-attachment-definition (${a.name}) in namespace (${a.namespace}): network-attachment-definitions.k8s.cni.cncf.io "${a.name}" not found`,
      );
    }
    // the delegate's CNI configuration: Multus cannot run a plugin from a config it cannot read
    const config = nad.spec?.config;
    if (typeof config === "string" && config.trim() !== "") {
      try {
        JSON.parse(config);
      } catch (e) {
        throw new Error(
          `${who}: error getting pod network: network-attachment-definition ${a.namespace}/${a.name}: invalid spec.config: ${(e as Error).message}`,
        );
      }
    }
  }
}

/** `k8s.v1.cni.cncf.io/network-status` as Multus writes it (JSON, 4-space indent): one entry per interface. */
export function networkStatus(addr: PodAddress): string {
  const ifs = addr.interfaces ?? [{ ifname: "eth0", ip: addr.ip, mac: addr.mac }];
  return JSON.stringify(
    ifs.map((i) => ({
      name: i.network ?? DEFAULT_NETWORK_NAME,
      interface: i.ifname,
      ips: [i.ip],
      ...(i.mac ? { mac: i.mac } : {}),
      ...(i.network === undefined ? { default: true } : {}),
      dns: {},
    })),
    null,
    4,
  );
}

async function writeNetworkStatus(kube: KubeApi, pod: KubeObject, addr: PodAddress): Promise<void> {
  // only pods Multus would serve: those with attachments (a plain pod keeps the annotations it was given)
  if (!addr.interfaces || addr.interfaces.length < 2) return;
  await kube.patch(
    "pods",
    pod.metadata.name!,
    pod.metadata.namespace,
    { metadata: { annotations: { [NETWORK_STATUS_ANNOTATION]: networkStatus(addr) } } },
    "merge",
  );
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

/** A container with a readiness probe is Ready only while it passes; one without is Ready once it runs (kubelet). */
function containerReady(c: { readinessProbe?: unknown }, passing: boolean): boolean {
  return c.readinessProbe === undefined || passing;
}

/** The prober's verdict changed: the containers' ready flags, ContainersReady and Ready follow. */
async function setReady(kube: KubeApi, pod: KubeObject, passing: boolean): Promise<void> {
  const now = new Date().toISOString();
  const containers = (pod.spec?.containers ?? []) as { name: string; readinessProbe?: unknown }[];
  const ready = containers.every((c) => containerReady(c, passing));
  const current = await kube.get("pods", pod.metadata.name!, pod.metadata.namespace);
  const status = current.status ?? {};
  const cond = (type: string) =>
    ready
      ? { type, status: "True", lastTransitionTime: now }
      : {
          type,
          status: "False",
          reason: "ContainersNotReady",
          lastTransitionTime: now,
          message: `containers with unready status: [${containers
            .filter((c) => !containerReady(c, passing))
            .map((c) => c.name)
            .join(" ")}]`,
        };
  const conditions = ((status.conditions ?? []) as { type: string }[]).filter(
    (c) => c.type !== "Ready" && c.type !== "ContainersReady",
  );
  await kube.patchStatus("pods", pod.metadata.name!, pod.metadata.namespace, {
    status: {
      conditions: [...conditions, cond("ContainersReady"), cond("Ready")],
      containerStatuses: ((status.containerStatuses ?? []) as { name: string }[]).map((cs) => ({
        ...cs,
        ready: containerReady(containers.find((c) => c.name === cs.name) ?? {}, passing),
      })),
    },
  });
}

async function setRunning(
  kube: KubeApi,
  pod: KubeObject,
  podIP: string,
  hostIP: string,
  probesPass = true,
): Promise<void> {
  const now = new Date().toISOString();
  const containers = (pod.spec?.containers ?? []) as {
    name: string;
    image?: string;
    readinessProbe?: unknown;
  }[];
  const allReady = containers.every((c) => containerReady(c, probesPass));
  const cond = (type: string) =>
    (type === "Ready" || type === "ContainersReady") && !allReady
      ? { type, status: "False", reason: "ContainersNotReady", lastTransitionTime: now }
      : { type, status: "True", lastTransitionTime: now };
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
        ready: containerReady(c, probesPass),
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } },
      })),
    },
  });
}
