/**
 * Differential test of decoding and field validation: the same bad objects (wrong types, unknown fields under
 * each fieldValidation mode, unsupported enum values, bad patches) go to the embedded cluster and to a real
 * kube-apiserver (the local control plane), and both must answer with the same status code, reason, message
 * and warnings. One known difference is normalised: the patched object a merge patch error quotes is the real
 * server's own serialisation (Go field order, managedFields), so only the text around it is compared.
 * Skipped, naming build.sh, when the control plane is not built (unless CTB_REQUIRE_K8S=1).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  FieldValidation,
  KubeApi,
  KubeObject,
  PatchType,
  ResourceName,
} from "../../controller/kube/api";
import { HttpKubeApi } from "../../controller/kube/http";
import { createEmbeddedCluster, type EmbeddedCluster } from "../../testbed/cluster/embedded";
import {
  defaultBinDir,
  type LocalControlPlane,
  missingBinaries,
  startLocalControlPlane,
} from "../../testbed/cluster/local";
import { requireTier } from "../support/tiers";

const missing = missingBinaries(defaultBinDir());
requireTier(
  "K8S",
  missing.length === 0,
  `${missing.join(", ")} not built in ${defaultBinDir()}: run \`bash testbed/cluster/local/build.sh\``,
);

interface Case {
  name: string;
  resource: ResourceName;
  obj: KubeObject;
  fieldValidation?: FieldValidation;
  /** Create obj first, then send this patch. */
  patch?: { body: unknown; type: PatchType };
}

const container = (extra: Record<string, unknown> = {}) => ({ name: "c", image: "agnhost", ...extra });
const deploy = (
  spec: Record<string, unknown>,
  tpl: Record<string, unknown> = {},
  name = "web",
): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: "web" } },
    template: { metadata: { labels: { app: "web" } }, spec: { containers: [container()], ...tpl } },
    ...spec,
  },
});
const pod = (spec: Record<string, unknown>, md: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "p", ...md },
  spec: { containers: [container()], ...spec },
});
const svc = (spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "s" },
  spec,
});
const np = (spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "np" },
  spec: { podSelector: {}, ...spec },
});

const RBAC = "rbac.authorization.k8s.io/v1";
const role = (rules: unknown[], kind = "Role"): KubeObject => ({
  apiVersion: RBAC,
  kind,
  metadata: { name: "r" },
  rules,
});
const binding = (
  roleRef: Record<string, unknown>,
  subjects: unknown[],
  kind = "RoleBinding",
): KubeObject => ({
  apiVersion: RBAC,
  kind,
  metadata: { name: "rb" },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef },
  subjects,
});

const CASES: Case[] = [
  {
    name: "replicas as a string",
    resource: "deployments",
    obj: deploy({ replicas: "two" }),
    fieldValidation: "Strict",
  },
  { name: "replicas as a fraction", resource: "deployments", obj: deploy({ replicas: 1.5 }) },
  {
    name: "an unknown field, Strict",
    resource: "deployments",
    obj: deploy({ replicaz: 2 }),
    fieldValidation: "Strict",
  },
  {
    name: "unknown fields at every depth, Strict",
    resource: "deployments",
    obj: deploy({ foo: 1 }, { containers: [container({ imagePullPolcy: "Always" })], bar: {} }),
    fieldValidation: "Strict",
  },
  {
    name: "an unknown field, Warn",
    resource: "deployments",
    obj: deploy({ replicaz: 2 }),
    fieldValidation: "Warn",
  },
  { name: "an unknown field, default (Warn)", resource: "deployments", obj: deploy({ replicaz: 2 }) },
  {
    name: "an unknown field, Ignore",
    resource: "deployments",
    obj: deploy({ replicaz: 2 }),
    fieldValidation: "Ignore",
  },
  {
    name: "an unknown metadata field, Strict",
    resource: "pods",
    obj: pod({}, { lables: { a: "b" } }),
    fieldValidation: "Strict",
  },
  {
    name: "the first type error beats later ones and unknown fields",
    resource: "deployments",
    obj: deploy({ replicaz: 2, replicas: "x", minReadySeconds: "y" }),
    fieldValidation: "Strict",
  },
  { name: "Service type Foo", resource: "services", obj: svc({ type: "Foo", ports: [{ port: 80 }] }) },
  { name: "Service port as a string", resource: "services", obj: svc({ ports: [{ port: "80" }] }) },
  {
    name: "Service targetPort as a bool",
    resource: "services",
    obj: svc({ ports: [{ port: 80, targetPort: true }] }),
  },
  {
    name: "Service protocol as a number",
    resource: "services",
    obj: svc({ ports: [{ port: 80, protocol: 6 }] }),
  },
  {
    name: "container port protocol XTCP",
    resource: "pods",
    obj: pod({ containers: [container({ ports: [{ containerPort: 80, protocol: "XTCP" }] })] }),
  },
  {
    name: "template container port protocol XTCP",
    resource: "deployments",
    obj: deploy({}, { containers: [container({ ports: [{ containerPort: 80, protocol: "XTCP" }] })] }),
  },
  {
    name: "containerPort as a string",
    resource: "pods",
    obj: pod({ containers: [container({ ports: [{ containerPort: "80" }] })] }),
  },
  {
    name: "imagePullPolicy Sometimes",
    resource: "pods",
    obj: pod({ containers: [container({ imagePullPolicy: "Sometimes" })] }),
  },
  {
    name: "terminationMessagePolicy Loud",
    resource: "pods",
    obj: pod({ containers: [container({ terminationMessagePolicy: "Loud" })] }),
  },
  { name: "pod restartPolicy Sometimes", resource: "pods", obj: pod({ restartPolicy: "Sometimes" }) },
  {
    name: "template restartPolicy Never",
    resource: "deployments",
    obj: deploy({}, { restartPolicy: "Never" }),
  },
  {
    name: "template restartPolicy Sometimes",
    resource: "deployments",
    obj: deploy({}, { restartPolicy: "Sometimes" }),
  },
  { name: "policyTypes Sideways", resource: "networkpolicies", obj: np({ policyTypes: ["Sideways"] }) },
  {
    name: "Role rule without verbs",
    resource: "roles",
    obj: role([{ apiGroups: [""], resources: ["pods"] }]),
  },
  { name: "Role rule without api groups or resources", resource: "roles", obj: role([{ verbs: ["get"] }]) },
  {
    name: "ClusterRole rule with resources and non-resource URLs",
    resource: "clusterroles",
    obj: role(
      [{ verbs: ["get"], resources: ["pods"], apiGroups: [""], nonResourceURLs: ["/healthz"] }],
      "ClusterRole",
    ),
  },
  {
    name: "RoleBinding roleRef kind Rol",
    resource: "rolebindings",
    obj: binding({ kind: "Rol", name: "view" }, [{ kind: "User", name: "alice" }]),
  },
  {
    name: "RoleBinding subject kind user, and one without a name",
    resource: "rolebindings",
    obj: binding({ kind: "ClusterRole", name: "view" }, [{ kind: "user", name: "alice" }, { kind: "User" }]),
  },
  {
    name: "RoleBinding roleRef changed by a patch",
    resource: "rolebindings",
    obj: binding({ kind: "ClusterRole", name: "view" }, [{ kind: "User", name: "alice" }]),
    patch: { body: { roleRef: { name: "edit" } }, type: "merge" },
  },
  {
    name: "ClusterRoleBinding to a Role, ServiceAccount without namespace",
    resource: "clusterrolebindings",
    obj: binding(
      { kind: "Role", name: "view" },
      [{ kind: "ServiceAccount", name: "ci" }],
      "ClusterRoleBinding",
    ),
  },
  {
    name: "NetworkPolicy endPort as a string",
    resource: "networkpolicies",
    obj: np({ ingress: [{ ports: [{ port: 80, endPort: "90" }] }] }),
  },
  { name: "a label value as a number", resource: "pods", obj: pod({}, { labels: { a: 1 } }) },
  {
    name: "a bad quantity",
    resource: "pods",
    obj: pod({ containers: [container({ resources: { limits: { cpu: "lots" } } })] }),
  },
  {
    name: "a bool quantity",
    resource: "pods",
    obj: pod({ containers: [container({ resources: { limits: { cpu: true } } })] }),
  },
  { name: "containers as an object", resource: "pods", obj: pod({ containers: { name: "c" } }) },
  {
    name: "spec as a string",
    resource: "namespaces",
    obj: { apiVersion: "v1", kind: "Namespace", metadata: { name: "n" }, spec: "x" },
  },
  {
    name: "namespace finalizers as a string",
    resource: "namespaces",
    obj: { apiVersion: "v1", kind: "Namespace", metadata: { name: "n" }, spec: { finalizers: "kubernetes" } },
  },
  {
    name: "node unschedulable as a string",
    resource: "nodes",
    obj: { apiVersion: "v1", kind: "Node", metadata: { name: "n" }, spec: { unschedulable: "yes" } },
  },
  {
    name: "Endpoints port as a string",
    resource: "endpoints",
    obj: {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "e" },
      subsets: [{ addresses: [{ ip: "10.0.0.1" }], ports: [{ port: "x" }] }],
    },
  },
  {
    name: "EndpointSlice port as a string",
    resource: "endpointslices",
    obj: {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "es" },
      addressType: "IPv4",
      endpoints: [],
      ports: [{ port: "80" }],
    },
  },
  {
    name: "ReplicaSet replicas as a string",
    resource: "replicasets",
    obj: { ...deploy({ replicas: "two" }), kind: "ReplicaSet" },
  },
  {
    name: "ReplicationController replicas as a string",
    resource: "replicationcontrollers",
    obj: {
      apiVersion: "v1",
      kind: "ReplicationController",
      metadata: { name: "rc" },
      spec: { replicas: "two", selector: { app: "web" } },
    },
  },
  { name: "a timestamp that is not one", resource: "pods", obj: pod({}, { creationTimestamp: "yesterday" }) },
  { name: "a timestamp as a number", resource: "pods", obj: pod({}, { creationTimestamp: 5 }) },
  {
    name: "merge patch: replicas as a string",
    resource: "deployments",
    obj: deploy({}, {}, "mp"),
    patch: { body: { spec: { replicas: "two" } }, type: "merge" },
  },
  {
    name: "strategic patch: replicas as a string",
    resource: "deployments",
    obj: deploy({}, {}, "sp"),
    patch: { body: { spec: { replicas: "two" } }, type: "strategic" },
  },
  {
    name: "strategic patch: unknown fields, Strict",
    resource: "deployments",
    obj: deploy({}, {}, "spu"),
    patch: { body: { spec: { replicaz: 2, foo: 1 } }, type: "strategic" },
    fieldValidation: "Strict",
  },
  {
    name: "merge patch: an unknown field, Strict",
    resource: "deployments",
    obj: deploy({}, {}, "mpu"),
    patch: { body: { spec: { replicaz: 2 } }, type: "merge" },
    fieldValidation: "Strict",
  },
  {
    name: "merge patch: an unknown field, Warn",
    resource: "deployments",
    obj: deploy({}, {}, "mpw"),
    patch: { body: { spec: { replicaz: 2 } }, type: "merge" },
    fieldValidation: "Warn",
  },
];

/** What a client sees: `OK` or `<code> <reason>: <message>`, then the warnings. */
async function answer(api: KubeApi, c: Case): Promise<string> {
  const warnings: string[] = [];
  const opts = { fieldValidation: c.fieldValidation, onWarning: (w: string) => warnings.push(w) };
  const clusterScoped = c.resource === "namespaces" || c.resource === "nodes";
  const ns = clusterScoped ? undefined : "default";
  let out: string;
  try {
    if (c.patch) {
      await api.create(c.resource, c.obj, ns);
      warnings.length = 0;
      await api.patch(c.resource, c.obj.metadata.name!, ns, c.patch.body, c.patch.type, opts);
    } else await api.create(c.resource, c.obj, ns, opts);
    out = "OK";
  } catch (e) {
    const err = e as { status?: number; reason?: string; message: string };
    // a merge patch error quotes the server's own JSON of the patched object: compare what is around it
    const message = err.message.replace(
      /^( "" is invalid: patch: Invalid value: )"\{.*\}"(: .*)$/,
      '$1"{…}"$2',
    );
    out = `${err.status} ${err.reason}: ${message}`;
  } finally {
    await api.delete(c.resource, c.obj.metadata.name!, ns).catch(() => {});
  }
  return warnings.length > 0 ? `${out}\nwarnings: ${warnings.join(" | ")}` : out;
}

describe.skipIf(missing.length > 0)("bad objects: the embedded cluster answers as kube-apiserver", () => {
  let cp: LocalControlPlane;
  let workDir: string;
  let real: HttpKubeApi;
  let embedded: EmbeddedCluster;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "ctb-bad-objects-"));
    cp = await startLocalControlPlane({ workDir });
    real = HttpKubeApi.fromKubeconfig(cp.kubeconfigPath);
    embedded = createEmbeddedCluster();
  }, 180_000);

  afterAll(async () => {
    embedded?.close();
    await cp?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  }, 60_000);

  it("same status, reason, message and warnings for every case", async () => {
    const diffs: string[] = [];
    for (const c of CASES) {
      const want = await answer(real, c);
      const got = await answer(embedded, c);
      if (got !== want) diffs.push(`${c.name}\n  kube-apiserver: ${want}\n  embedded:       ${got}`);
    }
    expect(diffs).toEqual([]);
  }, 120_000);
});
