/**
 * The tables' objects as the per-packet code reads them: every field of a kind present (an absent one undefined)
 * in one order, so all objects of a kind share one shape. The agent builds vifs, routes, next-hops, ACL and
 * firewall rules with only the optional fields (or the union variant's fields) they have; the engine reads the
 * same fields of thousands of them per matrix, and V8 reads a property over many shapes several times slower
 * than over one (a 1,000-pod matrix spent a third of its time there). Copies are made once per object (the
 * agent hands the same objects to install after install) and never written. Each record type lists every key,
 * so a field added to a table type without being added here does not compile.
 *
 * Example: `hotVif(vif)` → a vif equal to `vif` (as `toEqual` sees it) of the one vif shape.
 */
import type {
  Acl,
  AclRule,
  AddressMatch,
  FirewallEndpoint,
  FirewallRule,
  NextHop,
  Route,
  Vif,
} from "../tables";

/** Every key of a type (optional ones included), each with its type. */
type AllKeys<T> = { [K in keyof Required<T>]: T[K] };
/** Every key of every variant of a union, each with its type or undefined. */
type UnionKeys<T> = {
  [K in T extends unknown ? keyof T : never]: T extends { [k in K]?: infer V } ? V : undefined;
};

/**
 * One instance per distinct name (VN fq_names): policy compares names of one VN many times per flow, and two
 * instances of a name compare character by character (VN names share long prefixes), one instance by identity;
 * distinct names already hashed (as keys here) differ at once.
 */
const names = new Map<string, string>();
function intern(name: string): string;
function intern(name: string | undefined): string | undefined;
function intern(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  let one = names.get(name);
  if (one === undefined) {
    if (names.size > 100_000) names.clear();
    names.set(name, name);
    one = name;
  }
  return one;
}

function cached<T extends object>(make: (o: T) => T): (o: T) => T {
  const copies = new WeakMap<T, T>();
  return (o) => {
    let hot = copies.get(o);
    if (!hot) {
      hot = make(o);
      copies.set(o, hot);
    }
    return hot;
  };
}

export const hotVif = cached<Vif>((v) => {
  const hot: AllKeys<Vif> = {
    index: v.index,
    type: v.type,
    name: v.name,
    mac: v.mac,
    vrf: v.vrf,
    ip: v.ip,
    ip6: v.ip6,
    policyEnabled: v.policyEnabled,
    vnName: intern(v.vnName),
    vmi: v.vmi,
    vmUuid: v.vmUuid,
    securityGroupIds: v.securityGroupIds,
    sgIngressAcls: v.sgIngressAcls,
    sgEgressAcls: v.sgEgressAcls,
    firewallPolicies: v.firewallPolicies,
    tags: v.tags,
    floatingIps: v.floatingIps,
    fabricSnat: v.fabricSnat,
    serviceInterface: v.serviceInterface,
  };
  return hot;
});

export const hotRoute = cached<Route>((r) => {
  const hot: AllKeys<Route> = {
    prefix: r.prefix,
    nh: r.nh,
    label: r.label,
    destVns: r.destVns.map((n) => intern(n)),
    sgIds: r.sgIds,
    tags: r.tags,
    origin: r.origin,
    leakedBy: r.leakedBy,
  };
  return hot;
});

export const hotNextHop = cached<NextHop>((nh) => {
  const n = nh as Partial<UnionKeys<NextHop>>;
  const hot: UnionKeys<NextHop> = {
    id: nh.id,
    type: nh.type,
    vrf: n.vrf,
    vif: n.vif,
    policy: n.policy,
    encap: n.encap,
    srcIp: n.srcIp,
    dstIp: n.dstIp,
    members: n.members,
    via: n.via,
  };
  return hot as NextHop;
});

function hotAddress(m: AddressMatch): AddressMatch {
  const a = m as Partial<UnionKeys<AddressMatch>>;
  const hot: UnionKeys<AddressMatch> = { kind: m.kind, name: intern(a.name), cidr: a.cidr, id: a.id };
  return hot as AddressMatch;
}

const hotAclRule = cached<AclRule>((r) => {
  const hot: AllKeys<AclRule> = {
    uuid: r.uuid,
    action: r.action,
    protocol: r.protocol,
    ethertype: r.ethertype,
    src: hotAddress(r.src),
    dst: hotAddress(r.dst),
    srcPorts: r.srcPorts,
    dstPorts: r.dstPorts,
  };
  return hot;
});

function hotEndpoint(e: FirewallEndpoint): FirewallEndpoint {
  const f = e as Partial<UnionKeys<FirewallEndpoint>>;
  const hot: UnionKeys<FirewallEndpoint> = {
    kind: e.kind,
    tags: f.tags,
    prefixes: f.prefixes,
    origin: f.origin,
    name: intern(f.name),
    cidr: f.cidr,
  };
  return hot as FirewallEndpoint;
}

export const hotFirewallRule = cached<FirewallRule>((r) => {
  const hot: AllKeys<FirewallRule> = {
    origin: r.origin,
    sequence: r.sequence,
    action: r.action,
    direction: r.direction,
    endpoint1: hotEndpoint(r.endpoint1),
    endpoint2: hotEndpoint(r.endpoint2),
    services: r.services,
    matchTags: r.matchTags,
  };
  return hot;
});

/** An ACL's rules as the engine reads them (an ACL with its rules, of one shape). */
export const hotAcl = cached<Acl>((acl) => {
  const hot: AllKeys<Acl> = { id: acl.id, origin: acl.origin, rules: acl.rules.map(hotAclRule) };
  return hot;
});
