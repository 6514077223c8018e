/**
 * The R4 security-group layout through the controller: a NetworkPolicy's groups appear on the interfaces of
 * the pods it selects and names, follow label changes, and go when the policy goes (the group's first delete
 * is refused while interfaces still reference it; `waitIdle()` returns once it is gone).
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { defaultConfig } from "../../controller/config";
import { type ControllerHandle, jsonLogger, startController } from "../../controller/index";
import type { KubeObject } from "../../controller/kube/api";
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

const policy: KubeObject = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "web-from-app", namespace: "shop" },
  spec: {
    podSelector: { matchLabels: { tier: "web" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { tier: "app" } } }], ports: [{ port: 80 }] }],
  },
};

/** Names of the security groups each pod's interface refs, by pod name. */
async function groupsByPod(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const vmi of await api.vnc.list("virtual-machine-interface", {
    detail: true,
    fields: ["security_group_refs"],
  })) {
    const pod = (vmi.fq_name.at(-1) as string).split("__")[0]!;
    out[pod] = (vmi.security_group_refs ?? []).map((r: { to: string[] }) =>
      r.to.at(-1)!.replace(/__[0-9a-f-]{36}/, "__<uid>"),
    );
  }
  return out;
}
const groups = async () =>
  (await api.vnc.list("security-group")).map((g) => g.fq_name.at(-1) as string).sort();

it("r4: policy groups follow the pods' labels and go with the policy", async () => {
  await kube.create("nodes", node("n1", "10.1.0.1"));
  await kube.create("namespaces", ns("shop"));
  await kube.create("pods", pod("shop", "web", "n1", { tier: "web" }));
  await kube.create("pods", pod("shop", "app", "n1", { tier: "app" }));
  await kube.create("pods", pod("shop", "db", "n1", { tier: "db" }));
  c = await startController({
    kube,
    vncUrl: api.url,
    config: defaultConfig("r4"),
    log: jsonLogger(() => {}),
  });
  await c.waitIdle();
  const base = ["k8s-shop-default", "k8s-shop-sg"];
  expect(await groupsByPod()).toEqual({ web: base, app: base, db: base });

  await kube.create("networkpolicies", policy);
  await c.waitIdle();
  expect(await groupsByPod()).toEqual({
    web: [...base, "web-from-app__<uid>"],
    app: [...base, "web-from-app__<uid>__ingress__1"],
    db: base,
  });
  const uid = (await kube.get("networkpolicies", "web-from-app", "shop")).metadata.uid!;
  const own = await api.vnc.read("security-group", uid);
  expect(own.fq_name).toEqual(["default-domain", "shop", `web-from-app__${uid}`]);
  expect(own.security_group_entries.policy_rule).toMatchObject([
    {
      protocol: "tcp",
      src_addresses: [{ security_group: `default-domain:shop:web-from-app__${uid}__ingress__1` }],
      dst_addresses: [{ security_group: "local" }],
      dst_ports: [{ start_port: 80, end_port: 80 }],
    },
  ]);

  // db becomes an app: it joins the ingress group
  await kube.patch("pods", "db", "shop", { metadata: { labels: { tier: "app" } } });
  await c.waitIdle();
  expect((await groupsByPod()).db).toEqual([...base, "web-from-app__<uid>__ingress__1"]);

  await kube.delete("networkpolicies", "web-from-app", "shop");
  await c.waitIdle();
  expect(c.status()).toMatchObject({ inSync: true, queueDepth: 0, failing: 0 });
  expect(await groupsByPod()).toEqual({ web: base, app: base, db: base });
  expect(await groups()).not.toContain(`web-from-app__${uid}`);
  expect((await groups()).filter((g) => g.startsWith("web-from-app"))).toEqual([]);
});
