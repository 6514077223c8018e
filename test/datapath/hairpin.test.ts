/**
 * Service hairpin: a pod reaching its own Service's VIP is DNAT'ed back to itself with its own address still
 * as the source (Contrail does no source NAT for it). Linux drops a packet with a local source address that
 * arrives on eth0 (martian source), so the simulated pod must drop it too — the netns datapath, on real
 * kernels, does. Its own address, probed directly, still goes over loopback and is answered.
 */
import { describe, expect, it } from "vitest";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import { simNetwork, type World } from "./world";

const SOLO_VIP = "10.96.0.10"; // one member: m1
const PAIR_VIP = "10.96.0.11"; // members m1 and m2
const HOST_NOTE = "dropped by the pod's kernel: source is its own address";

/** compute-1: m1, client; compute-2: m2. Pods in "pods", VIPs in "svc", both VRFs hold the VIP routes. */
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
      { name: "pods", vrf: 1, subnet: "10.32.0.0/24", gateway: "10.32.0.1" },
      { name: "svc", vrf: 2, subnet: "10.96.0.0/24", gateway: "10.96.0.1", imports: ["pods"] },
    ],
    pods: [
      { name: "m1", compute: "compute-1", vif: 3, ip: "10.32.0.11", vn: "pods", listen },
      { name: "client", compute: "compute-1", vif: 4, ip: "10.32.0.10", vn: "pods", listen },
      { name: "m2", compute: "compute-2", vif: 3, ip: "10.32.0.12", vn: "pods", listen },
    ],
    services: [
      { vn: "svc", ip: SOLO_VIP, members: ["m1"], portMappings: ports, exportTo: ["pods"] },
      { vn: "svc", ip: PAIR_VIP, members: ["m1", "m2"], portMappings: ports, exportTo: ["pods"] },
    ],
  };
}

describe("service hairpin (a pod to its own Service)", () => {
  it("the only member reaching its own VIP is dropped by its kernel, not answered", () => {
    const net = simNetwork(world());
    for (const [proto, port] of [
      ["tcp", 80],
      ["udp", 53],
    ] as const) {
      const r = net.probe({ from: "m1", to: SOLO_VIP, proto, port, count: 3 });
      expect(r.verdict, `${proto}\n${formatTrace(r.trace)}`).toBe("deny");
      expect(r.replies).toBe(0);
      expect(r.refused).toBe(0); // silently dropped, not refused
      const note = r.trace.find((s) => s.compute === "m1" && s.stage === "host" && s.action === "drop");
      expect(note?.detail, formatTrace(r.trace)).toBe(HOST_NOTE);
    }
    // Another pod gets through to the same member, and the member still answers its own address.
    expect(net.probe({ from: "client", to: SOLO_VIP, proto: "tcp", port: 80, count: 3 }).replies).toBe(3);
    const self = net.probe({ from: "m1", to: "10.32.0.11", proto: "tcp", port: 8080 });
    expect(self.verdict, formatTrace(self.trace)).toBe("allow");
  });

  it("with two members, exactly the flows ECMP sends back to the client itself go unanswered", () => {
    const net = simNetwork(world());
    const r = net.probe({ from: "m1", to: PAIR_VIP, proto: "tcp", port: 80, count: 16 });
    expect(Object.keys(r.servedByCounts), formatTrace(r.trace.slice(0, 80))).toEqual(["m2"]);
    const hairpinned = r.trace.filter((s) => s.compute === "m1" && s.detail === HOST_NOTE).length;
    expect(hairpinned).toBeGreaterThan(0);
    expect(r.replies + hairpinned).toBe(16);
  });

  it("the fast matrix agrees with the packets", () => {
    const from = ["m1", "m2", "client"];
    const to = [SOLO_VIP, PAIR_VIP, "10.32.0.11"];
    for (const proto of ["tcp", "udp"] as const) {
      const port = proto === "tcp" ? 80 : 53;
      const packets = simNetwork(world()).matrix({ from, to, proto, port });
      const fast = simNetwork(world()).matrix({ from, to, proto, port, fast: true });
      expect(fast.text, `packets:\n${packets.text}`).toBe(packets.text);
      expect(packets.allowed[0][0], packets.text).toBe(false);
    }
  });
});
