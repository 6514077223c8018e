/**
 * The endpoints and endpointslice controllers: for every Service with a selector, the pods it selects that
 * have an IP become an Endpoints object (ready pods in `addresses`, others in `notReadyAddresses`) and
 * discovery.k8s.io/v1 EndpointSlices (one per distinct resolved port set, at most 100 endpoints each, with
 * ready/serving/terminating conditions, nodeName and a Pod targetRef). Named targetPorts are resolved per pod
 * from its container ports, so pods that number a port differently land in different slices. A service
 * with no endpoints keeps one placeholder slice, as the real controller does. Both kinds carry the
 * service's labels plus the real controllers' own: `endpoints.kubernetes.io/managed-by: endpoint-controller`
 * on Endpoints; `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by` on slices.
 *
 * Example: Service web (port 80 -> targetPort "http") + Ready pod with container port http=8080
 *          -> EndpointSlice web-xxxxx { endpoints: [{ addresses: [podIP], conditions: { ready: true } }],
 *             ports: [{ name: "", port: 8080, protocol: "TCP" }] }
 */
import type { KubeObject } from "../../../../controller/kube/api";
import { canonicalJson } from "../names";
import type { Registry } from "../registry";
import { matchesMapSelector } from "../selectors";
import { type Change, objectKey } from "../store";
import type { Controller } from "./runtime";

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
export const MANAGED_BY = "endpointslice-controller.k8s.io";
/** What the real endpoints controller (Kubernetes >= 1.33) stamps on the Endpoints objects it owns. */
export const ENDPOINTS_MANAGED_BY_LABEL = "endpoints.kubernetes.io/managed-by";
export const ENDPOINTS_MANAGED_BY = "endpoint-controller";
const HEADLESS_LABEL = "service.kubernetes.io/headless";
const MAX_ENDPOINTS_PER_SLICE = 100;

interface ResolvedPort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

function isPodReady(pod: KubeObject): boolean {
  return (pod.status?.conditions ?? []).some((c: Any) => c.type === "Ready" && c.status === "True");
}

/** The container port a service port reaches on this pod; a name that the pod lacks resolves to nothing. */
export function resolveTargetPort(pod: KubeObject, svcPort: Any): number | undefined {
  const target = svcPort.targetPort ?? svcPort.port;
  if (typeof target === "number") return target;
  const protocol = svcPort.protocol ?? "TCP";
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === target && (p.protocol ?? "TCP") === protocol) return p.containerPort;
    }
  }
  return undefined;
}

function resolvePorts(svc: KubeObject, pod: KubeObject): ResolvedPort[] {
  const out: ResolvedPort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const port = resolveTargetPort(pod, sp);
    if (port === undefined) continue;
    const rp: ResolvedPort = { name: sp.name ?? "", port, protocol: sp.protocol ?? "TCP" };
    if (sp.appProtocol) rp.appProtocol = sp.appProtocol;
    out.push(rp);
  }
  return out;
}

function hasSelector(svc: KubeObject): boolean {
  return svc.spec?.type !== "ExternalName" && svc.spec?.selector !== undefined && svc.spec?.selector !== null;
}

function selects(svc: KubeObject, pod: KubeObject | undefined): boolean {
  return !!pod && hasSelector(svc) && matchesMapSelector(svc.spec.selector, pod.metadata.labels);
}

/** Pods that belong in the service's endpoints: selected, addressed, not finished. */
function endpointPods(registry: Registry, svc: KubeObject): KubeObject[] {
  return registry.store
    .scan("pods", svc.metadata.namespace)
    .filter(
      (p) =>
        selects(svc, p) &&
        !!p.status?.podIP &&
        p.status?.phase !== "Succeeded" &&
        p.status?.phase !== "Failed",
    )
    .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
}

function targetRef(pod: KubeObject): Any {
  return { kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
}

function derivedLabels(svc: KubeObject): Record<string, string> {
  const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  if (svc.spec?.clusterIP === "None") labels[HEADLESS_LABEL] = "";
  return labels;
}

export class EndpointsController implements Controller {
  readonly name = "endpoints";

  constructor(private readonly registry: Registry) {}

  onChange(change: Change, enqueue: (key: string) => void): void {
    const o = change.object;
    const ns = o.metadata.namespace;
    switch (change.resource) {
      case "services":
        enqueue(objectKey(ns, o.metadata.name!));
        break;
      case "pods":
        for (const svc of this.registry.store.scan("services", ns)) {
          if (selects(svc, o) || selects(svc, change.prev)) enqueue(objectKey(ns, svc.metadata.name!));
        }
        break;
      case "endpointslices": {
        const svcName = o.metadata.labels?.[SERVICE_NAME_LABEL];
        if (svcName && o.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) enqueue(objectKey(ns, svcName));
        break;
      }
      case "endpoints": {
        const svc = this.registry.store.get("services", ns, o.metadata.name!);
        if (svc && hasSelector(svc)) enqueue(objectKey(ns, o.metadata.name!));
        break;
      }
      default:
        break;
    }
  }

  reconcile(key: string): void {
    const [ns, name] = key.split("/");
    const svc = this.registry.store.get("services", ns, name);
    if (!svc) {
      if (this.registry.store.get("endpoints", ns, name)) this.registry.delete("endpoints", name, ns);
      for (const s of this.ownedSlices(ns, name))
        this.registry.delete("endpointslices", s.metadata.name!, ns);
      return;
    }
    if (!hasSelector(svc)) return;
    const pods = endpointPods(this.registry, svc);
    this.syncEndpoints(svc, pods);
    this.syncSlices(svc, pods);
  }

  private ownedSlices(ns: string, svcName: string): KubeObject[] {
    return this.registry.store
      .scan("endpointslices", ns)
      .filter(
        (s) =>
          s.metadata.labels?.[SERVICE_NAME_LABEL] === svcName &&
          s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY,
      );
  }

  private syncEndpoints(svc: KubeObject, pods: KubeObject[]): void {
    const publishNotReady = !!svc.spec?.publishNotReadyAddresses;
    const headlessNoPorts = svc.spec?.clusterIP === "None" && (svc.spec?.ports ?? []).length === 0;
    const groups = new Map<string, { ports: ResolvedPort[]; ready: Any[]; notReady: Any[] }>();
    for (const pod of pods) {
      if (pod.metadata.deletionTimestamp && !publishNotReady) continue;
      const ports = resolvePorts(svc, pod);
      if (ports.length === 0 && !headlessNoPorts) continue;
      const key = canonicalJson(ports);
      let g = groups.get(key);
      if (!g) {
        g = { ports, ready: [], notReady: [] };
        groups.set(key, g);
      }
      const addr: Any = { ip: pod.status.podIP };
      if (pod.spec?.nodeName) addr.nodeName = pod.spec.nodeName;
      addr.targetRef = targetRef(pod);
      (publishNotReady || isPodReady(pod) ? g.ready : g.notReady).push(addr);
    }
    const byIp = (a: Any, b: Any) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
    const subsets = [...groups.values()]
      .map((g) => {
        const s: Any = {};
        if (g.ready.length > 0) s.addresses = g.ready.sort(byIp);
        if (g.notReady.length > 0) s.notReadyAddresses = g.notReady.sort(byIp);
        if (g.ports.length > 0) {
          s.ports = g.ports.map((p) => {
            const ep: Any = { port: p.port, protocol: p.protocol };
            if (p.name) ep.name = p.name;
            if (p.appProtocol) ep.appProtocol = p.appProtocol;
            return ep;
          });
        }
        return s;
      })
      .sort((a, b) =>
        (a.addresses ?? a.notReadyAddresses)[0].ip < (b.addresses ?? b.notReadyAddresses)[0].ip ? -1 : 1,
      );
    const ns = svc.metadata.namespace!;
    const name = svc.metadata.name!;
    const existing = this.registry.store.get("endpoints", ns, name);
    const metadata: Any = existing ? structuredClone(existing.metadata) : { name, namespace: ns };
    // the real controller also drops a headless label copied from a service that has a cluster IP
    const labels = derivedLabels(svc);
    if (svc.spec?.clusterIP && svc.spec.clusterIP !== "None") delete labels[HEADLESS_LABEL];
    metadata.labels = { ...labels, [ENDPOINTS_MANAGED_BY_LABEL]: ENDPOINTS_MANAGED_BY };
    const desired: Any = { apiVersion: "v1", kind: "Endpoints", metadata };
    if (subsets.length > 0) desired.subsets = subsets;
    if (existing) this.registry.replace("endpoints", desired, ns);
    else this.registry.create("endpoints", desired, ns);
  }

  private syncSlices(svc: KubeObject, pods: KubeObject[]): void {
    const ns = svc.metadata.namespace!;
    const name = svc.metadata.name!;
    const publishNotReady = !!svc.spec?.publishNotReadyAddresses;
    const groups = new Map<string, { ports: ResolvedPort[]; endpoints: Any[] }>();
    for (const pod of pods) {
      const ports = resolvePorts(svc, pod);
      if (ports.length === 0 && (svc.spec?.ports ?? []).length > 0) continue;
      const key = canonicalJson(ports);
      let g = groups.get(key);
      if (!g) {
        g = { ports, endpoints: [] };
        groups.set(key, g);
      }
      const terminating = !!pod.metadata.deletionTimestamp;
      const ready = isPodReady(pod);
      const ep: Any = {
        addresses: [pod.status.podIP],
        conditions: {
          ready: publishNotReady || (ready && !terminating),
          serving: publishNotReady || ready,
          terminating,
        },
      };
      if (pod.spec?.nodeName) {
        ep.nodeName = pod.spec.nodeName;
        const zone = this.registry.store.get("nodes", undefined, pod.spec.nodeName)?.metadata.labels?.[
          "topology.kubernetes.io/zone"
        ];
        if (zone) ep.zone = zone;
      }
      ep.targetRef = targetRef(pod);
      g.endpoints.push(ep);
    }
    // desired slices: each port group cut into chunks; no endpoints at all -> one placeholder
    const desired: { key: string; ports?: ResolvedPort[]; endpoints: Any[] | null }[] = [];
    for (const [key, g] of groups) {
      for (let i = 0; i < g.endpoints.length; i += MAX_ENDPOINTS_PER_SLICE) {
        desired.push({ key, ports: g.ports, endpoints: g.endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE) });
      }
    }
    if (desired.length === 0) desired.push({ key: "placeholder", endpoints: null });

    const existing = this.ownedSlices(ns, name);
    const keyOf = (s: KubeObject) =>
      s.ports === undefined || s.ports === null ? "placeholder" : canonicalJson(s.ports);
    const unused = new Set(existing);
    const assignment = new Map<(typeof desired)[number], KubeObject | undefined>();
    for (const d of desired) {
      const match = [...unused].find((s) => keyOf(s) === d.key);
      if (match) unused.delete(match);
      assignment.set(d, match);
    }
    for (const d of desired) {
      if (assignment.get(d)) continue;
      const reuse = [...unused][0];
      if (reuse) unused.delete(reuse);
      assignment.set(d, reuse);
    }
    const labels = { ...derivedLabels(svc), [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY };
    const ownerReferences = [
      {
        apiVersion: "v1",
        kind: "Service",
        name,
        uid: svc.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
    for (const [d, slice] of assignment) {
      const obj: Any = {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: slice
          ? { ...structuredClone(slice.metadata), labels, ownerReferences }
          : { generateName: `${name}-`, namespace: ns, labels, ownerReferences },
        addressType: "IPv4",
        endpoints: d.endpoints,
      };
      // a placeholder has `ports: null` on the real server (a nil slice without omitempty)
      obj.ports = d.ports ? d.ports.map((p) => ({ ...p })) : null;
      if (slice) this.registry.replace("endpointslices", obj, ns);
      else this.registry.create("endpointslices", obj, ns);
    }
    for (const s of unused) this.registry.delete("endpointslices", s.metadata.name!, ns);
  }
}
