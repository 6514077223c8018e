/**
 * vtest-style cases for one compute's engine: hand-built tables, a frame in on a vif, and either the frames
 * out on the expected vifs (checked field by field) or a drop with the expected reason and counter.
 */
import { describe, expect, it } from "vitest";
import { type DatapathResult, VrouterDatapath } from "../../fake-vrouter/datapath/engine";
import {
  ARP_REPLY,
  ARP_REQUEST,
  decodeVxlan,
  encodeArp,
  encodeVxlan,
  encodeIpv4,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  IPPROTO_GRE,
  icmpEcho,
  ipv4,
  ipv4Frame,
  tcp,
  udp,
  wrapEthernet,
} from "../../fake-vrouter/datapath/packet";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import { MPLS_UDP_PORT, VROUTER_MAC, VXLAN_UDP_PORT, type VrouterTables } from "../../fake-vrouter/tables";
import { eth, ip, mplsFrame, mplsInner, pod, podFrame } from "./frames";
import { encapNhId, fabricMac, podMac, policyLabel, tablesFor, twoComputes, type World } from "./world";

const NOW = 1_000;

interface Case {
  name: string;
  world?: (w: World) => void;
  tables?: (t: VrouterTables) => void;
  /** Frame in on compute-1's vif. */
  vif: number;
  frame: (w: World) => Uint8Array;
  expect:
    | { drop: string; stage?: string }
    | { out: number; check?: (frame: Uint8Array, w: World) => void }
    | { consumed: true };
}

const cases: Case[] = [
  {
    name: "proxy ARP answers any address with the vrouter MAC",
    vif: 3,
    frame: (w) =>
      wrapEthernet(
        "ff:ff:ff:ff:ff:ff",
        podMac(pod(w, "a")),
        ETHERTYPE_ARP,
        encodeArp({
          kind: "arp",
          op: ARP_REQUEST,
          senderMac: podMac(pod(w, "a")),
          senderIp: "10.1.0.3",
          targetMac: "00:00:00:00:00:00",
          targetIp: "10.9.9.9",
        }),
      ),
    expect: {
      out: 3,
      check: (f, w) => {
        const e = eth(f);
        expect(e.dst).toBe(podMac(pod(w, "a")));
        expect(e.payload).toMatchObject({
          kind: "arp",
          op: ARP_REPLY,
          senderMac: VROUTER_MAC,
          senderIp: "10.9.9.9",
          targetIp: "10.1.0.3",
        });
      },
    },
  },
  {
    name: "ARP for the pod's own address is not answered",
    vif: 3,
    frame: (w) =>
      wrapEthernet(
        "ff:ff:ff:ff:ff:ff",
        podMac(pod(w, "a")),
        ETHERTYPE_ARP,
        encodeArp({
          kind: "arp",
          op: ARP_REQUEST,
          senderMac: podMac(pod(w, "a")),
          senderIp: "0.0.0.0",
          targetMac: "00:00:00:00:00:00",
          targetIp: "10.1.0.3",
        }),
      ),
    expect: { consumed: true },
  },
  {
    name: "same VRF, local: encap NH rewrites L2 and decrements TTL",
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.4", tcp({ sport: 40000, dport: 80 })),
    expect: {
      out: 4,
      check: (f, w) => {
        const e = eth(f);
        expect(e.src).toBe(VROUTER_MAC);
        expect(e.dst).toBe(podMac(pod(w, "b")));
        expect(ip(f)).toMatchObject({
          src: "10.1.0.3",
          dst: "10.1.0.4",
          ttl: 63,
          payload: { kind: "tcp", sport: 40000, dport: 80 },
        });
      },
    },
  },
  {
    name: "same VRF, remote: MPLSoUDP to the other compute with the destination VMI's label",
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.5", tcp({ sport: 40000, dport: 80 })),
    expect: {
      out: 0,
      check: (f, w) => {
        const e = eth(f);
        expect(e.dst).toBe(fabricMac("192.168.0.12"));
        const { outer, label, inner } = mplsInner(f);
        expect(outer).toMatchObject({
          src: "192.168.0.11",
          dst: "192.168.0.12",
          payload: { kind: "udp", dport: MPLS_UDP_PORT },
        });
        const sport = (outer.payload as { sport: number }).sport;
        expect(sport).toBeGreaterThanOrEqual(49152);
        expect(label).toBe(policyLabel(w, "c"));
        expect(inner).toMatchObject({ src: "10.1.0.3", dst: "10.1.0.5", ttl: 63 });
      },
    },
  },
  {
    name: "MPLSoGRE when the tunnel NH says so",
    world: (w) => {
      w.encap = "mplsogre";
    },
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.5", udp(5000, 53)),
    expect: {
      out: 0,
      check: (f, w) => {
        const { outer, label } = mplsInner(f);
        expect(outer.protocol).toBe(IPPROTO_GRE);
        expect(label).toBe(policyLabel(w, "c"));
      },
    },
  },
  {
    name: "VXLAN carries the route's VNI and an inner Ethernet frame",
    world: (w) => {
      w.encap = "vxlan";
    },
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.5", udp(5000, 53)),
    expect: {
      out: 0,
      check: (f, w) => {
        const outer = ip(f);
        expect(outer.payload).toMatchObject({ kind: "udp", dport: VXLAN_UDP_PORT });
        const vx = decodeVxlan((outer.payload as { data: Uint8Array }).data);
        expect(vx.ok && vx.value.vni).toBe(policyLabel(w, "c"));
        expect(vx.ok && ip(vx.value.inner).dst).toBe("10.1.0.5");
      },
    },
  },
  {
    name: "from the fabric: label → encap NH → the pod, no route lookup",
    vif: 0,
    frame: (w) =>
      mplsFrame(
        "192.168.0.12",
        "192.168.0.11",
        policyLabel(w, "a"),
        ipv4({ src: "10.1.0.5", dst: "10.1.0.3", payload: icmpEcho(ICMP_ECHO_REQUEST, 7, 1) }),
      ),
    expect: {
      out: 3,
      check: (f, w) => {
        expect(eth(f).dst).toBe(podMac(pod(w, "a")));
        expect(ip(f)).toMatchObject({ src: "10.1.0.5", dst: "10.1.0.3", ttl: 64 });
      },
    },
  },
  {
    name: "VXLAN from the fabric: an L3 VNI names the VRF the inner packet is routed in",
    tables: (t) => {
      t.vrfs.get(1)!.vxlanId = 5001;
    },
    vif: 0,
    frame: () => {
      const inner = ipv4Frame(
        VROUTER_MAC,
        VROUTER_MAC,
        ipv4({ src: "10.1.0.5", dst: "10.1.0.4", payload: udp(7, 53) }),
      );
      const outer = ipv4({
        src: "192.168.0.12",
        dst: "192.168.0.11",
        payload: udp(50000, VXLAN_UDP_PORT, encodeVxlan(5001, inner)),
      });
      return ipv4Frame(fabricMac("192.168.0.11"), fabricMac("192.168.0.12"), outer);
    },
    expect: { out: 4 },
  },
  {
    name: "VXLAN with an unknown VNI → INVALID_VNID",
    vif: 0,
    frame: () => {
      const inner = ipv4Frame(
        VROUTER_MAC,
        VROUTER_MAC,
        ipv4({ src: "10.1.0.5", dst: "10.1.0.4", payload: udp(7, 53) }),
      );
      const outer = ipv4({
        src: "192.168.0.12",
        dst: "192.168.0.11",
        payload: udp(50000, VXLAN_UDP_PORT, encodeVxlan(777, inner)),
      });
      return ipv4Frame(fabricMac("192.168.0.11"), fabricMac("192.168.0.12"), outer);
    },
    expect: { drop: "INVALID_VNID" },
  },
  {
    name: "unknown label → INVALID_LABEL",
    vif: 0,
    frame: () =>
      mplsFrame(
        "192.168.0.12",
        "192.168.0.11",
        999,
        ipv4({ src: "10.1.0.5", dst: "10.1.0.3", payload: icmpEcho(ICMP_ECHO_REQUEST, 7, 1) }),
      ),
    expect: { drop: "INVALID_LABEL", stage: "label" },
  },
  {
    name: "no route (other VN, no policy) → NOWHERE_TO_GO",
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.2.0.3", icmpEcho(ICMP_ECHO_REQUEST, 1, 1)),
    expect: { drop: "NOWHERE_TO_GO", stage: "route" },
  },
  {
    name: "TTL 1 → TTL_EXCEEDED",
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.4", icmpEcho(ICMP_ECHO_REQUEST, 1, 1), { ttl: 1 }),
    expect: { drop: "TTL_EXCEEDED", stage: "ttl" },
  },
  {
    name: "RPF: a source address that is not the vif's → INVALID_SOURCE",
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.4", icmpEcho(ICMP_ECHO_REQUEST, 1, 1), { src: "10.1.0.4" }),
    expect: { drop: "INVALID_SOURCE", stage: "rpf" },
  },
  {
    name: "gateway address: the vrouter answers the ping itself",
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.1", icmpEcho(ICMP_ECHO_REQUEST, 9, 2)),
    expect: {
      out: 3,
      check: (f) =>
        expect(ip(f)).toMatchObject({
          src: "10.1.0.1",
          dst: "10.1.0.3",
          payload: { kind: "icmp", type: ICMP_ECHO_REPLY, id: 9, seq: 2 },
        }),
    },
  },
  {
    name: "discard route → DISCARD",
    tables: (t) =>
      t.vrfs.get(1)!.routes.push({ prefix: "10.66.0.0/16", nh: 0, destVns: [], sgIds: [], tags: [] }),
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.66.1.1", udp(1, 2)),
    expect: { drop: "DISCARD", stage: "nexthop" },
  },
  {
    name: "longest prefix wins over a covering discard route",
    tables: (t) =>
      t.vrfs.get(1)!.routes.push({ prefix: "10.1.0.0/16", nh: 0, destVns: [], sgIds: [], tags: [] }),
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.4", udp(1, 2)),
    expect: { out: 4 },
  },
  {
    name: "vrf-translate continues the lookup in another VRF",
    tables: (t) => {
      t.nextHops.set(900, { id: 900, type: "vrf-translate", vrf: 2 });
      t.vrfs.get(1)!.routes.push({ prefix: "10.2.0.0/24", nh: 900, destVns: [], sgIds: [], tags: [] });
      t.vrfs.get(2)!.routes.push({ prefix: "10.2.0.0/24", nh: 0, destVns: [], sgIds: [], tags: [] });
    },
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.2.0.9", udp(1, 2)),
    expect: { drop: "DISCARD" },
  },
  {
    name: "a route to a missing next-hop → INVALID_NH",
    tables: (t) =>
      t.vrfs.get(1)!.routes.push({ prefix: "10.77.0.0/16", nh: 4242, destVns: [], sgIds: [], tags: [] }),
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.77.0.1", udp(1, 2)),
    expect: { drop: "INVALID_NH" },
  },
  {
    name: "unknown vif → INVALID_IF",
    vif: 42,
    frame: (w) => podFrame(w, "a", "10.1.0.4", udp(1, 2)),
    expect: { drop: "INVALID_IF" },
  },
  {
    name: "truncated IPv4 header → INVALID_PACKET",
    vif: 3,
    frame: (w) => podFrame(w, "a", "10.1.0.4", udp(1, 2)).slice(0, 24),
    expect: { drop: "INVALID_PACKET", stage: "ingress" },
  },
  {
    name: "bad IPv4 header checksum → INVALID_PACKET",
    vif: 3,
    frame: (w) => {
      const f = podFrame(w, "a", "10.1.0.4", udp(1, 2));
      f[14 + 10] ^= 0xff;
      return f;
    },
    expect: { drop: "INVALID_PACKET" },
  },
  {
    name: "truncated ARP → INVALID_ARP",
    vif: 3,
    frame: (w) => wrapEthernet("ff:ff:ff:ff:ff:ff", podMac(pod(w, "a")), ETHERTYPE_ARP, new Uint8Array(10)),
    expect: { drop: "INVALID_ARP" },
  },
  {
    name: "garbage after the MPLS label → INVALID_PACKET",
    vif: 0,
    frame: () => {
      const outer = ipv4({
        src: "192.168.0.12",
        dst: "192.168.0.11",
        payload: udp(1, MPLS_UDP_PORT, new Uint8Array([0, 1, 0x11, 64, 0x45, 0, 0])),
      });
      return wrapEthernet(
        fabricMac("192.168.0.11"),
        fabricMac("192.168.0.12"),
        ETHERTYPE_IPV4,
        encodeIpv4(outer),
      );
    },
    expect: { drop: "INVALID_PACKET", stage: "decap" },
  },
  {
    name: "IPv6 from a pod → INVALID_PROTOCOL (not implemented)",
    vif: 3,
    frame: (w) => wrapEthernet(VROUTER_MAC, podMac(pod(w, "a")), 0x86dd, new Uint8Array(40)),
    expect: { drop: "INVALID_PROTOCOL" },
  },
];

function run(c: Case): { res: DatapathResult; world: World; dp: VrouterDatapath } {
  const world = twoComputes();
  c.world?.(world);
  const tables = tablesFor(world, "compute-1");
  c.tables?.(tables);
  const dp = new VrouterDatapath(tables);
  return { res: dp.receive(c.vif, c.frame(world), NOW), world, dp };
}

describe("VrouterDatapath (vtest-style cases on compute-1)", () => {
  for (const c of cases) {
    it(c.name, () => {
      const { res, world, dp } = run(c);
      const why = formatTrace(res.trace);
      if ("drop" in c.expect) {
        expect(res.drop, why).toBe(c.expect.drop);
        expect(res.out).toHaveLength(0);
        const last = res.trace[res.trace.length - 1];
        expect(last.reason).toBe(c.expect.drop);
        if (c.expect.stage) expect(last.stage).toBe(c.expect.stage);
        expect(dp.stats().drops[c.expect.drop as keyof ReturnType<typeof dp.stats>["drops"]]).toBe(1);
      } else if ("out" in c.expect) {
        expect(res.drop, why).toBeUndefined();
        expect(
          res.out.map((o) => o.vif),
          why,
        ).toEqual([c.expect.out]);
        c.expect.check?.(res.out[0].frame, world);
      } else {
        expect(res.drop, why).toBeUndefined();
        expect(res.out).toHaveLength(0);
      }
    });
  }

  it("the no-policy twin NH's label skips destination policy", () => {
    const world = twoComputes();
    world.acls = [
      { id: "deny-all", origin: { type: "security-group", uuid: "sg", fqName: ["sg"] }, rules: [] },
    ];
    pod(world, "a").sgIngress = ["deny-all"];
    const dp = new VrouterDatapath(tablesFor(world, "compute-1"));
    const inner = ipv4({ src: "10.1.0.5", dst: "10.1.0.3", payload: tcp({ sport: 1234, dport: 80 }) });
    expect(
      dp.receive(0, mplsFrame("192.168.0.12", "192.168.0.11", policyLabel(world, "a"), inner), NOW).drop,
    ).toBe("FLOW_ACTION_DROP");
    const viaNoPolicy = dp.receive(
      0,
      mplsFrame("192.168.0.12", "192.168.0.11", policyLabel(world, "a") + 1, {
        ...inner,
        payload: tcp({ sport: 1235, dport: 80 }),
      }),
      NOW,
    );
    expect(viaNoPolicy.out.map((o) => o.vif)).toEqual([3]);
  });

  it("answers ARP for its fabric address on the fabric port and learns the asker's MAC", () => {
    const world = twoComputes();
    const dp = new VrouterDatapath(tablesFor(world, "compute-1"));
    const asker = "02:00:00:00:00:99";
    const req = encodeArp({
      kind: "arp",
      op: ARP_REQUEST,
      senderMac: asker,
      senderIp: "192.168.0.12",
      targetMac: "00:00:00:00:00:00",
      targetIp: "192.168.0.11",
    });
    const res = dp.receive(0, wrapEthernet("ff:ff:ff:ff:ff:ff", asker, ETHERTYPE_ARP, req), NOW);
    expect(eth(res.out[0].frame).payload).toMatchObject({
      op: ARP_REPLY,
      senderMac: fabricMac("192.168.0.11"),
    });
    // The learned MAC is used for the next tunnel to that compute.
    const out = dp.receive(3, podFrame(world, "a", "10.1.0.5", udp(1, 2)), NOW).out[0];
    expect(eth(out.frame).dst).toBe(asker);
  });

  it("flows are keyed on the source vif's NH and listed forward + reverse", () => {
    const world = twoComputes();
    const dp = new VrouterDatapath(tablesFor(world, "compute-1"));
    dp.receive(3, podFrame(world, "a", "10.1.0.4", tcp({ sport: 40000, dport: 80 })), NOW);
    const flows = dp.flows();
    expect(flows).toHaveLength(2);
    const fwd = flows.find((f) => f.direction === "forward")!;
    const rev = flows.find((f) => f.direction === "reverse")!;
    expect(fwd.key).toEqual({
      proto: 6,
      sport: 40000,
      dport: 80,
      nh: encapNhId(3, true),
      sip: "10.1.0.3",
      dip: "10.1.0.4",
    });
    expect(rev.key).toEqual({
      proto: 6,
      sport: 80,
      dport: 40000,
      nh: encapNhId(4, true),
      sip: "10.1.0.4",
      dip: "10.1.0.3",
    });
    expect(fwd.reverseKey).toBeDefined();
    expect(dp.stats().flows).toBe(2);
  });
});
