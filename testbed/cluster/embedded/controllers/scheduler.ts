/**
 * The default scheduler, reduced to what decides placement in a testbed: a pod without spec.nodeName is bound
 * to a Ready, schedulable Node whose labels match its nodeSelector and whose NoSchedule/NoExecute taints it
 * tolerates, preferring the node with the fewest pods (ties: node name order). With no fitting node it stays
 * Pending with PodScheduled=False/Unschedulable and the scheduler's message, and is retried on node changes.
 *
 * Example: two Ready nodes and three new pods -> pods land on node-a, node-b, node-a.
 */
import type { KubeObject } from "../../../../controller/kube/api";
import type { Registry } from "../registry";
import { type Change, objectKey } from "../store";
import type { Controller } from "./runtime";

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;

interface Taint {
  key: string;
  value?: string;
  effect: string;
}

function tolerates(tolerations: Any[], taint: Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === "Exists") return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
  });
}

function isReady(node: KubeObject): boolean {
  return (node.status?.conditions ?? []).some((c: Any) => c.type === "Ready" && c.status === "True");
}

function isTerminal(pod: KubeObject): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

function needsScheduling(pod: KubeObject): boolean {
  return (
    !pod.spec?.nodeName &&
    !pod.metadata.deletionTimestamp &&
    !isTerminal(pod) &&
    (pod.spec?.schedulerName ?? "default-scheduler") === "default-scheduler"
  );
}

/** Why a node cannot take the pod (the scheduler's wording), or undefined when it fits. */
export function unfitReason(pod: KubeObject, node: KubeObject): string | undefined {
  if (node.spec?.unschedulable) return "node(s) were unschedulable";
  const taints: Taint[] = [...(node.spec?.taints ?? [])];
  if (!isReady(node) && !taints.some((t) => t.key === "node.kubernetes.io/not-ready")) {
    taints.push({ key: "node.kubernetes.io/not-ready", effect: "NoSchedule" });
  }
  // filters run in the default profile's order (TaintToleration before NodeAffinity); the first failure counts
  const tolerations: Any[] = pod.spec?.tolerations ?? [];
  const blocking = taints.find(
    (t) => (t.effect === "NoSchedule" || t.effect === "NoExecute") && !tolerates(tolerations, t),
  );
  if (blocking) return `node(s) had untolerated taint {${blocking.key}: ${blocking.value ?? ""}}`;
  const selector: Record<string, string> = pod.spec?.nodeSelector ?? {};
  const labels = node.metadata.labels ?? {};
  if (Object.entries(selector).some(([k, v]) => labels[k] !== v)) {
    return "node(s) didn't match Pod's node affinity/selector";
  }
  return undefined;
}

/** FailedScheduling message: "0/3 nodes are available: 2 node(s) ..., 1 node(s) .... preemption: ...". */
function unschedulableMessage(total: number, reasons: string[]): string {
  if (total === 0) return "no nodes available to schedule pods";
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  // sorted as whole "<count> <reason>" strings, like the scheduler's FitError
  const parts = [...counts.entries()].map(([r, n]) => `${n} ${r}`).sort();
  return (
    `0/${total} nodes are available: ${parts.join(", ")}. ` +
    `preemption: 0/${total} nodes are available: ${total} Preemption is not helpful for scheduling.`
  );
}

/** What about a node matters for placement (heartbeats that change none of it wake nobody). */
function sameFitness(a: KubeObject, b: KubeObject | undefined): boolean {
  if (!b) return false;
  const view = (n: KubeObject) =>
    JSON.stringify([isReady(n), n.metadata.labels ?? {}, n.spec?.taints ?? [], !!n.spec?.unschedulable]);
  return view(a) === view(b);
}

export class Scheduler implements Controller {
  readonly name = "scheduler";

  /** pod key → the node it counts against (bound, not terminal); kept from changes, built on first use */
  private placed: Map<string, string> | undefined;
  /** node → pods counted against it */
  private readonly load = new Map<string, number>();

  constructor(private readonly registry: Registry) {}

  /** Count (or stop counting) a pod against a node; idempotent, so a bind and its change event agree. */
  private place(key: string, pod: KubeObject | undefined): void {
    if (!this.placed) return;
    const node = pod && !isTerminal(pod) ? pod.spec?.nodeName : undefined;
    const was = this.placed.get(key);
    if (was === node) return;
    if (was !== undefined) this.load.set(was, (this.load.get(was) ?? 1) - 1);
    if (node) {
      this.placed.set(key, node);
      this.load.set(node, (this.load.get(node) ?? 0) + 1);
    } else this.placed.delete(key);
  }

  /** Pods per node, kept up to date from the changes instead of a walk over every pod per placement. */
  private loads(): Map<string, number> {
    if (!this.placed) {
      this.placed = new Map();
      for (const p of this.registry.store.scan("pods"))
        this.place(objectKey(p.metadata.namespace, p.metadata.name!), p);
    }
    return this.load;
  }

  onChange(change: Change, enqueue: (key: string) => void): void {
    if (change.resource === "pods") {
      const o = change.object;
      this.place(
        objectKey(o.metadata.namespace, o.metadata.name!),
        change.type === "DELETED" ? undefined : o,
      );
    }
    if (change.resource === "pods" && change.type !== "DELETED" && needsScheduling(change.object)) {
      enqueue(objectKey(change.object.metadata.namespace, change.object.metadata.name!));
    }
    // a node that appears, or whose readiness, labels or taints change, may let waiting pods in
    if (
      change.resource === "nodes" &&
      change.type !== "DELETED" &&
      !sameFitness(change.object, change.prev)
    ) {
      for (const pod of this.registry.store.scan("pods")) {
        if (needsScheduling(pod)) enqueue(objectKey(pod.metadata.namespace, pod.metadata.name!));
      }
    }
  }

  reconcile(key: string): void {
    const [ns, name] = key.split("/");
    const pod = this.registry.store.get("pods", ns, name);
    if (!pod || !needsScheduling(pod)) return;
    const nodes = this.registry.store.list("nodes");
    const reasons: string[] = [];
    const fit: KubeObject[] = [];
    for (const node of nodes) {
      const why = unfitReason(pod, node);
      if (why) reasons.push(why);
      else fit.push(node);
    }
    if (fit.length === 0) {
      this.registry.setCondition("pods", pod, {
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: unschedulableMessage(nodes.length, reasons),
      });
      return;
    }
    const load = this.loads();
    let best = fit[0];
    for (const n of fit)
      if ((load.get(n.metadata.name!) ?? 0) < (load.get(best.metadata.name!) ?? 0)) best = n;
    this.registry.bind(ns, name, best.metadata.name!);
    this.place(key, this.registry.store.get("pods", ns, name));
  }
}
