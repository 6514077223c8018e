/**
 * When is a real cluster done? Its controllers act asynchronously, so "nothing changed in one round" is not
 * convergence. Quiet means the state the controllers drive towards is reached: every workload controller has
 * observed its object and owns exactly the pods it wants, every pod is bound and started (or reported why not),
 * nothing is terminating, every selector Service's EndpointSlices list exactly its ready pods, no object waits
 * for the garbage collector — and then the resourceVersion stays put for a short window as a backstop.
 *
 * Example: `await realClusterQuiet(HttpKubeApi.fromKubeconfig(path))` after applying a manifest.
 */
import type { KubeApi, KubeObject, ResourceName } from "../../controller/kube/api";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are untyped JSON
type Any = any;

/** The objects convergence is judged on: one list per resource. */
export type ClusterState = Record<(typeof WATCHED)[number], KubeObject[]>;

const WATCHED = [
  "namespaces",
  "deployments",
  "replicasets",
  "replicationcontrollers",
  "pods",
  "services",
  "endpointslices",
] as const satisfies readonly ResourceName[];

/** Owner kinds whose objects are among WATCHED, so a missing owner uid means "deleted". */
const OWNER_KINDS = new Set(["Deployment", "ReplicaSet", "ReplicationController", "Service", "Pod"]);

export async function realClusterQuiet(kube: KubeApi, timeoutMs = 90_000, stableMs = 400): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending: string[] = [];
  while (Date.now() < deadline) {
    const first = await readState(kube);
    pending = unconverged(first.state);
    if (pending.length === 0) {
      await new Promise((r) => setTimeout(r, stableMs));
      const again = await readState(kube);
      pending = unconverged(again.state);
      if (pending.length === 0 && again.resourceVersion === first.resourceVersion) return;
      continue;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `the Kubernetes cluster did not converge within ${timeoutMs / 1000}s: ${pending.slice(0, 5).join("; ")}`,
  );
}

async function readState(kube: KubeApi): Promise<{ state: ClusterState; resourceVersion: string }> {
  const state = {} as ClusterState;
  let resourceVersion = "";
  for (const r of WATCHED) {
    const list = await kube.list(r);
    state[r] = list.items;
    // the namespaces list is read first: its resourceVersion is the store's revision before everything else
    if (r === "namespaces") resourceVersion = list.resourceVersion;
  }
  return { state, resourceVersion };
}

/** Why the cluster is not converged yet, one line per reason; empty when it is. Pure. */
export function unconverged(s: ClusterState): string[] {
  const out: string[] = [];
  const live = (o: KubeObject) => !o.metadata.deletionTimestamp;
  const uids = new Set<string>();
  for (const list of Object.values(s)) for (const o of list) if (o.metadata.uid) uids.add(o.metadata.uid);
  const podsOwnedBy = (uid: string) =>
    s.pods.filter(
      (p) => live(p) && p.metadata.ownerReferences?.some((r: Any) => r.uid === uid && r.controller),
    ).length;

  for (const kind of ["deployments", "replicasets", "replicationcontrollers"] as const) {
    for (const o of s[kind]) {
      const id = `${o.kind ?? kind} ${o.metadata.namespace}/${o.metadata.name}`;
      const want = o.spec?.replicas ?? 1;
      const st = o.status ?? {};
      if ((st.observedGeneration ?? 0) < (o.metadata.generation ?? 0)) out.push(`${id} not observed yet`);
      else if ((st.replicas ?? 0) !== want) out.push(`${id} has ${st.replicas ?? 0}/${want} replicas`);
      else if (kind === "deployments" && (st.updatedReplicas ?? 0) !== want) {
        out.push(`${id} is rolling out (${st.updatedReplicas ?? 0}/${want} updated)`);
      } else if (kind !== "deployments" && podsOwnedBy(o.metadata.uid!) !== want) {
        out.push(`${id} owns ${podsOwnedBy(o.metadata.uid!)}/${want} pods`);
      }
    }
  }

  for (const p of s.pods) {
    const id = `pod ${p.metadata.namespace}/${p.metadata.name}`;
    if (p.metadata.deletionTimestamp) out.push(`${id} is terminating`);
    else if (!p.spec?.nodeName) {
      const unschedulable = p.status?.conditions?.some(
        (c: Any) => c.type === "PodScheduled" && c.status === "False",
      );
      if (!unschedulable) out.push(`${id} is not scheduled yet`);
    } else if (
      !p.status?.phase ||
      (p.status.phase === "Pending" && !p.status?.conditions?.some((c: Any) => c.type === "Ready"))
    ) {
      out.push(`${id} has not started on ${p.spec.nodeName}`);
    }
  }

  // the EndpointSlice controller has no status to wait on: compare its output with what it must compute
  for (const svc of s.services) {
    const selector: Record<string, string> | undefined = svc.spec?.selector;
    if (!selector || svc.spec?.type === "ExternalName" || !live(svc)) continue;
    const ns = svc.metadata.namespace;
    const wanted = s.pods
      .filter((p) => p.metadata.namespace === ns && live(p) && p.status?.podIP)
      .filter((p) => Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v))
      .filter((p) => svc.spec?.publishNotReadyAddresses || isReady(p))
      .map((p) => p.status.podIP as string);
    const slices = s.endpointslices.filter(
      (e) =>
        e.metadata.namespace === ns &&
        e.metadata.labels?.["kubernetes.io/service-name"] === svc.metadata.name,
    );
    const listed = slices.flatMap((e) =>
      ((e as Any).endpoints ?? [])
        .filter((ep: Any) => ep.conditions?.ready !== false)
        .flatMap((ep: Any) => ep.addresses as string[]),
    );
    const id = `service ${ns}/${svc.metadata.name}`;
    if (slices.length === 0) out.push(`${id} has no EndpointSlice yet`);
    else if (!sameSet(wanted, listed))
      out.push(`${id}'s EndpointSlices list [${listed.sort()}], its ready pods are [${wanted.sort()}]`);
  }

  // dependents of a deleted owner wait for the garbage collector (owners of kinds not read here are not judged)
  for (const kind of ["replicasets", "pods", "endpointslices"] as const) {
    for (const o of s[kind]) {
      const gone = o.metadata.ownerReferences?.find((r: Any) => OWNER_KINDS.has(r.kind) && !uids.has(r.uid));
      if (gone && live(o))
        out.push(
          `${kind} ${o.metadata.namespace}/${o.metadata.name} waits for the garbage collector (${gone.kind} ${gone.name} is gone)`,
        );
    }
  }

  for (const n of s.namespaces) {
    if (n.status?.phase === "Terminating") out.push(`namespace ${n.metadata.name} is terminating`);
  }
  return out;
}

function isReady(pod: KubeObject): boolean {
  return pod.status?.conditions?.some((c: Any) => c.type === "Ready" && c.status === "True") ?? false;
}

function sameSet(a: string[], b: string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}
