/**
 * The firewall rule index decides exactly as a scan of every rule in order: same verdict, same deciding policy
 * and rule (the divergence report names it), same implicit deny — on random policy lists mixing tag, any,
 * address-group, VN and subnet endpoints, both directions, services and match-tags.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  evaluateFirewall,
  evaluateFirewallByScan,
  type PolicyTuple,
} from "../../fake-vrouter/datapath/policy";
import type { FirewallEndpoint, FirewallPolicy, FirewallRule } from "../../fake-vrouter/tables";

const TAGS = [0x10001, 0x10002, 0x20001, 0x20002, 0x30001, 0x40005];
const IPS = ["10.0.0.1", "10.0.0.2", "10.1.0.1", "192.168.1.7"];

const endpoint: fc.Arbitrary<FirewallEndpoint> = fc.oneof(
  fc.constant({ kind: "any" } as const),
  fc.subarray(TAGS, { minLength: 0, maxLength: 3 }).map((tags) => ({ kind: "tags" as const, tags })),
  fc.constantFrom("10.0.0.0/24", "10.1.0.0/16").map((c) => ({
    kind: "address-group" as const,
    prefixes: [c],
    origin: { type: "address-group", uuid: "ag", fqName: ["ag"] },
  })),
  fc.constantFrom("vn-a", "vn-b").map((name) => ({ kind: "vn" as const, name })),
  fc.constantFrom("10.0.0.0/8", "192.168.0.0/16").map((cidr) => ({ kind: "subnet" as const, cidr })),
);

const rule: fc.Arbitrary<Omit<FirewallRule, "origin" | "sequence">> = fc.record({
  action: fc.constantFrom("pass", "deny"),
  direction: fc.constantFrom(">", "<>"),
  endpoint1: endpoint,
  endpoint2: endpoint,
  services: fc.array(
    fc.record({
      protocol: fc.constantFrom(6, 17, "any" as const),
      srcPorts: fc.constant({ start: 0, end: 65535 }),
      dstPorts: fc.constantFrom({ start: 80, end: 80 }, { start: 80, end: 90 }, { start: 0, end: 65535 }),
    }),
    { maxLength: 2 },
  ),
  matchTags: fc.subarray([1, 2], { maxLength: 1 }),
});

const policies = fc.array(fc.array(rule, { maxLength: 6 }), { minLength: 0, maxLength: 6 }).map((ps) =>
  ps.map(
    (rules, i): FirewallPolicy => ({
      id: `fp-${i}`,
      origin: { type: "firewall-policy", uuid: `fp-${i}`, fqName: [`fp-${i}`] },
      rules: rules.map((r, j) => ({
        ...r,
        origin: { type: "firewall-rule", uuid: `r-${i}-${j}`, fqName: [`r-${i}-${j}`] },
        sequence: String(j).padStart(5, "0"),
      })),
    }),
  ),
);

const end = fc.record({
  ip: fc.constantFrom(...IPS),
  vns: fc.subarray(["vn-a", "vn-b"], { maxLength: 1 }),
  sgIds: fc.constant([] as number[]),
  tags: fc.subarray(TAGS),
});

describe("firewall rule index", () => {
  it("finds the rule a scan in order finds, for any policies and flow", () => {
    fc.assert(
      fc.property(
        policies,
        fc.array(fc.constantFrom("fp-0", "fp-1", "fp-2", "fp-3", "fp-4", "fp-5", "fp-missing"), {
          maxLength: 7,
        }),
        fc.array(
          fc.record({
            proto: fc.constantFrom(1, 6, 17),
            sport: fc.constant(40000),
            dport: fc.constantFrom(53, 80, 85, 443),
            src: end,
            dst: end,
          }),
          { minLength: 1, maxLength: 8 },
        ),
        (ps, ids, tuples: PolicyTuple[]) => {
          const map = new Map(ps.map((p) => [p.id, p]));
          for (const t of tuples) {
            const a = evaluateFirewall(ids, map, t);
            const b = evaluateFirewallByScan(ids, map, t);
            expect(a.action).toBe(b.action);
            expect(a.implicit).toBe(b.implicit);
            expect(a.policy?.id).toBe(b.policy?.id);
            expect(a.rule?.origin.uuid).toBe(b.rule?.origin.uuid);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
