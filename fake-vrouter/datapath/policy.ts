/**
 * Policy evaluation for a new flow, the agent's order (FlowEntry::DoPolicy) minus what the testbed does not
 * model (VRF-assign, mirror, FWaaS): network-policy ACLs, security-group ACLs, firewall policies. Each stage
 * stops on deny; an empty list passes (implicit allow), a non-empty list with no matching rule denies
 * (implicit deny).
 *
 * Example: `evaluateAcls(["acl-1"], tables.acls, tuple)` → `{ action: "deny", implicit: true, ... }`
 */
import type {
  Acl,
  AclRule,
  AddressMatch,
  FirewallEndpoint,
  FirewallPolicy,
  FirewallRule,
  PortRange,
  Vif,
} from "../tables";
import { ipInCidr } from "./addr";
import { firewallIndex } from "./firewall-index";
import { hotAcl } from "./hot";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./packet";
import { portWindow } from "./port-window";

/** One end of a flow as policy sees it: local ends come from the vif, remote ends from the route. */
export interface PolicyEnd {
  ip: string;
  vns: string[];
  sgIds: number[];
  tags: number[];
  vif?: Vif;
}

/** One end of a flow at a local vif: the vif's VN, security groups and tags. */
export function endOfVif(vif: Vif, ip: string): PolicyEnd {
  return { ip, vns: vif.vnName ? [vif.vnName] : [], sgIds: vif.securityGroupIds, tags: vif.tags, vif };
}

export interface PolicyTuple {
  proto: number;
  sport: number;
  dport: number;
  src: PolicyEnd;
  dst: PolicyEnd;
}

export interface AclVerdict {
  action: "pass" | "deny";
  /** True when no rule decided: empty list (allow) or nothing matched (deny). */
  implicit: boolean;
  acl?: Acl;
  rule?: AclRule;
}

export interface FirewallVerdict {
  action: "pass" | "deny";
  implicit: boolean;
  policy?: FirewallPolicy;
  rule?: FirewallRule;
}

function hasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP;
}

function isWildcard(range: PortRange): boolean {
  return range.start <= 0 && range.end >= 65535;
}

/** Port ranges only constrain protocols that have ports; a port-restricted rule never matches ICMP. */
function portsMatch(proto: number, sport: number, dport: number, src: PortRange, dst: PortRange): boolean {
  if (!hasPorts(proto)) return isWildcard(src) && isWildcard(dst);
  if (sport < src.start || sport > src.end) return false;
  // an all-packets dry run records which destination ports compare the same (port-window.ts)
  const w = portWindow();
  return w ? w.inRange(dport, dst.start, dst.end) : dport >= dst.start && dport <= dst.end;
}

function addressMatches(match: AddressMatch, end: PolicyEnd): boolean {
  switch (match.kind) {
    case "any":
      return true;
    case "vn":
      return end.vns.includes(match.name);
    case "subnet":
      return ipInCidr(end.ip, match.cidr);
    case "sg":
      return end.sgIds.includes(match.id);
  }
}

export function aclRuleMatches(rule: AclRule, t: PolicyTuple): boolean {
  if (rule.ethertype !== "IPv4") return false;
  if (rule.protocol !== "any" && rule.protocol !== t.proto) return false;
  // the ends first: a rule whose ends do not match says nothing about ports (an all-packets dry run's window
  // narrows only on the port comparisons of rules that could match)
  return (
    addressMatches(rule.src, t.src) &&
    addressMatches(rule.dst, t.dst) &&
    portsMatch(t.proto, t.sport, t.dport, rule.srcPorts, rule.dstPorts)
  );
}

/**
 * An ordered list of ACLs (network policy or security groups): the first matching rule across the list
 * decides. ACL ids missing from the table are skipped (the agent only references ACLs it has).
 */
export function evaluateAcls(
  ids: readonly string[],
  acls: ReadonlyMap<string, Acl>,
  t: PolicyTuple,
): AclVerdict {
  let present: Acl | undefined;
  for (const id of ids) {
    const table = acls.get(id);
    if (!table) continue;
    const acl = hotAcl(table);
    present ??= acl;
    for (const rule of acl.rules) {
      if (aclRuleMatches(rule, t)) return { action: rule.action, implicit: false, acl, rule };
    }
  }
  return present ? { action: "deny", implicit: true, acl: present } : { action: "pass", implicit: true };
}

function endpointMatches(ep: FirewallEndpoint, end: PolicyEnd): boolean {
  switch (ep.kind) {
    case "any":
      return true;
    case "tags":
      for (const tag of ep.tags) if (!end.tags.includes(tag)) return false;
      return true;
    case "address-group":
      for (const cidr of ep.prefixes) if (ipInCidr(end.ip, cidr)) return true;
      return false;
    case "vn":
      return end.vns.includes(ep.name);
    case "subnet":
      return ipInCidr(end.ip, ep.cidr);
  }
}

function tagOfType(tags: number[], type: number): number | undefined {
  for (const tag of tags) if (tag >>> 16 === type) return tag;
  return undefined;
}

/** match_tags: every listed tag type must be present with the same value on both ends. */
function matchTagsHold(types: number[], a: PolicyEnd, b: PolicyEnd): boolean {
  for (const type of types) {
    const x = tagOfType(a.tags, type);
    if (x === undefined || x !== tagOfType(b.tags, type)) return false;
  }
  return true;
}

export function firewallRuleMatches(rule: FirewallRule, t: PolicyTuple): boolean {
  // the ends first, then the services: as in aclRuleMatches, only a rule whose ends match compares ports
  const ends =
    (endpointMatches(rule.endpoint1, t.src) && endpointMatches(rule.endpoint2, t.dst)) ||
    (rule.direction === "<>" &&
      endpointMatches(rule.endpoint1, t.dst) &&
      endpointMatches(rule.endpoint2, t.src));
  if (!ends || !matchTagsHold(rule.matchTags, t.src, t.dst)) return false;
  if (rule.services.length === 0) return true;
  for (const s of rule.services)
    if (
      (s.protocol === "any" || s.protocol === t.proto) &&
      portsMatch(t.proto, t.sport, t.dport, s.srcPorts, s.dstPorts)
    )
      return true;
  return false;
}

/**
 * A vif's firewall policies in order; rules inside a policy are pre-sorted by sequence; first match wins. The
 * rules looked at are those an index over the list (firewall-index.ts) finds for the ends' tags: the same
 * first match as a scan of every rule, without the scan.
 */
export function evaluateFirewall(
  ids: readonly string[],
  policies: ReadonlyMap<string, FirewallPolicy>,
  t: PolicyTuple,
): FirewallVerdict {
  const index = firewallIndex(ids, policies);
  const hit = index.first(t.src.tags, t.dst.tags, (rule) => firewallRuleMatches(rule, t));
  if (hit) return { action: hit.rule.action, implicit: false, policy: hit.policy, rule: hit.rule };
  return index.present
    ? { action: "deny", implicit: true, policy: index.present }
    : { action: "pass", implicit: true };
}

/** `evaluateFirewall` as a scan of every rule in order: the definition the index is held to (tests). */
export function evaluateFirewallByScan(
  ids: readonly string[],
  policies: ReadonlyMap<string, FirewallPolicy>,
  t: PolicyTuple,
): FirewallVerdict {
  let present: FirewallPolicy | undefined;
  for (const id of ids) {
    const policy = policies.get(id);
    if (!policy) continue;
    present ??= policy;
    for (const rule of policy.rules) {
      if (firewallRuleMatches(rule, t)) return { action: rule.action, implicit: false, policy, rule };
    }
  }
  return present ? { action: "deny", implicit: true, policy: present } : { action: "pass", implicit: true };
}
