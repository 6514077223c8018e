/**
 * Multi-network pods in the translation: a NetworkAttachmentDefinition with opencontrail.org/cidr is the network
 * vnc_network.py makes (names, allocation mode, the CIDR and its gateway on the IPAM ref); a pod's
 * k8s.v1.cni.cncf.io/networks annotation gives one VMI per attachment in order (index i/N, network, interface);
 * what cannot be used holds the pod back with the reason.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../controller/config";
import type { KubeObject } from "../../controller/kube/api";
import { emptySnapshot, emptyView, putObject, translateAll } from "../../controller/translate";
import { parsePodNetworks } from "../../controller/translate/multinet";

const NAD = (name: string, annotations: Record<string, string>, config?: string): KubeObject => ({
  apiVersion: "k8s.cni.cncf.io/v1",
  kind: "NetworkAttachmentDefinition",
  metadata: { name, namespace: "shop", annotations },
  spec: { config: config ?? '{"cniVersion":"0.3.1","type":"contrail-k8s-cni"}' },
});

function world(networks: string | undefined, nads: KubeObject[]) {
  const snap = emptySnapshot();
  putObject(snap, "nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "n1" },
    status: { addresses: [{ type: "InternalIP", address: "10.0.0.1" }] },
  } as KubeObject);
  putObject(snap, "namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
  for (const n of nads) putObject(snap, "networkattachmentdefinitions", n);
  putObject(snap, "pods", {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "fw",
      namespace: "shop",
      uid: "00000000-0000-4000-8000-000000000001",
      ...(networks ? { annotations: { "k8s.v1.cni.cncf.io/networks": networks } } : {}),
    },
    spec: { nodeName: "n1", containers: [{ name: "c", image: "i" }] },
    status: { hostIP: "10.0.0.1" },
  } as KubeObject);
  const view = emptyView();
  view.routersByName.set("n1", ["default-global-system-config", "n1"]);
  return translateAll(snap, parseConfig("[KUBERNETES]\ncluster_name = k8s\n"), view);
}

const ann = (o: { props: Record<string, unknown> }) =>
  Object.fromEntries(
    ((o.props.annotations as { key_value_pair: { key: string; value: string }[] }).key_value_pair ?? []).map(
      (p) => [p.key, p.value],
    ),
  );

describe("NetworkAttachmentDefinitions and pods on several networks", () => {
  it("makes <c>-<name>-pod-network with its CIDR, and one VMI per attachment in order", () => {
    const units = world('[{"name":"left"},{"name":"right","interface":"right0"}]', [
      NAD("left", { "opencontrail.org/cidr": "10.10.1.0/24" }),
      NAD("right", { "opencontrail.org/cidr": "10.10.2.0/24", "opencontrail.org/ip_fabric_snat": "true" }),
    ]);
    const objs = units.flatMap((u) => u.objects);
    const left = objs.find(
      (o) => o.type === "virtual-network" && o.fq_name.at(-1) === "k8s-left-pod-network",
    )!;
    expect(left.fq_name).toEqual(["default-domain", "k8s-shop", "k8s-left-pod-network"]);
    expect(left.props).toMatchObject({
      address_allocation_mode: "user-defined-subnet-only",
      virtual_network_properties: { forwarding_mode: "l2_l3" },
      fabric_snat: false,
    });
    expect(left.refs.network_ipam_refs).toEqual([
      {
        to: ["default-domain", "k8s-shop", "k8s-left-pod-ipam"],
        attr: {
          ipam_subnets: [
            { subnet: { ip_prefix: "10.10.1.0", ip_prefix_len: 24 }, default_gateway: "10.10.1.254" },
          ],
        },
        compareAttr: false,
      },
    ]);
    const right = objs.find((o) => o.fq_name.at(-1) === "k8s-right-pod-network")!;
    expect(right.props.fabric_snat).toBe(true);
    const vmis = objs.filter((o) => o.type === "virtual-machine-interface");
    expect(vmis.map((v) => [ann(v).index, ann(v).network, ann(v).interface])).toEqual([
      ["0/3", "default", undefined],
      ["1/3", "left", undefined],
      ["2/3", "right", "right0"],
    ]);
    expect(vmis.map((v) => v.refs.virtual_network_refs?.[0]?.to.at(-1))).toEqual([
      "k8s-default-pod-network",
      "k8s-left-pod-network",
      "k8s-right-pod-network",
    ]);
    expect(vmis.map((v) => v.fq_name.at(-1)!.split("__")[0])).toEqual(["fw", "fw", "fw"]);
    expect(objs.filter((o) => o.type === "instance-ip")).toHaveLength(3);
  });

  it("holds a pod back when a network it names has no definition, with Multus' words", () => {
    const units = world("blue", []);
    const pod = units.find((u) => u.key === "Pod/shop/fw")!;
    expect(pod.objects).toEqual([]);
    expect(pod.blocked).toBe(
      'pod shop/fw: cannot find a network-attachment-definition (blue) in namespace (shop): network-attachment-definitions.k8s.cni.cncf.io "blue" not found',
    );
    expect(pod.blockedExternally).toBe(true);
  });

  it("reports an invalid definition on its namespace and holds back the pods that name it", () => {
    for (const [nad, why] of [
      [NAD("blue", { "opencontrail.org/cidr": "10.10.1.0/33" }), /"10.10.1.0\/33" is not a CIDR/],
      [NAD("blue", { "opencontrail.org/cidr": "10.10.1.0/24" }, "{not json"), /spec.config is not JSON/],
      [NAD("blue", {}), /neither opencontrail.org\/cidr nor opencontrail.org\/network/],
      [
        NAD("blue", { "opencontrail.org/cidr": "10.10.1.0/24" }, '{"type":"macvlan"}'),
        /type "macvlan", not contrail-k8s-cni/,
      ],
      [
        NAD("blue", {
          "opencontrail.org/cidr": "10.10.1.0/24",
          "opencontrail.org/ip_fabric_forwarding": "yes",
        }),
        /ip_fabric_forwarding "yes" is neither true nor false/,
      ],
    ] as const) {
      const units = world("blue", [nad]);
      const ns = units.find((u) => u.key === "Namespace/shop")!;
      expect(ns.warnings.join("\n")).toMatch(why);
      expect(ns.objects.filter((o) => o.type === "virtual-network")).toEqual([]);
      expect(units.find((u) => u.key === "Pod/shop/fw")!.blocked).toMatch(why);
    }
  });

  it("parses both annotation forms and refuses an interface named twice", () => {
    expect(parsePodNetworks("a, other/b@net2", "shop")).toEqual([
      { name: "a", namespace: "shop" },
      { name: "b", namespace: "other", interface: "net2" },
    ]);
    expect(parsePodNetworks('[{"name":"a","namespace":"x","interface":"e1"}]', "shop")).toEqual([
      { name: "a", namespace: "x", interface: "e1" },
    ]);
    expect(parsePodNetworks('[{"name":"a","interface":"e1"},{"name":"b","interface":"e1"}]', "shop")).toBe(
      "Interface e1 is defined more than once",
    );
    expect(parsePodNetworks("[{", "shop")).toMatch(/is not valid JSON/);
    expect(parsePodNetworks('[{"name":"a","interface":"-x"}]', "shop")).toMatch(/not a Linux interface name/);
    expect(world("[1]", []).find((u) => u.key === "Pod/shop/fw")!.blocked).toMatch(/must be an object/);
  });
});
