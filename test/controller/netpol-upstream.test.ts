/**
 * The upstream NetworkPolicy layout maintained over time, as the real kube-manager's tests exercise it
 * (tf-controller kube_manager/tests/vnc/test_vnc_network_policy.py): the cluster APS and its infra policies
 * exist from the start, policies are inserted before `<c>-denyall` in the order they appear, a deleted policy
 * takes its rules and deny rules with it, label changes need no policy rewrite, and an order someone corrupted
 * is restored on the next resync (upstream's periodic validate_cluster_security_policy).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defaultConfig } from "../../controller/config";
import { type ControllerHandle, jsonLogger, startController } from "../../controller/index";
import type { KubeObject } from "../../controller/kube/api";
import type { VncClient, VncObject } from "../../controller/vnc/client";
import { useApiServer } from "../support/api";
import { FakeKube, node, ns, pod } from "./fake-kube";

const api = useApiServer("each");
let vnc: VncClient;
let kube: FakeKube;
let c: ControllerHandle;

beforeEach(async () => {
  vnc = api.vnc;
  kube = new FakeKube();
  await kube.create("nodes", node("n1", "10.0.0.1"));
  for (const n of ["default", "x"]) await kube.create("namespaces", ns(n));
  await kube.create("pods", pod("x", "a", "n1", { pod: "a" }), "x");
  c = await startController({
    kube,
    vncUrl: api.url,
    config: defaultConfig("r5"),
    log: jsonLogger(() => {}),
  });
  await c.waitIdle();
});
afterEach(async () => {
  await c.stop();
});

const policy = (name: string, spec: object): KubeObject => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name, namespace: "x" },
  spec,
});

async function aps(): Promise<VncObject> {
  return vnc.readByFqName("application-policy-set", ["default-policy-management", "k8s"]);
}
/** The APS's firewall policies by name, in sequence order, with their sequences. */
async function order(): Promise<string[]> {
  const refs = ((await aps()).firewall_policy_refs ?? []) as { to: string[]; attr: { sequence: string } }[];
  return [...refs]
    .sort((a, b) => Number(a.attr.sequence) - Number(b.attr.sequence))
    .map((r) => `${r.attr.sequence} ${r.to.at(-1)}`);
}
async function rulesOf(fp: string): Promise<string[]> {
  const o = await vnc.readByFqName("firewall-policy", ["default-policy-management", fp]);
  const refs = (o.firewall_rule_refs ?? []) as { to: string[]; attr: { sequence: string } }[];
  return [...refs].sort((a, b) => Number(a.attr.sequence) - Number(b.attr.sequence)).map((r) => r.to.at(-1)!);
}

describe("upstream NetworkPolicy layout over time", () => {
  it("the cluster APS holds Ingress, denyall and allowall from the start, tagged application=k8s", async () => {
    expect(await order()).toEqual(["00002.0 k8s-Ingress", "00004.0 k8s-denyall", "00005.0 k8s-allowall"]);
    const tags = ((await aps()).tag_refs ?? []) as { to: string[] }[];
    expect(tags.map((t) => t.to.join(":"))).toEqual(["application=k8s"]);
    expect(await rulesOf("k8s-allowall")).toEqual([
      "k8s-Namespace-default-ingress",
      "k8s-Namespace-default-egress",
      "k8s-Namespace-x-ingress",
      "k8s-Namespace-x-egress",
    ]);
  });

  it("policies go before denyall in the order they appear; deleting one removes its rules and deny rules", async () => {
    await kube.create(
      "networkpolicies",
      policy("p1", { podSelector: { matchLabels: { pod: "a" } }, policyTypes: ["Ingress"] }),
      "x",
    );
    await c.waitIdle();
    await kube.create(
      "networkpolicies",
      policy("p2", { podSelector: {}, policyTypes: ["Ingress", "Egress"], egress: [{}] }),
      "x",
    );
    await c.waitIdle();
    expect(await order()).toEqual([
      "00002.0 k8s-Ingress",
      "00004.0 k8s-x-p1",
      "00006.0 k8s-x-p2",
      "00008.0 k8s-denyall",
      "00009.0 k8s-allowall",
    ]);
    expect(await rulesOf("k8s-denyall")).toEqual([
      "x-ingress-p1-denyall",
      "x-ingress-p2-denyall",
      "x-egress-p2-default-deny-all",
    ]);
    expect(await rulesOf("k8s-x-p2")).toEqual(["x-egress-p2-allow-all-0"]);

    await kube.delete("networkpolicies", "p1", "x");
    await c.waitIdle();
    expect((await order()).map((l) => l.split(" ")[1])).toEqual([
      "k8s-Ingress",
      "k8s-x-p2",
      "k8s-denyall",
      "k8s-allowall",
    ]);
    expect(await rulesOf("k8s-denyall")).toEqual(["x-ingress-p2-denyall", "x-egress-p2-default-deny-all"]);
    const rules = (await vnc.list("firewall-rule")).map((r) => r.fq_name.at(-1));
    expect(rules.filter((r) => r?.includes("-p1-"))).toEqual([]);
  });

  it("a corrupted order (deny-all placed first) is restored by the next resync", async () => {
    await kube.create("networkpolicies", policy("p1", { podSelector: {}, policyTypes: ["Ingress"] }), "x");
    await c.waitIdle();
    const before = await order();
    const cur = await aps();
    const refs = (cur.firewall_policy_refs as { to: string[]; attr: { sequence: string } }[]).map((r) =>
      r.to.at(-1) === "k8s-denyall" ? { ...r, attr: { sequence: "00001.0" } } : r,
    );
    await vnc.update("application-policy-set", cur.uuid, {
      firewall_policy_refs: refs,
    } as Partial<VncObject>);
    expect((await order())[0]).toBe("00001.0 k8s-denyall");
    await c.resync();
    expect(await order()).toEqual(before);
  });

  it("a pod label change rewrites no firewall object: rules match label tags at flow time", async () => {
    await kube.create(
      "networkpolicies",
      policy("p1", { podSelector: { matchLabels: { pod: "b" } }, policyTypes: ["Ingress"] }),
      "x",
    );
    await c.waitIdle();
    const rulesBefore = JSON.stringify(await vnc.list("firewall-rule", { detail: true }));
    const p = await kube.get("pods", "a", "x");
    await kube.replace("pods", { ...p, metadata: { ...p.metadata, labels: { pod: "b" } } });
    await c.waitIdle();
    expect(JSON.stringify(await vnc.list("firewall-rule", { detail: true }))).toBe(rulesBefore);
    // the pod's interface now carries pod=b, which the policy's target tags name
    const vmis = await vnc.list("virtual-machine-interface", { detail: true });
    const tags = (vmis.find((v) => v.fq_name.at(-1)?.startsWith("a__"))?.tag_refs ?? []) as {
      to: string[];
    }[];
    expect(tags.map((t) => t.to.join(":"))).toContain("pod=b");
  });
});
