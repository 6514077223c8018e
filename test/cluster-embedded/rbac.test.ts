/**
 * The embedded cluster acting as another user (kubectl --as): RBAC decisions and kube-apiserver's Forbidden
 * texts, RoleBindings taking effect and going away.
 */
import { describe, expect, it } from "vitest";
import { KubeApiError } from "../../controller/kube/api";
import { createEmbeddedCluster } from "../../testbed/cluster/embedded/index";

describe("embedded cluster RBAC for impersonated requests", () => {
  it("allows what a binding grants in its namespace only, with the server's Forbidden message otherwise", async () => {
    const c = createEmbeddedCluster({});
    try {
      c.installBootstrapPolicy();
      for (const name of ["team-a", "team-b"])
        await c.applyManifest({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
      const alice = c.impersonate({ name: "alice" });
      const denied = await alice.list("pods", { namespace: "team-a" }).catch((e) => e);
      expect(denied).toBeInstanceOf(KubeApiError);
      expect(denied.status).toBe(403);
      expect(denied.message).toBe(
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-a"',
      );
      await c.applyManifest({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "alice-view", namespace: "team-a" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "alice" }],
      });
      expect((await alice.list("pods", { namespace: "team-a" })).items).toEqual([]);
      await expect(alice.list("pods", { namespace: "team-b" })).rejects.toThrow(/in the namespace "team-b"/);
      const create = await alice
        .create("pods", {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "p", namespace: "team-a" },
          spec: {},
        })
        .catch((e) => e);
      expect(create.message).toBe(
        'pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "team-a"',
      );
      const np = await alice.get("networkpolicies", "x", "team-a").catch((e) => e);
      expect(np.status).toBe(404); // view may get networkpolicies: the answer is the server's NotFound
      await expect(alice.list("namespaces")).rejects.toThrow(
        'namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group "" at the cluster scope',
      );
      await expect(alice.list("rolebindings", { namespace: "team-a" })).rejects.toThrow(
        /rolebindings.rbac.authorization.k8s.io is forbidden/,
      );
      await c.delete("rolebindings", "alice-view", "team-a");
      await expect(alice.list("pods", { namespace: "team-a" })).rejects.toThrow(/forbidden/);
      // system:masters may do anything
      expect(
        await c.impersonate({ name: "root", groups: ["system:masters"] }).list("namespaces"),
      ).toBeTruthy();
    } finally {
      c.close();
    }
  });
});
