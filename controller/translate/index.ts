/**
 * Entry points of the pure translation: the units a snapshot implies, one unit's desired objects, and the
 * whole desired object set (what the golden tests print).
 *
 * Example:
 *   const units = translateAll(snapshot, cfg, emptyView());
 *   units.flatMap((u) => u.objects).map((o) => `${o.type} ${o.fq_name.join(":")}`)
 */
import type { ControllerConfig } from "../config";
import type { KubeObject } from "../kube/api";
import { ingressBackends, translateIngress } from "./ingress";
import { Layout } from "./layout";
import { NETWORKS_ANNOTATION, parsePodNetworks } from "./multinet";
import { policyInvolvedPods, translatePolicies } from "./netpol";
import { r4Policies, translateR4Policies } from "./netpol-r4";
import { translateUpstreamPolicies } from "./netpol-upstream";
import { parseUnitKey, unitKey } from "./names";
import { ServiceMembers } from "./service-tags";
import type { KubeSnapshot, UnitDesired, VncView } from "./types";
import {
  endpointTargets,
  podIndex,
  translateCluster,
  translateNamespace,
  translateNode,
  translatePod,
  translateService,
  translateTags,
  UnitBuilder,
} from "./units";

export { ingressBackends, ingressLbVmiName } from "./ingress";
export { Layout } from "./layout";
export { policyInvolvedPods } from "./netpol";
export { r4Membership } from "./netpol-r4";
export { ingressRules, ingressTag, loadBalanced, ServiceMembers, serviceTag } from "./service-tags";
export { hasPort, LINK_LOCAL_LIST, linkLocalOwner, PORT_POOL_LIST, podTags, portPoolOwner } from "./units";
export * from "./names";
export * from "./types";

/** Every unit the snapshot implies: tags and cluster first, then nodes, namespaces, pods, services, policies. */
export function unitKeys(snap: KubeSnapshot): string[] {
  const keys = [unitKey.tags(), unitKey.cluster()];
  for (const n of [...snap.nodes.keys()].sort()) keys.push(unitKey.node(n));
  for (const n of [...snap.namespaces.keys()].sort()) keys.push(unitKey.namespace(n));
  for (const k of [...snap.pods.keys()].sort()) {
    const [ns, name] = k.split("/");
    keys.push(unitKey.pod(ns, name));
  }
  for (const k of [...snap.services.keys()].sort()) {
    const [ns, name] = k.split("/");
    keys.push(unitKey.service(ns, name));
  }
  for (const k of [...snap.ingresses.keys()].sort()) {
    const [ns, name] = k.split("/");
    keys.push(unitKey.ingress(ns, name));
  }
  keys.push(unitKey.policies());
  return keys;
}

/** Order in which unit kinds are applied when several are ready (parents and ref targets first). */
export const UNIT_RANK: Record<string, number> = {
  Tags: 0,
  Cluster: 1,
  Node: 1,
  Namespace: 2,
  Pod: 3,
  Service: 4,
  Ingress: 4,
  Policies: 5,
};

/**
 * Units that must be applied before `key` (they own its parents and ref targets). Deletions run the other
 * way round: the scheduler holds a deleted namespace's unit until its pods' and services' units are done.
 */
export function unitDeps(key: string, snap: KubeSnapshot, layout?: Layout): string[] {
  const u = parseUnitKey(key);
  switch (u.kind) {
    case "Tags":
    case "Node":
      return [];
    case "Cluster":
      return [unitKey.tags()];
    case "Policies": {
      if (!snap.networkpolicies.size && !layout?.upstreamPolicies) return [];
      const deps = [unitKey.tags(), unitKey.cluster()];
      // r4: the policies' security groups live in their namespaces' projects
      if (layout?.r4SecurityGroups)
        for (const ns of new Set([...snap.networkpolicies.values()].map((np) => np.metadata.namespace!)))
          if (snap.namespaces.has(ns)) deps.push(unitKey.namespace(ns));
      return deps;
    }
    case "Namespace":
      return [unitKey.cluster()];
    case "Service":
      // a deleted object's unit only deletes: it waits for nothing
      if (!snap.services.has(`${u.namespace}/${u.name}`)) return [];
      return [unitKey.cluster(), unitKey.namespace(u.namespace!)];
    case "Ingress": {
      const ing = snap.ingresses.get(`${u.namespace}/${u.name}`);
      if (!ing) return [];
      // members are its backend Services' cluster IPs: their units first
      const svcs = ingressBackends(ing.spec, () => {}, "").map((b) => `${u.namespace}/${b.serviceName}`);
      return [
        // r5: its VMI carries the `ingress=` and `namespace=` tags
        ...(layout?.r5 ? [unitKey.tags()] : []),
        unitKey.cluster(),
        unitKey.namespace(u.namespace!),
        ...[...new Set(svcs)]
          .filter((s) => snap.services.has(s))
          .map((s) => unitKey.service(...(s.split("/") as [string, string]))),
      ];
    }
    case "Pod": {
      const p = snap.pods.get(`${u.namespace}/${u.name}`);
      if (!p) return [];
      const node = p.spec?.nodeName;
      const deps = [unitKey.tags(), unitKey.cluster(), unitKey.namespace(u.namespace!)];
      if (node) deps.push(unitKey.node(node));
      // the networks its attachments name are made by their definitions' namespaces' units
      const attached = parsePodNetworks(p.metadata.annotations?.[NETWORKS_ANNOTATION], u.namespace!);
      if (typeof attached !== "string")
        for (const ns of new Set(attached.map((a) => a.namespace)))
          if (ns !== u.namespace && snap.namespaces.has(ns)) deps.push(unitKey.namespace(ns));
      // r4: the policy security groups its interface refs
      if (
        layout?.r4SecurityGroups &&
        [...snap.networkpolicies.values()].some((np) => np.metadata.namespace === u.namespace)
      )
        deps.push(unitKey.policies());
      return deps;
    }
  }
}

/** Derived views of a snapshot several units need (the controller keeps them current incrementally). */
export interface TranslateContext {
  /** pod uid → pod (service members) */
  podsByUid: ReadonlyMap<string, KubeObject>;
  /** `ns/pod` of the pods NetworkPolicies select or name (they carry identity tags) */
  involved: ReadonlySet<string>;
  /** pod uid → the Services it is a member of (their `<c>-svc` tag on its VMI) */
  members: Pick<ServiceMembers, "of">;
}

/** The Services' ready endpoint pods, as their load balancers' members are made (translateService). */
export const memberUids = (snap: KubeSnapshot, svc: Parameters<typeof endpointTargets>[1]) =>
  endpointTargets(snap, svc).map((t) => t.podUid);

export function translationContext(snap: KubeSnapshot, layout: Layout): TranslateContext {
  return {
    podsByUid: podIndex(snap),
    involved: layout.perPodPolicies ? policyInvolvedPods(layout, snap) : new Set(),
    members: ServiceMembers.of(snap, memberUids),
  };
}

export function translateUnit(
  key: string,
  snap: KubeSnapshot,
  layout: Layout,
  view: VncView,
  ctx: TranslateContext,
): UnitDesired {
  const u = parseUnitKey(key);
  switch (u.kind) {
    case "Tags":
      return translateTags(layout, snap, ctx.involved);
    case "Cluster":
      return translateCluster(layout, snap);
    case "Node":
      return translateNode(layout, snap, view, u.name!);
    case "Namespace":
      return translateNamespace(layout, snap, u.name!);
    case "Pod":
      return translatePod(
        layout,
        snap,
        view,
        `${u.namespace}/${u.name}`,
        ctx.involved,
        layout.r4SecurityGroups ? r4Policies(layout, snap, u.namespace) : [],
        ctx.members.of(snap.pods.get(`${u.namespace}/${u.name}`)?.metadata.uid),
      );
    case "Policies":
      if (layout.upstreamPolicies)
        return translateUpstreamPolicies(layout, snap, new UnitBuilder(layout, key));
      if (layout.r4SecurityGroups) return translateR4Policies(layout, snap, new UnitBuilder(layout, key));
      return translatePolicies(layout, snap, new UnitBuilder(layout, key));
    case "Service":
      return translateService(layout, snap, `${u.namespace}/${u.name}`, ctx.podsByUid, view);
    case "Ingress":
      return translateIngress(layout, snap, `${u.namespace}/${u.name}`, view);
  }
}

/** The desired state of every unit of a snapshot. */
export function translateAll(snap: KubeSnapshot, cfg: ControllerConfig, view: VncView): UnitDesired[] {
  const layout = new Layout(cfg);
  const ctx = translationContext(snap, layout);
  return unitKeys(snap).map((k) => translateUnit(k, snap, layout, view, ctx));
}
