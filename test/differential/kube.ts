/**
 * The Kubernetes objects a scenario leaves behind, normalised like the Contrail graph (graph.ts) so the
 * embedded cluster's output — defaulting, generations, owner references, workload status, EndpointSlices — can
 * be compared with a real API server's. Per-run identity (uids, resourceVersions, timestamps, generated
 * suffixes, allocated addresses, placement) is masked; what kubectl would show otherwise stays.
 *
 * Example: `diffGraphs(await readKube(embedded.kube), await readKube(local.kube))`.
 */
import type { KubeApi, KubeObject, ResourceName } from "../../controller/kube/api";
import type { Graph } from "./graph";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are untyped JSON
type Any = any;

const COMPARED: ResourceName[] = [
  "namespaces",
  "services",
  "endpointslices",
  "endpoints",
  "pods",
  "deployments",
  "replicasets",
  "networkpolicies",
];

/** Metadata and fields that only identify a run or a moment. */
const DROPPED = new Set([
  "uid",
  "resourceVersion",
  "creationTimestamp",
  "managedFields",
  "lastTransitionTime",
  "lastUpdateTime",
  "lastProbeTime",
  "lastHeartbeatTime",
  "startTime",
  "startedAt",
  "endpoints.kubernetes.io/last-change-trigger-time",
]);

/**
 * The local control plane runs with `--endpoint-reconciler-type=none` (nothing listens on the advertised
 * address), so the `kubernetes` Service has no endpoints there on purpose (local README).
 */
const isApiServerEndpoints = (resource: ResourceName, o: KubeObject) =>
  (resource === "endpoints" && o.metadata.name === "kubernetes" && o.metadata.namespace === "default") ||
  (resource === "endpointslices" && o.metadata.labels?.["kubernetes.io/service-name"] === "kubernetes");

/**
 * `view` narrows each object to what the comparison is about first (e.g. the fields a real kubelet and the node
 * emulator both own, kubelet-view.ts).
 */
export async function readKube(
  kube: KubeApi,
  allocated: Set<string>,
  view?: (resource: ResourceName, o: KubeObject) => KubeObject,
): Promise<Graph> {
  const raw: [ResourceName, KubeObject[]][] = [];
  for (const r of COMPARED) {
    const items = (await kube.list(r)).items;
    raw.push([r, view ? items.map((o) => view(r, o)) : items]);
  }
  return normaliseKube(raw, allocated);
}

/** Pure core of readKube. */
export function normaliseKube(raw: [ResourceName, KubeObject[]][], allocated: Set<string>): Graph {
  const hashes = new Set<string>();
  for (const [, items] of raw)
    for (const o of items)
      if (o.metadata.labels?.["pod-template-hash"]) hashes.add(o.metadata.labels["pod-template-hash"]);
  const mask = (s: string) => {
    let out = s;
    for (const h of hashes) out = out.split(h).join("<hash>");
    return out
      .replace(/(<hash>-)[bcdfghjklmnpqrstvwxz2456789]{5}\b/g, "$1<rand>")
      .replace(/\b\d{1,3}(\.\d{1,3}){3}\b/g, (ip) => (allocated.has(ip) ? "<allocated-ip>" : ip));
  };
  const entries: [string, string][] = [];
  for (const [resource, items] of raw) {
    for (const o of items) {
      if (isApiServerEndpoints(resource, o)) continue;
      let name = mask(`${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`);
      // EndpointSlices and bare generateName pods: a random suffix after the given prefix
      if (o.metadata.generateName && !name.includes("<rand>"))
        name = `${mask(o.metadata.namespace ? `${o.metadata.namespace}/` : "")}${o.metadata.generateName}<rand>`;
      const copy: Any = canonical(structuredClone(o), mask);
      delete copy.metadata.name;
      // an EndpointSlice's generation counts the controller's intermediate writes (one per pod turning Ready
      // on a real cluster, batched on the embedded one): history, not state
      if (resource === "endpointslices" && copy.metadata.generation) copy.metadata.generation = "≥1";
      // only dropped timestamps were in it
      if (copy.metadata.annotations && Object.keys(copy.metadata.annotations).length === 0)
        delete copy.metadata.annotations;
      // the apiserver's own port: 6443 on the embedded cluster, a free port on the local one
      if (resource === "services" && name === "default/kubernetes")
        for (const p of copy.spec?.ports ?? []) delete p.targetPort;
      entries.push([`${resource} ${name}`, JSON.stringify(copy, null, 1)]);
    }
  }
  entries.sort(([ka, va], [kb, vb]) => (ka === kb ? va.localeCompare(vb) : ka.localeCompare(kb)));
  const graph: Graph = new Map();
  for (const [k, v] of entries) {
    let key = k;
    for (let n = 2; graph.has(key); n++) key = `${k} #${n}`;
    graph.set(key, v);
  }
  return graph;
}

function canonical(v: unknown, mask: (s: string) => string, key = ""): unknown {
  if (typeof v === "string") return mask(v);
  if (Array.isArray(v)) {
    const items = v.map((x) => canonical(x, mask));
    // endpoints, addresses and owner references come in an order the API does not promise
    if (["endpoints", "addresses", "notReadyAddresses", "ownerReferences"].includes(key)) {
      return items.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    }
    return items;
  }
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      if (DROPPED.has(k)) continue;
      // which node a pod runs on is the scheduler's tie-break; the real one breaks ties at random
      if (k === "nodeName" || k === "hostIP" || k === "hostIPs") continue;
      out[k] = canonical((v as Record<string, unknown>)[k], mask, k);
    }
    return out;
  }
  return v;
}
