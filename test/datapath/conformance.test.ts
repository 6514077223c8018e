/**
 * Conformance (property): the fast reachability matrix (engines' dry run, `explain`) gives the same verdict
 * as real probe packets for random worlds — VN isolation and policy leaks, network-policy ACLs, security
 * groups, firewall tags, floating-IP SNAT/DNAT, ECMP services with port mappings, ip-fabric forwarding,
 * fabric SNAT and fabric hosts.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { outcomeName, reachBatch } from "../../fake-vrouter/datapath/dry-run-pool";
import { PortWindow } from "../../fake-vrouter/datapath/port-window";
import type { AclRule } from "../../fake-vrouter/tables";
import { anyPorts, ref, simNetwork, twoComputes, vnName, type World } from "./world";

const PORTS = [53, 80, 8080];

const worldArb = fc
  .record({
    placement: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 7, maxLength: 7 }),
    listen: fc.array(fc.subarray(PORTS), { minLength: 7, maxLength: 7 }),
    leak: fc.boolean(),
    redAcl: fc.option(
      fc.record({
        proto: fc.constantFrom<number | "any">(1, 6, 17, "any"),
        port: fc.constantFrom(...PORTS),
        action: fc.constantFrom<"pass" | "deny">("pass", "deny"),
      }),
    ),
    sgOnC: fc.option(
      fc.record({ proto: fc.constantFrom<number | "any">(6, 17, "any"), port: fc.constantFrom(...PORTS) }),
    ),
    fw: fc.option(fc.constantFrom("web-only", "match-ns")),
    fip: fc.boolean(),
    service: fc.boolean(),
    fabricSnat: fc.boolean(),
  })
  .map((r): World => {
    const w = twoComputes();
    w.computes.push({ name: "compute-3", fabricIp: "192.168.0.13" });
    w.vns.push({ name: "iso", vrf: 3, subnet: "10.3.0.0/24", gateway: "10.3.0.1" });
    w.vns.push({ name: "podnet", vrf: 4, subnet: "10.4.0.0/24", gateway: "10.4.0.1", fabricForwarded: true });
    w.pods.push({ name: "i", compute: "compute-1", vif: 5, ip: "10.3.0.3", vn: "iso" });
    w.pods.push({ name: "p", compute: "compute-2", vif: 6, ip: "10.4.0.3", vn: "podnet" });
    w.pods.push({ name: "q", compute: "compute-3", vif: 7, ip: "10.4.0.4", vn: "podnet" });
    w.fabricHosts = [{ name: "h", ip: "192.168.0.50", listen: { tcp: [80], udp: [53] } }];
    w.pods.forEach((p, k) => {
      p.compute = ["compute-1", "compute-2", "compute-3"][r.placement[k]];
      p.vif = 3 + k;
      p.listen = { tcp: r.listen[k], udp: r.listen[k], sctp: r.listen[k] };
    });
    if (r.leak) {
      w.vns[0].imports = ["blue"];
      w.vns[1].imports = ["red"];
    }
    const acls = [];
    if (r.redAcl) {
      const a = r.redAcl;
      const rule: AclRule = {
        uuid: "r1",
        action: a.action,
        protocol: a.proto,
        ethertype: "IPv4",
        src: { kind: "any" },
        dst: { kind: "any" },
        srcPorts: anyPorts,
        dstPorts: a.proto === 1 ? anyPorts : { start: a.port, end: a.port },
      };
      const back: AclRule = {
        ...rule,
        uuid: "r2",
        action: "pass",
        src: { kind: "vn", name: vnName("red") },
        dst: { kind: "vn", name: vnName("red") },
        protocol: "any",
        dstPorts: anyPorts,
      };
      acls.push({ id: "red-acl", origin: ref("network-policy", "red"), rules: [rule, back] });
      w.vns[0].acl = "red-acl";
    }
    if (r.sgOnC) {
      const s = r.sgOnC;
      acls.push({
        id: "sg-c",
        origin: ref("security-group", "c"),
        rules: [
          {
            uuid: "s1",
            action: "pass" as const,
            protocol: s.proto,
            ethertype: "IPv4" as const,
            src: { kind: "any" as const },
            dst: { kind: "any" as const },
            srcPorts: anyPorts,
            dstPorts: { start: s.port, end: s.port },
          },
        ],
      });
      w.pods[2].sgIngress = ["sg-c"];
    }
    w.acls = acls;
    if (r.fw) {
      const WEB = 0x00010001;
      const NS1 = 0x00030001;
      w.pods[0].tags = [WEB, NS1];
      w.pods[1].tags = [NS1];
      w.pods[3].tags = [WEB];
      const rule =
        r.fw === "web-only"
          ? {
              endpoint1: { kind: "any" as const },
              endpoint2: { kind: "tags" as const, tags: [WEB] },
              matchTags: [],
            }
          : { endpoint1: { kind: "any" as const }, endpoint2: { kind: "any" as const }, matchTags: [0x0003] };
      w.firewallPolicies = [
        {
          id: "fp",
          origin: ref("firewall-policy", "fp"),
          rules: [
            {
              origin: ref("firewall-rule", "fr"),
              sequence: "00001.0",
              action: "pass",
              direction: ">",
              services: [],
              ...rule,
            },
          ],
        },
      ];
      for (const p of w.pods) p.fw = ["fp"];
    }
    if (r.fip)
      w.fips = [
        { address: "10.1.0.200", pod: "i", vn: "red" },
        {
          address: "10.2.0.100",
          pod: "c",
          vn: "blue",
          portMappings: [{ protocol: 6, srcPort: 8000, dstPort: 80 }],
        },
      ];
    if (r.service)
      w.services = [
        {
          vn: "red",
          ip: "10.1.0.250",
          members: ["b", "c"],
          portMappings: [
            { protocol: 6, srcPort: 8080, dstPort: 80 },
            { protocol: 17, srcPort: 53, dstPort: 53 },
          ],
        },
      ];
    w.pods[0].fabricSnat = r.fabricSnat;
    return w;
  });

describe("fast matrix conformance", () => {
  it("property: dry-run verdicts equal probe verdicts", () => {
    fc.assert(
      fc.property(
        worldArb,
        fc.constantFrom("icmp", "tcp", "udp", "sctp"),
        fc.constantFrom(...PORTS),
        (w, proto, port) => {
          const from = [...w.pods.map((p) => p.name), "h"];
          const to = [...from, "10.1.0.200", "10.2.0.100", "10.1.0.250", "192.168.0.11"];
          const packets = simNetwork(w).matrix({ from, to, proto, port });
          const fast = simNetwork(w).matrix({ from, to, proto, port, fast: true });
          expect(fast.text, `packets:\n${packets.text}\nfast:\n${fast.text}`).toBe(packets.text);
        },
      ),
      { numRuns: 80 },
    );
  });
});

/** Every endpoint as a source; every address as a target: pods, both floating IPs, the Service, a compute. */
function endsOf(w: World): { sources: string[]; targets: string[] } {
  return {
    sources: [...w.pods.map((p) => p.name), "h"],
    targets: [...w.pods.map((p) => p.ip), "10.1.0.200", "10.2.0.100", "10.1.0.250", "192.168.0.11"],
  };
}

describe("dry-run pool", () => {
  // the worker entry as `npm run build` ships it (npm test builds before it tests)
  const entry = resolve("dist/ctb/dry-run-worker.js");

  it("property: cells answered on worker threads equal the same cells asked one by one in order", async () => {
    expect(existsSync(entry), `${entry} is missing: run npm run build`).toBe(true);
    await fc.assert(
      fc.asyncProperty(
        worldArb,
        fc.constantFrom("icmp", "tcp", "udp", "sctp"),
        fc.constantFrom(...PORTS),
        async (w, proto, port) => {
          const { sources, targets } = endsOf(w);
          // every pair three times over: later cells get other source ports, so an ECMP Service's member varies
          const from: number[] = [];
          const to: number[] = [];
          for (let round = 0; round < 3; round++)
            for (const i of sources.keys())
              for (const j of targets.keys()) {
                from.push(i);
                to.push(j);
              }
          const one = simNetwork(w);
          const expected = from.map((i, k) => one.reachOutcome(sources[i]!, targets[to[k]!]!, proto, port));
          const batch = {
            proto,
            port,
            sources,
            targets,
            from: Uint32Array.from(from),
            to: Uint32Array.from(to),
          };
          const codes = await reachBatch(simNetwork(w), batch, undefined, { workers: 2, entry });
          expect([...codes].map(outcomeName)).toEqual(expected);
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);
});

describe("dry-run port windows", () => {
  it("property: every port of the window a dry run reports meets the outcome of the port asked", () => {
    fc.assert(
      fc.property(worldArb, fc.constantFrom<"tcp" | "udp" | "sctp">("tcp", "udp", "sctp"), (w, proto) => {
        const net = simNetwork(w);
        const { sources, targets } = endsOf(w);
        let windows = 0;
        for (const from of sources)
          for (const to of targets) {
            // within a window another port may hash to another ECMP member, as another source port does
            if (net.ecmpPossible(to) && to === "10.1.0.250") continue;
            for (let port = 1; port <= 65535; ) {
              const win = new PortWindow(port);
              const outcome = net.reachOutcome(from, to, proto, port, 40000, undefined, win);
              expect(win.lo <= port && port <= win.hi, `${port} outside ${win.lo}-${win.hi}`).toBe(true);
              // the window's ends and middle, and every port the world decides on (with its neighbours) inside it
              const inside = [win.hi, port + ((win.hi - port) >> 1), Math.min(win.hi, port + 1)];
              for (const x of [...PORTS, 8000])
                for (const q of [x - 1, x, x + 1]) if (q >= port && q <= win.hi) inside.push(q);
              for (const q of new Set(inside))
                expect(
                  net.reachOutcome(from, to, proto, q, 40000),
                  `${from} → ${to} ${proto}/${q}: window ${port}-${win.hi} says ${outcome}`,
                ).toBe(outcome);
              port = win.hi + 1;
              windows++;
            }
          }
        // the windows cut the port space only where the tables or a socket decide
        expect(windows).toBeLessThan(sources.length * targets.length * 12);
      }),
      { numRuns: 60 },
    );
  });
});
