/**
 * Kubernetes objects → desired Contrail objects, one function per unit kind (cluster, namespace, node, pod,
 * service). Pure: the same snapshot and configuration give the same objects, uuids and order.
 *
 * Example: `translatePod(layout, snap, view, "default/web")` → VM, VMI, instance-ip and the
 * virtual-router → VM edge for pod default/web.
 */
import type { NamespaceObject, NodeObject, PodObject, ServiceObject } from "../kube/objects";
import { type ManagedType, parentTypeOf } from "../contrail-types";
import { defaultDeny, type R4Policy, r4PodSecurityGroups } from "./netpol-r4";
import { escapeLabel, upstreamPodLabels, upstreamPolicyTags } from "./netpol-upstream";
import { memberTag, serviceAndIngressTags } from "./service-tags";
import { attachmentNetwork, nadNetwork, nadsIn, NETWORKS_ANNOTATION, parsePodNetworks } from "./multinet";
import type { KubeObject } from "../kube/api";
import { GSC, IP_FABRIC_VN, type Layout, NETWORK_ANNOTATION, parseNetworkAnnotation } from "./layout";
import { fqUuid, type KeyValue, ownerAnnotations, tagName, unitKey, uuid5 } from "./names";
import type {
  DesiredEdge,
  DesiredListEntry,
  DesiredObject,
  DesiredRef,
  KubeSnapshot,
  NestedHost,
  SubnetOf,
  UnitDesired,
  UuidOf,
  VncView,
} from "./types";

export class UnitBuilder {
  readonly objects: DesiredObject[] = [];
  readonly edges: DesiredEdge[] = [];
  readonly entries: DesiredListEntry[] = [];
  readonly warnings: string[] = [];
  readonly external: { type: string; fq_name: string[] }[] = [];
  blocked?: string;
  blockedExternally?: boolean;
  constructor(
    readonly layout: Layout,
    readonly key: string,
  ) {}

  add(
    type: ManagedType,
    fq: string[],
    props: Record<string, unknown>,
    refs: Record<string, DesiredRef[]> = {},
    opts: { uuid?: string; annotations?: KeyValue[]; createOnly?: Record<string, unknown> } = {},
  ): DesiredObject {
    const o: DesiredObject = {
      type,
      fq_name: fq,
      uuid: opts.uuid ?? fqUuid(this.layout.c, type, fq),
      props: {
        ...props,
        display_name: fq[fq.length - 1],
        annotations: ownerAnnotations(
          this.layout.c,
          this.key,
          opts.annotations,
          this.layout.cfg.clusterOwner,
        ),
      },
      refs,
    };
    const parent = parentTypeOf(type);
    if (parent) o.parent_type = parent;
    if (opts.createOnly) o.createOnly = opts.createOnly;
    this.objects.push(o);
    return o;
  }
  warn = (m: string) => {
    this.warnings.push(m);
  };
  done(): UnitDesired {
    return {
      key: this.key,
      objects: this.objects,
      edges: this.edges,
      ...(this.entries.length ? { entries: this.entries } : {}),
      warnings: this.warnings,
      ...(this.blocked ? { blocked: this.blocked } : {}),
      ...(this.blockedExternally ? { blockedExternally: true } : {}),
      ...(this.external.length ? { external: this.external } : {}),
    };
  }
}

const ref = (to: string[], attr?: unknown): DesiredRef => (attr === undefined ? { to } : { to, attr });
const ipamRef = (ipam: string[]): DesiredRef => ({
  to: ipam,
  attr: { ipam_subnets: [] },
  compareAttr: false,
});
const POLICY_SEQ = { sequence: { major: 0, minor: 0 } };
const subnetOf = (vn: string[], ipam: string[]): SubnetOf => ({ $subnetOf: { vn, ipam } });
const ANY_PORT = [{ start_port: -1, end_port: -1 }];

function cidrSubnets(cidrs: string[]) {
  return {
    subnets: cidrs.map((c) => {
      const [ip, len] = c.split("/");
      return { subnet: { ip_prefix: ip, ip_prefix_len: Number(len) } };
    }),
  };
}

function policyRule(src: Record<string, string>, dst: Record<string, string>) {
  return {
    direction: "<>",
    protocol: "any",
    src_addresses: [src],
    src_ports: ANY_PORT,
    dst_addresses: [dst],
    dst_ports: ANY_PORT,
    action_list: { simple_action: "pass" },
  };
}

function flatIpam(b: UnitBuilder, fq: string[], cidrs: string[]) {
  b.add("network-ipam", fq, { ipam_subnet_method: "flat-subnet", ipam_subnets: cidrSubnets(cidrs) });
}

/** Read access (PERMS_R) in a `perms2.share` entry. */
export const PERMS_R = 4;

function clusterVn(
  b: UnitBuilder,
  fq: string[],
  ipams: string[][],
  policies: string[][],
  opts: { ipFabric?: boolean; snat?: boolean; share?: ShareEntry[]; adopted?: boolean } = {},
) {
  const props: Record<string, unknown> = { virtual_network_properties: { forwarding_mode: "l3" } };
  const createOnly: Record<string, unknown> = {};
  // a network named by cluster_pod_network / cluster_service_network may be the operator's: upstream's
  // `_create_network` leaves an existing one's allocation mode and fabric_snat as they are and only adds its
  // IPAM (and later its policies) to the refs it has
  (opts.adopted ? createOnly : props).address_allocation_mode = "flat-subnet-only";
  // ip-fabric forwarding wins: upstream sets fabric_snat only on a pod network that is not forwarded
  // (vnc_kubernetes.py `_create_network`, vnc_namespace.py `_create_isolated_ns_virtual_network`)
  if (opts.snat && !opts.ipFabric) (opts.adopted ? createOnly : props).fabric_snat = true;
  // the whole list: entries of namespaces gone or isolated since are dropped by the same write
  if (opts.share) props.perms2 = { share: opts.share };
  const refs: Record<string, DesiredRef[]> = {
    network_ipam_refs: ipams.map(ipamRef),
    network_policy_refs: policies.map((p) => ref(p, POLICY_SEQ)),
  };
  if (opts.ipFabric) refs.virtual_network_refs = [ref(IP_FABRIC_VN)];
  // r5: namespace networks carry the cluster's application tag (with secure_project, their project does)
  if (b.layout.r5 && !b.layout.secureProject) refs.tag_refs = [ref([applicationTag(b.layout)])];
  const vn = b.add("virtual-network", fq, props, refs, Object.keys(createOnly).length ? { createOnly } : {});
  if (opts.adopted) vn.refsSharedWith = { network_ipam_refs: "operator", network_policy_refs: "operator" };
}

export function applicationTag(layout: Layout): string {
  return tagName("application", layout.c);
}

/**
 * secure_project (r5): policy is enforced at the project, so the namespace's project carries the cluster's
 * application tag (vnc_namespace.py `vnc_namespace_add` sets the cluster APS's labels on it).
 */
function projectTags(layout: Layout): Record<string, DesiredRef[]> {
  return layout.secureProject ? { tag_refs: [ref([applicationTag(layout)])] } : {};
}

/** Pod identity tag for NetworkPolicy rules (see netpol.ts). */
export function identityTag(layout: Layout, pod: PodObject): string {
  return tagName("application", vmName(layout, pod.metadata.namespace!, pod.metadata.name!));
}

/** Pods with a Contrail interface: scheduled, not host-network. */
export function hasPort(p: PodObject): boolean {
  return !!p.spec?.nodeName && !p.spec?.hostNetwork && !!p.metadata.uid;
}

/**
 * Tags a pod's interface carries: (r5) its labels, its namespace's labels (they win on a shared key) and
 * `namespace=<ns>`, as kube-manager sets them; plus its identity tag if the kubernetes layout's policies name it.
 * Without `ns` only the pod's own labels and `namespace=<ns>` are given (the controller's tag-use counting).
 */
export function podTags(
  layout: Layout,
  pod: PodObject,
  involved: ReadonlySet<string>,
  ns?: NamespaceObject,
): string[] {
  const tags: string[] = [];
  if (layout.r5) for (const [k, v] of Object.entries(upstreamPodLabels(pod, ns))) tags.push(tagName(k, v));
  if (involved.has(`${pod.metadata.namespace}/${pod.metadata.name}`)) tags.push(identityTag(layout, pod));
  return tags.sort();
}

/**
 * Every tag in use: (r5) `application=<c>`, `namespace=<ns>` per namespace, one per pod label, `<c>-svc=<svc>`
 * per Service and `ingress=<c>-<ns>-<name>` per Ingress (service-tags.ts); identity
 * tags of pods NetworkPolicies name (both models). Shared by many units, so owned by this one.
 */
export function translateTags(
  layout: Layout,
  snap: KubeSnapshot,
  involved: ReadonlySet<string>,
): UnitDesired {
  const b = new UnitBuilder(layout, unitKey.tags());
  const names = new Set<string>();
  if (layout.r5) {
    names.add(applicationTag(layout));
    for (const [name, ns] of snap.namespaces) {
      names.add(tagName("namespace", name));
      // kube-manager turns every namespace label into a tag when the namespace appears, pods or not
      for (const [k, v] of Object.entries(ns.metadata.labels ?? {}))
        names.add(tagName(escapeLabel(k), escapeLabel(v)));
    }
  }
  // the upstream layout's rules name label tags whether or not a pod carries them (kube-manager creates them)
  if (layout.upstreamPolicies) for (const t of upstreamPolicyTags(layout, snap)) names.add(t);
  // `<c>-svc=<svc>` per Service, `ingress=<c>-<ns>-<name>` per Ingress (made with them, members or not)
  for (const t of serviceAndIngressTags(layout, snap)) names.add(t);
  for (const p of snap.pods.values())
    if (hasPort(p))
      for (const t of podTags(layout, p, involved, snap.namespaces.get(p.metadata.namespace!))) names.add(t);
  for (const n of [...names].sort()) {
    const eq = n.indexOf("=");
    b.add("tag", [n], { tag_type_name: n.slice(0, eq), tag_value: n.slice(eq + 1) });
  }
  return b.done();
}

interface ShareEntry {
  tenant: UuidOf;
  tenant_access: number;
}

/**
 * Read-only `perms2.share` entries a default network gets: one per non-isolated namespace's project (what
 * upstream adds when such a namespace appears and removes when it goes), sorted by project. The network's own
 * project has access anyway and gets none.
 */
export function defaultNetworkShares(layout: Layout, snap: KubeSnapshot, vn: string[]): ShareEntry[] {
  const owner = vn.slice(0, -1).join(":");
  const projects = new Set<string>();
  for (const ns of snap.namespaces.values()) {
    if (layout.isIsolated(ns, () => {})) continue;
    const p = layout.project(ns.metadata.name!);
    if (p.join(":") !== owner) projects.add(p.join(":"));
  }
  return [...projects].sort().map((p) => {
    const fq = p.split(":");
    return {
      tenant: { $uuidOf: { type: "project", fq, otherwise: fqUuid(layout.c, "project", fq) } },
      tenant_access: PERMS_R,
    };
  });
}

/** Cluster-wide objects: cluster projects, IPAMs, default networks and (r5) the classic network policies. */
export function translateCluster(layout: Layout, snap: KubeSnapshot): UnitDesired {
  const b = new UnitBuilder(layout, unitKey.cluster());
  const cfg = layout.cfg;
  for (const p of layout.clusterProjects()) b.add("project", p, {}, projectTags(layout));
  // kubernetes_cluster_domain is the operator's: upstream waits for it (vnc_kubernetes.py), nobody here makes it
  for (const d of new Set(layout.clusterProjects().map((p) => p[0])))
    b.external.push({ type: "domain", fq_name: [d] });
  flatIpam(b, layout.podIpam(), cfg.podSubnets);
  flatIpam(b, layout.serviceIpam(), cfg.serviceSubnets);
  if (!layout.r5) {
    const cn = layout.clusterNetwork();
    clusterVn(b, cn, [layout.podIpam(), layout.serviceIpam()], [], {
      share: defaultNetworkShares(layout, snap, cn),
    });
    b.add("floating-ip-pool", layout.clusterFipPool(), {
      floating_ip_pool_subnets: { subnet_uuid: [subnetOf(cn, layout.podIpam())] },
    });
    return b.done();
  }
  flatIpam(b, layout.ipFabricIpam(), cfg.ipFabricSubnets);
  for (const entry of PORT_POOLS)
    b.entries.push({ ...PORT_POOL_LIST, holder: [...PORT_POOL_LIST.holder], entry });
  const podVn = layout.defaultPodNetwork();
  const svcVn = layout.defaultServiceNetwork();
  const ipFabricNp = layout.ipFabricPolicy();
  const serviceNp = layout.servicePolicy();
  const podServiceNp = layout.podServicePolicy("default");
  b.add("network-policy", ipFabricNp, {
    network_policy_entries: {
      policy_rule: [
        policyRule({ network_policy: ipFabricNp.join(":") }, { virtual_network: IP_FABRIC_VN.join(":") }),
      ],
    },
  });
  b.add("network-policy", serviceNp, {
    network_policy_entries: {
      policy_rule: [
        policyRule({ network_policy: serviceNp.join(":") }, { virtual_network: svcVn.join(":") }),
      ],
    },
  });
  // `<c>-default-pod-service-np` is also the `default` namespace's policy: when that namespace has networks of
  // its own (cluster_pod_network names the default one otherwise), upstream's namespace add rewrites the policy
  // for them; one unit owns it, with the rule it ends up with
  const defaultNs = snap.namespaces.get("default");
  const [npPod, npSvc] =
    defaultNs && layout.ownsIsolatedNetworks(defaultNs, () => {})
      ? [layout.isolatedPodNetwork("default"), layout.isolatedServiceNetwork("default")]
      : [podVn, svcVn];
  b.add("network-policy", podServiceNp, {
    network_policy_entries: {
      policy_rule: [policyRule({ virtual_network: npPod.join(":") }, { virtual_network: npSvc.join(":") })],
    },
  });
  const fwd = { ipFabric: cfg.ipFabricForwarding, snat: cfg.ipFabricSnat };
  clusterVn(b, podVn, [layout.podIpamFor(fwd.ipFabric)], [ipFabricNp, podServiceNp], {
    ...fwd,
    share: defaultNetworkShares(layout, snap, podVn),
    adopted: cfg.clusterPodNetwork !== undefined,
  });
  clusterVn(b, svcVn, [layout.serviceIpam()], [ipFabricNp, serviceNp, podServiceNp], {
    share: defaultNetworkShares(layout, snap, svcVn),
    adopted: cfg.clusterServiceNetwork !== undefined,
  });
  b.edges.push({
    fromType: "virtual-network",
    from: IP_FABRIC_VN,
    refType: "network-policy",
    to: ipFabricNp,
    attr: POLICY_SEQ,
  });
  if (layout.nested) {
    // vnc_kubernetes.py: nested mode attaches `<c>-nested-underlay-np` (policy ↔ the underlay) to the VMs' network
    const np = layout.nestedUnderlayPolicy();
    const underlay = layout.nestedUnderlay();
    b.add("network-policy", np, {
      network_policy_entries: {
        policy_rule: [policyRule({ network_policy: np.join(":") }, { virtual_network: underlay.join(":") })],
      },
    });
    b.edges.push({
      fromType: "virtual-network",
      from: underlay,
      refType: "network-policy",
      to: np,
      attr: POLICY_SEQ,
    });
  }
  return b.done();
}

/** Per namespace: its project, default security group and, when isolated, its own network(s). */
export function translateNamespace(layout: Layout, snap: KubeSnapshot, name: string): UnitDesired {
  const b = new UnitBuilder(layout, unitKey.namespace(name));
  const ns = snap.namespaces.get(name);
  if (!ns) return b.done();
  const project = layout.project(name);
  parseNetworkAnnotation(ns.metadata.annotations?.[NETWORK_ANNOTATION], `namespace ${name}`, b.warn);
  if (!layout.isClusterProject(project)) {
    b.add("project", project, {}, projectTags(layout));
    b.external.push({ type: "domain", fq_name: [project[0]] });
  }
  if (layout.r5)
    b.add("security-group", layout.securityGroup(name), {
      security_group_entries: allowAllRules(layout.securityGroup(name)),
    });
  else {
    // r4 (vnc_namespace.py `_update_security_groups`): the default group, whose ingress a v1beta1 DefaultDeny
    // annotation removes (in the security-group layout, the only one where it means anything), and the
    // namespace group standing for the namespace's pods in NetworkPolicy rules
    const deny = layout.r4SecurityGroups && defaultDeny(ns, b.warn);
    b.add("security-group", layout.securityGroup(name), {
      security_group_entries: r4DefaultRules(layout.securityGroup(name), !deny),
    });
    b.add("security-group", layout.namespaceSecurityGroup(name), {
      security_group_entries: { policy_rule: [] },
    });
  }
  nadNetworks(b, layout, snap, name);
  if (!layout.ownsIsolatedNetworks(ns, b.warn)) {
    // still validate the other annotations so bad values are reported once, on the namespace
    layout.forwarding(ns, b.warn);
    return b.done();
  }
  const fwd = layout.forwarding(ns, b.warn);
  const podVn = layout.isolatedPodNetwork(name);
  if (!layout.r5) {
    clusterVn(b, podVn, [layout.podIpam()], []);
    return b.done();
  }
  const svcVn = layout.isolatedServiceNetwork(name);
  const np = layout.podServicePolicy(name);
  // the `default` namespace's policy is the cluster's `<c>-default-pod-service-np`, owned by the cluster unit
  if (name !== "default")
    b.add("network-policy", np, {
      network_policy_entries: {
        policy_rule: [policyRule({ virtual_network: podVn.join(":") }, { virtual_network: svcVn.join(":") })],
      },
    });
  clusterVn(
    b,
    podVn,
    [layout.podIpamFor(fwd.ipFabric)],
    [np, layout.ipFabricPolicy(), layout.servicePolicy()],
    fwd,
  );
  clusterVn(b, svcVn, [layout.serviceIpam()], [np, layout.ipFabricPolicy()]);
  return b.done();
}

/**
 * The namespace's NetworkAttachmentDefinitions with a CIDR, as vnc_network.py makes them: the IPAM (no subnets
 * of its own) and the network with the CIDR on its IPAM ref; an invalid one is reported and makes nothing.
 */
function nadNetworks(b: UnitBuilder, layout: Layout, snap: KubeSnapshot, ns: string): void {
  for (const nad of nadsIn(snap, ns)) {
    const net = nadNetwork(layout, nad);
    if (net.kind === "invalid") {
      b.warn(`network-attachment-definition ${ns}/${nad.metadata.name}: ${net.why}`);
      continue;
    }
    if (net.kind !== "cidr") continue;
    b.add("network-ipam", net.ipam, {});
    const refs: Record<string, DesiredRef[]> = {
      network_ipam_refs: [
        {
          to: net.ipam,
          attr: {
            ipam_subnets: net.subnets.map((s) => ({
              subnet: { ip_prefix: s.ip, ip_prefix_len: s.len },
              default_gateway: s.gateway,
            })),
          },
          // upstream creates the network once and leaves it (vnc_network.py: "TODO: Handle Network update")
          compareAttr: false,
        },
      ],
    };
    if (net.ipFabric) refs.virtual_network_refs = [ref(IP_FABRIC_VN)];
    b.add(
      "virtual-network",
      net.vn,
      {
        address_allocation_mode: "user-defined-subnet-only",
        virtual_network_properties: { forwarding_mode: "l2_l3" },
        // ip-fabric forwarding wins over SNAT, as in `_create_virtual_network`
        fabric_snat: !net.ipFabric && net.snat,
      },
      refs,
    );
  }
}

const ALL_V4 = { subnet: { ip_prefix: "0.0.0.0", ip_prefix_len: 0 } };
const ALL_V6 = { subnet: { ip_prefix: "::", ip_prefix_len: 0 } };

/** r4 default group rules in upstream's order: ingress v4, v6 (unless isolated), egress v4, v6. */
function r4DefaultRules(sg: string[], ingress: boolean) {
  const local = { security_group: "local" };
  const ports = [{ start_port: 0, end_port: 65535 }];
  const rule = (dir: "ingress" | "egress", ethertype: "IPv4" | "IPv6") => {
    const all = ethertype === "IPv4" ? ALL_V4 : ALL_V6;
    return {
      rule_uuid: uuid5(fqUuid("sg", "rule", sg), `${dir}/${ethertype}`),
      direction: ">",
      protocol: "any",
      src_addresses: [dir === "ingress" ? all : local],
      src_ports: ports,
      dst_addresses: [dir === "ingress" ? local : all],
      dst_ports: ports,
      ethertype,
    };
  };
  const rules = ingress ? [rule("ingress", "IPv4"), rule("ingress", "IPv6")] : [];
  return { policy_rule: [...rules, rule("egress", "IPv4"), rule("egress", "IPv6")] };
}

function allowAllRules(sg: string[]) {
  const local = { security_group: "local" };
  const rules = [];
  for (const [ethertype, prefix] of [
    ["IPv4", "0.0.0.0"],
    ["IPv6", "::"],
  ] as const) {
    const all = { subnet: { ip_prefix: prefix, ip_prefix_len: 0 } };
    const base = { direction: ">", protocol: "any", action_list: { simple_action: "pass" }, ethertype };
    const ports = [{ start_port: 0, end_port: 65535 }];
    rules.push({
      ...base,
      rule_uuid: uuid5(fqUuid("sg", "rule", sg), `ingress/${ethertype}`),
      src_addresses: [all],
      src_ports: ports,
      dst_addresses: [local],
      dst_ports: ports,
    });
    rules.push({
      ...base,
      rule_uuid: uuid5(fqUuid("sg", "rule", sg), `egress/${ethertype}`),
      src_addresses: [local],
      src_ports: ports,
      dst_addresses: [all],
      dst_ports: ports,
    });
  }
  return { policy_rule: rules };
}

function internalIp(node: NodeObject): string | undefined {
  const addrs: { type: string; address: string }[] = node.status?.addresses ?? [];
  return addrs.find((a) => a.type === "InternalIP")?.address;
}

function routerOwnedByOthers(view: VncView, nodeName: string, ip: string | undefined): string[] | undefined {
  return view.routersByName.get(nodeName) ?? (ip ? view.routersByIp.get(ip) : undefined);
}

/** Per node: a virtual-router named after the node, unless one exists already (by name or address). */
export function translateNode(layout: Layout, snap: KubeSnapshot, view: VncView, name: string): UnitDesired {
  const b = new UnitBuilder(layout, unitKey.node(name));
  const node = snap.nodes.get(name);
  if (!node) return b.done();
  const ip = internalIp(node);
  if (routerOwnedByOthers(view, name, ip)) return b.done();
  if (!ip) {
    b.warn(`node ${name}: no InternalIP address; no virtual-router created`);
    return b.done();
  }
  b.add("virtual-router", [GSC, name], { virtual_router_ip_address: ip });
  return b.done();
}

/** The virtual-router a pod's VM must be attached to: by hostIP, else by node name. */
function routerFor(snap: KubeSnapshot, view: VncView, pod: PodObject): string[] | undefined {
  const hostIp: string | undefined = pod.status?.hostIP;
  const nodeName = pod.spec?.nodeName ?? ""; // hasPort() checked it
  const byIp = hostIp ? view.routersByIp.get(hostIp) : undefined;
  if (byIp) return byIp;
  const node = snap.nodes.get(nodeName);
  const foreign = routerOwnedByOthers(view, nodeName, node ? internalIp(node) : undefined);
  if (foreign) return foreign;
  if (node && internalIp(node)) {
    return [GSC, nodeName];
  }
  return undefined;
}

/** The groups every pod and load-balancer VMI of a namespace refs: r5 its default group, r4 also `<c>-<ns>-sg`. */
function namespaceGroups(layout: Layout, ns: string): string[][] {
  return layout.r5
    ? [layout.securityGroup(ns)]
    : [layout.securityGroup(ns), layout.namespaceSecurityGroup(ns)];
}

/** The networks this cluster's units create (default networks, isolated namespaces' networks). */
function clusterNetworks(layout: Layout, snap: KubeSnapshot): Set<string> {
  const out = new Set([layout.defaultPodNetwork().join(":"), layout.defaultServiceNetwork().join(":")]);
  for (const ns of snap.namespaces.values())
    if (layout.ownsIsolatedNetworks(ns, () => {})) {
      out.add(layout.isolatedPodNetwork(ns.metadata.name!).join(":"));
      if (layout.r5) out.add(layout.isolatedServiceNetwork(ns.metadata.name!).join(":"));
    }
  return out;
}

export function vmName(layout: Layout, ns: string, pod: string): string {
  return `${layout.c}__${ns}__${pod}`;
}

/** Identity of a pod's primary interface (deterministic from the pod uid). */
export function podVmiUuid(podUid: string): string {
  return uuid5(podUid, "vmi/0");
}

/** Per pod: virtual-machine, its interface, instance-ip, (r4 isolated) floating IP, and the vrouter ref. */
export function translatePod(
  layout: Layout,
  snap: KubeSnapshot,
  view: VncView,
  key: string,
  involved: ReadonlySet<string>,
  r4Policies: R4Policy[] = [],
  services: readonly string[] = [],
): UnitDesired {
  const [nsName, podName] = key.split("/");
  const b = new UnitBuilder(layout, unitKey.pod(nsName, podName));
  const pod = snap.pods.get(key);
  if (!pod || !hasPort(pod)) return b.done();
  const ns = snap.namespaces.get(nsName);
  if (!ns) {
    b.blocked = `pod ${key}: namespace ${nsName} is not known yet`;
    return b.done();
  }
  // nested mode: the pod lives in a VM; its interface hangs off the VM's (vnc_pod.py `_get_host_vmi`)
  const nested = layout.nested ? nestedPlacement(layout, snap, view, pod) : undefined;
  if (typeof nested === "string") {
    b.blocked = `pod ${key}: ${nested}`;
    b.blockedExternally = true;
    return b.done();
  }
  const router = nested ? nestedRouter(view, nested.host.hostId) : routerFor(snap, view, pod);
  if (!router) {
    b.blocked = `pod ${key}: no virtual-router for node ${pod.spec?.nodeName} (hostIP ${pod.status?.hostIP ?? "unset"})`;
    return b.done();
  }
  const net = layout.podNetwork(pod, ns, b.warn);
  warnAppLabel(pod.metadata.labels, `pod ${key}`, b.warn);
  // an annotated network none of this cluster's namespaces has: only someone else can create it
  if (
    net.source !== "default" &&
    net.source !== "isolated" &&
    !clusterNetworks(layout, snap).has(net.vn.join(":"))
  )
    b.external.push({ type: "virtual-network", fq_name: net.vn });
  // k8s.v1.cni.cncf.io/networks: one more interface per attachment, each on its definition's network
  const attachments = parsePodNetworks(pod.metadata.annotations?.[NETWORKS_ANNOTATION], nsName);
  if (typeof attachments === "string") {
    b.blocked = `pod ${key}: ${attachments}`;
    b.blockedExternally = true;
    return b.done();
  }
  const secondary: { name: string; interface?: string; vn: string[] }[] = [];
  for (const a of attachments) {
    const r = attachmentNetwork(layout, snap, a);
    if (typeof r === "string") {
      // a real node's Multus refuses the sandbox for the same reason: the pod stays Pending, nothing is made
      b.blocked = `pod ${key}: ${r}`;
      b.blockedExternally = true;
      return b.done();
    }
    if (r.existing && !clusterNetworks(layout, snap).has(r.vn.join(":")))
      b.external.push({ type: "virtual-network", fq_name: r.vn });
    secondary.push({ name: a.name, ...(a.interface ? { interface: a.interface } : {}), vn: r.vn });
  }
  if (nested && secondary.length)
    b.warn(
      `pod ${key}: nested mode gives only the default network's interface a VLAN; ${NETWORKS_ANNOTATION} is not applied`,
    );
  const total = nested ? 1 : 1 + secondary.length;
  const uid = pod.metadata.uid!;
  const vmFq = [vmName(layout, nsName, podName)];
  b.add("virtual-machine", vmFq, { server_type: "container" }, {}, { uuid: uid });
  const vmiFq = podVmiFq(layout, pod);
  const vmiName = vmiFq.at(-1)!;
  const vmiUuid = podVmiUuid(uid);
  // vnc_endpoints.py `_add_pod_to_service`: a Service member's VMI carries `<c>-svc=<svc>` too
  const svcTag = memberTag(layout, key, services, b.warn);
  b.add(
    "virtual-machine-interface",
    vmiFq,
    nested ? { virtual_machine_interface_properties: { sub_interface_vlan_tag: nested.vlan } } : {},
    {
      ...(nested ? { virtual_machine_interface_refs: [ref(nested.host.fq_name)] } : {}),
      virtual_network_refs: [ref(net.vn)],
      virtual_machine_refs: [ref(vmFq)],
      security_group_refs: namespaceGroups(layout, nsName)
        .concat(layout.r4SecurityGroups ? r4PodSecurityGroups(pod, r4Policies) : [])
        .map((g) => ref(g)),
      tag_refs: podTags(layout, pod, involved, snap.namespaces.get(nsName))
        .concat(svcTag ? [svcTag] : [])
        .map((t) => ref([t])),
    },
    {
      uuid: vmiUuid,
      annotations: [
        { key: "index", value: `0/${total}` },
        { key: "network", value: net.source === "pod-annotation" ? net.vn.join(":") : "default" },
      ],
    },
  );
  const iipProps: Record<string, unknown> = { instance_ip_family: "v4" };
  if (net.ipam) iipProps.subnet_uuid = subnetOf(net.vn, net.ipam);
  b.add(
    "instance-ip",
    [vmiName],
    iipProps,
    { virtual_network_refs: [ref(net.vn)], virtual_machine_interface_refs: [ref(vmiFq)] },
    { uuid: uuid5(uid, "iip/0") },
  );
  if (!layout.r5 && net.source === "isolated") {
    // r4: an isolated pod reaches services and other namespaces through a floating IP on cluster-network
    b.add(
      "floating-ip",
      [...layout.clusterFipPool(), vmiName],
      { floating_ip_traffic_direction: "both" },
      { virtual_machine_interface_refs: [ref(vmiFq)], project_refs: [ref(layout.project(nsName))] },
      { uuid: uuid5(uid, "fip/0") },
    );
  }
  // vnc_pod.py `vnc_pod_add`: the attachments' interfaces in order, index i/N, with the primary's groups and tags
  if (!nested)
    for (const [n, a] of secondary.entries()) {
      const i = n + 1;
      const uuid = uuid5(uid, `vmi/${i}`);
      const fq = [...layout.project(nsName), `${podName}__${uuid}`];
      b.add(
        "virtual-machine-interface",
        fq,
        {},
        {
          virtual_network_refs: [ref(a.vn)],
          virtual_machine_refs: [ref(vmFq)],
          security_group_refs: namespaceGroups(layout, nsName).map((g) => ref(g)),
          tag_refs: podTags(layout, pod, involved, snap.namespaces.get(nsName)).map((t) => ref([t])),
        },
        {
          uuid,
          annotations: [
            { key: "index", value: `${i}/${total}` },
            { key: "network", value: a.name },
            ...(a.interface ? [{ key: "interface", value: a.interface }] : []),
          ],
        },
      );
      b.add(
        "instance-ip",
        [fq.at(-1)!],
        { instance_ip_family: "v4" },
        { virtual_network_refs: [ref(a.vn)], virtual_machine_interface_refs: [ref(fq)] },
        { uuid: uuid5(uid, `iip/${i}`) },
      );
    }
  b.edges.push({ fromType: "virtual-router", from: router, refType: "virtual-machine", to: vmFq });
  // the VM's interface refs its sub-interface too (upstream adds the ref both ways)
  if (nested)
    b.edges.push({
      fromType: "virtual-machine-interface",
      from: nested.host.fq_name,
      refType: "virtual-machine-interface",
      to: vmiFq,
    });
  return b.done();
}

/** Seed 000 §3.3's app-isolation label (docs/architecture.md: only the pre-R4 kube-network-manager read it). */
export const APP_LABEL = "opencontrail.org/name";

/**
 * The label of seed 000 §3.3 ("a virtual network per app") is ignored by kube-manager (R4.0 on: no
 * vnc_*.py reads it); said once per object, since the seed promises isolation a user will not get.
 */
function warnAppLabel(
  labels: Record<string, string> | undefined,
  what: string,
  warn: (m: string) => void,
): void {
  const app = labels?.[APP_LABEL];
  if (app !== undefined)
    warn(
      `${what}: label ${APP_LABEL}=${app} is ignored, as kube-manager R4.0 and later ignore it (seed 000 §3.3 app isolation: no network per app); isolate apps with NetworkPolicies on a label without '/' (R5's NetworkPolicy target selector keeps the '/' that pods' tags escape)`,
    );
}

function podVmiFq(layout: Layout, pod: PodObject): string[] {
  return [
    ...layout.project(pod.metadata.namespace!),
    `${pod.metadata.name}__${podVmiUuid(pod.metadata.uid!)}`,
  ];
}

const MAX_VLAN = 4095;

/**
 * Nested mode: the pod's VM interface (the interface holding the pod's hostIP on the underlay, with a host_id
 * binding) and the VLAN tag of the pod's sub-interface: the one it has, else a free one of the VM interface's
 * VLAN space (config_db.py `alloc_vlan`: the lowest free, 1–4095). Pods of one VM still without a tag take the
 * free tags in creation order, so units translated side by side do not pick the same one. A string: why not.
 */
function nestedPlacement(
  layout: Layout,
  snap: KubeSnapshot,
  view: VncView,
  pod: PodObject,
): { host: NestedHost; vlan: number } | string {
  const hostIp = vmAddress(snap, pod);
  const under = layout.nestedUnderlay().join(":");
  if (!hostIp) return "nested mode: no hostIP yet (the address of the pod's VM)";
  const host = view.nested?.host(hostIp);
  if (!host)
    return `nested mode: no interface with address ${hostIp} on ${under} bound to a host (the pod's VM); waiting for it`;
  const have = view.nested!.vlanOf(podVmiFq(layout, pod));
  if (have !== undefined) return { host, vlan: have };
  // taken: what the last read of the config API saw, and what this controller's pods on that VM have since
  const onVm = [...snap.pods.values()].filter((p) => hasPort(p) && vmAddress(snap, p) === hostIp);
  const taken = new Set(host.vlans);
  for (const p of onVm) {
    const v = view.nested!.vlanOf(podVmiFq(layout, p));
    if (v !== undefined) taken.add(v);
  }
  const waiting = onVm
    .filter((p) => view.nested!.vlanOf(podVmiFq(layout, p)) === undefined)
    .sort(
      (a, b) =>
        created(a) - created(b) ||
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace}/${b.metadata.name}`,
        ),
    );
  let turn = waiting.findIndex((p) => p.metadata.uid === pod.metadata.uid);
  for (let vlan = 1; vlan <= MAX_VLAN; vlan++) if (!taken.has(vlan) && turn-- <= 0) return { host, vlan };
  return `nested mode: no free VLAN on ${host.fq_name.join(":")} (all ${MAX_VLAN} in use)`;
}

/** When the pod was created (ms; the API gives text, the typed models a Date). */
function created(p: PodObject): number {
  const t = p.metadata.creationTimestamp as Date | string | undefined;
  return t ? new Date(t).getTime() : 0;
}

/** The pod's hostIP: its status's, else its node's InternalIP (what the kubelet reports as hostIP first). */
function vmAddress(snap: KubeSnapshot, pod: PodObject): string | undefined {
  const node = snap.nodes.get(pod.spec?.nodeName ?? "");
  return pod.status?.hostIP ?? (node ? internalIp(node) : undefined);
}

/** The vrouter of the VM's host (host_id), by name, else ignoring a domain on either side (vnc_pod.py). */
function nestedRouter(view: VncView, hostId: string): string[] {
  const short = (n: string) => n.split(".")[0]!;
  const found =
    view.routersByName.get(hostId) ??
    [...view.routersByName.entries()].find(([n]) => short(n) === short(hostId))?.[1];
  return found ?? [GSC, hostId];
}

interface EndpointTarget {
  podUid: string;
  /** endpoint port by service port name ("" for an unnamed port) and protocol */
  ports: Map<string, number>;
}

/** Ready endpoints of a service from its EndpointSlices, else from its Endpoints (first subset). */
export function endpointTargets(snap: KubeSnapshot, svc: ServiceObject): EndpointTarget[] {
  const ns = svc.metadata.namespace!;
  const name = svc.metadata.name!;
  const out = new Map<string, EndpointTarget>();
  let sawSlice = false;
  for (const s of snap.endpointslices.values()) {
    if (s.metadata.namespace !== ns || s.metadata.labels?.["kubernetes.io/service-name"] !== name) continue;
    sawSlice = true;
    const ports = new Map<string, number>();
    for (const p of s.ports ?? [])
      if (typeof p.port === "number") ports.set(`${p.name ?? ""}/${p.protocol ?? "TCP"}`, p.port);
    for (const ep of s.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      const uid = ep.targetRef?.kind === "Pod" ? ep.targetRef.uid : undefined;
      if (!uid) continue;
      const t = out.get(uid) ?? { podUid: uid, ports: new Map() };
      for (const [k, v] of ports) t.ports.set(k, v);
      out.set(uid, t);
    }
  }
  if (!sawSlice) {
    const eps = snap.endpoints.get(`${ns}/${name}`);
    const subset = eps?.subsets?.[0];
    if (subset) {
      const ports = new Map<string, number>();
      for (const p of subset.ports ?? []) ports.set(`${p.name ?? ""}/${p.protocol ?? "TCP"}`, p.port);
      for (const a of subset.addresses ?? []) {
        const uid = a.targetRef?.kind === "Pod" ? a.targetRef.uid : undefined;
        if (uid) out.set(uid, { podUid: uid, ports: new Map(ports) });
      }
    }
  }
  return [...out.values()].sort((x, y) => (x.podUid < y.podUid ? -1 : 1));
}

/** Pod uid → pod (for member annotations and skipping host-network pods). */
export function podIndex(snap: KubeSnapshot): Map<string, KubeObject> {
  const m = new Map<string, KubeObject>();
  for (const p of snap.pods.values()) if (p.metadata.uid) m.set(p.metadata.uid, p);
  return m;
}

/** Per service: native loadbalancer, its VMI and VIP instance-ip, listeners, pools, members, external FIPs. */
export function translateService(
  layout: Layout,
  snap: KubeSnapshot,
  key: string,
  pods: ReadonlyMap<string, KubeObject>,
  view: VncView = { routersByIp: new Map(), routersByName: new Map() },
): UnitDesired {
  const [nsName, svcName] = key.split("/");
  const b = new UnitBuilder(layout, unitKey.service(nsName, svcName));
  const svc = snap.services.get(key);
  if (!svc?.metadata.uid) return b.done();
  const spec = svc.spec ?? {};
  const clusterIP: string | undefined = spec.clusterIP;
  if (spec.type === "ExternalName" || !clusterIP || clusterIP === "None") return b.done();
  const ns = snap.namespaces.get(nsName);
  if (!ns) {
    b.blocked = `service ${key}: namespace ${nsName} is not known yet`;
    return b.done();
  }
  const uid: string = svc.metadata.uid;
  const net = layout.serviceNetwork(ns);
  const project = layout.project(nsName);
  const lbName = `${svcName}__${uid}`;
  const vmiName = `${layout.c}__Service__${svcName}__${uid}`;
  const vmiFq = [...project, vmiName];
  b.add(
    "virtual-machine-interface",
    vmiFq,
    { virtual_machine_interface_device_owner: "K8S:LOADBALANCER" },
    {
      virtual_network_refs: [ref(net.vn)],
      security_group_refs: namespaceGroups(layout, nsName).map((g) => ref(g)),
    },
    { uuid: uuid5(uid, "lb-vmi") },
  );
  // loadbalancer.py `_create_virtual_interface`: the VIP instance-ip is `<svc>__<its uuid>` (upstream's tests find
  // a service's VIP by the name's first part)
  const vipUuid = uuid5(uid, "vip");
  b.add(
    "instance-ip",
    [`${svcName}__${vipUuid}`],
    { instance_ip_family: "v4" },
    { virtual_network_refs: [ref(net.vn)], virtual_machine_interface_refs: [ref(vmiFq)] },
    { uuid: vipUuid, createOnly: { instance_ip_address: clusterIP } },
  );
  const lbFq = [...project, lbName];
  b.add(
    "loadbalancer",
    lbFq,
    {
      loadbalancer_provider: "native",
      loadbalancer_properties: {
        vip_address: clusterIP,
        vip_subnet_id: subnetOf(net.vn, net.ipam!),
        admin_state: true,
      },
    },
    { virtual_machine_interface_refs: [ref(vmiFq)] },
    { uuid: uid },
  );

  const targets = endpointTargets(snap, svc).filter((t) => {
    const p = pods.get(t.podUid);
    return p && p.metadata.namespace === nsName && !p.spec?.hostNetwork;
  });
  for (const port of spec.ports ?? []) {
    const proto: string = port.protocol ?? "TCP";
    // loadbalancer.py: a listener's and a pool's protocol is TCP, else UDP (the default): an SCTP port becomes a
    // UDP listener, still named after the port's protocol
    const lbProto = proto === "TCP" ? "TCP" : "UDP";
    if (proto !== lbProto)
      b.warn(
        `service ${key}: port ${port.port}/${proto}: the native load balancer has TCP and UDP only; kube-manager makes it a ${lbProto} listener`,
      );
    const lUuid = uuid5(uid, `listener/${proto}/${port.port}`);
    const listenerFq = [...project, `${lbName}-${proto}-${port.port}-${lUuid}`];
    b.add(
      "loadbalancer-listener",
      listenerFq,
      {
        loadbalancer_listener_properties: { protocol: lbProto, protocol_port: port.port, admin_state: true },
      },
      { loadbalancer_refs: [ref(lbFq)] },
      // loadbalancer.py: a named port's listener carries `portName` (vnc_endpoints.py matches endpoint ports by it)
      { uuid: lUuid, ...(port.name ? { annotations: [{ key: "portName", value: port.name }] } : {}) },
    );
    // loadbalancer.py ServiceLbPoolManager.create: the pool is named after its listener
    const poolFq = [...project, listenerFq[listenerFq.length - 1]];
    b.add(
      "loadbalancer-pool",
      poolFq,
      {
        loadbalancer_pool_provider: "native",
        loadbalancer_pool_properties: {
          protocol: lbProto,
          loadbalancer_method: "ROUND_ROBIN",
          admin_state: true,
        },
      },
      { loadbalancer_listener_refs: [ref(listenerFq)] },
      { uuid: uuid5(uid, `pool/${proto}/${port.port}`) },
    );
    for (const t of targets) {
      const epPort = t.ports.get(`${port.name ?? ""}/${proto}`);
      if (epPort === undefined) continue;
      const mUuid = uuid5(uid, `member/${proto}/${port.port}/${t.podUid}`);
      b.add(
        "loadbalancer-member",
        [...poolFq, mUuid],
        { loadbalancer_member_properties: { protocol_port: epPort, weight: 1, admin_state: true } },
        {},
        {
          uuid: mUuid,
          annotations: [
            { key: "vmi", value: podVmiUuid(t.podUid) },
            { key: "vm", value: t.podUid },
          ],
        },
      );
    }
  }

  if (svcName === layout.cfg.kubernetesServiceName)
    b.entries.push(...linkLocalEntries(layout, nsName, svcName, clusterIP, spec.ports ?? []));

  // vnc_service.py `_update_service_public_ip`: a LoadBalancer gets its loadBalancerIP, else its externalIPs,
  // else one address the pool picks; a ClusterIP service its externalIPs; other types none
  const external: string[] = [...(spec.externalIPs ?? [])];
  const type = spec.type ?? "ClusterIP";
  const isLb = type === "LoadBalancer";
  const addrs: (string | undefined)[] = isLb
    ? spec.loadBalancerIP
      ? [spec.loadBalancerIP]
      : external.length
        ? external
        : [undefined]
    : type === "ClusterIP"
      ? external
      : [];
  if (external.length && type !== "ClusterIP" && !isLb)
    b.warn(
      `service ${key}: externalIPs on a ${type} service: kube-manager gives floating IPs to ClusterIP and LoadBalancer services only; none`,
    );
  if (addrs.length) {
    const fipName = (addr: string | undefined) => `${lbName}${addr ?? "None"}-externalIP`;
    const pool = layout.fipPool(svc, ns, b.warn, view.exists, (p) =>
      addrs.some((a) => view.exists?.("floating-ip", [...p, fipName(a)])),
    );
    if (!pool) {
      b.warn(
        `service ${key}: ${isLb ? "type LoadBalancer" : "externalIPs"} but no floating-ip pool (annotation or public_fip_pool); no external address`,
      );
    } else {
      const poolFq = [pool.domain, pool.project, pool.network, pool.name];
      addrs.forEach((addr) => {
        // vnc_service.py `_allocate_floating_ip`: `<lb name><address>-externalIP` (`None` when the pool picks it)
        const fip = b.add(
          "floating-ip",
          [...poolFq, fipName(addr)],
          {},
          { virtual_machine_interface_refs: [ref(vmiFq)], project_refs: [ref(project)] },
          {
            uuid: uuid5(uid, `externalIP/${addr ?? "None"}`),
            // svc-monitor's native driver then owns the direction and adds the member VMIs (kube-manager
            // writes the floating IP once, on allocation)
            createOnly: {
              floating_ip_traffic_direction: "both",
              ...(addr ? { floating_ip_address: addr } : {}),
            },
          },
        );
        fip.refsSharedWith = { virtual_machine_interface_refs: "svc-monitor" };
        // vnc_service.py `_allocate_floating_ips`: a pool that cannot be read is warned about ("public_fip_pool
        // doesn't exists") and the service goes on without an external address
        fip.optional = `service ${key}: no floating IP${addr ? ` ${addr}` : ""} from pool ${poolFq.join(":")}`;
      });
    }
  }
  return b.done();
}

/** Where kube-manager keeps link-local services: `default-global-vrouter-config`'s `linklocal_services`. */
export const LINK_LOCAL_LIST = {
  holderType: "global-vrouter-config",
  holder: [GSC, "default-global-vrouter-config"],
  prop: "linklocal_services",
  list: "linklocal_service_entry",
  keyField: "linklocal_service_name",
} as const;

/**
 * r5: the fabric-SNAT port translation pools kube-manager writes into default-global-vrouter-config at start
 * (vnc_kubernetes.py `_allocate_fabric_snat_port_translation_pools`): TCP 56000–57023, UDP 57024–58047, one
 * entry per protocol, owned by the cluster unit.
 */
export const PORT_POOL_LIST = {
  holderType: "global-vrouter-config",
  holder: [GSC, "default-global-vrouter-config"],
  prop: "port_translation_pools",
  list: "port_translation_pool",
  keyField: "protocol",
} as const;

const PORT_POOLS = [
  { protocol: "tcp", port_range: { start_port: 56000, end_port: 57023 } },
  { protocol: "udp", port_range: { start_port: 57024, end_port: 58047 } },
];

/** The cluster unit's port pool entries; a scan gives an entry back to it when it is one of them. */
export function portPoolOwner(layout: Layout, entry: Record<string, unknown>): string | undefined {
  if (!layout.r5) return undefined;
  const mine = PORT_POOLS.find((p) => p.protocol === entry.protocol);
  return mine && JSON.stringify(mine.port_range) === JSON.stringify(entry.port_range)
    ? unitKey.cluster()
    : undefined;
}

/**
 * The kubernetes Service's link-local services (vnc_service.py `_create_link_local_service`,
 * link_local_manager.py `create_link_local_service_entry`): one per service port, named
 * `<project fq_name joined by '-'>-<svc>-<port>` (two ports of one number share the entry), from the ClusterIP
 * and port to the API server's secure port; an API server that is not an IPv4 address is a DNS name. None when
 * `api_service_link_local` is off or `kubernetes_api_server` empty.
 */
export function linkLocalEntries(
  layout: Layout,
  ns: string,
  svc: string,
  clusterIP: string,
  ports: { port: number }[],
): DesiredListEntry[] {
  const cfg = layout.cfg;
  if (!cfg.apiServiceLinkLocal || !cfg.kubernetesApiServer) return [];
  const isIp = /^\d{1,3}(\.\d{1,3}){3}$/.test(cfg.kubernetesApiServer);
  const byName = new Map<string, DesiredListEntry>();
  for (const p of ports) {
    const name = linkLocalName(layout, ns, `${svc}-${p.port}`);
    byName.set(name, {
      ...LINK_LOCAL_LIST,
      holder: [...LINK_LOCAL_LIST.holder],
      entry: {
        linklocal_service_name: name,
        linklocal_service_ip: clusterIP,
        linklocal_service_port: p.port,
        ip_fabric_DNS_service_name: isIp ? "" : cfg.kubernetesApiServer,
        ip_fabric_service_ip: [isIp ? cfg.kubernetesApiServer : ""],
        ip_fabric_service_port: cfg.kubernetesApiSecurePort,
      },
    });
  }
  return [...byName.values()];
}

/** link_local_manager.py `_get_linklocal_entry_name`: the project's fq_name and the name, joined by '-'. */
export function linkLocalName(layout: Layout, ns: string, name: string): string {
  return [...layout.project(ns), name].join("-");
}

/**
 * The Service unit a link-local entry of this cluster belongs to (after a restart); undefined if none. With a
 * `cluster_project` every namespace's entry has the same name: the namespace is the one whose kubernetes Service
 * has the entry's ClusterIP (`default` if none has).
 */
export function linkLocalOwner(
  layout: Layout,
  entry: Record<string, unknown>,
  snap?: KubeSnapshot,
): string | undefined {
  const name = entry.linklocal_service_name;
  if (typeof name !== "string") return undefined;
  const svc = layout.cfg.kubernetesServiceName;
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const MARK = "\u0000";
  const [before, after] = linkLocalName(layout, MARK, svc).split(MARK);
  if (after === undefined) {
    if (!new RegExp(`^${esc(before)}-\\d+$`).test(name)) return undefined;
    const owner = [...(snap?.services.values() ?? [])].find(
      (s) => s.metadata.name === svc && s.spec?.clusterIP === entry.linklocal_service_ip,
    );
    return unitKey.service(owner?.metadata.namespace ?? "default", svc);
  }
  const m = new RegExp(`^${esc(before)}(.+)${esc(after)}-\\d+$`).exec(name);
  return m ? unitKey.service(m[1], svc) : undefined;
}
