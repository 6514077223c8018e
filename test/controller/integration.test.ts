/**
 * The controller end to end over HTTP: an in-memory KubeApi (fake-kube) → controller → the real fake
 * Contrail API server. Section 9 object checks (r4), r5 objects, event sequences (relabel/annotate, delete),
 * a restart midway converging to the same object graph with no duplicates and no leaks, and GC of objects no
 * Kubernetes object explains.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ApiServer, startApiServer } from "../../fake-contrail-api/server";
import { defaultConfig } from "../../controller/config";
import { type ControllerHandle, jsonLogger, startController } from "../../controller/index";
import type { KubeObject } from "../../controller/kube/api";
import { uuid5 } from "../../controller/translate/names";
import { TYPE_ORDER } from "../../controller/contrail-types";
import { VncClient, type VncObject } from "../../controller/vnc/client";
import { FakeKube, node, ns, pod, service, slice } from "./fake-kube";

let api: ApiServer;
let vnc: VncClient;
let kube: FakeKube;
const running: ControllerHandle[] = [];
const logs: string[] = [];

beforeEach(async () => {
  api = await startApiServer({ port: 0, quiet: true });
  vnc = new VncClient(api.url);
  kube = new FakeKube();
  logs.length = 0;
});
afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
  await api.close();
});

async function start(
  model: "r4" | "r5" = "r4",
  concurrency?: number,
  statusPort?: number,
  config = defaultConfig(model),
) {
  const c = await startController({
    kube,
    vncUrl: api.url,
    config,
    log: jsonLogger((l) => logs.push(l), process.env.CTB_DEBUG ? "debug" : "info"),
    concurrency,
    statusPort,
  });
  running.push(c);
  return c;
}

async function settle(c: ControllerHandle) {
  await c.waitIdle();
  expect(c.status()).toMatchObject({ inSync: true, queueDepth: 0 });
}

/** What an operator prepares beside the cluster: project admin, a network with a /24, optionally its pool "pool". */
async function operatorNetwork(name: string, prefix: string, pool = false) {
  await vnc.create("project", { fq_name: ["default-domain", "admin"], parent_type: "domain" });
  await vnc.create("virtual-network", {
    fq_name: ["default-domain", "admin", name],
    parent_type: "project",
    network_ipam_refs: [
      {
        to: ["default-domain", "default-project", "default-network-ipam"],
        attr: { ipam_subnets: [{ subnet: { ip_prefix: prefix, ip_prefix_len: 24 } }] },
      },
    ],
  });
  if (pool)
    await vnc.create("floating-ip-pool", {
      fq_name: ["default-domain", "admin", name, "pool"],
      parent_type: "virtual-network",
    });
}

const fq = (o: VncObject) => o.fq_name.join(":");
async function names(type: string): Promise<string[]> {
  return (await vnc.list(type)).map(fq).sort();
}
/** Everything the controller owns, as "type fq" lines (the object graph compared across restarts). */
async function graph(): Promise<string[]> {
  const types = TYPE_ORDER;
  const out: string[] = [];
  for (const t of types) {
    for (const o of await vnc.list(t, { detail: true, fields: ["annotations", "virtual_machine_refs"] })) {
      const owned = o.annotations?.key_value_pair?.some(
        (p: { key: string; value: string }) => p.key === "owner",
      );
      if (!owned && t !== "virtual-router") continue;
      out.push(`${t} ${o.uuid} ${fq(o)}`);
      if (t === "virtual-router")
        for (const r of o.virtual_machine_refs ?? []) out.push(`  vr ${fq(o)} -> vm ${r.to.join(":")}`);
    }
  }
  return out.sort();
}

async function iipAddress(podObj: KubeObject): Promise<string | undefined> {
  const vm = await vnc.read("virtual-machine", podObj.metadata.uid!);
  const vmis = await vnc.list("virtual-machine-interface", { backRefId: vm.uuid, detail: true });
  const iips = await vnc.list("instance-ip", { backRefId: vmis[0].uuid, detail: true });
  return iips[0]?.instance_ip_address;
}

describe("r4 (seed 000 section 9)", () => {
  it("creates cluster-network, <ns>-vn for an isolated namespace and allocates pod IPs top-down", async () => {
    await kube.create("nodes", node("b3s37", "192.168.1.37"));
    await kube.create("namespaces", ns("default"));
    await kube.create("namespaces", ns("test-isolated-ns", { "opencontrail.kubernetes.isolated": "true" }));
    const c = await start("r4");
    await settle(c);
    const p1 = await kube.create("pods", pod("default", "example1", "b3s37"));
    await settle(c);
    const p2 = await kube.create("pods", pod("default", "example2", "b3s37"));
    await settle(c);
    const p3 = await kube.create("pods", pod("test-isolated-ns", "example3", "b3s37"));
    await settle(c);

    const vns = await names("virtual-network");
    expect(vns).toContain("default-domain:default:cluster-network");
    expect(vns).toContain("default-domain:test-isolated-ns:test-isolated-ns-vn");
    expect(await iipAddress(p1)).toBe("10.47.255.252");
    expect(await iipAddress(p2)).toBe("10.47.255.251");
    expect(await iipAddress(p3)).toBe("10.47.255.250");

    // the isolated pod sits on <ns>-vn and has a floating IP on cluster-network
    const vmi3 = (
      await vnc.list("virtual-machine-interface", { backRefId: p3.metadata.uid!, detail: true })
    )[0];
    expect(vmi3.virtual_network_refs.map((r: { to: string[] }) => r.to.join(":"))).toEqual([
      "default-domain:test-isolated-ns:test-isolated-ns-vn",
    ]);
    const fips = await vnc.list("floating-ip", { backRefId: vmi3.uuid, detail: true });
    expect(fips).toHaveLength(1);
    expect(fips[0].fq_name.slice(0, 3)).toEqual(["default-domain", "default", "cluster-network"]);

    // the vrouter of the pod's node references every pod VM
    const vr = await vnc.readByFqName("virtual-router", ["default-global-system-config", "b3s37"]);
    expect(vr.virtual_router_ip_address).toBe("192.168.1.37");
    expect(vr.virtual_machine_refs.map((r: { uuid: string }) => r.uuid).sort()).toEqual(
      [p1, p2, p3].map((p) => p.metadata.uid).sort(),
    );
  });

  it("a service becomes a native loadbalancer with VIP = clusterIP and one member per endpoint pod", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    const a = await kube.create("pods", pod("default", "a", "n1"));
    const b = await kube.create("pods", pod("default", "b", "n1"));
    await kube.create("services", service("default", "web", "10.96.0.20"));
    await kube.create("endpointslices", slice("default", "web", [a, b]));
    const c = await start("r4");
    await settle(c);
    const svc = await kube.get("services", "web", "default");
    const lb = await vnc.read("loadbalancer", svc.metadata.uid!);
    expect(lb.loadbalancer_properties.vip_address).toBe("10.96.0.20");
    expect(lb.loadbalancer_provider).toBe("native");
    const vipIip = (await vnc.list("instance-ip", { detail: true })).find(
      (i) => i.instance_ip_address === "10.96.0.20",
    );
    expect(vipIip).toBeDefined();
    const members = await vnc.list("loadbalancer-member", { detail: true });
    expect(members).toHaveLength(2);
    expect(members.every((m) => m.loadbalancer_member_properties.protocol_port === 8080)).toBe(true);
    const vmAnn = members.map(
      (m) => m.annotations!.key_value_pair.find((p: { key: string }) => p.key === "vm")?.value,
    );
    expect(vmAnn.sort()).toEqual([a.metadata.uid, b.metadata.uid].sort());

    // an endpoint going away removes its member; deleting the service removes the whole loadbalancer
    await kube.replace("endpointslices", { ...slice("default", "web", [a]) });
    await settle(c);
    expect(await vnc.list("loadbalancer-member")).toHaveLength(1);
    await kube.delete("services", "web", "default");
    await settle(c);
    expect(await vnc.list("loadbalancer")).toHaveLength(0);
    expect(await vnc.list("loadbalancer-listener")).toHaveLength(0);
    expect((await vnc.list("instance-ip", { detail: true })).map((i) => i.instance_ip_address)).not.toContain(
      "10.96.0.20",
    );
  });
});

describe("external addresses", () => {
  it("gives a LoadBalancer service a floating IP from public_fip_pool and writes it to the service status", async () => {
    await operatorNetwork("public", "203.0.113.0", true);
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    const lbSvc = service("default", "shop", "10.96.0.40");
    lbSvc.spec.type = "LoadBalancer";
    await kube.create("services", lbSvc);
    const cfg = defaultConfig("r5");
    cfg.publicFipPool = { domain: "default-domain", project: "admin", network: "public", name: "pool" };
    const c = await start("r5", undefined, undefined, cfg);
    await settle(c);
    const fips = await vnc.list("floating-ip", { detail: true });
    expect(fips).toHaveLength(1);
    expect(fips[0].floating_ip_address).toMatch(/^203\.0\.113\./);
    const svc = await kube.get("services", "shop", "default");
    expect(svc.status.loadBalancer.ingress).toEqual([{ ip: fips[0].floating_ip_address }]);
  });
});

describe("a configured floating-ip pool that does not exist", () => {
  it("leaves out only the floating IP, with a warning; the load balancer and ClusterIP are built", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    const lbSvc = service("default", "shop", "10.96.0.40");
    lbSvc.spec.type = "LoadBalancer";
    await kube.create("services", lbSvc);
    const ext = service("default", "ext", "10.96.0.41");
    ext.spec.externalIPs = ["203.0.113.7"];
    await kube.create("services", ext);
    const cfg = defaultConfig("r5");
    cfg.publicFipPool = { domain: "default-domain", project: "admin", network: "public", name: "pool" };
    const c = await start("r5", undefined, undefined, cfg);
    await settle(c);
    expect(c.status().failing).toBe(0);
    expect((await vnc.list("loadbalancer")).map((o) => o.fq_name.at(-1)).sort()).toEqual([
      expect.stringMatching(/^ext__/),
      expect.stringMatching(/^shop__/),
    ]);
    const vips = (await vnc.list("instance-ip", { detail: true })).map((o) => o.instance_ip_address).sort();
    expect(vips).toEqual(["10.96.0.40", "10.96.0.41"]);
    expect(await vnc.list("floating-ip")).toHaveLength(0);
    expect(c.warnings()).toEqual(
      expect.arrayContaining([
        "service default/shop: no floating IP from pool default-domain:admin:public:pool: floating-ip-pool default-domain:admin:public:pool does not exist",
        "service default/ext: no floating IP 203.0.113.7 from pool default-domain:admin:public:pool: floating-ip-pool default-domain:admin:public:pool does not exist",
      ]),
    );

    // the pool appears: the next resync gives the services their addresses and the warnings go
    await operatorNetwork("public", "203.0.113.0", true);
    await c.resync();
    expect(await vnc.list("floating-ip")).toHaveLength(2);
    expect(c.warnings()).toEqual([]);
  });
});

describe("an external address the pool cannot give", () => {
  it("outside the pool's subnets or already taken: that floating IP is left out with a warning, the rest built", async () => {
    await operatorNetwork("public", "203.0.113.0", true);
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    const outside = service("default", "outside", "10.96.0.50");
    outside.spec.externalIPs = ["198.51.100.7", "203.0.113.7"];
    await kube.create("services", outside);
    const cfg = defaultConfig("r5");
    cfg.publicFipPool = { domain: "default-domain", project: "admin", network: "public", name: "pool" };
    const c = await start("r5", undefined, undefined, cfg);
    await settle(c);
    const taken = service("default", "taken", "10.96.0.51");
    taken.spec.externalIPs = ["203.0.113.7"];
    await kube.create("services", taken);
    await settle(c);
    expect(c.status().failing).toBe(0);
    expect((await vnc.list("floating-ip", { detail: true })).map((f) => f.floating_ip_address)).toEqual([
      "203.0.113.7",
    ]);
    expect(await vnc.list("loadbalancer")).toHaveLength(2);
    const w = c.warnings();
    expect(
      w.some((m) =>
        m.startsWith(
          "service default/outside: no floating IP 198.51.100.7 from pool default-domain:admin:public:pool: ",
        ),
      ),
    ).toBe(true);
    expect(
      w.some((m) =>
        m.startsWith(
          "service default/taken: no floating IP 203.0.113.7 from pool default-domain:admin:public:pool: ",
        ),
      ),
    ).toBe(true);
  });
});

describe("the kubernetes Service's link-local services (default-global-vrouter-config)", () => {
  const GVC = ["default-global-system-config", "default-global-vrouter-config"];
  async function linkLocal(): Promise<Record<string, unknown>[]> {
    const gvc = await vnc.readByFqName("global-vrouter-config", GVC, { fields: ["linklocal_services"] });
    return gvc.linklocal_services?.linklocal_service_entry ?? [];
  }
  const names = async () => (await linkLocal()).map((e) => e.linklocal_service_name);

  it("one entry per port towards the API server, next to others' entries; removed with the Service, also across a restart", async () => {
    // an operator's entry (metadata service) the controller must leave alone
    const gvc = await vnc.readByFqName("global-vrouter-config", GVC);
    const metadata = {
      linklocal_service_name: "metadata",
      linklocal_service_ip: "169.254.169.254",
      linklocal_service_port: 80,
      ip_fabric_DNS_service_name: "",
      ip_fabric_service_ip: ["10.1.0.254"],
      ip_fabric_service_port: 8775,
    };
    await vnc.update("global-vrouter-config", gvc.uuid, {
      linklocal_services: { linklocal_service_entry: [metadata] },
    });
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    const k = service("default", "kubernetes", "10.96.0.1", 443, 6443);
    k.spec.ports.push(
      { name: "dns", port: 53, protocol: "UDP" },
      { name: "dns-tcp", port: 53, protocol: "TCP" },
    );
    await kube.create("services", k);
    await kube.create("services", service("default", "web", "10.96.0.9"));
    const cfg = defaultConfig("r5");
    cfg.kubernetesApiServer = "10.1.0.100";
    let c = await start("r5", undefined, undefined, cfg);
    await settle(c);
    expect(await linkLocal()).toEqual([
      metadata,
      {
        linklocal_service_name: "default-domain-k8s-default-kubernetes-443",
        linklocal_service_ip: "10.96.0.1",
        linklocal_service_port: 443,
        ip_fabric_DNS_service_name: "",
        ip_fabric_service_ip: ["10.1.0.100"],
        ip_fabric_service_port: 8443,
      },
      {
        linklocal_service_name: "default-domain-k8s-default-kubernetes-53",
        linklocal_service_ip: "10.96.0.1",
        linklocal_service_port: 53,
        ip_fabric_DNS_service_name: "",
        ip_fabric_service_ip: ["10.1.0.100"],
        ip_fabric_service_port: 8443,
      },
    ]);

    // a port removed: its entry goes
    k.spec.ports = k.spec.ports.slice(0, 1);
    await kube.replace("services", {
      ...(await kube.get("services", "kubernetes", "default")),
      spec: k.spec,
    });
    await settle(c);
    expect(await names()).toEqual(["metadata", "default-domain-k8s-default-kubernetes-443"]);

    // deleted while the controller is down: the next one finds its entry by name and removes it
    await c.stop();
    running.splice(running.indexOf(c), 1);
    await kube.delete("services", "kubernetes", "default");
    c = await start("r5", undefined, undefined, cfg);
    await settle(c);
    expect(await names()).toEqual(["metadata"]);

    // back, then deleted while running
    await kube.create("services", service("default", "kubernetes", "10.96.0.1", 443, 6443));
    await settle(c);
    expect(await names()).toEqual(["metadata", "default-domain-k8s-default-kubernetes-443"]);
    await kube.delete("services", "kubernetes", "default");
    await settle(c);
    expect(await linkLocal()).toEqual([metadata]);
  });

  it("none with api_service_link_local off", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    await kube.create("services", service("default", "kubernetes", "10.96.0.1", 443, 6443));
    const cfg = defaultConfig("r5");
    cfg.apiServiceLinkLocal = false;
    const c = await start("r5", undefined, undefined, cfg);
    await settle(c);
    expect(await names()).toEqual([]);
    expect(await vnc.list("loadbalancer")).toHaveLength(1);
  });
});

describe("r5", () => {
  it("creates the R5 cluster objects, an isolated namespace's two networks and attaches ip-fabric", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    await kube.create("namespaces", ns("kube-system"));
    await kube.create("namespaces", ns("secure", { "opencontrail.org/isolation": "true" }));
    const p = await kube.create("pods", pod("secure", "x", "n1"));
    const c = await start("r5");
    await settle(c);
    expect(await names("project")).toEqual(
      expect.arrayContaining([
        "default-domain:k8s-default",
        "default-domain:k8s-kube-system",
        "default-domain:k8s-secure",
      ]),
    );
    const vns = await names("virtual-network");
    expect(vns).toEqual(
      expect.arrayContaining([
        "default-domain:k8s-default:k8s-default-pod-network",
        "default-domain:k8s-default:k8s-default-service-network",
        "default-domain:k8s-secure:k8s-secure-pod-network",
        "default-domain:k8s-secure:k8s-secure-service-network",
      ]),
    );
    const podVn = await vnc.readByFqName("virtual-network", [
      "default-domain",
      "k8s-default",
      "k8s-default-pod-network",
    ]);
    expect(podVn.virtual_network_refs.map((r: { to: string[] }) => r.to.join(":"))).toEqual([
      "default-domain:default-project:ip-fabric",
    ]);
    const ipFabric = await vnc.readByFqName("virtual-network", [
      "default-domain",
      "default-project",
      "ip-fabric",
    ]);
    expect(ipFabric.network_policy_refs.map((r: { to: string[] }) => r.to.at(-1))).toContain(
      "k8s-default-ip-fabric-np",
    );
    expect(await names("security-group")).toContain("default-domain:k8s-secure:k8s-secure-default-sg");
    // ip-fabric forwarding: the pod address comes from the ip-fabric subnet (10.64.0.0/12), top-down
    expect(await iipAddress(p)).toBe("10.79.255.252");
  });
});

describe("event sequences", () => {
  it("isolating a namespace moves its new pods; deleting a pod and a namespace leaves nothing behind", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    await kube.create("namespaces", ns("dev"));
    const c = await start("r4");
    await settle(c);
    const before = await graph();
    await kube.patch("namespaces", "dev", undefined, {
      metadata: { annotations: { "opencontrail.org/isolation": "true" } },
    });
    await settle(c);
    expect(await names("virtual-network")).toContain("default-domain:dev:dev-vn");
    await kube.create("pods", pod("dev", "p", "n1"));
    await settle(c);
    expect(await vnc.list("floating-ip")).toHaveLength(1);
    await kube.delete("pods", "p", "dev");
    await settle(c);
    expect(await vnc.list("virtual-machine")).toHaveLength(0);
    expect(await vnc.list("floating-ip")).toHaveLength(0);
    await kube.patch("namespaces", "dev", undefined, {
      metadata: { annotations: { "opencontrail.org/isolation": null } },
    });
    await settle(c);
    expect(await graph()).toEqual(before);
    await kube.delete("namespaces", "dev");
    await settle(c);
    expect(await names("project")).not.toContain("default-domain:dev");
  });

  it("r5: labels become tags on the pod's interface; relabelling and deleting clean up unused tags", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    const p = await kube.create(
      "pods",
      pod("default", "web", "n1", { app: "web", "example.com/tier": "front" }),
    );
    const c = await start("r5");
    await settle(c);
    const vmiTags = async () => {
      const vmi = (
        await vnc.list("virtual-machine-interface", { backRefId: p.metadata.uid!, detail: true })
      )[0];
      return (vmi.tag_refs ?? []).map((r: { to: string[] }) => r.to.join(":")).sort();
    };
    expect(await vmiTags()).toEqual(["app=web", "example.com__slash__tier=front", "namespace=default"]);
    expect(await names("tag")).toEqual(
      expect.arrayContaining(["app=web", "application=k8s", "namespace=default"]),
    );
    await kube.patch("pods", "web", "default", { metadata: { labels: { app: "shop" } } });
    await settle(c);
    expect(await vmiTags()).toEqual(["app=shop", "example.com__slash__tier=front", "namespace=default"]);
    // the old value's tag is gone by the time the controller reports idle (idle.test.ts has the details)
    expect(await names("tag")).not.toContain("app=web");
    await kube.delete("pods", "web", "default");
    await settle(c);
    expect(await names("tag")).not.toContain("app=shop");
    expect(await names("tag")).toContain("namespace=default");
  });

  it("a pod deleted and recreated under the same name gets a new VM (uuid = the new pod uid)", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    const first = await kube.create("pods", pod("default", "same", "n1"));
    const c1 = await start("r4");
    await settle(c1);
    // both events land while no controller runs, so the next one sees only the new incarnation
    await c1.stop();
    running.splice(running.indexOf(c1), 1);
    await kube.delete("pods", "same", "default");
    const second = await kube.create("pods", pod("default", "same", "n1"));
    const c = await start("r4");
    await settle(c);
    const vms = await vnc.list("virtual-machine");
    expect(vms.map((v) => v.uuid)).toEqual([second.metadata.uid]);
    expect(second.metadata.uid).not.toBe(first.metadata.uid);
    const vr = await vnc.readByFqName("virtual-router", ["default-global-system-config", "n1"]);
    expect(vr.virtual_machine_refs.map((r: { uuid: string }) => r.uuid)).toEqual([second.metadata.uid]);
    expect(await vnc.list("virtual-machine-interface", { backRefId: second.metadata.uid! })).toHaveLength(1);
    expect(await vnc.list("instance-ip")).toHaveLength(1);
  });

  it("a restart midway converges to the same object graph, without duplicates or leaks", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("nodes", node("n2", "10.1.0.2"));
    await kube.create("namespaces", ns("default"));
    await kube.create("namespaces", ns("iso", { "opencontrail.kubernetes.isolated": "true" }));
    const pods: KubeObject[] = [];
    for (let i = 0; i < 12; i++)
      pods.push(await kube.create("pods", pod(i % 2 ? "iso" : "default", `p${i}`, i % 3 ? "n1" : "n2")));
    await kube.create("services", service("default", "web", "10.96.0.30"));
    await kube.create(
      "endpointslices",
      slice(
        "default",
        "web",
        pods.filter((p) => p.metadata.namespace === "default"),
      ),
    );

    // reference run
    const ref = await start("r4", 4);
    await settle(ref);
    const expected = await graph();
    await ref.stop();
    running.splice(running.indexOf(ref), 1);
    await api.close();

    // same cluster, fresh API: stop the controller after a few writes, then start a new one
    api = await startApiServer({ port: 0, quiet: true });
    vnc = new VncClient(api.url);
    const first = await start("r4", 4);
    while ((await vnc.list("virtual-machine")).length < 3) await new Promise((r) => setTimeout(r, 5));
    await first.stop();
    running.splice(running.indexOf(first), 1);
    // meanwhile a pod goes away (and out of the service's endpoints) and another appears
    await kube.delete("pods", "p0", "default");
    await kube.replace(
      "endpointslices",
      slice(
        "default",
        "web",
        pods.filter((p) => p.metadata.namespace === "default" && p.metadata.name !== "p0"),
      ),
    );
    await kube.create("pods", pod("default", "late", "n1"));
    const svc = await kube.get("services", "web", "default");
    const p0Member = uuid5(svc.metadata.uid!, `member/TCP/80/${pods[0].metadata.uid}`);
    const second = await start("r4", 4);
    await settle(second);
    const got = await graph();
    expect(new Set(got).size).toBe(got.length);
    const other = (l: string) => !/\bp0\b|p0__|__p0|late/.test(l) && !l.includes(p0Member);
    expect(got.some((l) => l.includes("k8s__default__late"))).toBe(true);
    expect(got.some((l) => l.includes("k8s__default__p0") || l.includes(p0Member))).toBe(false);
    expect(expected.some((l) => l.includes(p0Member))).toBe(true);
    // everything else is the same graph, with the same (deterministic) uuids as the reference run
    expect(got.filter(other)).toEqual(expected.filter(other));
  });

  it("deletes owned objects no Kubernetes object explains (GC on start)", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    await kube.create("namespaces", ns("old"));
    await kube.create("pods", pod("old", "gone", "n1"));
    const c1 = await start("r4");
    await settle(c1);
    expect(await names("project")).toContain("default-domain:old");
    await c1.stop();
    running.splice(running.indexOf(c1), 1);
    await kube.delete("pods", "gone", "old");
    await kube.delete("namespaces", "old");
    const c2 = await start("r4");
    await settle(c2);
    expect(await names("project")).not.toContain("default-domain:old");
    expect(await vnc.list("virtual-machine")).toHaveLength(0);
    const vr = await vnc.readByFqName("virtual-router", ["default-global-system-config", "n1"]);
    expect(vr.virtual_machine_refs ?? []).toHaveLength(0);
  });
});

describe("default networks shared with non-isolated namespaces (perms2.share)", () => {
  /** tenant → tenant_access of a network's share list, as the config API returns it. */
  async function shares(vn: string[]): Promise<Record<string, number>> {
    const o = await vnc.readByFqName("virtual-network", vn);
    const share = ((o.perms2 as { share?: { tenant: string; tenant_access: number }[] }).share ?? []).map(
      (e) => [e.tenant, e.tenant_access] as const,
    );
    return Object.fromEntries(share);
  }
  const projectUuid = (name: string) => vnc.fqNameToId("project", ["default-domain", name]);

  it("r5: a namespace's project gets read access to both default networks until it goes or is isolated", async () => {
    await kube.create("namespaces", ns("default"));
    await kube.create("namespaces", ns("iso", { "opencontrail.org/isolation": "true" }));
    const c = await start("r5");
    await settle(c);
    const podVn = ["default-domain", "k8s-default", "k8s-default-pod-network"];
    const svcVn = ["default-domain", "k8s-default", "k8s-default-service-network"];
    // default is treated as isolated in r5, iso is isolated: nobody to share with
    expect(await shares(podVn)).toEqual({});

    await kube.create("namespaces", ns("dev"));
    await settle(c);
    const dev = await projectUuid("k8s-dev");
    for (const vn of [podVn, svcVn]) expect(await shares(vn)).toEqual({ [dev]: 4 });
    const isoProject = await projectUuid("k8s-iso");
    expect(Object.keys(await shares(podVn))).not.toContain(isoProject);

    // isolating dev withdraws the entry; un-isolating gives it back
    await kube.patch("namespaces", "dev", undefined, {
      metadata: { annotations: { "opencontrail.org/isolation": "true" } },
    });
    await settle(c);
    expect(await shares(podVn)).toEqual({});
    await kube.patch("namespaces", "dev", undefined, {
      metadata: { annotations: { "opencontrail.org/isolation": null } },
    });
    await settle(c);
    expect(await shares(svcVn)).toEqual({ [dev]: 4 });

    // a restart finds the entry in place and leaves it alone; deleting the namespace removes it
    await c.stop();
    running.splice(running.indexOf(c), 1);
    const c2 = await start("r5");
    await settle(c2);
    expect(await shares(podVn)).toEqual({ [dev]: 4 });
    await kube.delete("namespaces", "dev");
    await settle(c2);
    for (const vn of [podVn, svcVn]) expect(await shares(vn)).toEqual({});
  });

  it("r4: cluster-network is shared with every non-isolated namespace's project but its own", async () => {
    await kube.create("namespaces", ns("default"));
    await kube.create("namespaces", ns("dev"));
    await kube.create("namespaces", ns("iso", { "opencontrail.kubernetes.isolated": "true" }));
    const c = await start("r4");
    await settle(c);
    const cn = ["default-domain", "default", "cluster-network"];
    expect(await shares(cn)).toEqual({ [await projectUuid("dev")]: 4 });
    await kube.delete("namespaces", "dev");
    await settle(c);
    expect(await shares(cn)).toEqual({});
  });
});

describe("level-triggered resync", () => {
  it("recreates an owned object deleted behind the controller's back and restores a changed property", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    const p = await kube.create("pods", pod("default", "a", "n1"));
    const c = await start("r4");
    await settle(c);
    const before = await graph();
    const vmi = (await vnc.list("virtual-machine-interface", { backRefId: p.metadata.uid! }))[0];
    const iip = (await vnc.list("instance-ip", { backRefId: vmi.uuid }))[0];
    await vnc.delete("instance-ip", iip.uuid);
    const sg = await vnc.readByFqName("security-group", ["default-domain", "default", "k8s-default-default"]);
    await vnc.update("security-group", sg.uuid, { security_group_entries: { policy_rule: [] } });
    await c.resync();
    expect(await graph()).toEqual(before);
    const sgAfter = await vnc.read("security-group", sg.uuid);
    expect(sgAfter.security_group_entries.policy_rule).toHaveLength(4);
    expect(await iipAddress(p)).toMatch(/^10\.47\.255\./);
  });
});

describe("bad input", () => {
  it("warns naming the object and keeps going", async () => {
    await kube.create("nodes", node("n1", "10.1.0.1"));
    await kube.create("namespaces", ns("default"));
    await kube.create("namespaces", ns("odd", { "opencontrail.org/isolation": "perhaps" }));
    const bad = pod("odd", "p", "n1");
    bad.metadata.annotations = {
      "opencontrail.org/network": '{"domain":"default-domain","project":"admin","name":"nope"}',
    };
    await kube.create("pods", bad);
    const good = await kube.create("pods", pod("odd", "q", "n1"));
    const c = await start("r4");
    await settle(c);
    const text = logs.join("");
    expect(text).toContain('namespace odd: annotation opencontrail.org/isolation: \\"perhaps\\" is not');
    expect(text).toContain("pod odd/p: virtual-network default-domain:admin:nope does not exist");
    expect(await iipAddress(good)).toMatch(/^10\.47\.255\./);
    expect(c.status().failing).toBe(1);
    // blocked on a network only someone else can create: reported in the warnings, and known as blocked
    expect(c.warnings()).toContain(
      "pod odd/p: virtual-network default-domain:admin:nope does not exist; waiting for it (retried in the background)",
    );
    expect([...c.blocked().keys()]).toEqual(["Pod/odd/p"]);
    // someone creates the network: retried at once on request, the pod gets its interface and the warning goes
    await operatorNetwork("nope", "192.168.50.0");
    c.retryBlocked();
    await settle(c);
    expect(c.blocked().size).toBe(0);
    expect(c.warnings().filter((w) => w.includes("odd/p"))).toEqual([]);
    expect((await vnc.list("virtual-machine")).map((o) => o.fq_name.join(":"))).toContain("k8s__odd__p");
    // the pod goes: so do its objects
    await kube.delete("pods", "p", "odd");
    await settle(c);
    expect((await vnc.list("virtual-machine")).map((o) => o.fq_name.join(":"))).not.toContain("k8s__odd__p");
  });
});

describe("status endpoint", () => {
  it("serves /status and prometheus /metrics on 127.0.0.1", async () => {
    await kube.create("namespaces", ns("default"));
    const c = await start("r5", undefined, 0);
    await settle(c);
    expect(c.statusUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const st = await (await fetch(`${c.statusUrl}/status`)).json();
    expect(st).toMatchObject({ inSync: true, queueDepth: 0, failing: 0 });
    const metrics = await (await fetch(`${c.statusUrl}/metrics`)).text();
    expect(metrics).toMatch(/ctb_controller_vnc_calls_total\{method="POST",what="virtual-network"\} [1-9]/);
    expect(metrics).toContain("ctb_controller_reconcile_seconds_bucket");
    expect(metrics).toMatch(/ctb_controller_queue_depth 0/);
  });
});
