/**
 * NAT (floating-IP DNAT with port mappings, floating-IP SNAT for isolated namespaces, fabric SNAT pools,
 * link-local services, FLOW_NAT_NO_RFLOW), ECMP spread and stickiness, ip-fabric forwarding to and from
 * fabric hosts, flow limit and aging — through the simulated network with captures on the wire.
 */
import { describe, expect, it } from "vitest";
import { VrouterDatapath } from "../../fake-vrouter/datapath/engine";
import { type Ipv4Packet, ipv4, TCP_SYN, tcp, udp } from "../../fake-vrouter/datapath/packet";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import { FABRIC_SNAT_POOLS } from "../../fake-vrouter/tables";
import { ip, mplsFrame, mplsInner, pod, podFrame } from "./frames";
import { policyLabel, simNetwork, tablesFor, twoComputes, type World } from "./world";

/** Packets delivered to a pod's vif during `fn` (decoded), via a capture. */
function seenAt(
  net: ReturnType<typeof simNetwork>,
  compute: string,
  vif: number,
  fn: () => void,
): Ipv4Packet[] {
  const got: Ipv4Packet[] = [];
  const stop = net.capture({ compute, vif }, (f) => {
    try {
      got.push(ip(f));
    } catch {
      // ARP frames are not IPv4
    }
  });
  fn();
  stop();
  return got;
}

describe("floating IP DNAT", () => {
  const world = (): World => {
    const w = twoComputes();
    w.fips = [
      {
        address: "10.2.0.100",
        pod: "c",
        vn: "blue",
        portMappings: [{ protocol: 6, srcPort: 8080, dstPort: 80 }],
      },
    ];
    return w;
  };
  it("a packet to the FIP reaches the member on its fixed IP and mapped port; the reply is un-NATted", () => {
    const w = world();
    const net = simNetwork(w);
    let r!: ReturnType<typeof net.probe>;
    const atC = seenAt(net, "compute-2", 3, () => {
      r = net.probe({ from: "d", to: "10.2.0.100", proto: "tcp", port: 8080 });
    });
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(r.servedBy).toBe("c");
    const syn = atC.find((p) => p.dst === "10.1.0.5")!;
    expect(syn).toMatchObject({ src: "10.2.0.3", dst: "10.1.0.5", payload: { dport: 80 } });
    const reply = atC.find((p) => p.src === "10.1.0.5")!;
    expect(reply.payload).toMatchObject({ sport: 80 });
    // d saw the answer from the FIP on the listener port (probe classification requires exactly that).
    expect(r.trace.some((s) => s.stage === "floating-ip" && s.ref?.uuid === "floating-ip-10.2.0.100")).toBe(
      true,
    );
  });
  it("a port without a mapping is dropped", () => {
    const r = simNetwork(world()).probe({ from: "d", to: "10.2.0.100", proto: "tcp", port: 80 });
    expect(r.drop?.reason).toBe("FLOW_ACTION_DROP");
    expect(r.drop?.step.stage).toBe("floating-ip");
  });
  it("without port mappings every port is forwarded unchanged", () => {
    const w = twoComputes();
    w.fips = [{ address: "10.2.0.100", pod: "c", vn: "blue" }];
    expect(simNetwork(w).probe({ from: "d", to: "10.2.0.100", proto: "udp", port: 5353 }).verdict).toBe(
      "allow",
    );
  });
  it("a NAT flow whose reverse key is taken → FLOW_NAT_NO_RFLOW", () => {
    const w = twoComputes();
    w.fips = [{ address: "10.1.0.100", pod: "c", vn: "red" }];
    const dp = new VrouterDatapath(tablesFor(w, "compute-2"));
    // c opens 10.1.0.5:80 → 10.1.0.3:40000 first: its forward key is the reverse key a DNAT flow would need.
    dp.receive(3, podFrame(w, "c", "10.1.0.3", tcp({ sport: 80, dport: 40000 })), 1);
    const inner = ipv4({
      src: "10.1.0.3",
      dst: "10.1.0.100",
      payload: tcp({ sport: 40000, dport: 80, flags: TCP_SYN }),
    });
    const res = dp.receive(0, mplsFrame("192.168.0.11", "192.168.0.12", policyLabel(w, "c"), inner), 2);
    expect(res.drop).toBe("FLOW_NAT_NO_RFLOW");
    expect(dp.stats().drops.FLOW_NAT_NO_RFLOW).toBe(1);
  });
});

describe("floating IP SNAT (isolated namespace reaching the cluster network)", () => {
  const world = (): World => {
    const w = twoComputes();
    w.vns.push({ name: "iso", vrf: 3, subnet: "10.3.0.0/24", gateway: "10.3.0.1" });
    w.pods.push({
      name: "i",
      compute: "compute-1",
      vif: 5,
      ip: "10.3.0.3",
      vn: "iso",
      listen: { tcp: [80] },
    });
    w.fips = [{ address: "10.1.0.200", pod: "i", vn: "red" }];
    return w;
  };
  it("the isolated pod reaches a cluster pod with its floating IP as source; the reply comes back", () => {
    const w = world();
    const net = simNetwork(w);
    let r!: ReturnType<typeof net.probe>;
    const atC = seenAt(net, "compute-2", 3, () => {
      r = net.probe({ from: "i", to: "10.1.0.5", proto: "tcp", port: 80 });
    });
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(atC[0]).toMatchObject({ src: "10.1.0.200", dst: "10.1.0.5" });
    expect(r.trace.find((s) => s.stage === "floating-ip")?.detail).toContain(
      "SNAT 10.3.0.3 → floating IP 10.1.0.200",
    );
  });
  it("cluster pods cannot reach the isolated pod's own address (no route)", () => {
    const r = simNetwork(world()).probe({ from: "c", to: "10.3.0.3", proto: "icmp" });
    expect(r.drop?.reason).toBe("NOWHERE_TO_GO");
  });
  it("the isolated pod's own VRF wins when it has the longer route", () => {
    const w = world();
    w.pods.push({
      name: "j",
      compute: "compute-2",
      vif: 6,
      ip: "10.3.0.4",
      vn: "iso",
      listen: { tcp: [80] },
    });
    const net = simNetwork(w);
    const atJ = seenAt(net, "compute-2", 6, () =>
      net.probe({ from: "i", to: "10.3.0.4", proto: "tcp", port: 80 }),
    );
    expect(atJ[0]?.src).toBe("10.3.0.3");
  });
});

describe("ECMP (service IP over several backends)", () => {
  const world = (): World => {
    const w = twoComputes();
    w.pods.push({
      name: "e",
      compute: "compute-2",
      vif: 5,
      ip: "10.1.0.6",
      vn: "red",
      listen: { tcp: [80] },
    });
    w.services = [
      {
        vn: "red",
        ip: "10.1.0.250",
        members: ["b", "c", "e"],
        portMappings: [{ protocol: 6, srcPort: 8000, dstPort: 80 }],
      },
    ];
    return w;
  };
  it("new connections spread over the members; every one is served", () => {
    const net = simNetwork(world());
    const r = net.probe({ from: "a", to: "10.1.0.250", proto: "tcp", port: 8000, count: 60 });
    expect(r.replies, formatTrace(r.trace.slice(0, 40))).toBe(60);
    expect(Object.keys(r.servedByCounts).sort()).toEqual(["b", "c", "e"]);
  });
  it("a flow sticks to its member, and keeps it when another member is added", () => {
    const w = world();
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
    const labelsOf = (sport: number) => {
      const res = dp.receive(3, podFrame(w, "a", "10.1.0.250", tcp({ sport, dport: 8000 })), 1);
      return res.out[0].vif === 0 ? mplsInner(res.out[0].frame).label : -res.out[0].vif;
    };
    const first = new Map<number, number>();
    for (let sport = 40000; sport < 40040; sport++) first.set(sport, labelsOf(sport));
    for (let sport = 40000; sport < 40040; sport++) expect(labelsOf(sport)).toBe(first.get(sport));
    w.pods.push({ name: "f", compute: "compute-2", vif: 6, ip: "10.1.0.7", vn: "red" });
    w.services![0].members.push("f");
    dp.install(tablesFor(w, "compute-1"));
    for (let sport = 40000; sport < 40040; sport++) expect(labelsOf(sport)).toBe(first.get(sport));
    expect(dp.flows().find((f) => f.direction === "forward" && f.ecmp)?.ecmp?.composite).toBe(700);
  });
  it("the member's label overrides the route's", () => {
    const w = world();
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
    const labels = new Set<number>();
    for (let sport = 41000; sport < 41030; sport++) {
      const out = dp.receive(3, podFrame(w, "a", "10.1.0.250", tcp({ sport, dport: 8000 })), 1).out[0];
      if (out.vif === 0) labels.add(mplsInner(out.frame).label);
    }
    expect([...labels].sort()).toEqual([policyLabel(w, "c"), policyLabel(w, "e")].sort());
  });
});

describe("ip-fabric forwarding", () => {
  const world = (): World => {
    const w = twoComputes();
    w.vns.push({ name: "podnet", vrf: 4, subnet: "10.4.0.0/24", gateway: "10.4.0.1", fabricForwarded: true });
    w.pods.push({
      name: "p1",
      compute: "compute-1",
      vif: 5,
      ip: "10.4.0.3",
      vn: "podnet",
      listen: { tcp: [80] },
    });
    w.pods.push({
      name: "p2",
      compute: "compute-2",
      vif: 5,
      ip: "10.4.0.4",
      vn: "podnet",
      listen: { tcp: [80] },
    });
    w.fabricHosts = [{ name: "h", ip: "192.168.0.50", listen: { tcp: [443] } }];
    return w;
  };
  it("a fabric host without a vrouter reaches a pod, unencapsulated, and gets the answer", () => {
    const net = simNetwork(world());
    const r = net.probe({ from: "h", to: "10.4.0.3", proto: "tcp", port: 80 });
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(r.trace.some((s) => s.stage === "tunnel")).toBe(false);
    expect(r.trace.some((s) => s.stage === "fabric" && s.detail.includes("192.168.0.50"))).toBe(true);
  });
  it("a pod reaches a fabric host", () => {
    const r = simNetwork(world()).probe({ from: "p2", to: "192.168.0.50", proto: "tcp", port: 443 });
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
  });
  it("pods on different computes talk without encapsulation", () => {
    const net = simNetwork(world());
    const frames: Uint8Array[] = [];
    const stop = net.capture("fabric", (f) => frames.push(f));
    const r = net.probe({ from: "p1", to: "10.4.0.4", proto: "icmp" });
    stop();
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(frames.map((f) => ip(f)).every((p) => p.protocol === 1)).toBe(true);
  });
});

describe("fabric SNAT", () => {
  const world = (): World => {
    const w = twoComputes();
    pod(w, "a").fabricSnat = true;
    w.fabricHosts = [{ name: "h", ip: "192.168.0.50", listen: { tcp: [443], udp: [123] } }];
    return w;
  };
  it("the pod's traffic leaves with the compute's fabric IP and a pool port; the reply is restored", () => {
    const net = simNetwork(world());
    const frames: Ipv4Packet[] = [];
    const stop = net.capture("fabric", (f) => frames.push(ip(f)));
    const r = net.probe({ from: "a", to: "192.168.0.50", proto: "tcp", port: 443 });
    const u = net.probe({ from: "a", to: "192.168.0.50", proto: "udp", port: 123 });
    stop();
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(u.verdict).toBe("allow");
    const syn = frames.find((p) => p.dst === "192.168.0.50" && p.payload.kind === "tcp")!;
    expect(syn.src).toBe("192.168.0.11");
    const sport = (syn.payload as { sport: number }).sport;
    expect(sport).toBeGreaterThanOrEqual(FABRIC_SNAT_POOLS.tcp[0]);
    expect(sport).toBeLessThanOrEqual(FABRIC_SNAT_POOLS.tcp[1]);
    const dgram = frames.find((p) => p.dst === "192.168.0.50" && p.payload.kind === "udp")!;
    expect((dgram.payload as { sport: number }).sport).toBeGreaterThanOrEqual(FABRIC_SNAT_POOLS.udp[0]);
  });
  it("pool ports are returned when the flow ends (TCP RST evicts the flow)", () => {
    const net = simNetwork(world());
    for (let i = 0; i < 5; i++) net.probe({ from: "a", to: "192.168.0.50", proto: "tcp", port: 443 });
    expect(net.datapath("compute-1")!.stats().natPortsInUse).toBe(0);
  });
  it("without fabric SNAT the pod has no way out", () => {
    const w = world();
    pod(w, "a").fabricSnat = false;
    expect(simNetwork(w).probe({ from: "a", to: "192.168.0.50", proto: "tcp", port: 443 }).drop?.reason).toBe(
      "NOWHERE_TO_GO",
    );
  });
});

describe("link-local services", () => {
  it("169.254.x.y:port is NATted to the fabric service and back", () => {
    const w = twoComputes();
    w.fabricHosts = [{ name: "api", ip: "192.168.0.60", listen: { tcp: [6443] } }];
    w.linkLocal = [
      { name: "kubernetes", ip: "169.254.169.1", port: 443, fabricIp: "192.168.0.60", fabricPort: 6443 },
    ];
    const net = simNetwork(w);
    // The agent puts a /32 receive route for the link-local address in every VRF.
    const t1 = tablesFor(w, "compute-1");
    t1.vrfs.get(1)!.routes.push({ prefix: "169.254.169.1/32", nh: 11, destVns: [], sgIds: [], tags: [] });
    net.setTables("compute-1", t1);
    const r = net.probe({ from: "a", to: "169.254.169.1", proto: "tcp", port: 443 });
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(r.servedBy).toBe("api");
    expect(r.trace.some((s) => s.stage === "link-local")).toBe(true);
  });
});

describe("flow table limits", () => {
  it("a full table drops new flows with FLOW_TABLE_FULL; aging frees it", () => {
    const w = twoComputes();
    const net = simNetwork(w, { flowLimit: 4, flowAgingMs: 1000 });
    expect(net.probe({ from: "a", to: "10.1.0.4", proto: "udp", port: 53 }).verdict).toBe("allow");
    expect(net.probe({ from: "a", to: "10.1.0.4", proto: "udp", port: 5353 }).verdict).toBe("allow");
    const full = net.probe({ from: "a", to: "10.1.0.5", proto: "udp", port: 53 });
    expect(full.drop?.reason).toBe("FLOW_TABLE_FULL");
    net.advance(5000);
    expect(net.probe({ from: "a", to: "10.1.0.5", proto: "udp", port: 53 }).verdict).toBe("allow");
  });
  it("an expired flow is gone from the listing", () => {
    const w = twoComputes();
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"), { flowAgingMs: 100 });
    dp.receive(3, podFrame(w, "a", "10.1.0.4", udp(1000, 53)), 0);
    expect(dp.flows()).toHaveLength(2);
    expect(dp.expireFlows(50)).toBe(0);
    expect(dp.expireFlows(500)).toBe(2);
    expect(dp.flows()).toHaveLength(0);
  });
});

describe("probe verdicts for closed ports", () => {
  it.each([
    ["tcp", 9999],
    ["udp", 9999],
    ["sctp", 9999],
  ] as const)("%s to a closed port: delivered, refused, verdict deny", (proto, port) => {
    const r = simNetwork(twoComputes()).probe({ from: "a", to: "10.1.0.5", proto, port });
    expect(r.verdict).toBe("deny");
    expect(r.refused, formatTrace(r.trace)).toBe(1);
    expect(r.drop).toBeUndefined();
  });
  it("sctp to a listening port is answered with INIT-ACK", () => {
    expect(
      simNetwork(twoComputes()).probe({ from: "a", to: "10.1.0.5", proto: "sctp", port: 3868 }).verdict,
    ).toBe("allow");
  });
  it("udp echo through the tunnel", () => {
    expect(
      simNetwork(twoComputes()).probe({ from: "a", to: "10.1.0.5", proto: "udp", port: 53, count: 2 })
        .replies,
    ).toBe(2);
  });
  it("ICMP port-unreachable back through a DNAT flow is un-NATted to the FIP", () => {
    const w = twoComputes();
    w.fips = [{ address: "10.2.0.100", pod: "c", vn: "blue" }];
    const r = simNetwork(w).probe({ from: "d", to: "10.2.0.100", proto: "udp", port: 9999 });
    expect(r.refused, formatTrace(r.trace)).toBe(1);
  });
  it("probes from an unknown endpoint are rejected with a specific error", () => {
    expect(() => simNetwork(twoComputes()).probe({ from: "zz", to: "10.1.0.5", proto: "icmp" })).toThrow(
      /no endpoint zz/,
    );
    expect(() => simNetwork(twoComputes()).probe({ from: "a", to: "10.1.0.5", proto: "tcp" })).toThrow(
      /needs a port/,
    );
  });
  it("the trace names the Kubernetes object behind the delivering VMI", () => {
    const r = simNetwork(twoComputes()).probe({ from: "a", to: "10.1.0.5", proto: "icmp" });
    expect(r.trace.find((s) => s.stage === "deliver")?.ref?.k8s).toEqual({
      kind: "Pod",
      namespace: "default",
      name: "c",
    });
  });
  it("a fabric host probing an address no station owns: the underlay reports the drop", () => {
    const w = twoComputes();
    w.fabricHosts = [{ name: "h", ip: "192.168.0.50" }];
    const r = simNetwork(w).probe({ from: "h", to: "10.9.9.9", proto: "icmp" });
    expect(r.drop?.compute).toBe("underlay");
  });
  it("inner packets travel with their original addresses inside the tunnel", () => {
    const w = twoComputes();
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
    const out = dp.receive(3, podFrame(w, "a", "10.1.0.5", udp(1111, 53)), 0).out[0];
    expect(mplsInner(out.frame).inner).toMatchObject({
      src: "10.1.0.3",
      dst: "10.1.0.5",
      payload: { sport: 1111, dport: 53 },
    });
  });
});

describe("reply TTL", () => {
  it("a reply crosses one routing vrouter hop: the prober sees ttl 63", () => {
    const r = simNetwork(twoComputes()).probe({ from: "a", to: "10.1.0.5", proto: "icmp" });
    expect(r.replyTtl).toBe(63);
    expect(r.trace.at(-1)?.detail).toBe("reply from c, ttl=63");
  });
});
