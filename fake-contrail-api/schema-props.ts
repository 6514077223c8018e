/**
 * Shared complex property types of the VNC schema (the XSD "types": IdPermsType, VnSubnetsType,
 * PolicyEntriesType, AclEntriesType, firewall endpoints, ...), written once with the builders in schema-types.
 * Example: `checkSpec(VnSubnetsType.spec, attr, "attr")`.
 */
import { any, bool, int, list, num, obj, str } from "./schema-types";

export const KeyValuePairs = obj({ key_value_pair: list(obj({ key: str(), value: str() })) });

export const IdPermsType = obj({
  permissions: obj({
    owner: str(),
    owner_access: int(),
    group: str(),
    group_access: int(),
    other_access: int(),
  }),
  uuid: obj({ uuid_mslong: num(), uuid_lslong: num() }),
  enable: bool(),
  created: str(),
  last_modified: str(),
  description: str(),
  user_visible: bool(),
  creator: str(),
});

export const ShareType = obj({ tenant: str(), tenant_access: int() });
export const PermType2 = obj({
  owner: str(),
  owner_access: int(),
  global_access: int(),
  share: list(ShareType),
});

export const SubnetType = obj({ ip_prefix: str(), ip_prefix_len: int() });
export const AllocationPoolType = obj({ start: str(), end: str(), vrouter_specific_pool: bool() });
export const RouteType = obj({
  prefix: str(),
  next_hop: str(),
  next_hop_type: str("service-instance", "ip-address"),
  community_attributes: obj({ community_attribute: list(str()) }),
});
export const RouteTableType = obj({ route: list(RouteType) });
export const DhcpOptionsListType = obj({
  dhcp_option: list(
    obj({ dhcp_option_name: str(), dhcp_option_value: str(), dhcp_option_value_bytes: str() }),
  ),
});

export const IpamSubnetType = obj({
  subnet: SubnetType,
  default_gateway: str(),
  dns_server_address: str(),
  subnet_uuid: str(),
  enable_dhcp: bool(),
  dns_nameservers: list(str()),
  allocation_pools: list(AllocationPoolType),
  addr_from_start: bool(),
  dhcp_option_list: DhcpOptionsListType,
  host_routes: RouteTableType,
  subnet_name: str(),
  alloc_unit: int(),
  created: str(),
  last_modified: str(),
  subscriber_tag: str(),
  vlan_tag: int(),
  dhcp_relay_server: list(str()),
});
export const VnSubnetsType = obj({ ipam_subnets: list(IpamSubnetType), host_routes: RouteTableType });
export const IpamSubnets = obj({ subnets: list(IpamSubnetType) });

export const IpamType = obj({
  ipam_method: str("dhcp", "fixed"),
  ipam_dns_method: str("none", "default-dns-server", "tenant-dns-server", "virtual-dns-server"),
  ipam_dns_server: obj({
    tenant_dns_server_address: obj({ ip_address: list(str()) }),
    virtual_dns_server_name: str(),
  }),
  dhcp_option_list: DhcpOptionsListType,
  host_routes: RouteTableType,
  cidr_block: SubnetType,
});

export const SequenceType = obj({ major: int(), minor: int() });
export const VirtualNetworkPolicyType = obj({ sequence: SequenceType, timer: any() });
export const PortType = obj({ start_port: int(), end_port: int() });
export const AddressType = obj({
  subnet: SubnetType,
  virtual_network: str(),
  security_group: str(),
  network_policy: str(),
  subnet_list: list(SubnetType),
});
export const ActionListType = obj({
  simple_action: str("deny", "pass"),
  gateway_name: str(),
  apply_service: list(str()),
  mirror_to: any(),
  assign_routing_instance: str(),
  log: bool(),
  alert: bool(),
  qos_action: str(),
  host_based_service: bool(),
});
export const PolicyRuleType = obj({
  rule_sequence: SequenceType,
  rule_uuid: str(),
  direction: str(">", "<>"),
  protocol: str(),
  src_addresses: list(AddressType),
  src_ports: list(PortType),
  application: list(str()),
  dst_addresses: list(AddressType),
  dst_ports: list(PortType),
  action_list: ActionListType,
  ethertype: str("IPv4", "IPv6"),
  created: str(),
  last_modified: str(),
});
export const PolicyEntriesType = obj({ policy_rule: list(PolicyRuleType) });

export const MatchConditionType = obj({
  protocol: str(),
  src_address: AddressType,
  src_port: PortType,
  dst_address: AddressType,
  dst_port: PortType,
  ethertype: str("IPv4", "IPv6"),
});
export const AclRuleType = obj({
  match_condition: MatchConditionType,
  action_list: ActionListType,
  rule_uuid: str(),
  direction: str(">", "<>"),
});
export const AclEntriesType = obj({ dynamic: bool(), acl_rule: list(AclRuleType) });

export const VirtualNetworkType = obj({
  allow_transit: bool(),
  network_id: int(),
  vxlan_network_identifier: int(),
  forwarding_mode: str("l2_l3", "l2", "l3"),
  rpf: str("enable", "disable"),
  mirror_destination: bool(),
  max_flows: int(),
  mtu: int(),
});
export const RouteTargetList = obj({ route_target: list(str()) });
export const EcmpHashingIncludeFields = obj({
  hashing_configured: bool(),
  source_ip: bool(),
  destination_ip: bool(),
  ip_protocol: bool(),
  source_port: bool(),
  destination_port: bool(),
});
export const ProviderDetails = obj({ segmentation_id: int(), physical_network: str() });
export const FatFlowProtocols = obj({
  fat_flow_protocol: list(
    obj({
      protocol: str(),
      port: int(),
      ignore_address: str("none", "source", "destination"),
      source_prefix: SubnetType,
      source_aggregate_prefix_length: int(),
      destination_prefix: SubnetType,
      destination_aggregate_prefix_length: int(),
    }),
  ),
});

export const PortMappings = obj({
  port_mappings: list(obj({ protocol: str(), src_port: int(), dst_port: int() })),
});

export const FirewallServiceType = obj({
  protocol: str(),
  protocol_id: int(),
  src_ports: PortType,
  dst_ports: PortType,
});
export const FirewallRuleEndpointType = obj({
  subnet: SubnetType,
  virtual_network: str(),
  address_group: str(),
  tags: list(str()),
  tag_ids: list(int()),
  any: bool(),
});
export const FirewallSequence = obj({ sequence: str() });

export const LinklocalServicesTypes = obj({
  linklocal_service_entry: list(
    obj({
      linklocal_service_name: str(),
      linklocal_service_ip: str(),
      linklocal_service_port: int(),
      ip_fabric_DNS_service_name: str(),
      ip_fabric_service_port: int(),
      ip_fabric_service_ip: list(str()),
    }),
  ),
});

export const LoadbalancerType = obj({
  status: str(),
  provisioning_status: str(),
  operating_status: str(),
  vip_subnet_id: str(),
  vip_address: str(),
  admin_state: bool(),
});
export const LoadbalancerListenerType = obj({
  protocol: str("HTTP", "HTTPS", "TCP", "UDP", "TERMINATED_HTTPS"),
  protocol_port: int(),
  admin_state: bool(),
  connection_limit: int(),
  default_tls_container: str(),
  sni_containers: list(str()),
});
export const LoadbalancerPoolType = obj({
  status: str(),
  status_description: str(),
  admin_state: bool(),
  protocol: str("HTTP", "HTTPS", "TCP", "UDP", "TERMINATED_HTTPS"),
  loadbalancer_method: str("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"),
  subnet_id: str(),
  session_persistence: str("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"),
  persistence_cookie_name: str(),
});
export const LoadbalancerMemberType = obj({
  admin_state: bool(),
  status: str(),
  status_description: str(),
  protocol_port: int(),
  weight: int(),
  address: str(),
  subnet_id: str(),
});
export const LoadbalancerHealthmonitorType = obj({
  admin_state: bool(),
  monitor_type: str("PING", "TCP", "HTTP", "HTTPS"),
  delay: int(),
  timeout: int(),
  max_retries: int(),
  http_method: str(),
  url_path: str(),
  expected_codes: str(),
});

export const ServiceHealthCheckType = obj({
  enabled: bool(),
  health_check_type: str("link-local", "end-to-end", "segment", "bfd", "vn-ip-list"),
  monitor_type: str("PING", "HTTP", "BFD"),
  delay: int(),
  delayUsecs: int(),
  timeout: int(),
  timeoutUsecs: int(),
  max_retries: int(),
  http_method: str(),
  url_path: str(),
  expected_codes: str(),
  target_ip_all: bool(),
});

export const VirtualDnsType = obj({
  domain_name: str(),
  dynamic_records_from_client: bool(),
  record_order: str("fixed", "random", "round-robin"),
  default_ttl_seconds: int(),
  next_virtual_DNS: str(),
  floating_ip_record: str("dashed-ip", "dashed-ip-tenant-name", "vm-name", "vm-name-tenant-name"),
  external_visible: bool(),
  reverse_resolution: bool(),
  soa_record: any(),
});

export const RbacRuleEntriesType = obj({
  rbac_rule: list(
    obj({
      rule_object: str(),
      rule_field: str(),
      rule_perms: list(obj({ role_name: str(), role_crud: str() })),
    }),
  ),
});

/** vnc_cfg.xsd ServiceTemplateType (the fields a v2 template uses). */
export const ServiceTemplateType = obj({
  version: int(),
  service_mode: str("transparent", "in-network", "in-network-nat"),
  service_type: str("firewall", "analyzer", "source-nat", "loadbalancer"),
  service_virtualization_type: str(
    "virtual-machine",
    "network-namespace",
    "vrouter-instance",
    "physical-device",
  ),
  interface_type: list(
    obj({ service_interface_type: str(), shared_ip: bool(), static_route_enable: bool() }),
  ),
  ordered_interfaces: bool(),
  service_scaling: bool(),
});
export const VirtualMachineInterfacePropertiesType = obj({
  service_interface_type: str(),
  sub_interface_vlan_tag: int(),
  local_preference: int(),
  interface_mirror: any(),
  max_flows: int(),
});
export const AllowedAddressPairs = obj({
  allowed_address_pair: list(
    obj({ ip: SubnetType, mac: str(), address_mode: str("active-active", "active-standby") }),
  ),
});
