/**
 * The slice of the VNC object model the config daemons read and write, as plain JSON shapes (field names as
 * on the wire). Everything is optional because the API hands back whatever was stored.
 * Example: `const vn = obj as VirtualNetwork; for (const r of vn.network_policy_refs ?? []) use(r.to);`
 */

import type { WatchObject } from "../watch-client";

/** Any object as read from the API (the change stream's object shape). */
export type VncObject = WatchObject;

export interface Ref<A = unknown> {
  to: string[];
  uuid: string;
  href?: string;
  attr?: A | null;
}

export interface SubnetType {
  ip_prefix: string;
  ip_prefix_len: number;
}

export interface AddressType {
  virtual_network?: string | null;
  subnet?: SubnetType | null;
  security_group?: string | null;
  network_policy?: string | null;
  subnet_list?: SubnetType[] | null;
}

export interface PortType {
  start_port: number;
  end_port: number;
}

export interface ActionListType {
  simple_action?: "pass" | "deny" | null;
  apply_service?: string[] | null;
  mirror_to?: unknown;
  log?: boolean | null;
  [field: string]: unknown;
}

export interface PolicyRuleType {
  rule_uuid?: string | null;
  direction?: ">" | "<>" | "<" | null;
  protocol?: string | null;
  src_addresses?: AddressType[] | null;
  src_ports?: PortType[] | null;
  dst_addresses?: AddressType[] | null;
  dst_ports?: PortType[] | null;
  action_list?: ActionListType | null;
  ethertype?: "IPv4" | "IPv6" | null;
}

export interface MatchConditionType {
  protocol: string;
  src_address: AddressType;
  src_port: PortType;
  dst_address: AddressType;
  dst_port: PortType;
  ethertype?: "IPv4" | "IPv6";
}

export interface AclRuleType {
  match_condition: MatchConditionType;
  action_list: ActionListType;
  rule_uuid?: string;
  direction?: ">" | "<>" | "<";
}

export interface AclEntriesType {
  dynamic?: boolean;
  acl_rule: AclRuleType[];
}

export interface SequenceType {
  major: number;
  minor: number;
}

export interface VirtualNetwork extends VncObject {
  network_policy_refs?: Ref<{ sequence?: SequenceType | null }>[];
}

export interface NetworkPolicy extends VncObject {
  network_policy_entries?: { policy_rule?: PolicyRuleType[] | null } | null;
}

export interface SecurityGroup extends VncObject {
  security_group_id?: number | string | null;
  configured_security_group_id?: number | null;
  security_group_entries?: { policy_rule?: PolicyRuleType[] | null } | null;
}

export interface AccessControlList extends VncObject {
  access_control_list_entries?: AclEntriesType | null;
}

export interface KeyValuePair {
  key: string;
  value: string;
}

export interface Loadbalancer extends VncObject {
  loadbalancer_provider?: string | null;
  loadbalancer_properties?: { vip_address?: string | null } | null;
  virtual_machine_interface_refs?: Ref[];
}

export interface LoadbalancerListener extends VncObject {
  loadbalancer_listener_properties?: { protocol?: string | null; protocol_port?: number | null } | null;
  loadbalancer_refs?: Ref[];
}

export interface LoadbalancerPool extends VncObject {
  loadbalancer_listener_refs?: Ref[];
}

export interface LoadbalancerMember extends VncObject {
  loadbalancer_member_properties?: { protocol_port?: number | null } | null;
  annotations?: { key_value_pair?: KeyValuePair[] | null } | null;
}

export interface VirtualMachineInterface extends VncObject {
  virtual_network_refs?: Ref[];
}

export interface InstanceIp extends VncObject {
  instance_ip_address?: string | null;
  virtual_machine_interface_refs?: Ref[];
}

export interface PortMap {
  protocol: string;
  src_port: number;
  dst_port: number;
}

export interface FloatingIp extends VncObject {
  floating_ip_address?: string | null;
  floating_ip_traffic_direction?: string | null;
  floating_ip_port_mappings_enable?: boolean | null;
  floating_ip_port_mappings?: { port_mappings?: PortMap[] | null } | null;
  virtual_machine_interface_refs?: Ref[];
  project_refs?: Ref[];
}

/** `["default-domain","p","vn"]` → `"default-domain:p:vn"`: the name form policies and ACLs use. */
export const fqString = (fq: readonly string[]): string => fq.join(":");
