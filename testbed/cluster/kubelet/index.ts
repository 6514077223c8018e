/**
 * The `--nodes kubelet` backend as the testbed uses it: real kubelet + containerd nodes (node.ts) in place of
 * the node emulators, on the local control plane and the netns datapath. containerd calls `contrail-k8s-cni`
 * (the conf names the compute's namespace and its agent port API, as CniPlumber's does); once a pod runs and
 * its vrouter has its tap, the pod's namespace (containerd's) gets its testbed name and a prober process, so
 * probes, `ctb exec` and captures work as on emulated nodes (`NetnsDatapath.adoptPod`).
 *
 * Pods cannot pull images here: `localImageOverlay` rewrites every pod and pod template the testbed writes to
 * the local echo image (serving the container's declared ports), imagePullPolicy Never — what a kustomize
 * `images:` overlay does for deploy/ — and keeps the original image in an annotation.
 *
 * Example: `const b = await startKubeletBackend({ kube, dp, nodes, … }); …; await b.close()`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeApi, KubeObject } from "../../../controller/kube/api";
import { Informer } from "../../../controller/kube/informer";
import type { NetnsDatapath } from "../../netns-datapath";
import { CNI_BINARY, podKey } from "../../node/cni-plumber";
import type { NodeEmulator } from "../../node/emulator";
import type { Pki } from "../local/pki";
import { ensureImages } from "./images/index";
import { type KubeletNode, type LocalImage, startKubeletNodes } from "./node";

export { kubeletNodesMissing, KubeletNodeError, undoNodes } from "./node";

/** The annotation that keeps a container's image from before the local-image overlay ("<container>=<image>,…"). */
export const ORIGINAL_IMAGES_ANNOTATION = "testbed.contrail/original-images";
/** The network probes the overlay ran inside the pod instead (`probeInPod`): `{"<container>": {"<kind>": probe}}`. */
export const ORIGINAL_PROBES_ANNOTATION = "testbed.contrail/original-probes";

export interface KubeletImages {
  sandbox: LocalImage;
  /** The app image every pod runs: serves the ports given as arguments ("tcp:80 udp:53"). */
  echo: LocalImage;
  /** Imported too (the project's own image for deploy/). */
  others: LocalImage[];
}

export interface KubeletBackendOptions {
  kube: KubeApi;
  dp: NetnsDatapath;
  nodes: { name: string; ip: string }[];
  clusterName: string;
  portApiPort: (node: string) => number;
  apiServerUrl: string;
  pki: Pki;
  binDir: string;
  stateDir: string;
  tag: string;
  images: KubeletImages;
  /** The CNI executable containerd calls (default bin/contrail-k8s-cni; a bench puts a timing wrapper here). */
  cniPluginPath?: string;
  signal?: AbortSignal;
  log?: (m: string) => void;
}

export interface KubeletBackend {
  nodes: NodeEmulator[];
  real: KubeletNode[];
  close(): Promise<void>;
}

/** A pod's state on the way to being adopted. */
interface Tracked {
  id: string;
  node: string;
  adopted?: string; // the pod IP it was adopted with
  /** Why it cannot run (image, container creation): definitive until the pod changes. */
  failing?: string;
  /** Until when (epoch ms) its first readiness result is still to come: kubelet's probe has not run yet. */
  readyDue?: number;
}

/**
 * The pod will not run as it is: containerd or kubelet gave up (or, for pulls, keeps retrying a registry that is
 * not reachable here: an image the overlay did not replace, e.g. a pod a controller wrote from its own template).
 */
const STUCK_REASONS = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "ErrImageNeverPull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
  "CrashLoopBackOff",
]);

/** The images the nodes import: the sandbox and the echo app, built or reused by images/build.sh. */
export async function kubeletImages(extra: "testbed"[] = []): Promise<KubeletImages> {
  const { images } = await ensureImages({ names: ["pause", "echo", ...extra] });
  return { sandbox: images.pause!, echo: images.echo!, others: extra.map((n) => images[n]!) };
}

export async function startKubeletBackend(o: KubeletBackendOptions): Promise<KubeletBackend> {
  const log = o.log ?? (() => {});
  const cniDir = o.dp.cniStateDir;
  const nodes = await startKubeletNodes({
    nodes: o.nodes,
    apiServerUrl: o.apiServerUrl,
    pki: o.pki,
    stateDir: o.stateDir,
    tag: o.tag,
    binDir: o.binDir,
    sandboxImage: o.images.sandbox,
    images: [o.images.echo, ...o.images.others],
    cniPlugin: { name: "contrail-k8s-cni", path: o.cniPluginPath ?? CNI_BINARY },
    // the conf CniPlumber hands the plugin, now read by containerd from the node's conf dir
    cniConf: (node) => ({
      cniVersion: "1.0.0",
      name: "contrail-k8s-cni",
      type: "contrail-k8s-cni",
      contrail: {
        "cluster-name": o.clusterName,
        "vrouter-ip": "127.0.0.1",
        "vrouter-port": o.portApiPort(node),
        "config-dir": join(cniDir, "ports"),
        "conf-dir": cniDir,
        "host-netns": o.dp.topo.computeNs(node),
        "poll-timeout": 0.1,
        "poll-retries": 300,
      },
    }),
    signal: o.signal,
    log,
  });
  const names = new Set(o.nodes.map((n) => n.name));
  const tracked = new Map<string, Tracked>(); // uid →
  const work = new Map<string, Promise<void>>(); // uid → adoption/forget in flight
  let waiters: (() => void)[] = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const serial = (uid: string, fn: () => Promise<void>) => {
    const next = (work.get(uid) ?? Promise.resolve())
      .then(fn)
      .catch((e) => log(`kubelet pods: ${(e as Error).message}`));
    work.set(uid, next);
    void next.then(() => {
      if (work.get(uid) === next) work.delete(uid);
      wake();
    });
  };

  const onPod = (type: "add" | "update" | "delete", pod: KubeObject) => {
    const uid = pod.metadata.uid!;
    const node = pod.spec?.nodeName as string | undefined;
    const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (!node || !names.has(node) || pod.spec?.hostNetwork) return;
    const t = tracked.get(uid) ?? { id, node };
    tracked.set(uid, t);
    const gone =
      type === "delete" ||
      !!pod.metadata.deletionTimestamp ||
      ["Succeeded", "Failed"].includes(pod.status?.phase);
    if (gone) {
      if (type === "delete") tracked.delete(uid);
      serial(uid, async () => {
        if (t.adopted) await o.dp.forgetPod(id);
        t.adopted = undefined;
      });
      wake();
      return;
    }
    t.failing = stuckReason(pod);
    // a settled world has the readiness its probes give: wait for the first probe, not for a pass
    t.readyDue = readinessDue(pod);
    if (t.readyDue !== undefined) setTimeout(wake, t.readyDue - Date.now() + 10).unref();
    const ip = pod.status?.podIP as string | undefined;
    if (pod.status?.phase !== "Running" || !ip || t.adopted === ip) return wake();
    serial(uid, async () => {
      if (t.adopted === ip || !tracked.has(uid)) return;
      if (t.adopted) await o.dp.forgetPod(id);
      const att = cniAttachment(
        join(cniDir, "ports"),
        `${o.clusterName}__${pod.metadata.namespace}__${pod.metadata.name}`,
      );
      if (!att) {
        t.failing = `no CNI state for ${id} under ${join(cniDir, "ports")} (was contrail-k8s-cni called?)`;
        return;
      }
      await o.dp.adoptPod({
        endpoint: id,
        node,
        key: podKey(pod.metadata.namespace!, pod.metadata.name!),
        netnsPath: att.netns,
        ip,
        tap: att.tap,
      });
      t.adopted = ip;
      t.failing = undefined;
    });
  };
  const informer = new Informer(o.kube, "pods", {
    onChange: (type, obj) => onPod(type, obj),
    onError: (e) => log(`kubelet pods: watch: ${e.message}`),
  });
  await informer.start();

  const busy = (node: string, ignore?: (pod: string) => boolean) =>
    [...tracked.entries()].some(
      ([uid, t]) =>
        t.node === node &&
        !ignore?.(t.id) &&
        (work.has(uid) ||
          (!t.adopted && !t.failing) ||
          (t.readyDue !== undefined && Date.now() < t.readyDue)),
    );
  const emulatorLike = (n: KubeletNode): NodeEmulator => ({
    name: n.name,
    ip: n.ip,
    busy: (ignore) => busy(n.name, ignore),
    idle: (ignore) =>
      new Promise<void>((resolve) => {
        const check = () => (busy(n.name, ignore) ? waiters.push(check) : resolve());
        check();
      }),
    failing: () =>
      new Map(
        [...tracked.values()].filter((t) => t.node === n.name && t.failing).map((t) => [t.id, t.failing!]),
      ),
    setReadiness: async () => {
      throw new Error(
        `readiness steps need the node emulator: on --nodes kubelet, kubelet runs the pod's own probes (node ${n.name})`,
      );
    },
    stop: async () => {},
  });
  return {
    nodes: nodes.nodes.map(emulatorLike),
    real: nodes.nodes,
    close: async () => {
      informer.stop();
      await Promise.all(work.values());
      for (const t of tracked.values()) if (t.adopted) await o.dp.forgetPod(t.id).catch(() => {});
      const left = await nodes.stop();
      if (left.length) log(`kubelet nodes: not undone (ctb down retries): ${left.join("; ")}`);
    },
  };
}

/**
 * When a Running pod that is not Ready will have had its first readiness probe (its containers' start, the
 * probe's initial delay, one period and its timeout, plus 2 s for kubelet to report it); undefined once Ready,
 * without a readiness probe, or past that time (then Not Ready is the probe's answer).
 */
export function readinessDue(pod: KubeObject, now = Date.now()): number | undefined {
  if (pod.status?.phase !== "Running") return undefined;
  if (
    (pod.status?.conditions ?? []).some(
      (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
    )
  )
    return undefined;
  let due: number | undefined;
  for (const c of (pod.spec?.containers ?? []) as {
    name: string;
    readinessProbe?: { initialDelaySeconds?: number; periodSeconds?: number; timeoutSeconds?: number };
  }[]) {
    const p = c.readinessProbe;
    if (!p) continue;
    const started = (
      (pod.status?.containerStatuses ?? []) as {
        name: string;
        state?: { running?: { startedAt?: string } };
      }[]
    ).find((s) => s.name === c.name)?.state?.running?.startedAt;
    if (!started) continue;
    const at =
      Date.parse(started) +
      1000 * ((p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) + (p.timeoutSeconds ?? 1)) +
      2000;
    due = Math.max(due ?? 0, at);
  }
  return due !== undefined && due > now ? due : undefined;
}

/** The first waiting reason of a container that will not go away by itself, with its message. */
function stuckReason(pod: KubeObject): string | undefined {
  for (const c of [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ] as {
    name: string;
    state?: { waiting?: { reason?: string; message?: string } };
  }[]) {
    const w = c.state?.waiting;
    if (w?.reason && STUCK_REASONS.has(w.reason))
      return `container ${c.name}: ${w.reason}${w.message ? `: ${w.message}` : ""}`;
  }
  return undefined;
}

/** The plugin's state file of the pod's eth0: the namespace containerd gave it (CNI_NETNS) and its tap. */
export function cniAttachment(portsDir: string, vmName: string): { netns: string; tap: string } | undefined {
  let files: string[];
  try {
    files = readdirSync(join(portsDir, vmName));
  } catch {
    return undefined;
  }
  for (const f of files) {
    try {
      const m = JSON.parse(readFileSync(join(portsDir, vmName, f), "utf8")) as Record<string, string>;
      if (m["vm-ifname"] === "eth0" && m["vm-namespace"] && m["host-ifname"])
        return { netns: m["vm-namespace"], tap: m["host-ifname"] };
    } catch {}
  }
  return undefined;
}

/**
 * The KubeApi the runner writes through on this backend: pods and pod templates get the local echo image
 * (pull policy Never, serving each container's declared ports) in place of images no registry can serve here.
 */
export function localImageOverlay(kube: KubeApi, echoRef: string): KubeApi {
  const rewrite = (resource: string, obj: KubeObject): KubeObject => {
    if (resource === "pods") return { ...obj, ...withLocalPodSpec(obj, obj.spec, echoRef) };
    const tpl = resource === "cronjobs" ? obj.spec?.jobTemplate?.spec?.template : obj.spec?.template;
    if (!tpl?.spec) return obj;
    const next = { ...tpl, ...withLocalPodSpec(tpl, tpl.spec, echoRef) };
    if (resource === "cronjobs")
      return {
        ...obj,
        spec: {
          ...obj.spec,
          jobTemplate: { ...obj.spec.jobTemplate, spec: { ...obj.spec.jobTemplate.spec, template: next } },
        },
      };
    return { ...obj, spec: { ...obj.spec, template: next } };
  };
  return new Proxy(kube, {
    get(target, prop, receiver) {
      if (prop === "create")
        return (resource: string, obj: KubeObject, ...rest: unknown[]) =>
          (target.create as (...a: unknown[]) => Promise<KubeObject>)(
            resource,
            rewrite(resource, obj),
            ...rest,
          );
      // a user's requests (a scenario's `as:`) write through the same overlay
      if (prop === "impersonate" && typeof target.impersonate === "function")
        return (...a: Parameters<NonNullable<KubeApi["impersonate"]>>) => {
          const k = target.impersonate!(...a);
          return k ? localImageOverlay(k, echoRef) : k;
        };
      if (prop === "replace")
        return (resource: string, obj: KubeObject, ...rest: unknown[]) =>
          (target.replace as (...a: unknown[]) => Promise<KubeObject>)(
            resource,
            rewrite(resource, obj),
            ...rest,
          );
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const PROBES = ["readinessProbe", "livenessProbe", "startupProbe"] as const;

interface Probe {
  tcpSocket?: { port: number | string };
  httpGet?: { port: number | string; path?: string; scheme?: string };
  grpc?: { port: number };
  exec?: unknown;
  [timing: string]: unknown;
}

/**
 * A kubelet network probe as an exec probe the echo image runs inside the pod against its own port
 * (`ctb-echo probe`): kubelet runs in the machine's root namespace, which is deliberately not connected to the
 * emulated networks — a tcpSocket or httpGet probe sent from there could not reach the pod, and would follow
 * the machine's default route out of it. The same port, path and success rule; not the path node → pod.
 * An exec probe names a command the echo image does not have: none (undefined), the original annotated.
 */
export function probeInPod(
  probe: Probe,
  ports: { name?: string; containerPort: number; protocol?: string }[],
): Record<string, unknown> | undefined {
  const { tcpSocket, httpGet, grpc, exec: _exec, ...timing } = probe;
  const target = httpGet?.port ?? tcpSocket?.port ?? grpc?.port;
  if (target === undefined) return undefined;
  const port =
    typeof target === "number"
      ? target
      : /^\d+$/.test(target)
        ? Number(target)
        : ports.find((p) => p.name === target && (p.protocol ?? "TCP") === "TCP")?.containerPort;
  // a named port the container does not declare fails as kubelet's probe would
  const where = port ?? 0;
  const command = httpGet
    ? ["/ctb-echo", "probe", `http:${where}${httpGet.path ?? "/"}`, (httpGet.scheme ?? "HTTP").toLowerCase()]
    : ["/ctb-echo", "probe", `tcp:${where}`];
  return { ...timing, exec: { command } };
}

/** A pod (or template): containers on the echo image with their ports as arguments; the old images annotated. */
export function withLocalPodSpec(
  obj: { metadata?: KubeObject["metadata"] },
  spec: Record<string, unknown>,
  echoRef: string,
): { metadata: KubeObject["metadata"]; spec: Record<string, unknown> } {
  const original: string[] = [];
  const originalProbes: Record<string, Record<string, unknown>> = {};
  const local = (cs: unknown) =>
    (
      cs as
        | { name: string; image?: string; ports?: { containerPort: number; protocol?: string }[] }[]
        | undefined
    )?.map((c) => {
      if (c.image === echoRef) return c;
      original.push(`${c.name}=${c.image ?? ""}`);
      const { command: _c, args: _a, ...rest } = c as Record<string, unknown>;
      const probes: Record<string, unknown> = {};
      for (const kind of PROBES) {
        const probe = (c as Record<string, unknown>)[kind] as Probe | undefined;
        if (!probe) continue;
        const inPod = probeInPod(probe, c.ports ?? []);
        if (inPod) probes[kind] = inPod;
        else delete (rest as Record<string, unknown>)[kind];
        originalProbes[c.name] = { ...(originalProbes[c.name] ?? {}), [kind]: probe };
      }
      return {
        ...rest,
        ...probes,
        image: echoRef,
        imagePullPolicy: "Never",
        args: (c.ports ?? []).map((p) => `${(p.protocol ?? "TCP").toLowerCase()}:${p.containerPort}`),
      };
    });
  const next: Record<string, unknown> = { ...spec, containers: local(spec.containers) };
  // an echo server never exits, so an init container would hold the pod forever: they are left out (named below)
  for (const c of (spec.initContainers ?? []) as { name: string; image?: string }[])
    original.push(`init:${c.name}=${c.image ?? ""}`);
  delete next.initContainers;
  // no token volume: the local control plane runs without the ServiceAccount admission plugin
  next.automountServiceAccountToken = false;
  const metadata = { ...(obj.metadata ?? {}) } as KubeObject["metadata"];
  if (original.length)
    metadata.annotations = {
      ...(metadata.annotations ?? {}),
      [ORIGINAL_IMAGES_ANNOTATION]: original.join(","),
    };
  if (Object.keys(originalProbes).length)
    metadata.annotations = {
      ...(metadata.annotations ?? {}),
      [ORIGINAL_PROBES_ANNOTATION]: JSON.stringify(originalProbes),
    };
  return { metadata, spec: next };
}
