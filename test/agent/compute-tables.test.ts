import { describe, expect, it } from "vitest";
import {
  type PluggedPort,
  type PortsByCompute,
  UnknownComputeError,
  computeTables,
} from "../../fake-vrouter/agent/compute-tables";
import { IdAllocator } from "../../fake-vrouter/agent/ids";
import type { NextHop, Route, VrouterTables } from "../../fake-vrouter/tables";
import { Cluster, PROJECT } from "./fixtures";

const RED = [...PROJECT, "red"].join(":");
const BLUE = [...PROJECT, "blue"].join(":");
const FABRIC_VRF = "default-domain:default-project:ip-fabric:__default__";

function port(vmi: string, vm: string, ifname: string, enabled = true): PluggedPort {
  return { vmiUuid: vmi, vmUuid: vm, hostIfname: ifname, enabled };
}

function vrf(t: VrouterTables, name: string) {
  return [...t.vrfs.values()].find((v) => v.name === name);
}

function route(t: VrouterTables, vrfName: string, prefix: string): Route | undefined {
  return vrf(t, vrfName)?.routes.find((r) => r.prefix === prefix);
}

function nh(t: VrouterTables, r: Route | undefined): NextHop | undefined {
  return r ? t.nextHops.get(r.nh) : undefined;
}

/** red: a (compute-1), b (compute-2); blue: c (compute-1). */
function twoComputes() {
  const c = new Cluster();
  const red = c.vn("red", "10.1.0.0/24");
  const blue = c.vn("blue", "10.2.0.0/24");
  const c1 = c.vrouter("compute-1", "192.168.0.11");
  const c2 = c.vrouter("compute-2", "192.168.0.12");
  const a = c.pod("a", red, "10.1.0.10", c1, { k8s: true });
  const b = c.pod("b", red, "10.1.0.20", c2);
  const cc = c.pod("c", blue, "10.2.0.30", c1);
  const ports = new Map<string, PluggedPort[]>([
    ["compute-1", [port(a.vmi, a.vm, "tapa"), port(cc.vmi, cc.vm, "tapc")]],
    ["compute-2", [port(b.vmi, b.vm, "tapb")]],
  ]);
  return { c, red, blue, c1, c2, a, b, cc, ports };
}

describe("computeTables: VRFs, local and remote routes", () => {
  it("gives a local pod an ENCAP route and a remote pod a TUNNEL route with the owner's label", () => {
    const { c, a, b, ports } = twoComputes();
    const t1 = computeTables(c.model, "compute-1", ports);
    const t2 = computeTables(c.model, "compute-2", ports);
    const redVrf = `${RED}:red`;

    const local = route(t1, redVrf, "10.1.0.10/32")!;
    const localNh = nh(t1, local);
    expect(localNh?.type).toBe("encap");
    const vifA = [...t1.vifs.values()].find((v) => v.vmi?.uuid === a.vmi)!;
    expect(localNh).toMatchObject({ vif: vifA.index, policy: true });
    expect(vifA).toMatchObject({ name: "tapa", ip: "10.1.0.10", vrf: vrf(t1, redVrf)!.id, vnName: RED });

    const remote = route(t1, redVrf, "10.1.0.20/32")!;
    expect(nh(t1, remote)).toMatchObject({ type: "tunnel", srcIp: "192.168.0.11", dstIp: "192.168.0.12" });
    // compute-2 maps that label to b's policy NH, which outputs on b's vif
    const onC2 = t2.nextHops.get(t2.labels.get(remote.label!)!);
    const vifB = [...t2.vifs.values()].find((v) => v.vmi?.uuid === b.vmi)!;
    expect(onC2).toMatchObject({ type: "encap", vif: vifB.index, policy: true });
    // and compute-2 reaches a with compute-1's label for a
    const back = route(t2, redVrf, "10.1.0.10/32")!;
    expect(t1.nextHops.get(t1.labels.get(back.label!)!)).toMatchObject({ type: "encap", vif: vifA.index });
  });

  it("names the Kubernetes pod behind a VMI route", () => {
    const { c, ports } = twoComputes();
    const t1 = computeTables(c.model, "compute-1", ports);
    expect(route(t1, `${RED}:red`, "10.1.0.10/32")?.origin).toMatchObject({
      type: "virtual-machine-interface",
      k8s: { kind: "Pod", namespace: "ns", name: "a" },
    });
  });

  it("installs receive routes for each subnet's gateway and DNS address", () => {
    const { c, ports } = twoComputes();
    const t1 = computeTables(c.model, "compute-1", ports);
    for (const a of ["10.1.0.254/32", "10.1.0.253/32"])
      expect(nh(t1, route(t1, `${RED}:red`, a))?.type).toBe("receive");
  });

  it("keeps VNs isolated without a policy: no route to blue in red", () => {
    const { c, ports } = twoComputes();
    const t1 = computeTables(c.model, "compute-1", ports);
    expect(route(t1, `${RED}:red`, "10.2.0.30/32")).toBeUndefined();
    expect(route(t1, `${BLUE}:blue`, "10.1.0.10/32")).toBeUndefined();
  });

  it("has no route to a pod whose port is not plugged yet, and adds it once plugged", () => {
    const { c, b, ports } = twoComputes();
    const unplugged = new Map(ports);
    unplugged.set("compute-2", []);
    const before = computeTables(c.model, "compute-1", unplugged);
    expect(route(before, `${RED}:red`, "10.1.0.20/32")).toBeUndefined();
    const after = computeTables(c.model, "compute-1", ports);
    expect(route(after, `${RED}:red`, "10.1.0.20/32")).toBeDefined();
    // a disabled port keeps no route either
    const disabled = new Map(ports);
    disabled.set("compute-2", [port(b.vmi, b.vm, "tapb", false)]);
    expect(
      route(computeTables(c.model, "compute-1", disabled), `${RED}:red`, "10.1.0.20/32"),
    ).toBeUndefined();
  });

  it("labels agree between computes however each numbered its own next-hops", () => {
    const { c, ports } = twoComputes();
    const warm = new IdAllocator({ vif: 3, vrf: 1, nh: 1 });
    warm.get("nh", "something-else");
    warm.get("nh", "and-more");
    const fresh = computeTables(c.model, "compute-1", ports);
    const sticky = computeTables(c.model, "compute-1", ports, { ids: warm });
    expect([...sticky.labels.keys()].sort()).toEqual([...fresh.labels.keys()].sort());
  });

  it("keeps next-hop ids stable across recomputation with the same allocator", () => {
    const { c, red, c1, ports } = twoComputes();
    const ids = new IdAllocator({ vif: 3, vrf: 1, nh: 1 });
    const t1 = computeTables(c.model, "compute-1", ports, { ids });
    const d = c.pod("d", red, "10.1.0.40", c1);
    const more = new Map(ports);
    more.set("compute-1", [...ports.get("compute-1")!, port(d.vmi, d.vm, "tapd")]);
    const t2 = computeTables(c.model, "compute-1", more, { ids });
    expect(route(t2, `${RED}:red`, "10.1.0.10/32")!.nh).toBe(route(t1, `${RED}:red`, "10.1.0.10/32")!.nh);
    expect(route(t2, `${RED}:red`, "10.1.0.10/32")!.label).toBe(
      route(t1, `${RED}:red`, "10.1.0.10/32")!.label,
    );
    expect(nh(t2, route(t2, `${RED}:red`, "10.1.0.40/32"))?.type).toBe("encap");
  });

  it("has a fabric VRF 0 with the compute's own address as receive and its peers on the underlay", () => {
    const { c, ports } = twoComputes();
    const t1 = computeTables(c.model, "compute-1", ports);
    expect(t1.compute).toEqual({ name: "compute-1", fabricIp: "192.168.0.11", fabricVif: 0, fabricVrf: 0 });
    expect(t1.vrfs.get(0)?.name).toBe(FABRIC_VRF);
    expect(nh(t1, route(t1, FABRIC_VRF, "192.168.0.11/32"))?.type).toBe("receive");
    expect(nh(t1, route(t1, FABRIC_VRF, "192.168.0.12/32"))).toMatchObject({
      type: "fabric",
      via: "192.168.0.12",
    });
    expect(route(t1, FABRIC_VRF, "192.168.0.0/24")).toBeDefined();
    expect(t1.vifs.get(0)).toMatchObject({ type: "fabric", vrf: 0 });
  });

  it("rejects an unknown compute with a typed error", () => {
    const { c, ports } = twoComputes();
    expect(() => computeTables(c.model, "nope", ports)).toThrow(UnknownComputeError);
  });

  it("assumes the ports of computes it was told nothing about are plugged", () => {
    const { c, a, ports } = twoComputes();
    const onlyMine: PortsByCompute = new Map([["compute-1", ports.get("compute-1")!]]);
    const t1 = computeTables(c.model, "compute-1", onlyMine);
    expect(nh(t1, route(t1, `${RED}:red`, "10.1.0.20/32"))?.type).toBe("tunnel");
    expect([...t1.vifs.values()].some((v) => v.vmi?.uuid === a.vmi)).toBe(true);
  });
});

describe("computeTables: route leaking by network-policy", () => {
  it("leaks routes both ways when the policy is attached to both VNs", () => {
    const { c, red, blue, ports } = twoComputes();
    c.policy("red-blue", RED, BLUE, "<>", [red, blue]);
    const t1 = computeTables(c.model, "compute-1", ports);
    const leaked = route(t1, `${RED}:red`, "10.2.0.30/32")!;
    expect(nh(t1, leaked)?.type).toBe("encap");
    expect(leaked.leakedBy).toBe(`network-policy ${PROJECT.join(":")}:red-blue`);
    expect(leaked.destVns).toEqual([BLUE]);
    expect(nh(t1, route(t1, `${BLUE}:blue`, "10.1.0.20/32"))?.type).toBe("tunnel");
    // gateway addresses of the other VN are not leaked
    expect(route(t1, `${RED}:red`, "10.2.0.254/32")).toBeUndefined();
  });

  it("does not leak when only one VN holds the policy", () => {
    const { c, red, ports } = twoComputes();
    c.policy("red-blue", RED, BLUE, "<>", [red]);
    const t1 = computeTables(c.model, "compute-1", ports);
    expect(route(t1, `${RED}:red`, "10.2.0.30/32")).toBeUndefined();
  });

  it("does not leak through a deny rule", () => {
    const { c, red, blue, ports } = twoComputes();
    const np = c.policy("red-blue", RED, BLUE, "<>", [red, blue]);
    const entries = c.data(np).network_policy_entries as { policy_rule: { action_list: unknown }[] };
    entries.policy_rule[0].action_list = { simple_action: "deny" };
    c.update(np, { network_policy_entries: entries });
    const t1 = computeTables(c.model, "compute-1", ports);
    expect(route(t1, `${RED}:red`, "10.2.0.30/32")).toBeUndefined();
  });

  it("does not leak transitively (red↔blue, blue↔green gives red no green routes)", () => {
    const { c, red, blue, c1, ports } = twoComputes();
    const green = c.vn("green", "10.3.0.0/24");
    const g = c.pod("g", green, "10.3.0.5", c1);
    const GREEN = [...PROJECT, "green"].join(":");
    c.policy("red-blue", RED, BLUE, "<>", [red, blue]);
    c.policy("blue-green", BLUE, GREEN, "<>", [blue, green]);
    const p = new Map(ports);
    p.set("compute-1", [...ports.get("compute-1")!, port(g.vmi, g.vm, "tapg")]);
    const t1 = computeTables(c.model, "compute-1", p);
    expect(route(t1, `${BLUE}:blue`, "10.3.0.5/32")).toBeDefined();
    expect(route(t1, `${RED}:red`, "10.3.0.5/32")).toBeUndefined();
  });

  it("expands network_policy addresses to the VNs holding the policy (the k8s ip-fabric-np shape)", () => {
    const { c, red, blue, ports } = twoComputes();
    const ipFabric = c.model.byFqName("virtual-network", [
      "default-domain",
      "default-project",
      "ip-fabric",
    ])!.uuid;
    const npFq = [...PROJECT, "k8s-default-ip-fabric-np"];
    const np = c.put("network-policy", npFq, {
      parent_type: "project",
      network_policy_entries: {
        policy_rule: [
          {
            direction: "<>",
            protocol: "any",
            src_addresses: [{ network_policy: npFq.join(":") }],
            dst_addresses: [{ virtual_network: "default-domain:default-project:ip-fabric" }],
            action_list: { simple_action: "pass" },
          },
        ],
      },
    });
    for (const vn of [red, blue, ipFabric])
      c.update(vn, { network_policy_refs: [c.ref(np, { sequence: { major: 0, minor: 0 } })] });
    const t1 = computeTables(c.model, "compute-1", ports);
    // red reaches the fabric (compute-2's address through the underlay) ...
    const fabricRoute = route(t1, `${RED}:red`, "192.168.0.12/32")!;
    expect(nh(t1, fabricRoute)).toMatchObject({ type: "fabric", via: "192.168.0.12" });
    expect(fabricRoute.leakedBy).toBe(`network-policy ${npFq.join(":")}`);
    // ... the fabric VRF learns red's pods ...
    expect(route(t1, FABRIC_VRF, "10.1.0.20/32")).toBeDefined();
    // ... but two holders of the policy are not joined to each other
    expect(route(t1, `${RED}:red`, "10.2.0.30/32")).toBeUndefined();
  });

  it("uses the VN's compiled ACL as the VRF's network-policy ACL", () => {
    const { c, red, blue, ports } = twoComputes();
    const np = c.policy("red-blue", RED, BLUE, ">", [red, blue]);
    const acl = c.put("access-control-list", [...PROJECT, "red", "red"], {
      parent_type: "virtual-network",
      access_control_list_entries: {
        acl_rule: [
          {
            match_condition: {
              protocol: "6",
              src_address: { virtual_network: "local" },
              dst_address: { virtual_network: BLUE },
              src_port: { start_port: -1, end_port: -1 },
              dst_port: { start_port: 80, end_port: 80 },
              ethertype: "IPv4",
            },
            action_list: { simple_action: "pass" },
            rule_uuid: "r1",
          },
        ],
      },
    });
    const t1 = computeTables(c.model, "compute-1", ports);
    expect(vrf(t1, `${RED}:red`)?.networkPolicyAcl).toBe(acl);
    const compiled = t1.acls.get(acl)!;
    expect(compiled.origin.uuid).toBe(np);
    expect(compiled.rules[0]).toMatchObject({
      action: "pass",
      protocol: 6,
      src: { kind: "vn", name: RED },
      dst: { kind: "vn", name: BLUE },
      dstPorts: { start: 80, end: 80 },
      srcPorts: { start: 0, end: 65535 },
    });
  });
});

describe("computeTables: floating IPs and ECMP", () => {
  it("puts a floating IP into its VN's VRF and binds it to the VMI's vif", () => {
    const { c, blue, a, ports } = twoComputes();
    const pool = c.put("floating-ip-pool", [...PROJECT, "blue", "pool"], { parent_type: "virtual-network" });
    const fip = c.put("floating-ip", [...PROJECT, "blue", "pool", "fip1"], {
      parent_type: "floating-ip-pool",
      parent_uuid: pool,
      floating_ip_address: "10.2.0.100",
      virtual_machine_interface_refs: [c.ref(a.vmi)],
    });
    const t1 = computeTables(c.model, "compute-1", ports);
    const r = route(t1, `${BLUE}:blue`, "10.2.0.100/32")!;
    expect(r.origin?.uuid).toBe(fip);
    const vifA = [...t1.vifs.values()].find((v) => v.vmi?.uuid === a.vmi)!;
    expect(nh(t1, r)).toMatchObject({ type: "encap", vif: vifA.index });
    expect(vifA.floatingIps).toEqual([
      expect.objectContaining({
        address: "10.2.0.100",
        fixedIp: "10.1.0.10",
        vrf: vrf(t1, `${BLUE}:blue`)!.id,
        vnName: BLUE,
        direction: "both",
      }),
    ]);
    expect(vifA.floatingIps[0].portMappings).toBeUndefined();
    // the remote compute routes the FIP to compute-1 with a's label (no blue port there: the leak brings it)
    c.policy("red-blue", RED, BLUE, "<>", [c.model.byFqName("virtual-network", RED)!.uuid, blue]);
    const t2 = computeTables(c.model, "compute-2", ports);
    const remote = route(t2, `${RED}:red`, "10.2.0.100/32")!;
    expect(nh(t2, remote)).toMatchObject({ type: "tunnel", dstIp: "192.168.0.11" });
    expect(remote.label).toBe(route(t2, `${RED}:red`, "10.1.0.10/32")!.label);
  });

  it("makes a service VIP referencing several VMIs a composite next-hop, one member per VMI", () => {
    const { c, red, blue, a, b, ports } = twoComputes();
    const lbVmi = c.put("virtual-machine-interface", [...PROJECT, "lb-vmi"], {
      parent_type: "project",
      virtual_network_refs: [c.ref(blue)],
      annotations: {
        key_value_pair: [
          { key: "kind", value: "Service" },
          { key: "namespace", value: "ns" },
          { key: "name", value: "web" },
        ],
      },
    });
    const vip = c.put("instance-ip", ["vip-iip"], {
      instance_ip_address: "10.2.0.200",
      virtual_network_refs: [c.ref(blue)],
      virtual_machine_interface_refs: [c.ref(lbVmi)],
    });
    c.put("floating-ip", ["vip-iip", "vip-fip"], {
      parent_type: "instance-ip",
      parent_uuid: vip,
      floating_ip_address: "10.2.0.200",
      floating_ip_traffic_direction: "ingress",
      floating_ip_port_mappings_enable: true,
      floating_ip_port_mappings: { port_mappings: [{ protocol: "TCP", src_port: 80, dst_port: 8080 }] },
      virtual_machine_interface_refs: [c.ref(a.vmi), c.ref(b.vmi)],
    });
    c.policy("red-blue", RED, BLUE, "<>", [red, blue]);
    const t1 = computeTables(c.model, "compute-1", ports);
    const t2 = computeTables(c.model, "compute-2", ports);
    const r = route(t1, `${RED}:red`, "10.2.0.200/32")!;
    const comp = nh(t1, r);
    expect(comp?.type).toBe("composite");
    // svc-monitor's FIP has no annotations: the Service is named through the VIP's VMI
    expect(r.origin).toMatchObject({
      type: "floating-ip",
      k8s: { kind: "Service", namespace: "ns", name: "web" },
    });
    const members = (comp as Extract<NextHop, { type: "composite" }>).members;
    expect(members).toHaveLength(2);
    const kinds = members.map((m) => t1.nextHops.get(m.nh)?.type).sort();
    expect(kinds).toEqual(["encap", "tunnel"]);
    // the tunnel member carries compute-2's label for b
    const tunnelMember = members.find((m) => t1.nextHops.get(m.nh)?.type === "tunnel")!;
    const vifB = [...t2.vifs.values()].find((v) => v.vmi?.uuid === b.vmi)!;
    expect(t2.nextHops.get(t2.labels.get(tunnelMember.label)!)).toMatchObject({
      type: "encap",
      vif: vifB.index,
    });
    // each member's vif knows the VIP with its port mapping
    const vifA = [...t1.vifs.values()].find((v) => v.vmi?.uuid === a.vmi)!;
    expect(vifA.floatingIps[0]).toMatchObject({
      address: "10.2.0.200",
      direction: "ingress",
      portMappings: [{ protocol: 6, srcPort: 80, dstPort: 8080 }],
    });
  });
});

/** The fixture's uuid type (randomUUID's). */
type Uuid = `${string}-${string}-${string}-${string}-${string}`;

describe("computeTables: service-health-check (vm_interface.cc is_hc_active_)", () => {
  function monitoredVip() {
    const t = twoComputes();
    const { c, red, a, b } = t;
    const shc = c.put("service-health-check", [...PROJECT, "web-pool-shc"], {
      parent_type: "project",
      service_health_check_properties: {
        enabled: true,
        health_check_type: "link-local",
        monitor_type: "HTTP",
        url_path: "/status",
      },
    });
    for (const vmi of [a.vmi, b.vmi]) {
      const o = c.model.get(vmi)!;
      c.put(
        "virtual-machine-interface",
        o.fqName,
        { ...o.data, service_health_check_refs: [c.ref(shc)] },
        vmi as Uuid,
      );
    }
    const lbVmi = c.put("virtual-machine-interface", [...PROJECT, "lb-vmi"], {
      parent_type: "project",
      virtual_network_refs: [c.ref(red)],
    });
    const vip = c.put("instance-ip", ["vip-iip"], {
      instance_ip_address: "10.1.0.200",
      virtual_network_refs: [c.ref(red)],
      virtual_machine_interface_refs: [c.ref(lbVmi)],
    });
    c.put("floating-ip", ["vip-iip", "vip-fip"], {
      parent_type: "instance-ip",
      parent_uuid: vip,
      floating_ip_address: "10.1.0.200",
      floating_ip_traffic_direction: "ingress",
      virtual_machine_interface_refs: [c.ref(a.vmi), c.ref(b.vmi)],
    });
    return t;
  }

  it("withdraws a failing VMI's own route and its share of the floating IP's ECMP next-hop; the vif stays", () => {
    const { c, a, b, ports } = monitoredVip();
    const bFails = (vm: string) => vm !== b.vm;
    const healthy = computeTables(c.model, "compute-1", ports, { healthProbe: () => true });
    expect(route(healthy, `${RED}:red`, "10.1.0.20/32")).toBeDefined();
    expect(nh(healthy, route(healthy, `${RED}:red`, "10.1.0.200/32"))?.type).toBe("composite");
    const t1 = computeTables(c.model, "compute-1", ports, { healthProbe: bFails });
    expect(route(t1, `${RED}:red`, "10.1.0.20/32")).toBeUndefined();
    expect(route(t1, `${RED}:red`, "10.1.0.10/32")).toBeDefined();
    // one member left: the VIP is a plain route to a's interface
    const vipNh = nh(t1, route(t1, `${RED}:red`, "10.1.0.200/32"));
    expect(vipNh).toMatchObject({ type: "encap" });
    expect(vipNh?.type === "encap" && t1.vifs.get(vipNh.vif)?.vmi?.uuid).toBe(a.vmi);
    const t2 = computeTables(c.model, "compute-2", ports, { healthProbe: bFails });
    expect([...t2.vifs.values()].some((v) => v.vmi?.uuid === b.vmi)).toBe(true);
  });

  it("a disabled check, or none, is never run", () => {
    const { c, b, ports } = monitoredVip();
    const shc = c.model.list("service-health-check")[0]!;
    c.put(
      "service-health-check",
      shc.fqName,
      { ...shc.data, service_health_check_properties: { enabled: false, health_check_type: "link-local" } },
      shc.uuid as Uuid,
    );
    const t1 = computeTables(c.model, "compute-1", ports, { healthProbe: (vm) => vm !== b.vm });
    expect(route(t1, `${RED}:red`, "10.1.0.20/32")).toBeDefined();
  });
});

describe("computeTables: ip-fabric forwarding", () => {
  it("puts an ip-fabric-forwarded VN's pods in the fabric VRF, remote ones via the underlay", () => {
    const c = new Cluster();
    const ipFabric = c.model.byFqName("virtual-network", ["default-domain", "default-project", "ip-fabric"])!;
    const pods = c.vn("pods", "10.32.0.0/12", {
      virtual_network_refs: [c.ref(ipFabric.uuid)],
      fabric_snat: true,
    });
    const c1 = c.vrouter("compute-1", "192.168.0.11");
    const c2 = c.vrouter("compute-2", "192.168.0.12");
    const d = c.pod("d", pods, "10.47.255.252", c1);
    const e = c.pod("e", pods, "10.47.255.251", c2);
    const ports = new Map([
      ["compute-1", [port(d.vmi, d.vm, "tapd")]],
      ["compute-2", [port(e.vmi, e.vm, "tape")]],
    ]);
    const t1 = computeTables(c.model, "compute-1", ports);
    const vifD = [...t1.vifs.values()].find((v) => v.vmi?.uuid === d.vmi)!;
    expect(vifD.vrf).toBe(0);
    expect(vifD.fabricSnat).toBe(true);
    expect(nh(t1, route(t1, FABRIC_VRF, "10.47.255.252/32"))).toMatchObject({
      type: "encap",
      vif: vifD.index,
    });
    expect(nh(t1, route(t1, FABRIC_VRF, "10.47.255.251/32"))).toMatchObject({
      type: "fabric",
      via: "192.168.0.12",
    });
    expect(route(t1, FABRIC_VRF, "10.47.255.251/32")?.label).toBeUndefined();
    // gateway of the pod subnet is a receive route in the fabric VRF
    expect(nh(t1, route(t1, FABRIC_VRF, "10.47.255.254/32"))?.type).toBe("receive");
    // the pod VN's own VRF still exists: it carries the VN's network-policy ACL the datapath looks up by VN
    const acl = c.put("access-control-list", [...PROJECT, "pods", "pods"], {
      parent_type: "virtual-network",
    });
    const again = computeTables(c.model, "compute-1", ports);
    const own = vrf(again, [...PROJECT, "pods", "pods"].join(":"))!;
    expect(own).toMatchObject({ vnName: [...PROJECT, "pods"].join(":"), networkPolicyAcl: acl });
    expect([...again.vifs.values()].find((v) => v.vmi?.uuid === d.vmi)?.vrf).toBe(0);
  });
});

describe("computeTables: ip-fabric pods and an overlay service network", () => {
  it("reaches an overlay VIP's members by labelled tunnels from the fabric VRF, and forwarded pods by tunnel from the overlay VRF", () => {
    const c = new Cluster();
    const ipFabric = c.model.byFqName("virtual-network", ["default-domain", "default-project", "ip-fabric"])!;
    const pods = c.vn("pods", "10.32.0.0/12", { virtual_network_refs: [c.ref(ipFabric.uuid)] });
    const svc = c.vn("svc", "10.96.0.0/12");
    const PODS = [...PROJECT, "pods"].join(":");
    const SVC = [...PROJECT, "svc"].join(":");
    c.policy("pod-svc", PODS, SVC, "<>", [pods, svc]);
    const c1 = c.vrouter("compute-1", "192.168.0.11");
    const c2 = c.vrouter("compute-2", "192.168.0.12");
    const client = c.pod("client", pods, "10.47.255.250", c1);
    const web1 = c.pod("web1", pods, "10.47.255.251", c2);
    const web2 = c.pod("web2", pods, "10.47.255.252", c2);
    const lbVmi = c.put("virtual-machine-interface", [...PROJECT, "lb"], {
      parent_type: "project",
      virtual_network_refs: [c.ref(svc)],
    });
    const vip = c.put("instance-ip", ["lb-iip"], {
      instance_ip_address: "10.96.0.10",
      virtual_network_refs: [c.ref(svc)],
      virtual_machine_interface_refs: [c.ref(lbVmi)],
    });
    c.put("floating-ip", ["lb-iip", "vip"], {
      parent_type: "instance-ip",
      parent_uuid: vip,
      floating_ip_address: "10.96.0.10",
      virtual_machine_interface_refs: [c.ref(web1.vmi), c.ref(web2.vmi)],
    });
    const ports = new Map([
      ["compute-1", [port(client.vmi, client.vm, "tapc")]],
      ["compute-2", [port(web1.vmi, web1.vm, "tapw1"), port(web2.vmi, web2.vm, "tapw2")]],
    ]);
    const t1 = computeTables(c.model, "compute-1", ports);
    const toVip = route(t1, FABRIC_VRF, "10.96.0.10/32")!;
    const comp = nh(t1, toVip) as Extract<NextHop, { type: "composite" }>;
    expect(comp.type).toBe("composite");
    expect(comp.members.map((m) => t1.nextHops.get(m.nh)?.type)).toEqual(["tunnel", "tunnel"]);
    // the remote compute maps each member label to that member's vif
    const t2 = computeTables(c.model, "compute-2", ports);
    const memberVifs = comp.members.map(
      (m) => (t2.nextHops.get(t2.labels.get(m.label)!) as { vif: number }).vif,
    );
    expect(memberVifs.map((v) => t2.vifs.get(v)?.name).sort()).toEqual(["tapw1", "tapw2"]);
    // on the members' compute the service VRF reaches the ip-fabric client through a labelled tunnel
    const back = route(t2, `${SVC}:svc`, "10.47.255.250/32")!;
    expect(nh(t2, back)).toMatchObject({ type: "tunnel", dstIp: "192.168.0.11" });
    expect(t1.nextHops.get(t1.labels.get(back.label!)!)).toMatchObject({ type: "encap" });
    // while in the fabric VRF the same pod is on the underlay
    expect(nh(t2, route(t2, FABRIC_VRF, "10.47.255.250/32"))).toMatchObject({
      type: "fabric",
      via: "192.168.0.11",
    });
  });
});

describe("computeTables: security groups, tags and firewall policies", () => {
  function withPolicy() {
    const c = new Cluster();
    const red = c.vn("red", "10.1.0.0/24");
    const c1 = c.vrouter("compute-1", "192.168.0.11");
    const sg = c.put("security-group", [...PROJECT, "sg1"], {
      parent_type: "project",
      security_group_id: 8000005,
    });
    const ingress = c.put("access-control-list", [...PROJECT, "sg1", "ingress-access-control-list"], {
      parent_type: "security-group",
      access_control_list_entries: {
        acl_rule: [
          {
            match_condition: {
              protocol: "any",
              src_address: { security_group: "local" },
              dst_address: { security_group: "local" },
              ethertype: "IPv4",
            },
            action_list: { simple_action: "pass" },
            rule_uuid: "sg-r1",
          },
        ],
      },
    });
    const appTag = c.put("tag", ["application=web"], {
      tag_type_name: "application",
      tag_value: "web",
      tag_id: "0x00010007",
    });
    const nsTag = c.put("tag", ["namespace=dev"], {
      tag_type_name: "namespace",
      tag_value: "dev",
      tag_id: "0x00070002",
    });
    const pm = c.put("policy-management", ["default-policy-management"], {});
    const rule1 = c.put("firewall-rule", ["default-policy-management", "r-allow"], {
      parent_type: "policy-management",
      parent_uuid: pm,
      direction: "<",
      endpoint_1: { tags: ["namespace=dev"] },
      endpoint_2: { any: true },
      service: { protocol: "tcp", dst_ports: { start_port: 80, end_port: 80 } },
      action_list: { simple_action: "pass" },
    });
    const rule2 = c.put("firewall-rule", ["default-policy-management", "r-deny"], {
      parent_type: "policy-management",
      parent_uuid: pm,
      direction: ">",
      endpoint_1: { any: true },
      endpoint_2: { any: true },
      action_list: { simple_action: "deny" },
    });
    const appPolicy = c.put("firewall-policy", ["default-policy-management", "app-fp"], {
      parent_type: "policy-management",
      parent_uuid: pm,
      firewall_rule_refs: [c.ref(rule2, { sequence: "00002.0" }), c.ref(rule1, { sequence: "00001.0" })],
    });
    const globalPolicy = c.put("firewall-policy", ["default-policy-management", "global-fp"], {
      parent_type: "policy-management",
      parent_uuid: pm,
      firewall_rule_refs: [],
    });
    const globalAps = c.put("application-policy-set", ["default-policy-management", "global-aps"], {
      parent_type: "policy-management",
      parent_uuid: pm,
      firewall_policy_refs: [c.ref(globalPolicy, { sequence: "00001.0" })],
    });
    c.put("application-policy-set", ["default-policy-management", "web-aps"], {
      parent_type: "policy-management",
      parent_uuid: pm,
      tag_refs: [c.ref(appTag)],
      firewall_policy_refs: [c.ref(appPolicy, { sequence: "00001.0" })],
    });
    c.put("global-vrouter-config", ["default-global-system-config", "default-global-vrouter-config"], {
      parent_type: "global-system-config",
      application_policy_set_refs: [c.ref(globalAps)],
      linklocal_services: {
        linklocal_service_entry: [
          {
            linklocal_service_name: "k8s-api",
            linklocal_service_ip: "169.254.0.1",
            linklocal_service_port: 443,
            ip_fabric_service_ip: ["192.168.0.2"],
            ip_fabric_service_port: 6443,
          },
        ],
      },
      encapsulation_priorities: { encapsulation: ["MPLSoGRE", "MPLSoUDP", "VXLAN"] },
    });
    // the project carries application=web; the VMI its namespace tag
    c.update(c.model.byFqName("project", PROJECT)!.uuid, { tag_refs: [c.ref(appTag)] });
    const a = c.pod("a", red, "10.1.0.10", c1, { sgs: [sg], tags: [nsTag] });
    const ports = new Map([["compute-1", [port(a.vmi, a.vm, "tapa")]]]);
    return { c, a, sg, ingress, appPolicy, globalPolicy, rule1, rule2, ports };
  }

  it("gives the vif its security-group ids and compiled SG ACLs with 'local' resolved", () => {
    const { c, a, ingress, ports } = withPolicy();
    const t = computeTables(c.model, "compute-1", ports);
    const vif = [...t.vifs.values()].find((v) => v.vmi?.uuid === a.vmi)!;
    expect(vif.securityGroupIds).toEqual([8000005]);
    expect(vif.sgIngressAcls).toEqual([ingress]);
    expect(vif.sgEgressAcls).toEqual([]);
    expect(t.acls.get(ingress)?.rules[0]).toMatchObject({ src: { kind: "sg", id: 8000005 }, action: "pass" });
    expect(t.acls.get(ingress)?.origin.type).toBe("security-group");
  });

  it("orders firewall policies global APS first, then the APS matching the tags the VMI inherits", () => {
    const { c, a, appPolicy, globalPolicy, rule1, rule2, ports } = withPolicy();
    const t = computeTables(c.model, "compute-1", ports);
    const vif = [...t.vifs.values()].find((v) => v.vmi?.uuid === a.vmi)!;
    expect(vif.tags).toEqual([0x00010007, 0x00070002]);
    expect(vif.firewallPolicies).toEqual([globalPolicy, appPolicy]);
    const fp = t.firewallPolicies.get(appPolicy)!;
    expect(fp.rules.map((r) => r.origin.uuid)).toEqual([rule1, rule2]);
    // "<" is normalised to ">" with the endpoints swapped
    expect(fp.rules[0]).toMatchObject({
      direction: ">",
      endpoint1: { kind: "any" },
      endpoint2: { kind: "tags", tags: [0x00070002] },
      services: [{ protocol: 6, dstPorts: { start: 80, end: 80 }, srcPorts: { start: 0, end: 65535 } }],
      action: "pass",
    });
    expect(fp.rules[1]).toMatchObject({ action: "deny", services: [] });
  });

  it("reads link-local services and the encapsulation priority from the global vrouter config", () => {
    const { c, ports } = withPolicy();
    const t = computeTables(c.model, "compute-1", ports);
    expect(t.linkLocal).toEqual([
      { name: "k8s-api", ip: "169.254.0.1", port: 443, fabricIp: "192.168.0.2", fabricPort: 6443 },
    ]);
    expect(t.encapPriority).toEqual(["mplsogre", "mplsoudp", "vxlan"]);
    expect(route(t, `${RED}:red`, "169.254.0.1/32")).toBeDefined();
  });

  it("gives a link-local service named by DNS the address it resolved to; loopback is the compute itself", () => {
    const { c, ports } = withPolicy();
    const gvc = c.model.byFqName("global-vrouter-config", [
      "default-global-system-config",
      "default-global-vrouter-config",
    ])!;
    const entry = (name: string, ip: string, dns: string) => ({
      linklocal_service_name: name,
      linklocal_service_ip: ip,
      linklocal_service_port: 443,
      // kube-manager writes [""] next to a DNS name: no usable address, so the name is resolved
      ip_fabric_service_ip: [""],
      ip_fabric_DNS_service_name: dns,
      ip_fabric_service_port: 8443,
    });
    c.update(gvc.uuid, {
      linklocal_services: {
        linklocal_service_entry: [
          entry("local", "10.96.0.1", "localhost"),
          entry("api", "10.96.0.2", "api.example"),
          entry("gone", "10.96.0.3", "nowhere.invalid"),
        ],
      },
    });
    const dns: Record<string, string[]> = {
      localhost: ["127.0.0.1"],
      "api.example": ["192.168.0.9", "192.168.0.8"],
    };
    const t = computeTables(c.model, "compute-1", ports, { fabricDns: (n) => dns[n] ?? [] });
    expect(t.linkLocal).toEqual([
      { name: "local", ip: "10.96.0.1", port: 443, fabricIp: "192.168.0.11", fabricPort: 8443 },
      { name: "api", ip: "10.96.0.2", port: 443, fabricIp: "192.168.0.9", fabricPort: 8443 },
    ]);
    // an unresolved name has no fabric address: no link-local route for its service address
    expect(route(t, `${RED}:red`, "10.96.0.3/32")).toBeUndefined();
    expect(route(t, `${RED}:red`, "10.96.0.1/32")).toBeDefined();
  });

  it("carries the destination's SG ids and tags on its route", () => {
    const { c, ports } = withPolicy();
    const t = computeTables(c.model, "compute-1", ports);
    expect(route(t, `${RED}:red`, "10.1.0.10/32")).toMatchObject({
      sgIds: [8000005],
      tags: [0x00010007, 0x00070002],
      destVns: [RED],
    });
  });
});
