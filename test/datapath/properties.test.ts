/**
 * Properties (fast-check): the reply of an allowed flow is allowed and arrives with exactly the addresses
 * the client used (through floating-IP DNAT and fabric SNAT), and an ECMP flow stays on its member.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VrouterDatapath } from "../../fake-vrouter/datapath/engine";
import {
  encodeIpv4,
  ETHERTYPE_IPV4,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  type Ipv4Packet,
  icmpEcho,
  ipv4,
  type L4,
  tcp,
  udp,
  wrapEthernet,
} from "../../fake-vrouter/datapath/packet";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import type { AclRule } from "../../fake-vrouter/tables";
import { VROUTER_MAC } from "../../fake-vrouter/tables";
import { ip, mplsFrame, mplsInner, pod, podFrame } from "./frames";
import { anyPorts, fabricMac, podMac, ref, tablesFor, twoComputes, type World } from "./world";

const protoArb = fc.constantFrom("tcp", "udp", "icmp") as fc.Arbitrary<"tcp" | "udp" | "icmp">;
const portArb = fc.integer({ min: 1, max: 65535 });

function l4For(proto: "tcp" | "udp" | "icmp", sport: number, dport: number): L4 {
  if (proto === "tcp") return tcp({ sport, dport });
  if (proto === "udp") return udp(sport, dport);
  return icmpEcho(ICMP_ECHO_REQUEST, sport, 1);
}

/** The answer a stack would send to `p`: addresses and ports swapped. */
function replyTo(p: Ipv4Packet): Ipv4Packet {
  const l4 = p.payload;
  let back: L4;
  if (l4.kind === "tcp") back = tcp({ sport: l4.dport, dport: l4.sport, flags: 0x12 });
  else if (l4.kind === "udp") back = udp(l4.dport, l4.sport);
  else if (l4.kind === "icmp") back = icmpEcho(ICMP_ECHO_REPLY, l4.id, l4.seq);
  else throw new Error("unexpected payload");
  return ipv4({ src: p.dst, dst: p.src, payload: back });
}

function ports(p: Ipv4Packet): [number, number] {
  const l4 = p.payload;
  if (l4.kind === "tcp" || l4.kind === "udp") return [l4.sport, l4.dport];
  if (l4.kind === "icmp") return [l4.id, l4.id];
  return [0, 0];
}

describe("properties", () => {
  it("robustness: arbitrary bytes on a pod or fabric vif give a result (a drop reason), never an exception", () => {
    const w = twoComputes();
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
    const bases = [
      podFrame(w, "a", "10.1.0.5", tcp({ sport: 1, dport: 80 })),
      mplsFrame(
        "192.168.0.12",
        "192.168.0.11",
        16,
        ipv4({ src: "10.1.0.5", dst: "10.1.0.3", payload: udp(1, 53) }),
      ),
    ];
    const mutated = fc
      .tuple(fc.constantFrom(...bases), fc.nat(200), fc.integer({ min: 0, max: 255 }))
      .map(([base, i, b]) => {
        const f = base.slice();
        f[i % f.length] = b;
        return f;
      });
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 120 }), mutated),
        fc.constantFrom(0, 3),
        (bytes, vif) => {
          const r = dp.receive(vif, bytes, 1);
          expect(r.drop !== undefined || r.out.length > 0 || r.trace.length > 0).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("flow symmetry: the reply of an allowed flow is allowed and un-NATted, whatever the policy", () => {
    const ruleArb = fc.record({
      proto: fc.constantFrom<number | "any">(6, 17, 1, "any"),
      lo: fc.integer({ min: 0, max: 65535 }),
      span: fc.integer({ min: 0, max: 40000 }),
    });
    fc.assert(
      fc.property(
        fc.array(ruleArb, { maxLength: 4 }),
        protoArb,
        portArb,
        portArb,
        fc.boolean(),
        (rules, proto, sport, dport, viaFip) => {
          const w: World = twoComputes();
          w.fips = [{ address: "10.1.0.99", pod: "b", vn: "red" }];
          const aclRules: AclRule[] = rules.map((r, i) => ({
            uuid: `r${i}`,
            action: "pass",
            protocol: r.proto,
            ethertype: "IPv4",
            src: { kind: "any" },
            dst: { kind: "any" },
            srcPorts: anyPorts,
            dstPorts: { start: r.lo, end: Math.min(65535, r.lo + r.span) },
          }));
          w.acls = [
            { id: "b-in", origin: ref("security-group", "b-in"), rules: aclRules },
            { id: "a-in", origin: ref("security-group", "a-in"), rules: [] }, // a accepts no new flows at all
          ];
          pod(w, "b").sgIngress = ["b-in"];
          pod(w, "a").sgIngress = ["a-in"];
          const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
          const dst = viaFip ? "10.1.0.99" : "10.1.0.4";
          const fwd = dp.receive(3, podFrame(w, "a", dst, l4For(proto, sport, dport)), 1);
          if (fwd.drop) {
            expect(fwd.drop).toBe("FLOW_ACTION_DROP");
            return;
          }
          expect(fwd.out[0].vif).toBe(4);
          const delivered = ip(fwd.out[0].frame);
          expect(delivered.dst).toBe("10.1.0.4");
          const answer = replyTo(delivered);
          const back = dp.receive(
            4,
            wrapEthernet(VROUTER_MAC, podMac(pod(w, "b")), ETHERTYPE_IPV4, encodeIpv4(answer)),
            2,
          );
          expect(back.drop, formatTrace(back.trace)).toBeUndefined();
          expect(back.out[0].vif).toBe(3);
          const got = ip(back.out[0].frame);
          expect(got.src).toBe(dst);
          expect(got.dst).toBe("10.1.0.3");
          const [s, d] = ports(got);
          if (proto === "icmp") expect(s).toBe(sport);
          else expect([s, d]).toEqual([dport, sport]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("NAT round trip: fabric SNAT and floating-IP port mappings restore the client's addresses and ports", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(portArb, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1024, max: 65535 }),
        (clientPorts, listener, member) => {
          const w = twoComputes();
          pod(w, "a").fabricSnat = true;
          w.fabricHosts = [{ name: "h", ip: "192.168.0.50" }];
          w.fips = [
            {
              address: "10.1.0.99",
              pod: "b",
              vn: "red",
              portMappings: [{ protocol: 6, srcPort: listener, dstPort: member }],
            },
          ];
          const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
          const used = new Set<number>();
          for (const sport of clientPorts) {
            // Fabric SNAT out and back.
            const out = dp.receive(3, podFrame(w, "a", "192.168.0.50", tcp({ sport, dport: 443 })), 1).out[0];
            const onWire = ip(out.frame);
            const natPort = ports(onWire)[0];
            expect(onWire.src).toBe("192.168.0.11");
            expect(used.has(natPort)).toBe(false);
            used.add(natPort);
            const reply = wrapEthernet(
              fabricMac("192.168.0.11"),
              fabricMac("192.168.0.50"),
              ETHERTYPE_IPV4,
              encodeIpv4(replyTo(onWire)),
            );
            const home = dp.receive(0, reply, 2);
            expect(home.out[0]?.vif, formatTrace(home.trace)).toBe(3);
            expect(ip(home.out[0].frame)).toMatchObject({
              src: "192.168.0.50",
              dst: "10.1.0.3",
              payload: { sport: 443, dport: sport },
            });
            // Floating-IP DNAT with a port mapping, and back.
            const toFip = dp.receive(3, podFrame(w, "a", "10.1.0.99", tcp({ sport, dport: listener })), 3)
              .out[0];
            const atMember = ip(toFip.frame);
            expect(atMember).toMatchObject({ dst: "10.1.0.4", payload: { dport: member, sport } });
            const answer = dp.receive(
              4,
              wrapEthernet(VROUTER_MAC, podMac(pod(w, "b")), ETHERTYPE_IPV4, encodeIpv4(replyTo(atMember))),
              4,
            ).out[0];
            expect(ip(answer.frame)).toMatchObject({
              src: "10.1.0.99",
              dst: "10.1.0.3",
              payload: { sport: listener, dport: sport },
            });
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("ECMP stickiness: every packet of a flow takes the member its first packet took, across reordered members", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1024, max: 65535 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 5 }),
        (sports, repeats) => {
          const w = twoComputes();
          w.pods.push({ name: "e", compute: "compute-2", vif: 5, ip: "10.1.0.6", vn: "red" });
          w.pods.push({ name: "f", compute: "compute-2", vif: 6, ip: "10.1.0.7", vn: "red" });
          w.services = [{ vn: "red", ip: "10.1.0.250", members: ["c", "e", "f"] }];
          const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
          const member = (sport: number) =>
            mplsInner(dp.receive(3, podFrame(w, "a", "10.1.0.250", udp(sport, 53)), 1).out[0].frame).label;
          const first = new Map(sports.map((s) => [s, member(s)]));
          w.services[0].members.reverse();
          dp.install(tablesFor(w, "compute-1"));
          for (let i = 0; i < repeats; i++) for (const s of sports) expect(member(s)).toBe(first.get(s));
        },
      ),
      { numRuns: 100 },
    );
  });
});
