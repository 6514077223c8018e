/**
 * The forwarding state of one compute node's vrouter: what the agent computes from config and the datapath
 * engine reads. This is the contract between `fake-vrouter/agent` (writer) and `fake-vrouter/datapath`
 * (reader); both the simulated and the netns datapath consume exactly this shape.
 *
 * It mirrors the kernel vrouter's objects (vif, next-hop, VRF inet table, MPLS label table) plus what the
 * agent keeps for flow setup (ACLs, security groups, firewall policies, floating IPs), already resolved to
 * plain data so the engine never looks at config objects.
 *
 * Example: a pod on compute-1 reaching a pod on compute-2 in the same VN is a route in the VN's VRF whose
 * next-hop is a TUNNEL to compute-2's fabric IP, carrying the label of the destination VMI's NH there.
 */

/** An IPv4 (dotted) or IPv6 address as text. IPv4 is implemented first; the types already allow v6. */
export type IpAddress = string;
/** "10.32.0.0/12" */
export type Cidr = string;

/** The vrouter's own MAC: every ARP from a pod is answered with it (proxy ARP). */
export const VROUTER_MAC = "00:00:5e:00:01:00";
/** MPLSoUDP destination port. */
export const MPLS_UDP_PORT = 6635;
export const VXLAN_UDP_PORT = 4789;
/** Fabric SNAT port pools (global-vrouter-config defaults). */
export const FABRIC_SNAT_POOLS = { tcp: [56000, 57023], udp: [57024, 58047] } as const;

/** The Contrail object (and, when the controller annotated it, the Kubernetes object) behind a decision. */
export interface ObjectRef {
  type: string; // "virtual-network", "firewall-rule", "access-control-list", ...
  uuid: string;
  fqName: string[];
  k8s?: { kind: string; namespace?: string; name: string };
}

export type VifType = "virtual" | "fabric" | "agent" | "host";

export interface FloatingIpBinding {
  uuid: string;
  address: IpAddress; // the floating IP
  fixedIp: IpAddress; // the VMI address it NATs to (floating_ip_fixed_ip_address or the VMI's primary IP)
  vrf: number; // VRF of the floating IP's VN (SNAT continues forwarding there)
  vnName: string; // fq_name string of the floating IP's VN
  direction: "ingress" | "egress" | "both";
  /** undefined = port mappings disabled; else listener port -> member port, per protocol number. */
  portMappings?: { protocol: number; srcPort: number; dstPort: number }[];
  origin: ObjectRef;
}

export interface Vif {
  index: number;
  type: VifType;
  name: string; // "tap1a2b3c4d-5e" for a pod, "fabric0" for the physical port
  mac: string; // VMI MAC for a pod port
  vrf: number; // VRF id the port forwards in (the fabric VRF for an ip-fabric-forwarded VN)
  ip?: IpAddress; // primary instance-ip
  ip6?: IpAddress;
  policyEnabled: boolean;
  vnName?: string; // fq_name string of the port's VN (source VN of its packets)
  vmi?: ObjectRef;
  vmUuid?: string;
  /** Security-group ids on the port (used for both ends of SG rule matching). */
  securityGroupIds: number[];
  /** Ingress / egress security-group ACLs (ids into VrouterTables.acls), evaluated in order. */
  sgIngressAcls: string[];
  sgEgressAcls: string[];
  /** Firewall policies (ids into VrouterTables.firewallPolicies) in evaluation order: global APS first. */
  firewallPolicies: string[];
  /** Tag ids (0xTTTTVVVV) on the port: its own, its VN's and its project's, resolved by type. */
  tags: number[];
  floatingIps: FloatingIpBinding[];
  /** ip_fabric_snat: traffic leaving to the fabric gets the compute's fabric IP and a pool port. */
  fabricSnat: boolean;
  /**
   * A service instance's interface (its VMI refs a port-tuple): it forwards others' packets, so the source
   * check takes any source the VRF routes back to it. "<left|right> of service-instance <fq> port-tuple <name>".
   */
  serviceInterface?: string;
}

export type NextHop =
  | { id: number; type: "discard" }
  /** Deliver to the agent: gateway / DNS addresses of a subnet, the compute's own fabric IP. */
  | { id: number; type: "receive"; vrf: number }
  /** Local port: rewrite L2 to the port's MAC. `policy` false is the no-policy twin NH. */
  | { id: number; type: "encap"; vif: number; policy: boolean }
  /** Overlay to another compute. */
  | {
      id: number;
      type: "tunnel";
      encap: "mplsoudp" | "mplsogre" | "vxlan";
      srcIp: IpAddress;
      dstIp: IpAddress;
    }
  /** ECMP: one component per member, each with its own label (overrides the route's label). */
  | { id: number; type: "composite"; members: { nh: number; label: number }[] }
  /**
   * Underlay without encapsulation (ip-fabric forwarding): send the inner IP packet out of the fabric port
   * towards `via` (a remote compute's fabric IP, or the destination itself when it is on the fabric subnet).
   */
  | { id: number; type: "fabric"; via: IpAddress }
  /** Continue the lookup in another VRF (VRF-assign / route leak by translation). */
  | { id: number; type: "vrf-translate"; vrf: number };

export interface Route {
  prefix: Cidr;
  nh: number;
  /** MPLS label (or VNI for VXLAN) to push for tunnel NHs. */
  label?: number;
  /** fq_name strings of the VNs the destination belongs to (network-policy ACL matching uses these). */
  destVns: string[];
  /** Security-group ids and tag ids of the destination endpoint (SG and firewall matching). */
  sgIds: number[];
  tags: number[];
  /** What put this route here: the VMI, floating IP, policy leak, ip-fabric leak, subnet receive route… */
  origin?: ObjectRef;
  /** Why the route is in this VRF when it was leaked from another ("network-policy x", "ip-fabric"). */
  leakedBy?: string;
}

export interface Vrf {
  id: number;
  name: string; // routing-instance fq_name string, e.g. "default-domain:k8s-default:k8s-default-pod-network:k8s-default-pod-network"
  vnName: string; // owning VN fq_name string
  vxlanId?: number;
  routes: Route[];
  /** Network-policy ACL of this VN (compiled by the config API's schema transformer); empty = allow. */
  networkPolicyAcl?: string;
}

export type AddressMatch =
  | { kind: "any" }
  | { kind: "vn"; name: string } // fq_name string; "local" resolved by the agent
  | { kind: "subnet"; cidr: Cidr }
  | { kind: "sg"; id: number };

export interface PortRange {
  start: number;
  end: number;
}

export interface AclRule {
  uuid: string;
  action: "pass" | "deny";
  /** IP protocol number, or "any". */
  protocol: number | "any";
  ethertype: "IPv4" | "IPv6";
  src: AddressMatch;
  dst: AddressMatch;
  srcPorts: PortRange;
  dstPorts: PortRange;
}

export interface Acl {
  id: string; // access-control-list uuid
  origin: ObjectRef; // the network-policy or security-group it was compiled from
  rules: AclRule[]; // first match wins; ACL present but nothing matched = implicit deny
}

export type FirewallEndpoint =
  | { kind: "any" }
  | { kind: "tags"; tags: number[] } // all listed tag ids must be on the endpoint
  | { kind: "address-group"; prefixes: Cidr[]; origin: ObjectRef }
  | { kind: "vn"; name: string }
  | { kind: "subnet"; cidr: Cidr };

export interface FirewallService {
  protocol: number | "any";
  srcPorts: PortRange;
  dstPorts: PortRange;
}

export interface FirewallRule {
  origin: ObjectRef;
  sequence: string; // sort key inside the policy ("00001.0")
  action: "pass" | "deny";
  /** "<" is normalised by the agent into ">" with endpoints swapped. */
  direction: ">" | "<>";
  endpoint1: FirewallEndpoint;
  endpoint2: FirewallEndpoint;
  /** Empty = any service. */
  services: FirewallService[];
  /** Tag type ids whose values must be equal on both ends. */
  matchTags: number[];
}

export interface FirewallPolicy {
  id: string;
  origin: ObjectRef;
  rules: FirewallRule[]; // already sorted by sequence; first match is terminal
}

export interface LinkLocalService {
  name: string;
  ip: IpAddress; // 169.254.x.y
  port: number;
  fabricIp: IpAddress;
  fabricPort: number;
}

/** Everything one vrouter forwards with. Replaced wholesale by the agent on each config change. */
export interface VrouterTables {
  /** Config version (change-stream position) these tables were computed from. */
  configVersion: number;
  /**
   * `transit`: a router between the fabric and its tunnels (the SDN gateway), which forwards what it receives
   * from the fabric back to it; a vrouter never does.
   */
  compute: { name: string; fabricIp: IpAddress; fabricVif: number; fabricVrf: number; transit?: boolean };
  vifs: Map<number, Vif>;
  nextHops: Map<number, NextHop>;
  vrfs: Map<number, Vrf>;
  /** MPLS label (or VNI) -> next-hop id, for packets arriving from the fabric. */
  labels: Map<number, number>;
  acls: Map<string, Acl>;
  firewallPolicies: Map<string, FirewallPolicy>;
  linkLocal: LinkLocalService[];
  encapPriority: ("mplsoudp" | "mplsogre" | "vxlan")[];
}

/** Every drop says why: names mirror the kernel's VP_DROP_* counters. */
export type DropReason =
  | "FLOW_ACTION_DROP"
  | "NOWHERE_TO_GO"
  | "TTL_EXCEEDED"
  | "INVALID_NH"
  | "DISCARD"
  | "FLOW_NAT_NO_RFLOW"
  | "INVALID_PACKET"
  | "INVALID_PROTOCOL"
  | "INVALID_LABEL"
  | "INVALID_SOURCE"
  | "INVALID_VNID"
  | "INVALID_IF"
  | "FLOW_TABLE_FULL"
  | "FLOW_NO_MEMORY"
  | "NO_FMD"
  | "PULL"
  | "ARP_NO_WHERE_TO_GO"
  | "INVALID_ARP";
