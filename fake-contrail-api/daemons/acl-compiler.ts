/**
 * Pure core of the schema-transformer: compiles network-policies attached to a virtual-network into that VN's
 * access-control-list entries, and a security-group's rules into its ingress/egress ACL entries, following
 * the real schema-transformer (VirtualNetworkST.evaluate / SecurityGroupST.update_policy_entries) with
 * logical_routers_enabled off: policy rules in attachment order, `local` resolved to the VN, rules that do not
 * concern the VN dropped, rules shadowed by an earlier one dropped, then `my-vn → my-vn pass` and
 * `any → any deny` appended. A `<>` rule becomes two `>` rules, forward then reverse (upstream keeps one
 * `<>` rule and the agent adds the reverse; spelling it out gives every consumer the same semantics).
 * Example: `compileVirtualNetworkAcl(vn, policiesByFqName, vnsByPolicy)?.acl_rule.length`.
 */
import ipaddr from "ipaddr.js";
import {
  type AclEntriesType,
  type AclRuleType,
  type ActionListType,
  type AddressType,
  fqString,
  type NetworkPolicy,
  type PolicyRuleType,
  type PortType,
  type SecurityGroup,
  type SubnetType,
  type VirtualNetwork,
} from "./vnc-objects";

/** rule_uuid the real schema-transformer gives its implicit rules (cfgm_common). */
export const RULE_IMPLICIT_ALLOW_UUID = "00000000-0000-0000-0000-100000000001";
export const RULE_IMPLICIT_DENY_UUID = "00000000-0000-0000-0000-100000000002";
/** Name of the ACL children of a security group. */
export const INGRESS_ACL_NAME = "ingress-access-control-list";
export const EGRESS_ACL_NAME = "egress-access-control-list";

const ANY_PORT: PortType = { start_port: 0, end_port: 65535 };

const PROTOCOL_NUMBERS: Record<string, string> = { any: "any", icmp: "1", tcp: "6", udp: "17", icmp6: "58" };

/**
 * Policy protocol (name or number string) → ACL protocol (number string or "any"); undefined when unknown.
 * ICMP under IPv6 becomes 58, as upstream does.
 */
export function protocolToAcl(protocol: string, ethertype?: string | null): string | undefined {
  if (/^\d+$/.test(protocol)) return Number(protocol) <= 255 ? protocol : undefined;
  const name = protocol.toLowerCase();
  if (name === "icmp" && ethertype === "IPv6") return "58";
  return PROTOCOL_NUMBERS[name === "ipv6-icmp" ? "icmp6" : name];
}

/** Drops null/undefined fields so compiled addresses compare and serialise like the stored ones. */
function cleanAddress(a: AddressType): AddressType {
  const out: AddressType = {};
  if (a.virtual_network != null) out.virtual_network = a.virtual_network;
  if (a.subnet != null) out.subnet = { ip_prefix: a.subnet.ip_prefix, ip_prefix_len: a.subnet.ip_prefix_len };
  if (a.security_group != null) out.security_group = a.security_group;
  if (a.network_policy != null) out.network_policy = a.network_policy;
  if (a.subnet_list?.length) out.subnet_list = a.subnet_list.map((s) => ({ ...s }));
  return out;
}

function cleanAction(a: ActionListType): ActionListType {
  const out: ActionListType = {};
  for (const [k, v] of Object.entries(a)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

const port = (p: Partial<PortType> | null | undefined): PortType => ({
  start_port: p?.start_port ?? ANY_PORT.start_port,
  end_port: p?.end_port ?? ANY_PORT.end_port,
});

// ---- shadowed-rule elimination (upstream AclRuleListST) -------------------------------------------------

function portIsSubset(lhs: PortType, rhs: PortType): boolean {
  return lhs.start_port >= rhs.start_port && (rhs.end_port === -1 || lhs.end_port <= rhs.end_port);
}

function subnetIsSubset(l: SubnetType, r: SubnetType): boolean {
  try {
    const la = ipaddr.parse(l.ip_prefix);
    const ra = ipaddr.parse(r.ip_prefix);
    if (la.kind() !== ra.kind() || l.ip_prefix_len < r.ip_prefix_len) return false;
    return la.kind() === "ipv4"
      ? (la as ipaddr.IPv4).match(ra as ipaddr.IPv4, r.ip_prefix_len)
      : (la as ipaddr.IPv6).match(ra as ipaddr.IPv6, r.ip_prefix_len);
  } catch {
    return false; // an unparsable prefix shadows nothing
  }
}

function addressIsSubset(lhs: AddressType, rhs: AddressType): boolean {
  const ls = [...(lhs.subnet_list ?? []), ...(lhs.subnet ? [lhs.subnet] : [])];
  const rs = [...(rhs.subnet_list ?? []), ...(rhs.subnet ? [rhs.subnet] : [])];
  if (ls.length === 0 && rs.length === 0) {
    const r = rhs.virtual_network ?? undefined;
    return r === "any" || r === (lhs.virtual_network ?? undefined);
  }
  return ls.some((l) => rs.some((r) => subnetIsSubset(l, r)));
}

function ruleIsShadowed(rule: AclRuleType, earlier: readonly AclRuleType[]): boolean {
  const l = rule.match_condition;
  return earlier.some(({ match_condition: r }) => {
    return (
      portIsSubset(l.src_port, r.src_port) &&
      portIsSubset(l.dst_port, r.dst_port) &&
      (r.protocol === l.protocol || r.protocol === "any") &&
      addressIsSubset(l.src_address, r.src_address) &&
      addressIsSubset(l.dst_address, r.dst_address)
    );
  });
}

/** Appends `rule` unless an earlier rule already covers all the traffic it matches (its action is moot). */
function appendUnshadowed(list: AclRuleType[], rule: AclRuleType): void {
  if (!ruleIsShadowed(rule, list)) list.push(rule);
}

// ---- network policy → VN ACL ---------------------------------------------------------------------------

/** Problems found while compiling (a rule or a policy that was skipped and why). */
export type CompileNotes = string[];

/** The VN's policy refs in evaluation order: by (major, minor) sequence; refs without a sequence are skipped. */
export function orderedPolicyRefs(vn: VirtualNetwork, notes: CompileNotes = []): string[] {
  const refs: { name: string; major: number; minor: number; index: number }[] = [];
  (vn.network_policy_refs ?? []).forEach((ref, index) => {
    const seq = ref.attr?.sequence;
    if (!seq) {
      notes.push(`policy ${fqString(ref.to)} on ${fqString(vn.fq_name)} has no sequence: not applied`);
      return;
    }
    refs.push({ name: fqString(ref.to), major: seq.major, minor: seq.minor, index });
  });
  refs.sort((a, b) => a.major - b.major || a.minor - b.minor || a.index - b.index);
  return [...new Set(refs.map((r) => r.name))];
}

function policyRuleToAcl(
  self: string,
  rule: PolicyRuleType,
  vnsByPolicy: ReadonlyMap<string, readonly string[]>,
  notes: CompileNotes,
): AclRuleType[] {
  const protocol = rule.protocol == null ? "any" : protocolToAcl(rule.protocol, rule.ethertype);
  if (protocol === undefined) {
    notes.push(`${self}: unknown protocol "${rule.protocol}" in a policy rule: rule skipped`);
    return [];
  }
  if (!rule.action_list) {
    notes.push(`${self}: policy rule without action_list: rule skipped`);
    return [];
  }
  // a rule with apply_service is kept with its action list (the agent passes its flows; the chain's routes,
  // re-originated via the instance's interfaces, take them through it)
  const me = (vn: string | null | undefined) => vn === self || vn === "any";
  const expand = (a: AddressType): AddressType[] => {
    if (!a.network_policy) return [a];
    return (vnsByPolicy.get(a.network_policy) ?? []).map((vn) => ({ virtual_network: vn }));
  };
  // An empty port list would match nothing upstream; treat it as "any port", which is what users mean.
  const srcPorts = rule.src_ports?.length ? rule.src_ports.map(port) : [ANY_PORT];
  const dstPorts = rule.dst_ports?.length ? rule.dst_ports.map(port) : [ANY_PORT];
  const out: AclRuleType[] = [];
  for (const saddr of rule.src_addresses ?? []) {
    const sMatch = cleanAddress(saddr);
    let svn = saddr.virtual_network ?? undefined;
    if (svn === "local") {
      svn = self;
      sMatch.virtual_network = self;
    }
    for (const daddr of rule.dst_addresses ?? []) {
      const dMatch = cleanAddress(daddr);
      let dvn = daddr.virtual_network ?? undefined;
      if (dvn === "local") {
        dvn = self;
        dMatch.virtual_network = self;
      }
      const hasCidr = (a: AddressType) => Boolean(a.subnet || a.subnet_list?.length);
      if (me(dvn) || me(svn)) {
        // concerns this VN
      } else if (!dvn && daddr.network_policy) {
        if (!(vnsByPolicy.get(daddr.network_policy) ?? []).includes(self)) continue;
        delete dMatch.network_policy;
        dMatch.virtual_network = self;
      } else if (!svn && saddr.network_policy) {
        if (!(vnsByPolicy.get(saddr.network_policy) ?? []).includes(self)) continue;
        delete sMatch.network_policy;
        sMatch.virtual_network = self;
      } else if (
        !(!svn && !dvn && !saddr.network_policy && !daddr.network_policy && hasCidr(saddr) && hasCidr(daddr))
      ) {
        continue; // neither end is this VN: the rule belongs to the other VNs' ACLs
      }
      for (const sp of srcPorts)
        for (const dp of dstPorts)
          for (const sa of expand(sMatch))
            for (const da of expand(dMatch)) {
              const acl: AclRuleType = {
                match_condition: {
                  protocol,
                  src_address: cleanAddress(sa),
                  src_port: { ...sp },
                  dst_address: cleanAddress(da),
                  dst_port: { ...dp },
                  ...(rule.ethertype ? { ethertype: rule.ethertype } : {}),
                },
                action_list: cleanAction(rule.action_list),
              };
              if (rule.rule_uuid) acl.rule_uuid = rule.rule_uuid;
              if (rule.direction === "<>") {
                // both directions spelled out, the reverse right after the forward rule (where the agent
                // would put it), so any ACL consumer gets `<>` right
                acl.direction = ">";
                const m = acl.match_condition;
                out.push(acl, {
                  ...acl,
                  match_condition: {
                    ...m,
                    src_address: m.dst_address,
                    src_port: m.dst_port,
                    dst_address: m.src_address,
                    dst_port: m.src_port,
                  },
                });
              } else {
                if (rule.direction) acl.direction = rule.direction;
                out.push(acl);
              }
            }
    }
  }
  return out;
}

function implicitRule(self: string, action: "pass" | "deny"): AclRuleType {
  const name = action === "pass" ? self : "any";
  return {
    match_condition: {
      protocol: "any",
      src_address: { virtual_network: name },
      src_port: { ...ANY_PORT },
      dst_address: { virtual_network: name },
      dst_port: { ...ANY_PORT },
    },
    action_list: { simple_action: action },
    rule_uuid: action === "pass" ? RULE_IMPLICIT_ALLOW_UUID : RULE_IMPLICIT_DENY_UUID,
  };
}

/**
 * The entries of the ACL named after `vn` (its child), or undefined when no policy is attached (then the VN
 * has no ACL and its traffic is not policed). `policies` is keyed by fq_name string; `vnsByPolicy` lists, per
 * policy fq_name string, the VNs attached to it (for `network_policy` addresses).
 */
export function compileVirtualNetworkAcl(
  vn: VirtualNetwork,
  policies: ReadonlyMap<string, NetworkPolicy>,
  vnsByPolicy: ReadonlyMap<string, readonly string[]>,
  notes: CompileNotes = [],
): AclEntriesType | undefined {
  const self = fqString(vn.fq_name);
  const order = orderedPolicyRefs(vn, notes);
  if (order.length === 0) return undefined;
  const rules: AclRuleType[] = [];
  for (const name of order) {
    const policy = policies.get(name);
    if (!policy) {
      notes.push(`${self}: policy ${name} not found`);
      continue;
    }
    for (const prule of policy.network_policy_entries?.policy_rule ?? []) {
      for (const acl of policyRuleToAcl(self, prule, vnsByPolicy, notes)) appendUnshadowed(rules, acl);
    }
  }
  appendUnshadowed(rules, implicitRule(self, "pass"));
  appendUnshadowed(rules, implicitRule(self, "deny"));
  return { dynamic: false, acl_rule: rules };
}

/** Policy fq_name string → fq_name strings of the VNs that reference it, in VN order. */
export function vnsByPolicy(vns: readonly VirtualNetwork[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const vn of vns)
    for (const ref of vn.network_policy_refs ?? []) {
      const key = fqString(ref.to);
      const list = out.get(key) ?? [];
      list.push(fqString(vn.fq_name));
      out.set(key, list);
    }
  return out;
}

// ---- security group → ingress/egress ACLs --------------------------------------------------------------

/** The numeric id of a security group, or undefined when it has none yet. */
export function securityGroupId(sg: SecurityGroup): number | undefined {
  const raw = sg.configured_security_group_id || sg.security_group_id;
  const id = typeof raw === "string" ? Number(raw) : raw;
  return typeof id === "number" && Number.isInteger(id) && id > 0 ? id : undefined;
}

export interface SecurityGroupAcls {
  ingress: AclEntriesType;
  egress: AclEntriesType;
}

/**
 * Ingress and egress ACL entries of `sg`: a rule whose destination is `local` goes to ingress, one whose
 * source is `local` to egress; the other end's security group name becomes its numeric id (`any` → -1).
 * Undefined while `sg` has no id. `sgIds` maps SG fq_name strings to ids.
 */
export function compileSecurityGroupAcls(
  sg: SecurityGroup,
  sgIds: ReadonlyMap<string, number>,
  notes: CompileNotes = [],
): SecurityGroupAcls | undefined {
  const ownId = securityGroupId(sg);
  if (ownId === undefined) return undefined;
  const self = fqString(sg.fq_name);
  const ingress: AclRuleType[] = [];
  const egress: AclRuleType[] = [];
  const resolve = (a: AddressType): AddressType | undefined => {
    const out = cleanAddress(a);
    const name = a.security_group;
    if (name == null) return out;
    if (name === "local" || name === self) out.security_group = String(ownId);
    else if (name === "any") out.security_group = "-1";
    else {
      const id = sgIds.get(name);
      if (id === undefined) {
        notes.push(`${self}: security group ${name} not found: address skipped`);
        return undefined;
      }
      out.security_group = String(id);
    }
    if (name === "local") delete out.security_group;
    return out;
  };
  for (const prule of sg.security_group_entries?.policy_rule ?? []) {
    if (prule.protocol == null) {
      notes.push(`${self}: security group rule without protocol: rule skipped`);
      continue;
    }
    const protocol = protocolToAcl(prule.protocol, prule.ethertype);
    if (protocol === undefined) {
      notes.push(`${self}: unknown protocol "${prule.protocol}" in a security group rule: rule skipped`);
      continue;
    }
    for (const saddr of prule.src_addresses ?? []) {
      const s = resolve(saddr);
      if (!s) continue;
      for (const sp of prule.src_ports?.length ? prule.src_ports.map(port) : [ANY_PORT])
        for (const daddr of prule.dst_addresses ?? []) {
          const d = resolve(daddr);
          if (!d) continue;
          const target =
            daddr.security_group === "local"
              ? ingress
              : saddr.security_group === "local"
                ? egress
                : undefined;
          if (!target) {
            notes.push(`${self}: security group rule must have source or destination "local": rule skipped`);
            continue;
          }
          for (const dp of prule.dst_ports?.length ? prule.dst_ports.map(port) : [ANY_PORT]) {
            const acl: AclRuleType = {
              match_condition: {
                protocol,
                src_address: { ...s },
                src_port: { ...sp },
                dst_address: { ...d },
                dst_port: { ...dp },
                ...(prule.ethertype ? { ethertype: prule.ethertype } : {}),
              },
              action_list: { simple_action: "pass" },
            };
            if (prule.rule_uuid) acl.rule_uuid = prule.rule_uuid;
            target.push(acl);
          }
        }
    }
  }
  return { ingress: { acl_rule: ingress }, egress: { acl_rule: egress } };
}
