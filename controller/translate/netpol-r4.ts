/**
 * NetworkPolicy as the real R4 kube-manager builds it (Juniper contrail-controller R4.1,
 * `kube_manager/vnc/vnc_network_policy.py`, `vnc_namespace.py`, `vnc_pod.py`; seed 000 §4.4): security groups
 * on the pods' interfaces, ingress only (the NetworkPolicy v1beta1 model).
 *
 * Per namespace (the Namespace unit, units.ts): `<c>-<ns>-default` (egress allow-all; ingress allow-all unless
 * the namespace is annotated `net.beta.kubernetes.io/network-policy: {"ingress": {"isolation": "DefaultDeny"}}`)
 * and `<c>-<ns>-sg` (no rules: it stands for "every pod of <ns>"); every pod and load-balancer VMI refs both.
 * Per NetworkPolicy (this module, the Policies unit), in the policy's namespace project:
 *
 *   `<np>__<uid>`              uuid = the NetworkPolicy's uid; on the pods the podSelector matches (matchLabels,
 *                              or every pod of the namespace when there are none); its rules are the ingress
 *                              allows: `>` from `security_group: <source SG>` to `security_group: local`,
 *                              protocol `any` (no ports) or the port's protocol lower-cased (TCP when unset),
 *                              src ports 0–65535, dst port the port (0–65535 when unset), ethertype IPv4
 *   `<np>__<uid>__ingress__<n>` one per `from` podSelector with matchLabels (n counts them over the policy), no
 *                              rules, on the pods of the namespace it matches: the source of a rule
 *
 * Sources: an empty or missing podSelector → `<c>-<ns>-sg`; a namespaceSelector → `<c>-<x>-sg` of every
 * namespace x whose labels match its matchLabels (every namespace when it has none); a rule without `from` →
 * every namespace's `<c>-<x>-sg`, then `<c>-<ns>-sg` once more. One rule per source × port.
 *
 * Security groups only add allows, so a policy isolates nothing unless the namespace's default group stops
 * admitting everything: in R4 pods are isolated by the namespace's DefaultDeny annotation (v1beta1), never by
 * being selected. What R4's model cannot express is warned about, naming the policy: egress (policyTypes and
 * `egress` are not read), ipBlock peers, matchExpressions (ignored: the selector then selects everything),
 * a namespaceSelector and a podSelector in one peer (each admits on its own: OR, not AND), `endPort`, named
 * ports (kube-manager's `int()` of the name fails after the policy's group was created, so the group has no
 * rules and admits nothing). Kept on purpose, as upstream does them: namespace matching intersects label by
 * label and starts over when the intersection becomes empty (`_find_namespaces`); a rule without `from`
 * admits pods of the cluster only (not outside addresses).
 *
 * Not modelled: upstream writes the rules through a Python `set` (their order is arbitrary, their rule_uuid
 * random; here they follow the spec, uuids derived from the policy's uid) and ignores MODIFIED events (a
 * changed spec keeps its old rules until kube-manager restarts; here the current spec is translated).
 *
 * Example: `translateR4Policies(layout, snap, builder)` → per policy its security groups;
 * `r4PodSecurityGroups(layout, snap, pod)` → the policy groups a pod's VMI refs besides its namespace's two.
 */
import type { NamespaceObject, NetworkPolicyObject, PodObject } from "../kube/objects";
import type { KubeObject } from "../kube/api";
import type { Layout } from "./layout";
import { uuid5 } from "./names";
import type { KubeSnapshot, UnitDesired } from "./types";
import { hasPort, type UnitBuilder } from "./units";

/** The v1beta1 namespace annotation whose `{"ingress": {"isolation": "DefaultDeny"}}` isolates its pods. */
export const NETWORK_POLICY_ANNOTATION = "net.beta.kubernetes.io/network-policy";

type Labels = Record<string, string>;
interface Selector {
  matchLabels?: Labels;
  matchExpressions?: unknown[];
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: unknown;
}
interface IngressRule {
  from?: Peer[];
  ports?: { protocol?: string; port?: number | string; endPort?: number }[];
}

export interface R4Rule {
  rule_uuid: string;
  direction: ">";
  protocol: string;
  src_addresses: { security_group: string }[];
  src_ports: { start_port: number; end_port: number }[];
  dst_addresses: { security_group: "local" }[];
  dst_ports: { start_port: number; end_port: number }[];
  ethertype: "IPv4";
}

/** A security group of the policy layout: its name, the pods it goes on, and (the policy's own) its rules. */
export interface R4Group {
  fq: string[];
  uuid?: string;
  namespace: string;
  /** Pods of `namespace` whose labels (plus `namespace=<ns>`) include all of these. */
  selector: Labels;
  rules?: R4Rule[];
  annotations: { key: string; value: string }[];
}

export interface R4Policy {
  np: NetworkPolicyObject;
  groups: R4Group[];
  warnings: string[];
}

const ANY = { start_port: 0, end_port: 65535 };
const nonEmpty = (l: Labels | undefined): Labels | undefined => (l && Object.keys(l).length ? l : undefined);

/** Objects in the order kube-manager met them (creation time, then cache order), as netpol-upstream.ts. */
const byAppearance = (a: KubeObject, b: KubeObject) =>
  String(a.metadata.creationTimestamp ?? "").localeCompare(String(b.metadata.creationTimestamp ?? ""));

/**
 * Whether the namespace's pods are isolated the v1beta1 way (the default group then admits no ingress).
 * A value that is not JSON is warned about and isolates nothing (kube-manager fails to parse it).
 */
export function defaultDeny(ns: NamespaceObject | undefined, warn: (m: string) => void = () => {}): boolean {
  const raw = ns?.metadata.annotations?.[NETWORK_POLICY_ANNOTATION];
  if (raw === undefined) return false;
  try {
    const v = JSON.parse(raw);
    return v?.ingress?.isolation === "DefaultDeny";
  } catch {
    warn(
      `namespace ${ns!.metadata.name}: annotation ${NETWORK_POLICY_ANNOTATION}: "${raw}" is not JSON; its pods are not isolated`,
    );
    return false;
  }
}

/** The labels kube-manager's pod label cache holds for a pod: its labels and `namespace=<ns>`. */
function podLabels(pod: PodObject): Labels {
  return { ...(pod.metadata.labels ?? {}), namespace: pod.metadata.namespace! };
}

const includes = (labels: Labels, sel: Labels) => Object.entries(sel).every(([k, v]) => labels[k] === v);

/**
 * `_find_namespaces`: label by label, the namespaces carrying it, intersected; a label no namespace carries
 * gives none, and an intersection that became empty starts over from the next label's namespaces.
 */
function findNamespaces(snap: KubeSnapshot, labels: Labels): KubeObject[] {
  const all = [...snap.namespaces.values()].sort(byAppearance);
  let result = new Set<KubeObject>();
  for (const [k, v] of Object.entries(labels)) {
    const carrying = all.filter((ns) => ns.metadata.labels?.[k] === v);
    if (!carrying.length) return [];
    result = result.size ? new Set(carrying.filter((ns) => result.has(ns))) : new Set(carrying);
  }
  return all.filter((ns) => result.has(ns));
}

/** `_get_ports`: a NetworkPolicy port → protocol and destination ports, or the name of a named port. */
function portOf(p?: {
  protocol?: string;
  port?: number | string;
}): { protocol: string; range: typeof ANY } | string {
  if (!p) return { protocol: "any", range: ANY };
  let port = p.port;
  if (typeof port === "string") {
    if (!/^\d+$/.test(port)) return port;
    port = Number(port);
  }
  return {
    protocol: (p.protocol ?? "TCP").toLowerCase(),
    range: port === undefined ? ANY : { start_port: port, end_port: port },
  };
}

/** One NetworkPolicy → its security groups (the policy's own first), with what R4 cannot express. */
export function r4Policy(layout: Layout, snap: KubeSnapshot, np: NetworkPolicyObject): R4Policy {
  const ns = np.metadata.namespace!;
  const uid = np.metadata.uid ?? "";
  const spec = np.spec ?? {};
  const warnings: string[] = [];
  const say = (m: string) => {
    if (!warnings.includes(m)) warnings.push(m);
  };
  const sgName = `${np.metadata.name}__${uid}`;
  const project = layout.project(ns);
  const nsSg = (x: string) => layout.namespaceSecurityGroup(x).join(":");

  const types: string[] = spec.policyTypes ?? [];
  if (types.includes("Egress") || spec.egress?.length)
    say("egress rules are ignored: R4 security groups implement NetworkPolicy ingress only (v1beta1)");
  if (spec.podSelector?.matchExpressions?.length)
    say("podSelector.matchExpressions is ignored: R4 selects the pods by matchLabels only");
  const target = nonEmpty(spec.podSelector?.matchLabels) ?? { namespace: ns };

  const podGroups: R4Group[] = [];
  const rules: R4Rule[] = [];
  const pending: { source: string; ports: ReturnType<typeof portOf>[] }[] = [];
  let index = 0;
  for (const r of (spec.ingress ?? []) as IngressRule[]) {
    const ports = r.ports?.length ? r.ports.map(portOf) : [portOf()];
    if (r.ports?.some((p) => p.endPort !== undefined))
      say("endPort is ignored: R4 admits the first port only");
    const sources: string[] = [];
    const from = r.from ?? [];
    if (!from.length) {
      for (const x of [...snap.namespaces.values()].sort(byAppearance)) sources.push(nsSg(x.metadata.name!));
      sources.push(nsSg(ns));
    }
    for (const peer of from) {
      if ("namespaceSelector" in peer && "podSelector" in peer)
        say("a peer with both namespaceSelector and podSelector admits each on its own in R4 (OR, not AND)");
      if ("namespaceSelector" in peer) {
        if (peer.namespaceSelector?.matchExpressions?.length)
          say("namespaceSelector.matchExpressions is ignored: R4 matches namespaces by matchLabels only");
        const labels = nonEmpty(peer.namespaceSelector?.matchLabels);
        const namespaces = labels
          ? findNamespaces(snap, labels)
          : [...snap.namespaces.values()].sort(byAppearance);
        for (const x of namespaces) sources.push(nsSg(x.metadata.name!));
      }
      if ("podSelector" in peer) {
        if (peer.podSelector?.matchExpressions?.length)
          say("podSelector.matchExpressions in a peer is ignored: R4 matches pods by matchLabels only");
        const labels = nonEmpty(peer.podSelector?.matchLabels);
        if (!labels) sources.push(nsSg(ns));
        else {
          index++;
          const fq = [...project, `${sgName}__ingress__${index}`];
          podGroups.push({
            fq,
            namespace: ns,
            selector: labels,
            annotations: [{ key: "ingress_pod_selector", value: JSON.stringify(labels) }],
          });
          sources.push(fq.join(":"));
        }
      }
      if (peer.ipBlock) say("ipBlock peers are ignored: R4 security-group rules name pods' groups only");
    }
    for (const source of sources) pending.push({ source, ports });
  }

  const named = pending.flatMap((p) => p.ports).find((p) => typeof p === "string");
  if (named !== undefined)
    say(
      `named port "${named}": kube-manager fails on it after creating the policy's security group, which stays without rules: the policy admits nothing`,
    );
  else
    for (const { source, ports } of pending)
      for (const p of ports as Exclude<ReturnType<typeof portOf>, string>[])
        rules.push({
          rule_uuid: uuid5(uid || sgName, `rule/${rules.length}`),
          direction: ">",
          protocol: p.protocol,
          src_addresses: [{ security_group: source }],
          src_ports: [{ ...ANY }],
          dst_addresses: [{ security_group: "local" }],
          dst_ports: [{ ...p.range }],
          ethertype: "IPv4",
        });

  if (!defaultDeny(snap.namespaces.get(ns)))
    say(
      `no effect: namespace ${ns} is not annotated ${NETWORK_POLICY_ANNOTATION} {"ingress": {"isolation": "DefaultDeny"}}, so its default security group admits all ingress (R4 isolates pods per namespace, v1beta1)`,
    );

  const own: R4Group = {
    fq: [...project, sgName],
    uuid: uid || undefined,
    namespace: ns,
    selector: target,
    rules,
    annotations: [
      { key: "np_spec", value: JSON.stringify(spec) },
      { key: "np_pod_selector", value: JSON.stringify(target) },
    ],
  };
  // a broken policy creates its own group only (the pods get it on their next event: it admits nothing)
  return { np, groups: named !== undefined ? [own] : [own, ...podGroups], warnings };
}

/** Every NetworkPolicy (of namespace `ns`, if given) in the order kube-manager met them. */
export function r4Policies(layout: Layout, snap: KubeSnapshot, ns?: string): R4Policy[] {
  return [...snap.networkpolicies.values()]
    .filter((np) => ns === undefined || np.metadata.namespace === ns)
    .sort(byAppearance)
    .map((np) => r4Policy(layout, snap, np));
}

/** The policy security groups a pod's VMI refs (after `<c>-<ns>-default` and `<c>-<ns>-sg`), in policy order. */
export function r4PodSecurityGroups(pod: PodObject, policies: R4Policy[]): string[][] {
  if (!hasPort(pod)) return [];
  const labels = podLabels(pod);
  const out: string[][] = [];
  for (const p of policies)
    for (const g of p.groups)
      if (g.namespace === pod.metadata.namespace && includes(labels, g.selector)) out.push(g.fq);
  return out;
}

/** `ns/pod` → the policy groups it is in (joined), for pods in at least one: what the controller diffs. */
export function r4Membership(layout: Layout, snap: KubeSnapshot): Map<string, string> {
  const policies = r4Policies(layout, snap);
  const out = new Map<string, string>();
  for (const [k, pod] of snap.pods) {
    const sgs = r4PodSecurityGroups(pod, policies);
    if (sgs.length) out.set(k, sgs.map((g) => g.join(":")).join(" "));
  }
  return out;
}

/** The Policies unit in the R4 model: every policy's security groups. */
export function translateR4Policies(layout: Layout, snap: KubeSnapshot, b: UnitBuilder): UnitDesired {
  for (const p of r4Policies(layout, snap)) {
    const where = `networkpolicy ${p.np.metadata.namespace}/${p.np.metadata.name}`;
    for (const w of p.warnings) b.warn(`${where}: ${w}`);
    for (const g of p.groups)
      b.add(
        "security-group",
        g.fq,
        { security_group_entries: { policy_rule: g.rules ?? [] } },
        {},
        { ...(g.uuid ? { uuid: g.uuid } : {}), annotations: g.annotations },
      );
  }
  return b.done();
}
