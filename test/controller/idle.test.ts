/**
 * `waitIdle()` means done: when it returns, the config API holds exactly what the Kubernetes objects explain —
 * including tags whose delete the API first refused because an interface still referenced them (the pod's
 * unit lets go of the tag after the tags unit ran). The testbed's settle barrier relies on this.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { defaultConfig } from "../../controller/config";
import { type ControllerHandle, jsonLogger, startController } from "../../controller/index";
import { useApiServer } from "../support/api";
import { FakeKube, node, ns, pod } from "./fake-kube";

const api = useApiServer("each");
let kube: FakeKube;
let c: ControllerHandle | undefined;

beforeEach(() => {
  kube = new FakeKube();
});
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

const tags = async () => (await api.vnc.list("tag")).map((t) => t.fq_name.join(":")).sort();

/** A pod with a container port, so it gets an interface carrying its label tags. */
const serving = (namespace: string, name: string, labels: Record<string, string>) => {
  const p = pod(namespace, name, "n1", labels);
  p.spec.containers[0].ports = [{ containerPort: 80 }];
  return p;
};

it("a relabelled pod's old tag is gone when waitIdle returns (its first delete is refused: still in use)", async () => {
  await kube.create("nodes", node("n1", "10.1.0.1"));
  await kube.create("namespaces", ns("team-a"));
  await kube.create("pods", serving("team-a", "api-1", { role: "api" }));
  c = await startController({
    kube,
    vncUrl: api.url,
    config: defaultConfig("r5"),
    log: jsonLogger(() => {}),
  });
  await c.waitIdle();
  expect(await tags()).toEqual(expect.arrayContaining(["role=api", "namespace=team-a"]));

  await kube.patch("pods", "api-1", "team-a", { metadata: { labels: { role: "retired" } } });
  await c.waitIdle();
  expect(c.status()).toMatchObject({ inSync: true, queueDepth: 0, failing: 0 });
  expect(await tags()).toContain("role=retired");
  expect(await tags()).not.toContain("role=api");
});

it("a deleted namespace's tag is gone when waitIdle returns", async () => {
  await kube.create("nodes", node("n1", "10.1.0.1"));
  await kube.create("namespaces", ns("team-a"));
  await kube.create("pods", serving("team-a", "api-1", { role: "api" }));
  await kube.create("pods", serving("team-a", "api-2", { role: "api" }));
  c = await startController({
    kube,
    vncUrl: api.url,
    config: defaultConfig("r5"),
    log: jsonLogger(() => {}),
  });
  await c.waitIdle();

  // what a namespace deletion does: its pods go, then the namespace itself
  await kube.delete("pods", "api-1", "team-a");
  await kube.delete("pods", "api-2", "team-a");
  await kube.delete("namespaces", "team-a");
  await c.waitIdle();
  expect(c.status()).toMatchObject({ inSync: true, queueDepth: 0, failing: 0 });
  expect(await tags()).not.toContain("namespace=team-a");
  expect(await tags()).not.toContain("role=api");
  expect(await api.vnc.list("virtual-machine-interface")).toEqual([]);
});

it("a tag an interface the cluster does not own still uses does not keep the controller busy", async () => {
  await kube.create("nodes", node("n1", "10.1.0.1"));
  await kube.create("namespaces", ns("team-a"));
  await kube.create("pods", serving("team-a", "api-1", { role: "api" }));
  c = await startController({
    kube,
    vncUrl: api.url,
    config: defaultConfig("r5"),
    log: jsonLogger(() => {}),
  });
  await c.waitIdle();
  // an operator's own interface takes the tag too: the controller must give up on deleting it and go idle
  const vmi = (await api.vnc.list("virtual-machine-interface", { detail: true }))[0];
  const tag = await api.vnc.readByFqName("tag", ["role=api"]);
  const foreign = await api.vnc.create("virtual-machine-interface", {
    fq_name: [...vmi.fq_name.slice(0, -1), "operator-vmi"],
    parent_type: "project",
    virtual_network_refs: vmi.virtual_network_refs,
    tag_refs: [{ to: ["role=api"], uuid: tag.uuid }],
  });
  expect(foreign).toBeTruthy();

  await kube.patch("pods", "api-1", "team-a", { metadata: { labels: { role: "retired" } } });
  await c.waitIdle();
  expect(c.status()).toMatchObject({ inSync: true, queueDepth: 0 });
  expect(await tags()).toContain("role=api");
});
