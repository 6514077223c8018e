/**
 * Config → forwarding tables of one compute node: what the vrouter agent programs into its datapath, with the
 * control node's part (routes for every VMI in the cluster, route leaking between VRFs) folded in.
 *
 * Pure: `(config model, compute name, plugged ports) → VrouterTables`. Rules it follows:
 * - A VMI is in the cluster when a virtual-router references its virtual-machine; its instance-ips give its
 *   addresses. It has routes once its port is plugged on its compute (POST /vm by the CNI); a compute whose
 *   ports are not given is assumed to have plugged all of its VMIs (a lone agent process cannot know).
 * - One VRF per VN (its primary routing instance). A VN referencing the ip-fabric VN forwards in the fabric
 *   VRF instead: its VMIs' vifs use it and its remote routes are `fabric` (underlay) next-hops.
 * - Local VMI → ENCAP NH (policy / no-policy, each with a label); remote VMI → TUNNEL NH to the owning
 *   compute's fabric IP with the label that compute allocated (labels are a pure function of config, so
 *   every compute agrees: see ids.ts). A floating IP referencing several VMIs is ECMP: a COMPOSITE NH.
 * - Routes leak between two VNs when each holds a network-policy with a pass rule naming the other (as the
 *   schema transformer connects routing instances); direction is enforced by the ACL, not by the leak.
 *   Only a VN's own routes leak (no transit). Gateway/DNS receive routes stay in their own VRF.
 * Every route, ACL and firewall policy carries the config object (and Kubernetes object) it comes from.
 *
 * Example: `computeTables(model, "compute-1", new Map([["compute-1", [port]], ["compute-2", []]]))`
 */
import { isIPv4 } from "node:net";
import {
  type FloatingIpBinding,
  type LinkLocalService,
  type NextHop,
  type ObjectRef,
  type Route,
  type Vif,
  VROUTER_MAC,
  type Vrf,
  type VrouterTables,
  type Acl,
  type FirewallPolicy,
} from "../tables";
import { type ConfigModel, type ConfigObject, cmp, fqString } from "./config-model";
import {
  IP_FABRIC_VN,
  IP_FABRIC_VRF,
  hostPrefix,
  isIpFabricForwarded,
  networkAddress,
  originOf,
  parseProtocol,
  primaryRoutingInstance,
  securityGroupId,
  vmiMac,
  vnSubnets,
} from "./config-views";
import { IdAllocator, type VmiLabels, allocateLabels } from "./ids";
import { gatewayExports, gatewayImports, gatewayOrigin, type SdnGateway } from "./sdn-gateway";
import {
  effectiveTags,
  apsOrder,
  sgAclObjects,
  sharedAcl,
  toFirewallPolicy,
  vnAclObject,
} from "./policy-tables";

/** A port the CNI (or the node emulator) added on a compute: the `POST /vm` body, camel-cased. */
export interface PluggedPort {
  vmiUuid: string;
  vmUuid: string;
  hostIfname: string;
  vmIfname?: string;
  vmName?: string;
  vmNamespace?: string;
  vnUuid?: string;
  containerId?: string;
  /** false after `/disable-port`: the vif stays, its routes and labels are withdrawn. */
  enabled: boolean;
}

/** The port the agent plugs for a service instance's interface: its tap is `tap` + the VMI uuid's first 11 hex. */
export function serviceInstancePort(vmiUuid: string, vmUuid: string): PluggedPort {
  return { vmiUuid, vmUuid, hostIfname: `tap${vmiUuid.replace(/-/g, "").slice(0, 11)}`, enabled: true };
}

/** Plugged ports per compute name. */
export type PortsByCompute = ReadonlyMap<string, readonly PluggedPort[]>;

export interface ComputeOptions {
  /** Sticky NH / vif / VRF numbering across recomputations (one per compute); fresh when omitted. */
  ids?: IdAllocator;
  /**
   * What this compute's previous computation (with the same `ids`) left to reuse: routes of endpoints that did
   * not change are taken from it instead of built again. The tables are the same with or without it.
   */
  memo?: TableMemo;
  /** Prefix length of the fabric (underlay) subnet around each compute's fabric IP. Default 24. */
  fabricPrefixLen?: number;
  /** A view built once for several computes at the same config version and ports. */
  view?: ClusterView;
  /** Addresses an `ip_fabric_DNS_service_name` resolved to (the agent's FabricDnsResolver); none: unresolved. */
  fabricDns?: (name: string) => string[];
  /** The SDN gateway the control node peers with (its routes go into the VNs it imports). */
  gateway?: SdnGateway;
  /** What the applications answer the service-health-checks (none given: every check passes). */
  healthProbe?: HealthProbe;
}

export class UnknownComputeError extends Error {
  override name = "UnknownComputeError";
  constructor(readonly compute: string) {
    super(`no virtual-router named "${compute}" in the config`);
  }
}

export interface ComputeNode {
  name: string;
  vr: ConfigObject;
  fabricIp: string;
}

/** A VMI placed on a compute, with everything its routes need. */
export interface Endpoint {
  vmi: ConfigObject;
  vn: ConfigObject;
  vm: ConfigObject;
  compute: ComputeNode;
  /** Instance-ip addresses, primary v4 first. */
  addresses: string[];
  ip?: string;
  ip6?: string;
  mac: string;
  labels: VmiLabels;
  policyEnabled: boolean;
  sgIds: number[];
  sgs: ConfigObject[];
  tags: number[];
  fabricForwarded: boolean;
  /** The local port when plugged on its compute. */
  port?: PluggedPort;
  /**
   * Routes exist for it: its port is up (or assumed up on a compute whose ports are unknown) and no
   * service-health-check it refers to fails (vm_interface.cc: `is_hc_active_` false makes its IPv4/L2 inactive,
   * so its own routes and its floating IPs' — its share of an ECMP next-hop — are withdrawn; the vif stays).
   */
  present: boolean;
  /** The enabled service-health-checks of its VMI that fail now (fq_name strings); empty when none. */
  failingHealthChecks: string[];
}

/**
 * Whether the application behind a VM answers a service-health-check (the agent's PING or HTTP probe to the
 * VMI's address). The testbed's `health` step decides it: both datapaths read the same answer.
 */
export type HealthProbe = (vmUuid: string, check: ConfigObject) => boolean;

export type RouteSpec =
  /**
   * `underlay`: the route's VN is ip-fabric-forwarded, so in the fabric VRF its remote hops go without
   * encapsulation; leaked into an overlay VRF the same route is a labelled tunnel (as the VN's own VRF
   * exports it).
   */
  | { kind: "endpoint"; prefix: string; ep: Endpoint; origin: ObjectRef; destVn: string; underlay: boolean }
  | {
      kind: "ecmp";
      prefix: string;
      key: string;
      members: Endpoint[];
      origin: ObjectRef;
      destVn: string;
      underlay: boolean;
    }
  | { kind: "receive"; prefix: string; origin: ObjectRef; destVn: string; leaks: boolean }
  | { kind: "underlay"; prefix: string; via: string; origin: ObjectRef; destVn: string }
  /** A compute's fabric IP: receive on that compute, underlay next-hop elsewhere. */
  | { kind: "compute"; prefix: string; node: ComputeNode; origin: ObjectRef; destVn: string }
  /** The SDN gateway's route in a VN it imports: a tunnel to the gateway with its table label. */
  | { kind: "gateway"; prefix: string; gatewayIp: string; label: number; origin: ObjectRef; destVn: string };

/** Cluster-wide state every compute derives its tables from (the "control node" view). */
export interface ClusterView {
  model: ConfigModel;
  computes: Map<string, ComputeNode>;
  endpoints: Map<string, Endpoint>;
  vns: ConfigObject[];
  /** VRF (routing-instance fq_name string) each VN forwards in. */
  forwardingVrf: Map<string, string>;
  /** Each VN's own routing instance (differs from the forwarding VRF for ip-fabric-forwarded VNs). */
  primaryVrf: Map<string, string>;
  /** VN uuid → VNs whose routes it imports, with the policy that connects them. */
  imports: Map<string, { vn: ConfigObject; by: string }[]>;
  ownRoutes: Map<string, RouteSpec[]>;
  /** VN uuid → routes a service chain re-originates into its VRF (the other network's, via the instance). */
  chainRoutes: Map<string, { spec: RouteSpec; by: string }[]>;
  gvc?: ConfigObject;
  fabricPrefixLen: number;
  gateway?: SdnGateway;
  /**
   * What every compute derives alike, computed once per view instead of once per vif per compute: a tag
   * set's ordered firewall-policy list (policies that exist only), and each firewall-policy resolved.
   */
  shared: {
    firewallOrder: Map<string, string[]>;
    firewallPolicies: Map<string, FirewallPolicy>;
    aps?: ReturnType<typeof apsOrder>;
  };
}

const DEFAULT_ENCAP: VrouterTables["encapPriority"] = ["mplsoudp", "mplsogre", "vxlan"];
const FABRIC_VRF_ID = 0;

/** Build the cluster view: placement of every VMI, labels, own routes per VN, route imports. */
export function buildClusterView(
  model: ConfigModel,
  ports: PortsByCompute,
  fabricPrefixLen = 24,
  gateway?: SdnGateway,
  healthProbe?: HealthProbe,
  previous?: ClusterView,
): ClusterView {
  const computes = new Map<string, ComputeNode>();
  const endpoints = new Map<string, Endpoint>();
  const vrs = model.list("virtual-router").sort((a, b) => cmp(lastName(a), lastName(b)));
  for (const vr of vrs) {
    const ip = vr.data.virtual_router_ip_address;
    computes.set(lastName(vr), { name: lastName(vr), vr, fabricIp: typeof ip === "string" ? ip : "" });
  }
  for (const node of computes.values()) {
    // a VMI placed on several computes belongs to the first by name
    const vmis = new Map<string, { vmi: ConfigObject; vm: ConfigObject }>();
    for (const { target: vm } of model.refs(node.vr, "virtual-machine"))
      for (const vmi of model.backRefs(vm.uuid, "virtual-machine-interface"))
        if (!endpoints.has(vmi.uuid) && !vmis.has(vmi.uuid)) vmis.set(vmi.uuid, { vmi, vm });
    const labels = allocateLabels([...vmis.keys()]);
    const known = ports.get(node.name);
    const portOf = new Map(known?.map((p) => [p.vmiUuid, p]));
    for (const { vmi, vm } of vmis.values()) {
      const vn = model.refs(vmi, "virtual-network")[0]?.target;
      if (!vn) continue;
      // a service instance's VM (svc-monitor's haproxy for an Ingress): the agent plugs its port itself, into
      // the namespace it runs the service in (netns_instance_adapter.cc), no CNI involved
      const port =
        portOf.get(vmi.uuid) ??
        (model.refs(vm, "service-instance").length ? serviceInstancePort(vmi.uuid, vm.uuid) : undefined);
      const ep = makeEndpoint(model, vmi, vn, vm, node, labels.get(vmi.uuid)!, port);
      ep.failingHealthChecks = healthProbe
        ? model
            .refs(vmi, "service-health-check")
            .map((r) => r.target)
            .filter((c) => healthCheckEnabled(c) && !healthProbe(vm.uuid, c))
            .map((c) => fqString(c.fqName))
        : [];
      ep.present =
        (known ? port?.enabled === true : true) &&
        ep.failingHealthChecks.length === 0 &&
        ep.addresses.length > 0 &&
        node.fabricIp !== "";
      // an endpoint equal to the previous view's is that very object: what was derived from it is reused
      const before = previous?.endpoints.get(vmi.uuid);
      endpoints.set(vmi.uuid, before && sameEndpoint(before, ep) ? before : ep);
    }
  }
  const vns = model.list("virtual-network").sort((a, b) => cmp(fqString(a.fqName), fqString(b.fqName)));
  const forwardingVrf = new Map<string, string>();
  const primaryVrf = new Map<string, string>();
  for (const vn of vns) {
    primaryVrf.set(vn.uuid, primaryRoutingInstance(model, vn));
    forwardingVrf.set(vn.uuid, isIpFabricForwarded(model, vn) ? IP_FABRIC_VRF : primaryVrf.get(vn.uuid)!);
  }
  const gvc = globalVrouterConfig(model);
  const view: ClusterView = {
    model,
    computes,
    endpoints,
    vns,
    forwardingVrf,
    primaryVrf,
    imports: routeImports(model, vns),
    ownRoutes: new Map(),
    chainRoutes: new Map(),
    gvc,
    fabricPrefixLen,
    ...(gateway ? { gateway } : {}),
    shared: { firewallOrder: new Map(), firewallPolicies: new Map() },
  };
  const endpointsByVn = groupBy(
    [...endpoints.values()].filter((e) => e.present),
    (e) => e.vn.uuid,
  );
  const fipsByVn = groupBy(model.list("floating-ip"), (f) => floatingIpVn(model, f)?.uuid);
  for (const vn of vns)
    view.ownRoutes.set(
      vn.uuid,
      ownRoutes(view, vn, endpointsByVn.get(vn.uuid) ?? [], fipsByVn.get(vn.uuid) ?? []),
    );
  view.chainRoutes = serviceChainRoutes(view);
  return view;
}

/** A VMI's side in its port tuple: "left", "right" (virtual_machine_interface_properties.service_interface_type). */
export function serviceInterfaceType(vmi: ConfigObject): string | undefined {
  const t = (vmi.data.virtual_machine_interface_properties as { service_interface_type?: string } | undefined)
    ?.service_interface_type;
  return typeof t === "string" && t !== "" ? t : undefined;
}

/**
 * Service chains (schema-transformer's ServiceChain, in-network mode): a network-policy rule between networks
 * L and R with `action_list.apply_service` [si] makes R's routes appear in L with the instance's left
 * interfaces as next hop, and L's in R with its right interfaces — ECMP over the port tuples whose interfaces
 * are up. Upstream places them in service routing instances the rule's ACL assigns flows to; here they sit
 * in the networks' own VRFs (no VRF assignment), which decides the same packets the same way.
 */
function serviceChainRoutes(view: ClusterView): Map<string, { spec: RouteSpec; by: string }[]> {
  const { model } = view;
  const out = new Map<string, { spec: RouteSpec; by: string }[]>();
  const byName = new Map(view.vns.map((v) => [fqString(v.fqName), v]));
  const names = (list: unknown) =>
    (Array.isArray(list) ? (list as RawPolicyAddress[]) : []).flatMap((a) =>
      typeof a?.virtual_network === "string" && byName.has(a.virtual_network) ? [a.virtual_network] : [],
    );
  for (const policy of model
    .list("network-policy")
    .sort((a, b) => cmp(fqString(a.fqName), fqString(b.fqName)))) {
    const rules =
      (policy.data.network_policy_entries as { policy_rule?: Record<string, unknown>[] } | undefined)
        ?.policy_rule ?? [];
    for (const rule of rules) {
      const services = (rule.action_list as { apply_service?: string[] } | undefined)?.apply_service ?? [];
      if (!services.length) continue;
      // one instance per chain is modelled (a chain of several is their sequence, not done here)
      const si = model.byFqName("service-instance", services[0]!);
      if (!si) continue;
      const tuples = model.children(si.uuid, "port-tuple").sort((a, b) => cmp(lastName(a), lastName(b)));
      const sides = (side: string, vn: ConfigObject) =>
        tuples.flatMap((pt) =>
          model
            .backRefs(pt.uuid, "virtual-machine-interface")
            .filter((vmi) => serviceInterfaceType(vmi) === side)
            .map((vmi) => view.endpoints.get(vmi.uuid))
            .filter((ep): ep is Endpoint => !!ep && ep.present && ep.vn.uuid === vn.uuid)
            .map((ep) => ({ ep, pt })),
        );
      for (const l of names(rule.src_addresses))
        for (const r of names(rule.dst_addresses)) {
          const left = byName.get(l)!;
          const right = byName.get(r)!;
          for (const [into, from, side] of [
            [left, right, "left"],
            [right, left, "right"],
          ] as const) {
            const members = sides(side, into);
            if (!members.length) continue;
            const mine = new Set(members.map((m) => m.ep.vmi.uuid));
            const by = `service-instance ${fqString(si.fqName)} (${side} interface of port-tuple ${members
              .map((m) => `${lastName(m.pt)}`)
              .join(", ")}; network-policy ${fqString(policy.fqName)})`;
            const list = out.get(into.uuid) ?? [];
            out.set(into.uuid, list);
            for (const spec of view.ownRoutes.get(from.uuid) ?? []) {
              if (spec.kind !== "endpoint" && spec.kind !== "ecmp") continue;
              if (spec.kind === "endpoint" && mine.has(spec.ep.vmi.uuid)) continue;
              const base = { prefix: spec.prefix, origin: originOf(si), destVn: fqString(from.fqName) };
              list.push({
                by,
                spec:
                  members.length === 1
                    ? { kind: "endpoint", ep: members[0]!.ep, underlay: false, ...base }
                    : {
                        kind: "ecmp",
                        key: `chain:${si.uuid}:${into.uuid}`,
                        members: members.map((m) => m.ep),
                        underlay: false,
                        ...base,
                      },
              });
            }
          }
        }
    }
  }
  return out;
}

function makeEndpoint(
  model: ConfigModel,
  vmi: ConfigObject,
  vn: ConfigObject,
  vm: ConfigObject,
  compute: ComputeNode,
  labels: VmiLabels,
  port: PluggedPort | undefined,
): Endpoint {
  const iips = model
    .backRefs(vmi.uuid, "instance-ip")
    .filter((i) => typeof i.data.instance_ip_address === "string" && i.data.instance_ip_address !== "");
  // primary (non-secondary) first, then v4 before v6, then by uuid
  iips.sort(
    (a, b) =>
      Number(a.data.instance_ip_secondary === true) - Number(b.data.instance_ip_secondary === true) ||
      Number(String(a.data.instance_ip_address).includes(":")) -
        Number(String(b.data.instance_ip_address).includes(":")) ||
      cmp(a.uuid, b.uuid),
  );
  const addresses = iips.map((i) => String(i.data.instance_ip_address));
  const sgs = model.refs(vmi, "security-group").map((r) => r.target);
  const project = model.parent(vmi)?.type === "project" ? model.parent(vmi) : model.parent(vn);
  return {
    vmi,
    vn,
    vm,
    compute,
    addresses,
    ip: addresses.find((a) => !a.includes(":")),
    ip6: addresses.find((a) => a.includes(":")),
    mac: vmiMac(vmi),
    labels,
    policyEnabled: vmi.data.virtual_machine_interface_disable_policy !== true,
    sgIds: sgs.map(securityGroupId),
    sgs,
    tags: effectiveTags(model, [vmi, vn, project]),
    fabricForwarded: isIpFabricForwarded(model, vn),
    port,
    present: false,
    failingHealthChecks: [],
  };
}

/**
 * Whether two computations of a VMI's endpoint agree on everything tables are made from. Config objects are
 * compared by identity (the model replaces an object when it changes); the compute by its name and address
 * (its virtual-router object changes with every VM placed on it, and nothing derived from an endpoint reads it).
 */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return (
    a.vmi === b.vmi &&
    a.vn === b.vn &&
    a.vm === b.vm &&
    a.compute.name === b.compute.name &&
    a.compute.fabricIp === b.compute.fabricIp &&
    a.ip === b.ip &&
    a.ip6 === b.ip6 &&
    a.mac === b.mac &&
    a.labels.policy === b.labels.policy &&
    a.labels.noPolicy === b.labels.noPolicy &&
    a.policyEnabled === b.policyEnabled &&
    a.fabricForwarded === b.fabricForwarded &&
    a.present === b.present &&
    sameList(a.addresses, b.addresses) &&
    sameList(a.sgIds, b.sgIds) &&
    sameList(a.sgs, b.sgs) &&
    sameList(a.tags, b.tags) &&
    sameList(a.failingHealthChecks, b.failingHealthChecks) &&
    samePort(a.port, b.port)
  );
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function samePort(a: PluggedPort | undefined, b: PluggedPort | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.vmiUuid === b.vmiUuid &&
    a.vmUuid === b.vmUuid &&
    a.hostIfname === b.hostIfname &&
    a.vmIfname === b.vmIfname &&
    a.vmName === b.vmName &&
    a.vmNamespace === b.vmNamespace &&
    a.vnUuid === b.vnUuid &&
    a.containerId === b.containerId &&
    a.enabled === b.enabled
  );
}

/** A service-health-check the agent runs: enabled, and of a type it runs per VMI (link-local, end-to-end). */
function healthCheckEnabled(c: ConfigObject): boolean {
  const p = c.data.service_health_check_properties as
    | { enabled?: boolean; health_check_type?: string }
    | undefined;
  return (
    p?.enabled === true && (p.health_check_type === "link-local" || p.health_check_type === "end-to-end")
  );
}

/**
 * Which VNs import which: A imports B when A's policies have a pass rule with A on one side and B (or any)
 * on the other, and B's policies name A likewise (the schema transformer's mutual connection).
 */
function routeImports(
  model: ConfigModel,
  vns: ConfigObject[],
): Map<string, { vn: ConfigObject; by: string }[]> {
  const mentions = new Map<string, Map<string, string>>(); // vn fq → (other fq | "*") → policy fq
  for (const vn of vns) mentions.set(fqString(vn.fqName), vnMentions(model, vn));
  const byName = new Map(vns.map((v) => [fqString(v.fqName), v]));
  const expand = (vn: ConfigObject): Map<string, string> => {
    const name = fqString(vn.fqName);
    const m = new Map(mentions.get(name));
    const star = m.get("*");
    if (star !== undefined) {
      m.delete("*");
      const parent = fqString(vn.fqName.slice(0, -1));
      for (const other of vns) {
        const o = fqString(other.fqName);
        if (o === name || m.has(o)) continue;
        if (fqString(other.fqName.slice(0, -1)) === parent || mentions.get(o)?.has(name)) m.set(o, star);
      }
    }
    return m;
  };
  const expanded = new Map(vns.map((v) => [v.uuid, expand(v)]));
  const out = new Map<string, { vn: ConfigObject; by: string }[]>();
  for (const a of vns) {
    const list: { vn: ConfigObject; by: string }[] = [];
    for (const [bName, policy] of expanded.get(a.uuid)!) {
      const b = byName.get(bName);
      if (b && expanded.get(b.uuid)?.has(fqString(a.fqName)))
        list.push({ vn: b, by: `network-policy ${policy}` });
    }
    out.set(a.uuid, list);
  }
  return out;
}

interface RawPolicyAddress {
  virtual_network?: string | null;
  network_policy?: string | null;
}

/**
 * The VNs a VN's attached policies connect it to (fq_name string, or "*" for any) → the first policy that
 * does. Addresses name a VN (`local` = the holder, `any`), or a network-policy (= every VN holding it).
 */
function vnMentions(model: ConfigModel, vn: ConfigObject): Map<string, string> {
  const me = fqString(vn.fqName);
  const out = new Map<string, string>();
  const refs = model.refs(vn, "network-policy");
  refs.sort((x, y) => seqKey(x.attr) - seqKey(y.attr));
  const holders = (policyFq: string) => {
    const p = model.byFqName("network-policy", policyFq);
    return p ? model.backRefs(p.uuid, "virtual-network").map((v) => fqString(v.fqName)) : [];
  };
  const names = (list: unknown) =>
    (Array.isArray(list) ? (list as RawPolicyAddress[]) : []).flatMap((a) => {
      if (typeof a?.virtual_network === "string" && a.virtual_network !== "")
        return [a.virtual_network === "local" ? me : a.virtual_network];
      if (typeof a?.network_policy === "string" && a.network_policy !== "") return holders(a.network_policy);
      return [];
    });
  for (const { target: policy } of refs) {
    const rules =
      (policy.data.network_policy_entries as { policy_rule?: Record<string, unknown>[] } | undefined)
        ?.policy_rule ?? [];
    for (const rule of rules) {
      const action = rule.action_list as { simple_action?: string; apply_service?: string[] } | undefined;
      // a service chain's rule does not connect the networks: the chain's routes do (serviceChainRoutes)
      if (action?.simple_action !== "pass" || action.apply_service?.length) continue;
      const src = names(rule.src_addresses);
      const dst = names(rule.dst_addresses);
      const isMe = (n: string) => n === me || n === "any";
      const add = (other: string) => {
        const key = other === "any" ? "*" : other;
        if (key !== me && !out.has(key)) out.set(key, fqString(policy.fqName));
      };
      for (const s of src)
        for (const d of dst) {
          if (isMe(s)) add(d);
          if (isMe(d)) add(s);
        }
    }
  }
  return out;
}

function seqKey(attr: unknown): number {
  const s = (attr as { sequence?: { major?: number; minor?: number } } | undefined)?.sequence;
  return (Number(s?.major) || 0) * 1e6 + (Number(s?.minor) || 0);
}

function groupBy<T>(items: T[], key: (t: T) => string | undefined): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    if (k === undefined) continue;
    const list = out.get(k) ?? [];
    out.set(k, list);
    list.push(item);
  }
  return out;
}

/** The route specs of an endpoint's addresses, kept as long as the endpoint object lives (reused views). */
const endpointSpecs = new WeakMap<Endpoint, RouteSpec[]>();

/** Routes a VN originates: its VMIs, its floating IPs, its subnets' gateway/DNS, the fabric for ip-fabric. */
function ownRoutes(view: ClusterView, vn: ConfigObject, eps: Endpoint[], fips: ConfigObject[]): RouteSpec[] {
  const { model } = view;
  const vnName = fqString(vn.fqName);
  const out: RouteSpec[] = [];
  for (const sub of vnSubnets(model, vn)) {
    const origin = originOf(vn);
    for (const a of [sub.gateway, sub.dns])
      if (a) out.push({ kind: "receive", prefix: hostPrefix(a), origin, destVn: vnName, leaks: false });
  }
  if (vnName === IP_FABRIC_VN) {
    for (const node of view.computes.values()) {
      if (!node.fabricIp) continue;
      const origin = originOf(node.vr);
      out.push({ kind: "compute", prefix: hostPrefix(node.fabricIp), node, origin, destVn: vnName });
      out.push({
        kind: "underlay",
        prefix: `${networkAddress(node.fabricIp, view.fabricPrefixLen)}/${view.fabricPrefixLen}`,
        via: "0.0.0.0",
        origin,
        destVn: vnName,
      });
    }
  }
  for (const ep of eps) {
    let specs = endpointSpecs.get(ep);
    if (!specs) {
      // a function of the endpoint alone (its VN is ep.vn), so an endpoint reused by the next view keeps them
      const origin = originOf(ep.vmi);
      specs = ep.addresses.map((a) => ({
        kind: "endpoint" as const,
        prefix: hostPrefix(a),
        ep,
        origin,
        destVn: vnName,
        underlay: ep.fabricForwarded,
      }));
      endpointSpecs.set(ep, specs);
    }
    for (const spec of specs) out.push(spec);
  }
  const gw = view.gateway;
  if (gw && gatewayImports(vn, gw))
    // the gateway's routes, exported with the VN's route target: its hosts (a label each) and a default route
    // (its table label), as an MX exports into a public VRF
    for (const r of gatewayExports(gw))
      out.push({ kind: "gateway", ...r, gatewayIp: gw.fabricIp, origin: gatewayOrigin(gw), destVn: vnName });
  if (gw && vnName === IP_FABRIC_VN)
    // the underlay learns the imported VNs' prefixes from the gateway (its routers' route to the gateway)
    for (const other of view.vns)
      if (gatewayImports(other, gw))
        for (const sub of vnSubnets(model, other))
          out.push({
            kind: "underlay",
            prefix: sub.cidr,
            via: gw.fabricIp,
            origin: gatewayOrigin(gw),
            destVn: vnName,
          });
  // a floating IP is reached the way its own VN forwards (overlay unless that VN is ip-fabric-forwarded), so
  // an ECMP member on another compute gets the packet labelled for the member VMI, not re-balanced there
  const underlay = isIpFabricForwarded(model, vn);
  for (const fip of fips) {
    const address = fip.data.floating_ip_address;
    if (typeof address !== "string" || !address) continue;
    const members = model
      .refs(fip, "virtual-machine-interface")
      .map((r) => view.endpoints.get(r.target.uuid))
      .filter((e): e is Endpoint => e?.present === true)
      .sort((a, b) => cmp(a.vmi.uuid, b.vmi.uuid));
    if (members.length === 0) continue;
    const origin = floatingIpOrigin(model, fip);
    if (members.length === 1)
      out.push({
        kind: "endpoint",
        prefix: hostPrefix(address),
        ep: members[0],
        origin,
        destVn: vnName,
        underlay,
      });
    else
      out.push({
        kind: "ecmp",
        prefix: hostPrefix(address),
        key: fip.uuid,
        members,
        origin,
        destVn: vnName,
        underlay,
      });
  }
  return out;
}

/**
 * A floating IP's origin; svc-monitor's VIP floating IP carries no annotations, so the Kubernetes object is
 * taken from the load balancer's VMI (the Service) behind its parent instance-ip.
 */
export function floatingIpOrigin(model: ConfigModel, fip: ConfigObject): ObjectRef {
  const ref = originOf(fip);
  if (ref.k8s) return ref;
  const parent = model.parent(fip);
  if (parent?.type !== "instance-ip") return ref;
  for (const candidate of [parent, ...model.refs(parent, "virtual-machine-interface").map((r) => r.target)]) {
    const k8s = originOf(candidate).k8s;
    if (k8s) return { ...ref, k8s };
  }
  return ref;
}

/** The VN a floating IP belongs to: its pool's VN, or (svc-monitor's ECMP FIP) its parent instance-ip's VN. */
export function floatingIpVn(model: ConfigModel, fip: ConfigObject): ConfigObject | undefined {
  const parent = model.parent(fip);
  if (!parent) return undefined;
  if (parent.type === "floating-ip-pool") {
    const vn = model.parent(parent);
    return vn?.type === "virtual-network" ? vn : undefined;
  }
  if (parent.type === "instance-ip") return model.refs(parent, "virtual-network")[0]?.target;
  return undefined;
}

/** Tables for one compute. Throws UnknownComputeError when no virtual-router has that name. */
export function computeTables(
  model: ConfigModel,
  computeName: string,
  ports: PortsByCompute,
  opts: ComputeOptions = {},
): VrouterTables {
  const view =
    opts.view ?? buildClusterView(model, ports, opts.fabricPrefixLen, opts.gateway, opts.healthProbe);
  const self = view.computes.get(computeName);
  if (!self) throw new UnknownComputeError(computeName);
  const ids = opts.ids ?? new IdAllocator({ vif: 3, vrf: 1, nh: 1 });
  const b = new TableBuilder(view, self, ids, opts.fabricDns, opts.memo);
  const tables = b.build();
  ids.sweep();
  return tables;
}

/** A next-hop a route needed, with the allocator key that numbered it. */
interface UsedNextHop {
  allocKey: string;
  id: number;
  nh: NextHop;
}

/** A route built for an endpoint spec in one VRF, with what it depended on beyond the spec. */
interface MemoRoute {
  vrf: number;
  leakedBy: string | undefined;
  route: Route | undefined;
  /** the endpoint's local vif number when the route was built (undefined: none) */
  vif: number | undefined;
  nextHops: UsedNextHop[];
}

/**
 * Incremental tables: what one compute's last computation built for each endpoint route spec, so the next
 * computation takes the route (and re-registers its next-hops, keeping their numbers) instead of building it
 * again when the spec is the same object — which buildClusterView makes it when the endpoint did not change.
 * Only the last computation's entries are kept, so every number they hold is still allocated.
 */
export class TableMemo {
  /** compute name, fabric address and tunnel encapsulation the entries were built for */
  context = "";
  routes = new Map<RouteSpec, MemoRoute[]>();
  /** reused / built in the last computation (for the agent's counters) */
  hits = 0;
  misses = 0;
}

class TableBuilder {
  private readonly nextHops = new Map<number, NextHop>([[0, { id: 0, type: "discard" }]]);
  private readonly vrfs = new Map<number, Vrf>();
  private readonly vrfIds = new Map<string, number>();
  private readonly vifs = new Map<number, Vif>();
  private readonly vifOfVmi = new Map<string, number>();
  private readonly labels = new Map<number, number>();
  private readonly acls = new Map<string, Acl>();
  private readonly firewallPolicies = new Map<string, FirewallPolicy>();
  private readonly tunnelEncap: "mplsoudp" | "mplsogre";
  private readonly encapPriority: VrouterTables["encapPriority"];
  private readonly linkLocal: LinkLocalService[];

  /** entries of the previous computation (empty without a memo or when the context changed) and this one's */
  private readonly previous: Map<RouteSpec, MemoRoute[]>;
  private readonly current = new Map<RouteSpec, MemoRoute[]>();
  /** while a memoised route is built: the next-hops it uses */
  private recording: UsedNextHop[] | undefined;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly view: ClusterView,
    private readonly self: ComputeNode,
    private readonly ids: IdAllocator,
    fabricDns: ((name: string) => string[]) | undefined,
    private readonly memo?: TableMemo,
  ) {
    this.linkLocal = linkLocalServices(view.gvc, self.fabricIp, fabricDns);
    this.encapPriority = encapPriority(view.gvc);
    this.tunnelEncap =
      (this.encapPriority.find((e) => e !== "vxlan") as "mplsoudp" | "mplsogre") ?? "mplsoudp";
    const context = `${self.name}|${self.fabricIp}|${this.tunnelEncap}`;
    this.previous = memo && memo.context === context ? memo.routes : new Map();
    if (memo) memo.context = context;
  }

  build(): VrouterTables {
    const { view, self } = this;
    const local = [...view.endpoints.values()]
      .filter((e) => e.compute.name === self.name && e.port)
      .sort((a, b) => cmp(a.vmi.uuid, b.vmi.uuid));
    this.vrfId(IP_FABRIC_VRF);
    this.addPlatformVifs();
    // VRFs this compute needs: the fabric, its ports' VNs' own and forwarding VRFs (the own VRF carries the
    // VN's network-policy ACL even when the VN forwards in the fabric VRF), their floating IPs' VRFs
    for (const ep of local) {
      this.vrfId(view.primaryVrf.get(ep.vn.uuid)!);
      this.vrfId(view.forwardingVrf.get(ep.vn.uuid)!);
      // by name: the order the config daemons happened to write floating IPs in must not number VRFs
      const fipVrfs = this.floatingIpsOf(ep).flatMap((fip) => {
        const vn = floatingIpVn(view.model, fip);
        return vn ? [view.forwardingVrf.get(vn.uuid)!] : [];
      });
      for (const name of fipVrfs.sort(cmp)) this.vrfId(name);
    }
    for (const ep of local) this.addVif(ep);
    for (const [name, id] of [...this.vrfIds].sort((a, b) => a[1] - b[1]))
      this.vrfs.set(id, this.buildVrf(name, id));
    if (this.memo) {
      this.memo.routes = this.current;
      this.memo.hits = this.hits;
      this.memo.misses = this.misses;
    }
    return {
      configVersion: view.model.appliedSeq(),
      compute: { name: self.name, fabricIp: self.fabricIp, fabricVif: 0, fabricVrf: 0 },
      vifs: this.vifs,
      nextHops: this.nextHops,
      vrfs: this.vrfs,
      labels: this.labels,
      acls: this.acls,
      firewallPolicies: this.firewallPolicies,
      linkLocal: this.linkLocal,
      encapPriority: this.encapPriority,
    };
  }

  private vrfId(name: string): number {
    let id = this.vrfIds.get(name);
    if (id === undefined) {
      id = name === IP_FABRIC_VRF ? FABRIC_VRF_ID : this.ids.get("vrf", name);
      this.vrfIds.set(name, id);
    }
    return id;
  }

  private addPlatformVifs(): void {
    const base = { policyEnabled: false, securityGroupIds: [], sgIngressAcls: [], sgEgressAcls: [] };
    const rest = { firewallPolicies: [], tags: [], floatingIps: [], fabricSnat: false };
    const mac = fabricMac(this.self.fabricIp);
    this.vifs.set(0, { index: 0, type: "fabric", name: "fabric0", mac, vrf: 0, ...base, ...rest });
    this.vifs.set(1, {
      index: 1,
      type: "host",
      name: "vhost0",
      mac,
      vrf: 0,
      ip: this.self.fabricIp,
      ...base,
      ...rest,
    });
    this.vifs.set(2, { index: 2, type: "agent", name: "pkt0", mac: VROUTER_MAC, vrf: 0, ...base, ...rest });
  }

  private floatingIpsOf(ep: Endpoint): ConfigObject[] {
    return this.view.model.backRefs(ep.vmi.uuid, "floating-ip");
  }

  private addVif(ep: Endpoint): void {
    const { model } = this.view;
    const port = ep.port!;
    const index = this.ids.get("vif", ep.vmi.uuid);
    this.vifOfVmi.set(ep.vmi.uuid, index);
    const vrf = this.vrfId(this.view.forwardingVrf.get(ep.vn.uuid)!);
    const sgIngressAcls: string[] = [];
    const sgEgressAcls: string[] = [];
    for (const sg of ep.sgs) {
      const { ingress, egress } = sgAclObjects(model, sg);
      const owner = { sgId: securityGroupId(sg) };
      if (ingress) {
        this.acls.set(ingress.uuid, sharedAcl(ingress, sg, owner));
        sgIngressAcls.push(ingress.uuid);
      }
      if (egress) {
        this.acls.set(egress.uuid, sharedAcl(egress, sg, owner));
        sgEgressAcls.push(egress.uuid);
      }
    }
    const firewallPolicies = this.firewallPoliciesFor(ep.tags);
    for (const id of firewallPolicies)
      if (!this.firewallPolicies.has(id))
        this.firewallPolicies.set(id, this.view.shared.firewallPolicies.get(id)!);
    const floatingIps: FloatingIpBinding[] = [];
    for (const fip of this.floatingIpsOf(ep)) {
      const b = this.floatingIpBinding(ep, fip);
      if (b) floatingIps.push(b);
    }
    this.vifs.set(index, {
      index,
      type: "virtual",
      name: port.hostIfname,
      mac: ep.mac,
      vrf,
      ...(ep.ip ? { ip: ep.ip } : {}),
      ...(ep.ip6 ? { ip6: ep.ip6 } : {}),
      policyEnabled: ep.policyEnabled,
      vnName: fqString(ep.vn.fqName),
      vmi: originOf(ep.vmi),
      vmUuid: ep.vm.uuid,
      securityGroupIds: ep.sgIds,
      sgIngressAcls,
      sgEgressAcls,
      firewallPolicies,
      tags: ep.tags,
      floatingIps,
      fabricSnat: ep.vn.data.fabric_snat === true,
      ...this.serviceInterface(ep),
    });
    if (ep.present) {
      this.labels.set(ep.labels.policy, this.encapNh(ep, true));
      this.labels.set(ep.labels.noPolicy, this.encapNh(ep, false));
    }
  }

  /** A port tuple's interface: which side of which instance (the source check lets its forwarded packets by). */
  private serviceInterface(ep: Endpoint): { serviceInterface?: string } {
    const { model } = this.view;
    const pt = model.refs(ep.vmi, "port-tuple")[0]?.target;
    const side = serviceInterfaceType(ep.vmi);
    if (!pt || !side) return {};
    const si = model.parent(pt);
    return {
      serviceInterface: `${side} of service-instance ${si ? fqString(si.fqName) : "?"} port-tuple ${lastName(pt)}`,
    };
  }

  private floatingIpBinding(ep: Endpoint, fip: ConfigObject): FloatingIpBinding | undefined {
    const { model } = this.view;
    const vn = floatingIpVn(model, fip);
    const address = fip.data.floating_ip_address;
    const fixedIp =
      typeof fip.data.floating_ip_fixed_ip_address === "string" && fip.data.floating_ip_fixed_ip_address
        ? fip.data.floating_ip_fixed_ip_address
        : ep.ip;
    if (!vn || typeof address !== "string" || !fixedIp) return undefined;
    const dir = fip.data.floating_ip_traffic_direction;
    const binding: FloatingIpBinding = {
      uuid: fip.uuid,
      address,
      fixedIp,
      vrf: this.vrfId(this.view.forwardingVrf.get(vn.uuid)!),
      vnName: fqString(vn.fqName),
      direction: dir === "ingress" || dir === "egress" ? dir : "both",
      origin: floatingIpOrigin(model, fip),
    };
    if (fip.data.floating_ip_port_mappings_enable === true) {
      const maps =
        (fip.data.floating_ip_port_mappings as { port_mappings?: Record<string, unknown>[] } | undefined)
          ?.port_mappings ?? [];
      binding.portMappings = [];
      for (const m of maps) {
        const protocol = parseProtocol(m.protocol);
        const srcPort = Number(m.src_port);
        const dstPort = Number(m.dst_port);
        if (typeof protocol === "number" && Number.isInteger(srcPort) && Number.isInteger(dstPort))
          binding.portMappings.push({ protocol, srcPort, dstPort });
      }
    }
    return binding;
  }

  /** The ordered firewall policies (those that exist) for a vif's tags: one list per tag set and view. */
  private firewallPoliciesFor(tags: number[]): string[] {
    const { model, shared } = this.view;
    const key = tags.join(",");
    let list = shared.firewallOrder.get(key);
    if (!list) {
      list = [];
      shared.aps ??= apsOrder(model, this.view.gvc);
      for (const id of shared.aps.forTags(tags)) {
        let policy = shared.firewallPolicies.get(id);
        if (!policy) {
          const p = model.getTyped("firewall-policy", id);
          if (!p) continue;
          policy = toFirewallPolicy(model, p);
          shared.firewallPolicies.set(id, policy);
        }
        list.push(id);
      }
      shared.firewallOrder.set(key, list);
    }
    return list;
  }

  private buildVrf(name: string, id: number): Vrf {
    const { view } = this;
    // the VNs whose routes originate here: those forwarding in this VRF, and the VN owning it
    const members = view.vns.filter(
      (vn) => view.forwardingVrf.get(vn.uuid) === name || view.primaryVrf.get(vn.uuid) === name,
    );
    const owner =
      members.find((vn) => view.primaryVrf.get(vn.uuid) === name) ??
      (name === IP_FABRIC_VRF ? view.model.byFqName("virtual-network", IP_FABRIC_VN) : undefined) ??
      members[0];
    const routes: Route[] = [];
    const seen = new Set<string>();
    const push = (r: Route | undefined) => {
      if (r && !seen.has(r.prefix)) {
        seen.add(r.prefix);
        routes.push(r);
      }
    };
    for (const vn of members)
      for (const spec of view.ownRoutes.get(vn.uuid) ?? []) push(this.route(spec, id));
    for (const vn of members)
      for (const c of view.chainRoutes.get(vn.uuid) ?? []) push(this.route(c.spec, id, c.by));
    for (const vn of members)
      for (const imp of view.imports.get(vn.uuid) ?? []) {
        if (members.includes(imp.vn)) continue;
        for (const spec of view.ownRoutes.get(imp.vn.uuid) ?? [])
          if (spec.kind !== "receive" || spec.leaks) push(this.route(spec, id, imp.by));
      }
    for (const ll of this.linkLocal)
      push({
        prefix: hostPrefix(ll.ip),
        nh: this.receiveNh(id),
        destVns: [],
        sgIds: [],
        tags: [],
        origin: view.gvc ? originOf(view.gvc) : undefined,
      });
    const vrf: Vrf = { id, name, vnName: owner ? fqString(owner.fqName) : name, routes };
    const vxlan = owner ? vxlanId(owner) : undefined;
    if (vxlan !== undefined) vrf.vxlanId = vxlan;
    if (owner) {
      const aclObj = vnAclObject(view.model, owner);
      if (aclObj) {
        const policies = view.model.refs(owner, "network-policy");
        const origin = policies.length === 1 ? policies[0].target : owner;
        this.acls.set(aclObj.uuid, sharedAcl(aclObj, origin, { vnName: fqString(owner.fqName) }));
        vrf.networkPolicyAcl = aclObj.uuid;
      }
    }
    return vrf;
  }

  /**
   * A route for a spec in a VRF. An endpoint's route is taken from the memo when the previous computation built
   * it for the same spec object (same endpoint), VRF, leak and local vif, and its next-hops still hold their
   * numbers; otherwise built, recording the next-hops it uses.
   */
  private route(spec: RouteSpec, vrf: number, leakedBy?: string): Route | undefined {
    if (!this.memo || spec.kind !== "endpoint") return this.buildRoute(spec, vrf, leakedBy);
    const vif = this.vifOfVmi.get(spec.ep.vmi.uuid);
    // a spec is in one or two VRFs of a compute (its own, where it leaks): a short list
    const was = this.previous.get(spec)?.find((m) => m.vrf === vrf && m.leakedBy === leakedBy);
    let entry: MemoRoute;
    if (was && was.vif === vif && this.ids.keep(was.nextHops)) {
      for (const u of was.nextHops) this.nextHops.set(u.id, u.nh);
      entry = was;
      this.hits++;
    } else {
      const nextHops: UsedNextHop[] = [];
      this.recording = nextHops;
      try {
        entry = { vrf, leakedBy, route: this.buildRoute(spec, vrf, leakedBy), vif, nextHops };
      } finally {
        this.recording = undefined;
      }
      this.misses++;
    }
    const forSpec = this.current.get(spec);
    if (forSpec) forSpec.push(entry);
    else this.current.set(spec, [entry]);
    return entry.route;
  }

  /** Registers a next-hop numbered by the allocator under `nh|<key>` (and records it for the memo). */
  private nextHop(key: string, make: (id: number) => NextHop): number {
    const id = this.ids.get("nh", key);
    const nh = make(id);
    this.nextHops.set(id, nh);
    this.recording?.push({ allocKey: IdAllocator.key("nh", key), id, nh });
    return id;
  }

  private buildRoute(spec: RouteSpec, vrf: number, leakedBy?: string): Route | undefined {
    const base = {
      prefix: spec.prefix,
      origin: spec.origin,
      destVns: [spec.destVn],
      ...(leakedBy ? { leakedBy } : {}),
    };
    switch (spec.kind) {
      case "receive":
        return { ...base, nh: this.receiveNh(vrf), sgIds: [], tags: [] };
      case "underlay":
        return { ...base, nh: this.fabricNh(spec.via), sgIds: [], tags: [] };
      case "compute": {
        const nh = spec.node === this.self ? this.receiveNh(vrf) : this.fabricNh(spec.node.fabricIp);
        return { ...base, nh, sgIds: [], tags: [] };
      }
      case "gateway":
        return {
          ...base,
          nh: this.tunnelNh(spec.gatewayIp),
          label: spec.label,
          sgIds: [],
          tags: [],
        };
      case "endpoint": {
        const hop = this.endpointHop(spec.ep, spec.underlay && vrf === FABRIC_VRF_ID);
        if (!hop) return undefined;
        return {
          ...base,
          nh: hop.nh,
          ...(hop.label !== undefined ? { label: hop.label } : {}),
          sgIds: spec.ep.sgIds,
          tags: spec.ep.tags,
        };
      }
      case "ecmp": {
        const members: { nh: number; label: number }[] = [];
        for (const ep of spec.members) {
          const hop = this.endpointHop(ep, spec.underlay && vrf === FABRIC_VRF_ID);
          if (hop) members.push({ nh: hop.nh, label: hop.label ?? this.labelOf(ep) });
        }
        if (members.length === 0) return undefined;
        const id = this.ids.get("nh", `composite:${spec.key}`);
        this.nextHops.set(id, { id, type: "composite", members });
        return {
          ...base,
          nh: id,
          sgIds: intersect(spec.members.map((m) => m.sgIds)),
          tags: intersect(spec.members.map((m) => m.tags)),
        };
      }
    }
  }

  private labelOf(ep: Endpoint): number {
    return ep.policyEnabled ? ep.labels.policy : ep.labels.noPolicy;
  }

  /** How this compute reaches an endpoint: its local vif, a tunnel, or the underlay (ip-fabric). */
  private endpointHop(ep: Endpoint, underlay: boolean): { nh: number; label?: number } | undefined {
    if (ep.compute.name === this.self.name) {
      if (!this.vifOfVmi.has(ep.vmi.uuid)) return undefined;
      return { nh: this.encapNh(ep, ep.policyEnabled), label: this.labelOf(ep) };
    }
    if (underlay) return { nh: this.fabricNh(ep.compute.fabricIp) };
    return { nh: this.tunnelNh(ep.compute.fabricIp), label: this.labelOf(ep) };
  }

  private tunnelNh(dstIp: string): number {
    return this.nextHop(`tunnel:${this.tunnelEncap}:${dstIp}`, (id) => ({
      id,
      type: "tunnel",
      encap: this.tunnelEncap,
      srcIp: this.self.fabricIp,
      dstIp,
    }));
  }

  private encapNh(ep: Endpoint, policy: boolean): number {
    return this.nextHop(`encap:${ep.vmi.uuid}:${policy ? "policy" : "no-policy"}`, (id) => ({
      id,
      type: "encap",
      vif: this.vifOfVmi.get(ep.vmi.uuid)!,
      policy,
    }));
  }

  private receiveNh(vrf: number): number {
    return this.nextHop(`receive:${vrf}`, (id) => ({ id, type: "receive", vrf }));
  }

  private fabricNh(via: string): number {
    return this.nextHop(`fabric:${via}`, (id) => ({ id, type: "fabric", via }));
  }
}

function intersect(lists: number[][]): number[] {
  if (lists.length === 0) return [];
  return lists[0].filter((x) => lists.every((l) => l.includes(x)));
}

function lastName(o: ConfigObject): string {
  return o.fqName[o.fqName.length - 1];
}

function vxlanId(vn: ConfigObject): number | undefined {
  const props = vn.data.virtual_network_properties as { vxlan_network_identifier?: unknown } | undefined;
  const v = Number(props?.vxlan_network_identifier ?? vn.data.virtual_network_network_id);
  return Number.isInteger(v) && v > 0 ? v : undefined;
}

/** A stable, locally administered MAC for the fabric port derived from the fabric IP. */
export function fabricMac(ip: string): string {
  const octets = ip.split(".").map((o) => Number(o) || 0);
  while (octets.length < 4) octets.push(0);
  return ["02", "fa", ...octets.slice(0, 4).map((o) => o.toString(16).padStart(2, "0"))].join(":");
}

export function encapPriority(gvc: ConfigObject | undefined): VrouterTables["encapPriority"] {
  const list = (gvc?.data.encapsulation_priorities as { encapsulation?: unknown[] } | undefined)
    ?.encapsulation;
  if (!Array.isArray(list)) return [...DEFAULT_ENCAP];
  const out: VrouterTables["encapPriority"] = [];
  for (const e of list) {
    const k = String(e).toLowerCase();
    if ((k === "mplsoudp" || k === "mplsogre" || k === "vxlan") && !out.includes(k)) out.push(k);
  }
  return out.length ? out : [...DEFAULT_ENCAP];
}

interface RawLinkLocal {
  linklocal_service_name?: string;
  linklocal_service_ip?: string;
  linklocal_service_port?: number;
  ip_fabric_DNS_service_name?: string;
  ip_fabric_service_ip?: string[];
  ip_fabric_service_port?: number;
}

/**
 * Link-local services as the agent uses them (global_vrouter.cc `UpdateLinkLocalServiceConfig` and
 * `FindLinkLocalService`): the valid IPv4 entries of `ip_fabric_service_ip` if any (the agent picks one per
 * flow; here the first), else the addresses `ip_fabric_DNS_service_name` resolved to; a loopback address means
 * the compute itself (its router id, the fabric address). A service with neither has no fabric address and
 * is left out.
 */
function linkLocalServices(
  gvc: ConfigObject | undefined,
  routerId: string,
  fabricDns: ((name: string) => string[]) | undefined,
): LinkLocalService[] {
  const out: LinkLocalService[] = [];
  for (const e of rawLinkLocal(gvc)) {
    const given = (e.ip_fabric_service_ip ?? []).filter((ip) => isIPv4(ip));
    const dnsName = e.ip_fabric_DNS_service_name;
    const addrs = given.length ? given : dnsName && fabricDns ? fabricDns(dnsName) : [];
    const fabricIp = addrs[0] === LOOPBACK ? routerId : addrs[0];
    if (!e.linklocal_service_ip || !fabricIp) continue;
    out.push({
      name: e.linklocal_service_name ?? e.linklocal_service_ip,
      ip: e.linklocal_service_ip,
      port: Number(e.linklocal_service_port) || 0,
      fabricIp,
      fabricPort: Number(e.ip_fabric_service_port) || 0,
    });
  }
  return out;
}

const LOOPBACK = "127.0.0.1";

function globalVrouterConfig(model: ConfigModel): ConfigObject | undefined {
  return (
    model.byFqName("global-vrouter-config", [
      "default-global-system-config",
      "default-global-vrouter-config",
    ]) ?? model.list("global-vrouter-config")[0]
  );
}

function rawLinkLocal(gvc: ConfigObject | undefined): RawLinkLocal[] {
  return (
    (gvc?.data.linklocal_services as { linklocal_service_entry?: RawLinkLocal[] } | undefined)
      ?.linklocal_service_entry ?? []
  );
}

/** The DNS names the link-local config asks the agent to resolve (entries without a usable address list). */
export function linkLocalDnsNames(model: ConfigModel): string[] {
  const gvc = globalVrouterConfig(model);
  const names = new Set<string>();
  for (const e of rawLinkLocal(gvc))
    if (e.ip_fabric_DNS_service_name) names.add(e.ip_fabric_DNS_service_name);
  return [...names].sort();
}
