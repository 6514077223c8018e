/**
 * Random Kubernetes worlds for checking the NetworkPolicy oracle (testbed/oracle/kubernetes.ts) against an
 * independent evaluator: a few namespaces with labels, pods with labels, addresses and named container ports,
 * 1–6 NetworkPolicies that mix every peer and port form the API accepts, and the grid of connections to ask
 * about. Everything generated passes the API server's validation (In/NotIn with values, Exists/DoesNotExist
 * without; endPort only with a numeric port and ≥ it; `except` strictly inside `cidr`; a peer never empty; a
 * container port name unique in its pod), so a disagreement is about semantics, never about input the API would
 * have refused.
 *
 * Two deliberate limits, both points where Kubernetes leaves the behaviour to the implementation:
 * - ipBlock CIDRs are drawn from external ranges (192.168.0.0/16, 172.16.0.0/12, 203.0.113.0/24) and pod
 *   addresses from 10.1.0.0/24, so no ipBlock ever covers a pod. The API reference says only that ipBlock
 *   selects "a particular CIDR", the concepts page that it "should be cluster-external IPs, since Pod IPs are
 *   ephemeral and unpredictable"; whether a pod's address matches is implementation-defined. The oracle says it
 *   does (as the upstream e2e suite assumes), network-config-analyzer treats pods and IP blocks as disjoint
 *   peers. ipBlock is exercised through the grid's external addresses instead.
 * - the grid holds no pod→itself connection: Kubernetes does not say whether a pod's policies apply to traffic
 *   to itself (most plugins let it through), and network-config-analyzer leaves self-loops out of its model.
 */
import fc from "fast-check";
import type { KubeObject } from "../../controller/kube/api";
import type { Connection, World } from "../../testbed/oracle/kubernetes";

export const NAMESPACES = ["a", "b", "c"];
const NS_LABELS = { team: ["x", "y"], env: ["x", "y"] };
const POD_LABELS = { app: ["x", "y", "z"], tier: ["x", "y"] };

/** A container port the pod may expose (names chosen so that the same name means different numbers). */
const CONTAINER_PORTS = [
  { name: "http", containerPort: 80 },
  { name: "http", containerPort: 8080, protocol: "TCP" },
  { name: "dns", containerPort: 53, protocol: "UDP" },
  { name: "dns", containerPort: 53 },
  { name: "alt", containerPort: 81 },
  { name: "sctp", containerPort: 80, protocol: "SCTP" },
];

const CIDRS = ["192.168.0.0/16", "192.168.1.0/24", "172.16.0.0/12", "203.0.113.0/24"];
const EXCEPTS = [
  "192.168.1.0/24",
  "192.168.1.128/25",
  "192.168.2.0/24",
  "172.16.5.0/24",
  "172.20.0.0/16",
  "203.0.113.0/28",
];
/** Addresses outside the cluster, around the edges of the CIDRs and excepts above. */
export const EXTERNAL_IPS = [
  "192.168.1.5",
  "192.168.1.200",
  "192.168.2.5",
  "192.168.3.1",
  "172.16.5.5",
  "172.20.0.1",
  "172.31.0.1",
  "203.0.113.3",
  "203.0.113.100",
  "198.51.100.1",
];
/** The (protocol, port) pairs of the grid: numbers the policies use, their neighbours, and ICMP. */
export const PROBES: { proto: Connection["proto"]; port?: number }[] = [
  { proto: "tcp", port: 53 },
  { proto: "tcp", port: 80 },
  { proto: "tcp", port: 81 },
  { proto: "tcp", port: 443 },
  { proto: "tcp", port: 8080 },
  { proto: "udp", port: 53 },
  { proto: "udp", port: 80 },
  { proto: "sctp", port: 80 },
  { proto: "icmp" },
];

function parseCidr(c: string): [number, number] {
  const [ip, len] = c.split("/");
  return [ip.split(".").reduce((a, o) => a * 256 + Number(o), 0), Number(len)];
}
/** `inner` lies strictly inside `outer`. */
function strictlyInside(inner: string, outer: string): boolean {
  const [i, il] = parseCidr(inner);
  const [o, ol] = parseCidr(outer);
  return il > ol && Math.floor(i / 2 ** (32 - ol)) === Math.floor(o / 2 ** (32 - ol));
}

function selectorArb(
  keys: Record<string, string[]>,
  existsOps = true,
): fc.Arbitrary<Record<string, unknown>> {
  const names = Object.keys(keys);
  const matchLabels = fc
    .uniqueArray(fc.constantFrom(...names), { minLength: 1, maxLength: 2 })
    .chain((ks) => fc.tuple(...ks.map((k) => fc.constantFrom(...keys[k]).map((v) => [k, v] as const))))
    .map((kv) => Object.fromEntries(kv));
  const expression = fc.constantFrom(...names).chain((key) =>
    fc.oneof(
      fc
        .record({
          operator: fc.constantFrom("In", "NotIn"),
          values: fc.uniqueArray(fc.constantFrom(...keys[key]), { minLength: 1, maxLength: 2 }),
        })
        .map((e) => ({ key, ...e })),
      ...(existsOps
        ? [fc.constantFrom("Exists", "DoesNotExist").map((operator) => ({ key, operator }))]
        : []),
    ),
  );
  const matchExpressions = fc.array(expression, { minLength: 1, maxLength: 2 });
  return fc.oneof(
    fc.constant({}),
    matchLabels.map((m) => ({ matchLabels: m })),
    matchExpressions.map((e) => ({ matchExpressions: e })),
    fc.tuple(matchLabels, matchExpressions).map(([m, e]) => ({ matchLabels: m, matchExpressions: e })),
  );
}

const podSelectorArb = selectorArb(POD_LABELS);
/**
 * The podSelector of a peer that also has a namespaceSelector: no Exists/DoesNotExist. network-config-analyzer
 * 2.1.0 evaluates those two operators over the policy's own namespace only (K8sPolicyYamlParser
 * parse_label_selector_requirement → PeerContainer.get_peers_with_key(self.namespace, …)), so such a peer loses
 * the matching pods of every other namespace; the API reference says the peer "selects the Pods matching
 * PodSelector in the Namespaces selected by NamespaceSelector", which the oracle does (first found by this test;
 * no upstream issue found). test/oracle/kubernetes.test.ts covers the oracle on it.
 */
const peerPodSelectorArb = selectorArb(POD_LABELS, false);
// namespace selectors may also use the label the API server puts on every namespace
const nsSelectorArb = selectorArb({ ...NS_LABELS, "kubernetes.io/metadata.name": NAMESPACES });

const ipBlockArb = fc
  .constantFrom(...CIDRS)
  .chain((cidr) =>
    fc
      .subarray(EXCEPTS.filter((e) => strictlyInside(e, cidr)))
      .map((except) => ({ ipBlock: except.length ? { cidr, except } : { cidr } })),
  );

const peerArb = fc.oneof(
  podSelectorArb.map((podSelector) => ({ podSelector })),
  nsSelectorArb.map((namespaceSelector) => ({ namespaceSelector })),
  fc
    .tuple(nsSelectorArb, peerPodSelectorArb)
    .map(([namespaceSelector, podSelector]) => ({ namespaceSelector, podSelector })),
  ipBlockArb,
);

const portArb = fc
  .record(
    {
      protocol: fc.constantFrom("TCP", "UDP", "SCTP"),
      port: fc.oneof(
        fc.constantFrom(53, 80, 81, 443, 8080),
        fc.constantFrom("http", "dns", "alt", "sctp", "none"),
        fc
          .tuple(fc.constantFrom(53, 80, 81), fc.constantFrom(0, 1, 400, 8000))
          .map(([p, d]) => ({ p, end: p + d })),
      ),
    },
    { requiredKeys: [] },
  )
  .map(({ protocol, port }) => {
    const entry: Record<string, unknown> = {};
    if (protocol) entry.protocol = protocol;
    if (typeof port === "object") {
      entry.port = port.p;
      entry.endPort = port.end;
    } else if (port !== undefined) entry.port = port;
    return entry;
  });

/** One ingress or egress rule; absent and empty peer lists and port lists both occur. */
function ruleArb(peersKey: "from" | "to") {
  return fc
    .record(
      {
        peers: fc.array(peerArb, { maxLength: 2 }),
        ports: fc.array(portArb, { maxLength: 2 }),
      },
      { requiredKeys: [] },
    )
    .map(({ peers, ports }) => {
      const rule: Record<string, unknown> = {};
      if (peers) rule[peersKey] = peers;
      if (ports) rule.ports = ports;
      return rule;
    });
}

/**
 * A policy. Three shapes the API server accepts are left out because network-config-analyzer 2.1.0 reads them
 * differently from Kubernetes (its parser, nca/Parsers/K8sPolicyYamlParser.py; no upstream issue found), and
 * test/oracle/kubernetes.test.ts covers the oracle on each instead:
 * - `egress: []` without policyTypes: NCA makes the policy egress-isolating because the key is present;
 *   Kubernetes defaults policyTypes from `len(spec.Egress) != 0` (pkg/apis/networking/v1/defaults.go), so the
 *   policy is Ingress-only;
 * - `ingress`/`egress` rules with policyTypes that leave their type out: the API server stores and ignores
 *   them, NCA refuses the policy ("A NetworkPolicy with egress field but no "Egress" in its policyTypes");
 * - policyTypes `["Egress", "Ingress"]`: validation accepts any order, NCA only the documented three lists.
 */
function policyArb(namespaces: string[]) {
  return fc
    .record(
      {
        namespace: fc.constantFrom(...namespaces),
        podSelector: podSelectorArb,
        policyTypes: fc.constantFrom<string[]>(["Ingress"], ["Egress"], ["Ingress", "Egress"]),
        ingress: fc.array(ruleArb("from"), { maxLength: 2 }),
        egress: fc.array(ruleArb("to"), { maxLength: 2 }),
      },
      { requiredKeys: ["namespace", "podSelector"] },
    )
    .map(({ namespace, ...spec }) => {
      if (spec.policyTypes) {
        if (!spec.policyTypes.includes("Ingress")) delete spec.ingress;
        if (!spec.policyTypes.includes("Egress")) delete spec.egress;
      } else if (spec.egress?.length === 0) delete spec.egress;
      return { namespace, spec };
    });
}

export interface GeneratedWorld {
  world: World;
  /** External addresses of the grid. */
  externals: string[];
}

export const worldArb: fc.Arbitrary<GeneratedWorld> = fc
  .integer({ min: 1, max: NAMESPACES.length })
  .chain((nsCount) => {
    const namespaces = NAMESPACES.slice(0, nsCount);
    return fc.record({
      namespaces: fc.tuple(
        ...namespaces.map((name) =>
          fc
            .record(
              { team: fc.constantFrom(...NS_LABELS.team), env: fc.constantFrom(...NS_LABELS.env) },
              { requiredKeys: [] },
            )
            .map((labels) => ({ name, labels })),
        ),
      ),
      pods: fc.array(
        fc.record({
          namespace: fc.constantFrom(...namespaces),
          labels: fc.record(
            { app: fc.constantFrom(...POD_LABELS.app), tier: fc.constantFrom(...POD_LABELS.tier) },
            { requiredKeys: [] },
          ),
          ports: fc.uniqueArray(fc.constantFrom(...CONTAINER_PORTS), {
            maxLength: 2,
            selector: (p) => p.name,
          }),
        }),
        { minLength: 2, maxLength: 5 },
      ),
      policies: fc.array(policyArb(namespaces), { minLength: 1, maxLength: 6 }),
      externals: fc.subarray(EXTERNAL_IPS, { minLength: 1, maxLength: 3 }),
    });
  })
  .map(({ namespaces, pods, policies, externals }) => ({
    externals,
    world: {
      namespaces: namespaces.map(
        (n): KubeObject => ({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: n.name, labels: n.labels },
        }),
      ),
      pods: pods.map(
        (p, i): KubeObject => ({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: `p${i}`, namespace: p.namespace, labels: p.labels },
          spec: { containers: [{ name: "c", image: "pause", ports: p.ports }] },
          status: { phase: "Running", podIP: `10.1.0.${i + 1}` },
        }),
      ),
      policies: policies.map(
        (np, i): KubeObject => ({
          apiVersion: "networking.k8s.io/v1",
          kind: "NetworkPolicy",
          metadata: { name: `np${i}`, namespace: np.namespace },
          spec: np.spec,
        }),
      ),
    },
  }));

export interface GridCell {
  from: { pod?: KubeObject; ip: string };
  to: { pod?: KubeObject; ip: string };
  proto: Connection["proto"];
  port?: number;
}

/** Every pod to every other pod, every pod to and from each external address, for each probe. */
export function grid({ world, externals }: GeneratedWorld): GridCell[] {
  const pods = world.pods.map((pod) => ({ pod, ip: pod.status.podIP as string }));
  const ext = externals.map((ip) => ({ ip }));
  const pairs: [GridCell["from"], GridCell["to"]][] = [];
  for (const a of pods) for (const b of pods) if (a !== b) pairs.push([a, b]);
  for (const p of pods) for (const e of ext) pairs.push([p, e], [e, p]);
  return pairs.flatMap(([from, to]) => PROBES.map((probe) => ({ from, to, ...probe })));
}

/** `ns/name` of a pod endpoint, or its address. */
export function endpointName(e: { pod?: KubeObject; ip: string }): string {
  return e.pod ? `${e.pod.metadata.namespace}/${e.pod.metadata.name}` : e.ip;
}
