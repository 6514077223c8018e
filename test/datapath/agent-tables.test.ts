/**
 * Conformance with the agent: tables computed by `fake-vrouter/agent` from Contrail config (not hand-built)
 * drive the simulated network, and probes show what a network engineer expects: VN isolation, a
 * network-policy joining two VNs, a service VIP load-balanced with its port mapping, and an overlay service
 * network's VIP reached from an ip-fabric-forwarded pod network (replies come back labelled).
 */
import { describe, expect, it } from "vitest";
import { computeTables, type PluggedPort } from "../../fake-vrouter/agent/compute-tables";
import { SimNetwork } from "../../fake-vrouter/datapath/sim-network";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import { Cluster, PROJECT } from "../agent/fixtures";

const RED = [...PROJECT, "red"].join(":");
const BLUE = [...PROJECT, "blue"].join(":");

function world() {
  const c = new Cluster();
  const red = c.vn("red", "10.1.0.0/24");
  const blue = c.vn("blue", "10.2.0.0/24");
  const c1 = c.vrouter("compute-1", "192.168.0.11");
  const c2 = c.vrouter("compute-2", "192.168.0.12");
  const pods = {
    a: { ...c.pod("a", red, "10.1.0.10", c1, { k8s: true }), compute: "compute-1", ip: "10.1.0.10" },
    b: { ...c.pod("b", red, "10.1.0.20", c2), compute: "compute-2", ip: "10.1.0.20" },
    x: { ...c.pod("x", blue, "10.2.0.30", c1), compute: "compute-1", ip: "10.2.0.30" },
    y: { ...c.pod("y", blue, "10.2.0.40", c2), compute: "compute-2", ip: "10.2.0.40" },
  };
  const ports = new Map<string, PluggedPort[]>([
    ["compute-1", []],
    ["compute-2", []],
  ]);
  for (const [name, p] of Object.entries(pods))
    ports.get(p.compute)!.push({ vmiUuid: p.vmi, vmUuid: p.vm, hostIfname: `tap${name}`, enabled: true });
  return { c, red, blue, pods, ports };
}

function network(w: ReturnType<typeof world>): SimNetwork {
  const net = new SimNetwork();
  for (const compute of ["compute-1", "compute-2"])
    net.setTables(compute, computeTables(w.c.model, compute, w.ports));
  for (const [name, p] of Object.entries(w.pods)) {
    const vif = [...net.datapath(p.compute)!.tables.vifs.values()].find((v) => v.vmi?.uuid === p.vmi)!;
    net.addEndpoint({
      name,
      kind: "pod",
      compute: p.compute,
      vif: vif.index,
      mac: vif.mac,
      ip: p.ip,
      listen: { tcp: [80, 8080] },
    });
  }
  return net;
}

describe("agent-computed tables through the engine", () => {
  it("same VN across computes: allowed; other VN: no route (isolation)", () => {
    const net = network(world());
    const same = net.probe({ from: "a", to: "10.1.0.20", proto: "icmp" });
    expect(same.verdict, formatTrace(same.trace)).toBe("allow");
    const other = net.probe({ from: "a", to: "10.2.0.40", proto: "icmp" });
    expect(other.verdict).toBe("deny");
    expect(other.drop?.reason).toBe("NOWHERE_TO_GO");
  });

  it("a network-policy between the VNs leaks routes and passes traffic both ways", () => {
    const w = world();
    w.c.policy("red-blue", RED, BLUE, "<>", [w.red, w.blue]);
    const net = network(w);
    const r = net.probe({ from: "a", to: "10.2.0.40", proto: "tcp", port: 80 });
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(
      r.trace.find((s) => s.stage === "route" && s.compute === "compute-1")?.detail,
      formatTrace(r.trace),
    ).toContain("leaked by");
    expect(net.probe({ from: "y", to: "10.1.0.10", proto: "tcp", port: 80 }).verdict).toBe("allow");
  });

  it("a service VIP spreads over its backends with the port mapping", () => {
    const w = world();
    const lbVmi = w.c.put("virtual-machine-interface", [...PROJECT, "lb-vmi"], {
      parent_type: "project",
      virtual_network_refs: [w.c.ref(w.red)],
    });
    const vip = w.c.put("instance-ip", ["vip-iip"], {
      instance_ip_address: "10.1.0.200",
      virtual_network_refs: [w.c.ref(w.red)],
      virtual_machine_interface_refs: [w.c.ref(lbVmi)],
    });
    w.c.put("floating-ip", ["vip-iip", "vip-fip"], {
      parent_type: "instance-ip",
      parent_uuid: vip,
      floating_ip_address: "10.1.0.200",
      floating_ip_traffic_direction: "ingress",
      floating_ip_port_mappings_enable: true,
      floating_ip_port_mappings: { port_mappings: [{ protocol: "TCP", src_port: 80, dst_port: 8080 }] },
      virtual_machine_interface_refs: [w.c.ref(w.pods.a.vmi), w.c.ref(w.pods.b.vmi)],
    });
    const net = network(w);
    const r = net.probe({ from: "x", to: "10.1.0.200", proto: "tcp", port: 80, count: 30 });
    // x is in blue: no route to the VIP without a policy.
    expect(r.drop?.reason).toBe("NOWHERE_TO_GO");
    // b is a member too: flows ECMP sends to a are answered; flows sent back to b itself arrive with b's own
    // address as the source (no SNAT) and b's kernel drops them (martian source), as Linux does.
    const fromRed = net.probe({ from: "b", to: "10.1.0.200", proto: "tcp", port: 80, count: 30 });
    expect(Object.keys(fromRed.servedByCounts), formatTrace(fromRed.trace.slice(0, 30))).toEqual(["a"]);
    const hairpins = fromRed.trace.filter(
      (s) => s.compute === "b" && s.stage === "host" && s.action === "drop",
    );
    expect(hairpins.length).toBeGreaterThan(0);
    expect(fromRed.replies + hairpins.length).toBe(30);
    expect(net.probe({ from: "b", to: "10.1.0.200", proto: "tcp", port: 8080 }).drop?.step.stage).toBe(
      "floating-ip",
    );
  });
});

describe("agent-computed tables: ip-fabric pod network, overlay service network", () => {
  it("a VIP's flows spread over local and remote members and every reply comes back (labelled)", () => {
    const c = new Cluster();
    const ipFabric = c.model.byFqName("virtual-network", ["default-domain", "default-project", "ip-fabric"])!;
    const pods = c.vn("pods", "10.32.0.0/12", { virtual_network_refs: [c.ref(ipFabric.uuid)] });
    const svc = c.vn("svc", "10.96.0.0/12");
    c.policy("pod-svc", [...PROJECT, "pods"].join(":"), [...PROJECT, "svc"].join(":"), "<>", [pods, svc]);
    const c1 = c.vrouter("compute-1", "192.168.0.11");
    const c2 = c.vrouter("compute-2", "192.168.0.12");
    const placed = {
      client: { ...c.pod("client", pods, "10.47.255.250", c1), compute: "compute-1", ip: "10.47.255.250" },
      web1: { ...c.pod("web1", pods, "10.47.255.251", c2), compute: "compute-2", ip: "10.47.255.251" },
      web2: { ...c.pod("web2", pods, "10.47.255.252", c1), compute: "compute-1", ip: "10.47.255.252" },
    };
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
      floating_ip_traffic_direction: "ingress",
      virtual_machine_interface_refs: [c.ref(placed.web1.vmi), c.ref(placed.web2.vmi)],
    });
    const ports = new Map<string, PluggedPort[]>([
      ["compute-1", []],
      ["compute-2", []],
    ]);
    for (const [name, p] of Object.entries(placed))
      ports.get(p.compute)!.push({ vmiUuid: p.vmi, vmUuid: p.vm, hostIfname: `tap${name}`, enabled: true });
    const net = new SimNetwork();
    for (const compute of ["compute-1", "compute-2"])
      net.setTables(compute, computeTables(c.model, compute, ports));
    for (const [name, p] of Object.entries(placed)) {
      const vif = [...net.datapath(p.compute)!.tables.vifs.values()].find((v) => v.vmi?.uuid === p.vmi)!;
      net.addEndpoint({
        name,
        kind: "pod",
        compute: p.compute,
        vif: vif.index,
        mac: vif.mac,
        ip: p.ip,
        listen: { tcp: [80] },
      });
    }
    const r = net.probe({ from: "client", to: "10.96.0.10", proto: "tcp", port: 80, count: 24 });
    expect(r.replies, formatTrace(r.trace.slice(0, 60))).toBe(24);
    expect(Object.keys(r.servedByCounts).sort()).toEqual(["web1", "web2"]);
    expect(net.datapath("compute-1")!.stats().drops.FLOW_TABLE_FULL).toBe(0);
  });
});
