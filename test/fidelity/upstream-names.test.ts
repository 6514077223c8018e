/**
 * Names upstream's own lookups and unit tests depend on (tf-controller kube_manager/tests/vnc/test_vnc_service.py,
 * test_vnc_pod.py, test_vnc_namespace.py), checked on the pure translation:
 * - a Service's VIP instance-ip is `<svc>__<uuid>`: `_assert_all_is_up` finds it by `name.split('__')[0] == srv_name`
 *   where srv_name is the loadbalancer name's first part (`<svc>__<uid>`);
 * - external floating IPs are `<lb name><address>-externalIP` (`None` when the pool picks the address), chosen as
 *   `_update_service_public_ip` does (LoadBalancer: loadBalancerIP, else externalIPs, else one; ClusterIP:
 *   externalIPs; other types: none);
 * - a loadbalancer-pool is named after its listener (`<lb>-<proto>-<port>-<listener uuid>`);
 * - link-local entries are `<project fq_name joined by '-'>-<svc>-<port>` and map back to their unit;
 * - with cluster_project configured, every namespace's objects live in it (`vmi.parent_name == cluster_project`,
 *   the isolated pod network `[domain, cluster_project, <c>-<ns>-pod-network]`).
 */
import { describe, expect, it } from "vitest";
import { defaultConfig, parseConfig } from "../../controller/config";
import type { KubeObject } from "../../controller/kube/api";
import {
  emptySnapshot,
  emptyView,
  Layout,
  linkLocalOwner,
  putObject,
  translateAll,
  type KubeSnapshot,
  type UnitDesired,
} from "../../controller/translate";

function snapshot(objs: KubeObject[]): KubeSnapshot {
  const snap = emptySnapshot();
  const res: Record<string, keyof KubeSnapshot> = {
    Namespace: "namespaces",
    Pod: "pods",
    Service: "services",
    Node: "nodes",
  };
  for (const o of objs) putObject(snap, res[o.kind!]!, o);
  return snap;
}
const node: KubeObject = {
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: "n1" },
  status: { addresses: [{ type: "InternalIP", address: "10.0.0.1" }] },
};
const ns = (name: string, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, annotations },
});
const svc = (name: string, uid: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default", uid },
  spec: { clusterIP: "10.96.0.10", ports: [{ port: 80, protocol: "TCP" }], ...spec },
});
const POOL = "{'domain': 'default-domain', 'project': 'admin', 'network': 'public', 'name': 'pool'}";
const objectsOf = (units: UnitDesired[], type: string) =>
  units.flatMap((u) => u.objects).filter((o) => o.type === type);

describe("names upstream's lookups and tests depend on", () => {
  it("VIP instance-ip <svc>__<uuid>: found from the loadbalancer name as test_vnc_service does", () => {
    const units = translateAll(
      snapshot([node, ns("default"), svc("test-service", "11111111-0000-4000-8000-000000000001", {})]),
      defaultConfig(),
      emptyView(),
    );
    const lb = objectsOf(units, "loadbalancer")[0]!;
    const srvName = lb.fq_name.at(-1)!.split("__")[0];
    expect(srvName).toBe("test-service");
    const vip = objectsOf(units, "instance-ip").find((i) => i.fq_name[0].split("__")[0] === srvName)!;
    expect(vip.fq_name).toEqual([`test-service__${vip.uuid}`]);
    expect(vip.createOnly).toEqual({ instance_ip_address: "10.96.0.10" });
  });

  it("a pool is named after its listener", () => {
    const units = translateAll(
      snapshot([node, ns("default"), svc("web", "11111111-0000-4000-8000-000000000001", {})]),
      defaultConfig(),
      emptyView(),
    );
    const [listener] = objectsOf(units, "loadbalancer-listener");
    const [pool] = objectsOf(units, "loadbalancer-pool");
    expect(listener!.fq_name.at(-1)).toMatch(
      /^web__11111111-0000-4000-8000-000000000001-TCP-80-[0-9a-f-]{36}$/,
    );
    expect(pool!.fq_name).toEqual(listener!.fq_name);
  });

  it("external floating IPs <lb name><address>-externalIP, the addresses chosen as upstream", () => {
    const cfg = parseConfig(`[VNC]\npublic_fip_pool = ${POOL}\n`);
    const uid = (n: number) => `11111111-0000-4000-8000-00000000000${n}`;
    const units = translateAll(
      snapshot([
        node,
        ns("default"),
        svc("lb-ip", uid(1), {
          type: "LoadBalancer",
          loadBalancerIP: "203.0.113.5",
          externalIPs: ["203.0.113.6"],
        }),
        svc("lb-ext", uid(2), { type: "LoadBalancer", externalIPs: ["203.0.113.7", "203.0.113.8"] }),
        svc("lb-any", uid(3), { type: "LoadBalancer" }),
        svc("cip-ext", uid(4), { externalIPs: ["203.0.113.9"] }),
        svc("np-ext", uid(5), { type: "NodePort", externalIPs: ["203.0.113.10"] }),
      ]),
      cfg,
      emptyView(),
    );
    const fips = objectsOf(units, "floating-ip").map((f) => f.fq_name.join(":"));
    const p = "default-domain:admin:public:pool";
    expect(fips.sort()).toEqual(
      [
        `${p}:lb-ip__${uid(1)}203.0.113.5-externalIP`,
        `${p}:lb-ext__${uid(2)}203.0.113.7-externalIP`,
        `${p}:lb-ext__${uid(2)}203.0.113.8-externalIP`,
        `${p}:lb-any__${uid(3)}None-externalIP`,
        `${p}:cip-ext__${uid(4)}203.0.113.9-externalIP`,
      ].sort(),
    );
    expect(units.flatMap((u) => u.warnings)).toEqual([
      "service default/np-ext: externalIPs on a NodePort service: kube-manager gives floating IPs to ClusterIP and LoadBalancer services only; none",
    ]);
  });

  it("the floating-ip pool: service annotation, namespace annotation, public_fip_pool — the first that exists", () => {
    const cfg = parseConfig(`[VNC]\npublic_fip_pool = ${POOL}\n`);
    const annotated = svc("web", "11111111-0000-4000-8000-000000000001", { type: "LoadBalancer" });
    annotated.metadata.annotations = {
      "opencontrail.org/fip-pool":
        "{'domain': 'default-domain', 'project': 'admin', 'network': 'gone', 'name': 'pool'}",
    };
    const snap = snapshot([node, ns("default"), annotated]);
    const pools = (exists?: (type: string, fq: string[]) => boolean) =>
      objectsOf(translateAll(snap, cfg, { ...emptyView(), exists }), "floating-ip").map((f) =>
        f.fq_name.slice(0, 4).join(":"),
      );
    // nothing known: the first configured (the applier leaves it out with a warning if it is missing)
    expect(pools()).toEqual(["default-domain:admin:gone:pool"]);
    // the annotated pool does not exist, the public one does
    expect(
      pools((t, fq) => t === "floating-ip-pool" && fq.join(":") === "default-domain:admin:public:pool"),
    ).toEqual(["default-domain:admin:public:pool"]);
    expect(pools(() => true)).toEqual(["default-domain:admin:gone:pool"]);
    // a pool already holding the service's floating IP is kept (upstream does not move allocated ones)
    const held = "default-domain:admin:public:pool:web__11111111-0000-4000-8000-000000000001None-externalIP";
    expect(pools((t, fq) => t !== "floating-ip" || fq.join(":") === held)).toEqual([
      "default-domain:admin:public:pool",
    ]);
  });

  it("link-local entries map back to their Service unit, also with a cluster_project", () => {
    const layout = new Layout(defaultConfig());
    expect(
      linkLocalOwner(layout, { linklocal_service_name: "default-domain-k8s-my-ns-kubernetes-443" }),
    ).toBe("Service/my-ns/kubernetes");
    expect(linkLocalOwner(layout, { linklocal_service_name: "metadata" })).toBeUndefined();
    expect(
      linkLocalOwner(layout, { linklocal_service_name: "default-domain-k8s-my-ns-web-443" }),
    ).toBeUndefined();
    const cp = new Layout(
      parseConfig("[KUBERNETES]\ncluster_project = {'project': 'k8s-cluster_project'}\n"),
    );
    const snap = snapshot([
      {
        ...svc("kubernetes", "u1", { clusterIP: "10.96.0.1" }),
        metadata: { name: "kubernetes", namespace: "infra", uid: "u1" },
      },
    ]);
    const entry = {
      linklocal_service_name: "default-domain-k8s-cluster_project-kubernetes-443",
      linklocal_service_ip: "10.96.0.1",
    };
    expect(linkLocalOwner(cp, entry, snap)).toBe("Service/infra/kubernetes");
    expect(linkLocalOwner(cp, { ...entry, linklocal_service_ip: "10.96.0.2" }, snap)).toBe(
      "Service/default/kubernetes",
    );
  });

  it("r5 cluster_network: its domain and project come before cluster_project's", () => {
    const l = new Layout(
      parseConfig(
        "[KUBERNETES]\ncluster_project = {'project': 'cp'}\ncluster_network = {'domain': 'dom', 'project': 'np', 'name': 'vn'}\n",
      ),
    );
    expect([l.project("dev"), l.clusterProject(), l.clusterProjects()]).toEqual([
      ["dom", "np"],
      ["dom", "np"],
      [["dom", "np"]],
    ]);
  });

  it("cluster_project: pod interfaces and an isolated namespace's networks live in it, no project per namespace", () => {
    const cfg = parseConfig("[KUBERNETES]\ncluster_project = {'project': 'k8s-cluster_project'}\n");
    const pod: KubeObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "dev", uid: "22222222-0000-4000-8000-000000000001" },
      spec: { nodeName: "n1" },
    };
    const units = translateAll(
      snapshot([node, ns("default"), ns("dev", { "opencontrail.org/isolation": "true" }), pod]),
      cfg,
      emptyView(),
    );
    expect(objectsOf(units, "project").map((o) => o.fq_name.join(":"))).toEqual([
      "default-domain:k8s-cluster_project",
    ]);
    expect(objectsOf(units, "virtual-machine-interface")[0]!.fq_name.slice(0, 2)).toEqual([
      "default-domain",
      "k8s-cluster_project",
    ]);
    expect(objectsOf(units, "virtual-network").map((o) => o.fq_name.join(":"))).toContain(
      "default-domain:k8s-cluster_project:k8s-dev-pod-network",
    );
  });

  it("secure_project: the application tag on the namespaces' projects, not on their networks (vnc_namespace.py)", () => {
    const objs = (text: string) =>
      translateAll(
        snapshot([node, ns("default"), ns("iso", { "opencontrail.org/isolation": "true" })]),
        parseConfig(`[KUBERNETES]\ncluster_name = cluster\n${text}`),
        emptyView(),
      ).flatMap((u) => u.objects);
    const tagsOf = (list: ReturnType<typeof objs>, type: string, name: string) =>
      list
        .find((o) => o.type === type && o.fq_name.at(-1) === name)!
        .refs.tag_refs?.map((r) => r.to.join(":"));
    const plain = objs("");
    expect(tagsOf(plain, "virtual-network", "cluster-iso-pod-network")).toEqual(["application=cluster"]);
    expect(tagsOf(plain, "project", "cluster-iso")).toBeUndefined();
    const secure = objs("[DEFAULTS]\nsecure_project = True\n");
    expect(tagsOf(secure, "virtual-network", "cluster-iso-pod-network")).toBeUndefined();
    expect(tagsOf(secure, "virtual-network", "cluster-default-pod-network")).toBeUndefined();
    expect(tagsOf(secure, "project", "cluster-iso")).toEqual(["application=cluster"]);
    expect(tagsOf(secure, "project", "cluster-default")).toEqual(["application=cluster"]);
  });

  it("kubernetes_cluster_owner is every object's owner annotation; the domain is waited for, never made", () => {
    const units = translateAll(
      snapshot([node, ns("default")]),
      parseConfig(
        "[KUBERNETES]\nkubernetes_cluster_owner = k8s-blue\nkubernetes_cluster_domain = admin_domain\n",
      ),
      emptyView(),
    );
    for (const o of units.flatMap((u) => u.objects))
      expect(
        (o.props.annotations as { key_value_pair: unknown[] }).key_value_pair[0],
        o.fq_name.join(":"),
      ).toEqual({ key: "owner", value: "k8s-blue" });
    expect(units.find((u) => u.key === "Cluster")!.external).toEqual([
      { type: "domain", fq_name: ["admin_domain"] },
    ]);
    expect(units.flatMap((u) => u.objects).some((o) => o.type === ("domain" as string))).toBe(false);
  });

  it("ip_fabric_snat only on a pod network that is not ip-fabric forwarded (vnc_kubernetes.py _create_network)", () => {
    const podVn = (text: string) =>
      translateAll(snapshot([node, ns("default")]), parseConfig(`[KUBERNETES]\n${text}`), emptyView())
        .flatMap((u) => u.objects)
        .find((o) => o.type === "virtual-network" && o.fq_name.at(-1) === "k8s-default-pod-network")!;
    const forwarded = podVn("ip_fabric_snat = True\n");
    expect(forwarded.props.fabric_snat).toBeUndefined();
    expect(forwarded.refs.virtual_network_refs?.map((r) => r.to.join(":"))).toEqual([
      "default-domain:default-project:ip-fabric",
    ]);
    const overlay = podVn("ip_fabric_snat = True\nip_fabric_forwarding = False\n");
    expect(overlay.props.fabric_snat).toBe(true);
    expect(overlay.refs.virtual_network_refs).toBeUndefined();
  });
});
