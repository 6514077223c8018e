import { describe, expect, it } from "vitest";
import {
  compileSecurityGroupAcls,
  compileVirtualNetworkAcl,
  protocolToAcl,
  RULE_IMPLICIT_ALLOW_UUID,
  RULE_IMPLICIT_DENY_UUID,
  vnsByPolicy,
} from "../../fake-contrail-api/daemons/acl-compiler";
import type {
  NetworkPolicy,
  PolicyRuleType,
  SecurityGroup,
  VirtualNetwork,
} from "../../fake-contrail-api/daemons/vnc-objects";

const P = ["default-domain", "k8s-default"];
const vn = (name: string, policies: [string, number, number][] = []): VirtualNetwork => ({
  uuid: `vn-${name}`,
  fq_name: [...P, name],
  network_policy_refs: policies.map(([p, major, minor]) => ({
    to: [...P, p],
    uuid: `np-${p}`,
    attr: { sequence: { major, minor } },
  })),
});
const policy = (name: string, rules: PolicyRuleType[]): NetworkPolicy => ({
  uuid: `np-${name}`,
  fq_name: [...P, name],
  network_policy_entries: { policy_rule: rules },
});
const any = { start_port: -1, end_port: -1 };
const rule = (r: Partial<PolicyRuleType>): PolicyRuleType => ({
  direction: "<>",
  protocol: "any",
  src_addresses: [{ virtual_network: "local" }],
  dst_addresses: [{ virtual_network: "any" }],
  src_ports: [any],
  dst_ports: [any],
  action_list: { simple_action: "pass" },
  ...r,
});
const fq = (name: string) => [...P, name].join(":");

function compile(target: VirtualNetwork, policies: NetworkPolicy[], allVns: VirtualNetwork[] = [target]) {
  const notes: string[] = [];
  const acl = compileVirtualNetworkAcl(
    target,
    new Map(policies.map((p) => [p.fq_name.join(":"), p])),
    vnsByPolicy(allVns),
    notes,
  );
  return { acl, notes };
}

describe("network policy → VN ACL", () => {
  it("has no ACL when no policy is attached (traffic of the VN is not policed)", () => {
    expect(compile(vn("pods"), []).acl).toBeUndefined();
  });

  it("compiles a <> rule into forward and reverse rules, then appends my-vn pass and any deny", () => {
    const pods = vn("pods", [["pods-to-svc", 0, 0]]);
    const np = policy("pods-to-svc", [
      rule({
        rule_uuid: "r1",
        protocol: "tcp",
        dst_addresses: [{ virtual_network: fq("services") }],
        src_ports: [{ start_port: 0, end_port: 65535 }],
        dst_ports: [{ start_port: 80, end_port: 80 }],
      }),
    ]);
    const { acl } = compile(pods, [np]);
    expect(acl?.dynamic).toBe(false);
    expect(acl?.acl_rule).toEqual([
      {
        match_condition: {
          protocol: "6",
          src_address: { virtual_network: fq("pods") },
          src_port: { start_port: 0, end_port: 65535 },
          dst_address: { virtual_network: fq("services") },
          dst_port: { start_port: 80, end_port: 80 },
        },
        action_list: { simple_action: "pass" },
        rule_uuid: "r1",
        direction: ">",
      },
      {
        match_condition: {
          protocol: "6",
          src_address: { virtual_network: fq("services") },
          src_port: { start_port: 80, end_port: 80 },
          dst_address: { virtual_network: fq("pods") },
          dst_port: { start_port: 0, end_port: 65535 },
        },
        action_list: { simple_action: "pass" },
        rule_uuid: "r1",
        direction: ">",
      },
      {
        match_condition: {
          protocol: "any",
          src_address: { virtual_network: fq("pods") },
          src_port: { start_port: 0, end_port: 65535 },
          dst_address: { virtual_network: fq("pods") },
          dst_port: { start_port: 0, end_port: 65535 },
        },
        action_list: { simple_action: "pass" },
        rule_uuid: RULE_IMPLICIT_ALLOW_UUID,
      },
      {
        match_condition: {
          protocol: "any",
          src_address: { virtual_network: "any" },
          src_port: { start_port: 0, end_port: 65535 },
          dst_address: { virtual_network: "any" },
          dst_port: { start_port: 0, end_port: 65535 },
        },
        action_list: { simple_action: "deny" },
        rule_uuid: RULE_IMPLICIT_DENY_UUID,
      },
    ]);
  });

  it("orders policies by sequence (major, minor), not by ref order", () => {
    const a = policy("a", [rule({ protocol: "udp", dst_addresses: [{ virtual_network: fq("x") }] })]);
    const b = policy("b", [rule({ protocol: "tcp", dst_addresses: [{ virtual_network: fq("x") }] })]);
    const { acl } = compile(
      vn("pods", [
        ["a", 0, 2],
        ["b", 0, 1],
      ]),
      [a, b],
    );
    expect(acl?.acl_rule.slice(0, 4).map((r) => r.match_condition.protocol)).toEqual(["6", "6", "17", "17"]);
  });

  it("skips a policy ref without a sequence and says so", () => {
    const v = vn("pods");
    v.network_policy_refs = [{ to: [...P, "a"], uuid: "np-a", attr: null }];
    const { acl, notes } = compile(v, [policy("a", [rule({})])]);
    expect(acl).toBeUndefined();
    expect(notes.join()).toMatch(/no sequence/);
  });

  it("drops rules where neither end is this VN", () => {
    const np = policy("p", [
      rule({ src_addresses: [{ virtual_network: fq("a") }], dst_addresses: [{ virtual_network: fq("b") }] }),
    ]);
    const { acl } = compile(vn("pods", [["p", 0, 0]]), [np]);
    expect(acl?.acl_rule.map((r) => r.rule_uuid)).toEqual([
      RULE_IMPLICIT_ALLOW_UUID,
      RULE_IMPLICIT_DENY_UUID,
    ]);
  });

  it("drops a rule shadowed by an earlier one, whatever its action", () => {
    const np = policy("p", [
      rule({ rule_uuid: "allow-all", dst_addresses: [{ virtual_network: "any" }] }),
      rule({ rule_uuid: "deny-web", protocol: "tcp", action_list: { simple_action: "deny" } }),
    ]);
    const { acl } = compile(vn("pods", [["p", 0, 0]]), [np]);
    // local↔any pass covers both halves of the deny rule and my-vn→my-vn; any→any deny is broader.
    expect(acl?.acl_rule.map((r) => r.rule_uuid)).toEqual([
      "allow-all",
      "allow-all",
      RULE_IMPLICIT_DENY_UUID,
    ]);
  });

  it("expands a network_policy address into the VNs attached to that policy", () => {
    const np = policy("mesh", [rule({ dst_addresses: [{ network_policy: fq("mesh") }], direction: ">" })]);
    const a = vn("a", [["mesh", 0, 0]]);
    const b = vn("b", [["mesh", 0, 0]]);
    const { acl } = compile(a, [np], [a, b]);
    expect(acl?.acl_rule.slice(0, 2).map((r) => [r.match_condition.dst_address, r.direction])).toEqual([
      [{ virtual_network: fq("a") }, ">"],
      [{ virtual_network: fq("b") }, ">"],
    ]);
  });

  it("keeps subnet-only rules and service-chain rules with their apply_service", () => {
    const np = policy("p", [
      rule({
        rule_uuid: "cidr",
        src_addresses: [{ subnet: { ip_prefix: "10.0.0.0", ip_prefix_len: 8 } }],
        dst_addresses: [{ subnet: { ip_prefix: "192.168.0.0", ip_prefix_len: 16 } }],
      }),
      rule({
        rule_uuid: "chain",
        action_list: { simple_action: "pass", apply_service: ["default-domain:p:si"] },
      }),
    ]);
    const { acl, notes } = compile(vn("pods", [["p", 0, 0]]), [np]);
    expect(acl?.acl_rule.map((r) => r.rule_uuid)).toContain("cidr");
    const chain = acl?.acl_rule.find((r) => r.rule_uuid === "chain");
    expect(chain?.action_list).toEqual({ simple_action: "pass", apply_service: ["default-domain:p:si"] });
    expect(notes).toEqual([]);
  });

  it("reports an unknown protocol and leaves the rule out", () => {
    const { acl, notes } = compile(vn("pods", [["p", 0, 0]]), [policy("p", [rule({ protocol: "gopher" })])]);
    expect(acl?.acl_rule).toHaveLength(2);
    expect(notes.join()).toMatch(/unknown protocol "gopher"/);
  });

  it("maps protocol names to numbers (icmp under IPv6 is 58)", () => {
    expect(protocolToAcl("TCP")).toBe("6");
    expect(protocolToAcl("icmp", "IPv6")).toBe("58");
    expect(protocolToAcl("icmp", "IPv4")).toBe("1");
    expect(protocolToAcl("132")).toBe("132");
    expect(protocolToAcl("300")).toBeUndefined();
    expect(protocolToAcl("any")).toBe("any");
  });
});

describe("security group → ingress/egress ACLs", () => {
  const sgFq = ["default-domain", "k8s-default", "k8s-default-default-sg"];
  const sg = (rules: PolicyRuleType[], id?: number): SecurityGroup => ({
    uuid: "sg-1",
    fq_name: sgFq,
    ...(id === undefined ? {} : { security_group_id: id }),
    security_group_entries: { policy_rule: rules },
  });
  const sgRule = (r: Partial<PolicyRuleType>): PolicyRuleType => ({
    direction: ">",
    protocol: "any",
    ethertype: "IPv4",
    src_ports: [{ start_port: 0, end_port: 65535 }],
    dst_ports: [{ start_port: 0, end_port: 65535 }],
    ...r,
  });

  it("splits rules by which end is local and turns SG names into ids", () => {
    const other = "default-domain:k8s-default:web-sg";
    const acls = compileSecurityGroupAcls(
      sg(
        [
          sgRule({
            rule_uuid: "in-any",
            src_addresses: [{ security_group: "any" }],
            dst_addresses: [{ security_group: "local" }],
          }),
          sgRule({
            rule_uuid: "in-web",
            protocol: "tcp",
            src_addresses: [{ security_group: other }],
            dst_addresses: [{ security_group: "local" }],
            dst_ports: [{ start_port: 443, end_port: 443 }],
          }),
          sgRule({
            rule_uuid: "out-net",
            ethertype: "IPv6",
            src_addresses: [{ security_group: "local" }],
            dst_addresses: [{ subnet: { ip_prefix: "::", ip_prefix_len: 0 } }],
          }),
        ],
        8000001,
      ),
      new Map([[other, 8000007]]),
    );
    expect(acls?.ingress.acl_rule.map((r) => [r.rule_uuid, r.match_condition.src_address])).toEqual([
      ["in-any", { security_group: "-1" }],
      ["in-web", { security_group: "8000007" }],
    ]);
    expect(acls?.ingress.acl_rule[1].match_condition).toMatchObject({
      protocol: "6",
      dst_address: {},
      dst_port: { start_port: 443, end_port: 443 },
      ethertype: "IPv4",
    });
    expect(acls?.ingress.acl_rule.every((r) => r.action_list.simple_action === "pass")).toBe(true);
    expect(acls?.egress.acl_rule).toEqual([
      {
        match_condition: {
          protocol: "any",
          src_address: {},
          src_port: { start_port: 0, end_port: 65535 },
          dst_address: { subnet: { ip_prefix: "::", ip_prefix_len: 0 } },
          dst_port: { start_port: 0, end_port: 65535 },
          ethertype: "IPv6",
        },
        action_list: { simple_action: "pass" },
        rule_uuid: "out-net",
      },
    ]);
  });

  it("gives an SG with no rules empty ACLs (so the agent denies by default)", () => {
    expect(compileSecurityGroupAcls(sg([], 8000000), new Map())).toEqual({
      ingress: { acl_rule: [] },
      egress: { acl_rule: [] },
    });
  });

  it("waits for the SG to have an id", () => {
    expect(compileSecurityGroupAcls(sg([]), new Map())).toBeUndefined();
  });

  it("skips rules with an unknown peer SG or no local end, with a note", () => {
    const notes: string[] = [];
    const acls = compileSecurityGroupAcls(
      sg(
        [
          sgRule({
            src_addresses: [{ security_group: "d:p:ghost" }],
            dst_addresses: [{ security_group: "local" }],
          }),
          sgRule({ src_addresses: [{ security_group: "any" }], dst_addresses: [{ security_group: "any" }] }),
        ],
        8000000,
      ),
      new Map(),
      notes,
    );
    expect(acls?.ingress.acl_rule).toEqual([]);
    expect(acls?.egress.acl_rule).toEqual([]);
    expect(notes.join("\n")).toMatch(/ghost not found[\s\S]*"local"/);
  });
});
