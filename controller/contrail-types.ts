/**
 * The Contrail types the controller manages, in one table: creation order (deletion runs backwards), the
 * parent type of each, and the fields a scan reads back (what the translation sets, besides annotations and
 * display_name). A type the translation emits must be here, or `DesiredObject.type` does not type-check.
 *
 * Example: `MANAGED_TYPES["firewall-rule"].parent` → "policy-management"; `TYPE_ORDER.indexOf("tag")` → 1.
 */
interface TypeFacts {
  /** Parent type; undefined for objects under config-root with no parent (virtual-machine, instance-ip, tag). */
  parent?: string;
  scan: readonly string[];
}

export const MANAGED_TYPES = {
  project: { parent: "domain", scan: ["tag_refs"] },
  tag: { scan: ["tag_type_name", "tag_value"] },
  "network-ipam": { parent: "project", scan: ["ipam_subnet_method", "ipam_subnets"] },
  "network-policy": { parent: "project", scan: ["network_policy_entries"] },
  "security-group": { parent: "project", scan: ["security_group_entries"] },
  "virtual-network": {
    parent: "project",
    scan: [
      "virtual_network_properties",
      "address_allocation_mode",
      "fabric_snat",
      "network_ipam_refs",
      "network_policy_refs",
      "virtual_network_refs",
      "tag_refs",
    ],
  },
  "floating-ip-pool": { parent: "virtual-network", scan: ["floating_ip_pool_subnets"] },
  "virtual-router": {
    parent: "global-system-config",
    scan: ["virtual_router_ip_address", "virtual_machine_refs"],
  },
  "virtual-machine": { scan: ["server_type"] },
  "virtual-machine-interface": {
    parent: "project",
    scan: [
      "virtual_machine_interface_device_owner",
      "virtual_network_refs",
      "virtual_machine_refs",
      "security_group_refs",
      "tag_refs",
      "virtual_machine_interface_properties",
      "virtual_machine_interface_refs",
    ],
  },
  "instance-ip": {
    scan: [
      "instance_ip_family",
      "instance_ip_address",
      "subnet_uuid",
      "virtual_network_refs",
      "virtual_machine_interface_refs",
    ],
  },
  "floating-ip": {
    parent: "floating-ip-pool",
    scan: [
      "floating_ip_address",
      "floating_ip_traffic_direction",
      "virtual_machine_interface_refs",
      "project_refs",
    ],
  },
  loadbalancer: {
    parent: "project",
    scan: ["loadbalancer_provider", "loadbalancer_properties", "virtual_machine_interface_refs"],
  },
  "loadbalancer-listener": {
    parent: "project",
    scan: ["loadbalancer_listener_properties", "loadbalancer_refs"],
  },
  "loadbalancer-pool": {
    parent: "project",
    scan: ["loadbalancer_pool_provider", "loadbalancer_pool_properties", "loadbalancer_listener_refs"],
  },
  "loadbalancer-member": { parent: "loadbalancer-pool", scan: ["loadbalancer_member_properties"] },
  "address-group": { parent: "policy-management", scan: ["address_group_prefix"] },
  "firewall-rule": {
    parent: "policy-management",
    scan: ["endpoint_1", "endpoint_2", "service", "direction", "action_list"],
  },
  "firewall-policy": { parent: "policy-management", scan: ["firewall_rule_refs"] },
  "application-policy-set": { parent: "policy-management", scan: ["firewall_policy_refs", "tag_refs"] },
} as const satisfies Record<string, TypeFacts>;

export type ManagedType = keyof typeof MANAGED_TYPES;

/** Creation order: parents and ref targets before the objects that need them. */
export const TYPE_ORDER = Object.keys(MANAGED_TYPES) as ManagedType[];

export function isManagedType(t: string): t is ManagedType {
  return Object.hasOwn(MANAGED_TYPES, t);
}

/** The parent type of `t`, if it has one. */
export function parentTypeOf(t: ManagedType): string | undefined {
  return (MANAGED_TYPES[t] as TypeFacts).parent;
}

/** Fields a scan reads back for `t`. */
export function scanFieldsOf(t: ManagedType): readonly string[] {
  return MANAGED_TYPES[t].scan;
}
