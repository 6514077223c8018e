/**
 * The VNC resource types as data: parents, refs (with typed attrs), properties, required fields and defaults.
 * Validation, defaulting, LIST/GET shaping, the root links and the exported TypeScript types all derive from
 * this one table. Example: `SCHEMA["virtual-network"].parents` → `["project"]`;
 * `type VN = Resource<"virtual-network">`.
 */
import * as P from "./schema-props";
import { any, bool, type Infer, int, list, obj, type Prop, str } from "./schema-types";

type Fields = Record<string, Prop<unknown>>;
/** Ref target type → attr type (null = ref without attr). */
type Refs = Record<string, Prop<unknown> | null>;

interface Def<F extends Fields = Fields, R extends Refs = Refs> {
  /** Allowed parent types; "config-root" means a 1-element fq_name. */
  parents: readonly string[];
  props: F;
  refs: R;
  /** Props or ref fields that must be present on create. */
  required?: readonly string[];
  /** Property defaults applied on create when absent. */
  defaults?: { [K in keyof F]?: Infer<F[K]> };
  /** Children of these types are owned by the parent: they never block its delete and go with it. */
  derivedChildren?: readonly string[];
}

const def = <F extends Fields, R extends Refs>(d: Def<F, R>): Def<F, R> => d;

const draft = { draft_mode_state: str("created", "updated", "deleted") };

const DEFS = {
  "global-system-config": def({
    parents: ["config-root"],
    props: {
      autonomous_system: int(),
      enable_4byte_as: bool(),
      config_version: str(),
      graceful_restart_parameters: any(),
      plugin_tuning: any(),
      ibgp_auto_mesh: bool(),
      ip_fabric_subnets: obj({ subnet: list(P.SubnetType) }),
      alarm_enable: bool(),
      user_defined_log_statistics: any(),
      bgpaas_parameters: any(),
      mac_limit_control: any(),
      mac_move_control: any(),
      mac_aging_time: int(),
      igmp_enable: bool(),
      supported_device_families: any(),
      bgp_always_compare_med: bool(),
      rd_cluster_seed: int(),
      enable_security_policy_draft: bool(),
      data_center_interconnect_loopback_namespace: any(),
      data_center_interconnect_asn_namespace: any(),
      supported_fabric_annotations: P.KeyValuePairs,
      supported_vendor_hardwares: any(),
    },
    refs: { "bgp-router": null },
  }),
  "global-vrouter-config": def({
    parents: ["global-system-config"],
    props: {
      ecmp_hashing_include_fields: P.EcmpHashingIncludeFields,
      linklocal_services: P.LinklocalServicesTypes,
      encapsulation_priorities: obj({ encapsulation: list(str("MPLSoGRE", "MPLSoUDP", "VXLAN")) }),
      vxlan_network_identifier_mode: str("configured", "automatic"),
      flow_export_rate: int(),
      flow_aging_timeout_list: any(),
      enable_security_logging: bool(),
      encryption_mode: str("all", "none"),
      encryption_tunnel_endpoints: any(),
      forwarding_mode: str("l2_l3", "l2", "l3"),
      port_translation_pools: any(),
    },
    refs: {},
  }),
  domain: def({
    parents: ["config-root"],
    props: {
      domain_limits: obj({ project_limit: int(), virtual_network_limit: int(), security_group_limit: int() }),
    },
    refs: {},
  }),
  project: def({
    parents: ["domain"],
    props: {
      quota: any(),
      vxlan_routing: bool(),
      alarm_enable: bool(),
      enable_security_policy_draft: bool(),
    },
    refs: { "application-policy-set": null, "floating-ip-pool": null },
    defaults: { vxlan_routing: false, enable_security_policy_draft: false },
  }),
  "network-ipam": def({
    parents: ["project"],
    props: {
      network_ipam_mgmt: P.IpamType,
      ipam_subnets: P.IpamSubnets,
      ipam_subnet_method: str("user-defined-subnet", "flat-subnet", "auto-subnet"),
      ipam_subnetting: bool(),
    },
    refs: { "virtual-DNS": null },
    defaults: { ipam_subnet_method: "user-defined-subnet" },
  }),
  "virtual-network": def({
    parents: ["project"],
    props: {
      ecmp_hashing_include_fields: P.EcmpHashingIncludeFields,
      virtual_network_category: str("infra", "tenant", "internal", "routed"),
      virtual_network_properties: P.VirtualNetworkType,
      virtual_network_routed_properties: any(),
      provider_properties: P.ProviderDetails,
      virtual_network_network_id: int(),
      is_provider_network: bool(),
      port_security_enabled: bool(),
      fabric_snat: bool(),
      route_target_list: P.RouteTargetList,
      import_route_target_list: P.RouteTargetList,
      export_route_target_list: P.RouteTargetList,
      router_external: bool(),
      is_shared: bool(),
      external_ipam: bool(),
      flood_unknown_unicast: bool(),
      multi_policy_service_chains_enabled: bool(),
      address_allocation_mode: str(
        "user-defined-subnet-preferred",
        "user-defined-subnet-only",
        "flat-subnet-preferred",
        "flat-subnet-only",
      ),
      mac_learning_enabled: bool(),
      pbb_evpn_enable: bool(),
      pbb_etree_enable: bool(),
      layer2_control_word: bool(),
      igmp_enable: bool(),
      mac_limit_control: any(),
      mac_move_control: any(),
      mac_aging_time: int(),
      virtual_network_fat_flow_protocols: P.FatFlowProtocols,
    },
    refs: {
      "network-ipam": P.VnSubnetsType,
      "network-policy": P.VirtualNetworkPolicyType,
      "virtual-network": null,
    },
    defaults: {
      virtual_network_properties: { forwarding_mode: "l2_l3", rpf: "enable", allow_transit: false },
      port_security_enabled: true,
      fabric_snat: false,
      router_external: false,
      is_shared: false,
      address_allocation_mode: "user-defined-subnet-preferred",
      flood_unknown_unicast: false,
      is_provider_network: false,
    },
    derivedChildren: ["routing-instance", "access-control-list"],
  }),
  "routing-instance": def({
    parents: ["virtual-network"],
    props: {
      service_chain_information: any(),
      ipv6_service_chain_information: any(),
      evpn_service_chain_information: any(),
      evpn_ipv6_service_chain_information: any(),
      routing_instance_is_default: bool(),
      routing_instance_has_pnf: bool(),
      static_route_entries: any(),
      routing_instance_fabric_snat: bool(),
      default_ce_protocol: any(),
    },
    refs: {
      "routing-instance": obj({ destination_instance: str() }),
      "route-target": obj({ import_export: str("import", "export") }),
    },
    defaults: { routing_instance_is_default: false },
  }),
  "route-target": def({ parents: ["config-root"], props: {}, refs: {} }),
  "network-policy": def({
    parents: ["project"],
    props: { network_policy_entries: P.PolicyEntriesType },
    refs: {},
  }),
  "security-group": def({
    parents: ["project"],
    props: {
      security_group_id: int(),
      configured_security_group_id: int(),
      security_group_entries: P.PolicyEntriesType,
    },
    refs: {},
    derivedChildren: ["access-control-list"],
  }),
  "access-control-list": def({
    parents: ["virtual-network", "security-group"],
    props: { access_control_list_entries: P.AclEntriesType, access_control_list_hash: any() },
    refs: {},
  }),
  "virtual-machine": def({
    parents: ["config-root"],
    props: { server_type: str("baremetal-server", "virtual-server", "container") },
    refs: { "service-instance": null },
  }),
  // a service chain's template (v2: the service runs in VMs or pods whose interfaces join port tuples)
  "service-template": def({
    parents: ["domain"],
    props: { service_template_properties: P.ServiceTemplateType },
    refs: {},
  }),
  // svc-monitor's haproxy driver: the load balancer's service instance (its bindings carry the haproxy config);
  // a service chain's instance: a network-policy rule's action_list.apply_service names it
  "service-instance": def({
    parents: ["project"],
    props: { service_instance_properties: any(), service_instance_bindings: P.KeyValuePairs },
    refs: { "service-template": null },
  }),
  // one instance of the service: the VMIs (left, right) that ref it carry the chain's traffic
  "port-tuple": def({
    parents: ["service-instance"],
    props: {},
    refs: {},
  }),
  "virtual-machine-interface": def({
    parents: ["project", "virtual-machine", "virtual-router"],
    props: {
      virtual_machine_interface_mac_addresses: obj({ mac_address: list(str()) }),
      virtual_machine_interface_dhcp_option_list: P.DhcpOptionsListType,
      virtual_machine_interface_host_routes: P.RouteTableType,
      virtual_machine_interface_allowed_address_pairs: P.AllowedAddressPairs,
      vrf_assign_table: any(),
      virtual_machine_interface_device_owner: str(),
      virtual_machine_interface_disable_policy: bool(),
      virtual_machine_interface_properties: P.VirtualMachineInterfacePropertiesType,
      virtual_machine_interface_bindings: P.KeyValuePairs,
      virtual_machine_interface_fat_flow_protocols: P.FatFlowProtocols,
      vlan_tag_based_bridge_domain: bool(),
      port_security_enabled: bool(),
      ecmp_hashing_include_fields: P.EcmpHashingIncludeFields,
      igmp_enable: bool(),
    },
    refs: {
      "virtual-network": null,
      "virtual-machine": null,
      "security-group": null,
      "virtual-machine-interface": null,
      "routing-instance": any(),
      "service-health-check": null,
      "port-tuple": null,
    },
    required: ["virtual_network_refs"],
    defaults: { port_security_enabled: true, virtual_machine_interface_disable_policy: false },
  }),
  "instance-ip": def({
    parents: ["config-root"],
    props: {
      instance_ip_address: str(),
      instance_ip_family: str("v4", "v6"),
      instance_ip_mode: str("active-active", "active-standby"),
      secondary_ip_tracking_ip: P.SubnetType,
      instance_ip_subnet: P.SubnetType,
      subnet_uuid: str(),
      instance_ip_subscriber_tag: str(),
      instance_ip_secondary: bool(),
      instance_ip_local_ip: bool(),
      service_instance_ip: bool(),
      service_health_check_ip: bool(),
    },
    refs: {
      "virtual-network": null,
      "virtual-machine-interface": null,
      "network-ipam": null,
      "virtual-router": null,
    },
    defaults: {
      instance_ip_family: "v4",
      instance_ip_mode: "active-active",
      instance_ip_secondary: false,
      instance_ip_local_ip: false,
      service_instance_ip: false,
      service_health_check_ip: false,
    },
  }),
  "floating-ip-pool": def({
    parents: ["virtual-network"],
    props: { floating_ip_pool_subnets: obj({ subnet_uuid: list(str()) }) },
    refs: {},
  }),
  "floating-ip": def({
    parents: ["floating-ip-pool", "instance-ip"],
    props: {
      floating_ip_address: str(),
      floating_ip_is_virtual_ip: bool(),
      floating_ip_fixed_ip_address: str(),
      floating_ip_address_family: str("v4", "v6"),
      floating_ip_port_mappings_enable: bool(),
      floating_ip_port_mappings: P.PortMappings,
      floating_ip_traffic_direction: str("ingress", "egress", "both"),
    },
    refs: { project: null, "virtual-machine-interface": null },
    defaults: { floating_ip_traffic_direction: "both", floating_ip_port_mappings_enable: false },
  }),
  "virtual-router": def({
    parents: ["global-system-config"],
    props: {
      virtual_router_type: str("embedded", "tor-agent", "tor-service-node"),
      virtual_router_dpdk_enabled: bool(),
      virtual_router_ip_address: str(),
    },
    refs: {
      "virtual-machine": null,
      "network-ipam": obj({ allocation_pools: list(P.AllocationPoolType), subnet: list(P.SubnetType) }),
    },
  }),
  loadbalancer: def({
    parents: ["project"],
    props: {
      loadbalancer_properties: P.LoadbalancerType,
      loadbalancer_provider: str(),
    },
    refs: { "virtual-machine-interface": null, "service-instance": null },
  }),
  "loadbalancer-listener": def({
    parents: ["project"],
    props: { loadbalancer_listener_properties: P.LoadbalancerListenerType },
    refs: { loadbalancer: null },
  }),
  "loadbalancer-pool": def({
    parents: ["project"],
    props: {
      loadbalancer_pool_properties: P.LoadbalancerPoolType,
      loadbalancer_pool_provider: str(),
      loadbalancer_pool_custom_attributes: P.KeyValuePairs,
    },
    refs: {
      "virtual-machine-interface": null,
      "loadbalancer-listener": null,
      "loadbalancer-healthmonitor": null,
    },
  }),
  "loadbalancer-member": def({
    parents: ["loadbalancer-pool"],
    props: { loadbalancer_member_properties: P.LoadbalancerMemberType },
    refs: {},
  }),
  "loadbalancer-healthmonitor": def({
    parents: ["project"],
    props: { loadbalancer_healthmonitor_properties: P.LoadbalancerHealthmonitorType },
    refs: {},
  }),
  /** What the vrouter agent probes per VMI that refers to it (svc-monitor's native driver makes one per pool's monitor). */
  "service-health-check": def({
    parents: ["project"],
    props: { service_health_check_properties: P.ServiceHealthCheckType },
    refs: { "service-instance": any() },
  }),
  tag: def({
    parents: ["config-root", "project"],
    props: { tag_type_name: str(), tag_value: str(), tag_predefined: bool(), tag_id: str() },
    refs: { "tag-type": null },
    required: ["tag_type_name", "tag_value"],
  }),
  "tag-type": def({ parents: ["config-root"], props: { tag_type_id: str() }, refs: {} }),
  "firewall-rule": def({
    parents: ["project", "policy-management"],
    props: {
      action_list: P.ActionListType,
      service: P.FirewallServiceType,
      endpoint_1: P.FirewallRuleEndpointType,
      endpoint_2: P.FirewallRuleEndpointType,
      match_tags: obj({ tag_list: list(str()) }),
      match_tag_types: obj({ tag_type: list(int()) }),
      direction: str("<", ">", "<>"),
      ...draft,
    },
    refs: { "service-group": null, "address-group": null, "virtual-network": null },
  }),
  "firewall-policy": def({
    parents: ["project", "policy-management"],
    props: { ...draft },
    refs: { "firewall-rule": P.FirewallSequence },
  }),
  "application-policy-set": def({
    parents: ["project", "policy-management"],
    props: { all_applications: bool(), ...draft },
    refs: { "firewall-policy": P.FirewallSequence, "global-vrouter-config": null },
    defaults: { all_applications: false },
  }),
  "policy-management": def({ parents: ["config-root", "project"], props: {}, refs: {} }),
  "address-group": def({
    parents: ["project", "policy-management"],
    props: { address_group_prefix: obj({ subnet: list(P.SubnetType) }), ...draft },
    refs: {},
  }),
  "service-group": def({
    parents: ["project", "policy-management"],
    props: {
      service_group_firewall_service_list: obj({ firewall_service: list(P.FirewallServiceType) }),
      ...draft,
    },
    refs: {},
  }),
  "api-access-list": def({
    parents: ["domain", "project", "global-system-config"],
    props: { api_access_list_entries: P.RbacRuleEntriesType },
    refs: {},
  }),
  "virtual-DNS": def({ parents: ["domain"], props: { virtual_DNS_data: P.VirtualDnsType }, refs: {} }),
  "bgp-router": def({
    parents: ["routing-instance"],
    props: { bgp_router_parameters: any() },
    refs: { "bgp-router": any() },
  }),
};

/** Properties every resource carries besides its own. */
export const COMMON_PROPS = {
  id_perms: P.IdPermsType,
  perms2: P.PermType2,
  display_name: str(),
  annotations: P.KeyValuePairs,
};

/** Refs every resource may hold (Contrail lets any object carry tags). */
const COMMON_REFS = { tag: null } as const;

/**
 * Collection properties (prop-collection-get/update): ListProperty fields name the wrapped list's key;
 * MapProperty fields also name the key field of each element.
 */
export const LIST_PROPS: Readonly<Record<string, string>> = {
  port_translation_pools: "port_translation_pool",
  encryption_tunnel_endpoints: "endpoint",
  ipam_subnets: "subnets",
  virtual_network_fat_flow_protocols: "fat_flow_protocol",
  virtual_machine_interface_fat_flow_protocols: "fat_flow_protocol",
  floating_ip_port_mappings: "port_mappings",
  match_tags: "tag_list",
  address_group_prefix: "subnet",
  service_group_firewall_service_list: "firewall_service",
};
export const MAP_PROPS: Readonly<Record<string, { list: string; key: string }>> = {
  annotations: { list: "key_value_pair", key: "key" },
  virtual_machine_interface_bindings: { list: "key_value_pair", key: "key" },
  user_defined_log_statistics: { list: "statlist", key: "name" },
};

/** Fields the server owns; accepted in bodies and ignored or checked against the stored value. */
export const IDENTITY_FIELDS = [
  "uuid",
  "fq_name",
  "name",
  "parent_type",
  "parent_uuid",
  "parent_href",
  "href",
] as const;

type Defs = typeof DEFS;
export type ResourceType = keyof Defs;

export interface TypeInfo {
  type: ResourceType;
  /** Underscored form used in field names: `virtual_network`. */
  field: string;
  /** Collection path segment: `virtual-networks`. */
  plural: string;
  parents: readonly string[];
  props: Record<string, Prop<unknown>>;
  /** Ref target type → attr (null = none), including the common tag ref. */
  refs: Record<string, Prop<unknown> | null>;
  /** `<target>_refs` field → target type. */
  refFields: Map<string, ResourceType>;
  /** Plural child field (`routing_instances`) → child type. */
  childFields: Map<string, ResourceType>;
  /** `<type>_back_refs` field → referring type. */
  backRefFields: Map<string, ResourceType>;
  required: readonly string[];
  defaults: Record<string, unknown>;
  derivedChildren: readonly string[];
}

export const underscore = (t: string): string => t.replace(/-/g, "_");

function build(): Map<string, TypeInfo> {
  const out = new Map<string, TypeInfo>();
  for (const [type, d] of Object.entries(DEFS) as [ResourceType, Def][]) {
    const refs: Record<string, Prop<unknown> | null> = { ...d.refs, ...COMMON_REFS };
    out.set(type, {
      type,
      field: underscore(type),
      plural: `${type}s`,
      parents: d.parents,
      props: { ...d.props, ...COMMON_PROPS },
      refs,
      refFields: new Map(Object.keys(refs).map((t) => [`${underscore(t)}_refs`, t as ResourceType])),
      childFields: new Map(),
      backRefFields: new Map(),
      required: d.required ?? [],
      defaults: (d.defaults ?? {}) as Record<string, unknown>,
      derivedChildren: d.derivedChildren ?? [],
    });
  }
  for (const info of out.values()) {
    for (const p of info.parents) out.get(p)?.childFields.set(`${info.field}s`, info.type);
    for (const target of Object.keys(info.refs))
      out.get(target)?.backRefFields.set(`${info.field}_back_refs`, info.type);
  }
  return out;
}

/** Every resource type by its hyphenated name. */
export const SCHEMA: ReadonlyMap<string, TypeInfo> = build();
/** Collection segment (`virtual-networks`) → type. */
export const BY_PLURAL: ReadonlyMap<string, TypeInfo> = new Map(
  [...SCHEMA.values()].map((i) => [i.plural, i]),
);

export function typeInfo(type: string): TypeInfo | undefined {
  return SCHEMA.get(type);
}

/**
 * The fq_name the Python client gives an object created without a parent: a type with exactly one parent
 * type sits under `default-<parent>`, recursively; config-root children have a 1-element fq_name.
 * `defaultFqName("virtual-network", "red")` → `["default-domain", "default-project", "red"]`.
 */
export function defaultFqName(type: string, name: string): string[] {
  const info = SCHEMA.get(type);
  if (!info) throw new Error(`unknown type ${type}`);
  const parent = info.parents[0];
  if (parent === "config-root" || info.parents.length === 0) return [name];
  return [...defaultFqName(parent, `default-${parent}`), name];
}

// ---- exported TypeScript types, derived from the same table ----

type Us<S extends string> = S extends `${infer A}-${infer B}` ? `${A}_${Us<B>}` : S;
type InferFields<F> = { [K in keyof F]?: Infer<F[K]> };

/** A reference as the API returns it. */
export interface Ref<A = unknown> {
  to: string[];
  uuid?: string;
  href?: string;
  attr?: A;
}
type RefFieldsOf<R> = {
  [K in keyof R as `${Us<K & string>}_refs`]?: Ref<R[K] extends Prop<infer A> ? A : undefined>[];
};

export interface ResourceBase {
  uuid?: string;
  name?: string;
  fq_name?: string[];
  parent_type?: string;
  parent_uuid?: string;
  href?: string;
  parent_href?: string;
}

/** A resource of type `T` as its JSON looks on the wire (all fields optional, as in a partial PUT). */
export type Resource<T extends ResourceType> = ResourceBase &
  InferFields<Defs[T]["props"]> &
  InferFields<typeof COMMON_PROPS> &
  RefFieldsOf<Defs[T]["refs"] & typeof COMMON_REFS>;

export type VirtualNetwork = Resource<"virtual-network">;
export type NetworkIpam = Resource<"network-ipam">;
export type VirtualMachineInterface = Resource<"virtual-machine-interface">;
export type InstanceIp = Resource<"instance-ip">;
export type FloatingIp = Resource<"floating-ip">;
export type AccessControlList = Resource<"access-control-list">;
export type IpamSubnet = Infer<typeof P.IpamSubnetType>;
export type VnSubnets = Infer<typeof P.VnSubnetsType>;
export type AclRule = Infer<typeof P.AclRuleType>;
export type PolicyRule = Infer<typeof P.PolicyRuleType>;
export type KeyValuePairs = Infer<typeof P.KeyValuePairs>;
