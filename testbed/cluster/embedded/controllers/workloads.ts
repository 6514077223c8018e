/**
 * The workload controllers: ReplicaSets and ReplicationControllers keep `replicas` pods
 * (`<owner>-<5 chars>`, owned via a controller ownerReference, orphans matching the selector adopted), and
 * Deployments own one ReplicaSet per pod template (`<deploy>-<pod-template-hash>`), rolling from old to new
 * within maxSurge/maxUnavailable as pods become Ready (Recreate: old ones first). Surplus pods go in the
 * real controller's order (`deletionOrder`: unscheduled, pending, not ready, cheap, on crowded nodes, newest).
 *
 * Example: Deployment example1 (2 replicas) -> ReplicaSet example1-5d4c6b8f79 -> pods
 *          example1-5d4c6b8f79-36xpr and example1-5d4c6b8f79-k8w2z
 */
import type { KubeObject, ResourceName } from "../../../../controller/kube/api";
import { podTemplateHash } from "../names";
import { deepEqual } from "../patch";
import type { Registry } from "../registry";
import { type LabelSelector, matchesLabelSelector, matchesMapSelector } from "../selectors";
import { type Change, objectKey } from "../store";
import type { Controller } from "./runtime";

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;

const HASH_LABEL = "pod-template-hash";
const REVISION_ANNOTATION = "deployment.kubernetes.io/revision";

export function controllerRef(obj: KubeObject): Any | undefined {
  return (obj.metadata.ownerReferences ?? []).find((r: Any) => r.controller);
}

function isActive(pod: KubeObject): boolean {
  return (
    !pod.metadata.deletionTimestamp && pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed"
  );
}

function isReady(pod: KubeObject): boolean {
  return (pod.status?.conditions ?? []).some((c: Any) => c.type === "Ready" && c.status === "True");
}

function ownerRefTo(owner: KubeObject): Any {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

const DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost";
const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/**
 * Which surplus pod goes first, in the real ReplicaSet controller's order (ActivePodsWithRanks): unscheduled,
 * then Pending < Unknown < Running, not Ready, lower pod-deletion-cost, more sibling pods on the same node
 * (`doubledUp`), Ready more recently, more restarts, created more recently. Times count in powers of two of
 * their age (LogarithmicScaleDown), and within one bucket the smaller uid goes first.
 */
export function deletionOrder(
  doubledUp: Map<KubeObject, number>,
  now: Date,
): (a: KubeObject, b: KubeObject) => number {
  const byBool = (x: boolean, y: boolean) => (x === y ? 0 : x ? -1 : 1);
  const cost = (p: KubeObject) =>
    Number.parseInt(p.metadata.annotations?.[DELETION_COST_ANNOTATION] ?? "0", 10) || 0;
  const restarts = (p: KubeObject) =>
    Math.max(0, ...((p.status?.containerStatuses ?? []) as Any[]).map((c) => c.restartCount ?? 0));
  const readySince = (p: KubeObject) =>
    timeOf(p.status?.conditions?.find((c: Any) => c.type === "Ready")?.lastTransitionTime);
  /** Negative when `a` goes first: the more recent time (a zero time first of all), bucketed by log2 of age. */
  const recentFirst = (a: KubeObject, b: KubeObject, ta: number | undefined, tb: number | undefined) => {
    if (ta === tb) return 0;
    if (ta === undefined || tb === undefined) return ta === undefined ? -1 : 1;
    const bucket = (t: number) => (now.getTime() > t ? Math.floor(Math.log2((now.getTime() - t) * 1e6)) : -1);
    const d = bucket(ta) - bucket(tb);
    if (d !== 0) return d;
    return a.metadata.uid! < b.metadata.uid! ? -1 : a.metadata.uid! > b.metadata.uid! ? 1 : 0;
  };
  return (a, b) =>
    byBool(!a.spec?.nodeName, !b.spec?.nodeName) ||
    (PHASE_RANK[a.status?.phase] ?? 0) - (PHASE_RANK[b.status?.phase] ?? 0) ||
    byBool(!isReady(a), !isReady(b)) ||
    cost(a) - cost(b) ||
    (doubledUp.get(b) ?? 0) - (doubledUp.get(a) ?? 0) ||
    (isReady(a) && isReady(b) ? recentFirst(a, b, readySince(a), readySince(b)) : 0) ||
    restarts(b) - restarts(a) ||
    recentFirst(a, b, timeOf(a.metadata.creationTimestamp), timeOf(b.metadata.creationTimestamp));
}

function timeOf(t: unknown): number | undefined {
  if (!t) return undefined;
  const ms = new Date(t as string).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

/** "25%" of 10 rounded up (surge) or down (unavailable), or a plain number. */
function scaledValue(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === "number") return v;
  const m = /^(\d+)%$/.exec(String(v ?? "0"));
  if (!m) return Number(v) || 0;
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/** desired-replicas and max-replicas (replicas + maxSurge) of a Deployment, as its ReplicaSets carry them. */
function replicasAnnotations(d: KubeObject): Record<string, string> {
  const want: number = d.spec.replicas ?? 1;
  const strategy = d.spec.strategy ?? {};
  const surge =
    strategy.type === "RollingUpdate" ? scaledValue(strategy.rollingUpdate?.maxSurge, want, true) : 0;
  return {
    "deployment.kubernetes.io/desired-replicas": String(want),
    "deployment.kubernetes.io/max-replicas": String(want + surge),
  };
}

type ReplicaOwner = "replicasets" | "replicationcontrollers";

export class WorkloadController implements Controller {
  readonly name = "workloads";

  constructor(private readonly registry: Registry) {}

  onChange(change: Change, enqueue: (key: string) => void): void {
    const o = change.object;
    const ns = o.metadata.namespace!;
    const key = (r: ResourceName, name: string) => `${r}|${objectKey(ns, name)}`;
    switch (change.resource) {
      case "deployments":
        enqueue(key("deployments", o.metadata.name!));
        break;
      case "replicasets":
      case "replicationcontrollers": {
        enqueue(key(change.resource, o.metadata.name!));
        const ref = controllerRef(o);
        if (ref?.kind === "Deployment") enqueue(key("deployments", ref.name));
        break;
      }
      case "pods": {
        for (const pod of [o, change.prev]) {
          if (!pod) continue;
          const ref = controllerRef(pod);
          if (ref?.kind === "ReplicaSet") enqueue(key("replicasets", ref.name));
          else if (ref?.kind === "ReplicationController") enqueue(key("replicationcontrollers", ref.name));
          else if (!ref && change.type !== "DELETED") this.enqueueAdopters(pod, enqueue);
        }
        break;
      }
      default:
        break;
    }
  }

  /** An orphan pod may be adopted by any replica owner whose selector matches it. */
  private enqueueAdopters(pod: KubeObject, enqueue: (key: string) => void): void {
    const ns = pod.metadata.namespace!;
    for (const r of ["replicasets", "replicationcontrollers"] as const) {
      for (const owner of this.registry.store.scan(r, ns)) {
        if (this.selects(r, owner, pod)) enqueue(`${r}|${objectKey(ns, owner.metadata.name!)}`);
      }
    }
  }

  private selects(resource: ReplicaOwner, owner: KubeObject, pod: KubeObject): boolean {
    const sel = owner.spec?.selector;
    if (!sel) return false;
    return resource === "replicationcontrollers"
      ? matchesMapSelector(sel, pod.metadata.labels)
      : matchesLabelSelector(sel as LabelSelector, pod.metadata.labels);
  }

  reconcile(item: string): void {
    const sep = item.indexOf("|");
    const resource = item.slice(0, sep) as ResourceName;
    const [ns, name] = item.slice(sep + 1).split("/");
    const obj = this.registry.store.get(resource, ns, name);
    if (!obj || obj.metadata.deletionTimestamp) return;
    if (resource === "deployments") this.syncDeployment(obj);
    else this.syncReplicas(resource as ReplicaOwner, obj);
  }

  // ---- ReplicaSet / ReplicationController ----

  private ownedPods(resource: ReplicaOwner, owner: KubeObject): KubeObject[] {
    const uid = owner.metadata.uid;
    const out: KubeObject[] = [];
    for (const pod of this.registry.store.scan("pods", owner.metadata.namespace)) {
      const ref = controllerRef(pod);
      if (ref?.uid === uid) out.push(pod);
      else if (!ref && isActive(pod) && this.selects(resource, owner, pod)) {
        const refs = [...(pod.metadata.ownerReferences ?? []), ownerRefTo(owner)];
        out.push(
          this.registry.patch("pods", pod.metadata.name!, pod.metadata.namespace, {
            metadata: { ownerReferences: refs },
          }),
        );
      }
    }
    return out;
  }

  /**
   * For each of `pods`, how many active pods on its node belong to the owner or to a sibling under the same
   * Deployment (the real controller's "related pods"): crowded nodes give up pods first.
   */
  private doubledUp(owner: KubeObject, pods: KubeObject[]): Map<KubeObject, number> {
    const parent = controllerRef(owner)?.uid;
    const owners = new Set([owner.metadata.uid]);
    if (parent) {
      for (const rs of this.registry.store.scan("replicasets", owner.metadata.namespace)) {
        if (controllerRef(rs)?.uid === parent) owners.add(rs.metadata.uid);
      }
    }
    const perNode = new Map<string, number>();
    for (const p of this.registry.store.scan("pods", owner.metadata.namespace)) {
      const node = p.spec?.nodeName;
      if (node && isActive(p) && owners.has(controllerRef(p)?.uid))
        perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
    return new Map(pods.map((p) => [p, p.spec?.nodeName ? (perNode.get(p.spec.nodeName) ?? 0) : 0]));
  }

  private syncReplicas(resource: ReplicaOwner, owner: KubeObject): void {
    const ns = owner.metadata.namespace!;
    const pods = this.ownedPods(resource, owner);
    let active = pods.filter(isActive);
    const want = owner.spec?.replicas ?? 1;
    if (active.length < want) {
      const tpl = owner.spec.template ?? {};
      for (let i = active.length; i < want; i++) {
        const pod = this.registry.create(
          "pods",
          {
            apiVersion: "v1",
            kind: "Pod",
            metadata: {
              generateName: `${owner.metadata.name}-`,
              namespace: ns,
              labels: { ...(tpl.metadata?.labels ?? {}) },
              ...(tpl.metadata?.annotations ? { annotations: { ...tpl.metadata.annotations } } : {}),
              ownerReferences: [ownerRefTo(owner)],
            },
            spec: structuredClone(tpl.spec),
          },
          ns,
        );
        active.push(pod);
      }
    } else if (active.length > want) {
      const order = deletionOrder(this.doubledUp(owner, active), new Date(this.registry.timestamp()));
      const doomed = [...active].sort(order).slice(0, active.length - want);
      for (const p of doomed) this.registry.delete("pods", p.metadata.name!, ns);
      active = active.filter((p) => !doomed.includes(p));
    }
    const ready = active.filter(isReady).length;
    const labelled = active.filter((p) => this.selects(resource, owner, p)).length;
    const status: Any = {
      replicas: active.length,
      fullyLabeledReplicas: labelled,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: owner.metadata.generation,
    };
    if (!deepEqual({ ...owner.status, ...status }, owner.status)) {
      const fresh = this.registry.store.get(resource, ns, owner.metadata.name!)!;
      this.registry.replace(resource, { ...fresh, status: { ...fresh.status, ...status } }, ns, "status");
    }
  }

  // ---- Deployment ----

  private syncDeployment(d: KubeObject): void {
    const ns = d.metadata.namespace!;
    const owned = this.registry.store
      .scan("replicasets", ns)
      .filter((rs) => controllerRef(rs)?.uid === d.metadata.uid && !rs.metadata.deletionTimestamp);
    const template = d.spec.template;
    const stripHash = (t: Any) => {
      const c = structuredClone(t ?? {});
      if (c.metadata?.labels) delete c.metadata.labels[HASH_LABEL];
      return c;
    };
    let newRS = owned.find((rs) => deepEqual(stripHash(rs.spec?.template), template));
    const olds = owned.filter((rs) => rs !== newRS);
    const want: number = d.spec.replicas ?? 1;
    const revision = (rs: KubeObject) => Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0);
    const maxRevision = owned.reduce((m, rs) => Math.max(m, revision(rs)), 0);

    if (d.spec.paused) {
      this.updateDeploymentStatus(d, owned, newRS);
      return;
    }
    if (!newRS) newRS = this.createReplicaSet(d, olds, maxRevision + 1);
    else if (revision(newRS) < maxRevision) {
      newRS = this.registry.patch("replicasets", newRS.metadata.name!, ns, {
        metadata: { annotations: { [REVISION_ANNOTATION]: String(maxRevision + 1) } },
      });
    }

    // the Deployment carries its newest ReplicaSet's revision too (what `kubectl rollout history` reads)
    if (d.metadata.annotations?.[REVISION_ANNOTATION] !== String(revision(newRS))) {
      this.registry.patch("deployments", d.metadata.name!, ns, {
        metadata: { annotations: { [REVISION_ANNOTATION]: String(revision(newRS)) } },
      });
    }

    const oldActive = olds.filter((rs) => (rs.spec?.replicas ?? 0) > 0);
    if (oldActive.length === 0) {
      this.scale(d, newRS, want);
    } else if (d.spec.strategy?.type === "Recreate") {
      for (const rs of oldActive) this.scale(d, rs, 0);
      const oldPods = this.registry.store
        .scan("pods", ns)
        .filter((p) => isActive(p) && olds.some((rs) => controllerRef(p)?.uid === rs.metadata.uid));
      if (oldPods.length === 0) this.scale(d, newRS, want);
    } else {
      this.rollingStep(d, newRS, oldActive, want);
    }
    this.cleanupHistory(d, olds);
    const current = this.registry.store
      .scan("replicasets", ns)
      .filter((rs) => controllerRef(rs)?.uid === d.metadata.uid);
    this.updateDeploymentStatus(d, current, this.registry.store.get("replicasets", ns, newRS.metadata.name!));
  }

  private createReplicaSet(d: KubeObject, olds: KubeObject[], revision: number): KubeObject {
    const ns = d.metadata.namespace!;
    let collision: number = d.status?.collisionCount ?? 0;
    for (;;) {
      const hash = podTemplateHash(d.spec.template, collision);
      const name = `${d.metadata.name}-${hash}`;
      const clash = this.registry.store.get("replicasets", ns, name);
      if (clash && controllerRef(clash)?.uid !== d.metadata.uid) {
        collision++;
        continue;
      }
      if (clash) return clash;
      const template = structuredClone(d.spec.template);
      template.metadata = { ...(template.metadata ?? {}) };
      template.metadata.labels = { ...(template.metadata.labels ?? {}), [HASH_LABEL]: hash };
      const selector = structuredClone(d.spec.selector);
      selector.matchLabels = { ...(selector.matchLabels ?? {}), [HASH_LABEL]: hash };
      const want: number = d.spec.replicas ?? 1;
      const annotations: Record<string, string> = {
        ...replicasAnnotations(d),
        [REVISION_ANNOTATION]: String(revision),
      };
      // a fresh deployment starts at full size; a rollout grows the new set step by step
      const initial = olds.some((rs) => (rs.spec?.replicas ?? 0) > 0) ? 0 : want;
      return this.registry.create(
        "replicasets",
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          metadata: {
            name,
            namespace: ns,
            labels: { ...(template.metadata.labels ?? {}) },
            annotations,
            ownerReferences: [ownerRefTo(d)],
          },
          // copied as the real controller copies it; 0 is left out (omitempty), as kubectl shows it
          spec: {
            replicas: initial,
            ...(d.spec.minReadySeconds ? { minReadySeconds: d.spec.minReadySeconds } : {}),
            selector,
            template,
          },
        },
        ns,
      );
    }
  }

  /** Resize a Deployment's ReplicaSet; like the real controller it also refreshes the size annotations. */
  private scale(d: KubeObject, rs: KubeObject, replicas: number): void {
    const annotations = replicasAnnotations(d);
    const stale = Object.entries(annotations).some(([k, v]) => rs.metadata.annotations?.[k] !== v);
    if ((rs.spec?.replicas ?? 0) === replicas && !stale) return;
    this.registry.patch("replicasets", rs.metadata.name!, rs.metadata.namespace, {
      metadata: { annotations },
      spec: { replicas },
    });
  }

  /** One step of RollingUpdate: surge the new set, then retire old pods no longer needed for availability. */
  private rollingStep(d: KubeObject, newRS: KubeObject, olds: KubeObject[], want: number): void {
    const ru = d.spec.strategy?.rollingUpdate ?? {};
    const surge = scaledValue(ru.maxSurge ?? "25%", want, true);
    let unavailable = scaledValue(ru.maxUnavailable ?? "25%", want, false);
    if (surge === 0 && unavailable === 0) unavailable = 1;
    const specOf = (rs: KubeObject) => (rs.spec?.replicas ?? 0) as number;
    const availableOf = (rs: KubeObject) => (rs.status?.availableReplicas ?? 0) as number;
    const total = [newRS, ...olds].reduce((s, rs) => s + specOf(rs), 0);
    const newSpec = Math.min(want, specOf(newRS) + Math.max(0, want + surge - total));
    this.scale(d, newRS, newSpec);
    // never go below minAvailable, counting new replicas that are not available yet as missing
    // (this also guards against ReplicaSet statuses that lag behind their spec)
    const minAvailable = want - unavailable;
    const allSpec = newSpec + olds.reduce((s, rs) => s + specOf(rs), 0);
    let maxScaledDown = allSpec - minAvailable - Math.max(0, newSpec - availableOf(newRS));
    if (maxScaledDown <= 0) return;
    // first old replicas that are not available: removing them costs no availability
    const remaining = new Map(olds.map((rs) => [rs, specOf(rs)]));
    for (const rs of olds) {
      const cut = Math.min(maxScaledDown, Math.max(0, specOf(rs) - availableOf(rs)));
      if (cut > 0) {
        remaining.set(rs, specOf(rs) - cut);
        maxScaledDown -= cut;
      }
    }
    // then available ones, as far as availability allows
    const available =
      availableOf(newRS) + olds.reduce((s, rs) => s + Math.min(availableOf(rs), remaining.get(rs)!), 0);
    let budget = Math.min(maxScaledDown, available - minAvailable);
    for (const rs of olds) {
      const cut = Math.max(0, Math.min(budget, remaining.get(rs)!));
      remaining.set(rs, remaining.get(rs)! - cut);
      budget -= cut;
    }
    for (const rs of olds) this.scale(d, rs, remaining.get(rs)!);
  }

  private cleanupHistory(d: KubeObject, olds: KubeObject[]): void {
    const limit: number = d.spec.revisionHistoryLimit ?? 10;
    const idle = olds
      .filter((rs) => (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0)
      .sort(
        (a, b) =>
          Number(a.metadata.annotations?.[REVISION_ANNOTATION] ?? 0) -
          Number(b.metadata.annotations?.[REVISION_ANNOTATION] ?? 0),
      );
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      this.registry.delete("replicasets", rs.metadata.name!, rs.metadata.namespace);
    }
  }

  private updateDeploymentStatus(d: KubeObject, owned: KubeObject[], newRS: KubeObject | undefined): void {
    const sum = (f: (rs: KubeObject) => number) => owned.reduce((s, rs) => s + f(rs), 0);
    const replicas = sum((rs) => rs.status?.replicas ?? 0);
    const available = sum((rs) => rs.status?.availableReplicas ?? 0);
    const want: number = d.spec.replicas ?? 1;
    const updated = newRS?.status?.replicas ?? 0;
    const status: Any = {
      observedGeneration: d.metadata.generation,
      replicas,
      updatedReplicas: updated,
      readyReplicas: sum((rs) => rs.status?.readyReplicas ?? 0),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, want - available),
    };
    for (const k of [
      "replicas",
      "updatedReplicas",
      "readyReplicas",
      "availableReplicas",
      "unavailableReplicas",
    ]) {
      if (status[k] === 0) delete status[k];
    }
    const maxUnavailable =
      d.spec.strategy?.type === "RollingUpdate"
        ? scaledValue(d.spec.strategy.rollingUpdate?.maxUnavailable, want, false)
        : 0;
    const availableCond =
      available >= want - maxUnavailable
        ? {
            type: "Available",
            status: "True",
            reason: "MinimumReplicasAvailable",
            message: "Deployment has minimum availability.",
          }
        : {
            type: "Available",
            status: "False",
            reason: "MinimumReplicasUnavailable",
            message: "Deployment does not have minimum availability.",
          };
    const complete = newRS && updated === want && available >= want && replicas === want;
    const progressingCond = {
      type: "Progressing",
      status: "True",
      reason: complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
      message: newRS
        ? complete
          ? `ReplicaSet "${newRS.metadata.name}" has successfully progressed.`
          : `ReplicaSet "${newRS.metadata.name}" is progressing.`
        : "Deployment is paused.",
    };
    const fresh = this.registry.store.get("deployments", d.metadata.namespace, d.metadata.name!)!;
    const conditions = [availableCond, progressingCond].map((c) => {
      const old = (fresh.status?.conditions ?? []).find((x: Any) => x.type === c.type);
      const same = old && old.status === c.status && old.reason === c.reason && old.message === c.message;
      return same
        ? old
        : { ...c, lastUpdateTime: this.registry.timestamp(), lastTransitionTime: this.registry.timestamp() };
    });
    const next = { ...status, conditions };
    if (fresh.status?.collisionCount !== undefined) next.collisionCount = fresh.status.collisionCount;
    if (deepEqual(next, fresh.status)) return;
    this.registry.replace("deployments", { ...fresh, status: next }, fresh.metadata.namespace, "status");
  }
}
