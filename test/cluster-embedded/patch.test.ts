import { afterEach, describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import {
  type EmbeddedCluster,
  LAST_APPLIED_ANNOTATION,
  createEmbeddedCluster,
} from "../../testbed/cluster/embedded";
import { jsonPatch, mergePatch, strategicMergePatch } from "../../testbed/cluster/embedded/patch";
import { rejection } from "./helpers";

let c: EmbeddedCluster | undefined;
afterEach(() => c?.close());

describe("merge patch (RFC 7386)", () => {
  it("merges maps, deletes with null, replaces lists", () => {
    const target = { a: { b: 1, c: 2 }, list: [1, 2, 3], keep: true };
    expect(mergePatch(target, { a: { b: null, d: 4 }, list: [9] })).toEqual({
      a: { c: 2, d: 4 },
      list: [9],
      keep: true,
    });
    expect(target).toEqual({ a: { b: 1, c: 2 }, list: [1, 2, 3], keep: true });
  });
});

describe("strategic merge patch", () => {
  const podSpec = {
    spec: {
      containers: [
        { name: "a", image: "a:1", ports: [{ containerPort: 80, protocol: "TCP" }] },
        { name: "b", image: "b:1" },
      ],
      tolerations: [{ key: "x", operator: "Exists" }],
    },
  };

  it("merges containers by name and their ports by containerPort", () => {
    const out = strategicMergePatch(
      podSpec,
      { spec: { containers: [{ name: "a", image: "a:2", ports: [{ containerPort: 81, name: "alt" }] }] } },
      "pods",
    ) as typeof podSpec;
    expect(out.spec.containers).toEqual([
      {
        name: "a",
        image: "a:2",
        ports: [
          { containerPort: 80, protocol: "TCP" },
          { containerPort: 81, name: "alt" },
        ],
      },
      { name: "b", image: "b:1" },
    ]);
  });

  it("honours $patch: delete and replace; lists without a merge key are replaced", () => {
    const out = strategicMergePatch(
      podSpec,
      {
        spec: {
          containers: [{ name: "b", $patch: "delete" }],
          tolerations: [{ key: "y", operator: "Exists" }],
        },
      },
      "pods",
    ) as typeof podSpec;
    expect(out.spec.containers.map((x) => x.name)).toEqual(["a"]);
    expect(out.spec.tolerations).toEqual([{ key: "y", operator: "Exists" }]);
    const replaced = strategicMergePatch(
      podSpec,
      { spec: { containers: [{ $patch: "replace" }, { name: "z", image: "z" }] } },
      "pods",
    ) as typeof podSpec;
    expect(replaced.spec.containers).toEqual([{ name: "z", image: "z" }]);
  });

  it("merges service ports by port and status conditions by type", () => {
    const svc = { spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] } };
    const out = strategicMergePatch(
      svc,
      { spec: { ports: [{ port: 80, name: "http" }] } },
      "services",
    ) as typeof svc;
    expect(out.spec.ports).toEqual([{ port: 80, targetPort: 8080, name: "http" }, { port: 443 }]);
    const pod = {
      status: {
        conditions: [
          { type: "Ready", status: "False" },
          { type: "PodScheduled", status: "True" },
        ],
      },
    };
    const p = strategicMergePatch(
      pod,
      { status: { conditions: [{ type: "Ready", status: "True" }] } },
      "pods",
    ) as typeof pod;
    expect(p.status.conditions).toEqual([
      { type: "Ready", status: "True" },
      { type: "PodScheduled", status: "True" },
    ]);
  });
});

describe("JSON patch (RFC 6902)", () => {
  it("applies add/remove/replace/move/copy/test", () => {
    const doc = { metadata: { labels: { a: "1" } }, list: [1, 2] };
    const out = jsonPatch(doc, [
      { op: "add", path: "/metadata/labels/b~1c", value: "2" },
      { op: "replace", path: "/metadata/labels/a", value: "x" },
      { op: "add", path: "/list/-", value: 3 },
      { op: "remove", path: "/list/0" },
      { op: "copy", from: "/list", path: "/copy" },
      { op: "move", from: "/copy", path: "/moved" },
      { op: "test", path: "/moved/0", value: 2 },
    ]);
    expect(out).toEqual({ metadata: { labels: { a: "x", "b/c": "2" } }, list: [2, 3], moved: [2, 3] });
  });

  it("fails like the API server on a missing path or a failed test", async () => {
    c = createEmbeddedCluster();
    await c.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
    let e = await rejection(
      c.patch("namespaces", "x", undefined, [{ op: "test", path: "/metadata/name", value: "y" }], "json"),
    );
    expect([e.status, e.message]).toEqual([422, "testing value /metadata/name failed: test failed"]);
    e = await rejection(
      c.patch("namespaces", "x", undefined, [{ op: "remove", path: "/spec/nope" }], "json"),
    );
    expect(e.status).toBe(422);
    const ok = await c.patch(
      "namespaces",
      "x",
      undefined,
      [{ op: "add", path: "/metadata/labels/team", value: "a" }],
      "json",
    );
    expect(ok.metadata.labels?.team).toBe("a");
  });
});

describe("applyManifest (kubectl apply)", () => {
  const deploy = (replicas: number, extraLabels: Record<string, string>, ports: unknown[]): KubeObject => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", labels: { app: "web", ...extraLabels } },
    spec: {
      replicas,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "web", image: "nginx", ports }] },
      },
    },
  });

  it("creates, then updates with a three-way patch that drops what the manifest dropped", async () => {
    c = createEmbeddedCluster();
    const first = await c.applyManifest(
      deploy(1, { tier: "front" }, [{ containerPort: 80 }, { containerPort: 443 }]),
    );
    expect(JSON.parse(first.metadata.annotations?.[LAST_APPLIED_ANNOTATION] ?? "{}").spec.replicas).toBe(1);
    // someone else adds a label: apply must keep it, since it was never in the manifest
    await c.patch("deployments", "web", "default", { metadata: { labels: { owner: "ops" } } });
    const second = await c.applyManifest(deploy(2, {}, [{ containerPort: 80 }]));
    expect(second.metadata.labels).toEqual({ app: "web", owner: "ops" });
    expect(second.spec.replicas).toBe(2);
    expect(second.spec.template.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: "TCP" }]);
    expect(second.metadata.generation).toBe(2);
    const third = await c.applyManifest(deploy(2, {}, [{ containerPort: 80 }]));
    expect(third.metadata.resourceVersion).toBe(second.metadata.resourceVersion);
  });

  it("rejects kinds the cluster does not serve", async () => {
    c = createEmbeddedCluster();
    const e = await rejection(c.applyManifest({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" } }));
    expect(e.message).toBe('no matches for kind "Secret" in version "v1"');
  });
});
