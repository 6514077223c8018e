/**
 * Policy state the agent hands the datapath, resolved to plain data: network-policy and security-group ACLs
 * (as the schema transformer compiled them into `access-control-list` objects), effective tags of a VMI, and
 * the ordered firewall policies of the application-policy-sets that apply to it.
 *
 * Example: `firewallPoliciesFor(model, tagsOfVmi)` → ["<global aps policies…>", "<k8s aps policies…>"]
 */
import type {
  Acl,
  AclRule,
  AddressMatch,
  FirewallEndpoint,
  FirewallPolicy,
  FirewallRule,
  FirewallService,
} from "../tables";
import { type ConfigModel, type ConfigObject, cmp, fqString } from "./config-model";
import {
  originOf,
  parseHexOrInt,
  parseProtocol,
  portRange,
  syntheticTagId,
  tagId,
  tagTypeId,
  tagTypeValue,
} from "./config-views";

interface RawAddress {
  virtual_network?: string | null;
  subnet?: { ip_prefix?: string; ip_prefix_len?: number } | null;
  security_group?: string | number | null;
  network_policy?: string | null;
}

interface RawAclRule {
  match_condition?: {
    protocol?: unknown;
    src_address?: RawAddress;
    dst_address?: RawAddress;
    src_port?: unknown;
    dst_port?: unknown;
    ethertype?: string;
  };
  action_list?: { simple_action?: string; apply_service?: string[] };
  rule_uuid?: string;
}

/** What "local" means inside an ACL: the owning VN (VN ACLs) or the owning security group (SG ACLs). */
export interface AclOwner {
  vnName?: string;
  sgId?: number;
}

/** One `access-control-list` object → `Acl`. Rules the datapath could not interpret are dropped. */
export function toAcl(acl: ConfigObject, origin: ConfigObject, owner: AclOwner): Acl {
  const rules: AclRule[] = [];
  const raw =
    (acl.data.access_control_list_entries as { acl_rule?: RawAclRule[] } | undefined)?.acl_rule ?? [];
  raw.forEach((r, i) => {
    const mc = r?.match_condition ?? {};
    const protocol = parseProtocol(mc.protocol);
    if (protocol === undefined) return;
    rules.push({
      uuid: r.rule_uuid ?? `${acl.uuid}#${i}`,
      // a service chain's rule passes: where its packets go is the chain's routes' business
      action:
        r.action_list?.simple_action === "pass" || (r.action_list?.apply_service?.length ?? 0) > 0
          ? "pass"
          : "deny",
      protocol,
      ethertype: mc.ethertype === "IPv6" ? "IPv6" : "IPv4",
      src: addressMatch(mc.src_address, owner),
      dst: addressMatch(mc.dst_address, owner),
      srcPorts: portRange(mc.src_port),
      dstPorts: portRange(mc.dst_port),
    });
  });
  return { id: acl.uuid, origin: originOf(origin), rules };
}

/** Converted ACLs by ACL object: the model replaces an object that changes, so an entry lives as long as it is current. */
const convertedAcls = new WeakMap<ConfigObject, { origin: ConfigObject; owner: AclOwner; acl: Acl }>();

/**
 * `toAcl`, converted once per ACL object, origin and owner: every compute and every recomputation shares the
 * result (a security group's ACL is on each vif of the group, on every compute), which nobody modifies.
 */
export function sharedAcl(acl: ConfigObject, origin: ConfigObject, owner: AclOwner): Acl {
  const was = convertedAcls.get(acl);
  if (was && was.origin === origin && was.owner.vnName === owner.vnName && was.owner.sgId === owner.sgId)
    return was.acl;
  const converted = toAcl(acl, origin, owner);
  convertedAcls.set(acl, { origin, owner: { ...owner }, acl: converted });
  return converted;
}

function addressMatch(a: RawAddress | undefined, owner: AclOwner): AddressMatch {
  if (!a) return { kind: "any" };
  if (a.subnet?.ip_prefix)
    return { kind: "subnet", cidr: `${a.subnet.ip_prefix}/${a.subnet.ip_prefix_len ?? 32}` };
  if (a.security_group !== undefined && a.security_group !== null && a.security_group !== "any") {
    if (a.security_group === "local")
      return owner.sgId !== undefined ? { kind: "sg", id: owner.sgId } : { kind: "any" };
    const id = parseHexOrInt(a.security_group);
    if (id !== undefined) return { kind: "sg", id };
  }
  if (a.virtual_network && a.virtual_network !== "any") {
    if (a.virtual_network === "local")
      return owner.vnName ? { kind: "vn", name: owner.vnName } : { kind: "any" };
    return { kind: "vn", name: a.virtual_network };
  }
  return { kind: "any" };
}

/** The network-policy ACL the schema transformer attached to the VN (its `access-control-list` child). */
export function vnAclObject(model: ConfigModel, vn: ConfigObject): ConfigObject | undefined {
  const acls = model.children(vn.uuid, "access-control-list");
  const vnName = vn.fqName[vn.fqName.length - 1];
  return acls.find((a) => a.fqName[a.fqName.length - 1] === vnName) ?? acls[0];
}

/** Ingress / egress ACL objects of a security group. */
export function sgAclObjects(
  model: ConfigModel,
  sg: ConfigObject,
): { ingress?: ConfigObject; egress?: ConfigObject } {
  const acls = model.children(sg.uuid, "access-control-list");
  const named = (n: string) => acls.find((a) => a.fqName[a.fqName.length - 1] === n);
  return { ingress: named("ingress-access-control-list"), egress: named("egress-access-control-list") };
}

/**
 * Effective tags of a VMI: its own, its VN's and its project's. For every tag type but `label` the most
 * specific owner wins (VMI over VN over project); labels accumulate.
 */
export function effectiveTags(model: ConfigModel, owners: (ConfigObject | undefined)[]): number[] {
  const byType = new Map<string, number>();
  const labels = new Set<number>();
  // owners are most specific first; walk from least specific so later ones override
  for (const owner of [...owners].reverse()) {
    if (!owner) continue;
    for (const { target } of model.refs(owner, "tag")) {
      const { type } = tagTypeValue(target);
      const id = tagId(model, target);
      if (type === "label") labels.add(id);
      else byType.set(type, id);
    }
  }
  return [...byType.values(), ...labels].sort((a, b) => a - b);
}

function sequenceOf(attr: unknown): string {
  const s = (attr as { sequence?: unknown } | undefined)?.sequence;
  return typeof s === "string" ? s : typeof s === "number" ? String(s) : "";
}

function bySequence(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== "" && b !== "" && Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return cmp(a, b);
}

/** The global APS: the one default-global-vrouter-config references. */
function globalAps(model: ConfigModel, gvc: ConfigObject | undefined): ConfigObject[] {
  return gvc ? model.refs(gvc, "application-policy-set").map((r) => r.target) : [];
}

/**
 * Firewall-policy uuids that apply to an endpoint with `tags`, in evaluation order: the global APS first,
 * then every APS whose application tag the endpoint carries (global scope before project scope).
 */
export function firewallPolicyOrder(
  model: ConfigModel,
  gvc: ConfigObject | undefined,
  tags: number[],
): string[] {
  return apsOrder(model, gvc).forTags(tags);
}

/**
 * The application-policy-sets in evaluation order with their policies sorted, prepared once for many
 * endpoints (an agent recomputation asks for every vif; each pod's tags differ by namespace and labels).
 */
export function apsOrder(
  model: ConfigModel,
  gvc: ConfigObject | undefined,
): { forTags(tags: number[]): string[] } {
  const global = globalAps(model, gvc);
  const globalIds = new Set(global.map((a) => a.uuid));
  const policiesOf = (aps: ConfigObject) => {
    const refs = model.refs(aps, "firewall-policy");
    refs.sort((a, b) => bySequence(sequenceOf(a.attr), sequenceOf(b.attr)));
    return refs.map((r) => r.target.uuid);
  };
  const globalPolicies = global.map(policiesOf);
  const tagged = model
    .list("application-policy-set")
    .filter((aps) => !globalIds.has(aps.uuid))
    .sort((a, b) => {
      const ga = a.data.parent_type === "policy-management" ? 0 : 1;
      const gb = b.data.parent_type === "policy-management" ? 0 : 1;
      return ga - gb || cmp(fqString(a.fqName), fqString(b.fqName));
    })
    .map((aps) => ({
      tags: model.refs(aps, "tag").map((t) => tagId(model, t.target)),
      policies: policiesOf(aps),
    }));
  return {
    forTags(tags) {
      const tagSet = new Set(tags);
      const out: string[] = [];
      const seen = new Set<string>();
      const add = (ids: string[]) => {
        for (const id of ids)
          if (!seen.has(id)) {
            seen.add(id);
            out.push(id);
          }
      };
      for (const ids of globalPolicies) add(ids);
      for (const aps of tagged) if (aps.tags.some((t) => tagSet.has(t))) add(aps.policies);
      return out;
    },
  };
}

/** One firewall-policy with its rules resolved, sorted by sequence, `<` normalised. */
export function toFirewallPolicy(model: ConfigModel, policy: ConfigObject): FirewallPolicy {
  const refs = model.refs(policy, "firewall-rule");
  const rules: FirewallRule[] = [];
  for (const { target: rule, attr } of refs) {
    const r = toFirewallRule(model, rule, sequenceOf(attr));
    if (r) rules.push(r);
  }
  rules.sort((a, b) => bySequence(a.sequence, b.sequence));
  return { id: policy.uuid, origin: originOf(policy), rules };
}

interface RawEndpoint {
  tags?: string[];
  tag_ids?: (number | string)[];
  address_group?: string;
  virtual_network?: string;
  subnet?: { ip_prefix?: string; ip_prefix_len?: number };
  any?: boolean;
}

interface RawService {
  protocol?: unknown;
  src_ports?: unknown;
  dst_ports?: unknown;
}

function toFirewallRule(model: ConfigModel, rule: ConfigObject, sequence: string): FirewallRule | undefined {
  const d = rule.data;
  let e1 = endpoint(model, rule, d.endpoint_1 as RawEndpoint | undefined);
  let e2 = endpoint(model, rule, d.endpoint_2 as RawEndpoint | undefined);
  let direction = typeof d.direction === "string" ? d.direction : "<>";
  if (direction === "<") {
    [e1, e2] = [e2, e1];
    direction = ">";
  }
  if (direction !== ">" && direction !== "<>") return undefined;
  const services: FirewallService[] = [];
  const svc = d.service as RawService | undefined;
  if (svc) services.push(...toService(svc));
  for (const { target: sg } of model.refs(rule, "service-group")) {
    const list =
      (sg.data.service_group_firewall_service_list as { firewall_service?: RawService[] } | undefined)
        ?.firewall_service ?? [];
    for (const s of list) services.push(...toService(s));
  }
  const matchTags = (((d.match_tags as { tag_list?: string[] } | undefined)?.tag_list ?? []) as string[]).map(
    (t) => tagTypeId(model, t),
  );
  const action =
    (d.action_list as { simple_action?: string } | undefined)?.simple_action === "pass" ? "pass" : "deny";
  return {
    origin: originOf(rule),
    sequence,
    action,
    direction,
    endpoint1: e1,
    endpoint2: e2,
    services,
    matchTags,
  };
}

function toService(s: RawService): FirewallService[] {
  const protocol = parseProtocol(s.protocol);
  if (protocol === undefined) return [];
  return [{ protocol, srcPorts: portRange(s.src_ports), dstPorts: portRange(s.dst_ports) }];
}

function endpoint(model: ConfigModel, rule: ConfigObject, e: RawEndpoint | undefined): FirewallEndpoint {
  if (!e || e.any) return { kind: "any" };
  if (Array.isArray(e.tag_ids) && e.tag_ids.length) {
    const ids = e.tag_ids.map(parseHexOrInt).filter((x): x is number => x !== undefined);
    return { kind: "tags", tags: ids };
  }
  if (Array.isArray(e.tags) && e.tags.length)
    return { kind: "tags", tags: e.tags.map((t) => resolveTag(model, rule, t)) };
  if (e.address_group) {
    const ag = model.byFqName("address-group", e.address_group);
    if (!ag)
      return {
        kind: "address-group",
        prefixes: [],
        origin: { type: "address-group", uuid: "", fqName: e.address_group.split(":") },
      };
    const subnets =
      (
        ag.data.address_group_prefix as
          | { subnet?: { ip_prefix?: string; ip_prefix_len?: number }[] }
          | undefined
      )?.subnet ?? [];
    return {
      kind: "address-group",
      prefixes: subnets.filter((s) => s?.ip_prefix).map((s) => `${s.ip_prefix}/${s.ip_prefix_len ?? 32}`),
      origin: originOf(ag),
    };
  }
  if (e.virtual_network) return { kind: "vn", name: e.virtual_network };
  if (e.subnet?.ip_prefix)
    return { kind: "subnet", cidr: `${e.subnet.ip_prefix}/${e.subnet.ip_prefix_len ?? 32}` };
  return { kind: "any" };
}

/**
 * A tag name in a rule ("namespace=dev", "global:app=web") → tag id: the rule's project scope first, then
 * global, then any tag with that name; an unknown tag gets the id it will have once created.
 */
function resolveTag(model: ConfigModel, rule: ConfigObject, name: string): number {
  const global = name.startsWith("global:");
  const bare = global ? name.slice("global:".length) : name;
  const candidates: string[][] = [];
  if (!global && rule.data.parent_type === "project") candidates.push([...rule.fqName.slice(0, -1), bare]);
  candidates.push([bare]);
  for (const fq of candidates) {
    const t = model.byFqName("tag", fq);
    if (t) return tagId(model, t);
  }
  const any = model.list("tag").find((t) => t.fqName[t.fqName.length - 1] === bare);
  if (any) return tagId(model, any);
  const eq = bare.indexOf("=");
  return syntheticTagId(model, bare.slice(0, Math.max(eq, 0)), bare.slice(eq + 1));
}
