/**
 * Kubernetes RBAC → Contrail RBAC (controller/translate/rbac.ts): which keystone role assignments and which
 * api-access-list rules a namespace's bindings give, and what is reported instead of mapped.
 */
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { planRbac } from "../../controller/translate/rbac";

const obj = (
  kind: string,
  name: string,
  namespace: string | undefined,
  rest: Record<string, unknown>,
): KubeObject => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  ...rest,
});
const binding = (ns: string, name: string, role: { kind: string; name: string }, subjects: unknown[]) =>
  obj("RoleBinding", name, ns, { roleRef: { apiGroup: "rbac.authorization.k8s.io", ...role }, subjects });

const base = {
  namespaces: ["team-a", "team-b"],
  roles: [
    obj("Role", "pod-reader", "team-a", {
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }],
    }),
  ],
  clusterroles: [
    obj("ClusterRole", "edit", undefined, {
      rules: [
        { apiGroups: ["*"], resources: ["pods", "services"], verbs: ["get", "create", "patch", "delete"] },
      ],
    }),
  ],
  clusterrolebindings: [],
  users: new Set(["alice", "bob"]),
  projectOf: (ns: string) => ["default-domain", `k8s-${ns}`],
};

describe("Kubernetes RBAC mapped to keystone assignments and api-access-list rules", () => {
  it("a RoleBinding gives its users the role on the namespace's project and the role's verbs as CRUD on the types made for its resources", () => {
    const plan = planRbac({
      ...base,
      rolebindings: [
        binding("team-a", "r", { kind: "Role", name: "pod-reader" }, [{ kind: "User", name: "alice" }]),
      ],
    });
    expect(plan.grants).toEqual([{ user: "alice", project: "k8s-team-a", role: "k8s-role-pod-reader" }]);
    const list = plan.lists.get("default-domain:k8s-team-a")!;
    expect(list.rules.map((r) => r.rule_object)).toEqual([
      "instance-ip",
      "virtual-machine",
      "virtual-machine-interface",
    ]);
    expect(list.rules[2]!.rule_perms).toEqual([{ role_name: "k8s-role-pod-reader", role_crud: "R" }]);
    expect(plan.lists.has("default-domain:k8s-team-b")).toBe(false);
  });

  it("merges several bindings of a project role by role; create/patch/delete become C/U/D", () => {
    const plan = planRbac({
      ...base,
      rolebindings: [
        binding("team-b", "e", { kind: "ClusterRole", name: "edit" }, [{ kind: "User", name: "bob" }]),
        binding("team-b", "r", { kind: "ClusterRole", name: "edit" }, [{ kind: "User", name: "alice" }]),
      ],
    });
    expect(plan.grants.map((g) => `${g.user}@${g.project}:${g.role}`)).toEqual([
      "alice@k8s-team-b:k8s-clusterrole-edit",
      "bob@k8s-team-b:k8s-clusterrole-edit",
    ]);
    const lb = plan.lists
      .get("default-domain:k8s-team-b")!
      .rules.find((r) => r.rule_object === "loadbalancer")!;
    expect(lb.rule_perms).toEqual([{ role_name: "k8s-clusterrole-edit", role_crud: "CRUD" }]);
  });

  it("reports what it cannot map: groups, service accounts, unknown users, missing roles", () => {
    const plan = planRbac({
      ...base,
      rolebindings: [
        binding("team-a", "g", { kind: "ClusterRole", name: "edit" }, [
          { kind: "Group", name: "devs" },
          { kind: "ServiceAccount", name: "ci", namespace: "team-a" },
          { kind: "User", name: "carol" },
        ]),
        binding("team-a", "m", { kind: "Role", name: "missing" }, [{ kind: "User", name: "alice" }]),
      ],
    });
    expect(plan.grants).toEqual([]);
    expect(plan.lists.size).toBe(0);
    expect(plan.warnings).toEqual([
      "RoleBinding team-a/g: Group devs is not a keystone group, so no Contrail role is given to it",
      "RoleBinding team-a/g: ServiceAccount team-a/ci has no keystone user; only User and Group subjects are mapped to Contrail roles",
      "RoleBinding team-a/g: User carol is not a keystone user, so no Contrail role is given to them",
      "RoleBinding team-a/m: Role missing does not exist; nothing mapped to Contrail until it does",
    ]);
  });

  it("a Group subject gives the role to the keystone group of that name", () => {
    const plan = planRbac({
      ...base,
      groups: new Set(["auditors"]),
      rolebindings: [
        binding("team-a", "a", { kind: "ClusterRole", name: "edit" }, [{ kind: "Group", name: "auditors" }]),
      ],
    });
    expect(plan.grants).toEqual([]);
    expect(plan.groupGrants).toEqual([
      { group: "auditors", project: "k8s-team-a", role: "k8s-clusterrole-edit" },
    ]);
    expect(plan.lists.get("default-domain:k8s-team-a")!.rules.length).toBeGreaterThan(0);
  });

  it("a ClusterRoleBinding counts in every namespace", () => {
    const plan = planRbac({
      ...base,
      rolebindings: [],
      clusterrolebindings: [
        obj("ClusterRoleBinding", "all", undefined, {
          roleRef: { kind: "ClusterRole", name: "edit" },
          subjects: [{ kind: "User", name: "bob" }],
        }),
      ],
    });
    expect(plan.grants.map((g) => g.project)).toEqual(["k8s-team-a", "k8s-team-b"]);
  });
});

describe("Kubernetes' own bindings", () => {
  it("are left alone, without a warning: system: names, the bootstrap policy, system: subjects", () => {
    const plan = planRbac({
      ...base,
      rolebindings: [
        binding("team-a", "system:controller:bootstrap-signer", { kind: "Role", name: "pod-reader" }, [
          { kind: "ServiceAccount", name: "bootstrap-signer", namespace: "kube-system" },
        ]),
        binding("team-a", "viewers", { kind: "ClusterRole", name: "edit" }, [
          { kind: "Group", name: "system:authenticated" },
        ]),
      ],
      clusterrolebindings: [
        obj("ClusterRoleBinding", "cluster-admin", undefined, {
          metadata: { name: "cluster-admin", labels: { "kubernetes.io/bootstrapping": "rbac-defaults" } },
          roleRef: { kind: "ClusterRole", name: "edit" },
          subjects: [{ kind: "Group", name: "system:masters" }],
        }),
      ],
    });
    expect(plan).toMatchObject({ grants: [], warnings: [] });
    expect(plan.lists.size).toBe(0);
  });
});

describe("[AUTH] in contrail-kubernetes.conf", () => {
  it("auth_token_url turns keystone on with kube-manager's defaults; a bad URL is refused naming the key", async () => {
    const { parseConfig, ConfigError } = await import("../../controller/config");
    const cfg = parseConfig(
      "[AUTH]\nauth_token_url = http://10.0.0.5:5000/v3/auth/tokens\nauth_password = s3cret\n",
    );
    expect(cfg.keystone).toEqual({
      url: "http://10.0.0.5:5000",
      user: "admin",
      password: "s3cret",
      project: "admin",
    });
    expect(parseConfig("").keystone).toBeUndefined();
    expect(() => parseConfig("[AUTH]\nauth_token_url = http://10.0.0.5:5000/v2.0/tokens\n")).toThrow(
      ConfigError,
    );
    expect(() => parseConfig("[AUTH]\nauth_token_url = http://10.0.0.5:5000/v2.0/tokens\n")).toThrow(
      /\[AUTH\] auth_token_url.*not a keystone v3 token URL/,
    );
  });
});
