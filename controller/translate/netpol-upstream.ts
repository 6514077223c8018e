/**
 * NetworkPolicy as the real R5 kube-manager builds it (tf-controller `vnc_security_policy.py`,
 * `vnc_network_policy.py`, `vnc_namespace.py`, `vnc_ingress.py`): one cluster application-policy-set `<aps>`
 * (aps_name, else the cluster name) tagged `application=<c>`, holding, in sequence order,
 *
 *   `<c>-Ingress`        `<c>-Ingress-<ns>-<ingress>-<svc>`: ingress=… → <c>-svc=… pass (service-tags.ts)
 *   `<c>-<ns>-<np>`      one firewall-policy per NetworkPolicy, in the order they appeared
 *   `<c>-denyall`        (annotation tail) `<ns>-ingress-<np>-denyall` / `<ns>-egress-<np>-default-deny-all`
 *   `<c>-allowall`       (annotation after_tail) `<c>-Namespace-<ns>-ingress` / `-egress` for every namespace
 *
 * all under `default-policy-management`, every rule direction `>`, first match over the whole list. Rules match
 * label tags (`key=value`, the pod's labels plus its namespace's labels plus `namespace=<ns>` on its VMI), not
 * resolved pods, so what a selector means is decided by the vrouter at flow time.
 *
 * Upstream's quirks are kept on purpose, because this layout predicts what a real cluster does (the verdicts
 * that differ from Kubernetes are reported, not corrected; `netpolLayout: kubernetes` is the corrected design):
 * - the target selector uses matchLabels only (matchExpressions are ignored; `/` in a key is not escaped,
 *   while pods' tags escape it as `__slash__`, so such a selector matches no pod);
 * - peer matchExpressions In/NotIn become `key=<last value>` tags (NotIn is treated as In; the key keeps its
 *   `/`, so `kubernetes.io/metadata.name` never matches) and replace matchLabels; Exists/DoesNotExist give no
 *   tag, i.e. `any`; a namespaceSelector whose first expression is NotIn adds a deny rule and a pass-any rule;
 * - policyTypes defaults to [Ingress] (the API server fills it in, so this rarely shows);
 * - a port without protocol matches any protocol; `endPort` is ignored; a named port is sent to the API
 *   server as a port number, which rejects it, so the whole policy is left out (warned);
 * - egress rule names carry no egress-rule index: a later rule of the same name overwrites an earlier one
 *   (its content and its sequence in the policy);
 * - a port given as a string of digits (upstream's unit tests do) is read by the config API as the number.
 *
 * Sequence numbers are those a fresh start gives (Ingress 2, policies 4, 6, …, denyall and allowall after the
 * last); upstream keeps gaps after deletes, the order is the same. A corrupted order is restored by the next
 * reconcile, as upstream's periodic `validate_cluster_security_policy` does.
 *
 * Example: `translateUpstreamPolicies(layout, snap, builder)` → APS `k8s`, 3 + N firewall-policies, rules,
 * address-groups.
 */
import type { NamespaceObject, NetworkPolicyObject, PodObject } from "../kube/objects";
import type { KubeObject } from "../kube/api";
import type { Layout } from "./layout";
import { tagName } from "./names";
import { ingressRules } from "./service-tags";
import type { KubeSnapshot, UnitDesired } from "./types";
import type { UnitBuilder } from "./units";

const PM = "default-policy-management";

type Endpoint = { tags: string[] } | { address_group: string } | { any: true };
interface Service {
  protocol: string;
  dst_ports: { start_port: number; end_port: number };
}
interface Rule {
  name: string;
  action: "pass" | "deny";
  endpoint_1: Endpoint;
  endpoint_2: Endpoint;
  service: Service;
}
interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr?: string; except?: string[] };
}
interface PolicyRule {
  from?: Peer[];
  to?: Peer[];
  ports?: { protocol?: string; port?: number | string; endPort?: number }[];
}

const ANY_SERVICE: Service = { protocol: "any", dst_ports: { start_port: 0, end_port: 65535 } };
const PROTOCOLS: Record<string, string> = { TCP: "tcp", UDP: "udp", SCTP: "sctp" };

/** The escaping kube-manager's label cache applies to every label it turns into a tag. */
export const escapeLabel = (s: string) => s.replaceAll("/", "__slash__");

/** Tags of a pod's VMI in the upstream model: its labels, then its namespace's labels (they win), then `namespace=<ns>`. */
export function upstreamPodLabels(pod: PodObject, ns: NamespaceObject | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (k: string, v: string) => {
    out[escapeLabel(k)] = escapeLabel(v);
  };
  for (const [k, v] of Object.entries(pod.metadata.labels ?? {})) put(k, v);
  for (const [k, v] of Object.entries(ns?.metadata.labels ?? {})) put(k, v);
  out.namespace = pod.metadata.namespace!;
  return out;
}

/** Python's `list.index`: the position of the first equal element (kube-manager names rules by it). */
function firstIndex<T>(list: T[], item: T): number {
  const key = JSON.stringify(item);
  return list.findIndex((x) => JSON.stringify(x) === key);
}

/** `str(float(n))` zero-padded to five digits before the point, as `construct_sequence_number` writes it. */
export function sequence(n: number): string {
  const [int, frac] = String(Number.isInteger(n) ? `${n}.0` : n).split(".");
  return `${int!.padStart(5, "0")}.${frac}`;
}

const tagList = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => tagName(k, v));
/** The target selector's tags are built from the raw labels: a `/` stays (pods' tags have `__slash__`). */
const rawTagList = (labels: Record<string, string>) =>
  Object.entries(labels).map(([k, v]) => `${k.toLowerCase()}=${v}`);
const endpoint = (tags: string[]): Endpoint => (tags.length ? { tags } : { any: true });

/** `FWRule._get_tags`: a peer selector → tags (matchExpressions In/NotIn replace matchLabels). */
function selectorTags(sel: Selector, namespace?: string): string[] {
  let tags: string[] = [];
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) labels[escapeLabel(k)] = escapeLabel(v);
  if (Object.keys(labels).length) {
    if (namespace) labels.namespace = namespace;
    tags = tagList(labels);
  }
  const exprs: Record<string, string> = {};
  for (const e of sel.matchExpressions ?? [])
    if (e.operator === "In" || e.operator === "NotIn") for (const v of e.values ?? []) exprs[e.key] = v;
  if (Object.keys(exprs).length) {
    if (namespace) exprs.namespace = namespace;
    // unlike matchLabels, expression keys reach the tag names unescaped: `a/b` matches no pod's `a__slash__b`
    tags = rawTagList(exprs);
  }
  return tags;
}

const isEmpty = (o: object | undefined) => !o || Object.keys(o).length === 0;

/** `FWRule.spec_parser`: one peer → [rule name, endpoint, action] entries; address groups it needs. */
function peerEndpoints(
  peer: Peer,
  index: number,
  prefix: string,
  namespace: string,
  groups: Set<string>,
): { name: string; ep: Endpoint; action: "pass" | "deny" }[] {
  const out: { name: string; ep: Endpoint; action: "pass" | "deny" }[] = [];
  let tagsNs: string[] = [];
  let tagsPs: string[] = [];
  let psOrNs = false;
  let which = "";
  const nsPresent = "namespaceSelector" in peer;
  if (nsPresent) {
    which = "namespaceSelector";
    const sel = peer.namespaceSelector;
    if (!isEmpty(sel)) {
      tagsNs = selectorTags(sel!);
      if (sel!.matchExpressions && sel!.matchExpressions[0]?.operator === "NotIn") {
        out.push({ name: `${prefix}-${which}-${index}-${tagsNs[0]}`, ep: endpoint(tagsNs), action: "deny" });
        out.push({ name: `${prefix}-${which}-${index}`, ep: { any: true }, action: "pass" });
      } else psOrNs = true;
    }
  }
  if ("podSelector" in peer) {
    psOrNs = true;
    which = "podSelector";
    const sel = peer.podSelector;
    if (!isEmpty(sel)) tagsPs = nsPresent ? selectorTags(sel!) : selectorTags(sel!, namespace);
    else tagsPs = [tagName("namespace", namespace)];
  }
  if (psOrNs)
    out.push({ name: `${prefix}-${which}-${index}`, ep: endpoint([...tagsNs, ...tagsPs]), action: "pass" });
  if (peer.ipBlock) {
    const group = (cidr: string): Endpoint => {
      groups.add(cidr);
      return { address_group: `${PM}:${cidr}` };
    };
    for (const cidr of peer.ipBlock.except ?? [])
      out.push({ name: `${prefix}-ipBlock-${index}-${cidr}`, ep: group(cidr), action: "deny" });
    if (peer.ipBlock.cidr)
      out.push({
        name: `${prefix}-ipBlock-${index}-cidr-${peer.ipBlock.cidr}`,
        ep: group(peer.ipBlock.cidr),
        action: "pass",
      });
  }
  return out;
}

/**
 * `FWRule.ports_parser`; a named port is returned as the name (the caller refuses the policy). A port written
 * as a string of digits (as upstream's own tests do) reaches the config API as such, which reads it as the
 * number (a real Kubernetes API server refuses such a port before kube-manager sees it).
 */
function services(rule: PolicyRule): (Service | string)[] {
  if (!rule.ports?.length) return [ANY_SERVICE];
  return rule.ports.map((p) => {
    if (typeof p.port === "string" && !/^\d+$/.test(p.port)) return p.port;
    const port = p.port === undefined ? undefined : Number(p.port);
    return {
      protocol: p.protocol ? (PROTOCOLS[p.protocol] ?? p.protocol.toLowerCase()) : "any",
      dst_ports: { start_port: port ?? 0, end_port: port ?? 65535 },
    };
  });
}

interface PolicyObjects {
  rules: Rule[];
  ingressDeny?: Rule;
  egressDeny?: Rule;
}

/** `FWRule.parser` for one NetworkPolicy: its own rules and its deny-all rules (or why it cannot be built). */
function policyRules(np: NetworkPolicyObject, groups: Set<string>): PolicyObjects | string {
  const ns = np.metadata.namespace!;
  const name = np.metadata.name!;
  const spec = np.spec ?? {};
  const target: Record<string, string> = { ...(spec.podSelector?.matchLabels ?? {}), namespace: ns };
  const me = endpoint(rawTagList(target));
  const out: PolicyObjects = { rules: [] };
  const types: string[] = spec.policyTypes ?? ["Ingress"];
  for (const type of types) {
    const ingress = type === "Ingress";
    if (!ingress && type !== "Egress") continue;
    const list: PolicyRule[] = (ingress ? spec.ingress : spec.egress) ?? [];
    for (const r of list) {
      const prefix = ingress ? `${ns}-ingress-${name}-${firstIndex(list, r)}` : `${ns}-egress-${name}`;
      const peers = (ingress ? r.from : r.to) ?? [];
      const eps = peers.flatMap((p) => peerEndpoints(p, firstIndex(peers, p), prefix, ns, groups));
      if (!eps.length) eps.push({ name: `${prefix}-allow-all`, ep: { any: true }, action: "pass" });
      const svcs = services(r);
      const named = svcs.find((s) => typeof s === "string");
      if (named !== undefined)
        return `named port "${named}": kube-manager sends it to the API server as a port number, which rejects the firewall-rule, so the policy is not applied`;
      for (const e of eps)
        for (const s of svcs as Service[])
          out.rules.push({
            name: `${e.name}-${firstIndex(svcs, s)}`,
            action: e.action,
            endpoint_1: ingress ? e.ep : me,
            endpoint_2: ingress ? me : e.ep,
            service: s,
          });
    }
    if (ingress)
      out.ingressDeny = {
        name: `${ns}-ingress-${name}-denyall`,
        action: "deny",
        endpoint_1: { any: true },
        endpoint_2: me,
        service: ANY_SERVICE,
      };
    else
      out.egressDeny = {
        name: `${ns}-egress-${name}-default-deny-all`,
        action: "deny",
        endpoint_1: me,
        endpoint_2: { any: true },
        service: ANY_SERVICE,
      };
  }
  return out;
}

/**
 * Objects in the order kube-manager met them: by creation time (a stable sort), ties in the order the
 * controller's caches first saw them (a Map keeps insertion order), i.e. the order of the watch events.
 */
const byAppearance = (a: KubeObject, b: KubeObject) =>
  String(a.metadata.creationTimestamp ?? "").localeCompare(String(b.metadata.creationTimestamp ?? ""));

/** Every tag the rules name (kube-manager creates them with the rules), for the Tags unit. */
export function upstreamPolicyTags(layout: Layout, snap: KubeSnapshot): string[] {
  const names = new Set<string>([tagName("application", layout.c)]);
  const collect = (e: Endpoint) => {
    if ("tags" in e) for (const t of e.tags) names.add(t);
  };
  for (const ns of snap.namespaces.keys()) names.add(tagName("namespace", ns));
  for (const np of snap.networkpolicies.values()) {
    const r = policyRules(np, new Set());
    if (typeof r === "string") continue;
    for (const rule of [...r.rules, r.ingressDeny, r.egressDeny]) {
      if (!rule) continue;
      collect(rule.endpoint_1);
      collect(rule.endpoint_2);
    }
  }
  return [...names].sort();
}

/** The whole cluster security layout (see the module comment). */
export function translateUpstreamPolicies(layout: Layout, snap: KubeSnapshot, b: UnitBuilder): UnitDesired {
  const c = layout.c;
  const groups = new Set<string>();
  const addRule = (r: Rule) => {
    b.add("firewall-rule", [PM, r.name], {
      action_list: { simple_action: r.action },
      service: r.service,
      endpoint_1: r.endpoint_1,
      endpoint_2: r.endpoint_2,
      direction: ">",
    });
    return [PM, r.name];
  };
  /**
   * Rule refs in add order. A repeated name is one firewall-rule: the later rule's update overwrites its
   * content, and vnc_api's `add_firewall_rule` sets the existing ref's attr to the later sequence (generator
   * ifmap_frontend.py since 2016: `ref['attr'] = ref_data`), so it is evaluated at the later position.
   */
  const refsOf = (rules: Rule[], first: number) => {
    const last = new Map<string, { rule: Rule; seq: number }>();
    rules.forEach((r, i) => {
      last.delete(r.name);
      last.set(r.name, { rule: r, seq: first + i });
    });
    return [...last.values()].map(({ rule, seq }) => ({
      to: addRule(rule),
      attr: { sequence: sequence(seq) },
    }));
  };

  const denyRules: Rule[] = [];
  const policyFps: string[][] = [];
  for (const np of [...snap.networkpolicies.values()].sort(byAppearance)) {
    const where = `networkpolicy ${np.metadata.namespace}/${np.metadata.name}`;
    const r = policyRules(np, groups);
    if (typeof r === "string") {
      b.warn(`${where}: ${r}`);
      continue;
    }
    const fq = [PM, `${c}-${np.metadata.namespace}-${np.metadata.name}`];
    b.add(
      "firewall-policy",
      fq,
      {},
      { firewall_rule_refs: refsOf(r.rules, 0) },
      {
        annotations: [
          { key: "k8s_uuid", value: np.metadata.uid ?? "" },
          { key: "spec", value: JSON.stringify(np.spec ?? {}) },
        ],
      },
    );
    policyFps.push(fq);
    if (r.ingressDeny) denyRules.push(r.ingressDeny);
    if (r.egressDeny) denyRules.push(r.egressDeny);
  }

  const allowRules: Rule[] = [];
  for (const ns of [...snap.namespaces.values()].sort(byAppearance)) {
    const n = ns.metadata.name!;
    const mine = { tags: [tagName("namespace", n)] };
    allowRules.push({
      name: `${c}-Namespace-${n}-ingress`,
      action: "pass",
      endpoint_1: { any: true },
      endpoint_2: mine,
      service: ANY_SERVICE,
    });
    allowRules.push({
      name: `${c}-Namespace-${n}-egress`,
      action: "pass",
      endpoint_1: mine,
      endpoint_2: { any: true },
      service: ANY_SERVICE,
    });
  }

  for (const cidr of [...groups].sort()) {
    const [ip, len] = cidr.split("/");
    b.add("address-group", [PM, cidr], {
      address_group_prefix: { subnet: [{ ip_prefix: ip, ip_prefix_len: Number(len ?? 32) }] },
    });
  }
  const ingressFp = [PM, `${c}-Ingress`];
  const denyFp = [PM, `${c}-denyall`];
  const allowFp = [PM, `${c}-allowall`];
  // vnc_ingress.py add_ingress_to_service_rule: haproxy (ingress=…) → the backend's members (<c>-svc=…)
  const ingressAllow: Rule[] = ingressRules(layout, snap).map((r) => ({
    name: r.name,
    action: "pass",
    endpoint_1: { tags: [r.from] },
    endpoint_2: { tags: [r.to] },
    service: ANY_SERVICE,
  }));
  b.add("firewall-policy", ingressFp, {}, { firewall_rule_refs: refsOf(ingressAllow, 1) });
  b.add(
    "firewall-policy",
    denyFp,
    {},
    { firewall_rule_refs: refsOf(denyRules, 1) },
    { annotations: [{ key: "tail", value: "True" }] },
  );
  b.add(
    "firewall-policy",
    allowFp,
    {},
    { firewall_rule_refs: refsOf(allowRules, 1) },
    { annotations: [{ key: "after_tail", value: "True" }] },
  );

  // a fresh start: denyall, allowall, Ingress are placed, then each policy goes where denyall was
  const n = policyFps.length;
  const fpRefs = [
    { to: ingressFp, attr: { sequence: sequence(2) } },
    ...policyFps.map((fq, i) => ({ to: fq, attr: { sequence: sequence(4 + 2 * i) } })),
    { to: denyFp, attr: { sequence: sequence(4 + 2 * n) } },
    { to: allowFp, attr: { sequence: sequence(5 + 2 * n) } },
  ];
  b.add(
    "application-policy-set",
    [PM, layout.cfg.apsName ?? c],
    {},
    { firewall_policy_refs: fpRefs, tag_refs: [{ to: [tagName("application", c)] }] },
  );
  return b.done();
}
