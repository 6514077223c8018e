/**
 * "Why not" (`ctb why <from> <to>`): for a flow that is dropped, the smallest changes that would let it through,
 * and for a flow that gets through, the smallest changes that would block it — between every kind of endpoint
 * `ctb reach` takes: pods, a Service (its ClusterIP, load-balancer address or externalIP), fabric and external
 * hosts, or a bare address.
 *
 * Candidates come from the objects that decide the path: the NetworkPolicies selecting either end (for a
 * Service, its member pods with the target port, the port policies see after the DNAT; for a host outside the
 * pod network, an `ipBlock` with its address), a Service whose selector matches no pod or that has no such port
 * or whose target port nothing listens on, a ClusterIP asked for from outside (a LoadBalancer has an address
 * there), the namespaces' isolation annotations. Each is applied to a copy of the environment (the same
 * scenario run again in a testbed of its own) and kept only if the flow's fate really changes there, so what is
 * printed is verified, not guessed.
 *
 * Example: `formatWhy(await why(tb, copy, { from: "shop/client", to: "service:shop/web", proto: "tcp", port: 80 }))`
 */
import type { KubeApi, KubeObject } from "../../controller/kube/api";
import { IP_FABRIC_SNAT_ANNOTATION, ISOLATION_ANNOTATIONS } from "../../controller/translate/layout";
import { kubernetesVerdict, type World } from "../oracle/kubernetes";
import { clusterWorld } from "./matrix-check";
import type { ProbeProto, ReachOutcome, Testbed } from "./testbed";

export interface Flow {
  /** `<ns>/<pod>`, `host:<fabric host>` or `external:<external host>`. */
  from: string;
  /**
   * `<ns>/<pod>`, `service:<ns>/<name>` (its ClusterIP), `lb:<ns>/<name>` (its load-balancer address),
   * `host:<name>`, `external:<name>`, or an IPv4 address (a Service's externalIP, say).
   */
  to: string;
  proto: ProbeProto;
  port?: number;
}

/** A user's mistake in naming the flow's ends (the CLI answers it with exit 2). */
export class WhyEndpointError extends Error {
  override name = "WhyEndpointError";
}

/** The pods a change is applied to, as the copy has them (a Deployment's pods have other names there). */
interface CopyPods {
  from?: KubeObject;
  /** The destination pod, or the Service member that stood for its members. */
  to?: KubeObject;
}

/** One change to the cluster, as a user would make it. */
export interface Change {
  /** What it is, in words. */
  what: string;
  /** The kubectl command (or manifest) that makes it. */
  how: string;
  /** How much it changes: labels, annotations or fields touched, rules added (a new policy counts 3). */
  size: number;
  /** The flow to judge in the copy goes to this Service's load-balancer address instead (one made or retyped). */
  via?: { lb: { namespace: string; name: string } };
  apply(kube: KubeApi, pods: CopyPods): Promise<void>;
}

export interface WhyResult {
  flow: Flow;
  /** The destination in words: `pod shop/web`, `Service shop/web's ClusterIP 10.96.0.12`, `external:client (…)`. */
  dest: string;
  /** The flow's fate now: delivered (answered, or refused where nothing listens) or not. */
  through: boolean;
  outcome: ReachOutcome;
  /**
   * What the changes are for: `let through` (dropped now), `block` (delivered now), or `answer` (a Service's
   * flow delivered to a member where nothing listens on the target port).
   */
  goal: "let through" | "block" | "answer";
  /** What the testbed knows of the path: where it arrives (DNAT, SNAT), why it is dropped, what Kubernetes says. */
  facts: string[];
  /** Changes that turn it around, verified in a copy, smallest first. */
  changes: { what: string; how: string; size: number }[];
  /** Candidates that were tried and did not change the flow's fate. */
  notEnough: { what: string; how: string }[];
  /** Set when the copies ran another datapath or cluster than this environment's (one line, said in the output). */
  copyNote?: string;
}

/**
 * The one line `why` and `diff` print when their copies (always the simulated datapath and the embedded
 * cluster) are not what the environment runs; undefined when they are.
 */
export function copiesNote(datapath: string, cluster: string): string | undefined {
  if (datapath === "sim" && cluster === "embedded") return undefined;
  return `the copies ran on the simulated datapath and the embedded cluster; this environment runs the ${datapath} datapath and the ${cluster} cluster`;
}

/** The isolation annotation a change adds (the R5 code's spelling); any of ISOLATION_ANNOTATIONS is removed. */
const ISOLATION = ISOLATION_ANNOTATIONS[0];
const R4_POLICY = "net.beta.kubernetes.io/network-policy";

type Labels = Record<string, string>;
const labelsOf = (o: KubeObject): Labels => (o.metadata.labels ?? {}) as Labels;
const nameOf = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
const kubectlLabels = (l: Labels) =>
  Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
/** The pod's labels as a selector, without the ReplicaSet's hash (it changes with every rollout). */
const selectorOf = (p: KubeObject): Labels =>
  Object.fromEntries(Object.entries(labelsOf(p)).filter(([k]) => k !== "pod-template-hash"));

function selects(sel: { matchLabels?: Labels } | undefined, labels: Labels): boolean {
  return Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** The policies of the pod's namespace whose podSelector (matchLabels) picks it for `type`. */
function policiesFor(world: World, pod: KubeObject, type: "Ingress" | "Egress"): KubeObject[] {
  return world.policies.filter((np) => {
    if (np.metadata.namespace !== pod.metadata.namespace) return false;
    const types: string[] =
      np.spec?.policyTypes ?? (np.spec?.egress?.length ? ["Ingress", "Egress"] : ["Ingress"]);
    return types.includes(type) && selects(np.spec?.podSelector, labelsOf(pod));
  });
}

// ---- the ends of the flow ----------------------------------------------------------------------------------

/** The source: a pod, or a host outside the pod network (fabric or external) with its address. */
type Source = { kind: "pod"; pod: KubeObject } | { kind: "host"; ref: string; ip: string };

type Via = "cluster-ip" | "lb" | "external-ip";

/** The destination: a pod, a Service by one of its addresses, or an address outside the pod network. */
type Dest =
  | { kind: "pod"; pod: KubeObject }
  | { kind: "service"; svc: KubeObject; via: Via; ip: string }
  | { kind: "host"; ref: string; ip: string };

interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
}

/** What the flow meets at a Service: the port entry, its members, the port they get (after the DNAT). */
interface ServiceView {
  svc: KubeObject;
  /** The entry of spec.ports for this flow's protocol and port (none for ICMP, or when there is none). */
  entry?: ServicePort;
  index: number;
  members: KubeObject[];
  /** The member port the flow arrives on (the entry's targetPort, a name resolved on the first member). */
  targetPort?: number;
}

type ContainerPort = { name?: string; containerPort: number; protocol?: string };
const containerPorts = (p: KubeObject): ContainerPort[] =>
  ((p.spec?.containers ?? []) as { ports?: ContainerPort[] }[]).flatMap((c) => c.ports ?? []);
const protoOf = (p: { protocol?: string }) => (p.protocol ?? "TCP").toLowerCase();

function serviceView(world: World, svc: KubeObject, f: Flow): ServiceView {
  const ports = (svc.spec?.ports ?? []) as ServicePort[];
  const index = f.proto === "icmp" ? -1 : ports.findIndex((p) => protoOf(p) === f.proto && p.port === f.port);
  const entry = index >= 0 ? ports[index] : undefined;
  const selector = (svc.spec?.selector ?? {}) as Labels;
  const members = Object.keys(selector).length
    ? world.pods
        .filter(
          (p) =>
            p.metadata.namespace === svc.metadata.namespace &&
            p.status?.podIP &&
            !p.spec?.hostNetwork &&
            selects({ matchLabels: selector }, labelsOf(p)),
        )
        .sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!))
    : [];
  let targetPort: number | undefined;
  if (entry) {
    const t = entry.targetPort ?? entry.port;
    targetPort =
      typeof t === "number"
        ? t
        : members[0] && containerPorts(members[0]).find((c) => c.name === t)?.containerPort;
  }
  return { svc, ...(entry ? { entry } : {}), index, members, ...(targetPort ? { targetPort } : {}) };
}

async function findPod(world: World, ref: string): Promise<KubeObject> {
  const [ns, name] = ref.split("/") as [string, string];
  const p = world.pods.find((x) => x.metadata.namespace === ns && x.metadata.name === name);
  if (!p) throw new WhyEndpointError(`no pod ${ref}`);
  if (!p.status?.podIP)
    throw new WhyEndpointError(`pod ${ref} has no address (phase ${p.status?.phase ?? "unknown"})`);
  return p;
}

async function sourceOf(tb: Testbed, world: World, from: string): Promise<Source> {
  if (from.startsWith("host:") || from.startsWith("external:")) {
    const name = from.slice(from.indexOf(":") + 1);
    const ip = from.startsWith("host:") ? tb.fabricHostIp(name) : tb.externalHostIp?.(name);
    if (!ip)
      throw new WhyEndpointError(
        `no ${from.startsWith("host:") ? "fabric" : "external"} host ${name} in this scenario's ${from.startsWith("host:") ? "fabricHosts" : "externalHosts"}`,
      );
    return { kind: "host", ref: from, ip };
  }
  if (from.includes("@"))
    throw new WhyEndpointError(`${from}: ctb why does not take a pod's secondary interface (yet)`);
  return { kind: "pod", pod: await findPod(world, from) };
}

const lbAddress = (svc: KubeObject): string | undefined =>
  svc.status?.loadBalancer?.ingress?.find((i: { ip?: string }) => i.ip)?.ip;

async function destOf(tb: Testbed, world: World, to: string): Promise<Dest> {
  const svcRef = /^(service|svc|lb):([^/]+)\/(.+)$/.exec(to);
  if (svcRef) {
    const [, kind, ns, name] = svcRef as unknown as [string, string, string, string];
    const svc = await tb.kube.get("services", name, ns).catch(() => undefined);
    if (!svc) throw new WhyEndpointError(`${to}: no Service ${ns}/${name}`);
    if (kind === "lb") {
      const ip = lbAddress(svc);
      if (!ip)
        throw new WhyEndpointError(
          `${to}: Service ${ns}/${name} has no load-balancer address (it is type ${svc.spec?.type ?? "ClusterIP"})`,
        );
      return { kind: "service", svc, via: "lb", ip };
    }
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === "None") throw new WhyEndpointError(`${to}: Service ${ns}/${name} has no cluster IP`);
    return { kind: "service", svc, via: "cluster-ip", ip };
  }
  if (to.startsWith("host:") || to.startsWith("external:")) {
    const s = await sourceOf(tb, world, to);
    return s as Dest;
  }
  if (/^(ingress|dns):/.test(to))
    throw new WhyEndpointError(
      `${to}: ctb why takes pods, Services, hosts and addresses, not ${to.split(":")[0]}:`,
    );
  if (/^\d/.test(to)) {
    // an address: whatever holds it in the cluster, else a host outside
    const pod = world.pods.find((p) => p.status?.podIP === to && !p.spec?.hostNetwork);
    if (pod) return { kind: "pod", pod };
    for (const svc of (await tb.kube.list("services")).items) {
      if (svc.spec?.clusterIP === to) return { kind: "service", svc, via: "cluster-ip", ip: to };
      if (lbAddress(svc) === to) return { kind: "service", svc, via: "lb", ip: to };
      if ((svc.spec?.externalIPs ?? []).includes(to))
        return { kind: "service", svc, via: "external-ip", ip: to };
    }
    return { kind: "host", ref: to, ip: to };
  }
  if (to.includes("@"))
    throw new WhyEndpointError(`${to}: ctb why does not take a pod's secondary interface (yet)`);
  return { kind: "pod", pod: await findPod(world, to) };
}

const describeDest = (d: Dest) =>
  d.kind === "pod"
    ? `pod ${nameOf(d.pod)}`
    : d.kind === "service"
      ? `Service ${nameOf(d.svc)}'s ${d.via === "cluster-ip" ? "ClusterIP" : d.via === "lb" ? "load-balancer address" : "externalIP"} ${d.ip}`
      : d.ref === d.ip
        ? d.ip
        : `${d.ref} (${d.ip})`;

// ---- candidates ----------------------------------------------------------------------------------------------

/** The port entry a new rule gets for this flow (none for ICMP: a rule without ports admits every protocol). */
function portEntry(proto: ProbeProto, port?: number): { protocol: string; port: number }[] | undefined {
  return proto === "icmp" || port === undefined ? undefined : [{ protocol: proto.toUpperCase(), port }];
}

/** The peer a new rule names for the other end: a pod's labels (and namespace), or an address's ipBlock. */
function peerFor(other: KubeObject | string, ownNs: string): Record<string, unknown> {
  if (typeof other === "string") return { ipBlock: { cidr: `${other}/32` } };
  const ns = other.metadata.namespace!;
  return {
    podSelector: { matchLabels: selectorOf(other) },
    ...(ns !== ownNs ? { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } } : {}),
  };
}

/** What a selector built from a pod without labels really selects (a pod is named by its labels only). */
const unlabelled = (o: KubeObject | string) =>
  isPod(o) && !Object.keys(selectorOf(o)).length
    ? ` (pod ${nameOf(o)} has no labels: its selector picks every pod of ${o.metadata.namespace}; label it to narrow)`
    : "";

function ruleText(peerKey: "from" | "to", peer: Record<string, unknown>, ports?: unknown): string {
  return JSON.stringify({ [peerKey]: [peer], ...(ports ? { ports } : {}) });
}

/**
 * The question the policies are asked, as they see it: from a pod or an address, to a pod (the Service member
 * standing for its members) or an address, on the port after any DNAT.
 */
interface PolicyFlow {
  proto: ProbeProto;
  port?: number;
  src: KubeObject | string;
  dst: KubeObject | string;
}

const isPod = (e: KubeObject | string): e is KubeObject => typeof e !== "string";

function annotationRemovals(world: World, namespaces: Iterable<string>): Change[] {
  const out: Change[] = [];
  for (const ns of new Set(namespaces)) {
    const nsObj = world.namespaces.find((n) => n.metadata.name === ns);
    for (const key of [...ISOLATION_ANNOTATIONS, R4_POLICY])
      if (nsObj?.metadata.annotations?.[key] !== undefined)
        out.push({
          what: `remove namespace ${ns}'s ${key} annotation`,
          how: `kubectl annotate namespace ${ns} ${key}-`,
          size: 1,
          apply: (kube) =>
            kube
              .patch("namespaces", ns, undefined, { metadata: { annotations: { [key]: null } } })
              .then(() => {}),
        });
  }
  return out;
}

/** NetworkPolicy changes that might let the flow through: labels, rules added, a policy of its own. */
function policyLetThrough(world: World, f: PolicyFlow): Change[] {
  const out: Change[] = [];
  const sides = [
    { type: "Ingress" as const, self: f.dst, other: f.src, rules: "ingress", peerKey: "from" as const },
    { type: "Egress" as const, self: f.src, other: f.dst, rules: "egress", peerKey: "to" as const },
  ];
  for (const side of sides) {
    const self = side.self;
    if (!isPod(self)) continue;
    const selfNs = self.metadata.namespace!;
    const pick = (pods: CopyPods) => (side.type === "Ingress" ? pods.from : pods.to);
    for (const np of policiesFor(world, self, side.type)) {
      const name = nameOf(np);
      // a label the other end lacks for a rule that would otherwise admit it (same namespace, or a selector
      // without a namespace part)
      const other = side.other;
      if (isPod(other))
        for (const rule of (np.spec?.[side.rules] ?? []) as Record<string, unknown>[]) {
          const ports = rule.ports as
            | { port?: number | string; protocol?: string; endPort?: number }[]
            | undefined;
          const portOk =
            !ports?.length ||
            (f.proto !== "icmp" &&
              ports.some(
                (p) =>
                  protoOf(p) === f.proto &&
                  (p.port === undefined ||
                    (typeof p.port === "number" && f.port! >= p.port && f.port! <= (p.endPort ?? p.port))),
              ));
          if (!portOk) continue;
          for (const peer of (rule[side.peerKey] ?? []) as {
            podSelector?: { matchLabels?: Labels };
            namespaceSelector?: unknown;
          }[]) {
            if (!peer.podSelector || peer.namespaceSelector || other.metadata.namespace !== selfNs) continue;
            const missing = Object.fromEntries(
              Object.entries(peer.podSelector.matchLabels ?? {}).filter(([k, v]) => labelsOf(other)[k] !== v),
            );
            if (!Object.keys(missing).length) continue;
            out.push({
              what: `label pod ${nameOf(other)} ${kubectlLabels(missing)} (matches an ${side.rules} rule of NetworkPolicy ${name})`,
              how: `kubectl label pod -n ${other.metadata.namespace} ${other.metadata.name} --overwrite ${kubectlLabels(missing)}`,
              size: Object.keys(missing).length,
              apply: async (kube, pods) => {
                const p = pick(pods)!;
                await kube.patch("pods", p.metadata.name!, p.metadata.namespace, {
                  metadata: { labels: missing },
                });
              },
            });
          }
        }
      // a rule for exactly this flow, added to the policy
      const peer = peerFor(other, selfNs);
      const ports = portEntry(f.proto, f.port);
      out.push({
        what: `add to NetworkPolicy ${name} the ${side.rules} rule ${ruleText(side.peerKey, peer, ports)}${unlabelled(other)}`,
        how: `kubectl patch networkpolicy -n ${np.metadata.namespace} ${np.metadata.name} --type json -p '[{"op":"add","path":"/spec/${side.rules}/-","value":${ruleText(side.peerKey, peer, ports)}}]'`,
        size: 2,
        apply: async (kube) => {
          const cur = await kube.get("networkpolicies", np.metadata.name!, np.metadata.namespace);
          const rules = [
            ...((cur.spec?.[side.rules] ?? []) as unknown[]),
            { [side.peerKey]: [peer], ...(ports ? { ports } : {}) },
          ];
          await kube.patch("networkpolicies", np.metadata.name!, np.metadata.namespace, {
            spec: { [side.rules]: rules },
          });
        },
      });
    }
  }
  // a NetworkPolicy of its own for this flow, on each end that is a pod and that a policy isolates (the
  // destination always: a new policy there is the usual answer when nothing isolates it yet)
  const otherName = (o: KubeObject | string) =>
    isPod(o) ? o.metadata.name! : o.replace(/[./]/g, "-").replace(/:/g, "");
  const policy = (self: KubeObject, other: KubeObject | string, type: "Ingress" | "Egress"): KubeObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: `allow-${type === "Egress" ? "to-" : ""}${otherName(other)}-${f.proto}${f.port ?? ""}`.slice(
        0,
        63,
      ),
      namespace: self.metadata.namespace,
    },
    spec: {
      podSelector: { matchLabels: selectorOf(self) },
      policyTypes: [type],
      [type === "Ingress" ? "ingress" : "egress"]: [
        {
          [type === "Ingress" ? "from" : "to"]: [peerFor(other, self.metadata.namespace!)],
          ...(portEntry(f.proto, f.port) ? { ports: portEntry(f.proto, f.port) } : {}),
        },
      ],
    },
  });
  const wanted: { p: KubeObject; end: "from" | "to" }[] = [];
  if (isPod(f.dst)) wanted.push({ p: policy(f.dst, f.src, "Ingress"), end: "to" });
  if (isPod(f.src) && policiesFor(world, f.src, "Egress").length)
    wanted.push({ p: policy(f.src, f.dst, "Egress"), end: "from" });
  if (wanted.length)
    out.push({
      what: `a new NetworkPolicy${wanted.length > 1 ? " on each end" : ""}: ${wanted.map(({ p }) => nameOf(p)).join(" and ")}${[f.src, f.dst].map(unlabelled).find(Boolean) ?? ""}`,
      how: wanted.map(({ p }) => `kubectl apply -f - <<< '${JSON.stringify(p)}'`).join("; "),
      size: 3 * wanted.length,
      apply: async (kube) => {
        for (const { p } of wanted) await kube.create("networkpolicies", p, p.metadata.namespace);
      },
    });
  return out;
}

/** Service changes that might let the flow reach its members: a port, the selector, the address kind. */
function serviceLetThrough(
  world: World,
  f: Flow,
  src: Source,
  d: Dest & { kind: "service" },
  v: ServiceView,
): Change[] {
  const out: Change[] = [];
  const svc = v.svc;
  const ns = svc.metadata.namespace!;
  const name = svc.metadata.name!;
  const selector = (svc.spec?.selector ?? {}) as Labels;
  if (f.proto !== "icmp" && !v.entry) {
    // the port the pods listen on for this protocol, else the same port
    const listened = (v.members[0] ? containerPorts(v.members[0]) : []).find((c) => protoOf(c) === f.proto);
    const targetPort = listened?.containerPort ?? f.port!;
    const ports = (svc.spec?.ports ?? []) as ServicePort[];
    const entry = {
      name: `${f.proto}-${f.port}`,
      port: f.port!,
      protocol: f.proto.toUpperCase(),
      targetPort,
    };
    // a Service of several ports names each (the API server insists)
    const named = ports.map((p, i) => (p.name ? p : { ...p, name: `${protoOf(p)}-${p.port ?? i}` }));
    const ops = [
      ...named.flatMap((p, i) =>
        ports[i]!.name ? [] : [{ op: "add", path: `/spec/ports/${i}/name`, value: p.name }],
      ),
      { op: "add", path: "/spec/ports/-", value: entry },
    ];
    out.push({
      what: `add port ${f.proto}/${f.port} → ${targetPort} to Service ${ns}/${name} (it has ${ports.map((p) => `${protoOf(p)}/${p.port}`).join(", ") || "no ports"})`,
      how: `kubectl patch service -n ${ns} ${name} --type json -p '${JSON.stringify(ops)}'`,
      size: 1,
      apply: (kube) =>
        kube.patch("services", name, ns, { spec: { ports: [...named, entry] } }).then(() => {}),
    });
  }
  if (!v.members.length && Object.keys(selector).length) {
    // pods of its namespace that could serve: the nearest label sets first (they listen on the target port)
    const target = v.targetPort ?? (typeof v.entry?.targetPort === "number" ? v.entry.targetPort : undefined);
    const near = world.pods
      .filter((p) => p.metadata.namespace === ns && p.status?.podIP && !p.spec?.hostNetwork)
      .filter((p) => !(src.kind === "pod" && nameOf(src.pod) === nameOf(p)))
      .map((p) => ({
        p,
        missing: Object.fromEntries(Object.entries(selector).filter(([k, v]) => labelsOf(p)[k] !== v)),
        listens: target !== undefined && containerPorts(p).some((c) => c.containerPort === target),
      }))
      .sort(
        (a, b) =>
          Number(b.listens) - Number(a.listens) ||
          Object.keys(a.missing).length - Object.keys(b.missing).length ||
          a.p.metadata.name!.localeCompare(b.p.metadata.name!),
      )
      .slice(0, 2);
    for (const { p, missing } of near) {
      out.push({
        what: `label pod ${nameOf(p)} ${kubectlLabels(missing)} (Service ${ns}/${name}'s selector ${kubectlLabels(selector)} matches no pod)`,
        how: `kubectl label pod -n ${ns} ${p.metadata.name} --overwrite ${kubectlLabels(missing)}`,
        size: Object.keys(missing).length,
        apply: async (kube) => {
          const c = await counterpart(kube, p);
          await kube.patch("pods", c.metadata.name!, ns, { metadata: { labels: missing } });
        },
      });
      const wanted = selectorOf(p);
      if (!Object.keys(wanted).length) continue;
      out.push({
        what: `set Service ${ns}/${name}'s selector to ${kubectlLabels(wanted)} (pod ${nameOf(p)}'s labels; ${kubectlLabels(selector)} matches no pod)`,
        how: `kubectl patch service -n ${ns} ${name} --type merge -p '${JSON.stringify({ spec: { selector: Object.fromEntries([...Object.keys(selector).map((k) => [k, null]), ...Object.entries(wanted)]) } })}'`,
        size: new Set([...Object.keys(selector), ...Object.keys(wanted)]).size,
        apply: (kube) =>
          kube
            .patch("services", name, ns, {
              spec: {
                selector: Object.fromEntries([
                  ...Object.keys(selector).map((k) => [k, null]),
                  ...Object.entries(wanted),
                ]),
              },
            })
            .then(() => {}),
      });
    }
  }
  // a ClusterIP is an address of the cluster's own networks: from outside, a Service needs an external one
  if (src.kind === "host" && d.via === "cluster-ip" && (svc.spec?.type ?? "ClusterIP") === "ClusterIP")
    out.push({
      what: `make Service ${ns}/${name} type LoadBalancer (its ClusterIP is not reachable from outside; the flow then goes to its load-balancer address)`,
      how: `kubectl patch service -n ${ns} ${name} -p '{"spec":{"type":"LoadBalancer"}}'`,
      size: 1,
      via: { lb: { namespace: ns, name } },
      apply: (kube) => kube.patch("services", name, ns, { spec: { type: "LoadBalancer" } }).then(() => {}),
    });
  return out;
}

/**
 * A pod reaching a host outside the pod network through the fabric: its namespace's pod network SNATed to the
 * compute's fabric address (kube-manager's ip_fabric_snat annotation), when it is not already.
 */
function fabricSnat(world: World, pod: KubeObject): Change[] {
  const ns = pod.metadata.namespace!;
  const nsObj = world.namespaces.find((n) => n.metadata.name === ns);
  if (nsObj?.metadata.annotations?.[IP_FABRIC_SNAT_ANNOTATION] === "true") return [];
  return [
    {
      what: `SNAT namespace ${ns}'s pod network to the fabric (${IP_FABRIC_SNAT_ANNOTATION}=true)`,
      how: `kubectl annotate namespace ${ns} ${IP_FABRIC_SNAT_ANNOTATION}=true --overwrite`,
      size: 1,
      apply: (kube) =>
        kube
          .patch("namespaces", ns, undefined, {
            metadata: { annotations: { [IP_FABRIC_SNAT_ANNOTATION]: "true" } },
          })
          .then(() => {}),
    },
  ];
}

/**
 * A host outside the pod network reaching a pod: a LoadBalancer Service over it, whose address (a floating IP
 * from kube-manager's public pool) is on the path from outside; the flow is then judged at that address.
 */
function exposeLoadBalancer(f: Flow, pod: KubeObject): Change[] {
  const selector = selectorOf(pod);
  if (!Object.keys(selector).length) return []; // a Service selects by labels: an unlabelled pod cannot be one's
  const ns = pod.metadata.namespace!;
  const name = `${pod.metadata.name}-lb`.slice(0, 63).replace(/-+$/, "");
  const cp = containerPorts(pod)[0];
  const port = f.port ?? cp?.containerPort ?? 80;
  const protocol = f.proto === "icmp" ? (cp?.protocol ?? "TCP") : f.proto.toUpperCase();
  const svc: KubeObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: { type: "LoadBalancer", selector, ports: [{ port, targetPort: port, protocol }] },
  };
  return [
    {
      what: `expose pod ${nameOf(pod)} as a LoadBalancer Service ${ns}/${name} (a pod's own address is not on the path from outside; the flow then goes to the Service's load-balancer address; its selector ${kubectlLabels(selector)} picks every pod so labelled)`,
      how: `kubectl expose pod -n ${ns} ${pod.metadata.name} --type LoadBalancer --name ${name} --port ${port} --target-port ${port} --protocol ${protocol}`,
      size: 3,
      via: { lb: { namespace: ns, name } },
      apply: (kube) => kube.create("services", svc, ns).then(() => {}),
    },
  ];
}

/** A Service's flow delivered to a member where nothing listens: the target ports the members listen on. */
function targetPortFixes(v: ServiceView, f: Flow): Change[] {
  if (!v.entry || !v.members.length) return [];
  const ns = v.svc.metadata.namespace!;
  const name = v.svc.metadata.name!;
  const listened = [
    ...new Set(
      containerPorts(v.members[0]!)
        .filter((c) => protoOf(c) === f.proto && c.containerPort !== v.targetPort)
        .map((c) => c.containerPort),
    ),
  ];
  return listened.map((port) => ({
    what: `set Service ${ns}/${name}'s targetPort for ${f.proto}/${f.port} to ${port} (nothing listens on ${v.targetPort} in ${nameOf(v.members[0]!)}; its containers listen on ${port})`,
    how: `kubectl patch service -n ${ns} ${name} --type json -p '[{"op":"replace","path":"/spec/ports/${v.index}/targetPort","value":${port}}]'`,
    size: 1,
    apply: async (kube) => {
      const cur = await kube.get("services", name, ns);
      const ports = [...(cur.spec?.ports ?? [])] as ServicePort[];
      ports[v.index] = { ...ports[v.index]!, targetPort: port };
      await kube.patch("services", name, ns, { spec: { ports } });
    },
  }));
}

/** Changes that might block a flow that gets through. */
function block(world: World, f: PolicyFlow): Change[] {
  const out: Change[] = [];
  const deny = (self: KubeObject, type: "Ingress" | "Egress"): Change => {
    const ns = self.metadata.namespace!;
    const p: KubeObject = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: `deny-${type.toLowerCase()}-${self.metadata.name}`.slice(0, 63), namespace: ns },
      spec: { podSelector: { matchLabels: selectorOf(self) }, policyTypes: [type] },
    };
    return {
      what: `a NetworkPolicy ${ns}/${p.metadata.name} isolating ${nameOf(self)} for ${type.toLowerCase()} (no rule)`,
      how: `kubectl apply -f - <<< '${JSON.stringify(p)}'`,
      size: 2,
      apply: (kube) => kube.create("networkpolicies", p, ns).then(() => {}),
    };
  };
  // Contrail's namespace isolation, on the end(s) that are pods
  for (const end of [f.dst, f.src].filter(isPod)) {
    const ns = end.metadata.namespace!;
    const nsObj = world.namespaces.find((n) => n.metadata.name === ns);
    if (ISOLATION_ANNOTATIONS.some((k) => nsObj?.metadata.annotations?.[k] === "true")) continue;
    out.push({
      what: `isolate namespace ${ns} (Contrail's ${ISOLATION} annotation)`,
      how: `kubectl annotate namespace ${ns} ${ISOLATION}=true --overwrite`,
      size: 1,
      apply: (kube) =>
        kube
          .patch("namespaces", ns, undefined, { metadata: { annotations: { [ISOLATION]: "true" } } })
          .then(() => {}),
    });
    if (end === f.dst) break; // the destination's namespace is the usual answer; the source's only without one
  }
  // a label the source carries that an admitting rule needs: removing it stops the match
  const { src, dst } = f;
  if (isPod(dst) && isPod(src) && src.metadata.namespace === dst.metadata.namespace)
    for (const np of policiesFor(world, dst, "Ingress"))
      for (const rule of (np.spec?.ingress ?? []) as {
        from?: { podSelector?: { matchLabels?: Labels } }[];
      }[])
        for (const peer of rule.from ?? []) {
          const need = Object.keys(peer.podSelector?.matchLabels ?? {}).filter(
            (k) => labelsOf(src)[k] === peer.podSelector!.matchLabels![k],
          );
          if (!need.length) continue;
          const key = need[0]!;
          out.push({
            what: `remove label ${key} from pod ${nameOf(src)} (NetworkPolicy ${nameOf(np)} admits it by that label)`,
            how: `kubectl label pod -n ${src.metadata.namespace} ${src.metadata.name} ${key}-`,
            size: 1,
            apply: async (kube, pods) => {
              await kube.patch("pods", pods.from!.metadata.name!, pods.from!.metadata.namespace, {
                metadata: { labels: { [key]: null } },
              });
            },
          });
        }
  if (isPod(dst)) out.push(deny(dst, "Ingress"));
  if (isPod(src) && !isPod(dst)) out.push(deny(src, "Egress"));
  return out;
}

// ---- verification --------------------------------------------------------------------------------------------

/** The pod of the copy that stands for `pod` of the original: the same name, else the same workload. */
async function counterpart(kube: KubeApi, pod: KubeObject): Promise<KubeObject> {
  const ns = pod.metadata.namespace!;
  const same = await kube.get("pods", pod.metadata.name!, ns).catch(() => undefined);
  if (same) return same;
  const gen = pod.metadata.generateName;
  const like = (await kube.list("pods", { namespace: ns })).items.find(
    (p) =>
      (gen && p.metadata.generateName === gen) ||
      JSON.stringify(selectorOf(p)) === JSON.stringify(selectorOf(pod)),
  );
  if (!like) throw new Error(`the copy has no pod like ${nameOf(pod)}`);
  return like;
}

/** Source ports the flow is tried from: a Service's ECMP member is picked by the flow's hash. */
const SPORTS = [40001, 47123, 52345, 60999];
const RANK: Record<ReachOutcome, number> = { dropped: 0, refused: 1, answered: 2 };

interface Observed {
  outcome: ReachOutcome;
  /** Some source ports got through and some not (the ECMP member decides). */
  mixed: boolean;
  /** Where it arrives and from which address, when the network changed them. */
  arrivals: string[];
  drop?: string;
}

/**
 * The flow's fate in `tb`: the least of its outcomes over a few source ports, each one packet through the
 * engines (the probe, as `ctb trace` sends it: its verdict is the datapath's own), and where it arrives by the
 * dry run's account of the NAT on the way. Off the simulated datapath one probe, its source port the kernel's.
 */
async function observe(
  tb: Testbed,
  from: string,
  toIp: string | undefined,
  f: Flow,
  srcIp?: string,
): Promise<Observed> {
  if (!toIp) return { outcome: "dropped", mixed: false, arrivals: [], drop: "no address to send to" };
  const req = { from, toIp, proto: f.proto, ...(f.port !== undefined ? { port: f.port } : {}) };
  const outcomes: ReachOutcome[] = [];
  let drop: string | undefined;
  for (const sport of tb.reachOutcome ? SPORTS : [undefined]) {
    const r = await tb.probe({ ...req, count: 1, ...(sport !== undefined ? { sport } : {}) });
    outcomes.push(r.received > 0 ? "answered" : r.refused > 0 ? "refused" : "dropped");
    if (r.drop && !drop) drop = `${r.drop.reason} at ${r.drop.where}`;
  }
  const seen = new Set<string>();
  for (const sport of tb.reachOutcome ? SPORTS : [])
    tb.reachOutcome!({ ...req, sport }, (a) =>
      seen.add(
        `arrives at ${a.endpoint} ${a.dip}${f.proto === "icmp" ? "" : `:${a.dport}`}${srcIp && a.sip !== srcIp ? ` from ${a.sip} (SNAT)` : ""}`,
      ),
    );
  const outcome = outcomes.reduce((a, b) => (RANK[b] < RANK[a] ? b : a));
  const mixed = outcomes.some((o) => o === "dropped") && outcomes.some((o) => o !== "dropped");
  return { outcome, mixed, arrivals: [...seen].sort(), ...(drop ? { drop } : {}) };
}

/** The flow's ends as `t` (the original or a copy) has them, and its fate there. */
async function observeIn(
  t: Testbed,
  src: Source,
  dst: Dest,
  f: Flow,
  via?: Change["via"],
): Promise<Observed> {
  const from = src.kind === "pod" ? nameOf(await counterpart(t.kube, src.pod)) : src.ref;
  let toIp: string | undefined;
  if (via) {
    const svc = await t.kube.get("services", via.lb.name, via.lb.namespace).catch(() => undefined);
    toIp = svc && lbAddress(svc);
  } else if (dst.kind === "pod") toIp = (await counterpart(t.kube, dst.pod)).status?.podIP;
  else if (dst.kind === "host") toIp = dst.ip;
  else {
    const svc = await t.kube
      .get("services", dst.svc.metadata.name!, dst.svc.metadata.namespace)
      .catch(() => undefined);
    const v = dst.via;
    toIp = !svc ? undefined : v === "cluster-ip" ? svc.spec?.clusterIP : v === "lb" ? lbAddress(svc) : dst.ip;
  }
  return observe(t, from, toIp, f, src.kind === "host" ? src.ip : src.pod.status?.podIP);
}

/**
 * `copy()` brings up a copy of the environment (the same scenario, to the same point) and resolves to its
 * testbed; it is closed after each candidate. Ends the user named wrongly throw WhyEndpointError.
 */
export async function why(tb: Testbed, copy: () => Promise<Testbed>, f: Flow): Promise<WhyResult> {
  if (f.proto !== "icmp" && f.port === undefined) throw new WhyEndpointError(`${f.proto} needs a port`);
  const world = await clusterWorld(tb);
  const src = await sourceOf(tb, world, f.from);
  const dst = await destOf(tb, world, f.to);
  const now = await observeIn(tb, src, dst, f);
  const through = now.outcome !== "dropped";
  const facts: string[] = [];
  if (now.mixed)
    facts.push(
      "some source ports get through and some do not: the ECMP member the flow's hash picks decides",
    );
  if (now.drop) facts.push(`dropped: ${now.drop}`);
  facts.push(...now.arrivals);

  // what the policies see: the member (after the DNAT, on the target port) or the address
  const view = dst.kind === "service" ? serviceView(world, dst.svc, f) : undefined;
  const member = dst.kind === "pod" ? dst.pod : view?.members[0];
  const srcEnd = src.kind === "pod" ? src.pod : src.ip;
  const policyFlow: PolicyFlow | undefined =
    dst.kind === "host"
      ? { proto: f.proto, ...(f.port !== undefined ? { port: f.port } : {}), src: srcEnd, dst: dst.ip }
      : member && !(view && f.proto !== "icmp" && !view.entry)
        ? {
            proto: f.proto,
            ...((view ? view.targetPort : f.port) !== undefined
              ? { port: (view ? view.targetPort : f.port)! }
              : {}),
            src: srcEnd,
            dst: member,
          }
        : undefined;
  if (view) {
    const ns = nameOf(view.svc);
    if (f.proto !== "icmp" && !view.entry)
      facts.push(
        `Service ${ns} has no ${f.proto} port ${f.port} (its ports: ${((view.svc.spec?.ports ?? []) as ServicePort[]).map((p) => `${protoOf(p)}/${p.port}`).join(", ") || "none"})`,
      );
    if (!view.members.length)
      facts.push(
        `Service ${ns}'s selector ${kubectlLabels((view.svc.spec?.selector ?? {}) as Labels) || "(none)"} matches no running pod`,
      );
    else if (view.entry)
      facts.push(
        `its members (${view.members.map((m) => m.metadata.name).join(", ")}) get it on port ${view.targetPort ?? view.entry.targetPort}; their NetworkPolicies are asked about that port${view.members.length > 1 ? ` (${view.members[0]!.metadata.name} stands for them)` : ""}`,
      );
    const lb = lbAddress(view.svc);
    const ext = (view.svc.spec?.externalIPs ?? []) as string[];
    if (src.kind === "host" && dst.kind === "service" && dst.via === "cluster-ip" && (lb || ext.length))
      facts.push(
        `a ClusterIP is an address of the cluster's own networks; from ${src.ref} this Service is reached at ${lb ? `its load-balancer address ${lb} (lb:${ns})` : `its externalIP ${ext[0]}`}`,
      );
    else if (src.kind === "host" && dst.kind === "service" && dst.via === "cluster-ip")
      facts.push(
        `a ClusterIP is an address of the cluster's own networks: from ${src.ref} only an external address (type LoadBalancer, an externalIP) is on the path`,
      );
  }
  // where Kubernetes' NetworkPolicy semantics answer otherwise, pod to pod (a Service's member) as reach asks:
  // from a host the path outside decides first (routes, the public network's policy), not NetworkPolicy alone
  if (policyFlow && isPod(policyFlow.dst) && src.kind === "pod") {
    const k = kubernetesVerdict(world, {
      from: isPod(policyFlow.src)
        ? { pod: policyFlow.src, ip: policyFlow.src.status?.podIP ?? "" }
        : { ip: policyFlow.src },
      to: { pod: policyFlow.dst, ip: policyFlow.dst.status?.podIP ?? "" },
      proto: f.proto,
      ...(policyFlow.port !== undefined ? { port: policyFlow.port } : {}),
    });
    if (k.allowed !== through)
      facts.push(
        `Kubernetes disagrees: NetworkPolicy semantics ${k.allowed ? "allow" : "deny"} it (${k.reason}); Contrail ${through ? "lets it through" : "drops it"}`,
      );
  }

  const goal: WhyResult["goal"] = !through
    ? "let through"
    : dst.kind === "service" && now.outcome === "refused" && view
      ? "answer"
      : "block";
  let candidates: Change[];
  if (goal === "answer") candidates = targetPortFixes(view!, f);
  else if (goal === "block") candidates = policyFlow ? block(world, policyFlow) : [];
  else {
    const namespaces = [src, ...(member ? [{ kind: "pod" as const, pod: member }] : [])]
      .filter((e): e is { kind: "pod"; pod: KubeObject } => e.kind === "pod")
      .map((e) => e.pod.metadata.namespace!);
    candidates = [
      ...annotationRemovals(world, namespaces),
      ...(src.kind === "pod" && dst.kind === "host" ? fabricSnat(world, src.pod) : []),
      ...(dst.kind === "service" ? serviceLetThrough(world, f, src, dst, view!) : []),
      ...(dst.kind === "pod" && src.kind === "host" ? exposeLoadBalancer(f, dst.pod) : []),
      ...(policyFlow ? policyLetThrough(world, policyFlow) : []),
    ];
  }
  candidates.sort((a, b) => a.size - b.size);
  const turned = (o: Observed) =>
    goal === "let through"
      ? o.outcome !== "dropped"
      : goal === "block"
        ? o.outcome === "dropped"
        : o.outcome === "answered";
  const changes: WhyResult["changes"] = [];
  const notEnough: WhyResult["notEnough"] = [];
  for (const c of candidates) {
    const t = await copy();
    try {
      const pods: CopyPods = {
        ...(src.kind === "pod" ? { from: await counterpart(t.kube, src.pod) } : {}),
        ...(member ? { to: await counterpart(t.kube, member) } : {}),
      };
      await c.apply(t.kube, pods);
      await t.settle();
      if (turned(await observeIn(t, src, dst, f, c.via)))
        changes.push({ what: c.what, how: c.how, size: c.size });
      else notEnough.push({ what: c.what, how: c.how });
    } finally {
      await t.close();
    }
  }
  return { flow: f, dest: describeDest(dst), through, outcome: now.outcome, goal, facts, changes, notEnough };
}

export function formatWhy(r: WhyResult): string {
  const f = r.flow;
  const fate =
    r.outcome === "dropped"
      ? "dropped"
      : r.outcome === "refused"
        ? "gets through (nothing listens there: refused)"
        : "gets through";
  const to = r.dest.startsWith("pod ") ? f.to : r.dest.startsWith(f.to) ? r.dest : `${f.to} (${r.dest})`;
  const lines = [`${f.from} → ${to} ${f.proto}${f.port !== undefined ? `/${f.port}` : ""}: ${fate}`];
  for (const fact of r.facts) lines.push(`  ${fact}`);
  const aim = r.goal === "block" ? "block it" : r.goal === "answer" ? "have it answered" : "let it through";
  if (r.changes.length) {
    lines.push(`  the smallest changes that would ${aim} (each verified in a copy of this environment):`);
    for (const [i, c] of r.changes.entries()) lines.push(`  ${i + 1}. ${c.what}`, `       ${c.how}`);
  } else lines.push(`  no single change the testbed tried would ${aim}`);
  if (r.notEnough.length) {
    lines.push("  tried, not enough on its own:");
    for (const c of r.notEnough) lines.push(`   - ${c.what}`);
  }
  if (r.copyNote) lines.push(`  (${r.copyNote})`);
  return `${lines.join("\n")}\n`;
}
