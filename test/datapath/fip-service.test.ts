/**
 * Service VIPs the way Kubernetes clusters lay them out: the pod network forwards in the fabric VRF
 * (ip-fabric), the service network stays in the overlay, the VIP is an ECMP floating IP over member pods
 * reached as labelled tunnels, and an isolated namespace's VN reaches the service network only. Regression
 * tests for the reply VRF of floating-IP DNAT flows, reverse-key conflicts (not a full table), network policy
 * for floating-IP flows, ECMP spread/stickiness, and `probe({ sport })`.
 */
import { describe, expect, it } from "vitest";
import { VrouterDatapath } from "../../fake-vrouter/datapath/engine";
import {
  encodeIpv4,
  ETHERTYPE_IPV4,
  ipv4,
  TCP_ACK,
  TCP_SYN,
  tcp,
  wrapEthernet,
} from "../../fake-vrouter/datapath/packet";
import { SimNetworkError } from "../../fake-vrouter/datapath/sim-network";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import type { Acl, AclRule } from "../../fake-vrouter/tables";
import { podFrame } from "./frames";
import { anyPorts, fabricMac, policyLabel, ref, simNetwork, tablesFor, vnName, type World } from "./world";

const VIP = "10.96.0.100"; // members m1 (compute-2) and m2 (compute-1), pod network
const ISO_VIP = "10.96.0.101"; // member im, isolated VN on compute-2
const CLIENT = "10.32.0.10";

function rule(uuid: string, action: AclRule["action"], src: string | "any", dst: string | "any"): AclRule {
  const end = (vn: string) =>
    vn === "any" ? { kind: "any" as const } : { kind: "vn" as const, name: vnName(vn) };
  return {
    uuid,
    action,
    protocol: "any",
    ethertype: "IPv4",
    src: end(src),
    dst: end(dst),
    srcPorts: anyPorts,
    dstPorts: anyPorts,
  };
}

function acl(id: string, rules: AclRule[]): Acl {
  return { id, origin: ref("network-policy", id), rules };
}

/** compute-1: client, m2, iclient; compute-2: m1, im. */
function world(): World {
  const listen = { tcp: [8080], udp: [5353] };
  const ports = [
    { protocol: 6, srcPort: 80, dstPort: 8080 },
    { protocol: 17, srcPort: 53, dstPort: 5353 },
  ];
  return {
    computes: [
      { name: "compute-1", fabricIp: "192.168.0.11" },
      { name: "compute-2", fabricIp: "192.168.0.12" },
    ],
    vns: [
      {
        name: "pods",
        vrf: 1,
        subnet: "10.32.0.0/24",
        gateway: "10.32.0.1",
        fabricForwarded: true,
        acl: "acl-pods",
      },
      {
        name: "svc",
        vrf: 2,
        subnet: "10.96.0.0/24",
        gateway: "10.96.0.1",
        imports: ["pods", "iso"],
        acl: "acl-svc",
      },
      { name: "iso", vrf: 3, subnet: "10.33.0.0/24", gateway: "10.33.0.1", acl: "acl-iso" },
    ],
    pods: [
      { name: "client", compute: "compute-1", vif: 3, ip: CLIENT, vn: "pods", listen },
      { name: "m2", compute: "compute-1", vif: 4, ip: "10.32.0.12", vn: "pods", listen },
      { name: "iclient", compute: "compute-1", vif: 5, ip: "10.33.0.10", vn: "iso", listen },
      { name: "m1", compute: "compute-2", vif: 3, ip: "10.32.0.11", vn: "pods", listen },
      { name: "im", compute: "compute-2", vif: 4, ip: "10.33.0.11", vn: "iso", listen },
    ],
    services: [
      { vn: "svc", ip: VIP, members: ["m1", "m2"], portMappings: ports, exportTo: ["pods", "iso"] },
      { vn: "svc", ip: ISO_VIP, members: ["im"], portMappings: ports, exportTo: ["pods"] },
    ],
    // Each VN passes itself and the service network; the service network passes anyone to it.
    acls: [
      acl("acl-pods", [
        rule("pods-pods", "pass", "pods", "pods"),
        rule("pods-svc", "pass", "pods", "svc"),
        rule("pods-deny", "deny", "any", "any"),
      ]),
      acl("acl-iso", [
        rule("iso-iso", "pass", "iso", "iso"),
        rule("iso-svc", "pass", "iso", "svc"),
        rule("iso-deny", "deny", "any", "any"),
      ]),
      acl("acl-svc", [rule("any-svc", "pass", "any", "svc"), rule("svc-deny", "deny", "any", "any")]),
    ],
  };
}

describe("floating-IP DNAT replies", () => {
  it("the member's compute routes the reply in the floating IP's VRF, not the member's own", () => {
    // im's own (isolated) VRF knows no route to the client; the service VRF does (labelled, overlay).
    const net = simNetwork(world());
    const r = net.probe({ from: "client", to: ISO_VIP, proto: "tcp", port: 80 });
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(r.servedBy).toBe("im");
    const back = r.trace.find((s) => s.compute === "compute-2" && s.stage === "tunnel");
    expect(back?.label, formatTrace(r.trace)).toBe(policyLabel(world(), "client"));
  });

  it("replies from a remote member come back labelled and hit the reverse flow (all answered)", () => {
    const net = simNetwork(world());
    const r = net.probe({ from: "client", to: VIP, proto: "tcp", port: 80, count: 24 });
    expect(r.replies, formatTrace(r.trace.slice(0, 60))).toBe(24);
    expect(net.datapath("compute-1")!.stats().drops.FLOW_TABLE_FULL).toBe(0);
  });

  it("a reply arriving on another next-hop than its flow expects is a reverse-key conflict, not a full table", () => {
    const w = world();
    for (const vn of w.vns) delete vn.acl; // the stray reply passes policy; only the flow table decides
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
    const syn = dp.receive(
      3,
      podFrame(w, "client", ISO_VIP, tcp({ sport: 40000, dport: 80, flags: TCP_SYN })),
      1,
    );
    expect(syn.out[0]?.vif, formatTrace(syn.trace)).toBe(0); // tunnelled to compute-2
    // The SYN-ACK, but unencapsulated from compute-2 (as if routed in the member's ip-fabric VRF).
    const stray = wrapEthernet(
      fabricMac("192.168.0.11"),
      fabricMac("192.168.0.12"),
      ETHERTYPE_IPV4,
      encodeIpv4(
        ipv4({
          src: ISO_VIP,
          dst: CLIENT,
          payload: tcp({ sport: 80, dport: 40000, flags: TCP_SYN | TCP_ACK }),
        }),
      ),
    );
    const res = dp.receive(0, stray, 2);
    expect(res.drop, formatTrace(res.trace)).toBe("FLOW_ACTION_DROP");
    expect(res.trace.at(-1)?.detail).toMatch(/reverse key .* is held by forward flow/);
    expect(dp.stats().drops.FLOW_TABLE_FULL).toBe(0);
    expect(dp.stats().flows).toBe(2);
  });
});

describe("network policy of floating-IP flows", () => {
  it("an isolated pod reaches a service VIP whose members are in a VN its policy does not name", () => {
    const net = simNetwork(world());
    const r = net.probe({ from: "iclient", to: VIP, proto: "tcp", port: 80, count: 12 });
    expect(r.replies, formatTrace(r.trace.slice(0, 60))).toBe(12);
    expect(Object.keys(r.servedByCounts).sort()).toEqual(["m1", "m2"]);
    const src = r.trace.find((s) => s.stage === "network-policy" && s.detail.startsWith("source VN"));
    expect(src?.rule).toBe("iso-svc");
    // The members themselves stay out of reach (no route from the isolated VN).
    expect(net.probe({ from: "iclient", to: "10.32.0.12", proto: "tcp", port: 8080 }).drop?.reason).toBe(
      "NOWHERE_TO_GO",
    );
  });

  it("the destination side applies the floating IP's VN ACL (out-policy)", () => {
    const w = world();
    w.acls = w.acls!.map((a) =>
      a.id === "acl-svc"
        ? acl("acl-svc", [rule("pods-svc-only", "pass", "pods", "svc"), rule("d", "deny", "any", "any")])
        : a,
    );
    const net = simNetwork(w);
    const r = net.probe({ from: "iclient", to: VIP, proto: "tcp", port: 80, count: 6 });
    expect(r.replies).toBe(0);
    expect(r.drop?.step.stage).toBe("network-policy");
    expect(r.drop?.step.detail).toContain(`destination VN ${vnName("svc")}`);
    expect(net.probe({ from: "client", to: VIP, proto: "tcp", port: 80, count: 6 }).replies).toBe(6);
  });
});

describe("ECMP over a service VIP, and probe({ sport })", () => {
  it("new flows spread over the members; one flow (same source port) sticks to one member", () => {
    const net = simNetwork(world());
    const spread = net.probe({ from: "client", to: VIP, proto: "tcp", port: 80, count: 24 });
    expect(Object.keys(spread.servedByCounts).sort()).toEqual(["m1", "m2"]);
    for (const sport of [40100, 40101, 40102, 40103]) {
      // UDP keeps its flow (hit); TCP is closed by RST each time and re-opened with the same key.
      const udp = net.probe({ from: "client", to: VIP, proto: "udp", port: 53, sport, count: 5 });
      expect(Object.values(udp.servedByCounts), formatTrace(udp.trace.slice(0, 40))).toEqual([5]);
      const tcpServed = new Set(
        [1, 2, 3].map(() => net.probe({ from: "client", to: VIP, proto: "tcp", port: 80, sport }).servedBy),
      );
      expect(tcpServed.size).toBe(1);
    }
  });

  it("sport sets the source port / ICMP identifier of the flow; bad values are rejected", () => {
    const net = simNetwork(world());
    expect(net.probe({ from: "client", to: "10.32.0.12", proto: "icmp", sport: 777, count: 2 }).replies).toBe(
      2,
    );
    const icmp = net
      .datapath("compute-1")!
      .flows()
      .filter((f) => f.key.proto === 1 && f.direction === "forward");
    expect(icmp.map((f) => f.key.sport)).toEqual([777]);
    net.probe({ from: "client", to: "10.32.0.12", proto: "udp", port: 5353, sport: 4242 });
    expect(
      net
        .datapath("compute-1")!
        .flows()
        .some((f) => f.key.proto === 17 && f.key.sport === 4242),
    ).toBe(true);
    for (const sport of [0, 70000, 1.5])
      expect(() => net.probe({ from: "client", to: VIP, proto: "udp", port: 53, sport })).toThrow(
        SimNetworkError,
      );
  });
});
