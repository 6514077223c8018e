/**
 * Nested mode on the pure translation (vnc_pod.py): a pod's interface is a VLAN sub-interface of its VM's
 * interface (found by the pod's hostIP on the underlay), with the lowest free tag, kept once it has one; pods
 * of one VM translated side by side get different tags; no VM interface → blocked, reported as external.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../controller/config";
import type { KubeObject } from "../../controller/kube/api";
import {
  emptySnapshot,
  emptyView,
  putObject,
  translateAll,
  type KubeSnapshot,
  type NestedHost,
  type VncView,
} from "../../controller/translate";

const cfg = parseConfig(
  "[KUBERNETES]\ncluster_name = cluster\ncluster_network = {'domain': 'default-domain', 'project': 'admin', 'name': 'vm-net'}\n[DEFAULTS]\nnested_mode = 1\n",
);
const HOST: NestedHost = {
  uuid: "host-vmi",
  fq_name: ["default-domain", "admin", "vm1-port"],
  hostId: "compute-1.example",
  vlans: new Set([1]), // someone else's sub-interface holds VLAN 1
};

function snapshot(pods: string[], hostIP = "192.168.1.10"): KubeSnapshot {
  const snap = emptySnapshot();
  putObject(snap, "nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "vm1" },
    status: { addresses: [{ type: "InternalIP", address: hostIP }] },
  } as KubeObject);
  putObject(snap, "namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } });
  for (const [i, name] of pods.entries())
    putObject(snap, "pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace: "default",
        uid: `00000000-0000-4000-8000-00000000000${i}`,
        creationTimestamp: new Date(`2026-01-01T00:00:0${i}Z`),
      },
      spec: { nodeName: "vm1", containers: [{ name: "c", image: "i" }] },
      status: { hostIP },
    } as KubeObject);
  return snap;
}

function view(vlans: Record<string, number> = {}, host: NestedHost | null = HOST): VncView {
  const v = emptyView();
  v.routersByName.set("compute-1", ["default-global-system-config", "compute-1"]);
  v.nested = {
    host: (ip) => (ip === "192.168.1.10" ? (host ?? undefined) : undefined),
    vlanOf: (fq) => vlans[fq.at(-1)!.split("__")[0]!],
  };
  return v;
}

const vmiOf = (units: ReturnType<typeof translateAll>, pod: string) =>
  units
    .flatMap((u) => u.objects)
    .find((o) => o.type === "virtual-machine-interface" && o.fq_name.at(-1)!.startsWith(`${pod}__`))!;

describe("nested mode", () => {
  it("sub-interfaces of the VM's interface: the lowest free VLANs in creation order, refs both ways, the host's vrouter", () => {
    const units = translateAll(snapshot(["a", "b"]), cfg, view());
    const a = vmiOf(units, "a");
    expect(a.fq_name.slice(0, 2)).toEqual(["default-domain", "admin"]);
    expect(a.props.virtual_machine_interface_properties).toEqual({ sub_interface_vlan_tag: 2 });
    expect(vmiOf(units, "b").props.virtual_machine_interface_properties).toEqual({
      sub_interface_vlan_tag: 3,
    });
    expect(a.refs.virtual_machine_interface_refs?.map((r) => r.to.join(":"))).toEqual([
      "default-domain:admin:vm1-port",
    ]);
    const podUnit = units.find((u) => u.key === "Pod/default/a")!;
    expect(podUnit.edges).toContainEqual({
      fromType: "virtual-machine-interface",
      from: HOST.fq_name,
      refType: "virtual-machine-interface",
      to: a.fq_name,
    });
    // the vrouter named by host_id, its domain ignored
    expect(podUnit.edges).toContainEqual({
      fromType: "virtual-router",
      from: ["default-global-system-config", "compute-1"],
      refType: "virtual-machine",
      to: ["cluster__default__a"],
    });
    const cluster = units.find((u) => u.key === "Cluster")!;
    expect(
      cluster.objects.some((o) => o.fq_name.join(":") === "default-domain:admin:cluster-nested-underlay-np"),
    ).toBe(true);
    expect(cluster.edges).toContainEqual(
      expect.objectContaining({
        from: ["default-domain", "admin", "vm-net"],
        to: ["default-domain", "admin", "cluster-nested-underlay-np"],
      }),
    );
  });

  it("a tag once given is kept; a freed one is reused", () => {
    // a has 2 already; b none: b takes 3 (1 is someone else's); after a goes, a new pod c takes 2
    expect(
      vmiOf(translateAll(snapshot(["a", "b"]), cfg, view({ a: 2 })), "b").props
        .virtual_machine_interface_properties,
    ).toEqual({ sub_interface_vlan_tag: 3 });
    expect(
      vmiOf(translateAll(snapshot(["b", "c"]), cfg, view({ b: 3 })), "c").props
        .virtual_machine_interface_properties,
    ).toEqual({ sub_interface_vlan_tag: 2 });
  });

  it("no VM interface for the pod's address: blocked, reported as waiting for someone else", () => {
    const units = translateAll(snapshot(["a"]), cfg, view({}, null));
    const pod = units.find((u) => u.key === "Pod/default/a")!;
    expect(pod.blocked).toBe(
      "pod default/a: nested mode: no interface with address 192.168.1.10 on default-domain:admin:vm-net bound to a host (the pod's VM); waiting for it",
    );
    expect(pod.blockedExternally).toBe(true);
  });
});
