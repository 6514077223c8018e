/**
 * The reconcile planner on its own (pure, no HTTP): stale edges and objects are removed, stale objects
 * children and referrers first; creates carry the whole object, updates only the fields that differ; objects
 * already as desired are left alone; placeholders are left to the applier; a new incarnation of a pod's VM is
 * replaced, not updated.
 */
import { describe, expect, it } from "vitest";
import {
  type ActualObject,
  edgeKey,
  entryKey,
  objectWrite,
  objKey,
  planUnit,
  type UnitActual,
} from "../../controller/plan";
import type { DesiredEdge, DesiredObject, UnitDesired } from "../../controller/translate/types";

const P = ["default-domain", "k8s-a"];
const desired = (
  type: DesiredObject["type"],
  fq: string[],
  extra: Partial<DesiredObject> = {},
): DesiredObject => ({
  type,
  fq_name: fq,
  uuid: `uuid-${fq.join(":")}`,
  props: {},
  refs: {},
  ...extra,
});
/** What the index holds after a desired object was written as is. */
const written = (o: DesiredObject): ActualObject => ({
  type: o.type,
  fq_name: o.fq_name,
  uuid: o.uuid,
  props: o.props,
  refs: o.refs,
});
const unit = (objects: DesiredObject[], edges: DesiredEdge[] = []): UnitDesired => ({
  key: "Pod/a/web",
  objects,
  edges,
  warnings: [],
});
/** Objects of other units the index knows by default: the namespace's project and the pod network. */
const OTHERS = [objKey("project", P), objKey("virtual-network", [...P, "pod-network"])];
/** The index holding `objects` (and `edges`) for the unit, and knowing `others`. */
const index = (objects: ActualObject[], edges: DesiredEdge[] = [], others = OTHERS): UnitActual => ({
  objects: new Map(objects.map((a) => [objKey(a.type, a.fq_name), a])),
  edges: new Map(edges.map((e) => [edgeKey(e), e])),
  known: new Map([
    ...others.map((k) => [k, `uuid-${k}`] as [string, string]),
    ...objects.map((a) => [objKey(a.type, a.fq_name), a.uuid] as [string, string]),
  ]),
});

const vm = desired("virtual-machine", ["k8s__a__web"], {
  uuid: "pod-uid-1",
  props: { server_type: "container" },
});
const vmi = desired("virtual-machine-interface", [...P, "web__1"], {
  props: { virtual_machine_interface_device_owner: "K8S:POD" },
  refs: { virtual_machine_refs: [{ to: vm.fq_name }], virtual_network_refs: [{ to: [...P, "pod-network"] }] },
});
const iip = desired("instance-ip", ["web__1"], {
  props: { instance_ip_family: "v4" },
  refs: { virtual_machine_interface_refs: [{ to: vmi.fq_name }] },
});
const vrouterEdge: DesiredEdge = {
  fromType: "virtual-router",
  from: ["default-global-system-config", "n1"],
  refType: "virtual-machine",
  to: vm.fq_name,
};

describe("planUnit", () => {
  it("a unit already applied plans nothing", () => {
    const plan = planUnit(
      unit([vm, vmi, iip], [vrouterEdge]),
      index([vm, vmi, iip].map(written), [vrouterEdge]),
    );
    expect(plan).toEqual({ unref: [], deletes: [], requires: [], upserts: [], refs: [], lists: [] });
  });

  it("a new unit: creates in dependency order, then its edges; missing ref targets are required", () => {
    const plan = planUnit(unit([iip, vmi, vm], [vrouterEdge]), index([], [], [objKey("project", P)]));
    expect(plan.upserts.map((u) => [u.desired.type, u.write?.op])).toEqual([
      ["virtual-machine", "create"],
      ["virtual-machine-interface", "create"],
      ["instance-ip", "create"],
    ]);
    expect(plan.refs.map((r) => r.edge)).toEqual([vrouterEdge]);
    // the project is known; the pod network belongs to another unit and is not known yet
    expect(plan.requires).toEqual([{ type: "virtual-network", fq_name: [...P, "pod-network"] }]);
  });

  it("a deleted unit: its edges are removed first, then its objects, children and referrers first", () => {
    const plan = planUnit(unit([]), index([vm, vmi, iip].map(written), [vrouterEdge]));
    expect(plan.unref.map((u) => u.edge)).toEqual([vrouterEdge]);
    expect(plan.deletes.map((a) => a.type)).toEqual([
      "instance-ip",
      "virtual-machine-interface",
      "virtual-machine",
    ]);
    expect(plan.upserts).toEqual([]);
    expect(plan.refs).toEqual([]);
  });

  it("reverse rank first, then longer fq_names (children) first", () => {
    const pool = desired("floating-ip-pool", [...P, "net", "pool"]);
    const fip = desired("floating-ip", [...P, "net", "pool", "fip"]);
    const net = desired("virtual-network", [...P, "net"]);
    const project = desired("project", P);
    const plan = planUnit(unit([]), index([project, net, pool, fip].map(written)));
    expect(plan.deletes.map((a) => a.type)).toEqual([
      "floating-ip",
      "floating-ip-pool",
      "virtual-network",
      "project",
    ]);
  });

  it("only the stale edge goes; a new one is added", () => {
    const other: DesiredEdge = { ...vrouterEdge, from: ["default-global-system-config", "n2"] };
    const plan = planUnit(unit([vm], [other]), index([written(vm)], [vrouterEdge]));
    expect(plan.unref.map((u) => u.edge)).toEqual([vrouterEdge]);
    expect(plan.refs.map((r) => r.edge)).toEqual([other]);
    expect(plan.deletes).toEqual([]);
  });

  it("updates carry only the changed props and ref lists", () => {
    const now = { ...written(vmi), uuid: "server-uuid", props: { ...vmi.props, display_name: "web" } };
    const changed = {
      ...vmi,
      props: { ...vmi.props, annotations: { key_value_pair: [{ key: "index", value: "0" }] } },
      refs: { ...vmi.refs, security_group_refs: [{ to: [...P, "default-sg"] }] },
    };
    const plan = planUnit(unit([changed]), index([now]));
    expect(plan.upserts).toHaveLength(1);
    expect(plan.upserts[0].write).toEqual({
      op: "update",
      type: "virtual-machine-interface",
      uuid: "server-uuid",
      why: "Pod/a/web",
      body: {
        annotations: { key_value_pair: [{ key: "index", value: "0" }] },
        security_group_refs: [{ to: [...P, "default-sg"] }],
      },
    });
  });

  it("what the server added beyond the desired props is no difference", () => {
    const served = {
      ...written(iip),
      props: { instance_ip_family: "v4", instance_ip_address: "10.47.255.252" },
    };
    expect(planUnit(unit([iip]), index([served])).upserts).toEqual([]);
  });

  it("objects with placeholders are left to the applier to resolve and compare", () => {
    const withSubnet = {
      ...iip,
      props: { subnet_uuid: { $subnetOf: { vn: [...P, "pod-network"], ipam: [...P, "pod-ipam"] } } },
    };
    const plan = planUnit(unit([withSubnet]), index([written(iip)]));
    expect(plan.upserts).toEqual([{ desired: withSubnet, current: written(iip) }]);
  });

  it("a pod recreated under the same name: its VM is deleted and created anew, its edge re-added", () => {
    const reborn = { ...vm, uuid: "pod-uid-2" };
    const plan = planUnit(
      unit([reborn, vmi], [vrouterEdge]),
      index([written(vm), written(vmi)], [vrouterEdge]),
    );
    expect(plan.unref.map((u) => u.edge)).toEqual([vrouterEdge]);
    expect(plan.deletes.map((a) => a.uuid)).toEqual(["pod-uid-1"]);
    expect(plan.upserts.map((u) => [u.desired.type, u.write?.op])).toEqual([["virtual-machine", "create"]]);
    expect(plan.refs.map((r) => r.edge)).toEqual([vrouterEdge]);
  });
});

describe("objectWrite", () => {
  it("a create sends the whole object: uuid, fq_name, props, create-only props, parent type, refs", () => {
    const o = desired("instance-ip", ["web__1"], {
      props: { instance_ip_family: "v4" },
      createOnly: { instance_ip_address: "10.0.0.5" },
      parent_type: "config-root",
      refs: { virtual_machine_interface_refs: [{ to: vmi.fq_name, attr: null, compareAttr: false }] },
    });
    expect(objectWrite(o, o.props, undefined, "Pod/a/web")).toEqual({
      op: "create",
      type: "instance-ip",
      why: "Pod/a/web",
      body: {
        uuid: "uuid-web__1",
        fq_name: ["web__1"],
        instance_ip_family: "v4",
        instance_ip_address: "10.0.0.5",
        parent_type: "config-root",
        virtual_machine_interface_refs: [{ to: vmi.fq_name, attr: null }],
      },
    });
  });

  it("create-only props are never updated", () => {
    const o = desired("instance-ip", ["web__1"], { createOnly: { instance_ip_address: "10.0.0.5" } });
    const cur = { ...written(o), props: { instance_ip_address: "10.0.0.9" } };
    expect(objectWrite(o, o.props, cur, "Pod/a/web")).toBeUndefined();
  });

  it("a ref attr the server rewrites is not compared when so marked", () => {
    const o = desired("virtual-network", [...P, "net"], {
      refs: { network_ipam_refs: [{ to: [...P, "ipam"], attr: { ipam_subnets: [] }, compareAttr: false }] },
    });
    const cur = {
      ...written(o),
      refs: { network_ipam_refs: [{ to: [...P, "ipam"], attr: { ipam_subnets: [{ subnet_uuid: "s" }] } }] },
    };
    expect(objectWrite(o, o.props, cur, "Pod/a/web")).toBeUndefined();
  });
});

describe("entries in shared lists of objects the unit does not own", () => {
  const where = {
    holderType: "global-vrouter-config",
    holder: ["default-global-system-config", "default-global-vrouter-config"],
    prop: "linklocal_services",
    list: "linklocal_service_entry",
    keyField: "linklocal_service_name",
  };
  const entry = (name: string, port: number) => ({
    ...where,
    entry: { linklocal_service_name: name, linklocal_service_port: port },
  });
  const withEntries = (es: ReturnType<typeof entry>[]): UnitDesired => ({ ...unit([]), entries: es });
  const having = (es: ReturnType<typeof entry>[]): UnitActual => ({
    ...index([]),
    entries: new Map(es.map((e) => [entryKey(e), e])),
  });

  it("puts new and changed entries, drops the ones no longer wanted, leaves equal ones alone", () => {
    const plan = planUnit(
      withEntries([entry("a-443", 443), entry("a-53", 53), entry("a-80", 80)]),
      having([entry("a-443", 443), entry("a-53", 5353), entry("a-8080", 8080)]),
    );
    expect(plan.lists).toHaveLength(1);
    expect(plan.lists[0].drop.map((d) => d.name)).toEqual(["a-8080"]);
    expect(plan.lists[0].put.map((p) => p.entry.entry)).toEqual([
      { linklocal_service_name: "a-53", linklocal_service_port: 53 },
      { linklocal_service_name: "a-80", linklocal_service_port: 80 },
    ]);
  });

  it("nothing to write when the list holds what the unit wants; all dropped when it wants none", () => {
    expect(planUnit(withEntries([entry("a-443", 443)]), having([entry("a-443", 443)])).lists).toEqual([]);
    const gone = planUnit(withEntries([]), having([entry("a-443", 443)]));
    expect(gone.lists.map((l) => [l.drop.map((d) => d.name), l.put])).toEqual([[["a-443"], []]]);
  });
});
