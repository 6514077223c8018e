/**
 * The web view's pure core without a browser: the config index kept from change-stream events (lists by type
 * and project, back-refs and children computed, the Kubernetes owner, search by name, uuid and address, a
 * delete taking the object and its back-refs away), trace lines cut into stages with the deciding one, and the
 * topology of an object graph.
 */
import { describe, expect, it } from "vitest";
import type { WatchObject } from "../../fake-contrail-api/watch-client";
import { ConfigIndex } from "../../web/server/config-index";
import { topology } from "../../web/server/topology";
import { hostAllowed } from "../../web/server/server";
import { parseTraceLine, traceStages } from "../../web/server/trace-model";

const owner = (kind: string, name: string, namespace?: string) => ({
  key_value_pair: [
    { key: "owner", value: "k8s" },
    { key: "cluster", value: "k8s" },
    { key: "kind", value: kind },
    ...(namespace ? [{ key: "namespace", value: namespace }] : []),
    { key: "name", value: name },
  ],
});

function world(): ConfigIndex {
  const o = (type: string, uuid: string, fq: string[], extra: Partial<WatchObject> = {}) => ({
    type,
    uuid,
    fq_name: fq,
    obj: { uuid, fq_name: fq, ...extra } as WatchObject,
  });
  const objects = [
    o("domain", "d", ["default-domain"]),
    o("project", "p", ["default-domain", "default"], { parent_uuid: "d" }),
    o("project", "q", ["default-domain", "iso"], {
      parent_uuid: "d",
      annotations: owner("Namespace", "iso"),
    }),
    o("network-ipam", "ipam", ["default-domain", "default", "pod-ipam"], { parent_uuid: "p" }),
    o("virtual-network", "vn", ["default-domain", "default", "cluster-network"], {
      parent_uuid: "p",
      annotations: owner("Cluster", "k8s"),
      network_ipam_refs: [
        { to: ["default-domain", "default", "pod-ipam"], uuid: "ipam", attr: { ipam_subnets: [] } },
      ],
    }),
    o("virtual-network", "isovn", ["default-domain", "iso", "iso-vn"], {
      parent_uuid: "q",
      annotations: owner("Namespace", "iso"),
    }),
    o("virtual-machine-interface", "vmi", ["default-domain", "default", "web-1__x"], {
      parent_uuid: "p",
      annotations: owner("Pod", "web-1", "default"),
      virtual_network_refs: [{ to: ["default-domain", "default", "cluster-network"], uuid: "vn" }],
      virtual_machine_interface_mac_addresses: { mac_address: ["02:AA:BB:CC:DD:EE"] },
    }),
    o("instance-ip", "iip", ["web-1__x"], {
      instance_ip_address: "10.47.255.252",
      virtual_machine_interface_refs: [{ to: ["default-domain", "default", "web-1__x"], uuid: "vmi" }],
      virtual_network_refs: [{ to: ["default-domain", "default", "cluster-network"], uuid: "vn" }],
    }),
    o("virtual-router", "vr", ["default-global-system-config", "node-a"], {
      virtual_router_ip_address: "10.0.0.1",
    }),
  ];
  const idx = new ConfigIndex();
  idx.apply({ kind: "snapshot", seq: 5, objects });
  return idx;
}

describe("config index", () => {
  it("lists by type and project, with the Kubernetes object each stands for", () => {
    const idx = world();
    expect(idx.types()).toContainEqual({ type: "virtual-network", count: 2 });
    expect(idx.projects()).toEqual(["default", "iso"]);
    expect(idx.list("virtual-network").map((o) => [o.name, o.project, o.kube?.kind])).toEqual([
      ["cluster-network", "default", "Cluster"],
      ["iso-vn", "iso", "Namespace"],
    ]);
    expect(idx.list(undefined, "iso").map((o) => o.name)).toEqual(["iso", "iso-vn"]);
  });

  it("shows an object with its refs (and their attributes), back-refs, children and parent", () => {
    const d = world().detail("vn")!;
    expect(d.refs).toEqual([
      expect.objectContaining({
        field: "network_ipam_refs",
        type: "network-ipam",
        uuid: "ipam",
        attr: { ipam_subnets: [] },
      }),
    ]);
    expect(d.backRefs.map((b) => [b.field, b.type, b.uuid])).toEqual([
      ["instance_ip_back_refs", "instance-ip", "iip"],
      ["virtual_machine_interface_back_refs", "virtual-machine-interface", "vmi"],
    ]);
    expect(d.parent?.uuid).toBe("p");
    expect(d.kube).toEqual({ kind: "Cluster", name: "k8s", cluster: "k8s" });
    expect(d.fields).not.toHaveProperty("network_ipam_refs");
    expect(
      world()
        .detail("p")!
        .children.map((c) => c.uuid),
    ).toEqual(["ipam", "vmi", "vn"]);
  });

  it("finds objects by name, uuid, address and MAC, exact matches first", () => {
    const idx = world();
    expect(idx.search("10.47.255.252").map((l) => l.uuid)).toEqual(["iip"]);
    expect(idx.search("02:aa:bb:cc:dd:ee").map((l) => l.uuid)).toEqual(["vmi"]);
    expect(idx.search("cluster-network")[0]!.uuid).toBe("vn");
    expect(idx.search("10.0.0.1").map((l) => l.uuid)).toEqual(["vr"]);
    expect(idx.search("  ")).toEqual([]);
  });

  it("follows changes: an update replaces the object, a delete removes it and its back-refs", () => {
    const idx = world();
    idx.apply({
      kind: "change",
      change: { seq: 6, op: "DELETE", type: "instance-ip", uuid: "iip", fq_name: ["web-1__x"] },
    });
    expect(idx.detail("iip")).toBeUndefined();
    expect(idx.detail("vn")!.backRefs.map((b) => b.uuid)).toEqual(["vmi"]);
    idx.apply({
      kind: "change",
      change: {
        seq: 7,
        op: "UPDATE",
        type: "virtual-network",
        uuid: "vn",
        fq_name: ["default-domain", "default", "cluster-network"],
        obj: {
          uuid: "vn",
          fq_name: ["default-domain", "default", "cluster-network"],
          parent_uuid: "p",
          display_name: "cn",
        },
      },
    });
    expect(idx.detail("vn")!.name).toBe("cn");
    expect(idx.detail("vn")!.refs).toEqual([]);
    expect(idx.seq).toBe(7);
  });
});

describe("trace stages", () => {
  it("cuts a line into where, stage, outcome, text, the Contrail object and the Kubernetes one", () => {
    expect(
      parseTraceLine(
        "b3s37 security-group(pass): ingress of vif 3: rule 98b9 pass [security-group default-domain:default:k8s-default-default ← Namespace default]",
      ),
    ).toEqual({
      where: "b3s37",
      stage: "security-group",
      outcome: "pass",
      text: "ingress of vif 3: rule 98b9 pass",
      contrail: { type: "security-group", fqName: "default-domain:default:k8s-default-default" },
      kube: { kind: "Namespace", name: "default" },
    });
    expect(parseTraceLine("default/web-1 host: ICMP echo reply")).toEqual({
      where: "default/web-1",
      stage: "host",
      text: "ICMP echo reply",
    });
  });

  it("marks the first drop as deciding, and names the VRF's routing instance for a missing route", () => {
    const stages = traceStages({
      sent: 1,
      received: 0,
      servedByCounts: {},
      refused: 0,
      trace: [
        "n1 ingress: 51 bytes on vif 3 (tap0)",
        "n1 route(drop): no route to 10.1.1.1 in VRF 1 (default-domain:default:cn:cn)",
      ],
    });
    expect(stages.map((s) => !!s.deciding)).toEqual([false, true]);
    expect(stages[1]!.contrail).toEqual({ type: "routing-instance", fqName: "default-domain:default:cn:cn" });
  });
});

describe("topology", () => {
  it("puts pods in their computes, joins them to their networks by their VMIs, marks the isolated network", () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web-1", namespace: "default" },
      spec: { nodeName: "node-a" },
      status: { podIP: "10.47.255.252", phase: "Running" },
    };
    const ns = {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "iso", annotations: { "opencontrail.kubernetes.isolated": "true" } },
    };
    const t = topology(world(), { pods: [pod], services: [], slices: [], namespaces: [ns] });
    expect(t.nodes.find((n) => n.id === "pod:default/web-1")).toMatchObject({
      parent: "compute:node-a",
      uuid: "vmi",
    });
    expect(t.nodes.find((n) => n.uuid === "isovn")).toMatchObject({
      label: "iso-vn (isolated)",
      isolated: true,
    });
    expect(t.edges).toContainEqual(
      expect.objectContaining({ source: "pod:default/web-1", target: "vn:vn", label: "10.47.255.252" }),
    );
  });
});

describe("the server's Host check (DNS rebinding)", () => {
  it("answers under an address or localhost with its port, never under a name", () => {
    expect(hostAllowed("127.0.0.1:8080", 8080)).toBe(true);
    expect(hostAllowed("localhost:8080", 8080)).toBe(true);
    expect(hostAllowed("192.0.2.7:8080", 8080)).toBe(true);
    expect(hostAllowed("[::1]:8080", 8080)).toBe(true);
    expect(hostAllowed("evil.example:8080", 8080)).toBe(false);
    expect(hostAllowed("127.0.0.1:8081", 8080)).toBe(false);
    expect(hostAllowed("127.0.0.1", 8080)).toBe(false);
  });
});
