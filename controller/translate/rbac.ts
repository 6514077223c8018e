/**
 * Kubernetes RBAC → Contrail RBAC (seed 001 §3.1.4; upstream kube-manager has no code for it, so this is the
 * testbed's own mapping — docs/architecture.md says why it is this one). Pure: Kubernetes objects in, the
 * Contrail side out.
 *
 * A RoleBinding in namespace N that binds User u to Role/ClusterRole R becomes, on N's project P:
 *   - a keystone role assignment: u holds role `k8s-role-<R>` (or `k8s-clusterrole-<R>`) on P, so u can get a
 *     token scoped to P — and perms2 lets a token scoped to P use P's objects (they are owned by P);
 *   - a rule in P's api-access-list `k8s-rbac` for that role: R's verbs as CRUD (create → C, get/list/watch → R,
 *     update/patch → U, delete/deletecollection → D, `*` → CRUD) on the Contrail types kube-manager makes for
 *     R's resources (pods → virtual-machine, virtual-machine-interface, instance-ip; services/ingresses → the
 *     load balancer objects and floating IPs; networkpolicies → the firewall objects, tags, security groups;
 *     namespaces → project, virtual networks, IPAMs; `*` → `*`).
 * A Group subject gives the role to the keystone group of that name (its members hold it on P). A
 * ClusterRoleBinding counts as a RoleBinding in every namespace. Kubernetes' own bindings and subjects
 * (`system:` names, the bootstrap policy) are left alone. ServiceAccounts have no keystone user here: they are
 * reported, not mapped. A binding removed (or its role changed) takes its assignment and
 * rules away at the next sync; a token scoped to a project the user lost every role on stops working.
 *
 * Example: RoleBinding team-a/dev-alice (Role dev: pods get,list) →
 *   grants [{user: "alice", project: "team-a", role: "k8s-role-dev"}], list team-a:k8s-rbac with
 *   [{rule_object: "virtual-machine", rule_field: null, rule_perms: [{role_name: "k8s-role-dev", role_crud: "R"}]}, …].
 */
import type { KubeObject } from "../kube/api";

export const RBAC_LIST_NAME = "k8s-rbac";
/** Roles this mapping owns in keystone (others are the operator's, never touched). */
export const ROLE_PREFIX = "k8s-";

export interface RbacRuleOut {
  rule_object: string;
  rule_field: null;
  rule_perms: { role_name: string; role_crud: string }[];
}

export interface Grant {
  user: string;
  project: string;
  role: string;
}

export interface RbacPlan {
  /** Project name (its fq_name joined) → the rules of its `k8s-rbac` list; absent projects have none. */
  lists: Map<string, { project: string[]; rules: RbacRuleOut[] }>;
  grants: Grant[];
  /** Group subjects: the keystone group of the same name gets the role (its members hold it). */
  groupGrants: { group: string; project: string; role: string }[];
  warnings: string[];
}

const VERB_CRUD: Record<string, string> = {
  create: "C",
  get: "R",
  list: "R",
  watch: "R",
  update: "U",
  patch: "U",
  delete: "D",
  deletecollection: "D",
  "*": "CRUD",
};

/** The Contrail types kube-manager makes for each Kubernetes resource. */
export const CONTRAIL_TYPES_OF: Record<string, string[]> = {
  pods: ["virtual-machine", "virtual-machine-interface", "instance-ip"],
  services: [
    "loadbalancer",
    "loadbalancer-listener",
    "loadbalancer-pool",
    "loadbalancer-member",
    "floating-ip",
  ],
  ingresses: [
    "loadbalancer",
    "loadbalancer-listener",
    "loadbalancer-pool",
    "loadbalancer-member",
    "floating-ip",
  ],
  networkpolicies: [
    "firewall-policy",
    "firewall-rule",
    "address-group",
    "application-policy-set",
    "tag",
    "network-policy",
    "security-group",
  ],
  namespaces: ["project", "virtual-network", "network-ipam", "security-group"],
};

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
}

export interface RbacInput {
  namespaces: string[];
  roles: KubeObject[];
  clusterroles: KubeObject[];
  rolebindings: KubeObject[];
  clusterrolebindings: KubeObject[];
  /** Keystone users and groups (only they can hold roles). */
  users: Set<string>;
  groups?: Set<string>;
  /** The project (fq_name) a namespace's objects live in. */
  projectOf(ns: string): string[];
}

export function contrailRoleName(ref: { kind: string; name: string }): string {
  return `${ROLE_PREFIX}${ref.kind === "ClusterRole" ? "clusterrole" : "role"}-${ref.name}`;
}

/** A Role's rules as api-access-list rules for `role`: object → CRUD letters, merged. */
function rulesFor(rules: PolicyRule[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of rules) {
    const crud = new Set((r.verbs ?? []).flatMap((v) => [...(VERB_CRUD[v] ?? "")]));
    if (crud.size === 0) continue;
    const objects = (r.resources ?? []).flatMap((res) =>
      res === "*" ? ["*"] : (CONTRAIL_TYPES_OF[res.split("/")[0]!] ?? []),
    );
    for (const o of objects) {
      const had = out.get(o) ?? "";
      out.set(
        o,
        "CRUD"
          .split("")
          .filter((c) => crud.has(c) || had.includes(c))
          .join(""),
      );
    }
  }
  return out;
}

/** Kubernetes' own bindings (its bootstrap policy, `system:` names): they grant its components, not tenants. */
function kubernetesOwn(b: KubeObject): boolean {
  return (
    b.metadata.name!.startsWith("system:") ||
    b.metadata.labels?.["kubernetes.io/bootstrapping"] === "rbac-defaults"
  );
}

export function planRbac(input: RbacInput): RbacPlan {
  const warnings: string[] = [];
  const lists = new Map<string, { project: string[]; rules: Map<string, Map<string, string>> }>();
  const grants = new Map<string, Grant>();
  const groupGrants = new Map<string, { group: string; project: string; role: string }>();
  const roleRules = (ref: { kind: string; name: string }, ns: string): PolicyRule[] | undefined => {
    const o =
      ref.kind === "ClusterRole"
        ? input.clusterroles.find((r) => r.metadata.name === ref.name)
        : input.roles.find((r) => r.metadata.name === ref.name && r.metadata.namespace === ns);
    return o ? ((o.rules ?? []) as PolicyRule[]) : undefined;
  };
  const bind = (b: KubeObject, ns: string, what: string) => {
    const ref = b.roleRef as { kind: string; name: string } | undefined;
    if (!ref) return;
    const rules = roleRules(ref, ns);
    if (!rules) {
      warnings.push(
        `${what}: ${ref.kind} ${ref.name} does not exist; nothing mapped to Contrail until it does`,
      );
      return;
    }
    const role = contrailRoleName(ref);
    const project = input.projectOf(ns);
    const key = project.join(":");
    if (project[0] !== "default-domain") {
      warnings.push(
        `${what}: project ${key} is not in default-domain, the only domain the testbed's keystone serves; not mapped`,
      );
      return;
    }
    let users = 0;
    for (const s of (b.subjects ?? []) as { kind: string; name: string; namespace?: string }[]) {
      if (s.name.startsWith("system:")) continue; // Kubernetes' own identities (system:authenticated, …)
      if (s.kind === "Group") {
        if (!input.groups?.has(s.name)) {
          warnings.push(
            `${what}: Group ${s.name} is not a keystone group, so no Contrail role is given to it`,
          );
          continue;
        }
        users++;
        groupGrants.set(`${s.name}\0${project[1]}\0${role}`, { group: s.name, project: project[1]!, role });
        continue;
      }
      if (s.kind !== "User") {
        warnings.push(
          `${what}: ${s.kind} ${s.namespace ? `${s.namespace}/` : ""}${s.name} has no keystone user; only User and Group subjects are mapped to Contrail roles`,
        );
        continue;
      }
      if (!input.users.has(s.name)) {
        warnings.push(`${what}: User ${s.name} is not a keystone user, so no Contrail role is given to them`);
        continue;
      }
      users++;
      grants.set(`${s.name}\0${project[1]}\0${role}`, { user: s.name, project: project[1]!, role });
    }
    if (!users) return;
    if (!lists.has(key)) lists.set(key, { project, rules: new Map() });
    const list = lists.get(key)!;
    for (const [obj, crud] of rulesFor(rules)) {
      if (!list.rules.has(obj)) list.rules.set(obj, new Map());
      const perms = list.rules.get(obj)!;
      const had = perms.get(role) ?? "";
      perms.set(
        role,
        "CRUD"
          .split("")
          .filter((c) => crud.includes(c) || had.includes(c))
          .join(""),
      );
    }
  };
  const namespaces = new Set(input.namespaces);
  for (const b of input.rolebindings) {
    if (kubernetesOwn(b)) continue;
    const ns = b.metadata.namespace!;
    if (namespaces.has(ns)) bind(b, ns, `RoleBinding ${ns}/${b.metadata.name}`);
  }
  for (const b of input.clusterrolebindings) {
    if (kubernetesOwn(b)) continue;
    for (const ns of [...namespaces].sort()) bind(b, ns, `ClusterRoleBinding ${b.metadata.name}`);
  }
  const out = new Map<string, { project: string[]; rules: RbacRuleOut[] }>();
  for (const [key, l] of [...lists].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const rules = [...l.rules]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([rule_object, perms]) => ({
        rule_object,
        rule_field: null,
        rule_perms: [...perms].sort().map(([role_name, role_crud]) => ({ role_name, role_crud })),
      }));
    out.set(key, { project: l.project, rules });
  }
  return {
    lists: out,
    grants: [...grants.values()].sort((a, b) =>
      `${a.user}${a.project}${a.role}` < `${b.user}${b.project}${b.role}` ? -1 : 1,
    ),
    groupGrants: [...groupGrants.values()].sort((a, b) =>
      `${a.group}${a.project}${a.role}` < `${b.group}${b.project}${b.role}` ? -1 : 1,
    ),
    warnings: [...new Set(warnings)],
  };
}
