/**
 * Kubernetes RBAC for the embedded cluster, as kube-apiserver's RBAC authorizer decides it, for requests made
 * as another user (`KubeApi.impersonate`, what `kubectl --as` does): a request is allowed when a ClusterRoleBinding
 * (anywhere) or a RoleBinding in the request's namespace binds a subject the user is (the User by name, one of
 * its Groups, `system:authenticated`) to a Role/ClusterRole with a rule matching the API group, resource
 * (`pods`, `pods/status`), verb and name. Everything else is 403 Forbidden in the server's words. `system:masters`
 * may do anything. `STOCK_CLUSTER_ROLES` are the bootstrap ClusterRoles `cluster-admin`, `admin`, `edit` and `view`
 * (abridged: they cover the resources the testbed serves; `edit` and `view` leave RBAC objects out, as upstream),
 * which `EmbeddedCluster.installBootstrapPolicy` stores.
 *
 * Example: `cluster.impersonate({ name: "alice" }).list("pods", { namespace: "team-b" })`
 *   → rejects with 403 `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-b"`.
 */
import {
  type KubeApi,
  KubeApiError,
  type KubeObject,
  type ListOptions,
  type PatchType,
  RESOURCES,
  type ResourceName,
  type WatchEvent,
  type WatchOptions,
  type WriteOptions,
} from "../../../controller/kube/api";

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

export interface RequestAttributes {
  verb: string;
  resource: ResourceName;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface RbacObjects {
  roles: KubeObject[];
  clusterroles: KubeObject[];
  rolebindings: KubeObject[];
  clusterrolebindings: KubeObject[];
}

export interface UserInfo {
  name: string;
  groups?: string[];
}

const WORKLOADS = [
  "pods",
  "services",
  "endpoints",
  "replicationcontrollers",
  "deployments",
  "replicasets",
  "networkpolicies",
  "ingresses",
  "endpointslices",
  "configmaps",
];
const READ = ["get", "list", "watch"];
const WRITE = ["create", "update", "patch", "delete", "deletecollection"];

/** The stock ClusterRoles (abridged to the resources the testbed serves). */
export const STOCK_CLUSTER_ROLES: Record<string, PolicyRule[]> = {
  "cluster-admin": [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
  admin: [
    { apiGroups: ["*"], resources: WORKLOADS, verbs: [...READ, ...WRITE] },
    {
      apiGroups: ["rbac.authorization.k8s.io"],
      resources: ["roles", "rolebindings"],
      verbs: [...READ, ...WRITE],
    },
  ],
  edit: [{ apiGroups: ["*"], resources: WORKLOADS, verbs: [...READ, ...WRITE] }],
  view: [{ apiGroups: ["*"], resources: WORKLOADS, verbs: READ }],
};

const has = (list: string[] | undefined, v: string) => (list ?? []).some((x) => x === "*" || x === v);

function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  const r = RESOURCES[a.resource];
  const res = a.subresource ? `${r.plural}/${a.subresource}` : r.plural;
  if (!has(rule.apiGroups, r.group)) return false;
  if (!has(rule.resources, res)) return false;
  if (!has(rule.verbs, a.verb)) return false;
  if (rule.resourceNames?.length) return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

function bindsUser(binding: KubeObject, user: UserInfo): boolean {
  const groups = new Set([...(user.groups ?? []), "system:authenticated"]);
  return ((binding.subjects ?? []) as { kind: string; name: string; namespace?: string }[]).some(
    (s) =>
      (s.kind === "User" && s.name === user.name) ||
      (s.kind === "Group" && groups.has(s.name)) ||
      (s.kind === "ServiceAccount" && user.name === `system:serviceaccount:${s.namespace}:${s.name}`),
  );
}

function rulesOf(objs: RbacObjects, ref: { kind: string; name: string }, namespace?: string): PolicyRule[] {
  if (ref.kind === "ClusterRole") {
    const stored = objs.clusterroles.find((r) => r.metadata.name === ref.name);
    return (stored?.rules ?? []) as PolicyRule[];
  }
  const role = objs.roles.find((r) => r.metadata.name === ref.name && r.metadata.namespace === namespace);
  return (role?.rules ?? []) as PolicyRule[];
}

/** The RBAC authorizer's decision for one request. */
export function authorize(objs: RbacObjects, user: UserInfo, a: RequestAttributes): boolean {
  if (user.groups?.includes("system:masters")) return true;
  for (const b of objs.clusterrolebindings)
    if (bindsUser(b, user) && rulesOf(objs, b.roleRef).some((r) => ruleAllows(r, a))) return true;
  if (a.namespace === undefined) return false;
  for (const b of objs.rolebindings) {
    if (b.metadata.namespace !== a.namespace || !bindsUser(b, user)) continue;
    if (rulesOf(objs, b.roleRef, a.namespace).some((r) => ruleAllows(r, a))) return true;
  }
  return false;
}

/** kube-apiserver's Forbidden message. */
export function forbiddenMessage(user: UserInfo, a: RequestAttributes): string {
  const r = RESOURCES[a.resource];
  const qualified = r.group ? `${r.plural}.${r.group}` : r.plural;
  const res = a.subresource ? `${r.plural}/${a.subresource}` : r.plural;
  const scope = a.namespace !== undefined ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  const subject = `${qualified}${a.name !== undefined ? ` "${a.name}"` : ""}`;
  return `${subject} is forbidden: User "${user.name}" cannot ${a.verb} resource "${res}" in API group "${r.group}" ${scope}`;
}

/** A KubeApi that authorises every request as `user` against the RBAC objects `base` holds, then makes it. */
export class ImpersonatedKubeApi implements KubeApi {
  constructor(
    private readonly base: KubeApi,
    readonly user: UserInfo,
  ) {}

  private async check(a: RequestAttributes): Promise<void> {
    const [roles, clusterroles, rolebindings, clusterrolebindings] = await Promise.all(
      (["roles", "clusterroles", "rolebindings", "clusterrolebindings"] as const).map(
        async (r) => (await this.base.list(r)).items,
      ),
    );
    const ns = RESOURCES[a.resource].namespaced ? a.namespace : undefined;
    const attrs = { ...a, namespace: ns };
    if (!authorize({ roles, clusterroles, rolebindings, clusterrolebindings }, this.user, attrs))
      throw new KubeApiError(403, "Forbidden", forbiddenMessage(this.user, attrs));
  }

  async list(resource: ResourceName, opts?: ListOptions) {
    await this.check({ verb: "list", resource, namespace: opts?.namespace });
    return this.base.list(resource, opts);
  }

  async watch(
    resource: ResourceName,
    opts: WatchOptions,
    onEvent: (ev: WatchEvent) => void,
    onDone: (err?: Error) => void,
  ) {
    await this.check({ verb: "watch", resource, namespace: opts.namespace });
    return this.base.watch(resource, opts, onEvent, onDone);
  }

  async get(resource: ResourceName, name: string, namespace?: string) {
    await this.check({ verb: "get", resource, namespace, name });
    return this.base.get(resource, name, namespace);
  }

  async create(resource: ResourceName, obj: KubeObject, namespace?: string, opts?: WriteOptions) {
    await this.check({
      verb: "create",
      resource,
      namespace: namespace ?? obj.metadata.namespace ?? "default",
    });
    return this.base.create(resource, obj, namespace, opts);
  }

  async replace(resource: ResourceName, obj: KubeObject, opts?: WriteOptions) {
    await this.check({
      verb: "update",
      resource,
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
    });
    return this.base.replace(resource, obj, opts);
  }

  async patch(
    resource: ResourceName,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    type?: PatchType,
    opts?: WriteOptions,
  ) {
    await this.check({ verb: "patch", resource, namespace, name });
    return this.base.patch(resource, name, namespace, patch, type, opts);
  }

  async patchStatus(resource: ResourceName, name: string, namespace: string | undefined, patch: unknown) {
    await this.check({ verb: "patch", resource, subresource: "status", namespace, name });
    return this.base.patchStatus(resource, name, namespace, patch);
  }

  async delete(
    resource: ResourceName,
    name: string,
    namespace?: string,
    opts?: { gracePeriodSeconds?: number },
  ) {
    await this.check({ verb: "delete", resource, namespace, name });
    return this.base.delete(resource, name, namespace, opts);
  }

  impersonate(user: UserInfo): KubeApi {
    return new ImpersonatedKubeApi(this.base, user);
  }
}
