import type { KubeApi } from "../../controller/kube/api";

/**
 * A real API server's controllers act asynchronously, so "nothing changed in one round" is not convergence.
 * Quiet means: every workload controller has observed its object and created its replicas, every pod is bound
 * and started (or reported why not), nothing is terminating — and then the resourceVersion stays put for a
 * short window (the EndpointSlice and garbage collectors have no status to wait on).
 */
export async function realClusterQuiet(kube: KubeApi, timeoutMs = 90_000, stableMs = 400): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending: string[] = [];
  while (Date.now() < deadline) {
    pending = await unconverged(kube);
    if (pending.length === 0) {
      const rv = (await kube.list("namespaces")).resourceVersion;
      await new Promise((r) => setTimeout(r, stableMs));
      const again = await unconverged(kube);
      if (again.length === 0 && (await kube.list("namespaces")).resourceVersion === rv) return;
      pending = again;
      continue;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the Kubernetes cluster did not converge within ${timeoutMs / 1000}s: ${pending.slice(0, 5).join("; ")}`);
}

async function unconverged(kube: KubeApi): Promise<string[]> {
  const out: string[] = [];
  for (const res of ["deployments", "replicasets", "replicationcontrollers"] as const) {
    for (const o of (await kube.list(res)).items) {
      const id = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
      const want = o.spec?.replicas ?? 1;
      if ((o.status?.observedGeneration ?? 0) < (o.metadata.generation ?? 0)) out.push(`${id} not observed yet`);
      else if ((o.status?.replicas ?? 0) !== want) out.push(`${id} has ${o.status?.replicas ?? 0}/${want} replicas`);
    }
  }
  for (const p of (await kube.list("pods")).items) {
    const id = `pod ${p.metadata.namespace}/${p.metadata.name}`;
    if (p.metadata.deletionTimestamp) out.push(`${id} is terminating`);
    else if (!p.spec?.nodeName) {
      const unschedulable = p.status?.conditions?.some((c: { type: string; status: string }) => c.type === "PodScheduled" && c.status === "False");
      if (!unschedulable) out.push(`${id} is not scheduled yet`);
    } else if (!p.status?.phase || (p.status.phase === "Pending" && !p.status?.conditions?.some((c: { type: string }) => c.type === "Ready"))) {
      out.push(`${id} has not started on ${p.spec.nodeName}`);
    }
  }
  for (const n of (await kube.list("namespaces")).items) {
    if (n.status?.phase === "Terminating") out.push(`namespace ${n.metadata.name} is terminating`);
  }
  return out;
}

