/**
 * Policy through the simulated network: network-policy ACLs (allow, deny, implicit deny), security groups,
 * firewall policies (tags, match_tags, ordering), statefulness, and flow revalidation on new tables.
 */
import { describe, expect, it } from "vitest";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import type { Acl, AclRule, FirewallPolicy, FirewallRule } from "../../fake-vrouter/tables";
import { pod } from "./frames";
import { anyPorts, ref, simNetwork, tablesFor, twoComputes, vnName, type World } from "./world";

function rule(uuid: string, action: "pass" | "deny", fields: Partial<AclRule> = {}): AclRule {
  return {
    uuid,
    action,
    protocol: "any",
    ethertype: "IPv4",
    src: { kind: "any" },
    dst: { kind: "any" },
    srcPorts: anyPorts,
    dstPorts: anyPorts,
    ...fields,
  };
}

function acl(id: string, rules: AclRule[], type = "network-policy"): Acl {
  return { id, origin: ref(type, id, { kind: "NetworkPolicy", namespace: "default", name: id }), rules };
}

const APP = 0x0001;
const NS = 0x0003;
const tag = (type: number, value: number) => ((type << 16) | value) >>> 0;
const WEB = tag(APP, 1);
const DB = tag(APP, 2);
const NS_A = tag(NS, 1);
const NS_B = tag(NS, 2);

function fwRule(seq: string, action: "pass" | "deny", fields: Partial<FirewallRule> = {}): FirewallRule {
  return {
    origin: ref("firewall-rule", `fr-${seq}`, {
      kind: "NetworkPolicy",
      namespace: "default",
      name: `np-${seq}`,
    }),
    sequence: seq,
    action,
    direction: ">",
    endpoint1: { kind: "any" },
    endpoint2: { kind: "any" },
    services: [],
    matchTags: [],
    ...fields,
  };
}

function fwPolicy(id: string, rules: FirewallRule[]): FirewallPolicy {
  return { id, origin: ref("firewall-policy", id), rules };
}

const tcpService = (port: number) => ({
  protocol: 6,
  srcPorts: anyPorts,
  dstPorts: { start: port, end: port },
});

function verdict(w: World, from: string, to: string, proto: "icmp" | "tcp" | "udp" | "sctp", port?: number) {
  const net = simNetwork(w);
  const target = pod(w, to).ip;
  return net.probe({ from, to: target, proto, port });
}

describe("network-policy ACL", () => {
  const world = () => {
    const w = twoComputes();
    w.vns[0].acl = "red-acl";
    w.acls = [
      acl("red-acl", [
        rule("r1", "pass", {
          protocol: 6,
          dstPorts: { start: 80, end: 80 },
          src: { kind: "vn", name: vnName("red") },
          dst: { kind: "vn", name: vnName("red") },
        }),
        rule("r2", "deny", { protocol: 17 }),
      ]),
    ];
    return w;
  };
  it.each([
    ["tcp/80 matches the pass rule", "tcp", 80, "allow", undefined],
    ["udp matches the explicit deny rule", "udp", 53, "deny", "r2"],
    ["icmp matches nothing: implicit deny", "icmp", undefined, "deny", undefined],
    ["tcp/8080 matches nothing: implicit deny", "tcp", 8080, "deny", undefined],
  ] as const)("%s", (_n, proto, port, expected, ruleUuid) => {
    const r = verdict(world(), "a", "c", proto, port);
    expect(r.verdict, formatTrace(r.trace)).toBe(expected);
    if (expected === "deny") {
      expect(r.drop?.reason).toBe("FLOW_ACTION_DROP");
      expect(r.drop?.step.stage).toBe("network-policy");
      expect(r.drop?.step.rule).toBe(ruleUuid);
      expect(r.drop?.step.ref?.k8s).toEqual({ kind: "NetworkPolicy", namespace: "default", name: "red-acl" });
    }
  });
  it("the destination VN's ACL is evaluated too for a local flow", () => {
    const w = twoComputes();
    w.vns[1].imports = ["red"];
    w.vns[0].imports = ["blue"];
    w.pods.push({
      name: "e",
      compute: "compute-1",
      vif: 5,
      ip: "10.2.0.5",
      vn: "blue",
      listen: { tcp: [80] },
    });
    w.vns[1].acl = "blue-acl";
    w.acls = [
      acl("blue-acl", [rule("b1", "deny", { src: { kind: "vn", name: vnName("red") } }), rule("b2", "pass")]),
    ];
    const r = verdict(w, "a", "e", "tcp", 80);
    expect(r.drop?.step.rule, formatTrace(r.trace)).toBe("b1");
    expect(verdict(w, "e", "a", "tcp", 80).verdict).toBe("allow");
  });
});

describe("security groups", () => {
  const world = () => {
    const w = twoComputes();
    w.acls = [
      acl(
        "sg-web-in",
        [
          rule("in-80", "pass", {
            protocol: 6,
            dstPorts: { start: 80, end: 80 },
            src: { kind: "sg", id: 7 },
          }),
        ],
        "security-group",
      ),
      acl("sg-any-out", [rule("out-all", "pass")], "security-group"),
      acl("sg-none-out", [], "security-group"),
    ];
    Object.assign(pod(w, "a"), { sgIds: [7], sgEgress: ["sg-any-out"] });
    Object.assign(pod(w, "c"), { sgIds: [8], sgIngress: ["sg-web-in"] });
    return w;
  };
  it("ingress SG of the destination allows tcp/80 from members of SG 7", () => {
    expect(verdict(world(), "a", "c", "tcp", 80).verdict).toBe("allow");
  });
  it("other ports are implicitly denied by the ingress SG", () => {
    const r = verdict(world(), "a", "c", "tcp", 8080);
    expect(r.drop?.reason).toBe("FLOW_ACTION_DROP");
    expect(r.drop?.step.stage).toBe("security-group");
    expect(r.drop?.compute).toBe("compute-2");
  });
  it("a source outside SG 7 is denied", () => {
    const w = world();
    pod(w, "b").sgIds = [9];
    expect(verdict(w, "b", "c", "tcp", 80).verdict).toBe("deny");
  });
  it("an egress SG with no rules denies at the source compute", () => {
    const w = world();
    pod(w, "a").sgEgress = ["sg-none-out"];
    const r = verdict(w, "a", "c", "tcp", 80);
    expect(r.drop?.compute).toBe("compute-1");
    expect(r.drop?.step.stage).toBe("security-group");
  });
  it("replies of an allowed flow pass although the reverse direction is denied (stateful)", () => {
    const w = world();
    // c may not open anything towards a: a accepts nothing.
    w.acls!.push(acl("sg-closed-in", [], "security-group"));
    pod(w, "a").sgIngress = ["sg-closed-in"];
    const net = simNetwork(w);
    const ok = net.probe({ from: "a", to: "10.1.0.5", proto: "tcp", port: 80 });
    expect(ok.verdict, formatTrace(ok.trace)).toBe("allow");
    expect(ok.trace.some((s) => s.compute === "compute-1" && s.detail.includes("hit reverse flow"))).toBe(
      true,
    );
    const back = net.probe({ from: "c", to: "10.1.0.3", proto: "tcp", port: 80 });
    expect(back.verdict).toBe("deny");
    expect(back.drop?.compute).toBe("compute-1");
  });
});

describe("firewall policies", () => {
  const world = (rules: FirewallRule[], extra: FirewallPolicy[] = []) => {
    const w = twoComputes();
    w.firewallPolicies = [fwPolicy("fp-1", rules), ...extra];
    Object.assign(pod(w, "a"), { tags: [WEB, NS_A], fw: ["fp-1", ...extra.map((p) => p.id)] });
    Object.assign(pod(w, "b"), { tags: [WEB, NS_B], fw: ["fp-1", ...extra.map((p) => p.id)] });
    Object.assign(pod(w, "c"), { tags: [DB, NS_A], fw: ["fp-1", ...extra.map((p) => p.id)] });
    return w;
  };
  it("tag endpoints: web → db on tcp/80 passes, db → web is implicitly denied", () => {
    const w = world([
      fwRule("00001.0", "pass", {
        endpoint1: { kind: "tags", tags: [WEB] },
        endpoint2: { kind: "tags", tags: [DB] },
        services: [tcpService(80)],
      }),
    ]);
    expect(verdict(w, "a", "c", "tcp", 80).verdict).toBe("allow");
    const r = verdict(w, "c", "a", "tcp", 80);
    expect(r.drop?.step.stage).toBe("firewall-policy");
    expect(r.drop?.step.detail).toContain("implicit deny");
  });
  it("the remote end's tags come from the route", () => {
    const w = world([
      fwRule("00001.0", "pass", { endpoint1: { kind: "any" }, endpoint2: { kind: "tags", tags: [DB] } }),
    ]);
    expect(verdict(w, "a", "c", "icmp").verdict).toBe("allow");
    expect(verdict(w, "a", "b", "icmp").verdict).toBe("deny");
  });
  it("match_tags requires equal namespace tags on both ends", () => {
    const w = world([fwRule("00001.0", "pass", { matchTags: [NS] })]);
    expect(verdict(w, "a", "c", "icmp").verdict).toBe("allow"); // NS_A ↔ NS_A
    expect(verdict(w, "a", "b", "icmp").verdict).toBe("deny"); // NS_A ↔ NS_B
  });
  it("rules are ordered and terminal: an earlier deny wins over a later pass", () => {
    const deny = fwRule("00001.0", "deny", {
      endpoint2: { kind: "tags", tags: [DB] },
      services: [tcpService(80)],
    });
    const pass = fwRule("00002.0", "pass");
    const r = verdict(world([deny, pass]), "a", "c", "tcp", 80);
    expect(r.drop?.step.ref?.uuid).toBe("firewall-rule-fr-00001.0");
    expect(verdict(world([deny, pass]), "a", "c", "tcp", 8080).verdict).toBe("allow");
  });
  it("policies are evaluated in the vif's order (global APS first)", () => {
    const w = world(
      [fwRule("00001.0", "deny", { services: [tcpService(80)] })],
      [fwPolicy("fp-2", [fwRule("00001.0", "pass")])],
    );
    expect(verdict(w, "a", "c", "tcp", 80).verdict).toBe("deny");
    expect(verdict(w, "a", "c", "tcp", 8080).verdict).toBe("allow");
  });
  it("<> matches both directions", () => {
    const w = world([
      fwRule("00001.0", "pass", {
        direction: "<>",
        endpoint1: { kind: "tags", tags: [DB] },
        endpoint2: { kind: "tags", tags: [WEB] },
      }),
    ]);
    expect(verdict(w, "a", "c", "icmp").verdict).toBe("allow");
    expect(verdict(w, "c", "a", "icmp").verdict).toBe("allow");
  });
  it("address-group and subnet endpoints match on the address", () => {
    const w = world([
      fwRule("00001.0", "pass", {
        endpoint1: { kind: "address-group", prefixes: ["10.1.0.3/32"], origin: ref("address-group", "ag") },
        endpoint2: { kind: "subnet", cidr: "10.1.0.0/24" },
      }),
    ]);
    expect(verdict(w, "a", "c", "icmp").verdict).toBe("allow");
    expect(verdict(w, "b", "c", "icmp").verdict).toBe("deny");
  });
});

describe("flow revalidation on install", () => {
  it("a new policy that denies evicts the flow; the next packet is dropped", () => {
    const w = twoComputes();
    const net = simNetwork(w);
    expect(net.probe({ from: "a", to: "10.1.0.4", proto: "icmp", count: 1 }).verdict).toBe("allow");
    expect(net.datapath("compute-1")!.stats().flows).toBe(2);
    w.vns[0].acl = "red-acl";
    w.acls = [acl("red-acl", [rule("deny-icmp", "deny", { protocol: 1 }), rule("pass", "pass")])];
    net.setTables("compute-1", tablesFor(w, "compute-1"));
    expect(net.datapath("compute-1")!.stats().flows).toBe(0);
    const r = net.probe({ from: "a", to: "10.1.0.4", proto: "icmp" });
    expect(r.drop?.step.rule).toBe("deny-icmp");
  });
  it("flows whose decision is unchanged survive a new config version", () => {
    const w = twoComputes();
    const net = simNetwork(w);
    net.probe({ from: "a", to: "10.1.0.4", proto: "udp", port: 53 });
    const before = net.datapath("compute-1")!.stats().flows;
    net.setTables("compute-1", { ...tablesFor(w, "compute-1"), configVersion: 2 });
    expect(net.datapath("compute-1")!.stats().flows).toBe(before);
  });
});

describe("reachability matrix", () => {
  it("renders the netpol truth table: a blocked column for a pod behind a deny-all ingress SG (its own address stays local)", () => {
    const w = twoComputes();
    w.acls = [acl("closed", [], "security-group")];
    pod(w, "c").sgIngress = ["closed"];
    const m = simNetwork(w).matrix({ from: ["a", "b", "c"], to: ["a", "b", "c"], proto: "tcp", port: 80 });
    expect(m.text).toBe(["  a b c", "a . . X", "b . . X", "c . . ."].join("\n"));
    expect(m.allowed[0]).toEqual([true, true, false]);
  });
});
