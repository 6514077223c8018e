/**
 * The pure pieces of NetworkPolicy translation: Kubernetes label-selector semantics and exact ipBlock
 * `except` subtraction (property-tested: an address is covered iff it is in the cidr and in no except).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../controller/config";
import { emptySnapshot, emptyView, Layout, putObject, translateAll } from "../../controller/translate";
import {
  policyInvolvedPods,
  policyInvolvedPodsByAnalysis,
  selects,
  subtractCidrs,
} from "../../controller/translate/netpol";
import { worldArb } from "../oracle/worlds";
import { node, ns, pod } from "./fake-kube";

const toInt = (ip: string) => ip.split(".").reduce((a, o) => (a << 8) | Number(o), 0) >>> 0;
const inCidr = (ip: number, cidr: string) => {
  const [base, len] = cidr.split("/");
  const l = Number(len);
  return l === 0 || (ip ^ toInt(base)) >>> (32 - l) === 0;
};
const fromInt = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");

describe("selects", () => {
  const labels = { app: "web", tier: "front" };
  const cases: [string, object | undefined, boolean][] = [
    ["no selector", undefined, true],
    ["empty selector", {}, true],
    ["matchLabels hit", { matchLabels: { app: "web" } }, true],
    ["matchLabels miss", { matchLabels: { app: "db" } }, false],
    ["In", { matchExpressions: [{ key: "tier", operator: "In", values: ["back", "front"] }] }, true],
    ["NotIn", { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }, false],
    ["NotIn absent key", { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, true],
    ["Exists", { matchExpressions: [{ key: "app", operator: "Exists" }] }, true],
    ["DoesNotExist", { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, false],
    [
      "AND of both forms",
      { matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "In", values: ["x"] }] },
      false,
    ],
    ["unknown operator", { matchExpressions: [{ key: "app", operator: "Contains", values: ["w"] }] }, false],
  ];
  for (const [name, sel, want] of cases) it(name, () => expect(selects(sel, labels)).toBe(want));
});

describe("subtractCidrs", () => {
  it("splits around an except", () => {
    expect(subtractCidrs("192.168.0.0/16", ["192.168.1.0/24"])).toEqual([
      "192.168.0.0/24",
      "192.168.2.0/23",
      "192.168.4.0/22",
      "192.168.8.0/21",
      "192.168.16.0/20",
      "192.168.32.0/19",
      "192.168.64.0/18",
      "192.168.128.0/17",
    ]);
    expect(subtractCidrs("10.0.0.0/8", [])).toEqual(["10.0.0.0/8"]);
    expect(subtractCidrs("10.0.0.0/8", ["10.0.0.0/8"])).toEqual([]);
    expect(subtractCidrs("10.1.2.3/24", ["172.16.0.0/12"])).toEqual(["10.1.2.0/24"]);
  });

  it("covers exactly the cidr minus the excepts", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 24 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 20, max: 30 })), {
          maxLength: 4,
        }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 20, maxLength: 20 }),
        (len, excepts, probes) => {
          const cidr = `10.20.0.0/${len}`;
          const ex = excepts.map(([o, l]) => {
            const n = (toInt("10.20.0.0") + (o << 8)) >>> 0;
            const masked = (n & (~0 << (32 - l))) >>> 0;
            return `${fromInt(masked)}/${l}`;
          });
          const out = subtractCidrs(cidr, ex);
          for (const p of probes) {
            const ip = (toInt("10.20.0.0") + p) >>> 0;
            const want = inCidr(ip, cidr) && !ex.some((e) => inCidr(ip, e));
            if (out.some((c) => inCidr(ip, c)) !== want) return false;
          }
          return true;
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("NetworkPolicy the controller cannot translate as written: a warning, never a crash", () => {
  const world = (layout: "upstream" | "kubernetes") => {
    const snap = emptySnapshot();
    snap.nodes.set("n1", node("n1", "10.0.0.1"));
    snap.namespaces.set("x", ns("x"));
    const a = {
      ...pod("x", "a", "n1", { pod: "a" }),
      metadata: { name: "a", namespace: "x", uid: "u-a", labels: { pod: "a" } },
    };
    snap.pods.set("x/a", a);
    snap.networkpolicies.set("x/p", {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "p", namespace: "x" },
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ ports: [{ port: "no-such-port", protocol: "TCP" }] }],
      },
    });
    const cfg = { ...defaultConfig("r5"), netpolLayout: layout };
    return translateAll(snap, cfg, emptyView()).flatMap((u) => u.warnings);
  };

  it("upstream layout: a named port makes kube-manager's firewall-rule invalid, so the policy is left out", () => {
    expect(world("upstream")).toContainEqual(
      expect.stringMatching(/^networkpolicy x\/p: named port "no-such-port": .*the policy is not applied$/),
    );
  });

  it("kubernetes layout: a named port no pod declares is named", () => {
    expect(world("kubernetes")).toContainEqual(
      expect.stringMatching(/^networkpolicy x\/p: named port "no-such-port" \(TCP\) is declared by no pod/),
    );
  });
});

describe("pods the kubernetes layout's policies involve", () => {
  it("property: the indexed selection finds exactly the pods the full analysis involves", () => {
    const layout = new Layout({ ...defaultConfig("r5"), netpolLayout: "kubernetes" });
    fc.assert(
      fc.property(worldArb, ({ world }) => {
        const snap = emptySnapshot();
        for (const n of world.namespaces) putObject(snap, "namespaces", n);
        // every pod has an interface (a node and a uid), one sits on no node (no interface: never involved)
        for (const [i, p] of world.pods.entries())
          putObject(snap, "pods", {
            ...p,
            metadata: { ...p.metadata, uid: `uid-${i}` },
            spec: { ...p.spec, ...(i === 0 ? {} : { nodeName: "n1" }) },
          });
        for (const np of world.policies) putObject(snap, "networkpolicies", np);
        expect([...policyInvolvedPods(layout, snap)].sort()).toEqual(
          [...policyInvolvedPodsByAnalysis(layout, snap)].sort(),
        );
      }),
      { numRuns: 300 },
    );
  });
});
