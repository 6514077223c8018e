/**
 * Which units a Kubernetes change affects — pure functions of the change, the caches (already updated with
 * it) and the layout; the controller keeps the little state they compare against (tag users, pods policies
 * involve) and enqueues the answer.
 *
 * - `affectedUnits`: the units the object explains or feeds (a namespace: its own unit, the cluster's share
 *   list when its isolation changes, its pods and services), the pod tags before and after (r5 label tags),
 *   and whether selector inputs changed (pod labels, namespace labels, policies).
 * - `selectorUnits`: when selector inputs changed, the policies and tags units plus the pods whose interface
 *   gains or loses an identity tag (r5 per-pod layout) or a policy security group (r4).
 * - `TagUsers`: counts pods per label tag, so the tags unit runs only when a tag appears or goes unused.
 *
 * Example:
 *   affectedUnits("pods", "add", pod, undefined, snap, layout)
 *   → { units: ["Pod/default/web", "Service/default/web"], selectors: true, tags: { before: [], after: [...] } }
 */
import type { KubeObject, ResourceName } from "./kube/api";
import type { ChangeType } from "./kube/informer";
import {
  hasPort,
  ingressBackends,
  type KubeSnapshot,
  loadBalanced,
  type Layout,
  podTags,
  policyInvolvedPods,
  r4Membership,
  unitKey,
} from "./translate";
import { podNamesNad } from "./translate/multinet";

export interface Affected {
  /** Units to run, in the order to queue them. */
  units: string[];
  /** Pod labels, namespace labels or policies changed: recompute selector membership (`selectorUnits`). */
  selectors: boolean;
  /** A pod's label tags before and after the change (r5, pods with an interface); for `TagUsers`. */
  tags?: { before: string[]; after: string[] };
}

const NO_IDENTITY: ReadonlySet<string> = new Set();
const quiet = () => {};

const labelsOf = (o: KubeObject | undefined) => JSON.stringify(o?.metadata.labels ?? {});
const inNamespace = (m: Map<string, KubeObject>, ns: string) =>
  [...m.values()].filter((o) => o.metadata.namespace === ns);
const nodeIp = (n?: KubeObject) =>
  (n?.status?.addresses ?? []).find((a: { type: string }) => a.type === "InternalIP")?.address;

/** The label tags a pod's interface carries when counting tag users (none without an interface, or in r4). */
function countedTags(layout: Layout, pod: KubeObject | undefined): string[] {
  if (!layout.r5 || !pod || !hasPort(pod)) return [];
  return podTags(layout, pod, NO_IDENTITY);
}

export function affectedUnits(
  resource: ResourceName,
  t: ChangeType,
  o: KubeObject,
  old: KubeObject | undefined,
  snap: KubeSnapshot,
  layout: Layout,
): Affected {
  switch (resource) {
    case "namespaces": {
      const ns = o.metadata.name!;
      const units = [unitKey.namespace(ns)];
      // the default networks' perms2.share lists the non-isolated namespaces' projects
      if (t !== "update" || !old || layout.isIsolated(o, quiet) !== layout.isIsolated(old, quiet))
        units.push(unitKey.cluster());
      // r5 pods carry their namespace's labels as tags
      if ((t !== "update" || labelsOf(o) !== labelsOf(old)) && layout.r5) units.push(unitKey.tags());
      for (const p of inNamespace(snap.pods, ns)) units.push(unitKey.pod(ns, p.metadata.name!));
      for (const s of inNamespace(snap.services, ns)) units.push(unitKey.service(ns, s.metadata.name!));
      return { units, selectors: true };
    }
    case "nodes": {
      const name = o.metadata.name!;
      const units = [unitKey.node(name)];
      if (t !== "update" || nodeIp(o) !== nodeIp(old))
        for (const p of snap.pods.values())
          if (p.spec?.nodeName === name) units.push(unitKey.pod(p.metadata.namespace!, p.metadata.name!));
      return { units, selectors: false };
    }
    case "pods": {
      const ns = o.metadata.namespace!;
      const units = [unitKey.pod(ns, o.metadata.name!)];
      // members reference pods by uid: a pod appearing or going changes its services' member sets
      if (t !== "update")
        for (const s of inNamespace(snap.services, ns)) units.push(unitKey.service(ns, s.metadata.name!));
      // labels and interfaces drive tags and selectors; status updates change neither
      const relevant =
        t !== "update" || labelsOf(o) !== labelsOf(old) || o.spec?.nodeName !== old?.spec?.nodeName;
      if (!relevant) return { units, selectors: false };
      const before = countedTags(layout, old ?? (t === "delete" ? o : undefined));
      const after = t === "delete" ? [] : countedTags(layout, o);
      // the upstream layout's rules name label tags, never pods: a pod changes no policy and no selector
      // membership, only (through TagUsers) which tags are in use — so a pod event does not recompute the
      // whole Policies and Tags units, and the pod's own unit does not wait behind them
      return { units, selectors: !layout.upstreamPolicies, tags: { before, after } };
    }
    case "services": {
      // an Ingress's members are its backend Services' cluster IPs (vnc_ingress.py update_ingress_backend)
      const ns = o.metadata.namespace!;
      const units = [unitKey.service(ns, o.metadata.name!)];
      // r5: a Service with a load balancer has its `<c>-svc` tag, and rules of Ingresses naming it
      const came =
        loadBalanced(t === "delete" ? undefined : o) !==
        loadBalanced(old ?? (t === "delete" ? o : undefined));
      if (came && layout.r5) units.unshift(unitKey.tags());
      let named = false;
      for (const i of inNamespace(snap.ingresses, ns))
        if (ingressBackends(i.spec, quiet, "").some((b) => b.serviceName === o.metadata.name)) {
          units.push(unitKey.ingress(ns, i.metadata.name!));
          named = true;
        }
      if (came && named && layout.upstreamPolicies) units.push(unitKey.policies());
      return { units, selectors: false };
    }
    case "ingresses": {
      const units = [unitKey.ingress(o.metadata.namespace!, o.metadata.name!)];
      // r5: its `ingress=` tag; the upstream layout: its rules in `<c>-Ingress`
      if (t !== "update" && layout.r5) units.unshift(unitKey.tags());
      if (layout.upstreamPolicies) units.push(unitKey.policies());
      return { units, selectors: false };
    }
    case "endpoints":
      return { units: [unitKey.service(o.metadata.namespace!, o.metadata.name!)], selectors: false };
    case "endpointslices": {
      const units: string[] = [];
      for (const s of [o, old]) {
        const svc = s?.metadata.labels?.["kubernetes.io/service-name"];
        if (svc) units.push(unitKey.service(s!.metadata.namespace!, svc));
      }
      return { units, selectors: false };
    }
    case "networkpolicies":
      return { units: [], selectors: true };
    case "networkattachmentdefinitions": {
      // its network lives in its namespace's unit; the pods naming it gain, keep or lose that interface
      const ns = o.metadata.namespace!;
      const units = [unitKey.namespace(ns)];
      for (const p of snap.pods.values())
        if (podNamesNad(p, ns, o.metadata.name!))
          units.push(unitKey.pod(p.metadata.namespace!, p.metadata.name!));
      return { units, selectors: false };
    }
    default:
      return { units: [], selectors: false };
  }
}

/** Selector membership the controller remembers between changes. */
export interface SelectorState {
  /** Pods NetworkPolicies select or name (r5 per-pod layout: they carry identity tags). */
  involved: ReadonlySet<string>;
  /** r4 security-group layout: `ns/pod` → the policy security groups its interface refs. */
  sgMembership: ReadonlyMap<string, string>;
}

export const NO_SELECTORS: SelectorState = { involved: new Set(), sgMembership: new Map() };

/**
 * A selector's inputs changed (pod labels, namespace labels, policies): re-derive the firewall objects, the
 * tags in use, and the interfaces of pods that gained or lost their identity tag or policy security group.
 * Free without policies (`policiesOwned`: the policies unit still owns objects in the API).
 */
export function selectorUnits(
  layout: Layout,
  snap: KubeSnapshot,
  prev: SelectorState,
  policiesOwned: boolean,
): { units: string[]; next: SelectorState } {
  if (
    !layout.upstreamPolicies &&
    !snap.networkpolicies.size &&
    prev.involved.size === 0 &&
    prev.sgMembership.size === 0 &&
    !policiesOwned
  )
    return { units: [], next: prev };
  const units = [unitKey.policies(), unitKey.tags()];
  // the upstream layout matches label tags at flow time: no pod carries an identity tag
  if (layout.upstreamPolicies) return { units, next: prev };
  const podUnit = (k: string) => {
    const [ns, name] = k.split("/");
    return unitKey.pod(ns, name);
  };
  if (layout.r4SecurityGroups) {
    // r4: pods whose interface gains or loses a policy security group
    const next = r4Membership(layout, snap);
    for (const k of new Set([...prev.sgMembership.keys(), ...next.keys()]))
      if (prev.sgMembership.get(k) !== next.get(k)) units.push(podUnit(k));
    return { units, next: { ...prev, sgMembership: next } };
  }
  const next = policyInvolvedPods(layout, snap);
  for (const k of new Set([...prev.involved, ...next]))
    if (prev.involved.has(k) !== next.has(k)) units.push(podUnit(k));
  return { units, next: { ...prev, involved: next } };
}

/** Pods per label tag: says when a tag appears or goes unused (then the tags unit has work). */
export class TagUsers {
  private readonly users = new Map<string, number>();

  /** Replace one pod's tags; true when some tag went from unused to used or back. */
  change(before: readonly string[], after: readonly string[]): boolean {
    const removed = this.count(before, -1);
    const added = this.count(after, 1);
    return removed || added;
  }

  private count(tags: readonly string[], delta: 1 | -1): boolean {
    let changed = false;
    for (const t of tags) {
      const n = (this.users.get(t) ?? 0) + delta;
      if (n <= 0) this.users.delete(t);
      else this.users.set(t, n);
      if (n === 0 || (n === 1 && delta === 1)) changed = true;
    }
    return changed;
  }
}
