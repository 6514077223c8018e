/**
 * Kubernetes NetworkPolicy → Contrail firewall objects, with Kubernetes semantics as the truth: traffic A→B
 * passes iff A's egress allows it (A selected by no Egress policy, or some egress rule admits B) AND B's
 * ingress allows it. Contrail's firewall is first-match over the policies of an endpoint's APS, evaluated at
 * both ends, so a single shared rule list cannot express that conjunction. Every pod a policy selects or
 * names therefore gets an identity tag `application=<c>__<ns>__<pod>` (on its VMI); each selected pod gets
 * its own application-policy-set `<c>-<ns>-<pod>` tagged with it, holding one firewall-policy whose rules are
 * [egress allows (pod > peer), egress deny, ingress allows (peer > pod), ingress deny, pass]. At the source
 * vif only the egress rules can match (source = the pod), at the destination only the ingress rules.
 * Peers are resolved by the controller (label selectors with matchExpressions, namespace selectors, named
 * ports) to pods' identity tags; ipBlocks become subnet endpoints, `except` subtracted exactly.
 *
 * Example: `translatePolicies(layout, snap)` → tags, edges VMI → tag, per-pod APS/firewall-policy/rules.
 */
import type { NamespaceObject, NetworkPolicyObject, PodObject } from "../kube/objects";
import type { KubeObject } from "../kube/api";
import type { Layout } from "./layout";
import { uuid5 } from "./names";
import { hasPort, identityTag, type UnitBuilder } from "./units";
import type { KubeSnapshot, UnitDesired } from "./types";

const PM = "default-policy-management";

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Kubernetes label-selector semantics; an unknown operator matches nothing (reported by the caller). */
export function selects(sel: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const vals = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (!has || !vals.includes(labels[e.key])) return false;
        break;
      case "NotIn":
        if (has && vals.includes(labels[e.key])) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** `cidr` minus every `except` prefix, as a list of prefixes (IPv4). */
export function subtractCidrs(cidr: string, excepts: string[]): string[] {
  const parse = (c: string): [number, number] => {
    const [ip, len] = c.split("/");
    const n = ip.split(".").reduce((a, o) => (a << 8) | Number(o), 0) >>> 0;
    const l = Number(len ?? 32);
    return [l === 0 ? 0 : (n & (~0 << (32 - l))) >>> 0, l];
  };
  const fmt = ([n, l]: [number, number]) => `${[24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".")}/${l}`;
  const contains = ([n, l]: [number, number], [m, k]: [number, number]) =>
    k >= l && (l === 0 || (m ^ n) >>> (32 - l) === 0);
  let out: [number, number][] = [parse(cidr)];
  for (const e of excepts.map(parse)) {
    const next: [number, number][] = [];
    for (const p of out) {
      if (contains(e, p)) continue; // removed entirely
      if (!contains(p, e)) {
        next.push(p);
        continue;
      }
      // split p down to e, keeping the halves that do not hold e
      let [n, l] = p;
      while (l < e[1]) {
        l++;
        const half = 1 << (32 - l);
        const lowHalf: [number, number] = [n, l];
        const highHalf: [number, number] = [(n + half) >>> 0, l];
        if (contains(lowHalf, e)) {
          next.push(highHalf);
          n = lowHalf[0];
        } else {
          next.push(lowHalf);
          n = highHalf[0];
        }
      }
    }
    out = next;
  }
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(fmt);
}

type Endpoint = { tags: string[] } | { subnet: { ip_prefix: string; ip_prefix_len: number } } | { any: true };
interface Service {
  protocol: string;
  src_ports: { start_port: number; end_port: number };
  dst_ports: { start_port: number; end_port: number };
}
interface Rule {
  name: string;
  endpoint_1: Endpoint;
  endpoint_2: Endpoint;
  service: Service;
  action: "pass" | "deny";
}

const ANY_SERVICE: Service = {
  protocol: "any",
  src_ports: { start_port: 0, end_port: 65535 },
  dst_ports: { start_port: 0, end_port: 65535 },
};

function podKey(p: { metadata: { namespace?: string; name?: string } }) {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}

function nsLabels(ns: NamespaceObject): Record<string, string> {
  return { "kubernetes.io/metadata.name": ns.metadata.name!, ...(ns.metadata.labels ?? {}) };
}

/** Resolve one NetworkPolicyPort against a destination pod (named ports need the pod's container ports). */
function portService(
  port: { protocol?: string; port?: number | string; endPort?: number },
  dst: PodObject | undefined,
): Service | undefined {
  const protocol = (port.protocol ?? "TCP").toLowerCase();
  let start = 0;
  let end = 65535;
  if (typeof port.port === "number") {
    start = port.port;
    end = port.endPort ?? port.port;
  } else if (typeof port.port === "string") {
    if (!dst) return undefined;
    const match = (dst.spec?.containers ?? [])
      .flatMap(
        (c: { ports?: { name?: string; containerPort: number; protocol?: string }[] }) => c.ports ?? [],
      )
      .find(
        (cp: { name?: string; protocol?: string }) =>
          cp.name === port.port && (cp.protocol ?? "TCP").toLowerCase() === protocol,
      );
    if (!match) return undefined;
    start = end = match.containerPort;
  }
  return {
    protocol,
    src_ports: { start_port: 0, end_port: 65535 },
    dst_ports: { start_port: start, end_port: end },
  };
}

interface PodRules {
  egressIsolated: boolean;
  ingressIsolated: boolean;
  egress: Rule[];
  ingress: Rule[];
}

interface Analysis {
  /** `ns/pod` of every pod a policy selects or names as a peer (they carry identity tags). */
  involved: Map<string, KubeObject>;
  selected: Map<string, PodRules>;
}

type Peer = {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
};

/**
 * Which pods a policy selects and which a peer names, from pods indexed by namespace: a policy looks at its
 * own namespace's pods, a peer at those of the namespaces its selector matches (each selector's namespaces
 * found once), never at every pod of the cluster — a 1,000-pod, 500-policy cluster is asked this on every pod
 * change. Lists come in the cluster's sorted pod order, as rules are emitted in it.
 */
function podSelection(snap: KubeSnapshot) {
  const pods = [...snap.pods.values()].filter(hasPort).sort((x, y) => (podKey(x) < podKey(y) ? -1 : 1));
  const order = new Map(pods.map((p, i) => [p, i]));
  const byNs = new Map<string, PodObject[]>();
  for (const p of pods) {
    const list = byNs.get(p.metadata.namespace!);
    if (list) list.push(p);
    else byNs.set(p.metadata.namespace!, [p]);
  }
  const nsBySelector = new Map<string, string[]>();
  const namespacesOf = (sel: LabelSelector) => {
    const key = JSON.stringify(sel);
    let names = nsBySelector.get(key);
    if (!names) {
      names = [...snap.namespaces.values()]
        .filter((ns) => selects(sel, nsLabels(ns)))
        .map((ns) => ns.metadata.name!);
      nsBySelector.set(key, names);
    }
    return names;
  };
  return {
    pods,
    /** The pods of the policy's namespace its podSelector selects. */
    targets: (np: NetworkPolicyObject) =>
      (byNs.get(np.metadata.namespace!) ?? []).filter((p) =>
        selects(np.spec?.podSelector, p.metadata.labels),
      ),
    /** The pods a peer (no ipBlock) names: in the policy's namespace, or in the namespaces its selector matches. */
    peers: (np: NetworkPolicyObject, peer: Peer) => {
      const candidates = !peer.namespaceSelector
        ? (byNs.get(np.metadata.namespace!) ?? [])
        : namespacesOf(peer.namespaceSelector)
            .flatMap((ns) => byNs.get(ns) ?? [])
            .sort((x, y) => order.get(x)! - order.get(y)!);
      return candidates.filter((p) => selects(peer.podSelector, p.metadata.labels));
    },
  };
}

const policyTypesOf = (np: NetworkPolicyObject): string[] =>
  np.spec?.policyTypes ?? (np.spec?.egress ? ["Ingress", "Egress"] : ["Ingress"]);

/**
 * Pods that need an identity tag (the pod and tags units ask; empty without NetworkPolicies): those a policy
 * selects, and the pods its rules name when it selects any — the `involved` of `analyze`, without building rules.
 */
export function policyInvolvedPods(_layout: Layout, snap: KubeSnapshot): Set<string> {
  const involved = new Set<string>();
  if (snap.networkpolicies.size === 0) return involved;
  const sel = podSelection(snap);
  for (const np of snap.networkpolicies.values()) {
    const targets = sel.targets(np);
    if (targets.length === 0) continue;
    for (const p of targets) involved.add(podKey(p));
    const types = policyTypesOf(np);
    const rules = [
      ...(types.includes("Ingress")
        ? ((np.spec?.ingress ?? []) as { from?: Peer[] }[]).map((r) => r.from)
        : []),
      ...(types.includes("Egress") ? ((np.spec?.egress ?? []) as { to?: Peer[] }[]).map((r) => r.to) : []),
    ];
    for (const peers of rules)
      for (const peer of peers ?? [])
        if (!peer.ipBlock) for (const p of sel.peers(np, peer)) involved.add(podKey(p));
    // an egress rule's named port towards any address or an ipBlock is resolved on every pod declaring it
    if (!types.includes("Egress")) continue;
    for (const rule of (np.spec?.egress ?? []) as { to?: Peer[]; ports?: { port?: number | string }[] }[]) {
      const named = (rule.ports ?? []).filter((p) => typeof p.port === "string");
      if (named.length === 0) continue;
      const dests = rule.to?.length
        ? rule.to
            .filter((peer) => peer.ipBlock?.cidr?.includes("."))
            .flatMap((peer) => subtractCidrs(peer.ipBlock!.cidr, peer.ipBlock!.except ?? []))
            .map((cidr) => subnetEndpoint(cidr) as { subnet: { ip_prefix: string; ip_prefix_len: number } })
        : [undefined];
      for (const d of dests)
        for (const port of named)
          for (const q of sel.pods)
            if ((!d || inSubnet(q.status?.podIP, d.subnet)) && portService(port, q)) involved.add(podKey(q));
    }
  }
  return involved;
}

/** `policyInvolvedPods` as the full analysis finds them: the definition it is held to (tests). */
export function policyInvolvedPodsByAnalysis(layout: Layout, snap: KubeSnapshot): Set<string> {
  if (snap.networkpolicies.size === 0) return new Set();
  return new Set(analyze(layout, snap, () => {}).involved.keys());
}

/** All NetworkPolicies of the cluster as per-pod firewall objects (see the module comment). */
export function translatePolicies(layout: Layout, snap: KubeSnapshot, b: UnitBuilder): UnitDesired {
  if (snap.networkpolicies.size === 0) return b.done();
  const { involved, selected } = analyze(layout, snap, b.warn);
  emit(layout, b, involved, selected);
  return b.done();
}

function analyze(layout: Layout, snap: KubeSnapshot, warn: (m: string) => void): Analysis {
  const sel = podSelection(snap);
  const pods = sel.pods;
  const policies = [...snap.networkpolicies.values()].sort((x, y) => (podKey(x) < podKey(y) ? -1 : 1));
  const involved = new Map<string, KubeObject>();
  const selected = new Map<string, PodRules>();

  const peersOf = (np: NetworkPolicyObject, peer: Peer): { pods: KubeObject[]; subnets: string[] } => {
    if (peer.ipBlock) {
      if (!peer.ipBlock.cidr?.includes(".")) {
        warn(
          `networkpolicy ${podKey(np)}: ipBlock ${peer.ipBlock.cidr}: only IPv4 is modelled; peer skipped`,
        );
        return { pods: [], subnets: [] };
      }
      return { pods: [], subnets: subtractCidrs(peer.ipBlock.cidr, peer.ipBlock.except ?? []) };
    }
    return { pods: sel.peers(np, peer), subnets: [] };
  };

  for (const np of policies) {
    const spec = np.spec ?? {};
    const name = np.metadata.name!;
    const types = policyTypesOf(np);
    // a named port no pod declares is valid Kubernetes, but surely not what was meant: say so
    const named = [...(spec.ingress ?? []), ...(spec.egress ?? [])]
      .flatMap((r: { ports?: { port?: number | string; protocol?: string }[] }) => r.ports ?? [])
      .filter((p: { port?: number | string }) => typeof p.port === "string");
    for (const p of named as { port: string; protocol?: string }[])
      if (!pods.some((q) => portService(p, q)))
        warn(
          `networkpolicy ${podKey(np)}: named port "${p.port}" (${p.protocol ?? "TCP"}) is declared by no pod's container: rules on it admit nothing`,
        );
    for (const e of [...(spec.podSelector?.matchExpressions ?? [])])
      if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(e.operator))
        warn(
          `networkpolicy ${podKey(np)}: podSelector operator "${e.operator}" is not a Kubernetes operator; it selects nothing`,
        );
    const targets = sel.targets(np);
    for (const x of targets) {
      involved.set(podKey(x), x);
      const r = selected.get(podKey(x)) ?? {
        egressIsolated: false,
        ingressIsolated: false,
        egress: [],
        ingress: [],
      };
      selected.set(podKey(x), r);
      const me = { tags: [identityTag(layout, x)] };
      if (types.includes("Ingress")) {
        r.ingressIsolated = true;
        (spec.ingress ?? []).forEach((rule: { from?: object[]; ports?: object[] }, ri: number) => {
          const sources: Endpoint[] = [];
          if (!rule.from?.length) sources.push({ any: true });
          for (const peer of rule.from ?? []) {
            const { pods: ps, subnets } = peersOf(np, peer);
            for (const p of ps) {
              involved.set(podKey(p), p);
              sources.push({ tags: [identityTag(layout, p)] });
            }
            for (const s of subnets) sources.push(subnetEndpoint(s));
          }
          const services = rule.ports?.length
            ? rule.ports.map((p) => portService(p, x)).filter((s) => s !== undefined)
            : [ANY_SERVICE];
          for (const src of sources)
            for (const svc of services)
              r.ingress.push({
                name: `${name}-ingress-${ri}`,
                endpoint_1: src,
                endpoint_2: me,
                service: svc,
                action: "pass",
              });
        });
      }
      if (types.includes("Egress")) {
        r.egressIsolated = true;
        (spec.egress ?? []).forEach((rule: { to?: object[]; ports?: object[] }, ri: number) => {
          const dests: { ep: Endpoint; pod?: PodObject }[] = [];
          if (!rule.to?.length) dests.push({ ep: { any: true } });
          for (const peer of rule.to ?? []) {
            const { pods: ps, subnets } = peersOf(np, peer);
            for (const p of ps) {
              involved.set(podKey(p), p);
              dests.push({ ep: { tags: [identityTag(layout, p)] }, pod: p });
            }
            for (const s of subnets) dests.push({ ep: subnetEndpoint(s) });
          }
          const push = (ep: Endpoint, svc: Service) =>
            r.egress.push({
              name: `${name}-egress-${ri}`,
              endpoint_1: me,
              endpoint_2: ep,
              service: svc,
              action: "pass",
            });
          for (const d of dests) {
            if (!rule.ports?.length) {
              push(d.ep, ANY_SERVICE);
              continue;
            }
            for (const port of rule.ports as { protocol?: string; port?: number | string }[]) {
              if (d.pod || typeof port.port !== "string") {
                const svc = portService(port, d.pod);
                if (svc) push(d.ep, svc);
                continue;
              }
              // a named port towards any address or an ipBlock means "that port on whichever pod there
              // defines it": resolve it per destination pod, which then needs an identity tag
              for (const q of pods) {
                if ("subnet" in d.ep && !inSubnet(q.status?.podIP, d.ep.subnet)) continue;
                const svc = portService(port, q);
                if (!svc) continue;
                involved.set(podKey(q), q);
                push({ tags: [identityTag(layout, q)] }, svc);
              }
            }
          }
        });
      }
    }
  }

  return { involved, selected };
}

function emit(
  layout: Layout,
  b: UnitBuilder,
  involved: Map<string, KubeObject>,
  selected: Map<string, PodRules>,
) {
  // one APS + firewall-policy per selected pod
  for (const [key, r] of [...selected.entries()].sort(([a], [c]) => (a < c ? -1 : 1))) {
    const x = involved.get(key)!;
    const base = `${layout.c}-${x.metadata.namespace}-${x.metadata.name}`;
    const me: Endpoint = { tags: [identityTag(layout, x)] };
    const rules: Rule[] = [...r.egress];
    if (r.egressIsolated)
      rules.push({
        name: "egress-deny",
        endpoint_1: me,
        endpoint_2: { any: true },
        service: ANY_SERVICE,
        action: "deny",
      });
    rules.push(...r.ingress);
    if (r.ingressIsolated)
      rules.push({
        name: "ingress-deny",
        endpoint_1: { any: true },
        endpoint_2: me,
        service: ANY_SERVICE,
        action: "deny",
      });
    rules.push({
      name: "pass",
      endpoint_1: { any: true },
      endpoint_2: { any: true },
      service: ANY_SERVICE,
      action: "pass",
    });
    const ruleRefs = rules.map((rule, i) => {
      const fq = [PM, `${base}-${String(i).padStart(4, "0")}-${rule.name}`];
      b.add(
        "firewall-rule",
        fq,
        {
          endpoint_1: rule.endpoint_1,
          endpoint_2: rule.endpoint_2,
          service: rule.service,
          direction: ">",
          action_list: { simple_action: rule.action },
        },
        {},
        { uuid: uuid5(x.metadata.uid!, `fw-rule/${fq[1]}`) },
      );
      return { to: fq, attr: { sequence: `${String(i + 1).padStart(5, "0")}.0` } };
    });
    const fp = [PM, `${base}-fp`];
    b.add("firewall-policy", fp, {}, { firewall_rule_refs: ruleRefs });
    b.add(
      "application-policy-set",
      [PM, base],
      {},
      {
        firewall_policy_refs: [{ to: fp, attr: { sequence: "00001.0" } }],
        tag_refs: [{ to: [identityTag(layout, x)] }],
      },
    );
  }
  return b.done();
}

function inSubnet(ip: string | undefined, s: { ip_prefix: string; ip_prefix_len: number }): boolean {
  if (!ip) return false;
  const n = (a: string) => a.split(".").reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
  const len = s.ip_prefix_len;
  return len === 0 || (n(ip) ^ n(s.ip_prefix)) >>> (32 - len) === 0;
}

function subnetEndpoint(cidr: string): Endpoint {
  const [ip, len] = cidr.split("/");
  return { subnet: { ip_prefix: ip, ip_prefix_len: Number(len) } };
}
