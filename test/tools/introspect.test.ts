/**
 * The agent introspect's XML (fake-vrouter/introspect/sandesh.ts) against the agent's own Sandesh definitions
 * (tf-controller src/vnsw/agent/oper/agent.sandesh, pkt/pkt.sandesh): request, response, struct and field
 * names with their identifiers, list encoding, well-formed XML; filters by the request's arguments; the flow
 * list paged by 100 with NextFlowRecordsSet; FetchFlowRecord's FlowErrorResp for a key with no flow.
 */
import { describe, expect, it } from "vitest";
import { introspect } from "../../fake-vrouter/introspect/sandesh";
import type { VrouterView } from "../../fake-vrouter/tools/view";
import type { Acl, FirewallPolicy } from "../../fake-vrouter/tables";
import { anyPorts, encapNhId, ref, simNetwork, twoComputes, vnName } from "../datapath/world";

const q = (s = "") => new URLSearchParams(s);

/** Every tag closed in order (a well-formed document, bar the stylesheet instruction). */
function wellFormed(xml: string): boolean {
  const stack: string[] = [];
  for (const [, close, name, selfClose] of xml.matchAll(/<(\/?)([A-Za-z_][\w.-]*)[^>]*?(\/?)>/g)) {
    if (selfClose) continue;
    if (close) {
      if (stack.pop() !== name) return false;
    } else stack.push(name!);
  }
  return stack.length === 0;
}

function view(): VrouterView {
  const net = simNetwork(twoComputes());
  for (let sport = 41000; sport < 41060; sport++)
    net.probe({ from: "a", to: "10.1.0.5", proto: "udp", port: 53, sport });
  const dp = net.datapath("compute-1")!;
  const acl: Acl = {
    id: "acl-red",
    origin: ref("network-policy", "red-np"),
    rules: [
      {
        uuid: "rule-1",
        action: "pass",
        protocol: 6,
        ethertype: "IPv4",
        src: { kind: "vn", name: vnName("red") },
        dst: { kind: "any" },
        srcPorts: anyPorts,
        dstPorts: { start: 80, end: 80 },
      },
    ],
  };
  const fw: FirewallPolicy = {
    id: "fwp-1",
    origin: ref("firewall-policy", "k8s-allow"),
    rules: [
      {
        origin: ref("firewall-rule", "r1"),
        sequence: "00001.0",
        action: "deny",
        direction: "<>",
        endpoint1: { kind: "tags", tags: [0x00ff0001] },
        endpoint2: { kind: "any" },
        services: [],
        matchTags: [],
      },
    ],
  };
  const tables = { ...dp.tables, acls: new Map([[acl.id, acl]]), firewallPolicies: new Map([[fw.id, fw]]) };
  return { tables, datapath: dp.snapshot() };
}

describe("agent introspect", () => {
  const v = view();

  it("Snh_ItfReq: ItfResp/itf_list/ItfSandeshData with the agent's field identifiers, filtered by name", () => {
    const a = introspect("ItfReq", q("name=tap-a"), v);
    expect(a.status).toBe(200);
    expect(wellFormed(a.body)).toBe(true);
    expect(a.body).toMatch(
      /^<\?xml-stylesheet type="text\/xsl" href="\/universal_parse\.xsl"\?><ItfResp type="sandesh"><itf_list type="list" identifier="1"><list type="struct" size="1"><ItfSandeshData><index type="i32" identifier="1">3<\/index><name type="string" identifier="2">tap-a<\/name>/,
    );
    expect(a.body).toContain('<vrf_name type="string" identifier="4" link="VrfListReq">');
    expect(a.body).toContain('<ip_addr type="string" identifier="13">10.1.0.3</ip_addr>');
    expect(a.body).toContain(`<flow_key_idx type="i32" identifier="32">${encapNhId(3, true)}</flow_key_idx>`);
    expect(a.body).toMatch(
      /<\/ItfSandeshData><\/list><\/itf_list><more type="bool" identifier="0">false<\/more><\/ItfResp>$/,
    );
    expect(introspect("ItfReq", q(), v).body).toContain('<list type="struct" size="3">');
  });

  it("Snh_Inet4UcRouteReq: the route of a remote pod is a tunnel path with its label", () => {
    const a = introspect("Inet4UcRouteReq", q("vrf_index=1&src_ip=10.1.0.5&prefix_len=32"), v).body;
    expect(wellFormed(a)).toBe(true);
    expect(a).toContain(
      '<route_list type="list" identifier="1"><list type="struct" size="1"><RouteUcSandeshData><src_ip type="string" identifier="1">10.1.0.5</src_ip><src_plen type="i32" identifier="2">32</src_plen>',
    );
    expect(a).toMatch(
      /<path_list type="list" identifier="4"><list type="struct" size="1"><PathSandeshData><nh type="struct" identifier="1"><NhSandeshData><type type="string" identifier="1">tunnel<\/type>/,
    );
    expect(a).toContain('<dip type="string" identifier="6">192.168.0.12</dip>');
    expect(a).toContain('<tunnel_type type="string" identifier="16">MPLSoUDP</tunnel_type>');
    expect(a).toMatch(/<label type="i32" identifier="2">\d+<\/label>/);
  });

  it("Snh_VrfListReq and Snh_NhListReq", () => {
    const vrfs = introspect("VrfListReq", q("name=red"), v).body;
    expect(vrfs).toContain(
      '<VrfListResp type="sandesh"><vrf_list type="list" identifier="1"><list type="struct" size="1"><VrfSandeshData>',
    );
    expect(vrfs).toContain('<ucindex type="i32" identifier="2" link="Inet4UcRouteReq">1</ucindex>');
    const nh = introspect("NhListReq", q(`nh_index=${encapNhId(3, true)}`), v).body;
    expect(wellFormed(nh)).toBe(true);
    expect(nh).toContain(
      '<NhListResp type="sandesh"><nh_list type="list" identifier="1"><list type="struct" size="1"><NhSandeshData><type type="string" identifier="1">interface</type>',
    );
    expect(nh).toContain('<policy type="string" identifier="4">enabled</policy>');
    expect(nh).toContain('<itf type="string" identifier="8" link="ItfReq">tap-a</itf>');
    expect(nh).toContain(`<nh_index type="i32" identifier="21">${encapNhId(3, true)}</nh_index>`);
  });

  it("Snh_AclReq: a network-policy ACL and a firewall policy, each with its entries", () => {
    const all = introspect("AclReq", q(), v).body;
    expect(wellFormed(all)).toBe(true);
    expect(all).toContain('<acl_list type="list" identifier="1"><list type="struct" size="2">');
    const acl = introspect("AclReq", q("uuid=acl-red"), v).body;
    expect(acl).toContain(
      '<AclSandeshData><uuid type="string" identifier="1" link="AclFlowReq">acl-red</uuid>',
    );
    expect(acl).toContain(
      '<dst_port_l type="list" identifier="6"><list type="struct" size="1"><SandeshRange><min type="i32" identifier="1">80</min><max type="i32" identifier="2">80</max></SandeshRange>',
    );
    expect(acl).toContain(
      '<action_l type="list" identifier="8"><list type="struct" size="1"><ActionStr><action type="string" identifier="1">pass</action></ActionStr>',
    );
    const fw = introspect("AclReq", q("uuid=fwp-1"), v).body;
    expect(fw).toContain('<ace_id type="string" identifier="1">00001.0</ace_id>');
    expect(fw).toContain('<src_type type="string" identifier="9">tags</src_type>');
    expect(fw).toContain('<action type="string" identifier="1">deny</action>');
  });

  it("Snh_FetchAllFlowRecords pages by 100; NextFlowRecordsSet goes on; FetchFlowRecord finds one key", () => {
    // 60 request/reply pairs: 120 entries
    const first = introspect("FetchAllFlowRecords", q(), v).body;
    expect(wellFormed(first)).toBe(true);
    expect(first).toContain(
      '<FlowRecordsResp type="sandesh"><flow_list type="list" identifier="1"><list type="struct" size="100">',
    );
    expect(first).toContain(
      '<flow_key type="string" identifier="2" link="NextFlowRecordsSet">100</flow_key>',
    );
    const next = introspect("NextFlowRecordsSet", q("flow_key=100"), v).body;
    expect(next).toContain('<list type="struct" size="20">');
    expect(next).toContain('<flow_key type="string" identifier="2" link="NextFlowRecordsSet"></flow_key>');
    const nh = encapNhId(3, true);
    const one = introspect(
      "FetchFlowRecord",
      q(`nh=${nh}&sip=10.1.0.3&dip=10.1.0.5&src_port=41000&dst_port=53&protocol=17`),
      v,
    ).body;
    expect(one).toContain(
      '<FlowRecordResp type="sandesh"><record type="struct" identifier="1"><SandeshFlowData>',
    );
    expect(one).toContain('<action type="i32" identifier="8">32</action>'); // 1 << TrafficAction::PASS
    expect(one).toContain('<stats_packets type="i64" identifier="13">1</stats_packets>');
    const none = introspect(
      "FetchFlowRecord",
      q(`nh=${nh}&sip=10.1.0.3&dip=10.1.0.5&src_port=1&dst_port=53&protocol=17`),
      v,
    ).body;
    expect(none).toContain(
      '<FlowErrorResp type="sandesh"><resp type="string" identifier="1">No Flow Record for specified key </resp>',
    );
  });

  it("an unknown request is a 404 naming the ones there are", () => {
    const a = introspect("VnListReq", q(), v);
    expect(a.status).toBe(404);
    expect(a.body).toMatch(
      /^no such request: VnListReq \(this introspect answers Snh_ItfReq, Snh_VrfListReq, /,
    );
  });
});
