/**
 * A pure evaluator of Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), independent of Contrail: given
 * the namespaces, pods and policies of a cluster and one connection, whether Kubernetes admits it and which
 * policies decided. It is the reference the divergence report holds the Contrail datapath to.
 *
 * The rules, as the API reference and the upstream e2e suite (test/e2e/network/netpol) state them:
 * - a pod is isolated for ingress (egress) iff some policy in its namespace selects it with Ingress (Egress) in
 *   its policyTypes (absent policyTypes: Ingress, plus Egress when the policy has egress rules);
 * - a connection A→B is allowed iff A's egress allows it AND B's ingress allows it; a non-isolated side allows
 *   everything; an endpoint that is not a pod (a host, an external address) has no policy of its own;
 * - an isolated side allows iff some rule of some selecting policy admits the peer and the port: no peers =
 *   every peer; podSelector alone = pods of the policy's namespace; namespaceSelector (with or without a
 *   podSelector) = pods of the matching namespaces; ipBlock = addresses in `cidr` not in any `except` (pod
 *   addresses included, as the e2e suite assumes);
 * - no ports = every port and protocol; a port entry matches its protocol (default TCP) and its port, a named
 *   port resolved on the destination pod's container ports, or the range port..endPort; ICMP matches only
 *   rules without ports;
 * - a Service address is judged after translation to the backend pod (the caller passes the backend).
 *
 * Example: `kubernetesVerdict(world, { from: podA, to: podB, proto: "tcp", port: 80 })` → `{ allowed: false, … }`.
 */
import ipaddr from "ipaddr.js";
import type { KubeObject } from "../../controller/kube/api";
import { selects } from "../../controller/translate/netpol";

export interface World {
  namespaces: KubeObject[];
  pods: KubeObject[];
  policies: KubeObject[];
}

/** One end of a connection: a pod (with its address) or a bare address. */
export interface Endpoint {
  pod?: KubeObject;
  ip: string;
}

export interface Connection {
  from: Endpoint;
  to: Endpoint;
  proto: "tcp" | "udp" | "sctp" | "icmp";
  port?: number;
}

export interface SideVerdict {
  /** Whether any policy isolates this side (if not, it allows everything). */
  isolated: boolean;
  allowed: boolean;
  /** `ns/name` of the policies whose rules admitted the connection on this side. */
  allowedBy: string[];
  /** `ns/name` of the policies that isolate this side. */
  isolatedBy: string[];
}

export interface Verdict {
  allowed: boolean;
  egress: SideVerdict;
  ingress: SideVerdict;
  /** One line: why. */
  reason: string;
}

interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface PortEntry {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: PortEntry[];
}

const key = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;

/** policyTypes as the API server defaults them. */
export function policyTypes(np: KubeObject): string[] {
  const spec = np.spec ?? {};
  if (Array.isArray(spec.policyTypes) && spec.policyTypes.length) return spec.policyTypes;
  return spec.egress?.length ? ["Ingress", "Egress"] : ["Ingress"];
}

/**
 * What a world's connections share, computed once per world: namespace labels by name and, per pod, the
 * policies that select it for each direction (a matrix asks n² connections of one world; without this each
 * would scan every namespace and every policy). Rebuilt when the world's arrays are replaced or resized.
 */
interface WorldIndex {
  namespaces: KubeObject[];
  policies: KubeObject[];
  nsCount: number;
  policyCount: number;
  nsLabels: Map<string, Record<string, string>>;
  selecting: WeakMap<KubeObject, Record<"Ingress" | "Egress", KubeObject[]>>;
}
const indexes = new WeakMap<World, WorldIndex>();

function worldIndex(world: World): WorldIndex {
  const cached = indexes.get(world);
  if (
    cached &&
    cached.namespaces === world.namespaces &&
    cached.policies === world.policies &&
    cached.nsCount === world.namespaces.length &&
    cached.policyCount === world.policies.length
  )
    return cached;
  const nsLabels = new Map<string, Record<string, string>>();
  for (const o of world.namespaces) {
    const ns = o.metadata.name!;
    // the API server labels every namespace with its name (Kubernetes 1.21+)
    if (!nsLabels.has(ns))
      nsLabels.set(ns, { "kubernetes.io/metadata.name": ns, ...(o.metadata.labels ?? {}) });
  }
  const idx: WorldIndex = {
    namespaces: world.namespaces,
    policies: world.policies,
    nsCount: world.namespaces.length,
    policyCount: world.policies.length,
    nsLabels,
    selecting: new WeakMap(),
  };
  indexes.set(world, idx);
  return idx;
}

function namespaceLabels(world: World, ns: string): Record<string, string> | undefined {
  return worldIndex(world).nsLabels.get(ns);
}

/** The policies of the pod's namespace that select it with `type` among their policyTypes. */
function selectingPolicies(world: World, pod: KubeObject, type: "Ingress" | "Egress"): KubeObject[] {
  const idx = worldIndex(world);
  let entry = idx.selecting.get(pod);
  if (!entry) {
    const mine = world.policies.filter(
      (np) =>
        np.metadata.namespace === pod.metadata.namespace &&
        selects(np.spec?.podSelector ?? {}, pod.metadata.labels ?? {}),
    );
    entry = {
      Ingress: mine.filter((np) => policyTypes(np).includes("Ingress")),
      Egress: mine.filter((np) => policyTypes(np).includes("Egress")),
    };
    idx.selecting.set(pod, entry);
  }
  return entry[type];
}

function inCidr(ip: string, cidr: string): boolean {
  try {
    const addr = ipaddr.parse(ip);
    const [net, len] = ipaddr.parseCIDR(cidr);
    return addr.kind() === net.kind() && addr.match(net, len);
  } catch {
    return false;
  }
}

function peerMatches(world: World, np: KubeObject, peer: Peer, other: Endpoint): boolean {
  if (peer.ipBlock) {
    return (
      inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((e) => inCidr(other.ip, e))
    );
  }
  const pod = other.pod;
  if (!pod) return false;
  const podNs = pod.metadata.namespace!;
  if (peer.namespaceSelector) {
    const labels = namespaceLabels(world, podNs);
    if (!labels || !selects(peer.namespaceSelector, labels)) return false;
  } else if (podNs !== np.metadata.namespace) return false;
  return selects(peer.podSelector ?? {}, pod.metadata.labels ?? {});
}

/** The container port named `name` with `protocol` on `pod`. */
function namedPort(pod: KubeObject | undefined, name: string, protocol: string): number | undefined {
  for (const c of [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])])
    for (const p of c.ports ?? [])
      if (p.name === name && (p.protocol ?? "TCP") === protocol) return p.containerPort;
  return undefined;
}

function portMatches(entries: PortEntry[] | undefined, c: Connection): boolean {
  if (!entries?.length) return true;
  if (c.proto === "icmp") return false;
  return entries.some((e) => {
    const protocol = e.protocol ?? "TCP";
    if (protocol.toLowerCase() !== c.proto) return false;
    if (e.port === undefined) return true;
    if (typeof e.port === "string") return namedPort(c.to.pod, e.port, protocol) === c.port;
    const end = e.endPort ?? e.port;
    return c.port !== undefined && c.port >= e.port && c.port <= end;
  });
}

function side(world: World, c: Connection, type: "Ingress" | "Egress"): SideVerdict {
  const self = type === "Ingress" ? c.to : c.from;
  const other = type === "Ingress" ? c.from : c.to;
  const none: SideVerdict = { isolated: false, allowed: true, allowedBy: [], isolatedBy: [] };
  if (!self.pod) return none;
  const pod = self.pod;
  const selecting = selectingPolicies(world, pod, type);
  if (!selecting.length) return none;
  const allowedBy = selecting
    .filter((np) =>
      ((type === "Ingress" ? np.spec?.ingress : np.spec?.egress) ?? []).some((r: Rule) => {
        const peers = (type === "Ingress" ? r.from : r.to) ?? [];
        return (
          (!peers.length || peers.some((p) => peerMatches(world, np, p, other))) && portMatches(r.ports, c)
        );
      }),
    )
    .map(key);
  return { isolated: true, allowed: allowedBy.length > 0, allowedBy, isolatedBy: selecting.map(key) };
}

/** Whether one side admits the connection: `side(…).allowed` without naming the policies (a matrix's hot path). */
function sideAllows(world: World, c: Connection, type: "Ingress" | "Egress"): boolean {
  const self = type === "Ingress" ? c.to : c.from;
  const other = type === "Ingress" ? c.from : c.to;
  if (!self.pod) return true;
  const selecting = selectingPolicies(world, self.pod, type);
  if (!selecting.length) return true;
  return selecting.some((np) =>
    ((type === "Ingress" ? np.spec?.ingress : np.spec?.egress) ?? []).some((r: Rule) => {
      const peers = (type === "Ingress" ? r.from : r.to) ?? [];
      return (
        (!peers.length || peers.some((p) => peerMatches(world, np, p, other))) && portMatches(r.ports, c)
      );
    }),
  );
}

/** `kubernetesVerdict(world, c).allowed`, without the explanation. */
export function kubernetesAllows(world: World, c: Connection): boolean {
  return sideAllows(world, c, "Egress") && sideAllows(world, c, "Ingress");
}

export function kubernetesVerdict(world: World, c: Connection): Verdict {
  const egress = side(world, c, "Egress");
  const ingress = side(world, c, "Ingress");
  const allowed = egress.allowed && ingress.allowed;
  const describe = (s: SideVerdict, what: string) =>
    !s.isolated
      ? `${what} not isolated`
      : s.allowed
        ? `${what} allowed by ${s.allowedBy.join(", ")}`
        : `${what} isolated by ${s.isolatedBy.join(", ")} and no rule admits it`;
  return {
    allowed,
    egress,
    ingress,
    reason: `${describe(egress, "egress")}; ${describe(ingress, "ingress")}`,
  };
}
