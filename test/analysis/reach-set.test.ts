/**
 * All-packets reachability (`ctb reach`, the reach entry's `allows:`): the set of protocols and destination ports
 * that gets through, computed from the pieces of the port space the tables tell apart, must agree with concrete
 * packets — sent through the datapath like any probe — from inside and outside every interval it reports.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatProtoPorts, parseProtoPorts, pieces, portInSet } from "../../fake-vrouter/datapath/port-space";
import { type EnvTestbed, startTestbed } from "../../testbed/env";
import { reachSet } from "../../testbed/runner/reach-set";
import { type RunReport, resolveTarget, runScenario } from "../../testbed/runner/run";
import type { ProbeProto } from "../../testbed/runner/testbed";
import { loadScenario, parseScenario } from "../../testbed/scenario/load";
import { ScenarioError } from "../../testbed/scenario/types";
import { sample, WORLD } from "./fixtures";

describe("port space", () => {
  it("cuts into pieces and prints sets compactly", () => {
    expect(pieces([80, 81, 443, 444])).toEqual([
      { lo: 1, hi: 79 },
      { lo: 80, hi: 80 },
      { lo: 81, hi: 442 },
      { lo: 443, hi: 443 },
      { lo: 444, hi: 65535 },
    ]);
    expect(pieces([0, 65536])).toEqual([{ lo: 1, hi: 65535 }]);
    const set = parseProtoPorts("tcp 443, 80; udp 53; icmp");
    expect(formatProtoPorts(set)).toBe("tcp 80,443; udp 53; icmp");
    expect(formatProtoPorts(parseProtoPorts("tcp"))).toBe("tcp 1-65535");
    expect(formatProtoPorts(parseProtoPorts("sctp *; tcp 8000-8080,8081"))).toBe(
      "tcp 8000-8081; sctp 1-65535",
    );
    expect(formatProtoPorts(parseProtoPorts("nothing"))).toBe("nothing");
    for (const bad of ["http 80", "tcp 0", "tcp 90-80", "icmp 8", "tcp 80; tcp 81", "tcp eighty"])
      expect(() => parseProtoPorts(bad), bad).toThrow();
  });
});

describe.each(["kubernetes", "upstream"])("all-packets reachability, %s layout (sim)", (layout) => {
  let tb: EnvTestbed;
  beforeAll(async () => {
    const scenario = parseScenario(WORLD(layout), "reach-set.yaml");
    tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    const r = await runScenario(scenario, tb);
    expect(r.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
  }, 60_000);
  afterAll(() => tb?.close());

  const pairs = [
    ["shop/client", "shop/web"],
    ["shop/other", "shop/web"],
    ["shop/web", "shop/client"],
    ["shop/client", "service:shop/web"],
    ["shop/other", "service:shop/web"],
  ] as const;

  it.each(pairs)("%s → %s agrees with packets inside and outside every interval", async (from, to) => {
    const dst = await resolveTarget(tb, to);
    const set = await reachSet(tb, from, dst.ip);
    expect(set.bySourcePort).toEqual([]);
    for (const proto of ["tcp", "udp"] as ProbeProto[]) {
      const ports = set.delivered[proto as "tcp" | "udp"];
      for (const port of sample(ports)) {
        const r = await tb.probe({ from, toIp: dst.ip, proto, port, count: 1 });
        const delivered = r.received > 0 || r.refused > 0;
        expect(
          delivered,
          `${from} → ${to} ${proto}/${port}: set says ${formatProtoPorts(set.delivered)}`,
        ).toBe(portInSet(port, ports));
      }
    }
    const icmp = await tb.probe({ from, toIp: dst.ip, proto: "icmp", count: 1 });
    expect(icmp.received > 0).toBe(set.delivered.icmp);
  });

  if (layout === "kubernetes")
    it("the corrected layout lets through what Kubernetes allows, and no more", async () => {
      const web = (await resolveTarget(tb, "shop/web")).ip;
      const svc = (await resolveTarget(tb, "service:shop/web")).ip;
      // ingress of web ∩ egress of client
      expect(formatProtoPorts((await reachSet(tb, "shop/client", web)).delivered)).toBe(
        "tcp 8080,9000-9060; udp 53",
      );
      expect(formatProtoPorts((await reachSet(tb, "shop/client", web)).answered)).toBe(
        "tcp 8080,9050; udp 53",
      );
      expect(formatProtoPorts((await reachSet(tb, "shop/other", web)).delivered)).toBe("nothing");
      // the Service's ports only (its floating IP maps them), then the same policy at the member
      const viaSvc = await reachSet(tb, "shop/client", svc);
      expect(formatProtoPorts(viaSvc.delivered)).toBe("tcp 80; udp 53");
      // what arrives where: the Service's floating IP maps 80 to the pod's 8080, and 53 to 53
      expect(viaSvc.arrivals).toEqual([
        { proto: "tcp", ports: [{ lo: 80, hi: 80 }], at: [`shop/web ${web}:8080`] },
        { proto: "udp", ports: [{ lo: 53, hi: 53 }], at: [`shop/web ${web}:53`] },
      ]);
    });
});

async function runText(text: string): Promise<RunReport> {
  const scenario = parseScenario(text, "allows.yaml");
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    return await runScenario(scenario, tb);
  } finally {
    await tb.close();
  }
}

describe("reach: allows", () => {
  it("passes on the exact set and fails naming both sets otherwise", async () => {
    const r = await runText(`${WORLD("kubernetes")}  - reach:
      - { from: shop/client, to: shop/web, allows: "tcp 8080,9000-9060; udp 53" }
      - { from: shop/client, to: shop/web, allows: "tcp 8080" }
      - { from: shop/other, to: shop/web, allows: nothing }
`);
    const reach = r.checks.filter((c) => c.kind === "reach");
    expect(reach.map((c) => c.verdict)).toEqual(["pass", "fail", "pass"]);
    expect(reach[1]!.detail).toContain("expected tcp 8080, got tcp 8080,9000-9060; udp 53");
    expect(reach[1]!.output).toContain("gets through: tcp 8080,9000-9060; udp 53");
  }, 60_000);

  it("refuses, at the entry's line, allows with a probe's fields or a set it cannot read", () => {
    const base = "name: x\nsteps:\n  - reach:\n";
    const bad: [string, RegExp][] = [
      [
        '      - { from: a/b, to: a/c, allows: "tcp 80", proto: tcp }\n',
        /allows is the whole expectation; proto/,
      ],
      [
        '      - { from: a/b, to: a/c, allows: "http 80" }\n',
        /allows "http 80": "http 80" does not start with tcp/,
      ],
      ["      - { from: a/b, to: a/c }\n", /needs expect: allow or deny \(or allows/],
    ];
    for (const [entry, msg] of bad) {
      let err: unknown;
      try {
        parseScenario(base + entry, "x.yaml");
      } catch (e) {
        err = e;
      }
      expect(err, entry).toBeInstanceOf(ScenarioError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).toMatch(/x\.yaml:4/);
    }
  });
});

describe("a Service whose members differ", () => {
  it("says the ports whose fate the ECMP member decides, apart from the set", async () => {
    const scenario = parseScenario(
      `name: ecmp
controller: { model: r5, netpolLayout: kubernetes }
nodes: [n1, n2]
steps:
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: web-a, namespace: default, labels: { app: web, open: "yes" } }
      spec: { nodeName: n1, containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: web-b, namespace: default, labels: { app: web } }
      spec: { nodeName: n2, containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: client, namespace: default }
      spec: { nodeName: n2, containers: [{ name: c, image: agnhost }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec: { selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
      ---
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: closed, namespace: default }
      spec:
        podSelector: { matchExpressions: [{ key: open, operator: DoesNotExist }, { key: app, operator: In, values: [web] }] }
        policyTypes: [Ingress]
  - pods: [{ namespace: default, count: 3, phase: Running }]
`,
      "ecmp.yaml",
    );
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    try {
      await runScenario(scenario, tb);
      const svc = await resolveTarget(tb, "service:default/web");
      const set = await reachSet(tb, "default/client", svc.ip);
      expect(formatProtoPorts(set.delivered)).toBe("nothing");
      expect(set.bySourcePort).toEqual([
        expect.objectContaining({ proto: "tcp", ports: [{ lo: 80, hi: 80 }], ecmp: true }),
      ]);
      // and the packets agree: from some source ports the connection is answered, from others not
      const answered = new Set<boolean>();
      for (let sport = 40000; sport < 40040; sport++)
        answered.add(
          (await tb.probe({ from: "default/client", toIp: svc.ip, proto: "tcp", port: 80, count: 1, sport }))
            .received > 0,
        );
      expect([...answered].sort()).toEqual([false, true]);
    } finally {
      await tb.close();
    }
  }, 60_000);
});

describe("a fabric host on the compute's own subnet (on-link: the fabric next-hop is the host itself)", () => {
  it("gets what reaches it from pods, as packets say (ip-fabric.yaml)", async () => {
    const scenario = loadScenario("scenarios/ip-fabric.yaml");
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    try {
      const r = await runScenario(scenario, tb);
      expect(r.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
      const ntp = (await resolveTarget(tb, "host:ntp")).ip;
      for (const from of ["default/web1", "default/web2", "overlay/web3", "snat/web4"]) {
        const set = await reachSet(tb, from, ntp);
        for (const [proto, port] of [
          ["udp", 123],
          ["tcp", 443],
          ["tcp", 80],
        ] as const) {
          const p = await tb.probe({ from, toIp: ntp, proto, port, count: 1 });
          expect(portInSet(port, set.delivered[proto]), `${from} → host:ntp ${proto}/${port}`).toBe(
            p.received > 0 || p.refused > 0,
          );
        }
      }
      // ip-fabric forwarding: straight onto the underlay, so the host's own answers go back
      expect(formatProtoPorts((await reachSet(tb, "default/web1", ntp)).answered)).toBe(
        "tcp 443; udp 123; icmp",
      );
    } finally {
      await tb.close();
    }
  }, 60_000);
});
