/**
 * Service-member and Ingress tags, and the Ingress's firewall rules, as the R5 kube-manager makes them
 * (tf-controller label_cache.py, vnc_service.py, vnc_endpoints.py, vnc_ingress.py):
 *
 * - every Service with a cluster IP has a global tag `<c>-svc=<service name>` (XLabelCache.get_service_label;
 *   made when the Service appears, gone with it); vnc_endpoints.py `_add_pod_to_service` puts it on the VMI of
 *   each pod that becomes a member, `_remove_pod_from_service` takes it off;
 * - every Ingress has a tag `ingress=<c>-<ns>-<name>` (get_ingress_label_name) on its load balancer's VMI, which
 *   svc-monitor copies to the haproxy service instance's port (loadbalancer_agent.py `pre_create_service_vm`);
 * - `<c>-Ingress`, the first firewall policy of the cluster APS, holds one rule `<c>-Ingress-<ns>-<ingress>-<svc>`
 *   per (Ingress, backend Service): pass any protocol from `ingress=…` to `<c>-svc=<svc>`
 *   (`add_ingress_to_service_rule` → `create_firewall_rule_allow_all`), so haproxy reaches the backend pods
 *   before any NetworkPolicy's deny.
 *
 * The tag carries the Service's name only (not its namespace), as upstream: same-named Services of two
 * namespaces share one tag. Contrail allows one tag of a type per object (api_server.py `_validate_tag_refs`),
 * so a pod in several Services carries the tag of one of them: the one it joined last (`XLabelCache.append`
 * replaces the key's value).
 *
 * Example: `serviceTag(layout, "web")` → `k8s-svc=web`; `ingressRules(layout, snap)` → rules
 * `k8s-Ingress-shop-front-web` from `ingress=k8s-shop-front` to `k8s-svc=web`.
 */
import type { KubeObject } from "../kube/api";
import type { ServiceObject } from "../kube/objects";
import { ingressBackends, INGRESS_CLASS_ANNOTATION } from "./ingress";
import type { Layout } from "./layout";
import { tagName } from "./names";
import type { KubeSnapshot } from "./types";

const slashFree = (s: string) => s.replaceAll("/", "__slash__");

/** `<c>-svc=<svc>`: the tag of a Service's members. */
export const serviceTag = (layout: Layout, svcName: string) => tagName(`${layout.c}-svc`, slashFree(svcName));

/** `ingress=<c>-<ns>-<name>`: the tag of an Ingress's load balancer interfaces. */
export const ingressTag = (layout: Layout, ns: string, name: string) =>
  tagName("ingress", slashFree(`${layout.c}-${ns}-${name}`));

/** A Service kube-manager gives a load balancer (and so a label): it has a cluster IP, not ExternalName. */
export function loadBalanced(svc: KubeObject | undefined): svc is ServiceObject {
  const ip = svc?.spec?.clusterIP;
  return !!svc?.metadata.uid && svc.spec?.type !== "ExternalName" && !!ip && ip !== "None";
}

/** Whether an Ingress is kube-manager's (its class opencontrail or unset). */
export function ownIngress(ing: KubeObject): boolean {
  return (ing.metadata.annotations?.[INGRESS_CLASS_ANNOTATION] ?? "opencontrail") === "opencontrail";
}

const byAppearance = (a: KubeObject, b: KubeObject) =>
  String(a.metadata.creationTimestamp ?? "").localeCompare(String(b.metadata.creationTimestamp ?? ""));

/** Ready endpoint pods (uids) of a Service, from its EndpointSlices, else its Endpoints' first subset. */
export type MemberUids = (snap: KubeSnapshot, svc: ServiceObject) => string[];

/**
 * Which Services each pod (by uid) is a member of, kept per Service so that an EndpointSlice change costs one
 * Service's recomputation and names the pods it adds or removes. Membership order is the order joined.
 */
export class ServiceMembers {
  private readonly bySvc = new Map<string, Set<string>>();
  private readonly byPod = new Map<string, string[]>();

  constructor(private readonly memberUids: MemberUids) {}

  /** Everything from a snapshot (Services in the order they appeared). */
  static of(snap: KubeSnapshot, memberUids: MemberUids): ServiceMembers {
    const m = new ServiceMembers(memberUids);
    for (const s of [...snap.services.values()].sort(byAppearance))
      m.refresh(snap, `${s.metadata.namespace}/${s.metadata.name}`);
    return m;
  }

  /** Recompute one Service's members; the uids of the pods that joined or left it. */
  refresh(snap: KubeSnapshot, svcKey: string): string[] {
    const svc = snap.services.get(svcKey);
    const next = new Set(loadBalanced(svc) ? this.memberUids(snap, svc) : []);
    const prev = this.bySvc.get(svcKey) ?? new Set<string>();
    const changed: string[] = [];
    for (const uid of prev)
      if (!next.has(uid)) {
        changed.push(uid);
        const left = (this.byPod.get(uid) ?? []).filter((k) => k !== svcKey);
        if (left.length) this.byPod.set(uid, left);
        else this.byPod.delete(uid);
      }
    for (const uid of next)
      if (!prev.has(uid)) {
        changed.push(uid);
        this.byPod.set(uid, [...(this.byPod.get(uid) ?? []), svcKey]);
      }
    if (next.size) this.bySvc.set(svcKey, next);
    else this.bySvc.delete(svcKey);
    return changed;
  }

  /** `ns/svc` keys of the Services a pod is a member of, in the order it joined them. */
  of(uid: string | undefined): readonly string[] {
    return (uid && this.byPod.get(uid)) || [];
  }
}

/** The `<c>-svc` tag a pod's VMI carries (the Service it joined last), and a warning when it is in several. */
export function memberTag(
  layout: Layout,
  podKey: string,
  services: readonly string[],
  warn: (m: string) => void,
): string | undefined {
  if (!layout.r5 || !services.length) return undefined;
  const names = services.map((k) => k.slice(k.indexOf("/") + 1));
  const last = names.at(-1)!;
  if (new Set(names).size > 1)
    warn(
      `pod ${podKey}: a member of Services ${names.join(", ")}; Contrail allows one ${layout.c}-svc tag per interface, so it carries ${serviceTag(layout, last)} (the Service it joined last, as kube-manager sets it) and Ingress rules naming the others do not match it`,
    );
  return serviceTag(layout, last);
}

/** Tags that exist for Services and Ingresses (r5), whether or not an interface carries them. */
export function serviceAndIngressTags(layout: Layout, snap: KubeSnapshot): string[] {
  if (!layout.r5) return [];
  const out: string[] = [];
  for (const s of snap.services.values()) if (loadBalanced(s)) out.push(serviceTag(layout, s.metadata.name!));
  for (const i of snap.ingresses.values())
    if (i.metadata.uid) out.push(ingressTag(layout, i.metadata.namespace!, i.metadata.name!));
  return out;
}

export interface IngressRule {
  name: string;
  from: string;
  to: string;
}

/**
 * The `<c>-Ingress` policy's rules in sequence order: per kube-manager Ingress (in the order they appeared),
 * per backend Service that exists (named once, at its first backend), `<c>-Ingress-<ns>-<ingress>-<svc>`.
 * Upstream adds the rule with the backend and deletes it when the Service goes (update_ingress_backend).
 */
export function ingressRules(layout: Layout, snap: KubeSnapshot): IngressRule[] {
  const out: IngressRule[] = [];
  const seen = new Set<string>();
  for (const ing of [...snap.ingresses.values()].sort(byAppearance)) {
    if (!ing.metadata.uid || !ownIngress(ing)) continue;
    const ns = ing.metadata.namespace!;
    const name = ing.metadata.name!;
    for (const be of ingressBackends(ing.spec, () => {}, "")) {
      if (!loadBalanced(snap.services.get(`${ns}/${be.serviceName}`))) continue;
      const rule = `${layout.c}-Ingress-${ns}-${name}-${be.serviceName}`;
      if (seen.has(rule)) continue;
      seen.add(rule);
      out.push({ name: rule, from: ingressTag(layout, ns, name), to: serviceTag(layout, be.serviceName) });
    }
  }
  return out;
}
