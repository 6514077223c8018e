/**
 * schema-transformer: keeps every virtual-network's policy ACL (child `access-control-list` named like the VN)
 * and every security-group's `ingress-access-control-list` / `egress-access-control-list` in step with the
 * network-policies and security-group rules, and gives security groups without one a `security_group_id`
 * (≥ 8000000, as the real API server's allocator does). Routing instances are the API server's job.
 * `planSchemaTransformer` is pure (config view → writes); `schemaTransformer` plugs it into a DaemonLoop.
 * Example: `planSchemaTransformer(ConfigMirror.of(objs)).writes` → creates/updates/deletes of ACLs.
 */
import {
  type CompileNotes,
  compileSecurityGroupAcls,
  compileVirtualNetworkAcl,
  EGRESS_ACL_NAME,
  INGRESS_ACL_NAME,
  securityGroupId,
  vnsByPolicy,
} from "./acl-compiler";
import type { ConfigView } from "./config-mirror";
import type { Plan, Reconciler } from "./daemon-loop";
import type { VncWrite } from "../../controller/vnc/client";
import {
  type AccessControlList,
  type AclEntriesType,
  fqString,
  type NetworkPolicy,
  type SecurityGroup,
  type VirtualNetwork,
  type VncObject,
} from "./vnc-objects";

/** First id the real API server hands out to security groups (cfgm_common SGID_MIN_ALLOC). */
export const SECURITY_GROUP_ID_MIN = 8_000_000;

/** JSON with null/undefined members dropped and keys sorted, for comparing stored and computed bodies. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (x === null) return undefined;
    if (x && typeof x === "object" && !Array.isArray(x)) {
      return Object.fromEntries(
        Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
      );
    }
    return x;
  });
}

// Memos keyed on object identity: the mirror replaces an object on every change, so an unchanged object is
// the same object and what was derived from it still holds. This keeps a plan over many VNs cheap when one
// change arrives (a plan runs twice per change: once for it, once for the echo of our own writes).
const storedJson = new WeakMap<object, string>();
const canonicalOf = (entries: object): string => {
  let json = storedJson.get(entries);
  if (json === undefined) {
    json = canonicalJson(entries);
    storedJson.set(entries, json);
  }
  return json;
};

interface VnCompiled {
  policies: (NetworkPolicy | undefined)[];
  /** Members of the policies named in `network_policy` addresses, which the result also depends on. */
  members: string;
  entries: AclEntriesType | undefined;
  notes: string[];
}
const compiledVns = new WeakMap<VirtualNetwork, VnCompiled>();

function policyAddressMembers(
  policies: (NetworkPolicy | undefined)[],
  members: Map<string, string[]>,
): string {
  const named = new Set<string>();
  for (const p of policies)
    for (const r of p?.network_policy_entries?.policy_rule ?? [])
      for (const a of [...(r.src_addresses ?? []), ...(r.dst_addresses ?? [])])
        if (a.network_policy) named.add(a.network_policy);
  return [...named].map((n) => `${n}=${(members.get(n) ?? []).join(",")}`).join(";");
}

function compileVn(
  vn: VirtualNetwork,
  policies: Map<string, NetworkPolicy>,
  members: Map<string, string[]>,
  notes: CompileNotes,
): AclEntriesType | undefined {
  const used = (vn.network_policy_refs ?? []).map((r) => policies.get(fqString(r.to)));
  const addressMembers = policyAddressMembers(used, members);
  const hit = compiledVns.get(vn);
  if (hit && hit.members === addressMembers && hit.policies.every((p, i) => p === used[i])) {
    notes.push(...hit.notes);
    return hit.entries;
  }
  const own: string[] = [];
  const entries = compileVirtualNetworkAcl(vn, policies, members, own);
  compiledVns.set(vn, { policies: used, members: addressMembers, entries, notes: own });
  notes.push(...own);
  return entries;
}

function planAcl(
  writes: VncWrite[],
  view: ConfigView,
  parentType: string,
  parent: VncObject,
  name: string,
  entries: AclEntriesType | undefined,
): void {
  const existing = view
    .children<AccessControlList>(parent, "access-control-list")
    .filter((a) => a.fq_name.at(-1) === name);
  const why = `${parentType} ${fqString(parent.fq_name)}`;
  if (!entries) {
    for (const acl of existing)
      writes.push({ op: "delete", type: "access-control-list", uuid: acl.uuid, why });
    return;
  }
  const [keep, ...dupes] = existing;
  for (const acl of dupes) writes.push({ op: "delete", type: "access-control-list", uuid: acl.uuid, why });
  if (!keep) {
    writes.push({
      op: "create",
      type: "access-control-list",
      body: {
        fq_name: [...parent.fq_name, name],
        parent_type: parentType,
        access_control_list_entries: entries,
      },
      why,
    });
  } else if (canonicalOf(keep.access_control_list_entries ?? {}) !== canonicalOf(entries)) {
    writes.push({
      op: "update",
      type: "access-control-list",
      uuid: keep.uuid,
      body: { access_control_list_entries: entries },
      why,
    });
  }
}

export function planSchemaTransformer(view: ConfigView): Plan {
  const writes: VncWrite[] = [];
  const notes: CompileNotes = [];

  const vns = view.list<VirtualNetwork>("virtual-network");
  const policies = new Map(view.list<NetworkPolicy>("network-policy").map((p) => [fqString(p.fq_name), p]));
  const members = vnsByPolicy(vns);
  for (const vn of vns) {
    const entries = compileVn(vn, policies, members, notes);
    planAcl(writes, view, "virtual-network", vn, vn.fq_name.at(-1) ?? "", entries);
  }

  const sgs = view.list<SecurityGroup>("security-group");
  const sgIds = new Map<string, number>();
  let nextId = SECURITY_GROUP_ID_MIN;
  for (const sg of sgs) {
    const id = securityGroupId(sg);
    if (id !== undefined) {
      sgIds.set(fqString(sg.fq_name), id);
      nextId = Math.max(nextId, id + 1);
    }
  }
  const missing = sgs
    .filter((sg) => securityGroupId(sg) === undefined)
    .sort((a, b) => a.uuid.localeCompare(b.uuid));
  for (const sg of missing) {
    writes.push({
      op: "update",
      type: "security-group",
      uuid: sg.uuid,
      body: { security_group_id: nextId++ },
      why: `security-group ${fqString(sg.fq_name)} has no security_group_id`,
    });
  }
  for (const sg of sgs) {
    const acls = compileSecurityGroupAcls(sg, sgIds, notes);
    if (!acls) continue; // compiled once it has an id
    planAcl(writes, view, "security-group", sg, INGRESS_ACL_NAME, acls.ingress);
    planAcl(writes, view, "security-group", sg, EGRESS_ACL_NAME, acls.egress);
  }
  return { writes, notes, warnings: chainWarnings(view, policies) };
}

/**
 * Service chains that cannot carry anything (ServiceChain.check_create upstream logs them and makes no
 * chain): a rule's apply_service naming an instance that does not exist, or one without port tuples.
 */
function chainWarnings(view: ConfigView, policies: Map<string, NetworkPolicy>): string[] {
  const out: string[] = [];
  const sis = new Map(view.list<VncObject>("service-instance").map((si) => [fqString(si.fq_name), si]));
  for (const [name, policy] of [...policies].sort((a, b) => a[0].localeCompare(b[0])))
    for (const rule of policy.network_policy_entries?.policy_rule ?? []) {
      for (const s of rule.action_list?.apply_service ?? []) {
        const ends = `${(rule.src_addresses ?? []).map((a) => a.virtual_network ?? "?").join(",")} ${rule.direction ?? "<>"} ${(rule.dst_addresses ?? []).map((a) => a.virtual_network ?? "?").join(",")}`;
        const si = sis.get(s);
        if (!si)
          out.push(
            `network-policy ${name}: rule ${ends} applies service-instance ${s}, which does not exist: no chain, the networks stay apart`,
          );
        else if (view.children<VncObject>(si, "port-tuple").length === 0)
          out.push(
            `network-policy ${name}: rule ${ends} applies service-instance ${s}, which has no port-tuple: the chain carries nothing until one holds the service's left and right interfaces`,
          );
      }
    }
  return out;
}

export const schemaTransformer: Reconciler = {
  name: "schema-transformer",
  watches: new Set([
    "virtual-network",
    "network-policy",
    "security-group",
    "access-control-list",
    // service chains: the instance a rule applies and its port tuples
    "service-instance",
    "port-tuple",
  ]),
  plan: planSchemaTransformer,
};
