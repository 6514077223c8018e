/**
 * The vrouter agent's introspect pages (Sandesh over HTTP, port 8085 on a compute) for the requests runbooks
 * use most, as pure functions: a request name and its query → the response's XML. Request, response, struct
 * and field names and field identifiers are the agent's (tf-controller src/vnsw/agent/oper/agent.sandesh,
 * pkt/pkt.sandesh); values come from the compute's `VrouterView` (tables, flows).
 *
 *   Snh_ItfReq            ItfResp / ItfSandeshData          interfaces (name, vrf, label, ip, mac, policy, fips)
 *   Snh_VrfListReq        VrfListResp / VrfSandeshData      VRFs and their table indexes
 *   Snh_Inet4UcRouteReq   Inet4UcRouteResp / RouteUcSandeshData + PathSandeshData + NhSandeshData
 *   Snh_NhListReq         NhListResp / NhSandeshData        next-hops (interface, tunnel, ECMP composite, …)
 *   Snh_AclReq            AclResp / AclSandeshData          network-policy, security-group and firewall-policy ACLs
 *   Snh_FetchAllFlowRecords / Snh_NextFlowRecordsSet / Snh_FetchFlowRecord   FlowRecordsResp / SandeshFlowData
 *
 * Example: `introspect("ItfReq", new URLSearchParams("name=tap"), view)` → `{ status: 200, xml: "<?xml-…<ItfResp …" }`
 */
import { ipv4InPrefix, parseCidr, parseIpv4 } from "../datapath/addr";
import type { FlowEntry, TraceStep } from "../datapath/engine";
import { flowKeyText } from "../datapath/flows";
import type {
  AclRule,
  AddressMatch,
  FirewallEndpoint,
  FirewallPolicy,
  NextHop,
  PortRange,
  Route,
  Vif,
  VrouterTables,
} from "../tables";
import { flowIndexes } from "../tools/flow";
import { flowDenial, nhRefs, type VrouterView, vifNh } from "../tools/view";

// ---- the Sandesh XML encoding ------------------------------------------------------------------------------

type Prim = "string" | "i16" | "i32" | "u16" | "u32" | "i64" | "u64" | "bool";

/** One field of a Sandesh struct: `f("name", "string", 2, "tap1")`, a struct, or a list of structs/strings. */
interface Field {
  xml: string;
}

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function f(name: string, type: Prim, id: number, value: string | number | boolean, link?: string): Field {
  return {
    xml: `<${name} type="${type}" identifier="${id}"${link ? ` link="${link}"` : ""}>${esc(String(value))}</${name}>`,
  };
}

function struct(name: string, fields: Field[]): string {
  return `<${name}>${fields.map((x) => x.xml).join("")}</${name}>`;
}

function structField(name: string, id: number, structName: string, fields: Field[]): Field {
  return { xml: `<${name} type="struct" identifier="${id}">${struct(structName, fields)}</${name}>` };
}

function structList(name: string, id: number, items: string[]): Field {
  return {
    xml: `<${name} type="list" identifier="${id}"><list type="struct" size="${items.length}">${items.join("")}</list></${name}>`,
  };
}

function primList(name: string, id: number, type: Prim, items: (string | number)[], link?: string): Field {
  return {
    xml: `<${name} type="list" identifier="${id}"${link ? ` link="${link}"` : ""}><list type="${type}" size="${items.length}">${items.map((i) => `<element>${esc(String(i))}</element>`).join("")}</list></${name}>`,
  };
}

const HEADER = '<?xml-stylesheet type="text/xsl" href="/universal_parse.xsl"?>';

function response(name: string, fields: Field[]): string {
  return `${HEADER}<${name} type="sandesh">${fields.map((x) => x.xml).join("")}<more type="bool" identifier="0">false</more></${name}>`;
}

// ---- requests ----------------------------------------------------------------------------------------------

export interface IntrospectAnswer {
  status: number;
  /** XML (200) or a one-line text (404: no such request). */
  body: string;
}

/** The requests this introspect answers, with the arguments each takes (the agent's request fields). */
export const REQUESTS: Record<string, string[]> = {
  ItfReq: ["name", "type", "uuid", "vn", "mac", "ipv4_address"],
  VrfListReq: ["name"],
  Inet4UcRouteReq: ["vrf_index", "src_ip", "prefix_len"],
  NhListReq: ["type", "nh_index", "policy_enabled"],
  AclReq: ["uuid"],
  FetchAllFlowRecords: [],
  NextFlowRecordsSet: ["flow_key"],
  FetchFlowRecord: ["nh", "sip", "dip", "src_port", "dst_port", "protocol"],
};

/** Flow records per page, as the agent's FlowRecordsResp pages them (the rest through NextFlowRecordsSet). */
const FLOWS_PER_PAGE = 100;

export function introspect(request: string, q: URLSearchParams, view: VrouterView): IntrospectAnswer {
  const ok = (body: string) => ({ status: 200, body });
  switch (request) {
    case "ItfReq":
      return ok(itfResp(view, q));
    case "VrfListReq":
      return ok(vrfListResp(view, q));
    case "Inet4UcRouteReq":
      return ok(inet4UcRouteResp(view, q));
    case "NhListReq":
      return ok(nhListResp(view, q));
    case "AclReq":
      return ok(aclResp(view, q));
    case "FetchAllFlowRecords":
      return ok(flowRecordsResp(view, 0));
    case "NextFlowRecordsSet":
      return ok(flowRecordsResp(view, Number.parseInt(q.get("flow_key") ?? "0", 10) || 0));
    case "FetchFlowRecord":
      return ok(fetchFlowRecord(view, q));
    default:
      return {
        status: 404,
        body: `no such request: ${request} (this introspect answers ${Object.keys(REQUESTS)
          .map((r) => `Snh_${r}`)
          .join(", ")})`,
      };
  }
}

/** A request argument as a filter: empty or absent matches everything, else a substring (as the agent's). */
const matchArg = (q: URLSearchParams, name: string, value: string | undefined) => {
  const want = q.get(name) ?? "";
  return want === "" || (value ?? "").includes(want);
};

const vrfName = (t: VrouterTables, id: number) => t.vrfs.get(id)?.name ?? "";

/** The agent's interface type words: vport (a VM interface), eth (physical), vhost, pkt. */
const ITF_TYPE: Record<Vif["type"], string> = {
  virtual: "vport",
  fabric: "eth",
  host: "vhost",
  agent: "pkt",
};

/** The MPLS label of a vif: the label whose NH is one of its ENCAP next-hops (the policy one first). */
function vifLabel(t: VrouterTables, vif: number): number {
  const nh = vifNh(t, vif);
  for (const [label, target] of t.labels) if (target === nh) return label;
  return -1;
}

function itfResp(view: VrouterView, q: URLSearchParams): string {
  const t = view.tables;
  const items = [...t.vifs.values()]
    .sort((a, b) => a.index - b.index)
    .filter(
      (v) =>
        matchArg(q, "name", v.name) &&
        matchArg(q, "type", ITF_TYPE[v.type]) &&
        matchArg(q, "uuid", v.vmi?.uuid) &&
        matchArg(q, "vn", v.vnName) &&
        matchArg(q, "mac", v.mac) &&
        matchArg(q, "ipv4_address", v.ip),
    )
    .map((v) =>
      struct("ItfSandeshData", [
        f("index", "i32", 1, v.index),
        f("name", "string", 2, v.name),
        f("uuid", "string", 3, v.vmi?.uuid ?? "00000000-0000-0000-0000-000000000000"),
        f("vrf_name", "string", 4, vrfName(t, v.vrf), "VrfListReq"),
        f("active", "string", 5, "Active"),
        f("dhcp_service", "string", 6, v.type === "virtual" ? "Enable" : "Disable"),
        f("dns_service", "string", 7, v.type === "virtual" ? "Enable" : "Disable"),
        f("type", "string", 8, ITF_TYPE[v.type]),
        f("label", "i32", 9, vifLabel(t, v.index)),
        f("vn_name", "string", 10, v.vnName ?? "", "VnListReq"),
        f("vm_uuid", "string", 11, v.vmUuid ?? "", "VmListReq"),
        f("ip_addr", "string", 13, v.ip ?? "0.0.0.0"),
        f("mac_addr", "string", 14, v.mac),
        f("policy", "string", 15, v.policyEnabled ? "Enable" : "Disable"),
        structList(
          "fip_list",
          16,
          v.floatingIps.map((fip) =>
            struct("FloatingIpSandeshList", [
              f("ip_addr", "string", 1, fip.address),
              f("vrf_name", "string", 2, vrfName(t, fip.vrf), "VrfListReq"),
              f("installed", "string", 3, "Y"),
              f("fixed_ip", "string", 4, fip.fixedIp),
            ]),
          ),
        ),
        f("config_name", "string", 23, v.vmi?.fqName.join(":") ?? v.name),
        structList(
          "sg_uuid_list",
          24,
          v.securityGroupIds.map((id) =>
            struct("VmIntfSgUuid", [f("sg_uuid", "string", 1, String(id), "SgListReq")]),
          ),
        ),
        f("l2_active", "string", 28, "L2 Active"),
        f("flow_key_idx", "i32", 32, vifNh(t, v.index)),
        f("ipv4_active", "string", 49, "Active"),
      ]),
    );
  return response("ItfResp", [structList("itf_list", 1, items)]);
}

function vrfListResp(view: VrouterView, q: URLSearchParams): string {
  const t = view.tables;
  const items = [...t.vrfs.values()]
    .sort((a, b) => a.id - b.id)
    .filter((v) => matchArg(q, "name", v.name))
    .map((v) =>
      struct("VrfSandeshData", [
        f("name", "string", 1, v.name),
        f("ucindex", "i32", 2, v.id, "Inet4UcRouteReq"),
        f("mcindex", "i32", 3, v.id, "Inet4McRouteReq"),
        f("l2index", "i32", 4, v.id, "Layer2RouteReq"),
        f("source", "string", 5, "Config; "),
        f("uc6index", "i32", 6, v.id, "Inet6UcRouteReq"),
        f("vn", "string", 7, v.vnName, "VnListReq"),
        f("table_label", "i32", 8, -1),
        f("vxlan_id", "i32", 9, v.vxlanId ?? 0),
        f("evpnindex", "i32", 10, v.id, "EvpnRouteReq"),
        f("brindex", "i32", 11, v.id, "BridgeRouteReq"),
        f("mplsindex", "i32", 12, v.id, "Inet4MplsUcRouteReq"),
        f("RD", "string", 13, `${t.compute.fabricIp}:${v.id}`),
      ]),
    );
  return response("VrfListResp", [structList("vrf_list", 1, items)]);
}

/** NhSandeshData of a next-hop, as NextHop::SetNHSandeshData fills it. */
function nhData(t: VrouterTables, n: NextHop, refs: Map<number, number>): Field[] {
  const hexMac = (mac: string) =>
    mac
      .split(":")
      .map((h) => (Number.parseInt(h, 16) || 0).toString(16))
      .join(":");
  const fields: Field[] = [];
  let type = "invalid";
  switch (n.type) {
    case "discard":
      type = "discard";
      break;
    case "receive":
      type = "receive";
      fields.push(
        f(
          "itf",
          "string",
          8,
          [...t.vifs.values()].find((v) => v.type === "host")?.name ?? "<NULL>",
          "ItfReq",
        ),
      );
      break;
    case "encap": {
      type = "interface";
      const vif = t.vifs.get(n.vif);
      fields.push(
        f("itf", "string", 8, vif?.name ?? "", "ItfReq"),
        primList("mac", 9, "string", [hexMac(vif?.mac ?? "0:0:0:0:0:0")]),
        f("mcast", "string", 12, "disabled"),
      );
      break;
    }
    case "tunnel":
      type = "tunnel";
      fields.push(
        f("sip", "string", 5, n.srcIp),
        f("dip", "string", 6, n.dstIp),
        f("vrf", "string", 7, vrfName(t, t.compute.fabricVrf), "VrfListReq"),
        f(
          "tunnel_type",
          "string",
          16,
          n.encap === "mplsoudp" ? "MPLSoUDP" : n.encap === "mplsogre" ? "MPLSoGRE" : "VXLAN",
        ),
      );
      break;
    case "composite":
      type = `ECMP Composite sub nh count: ${n.members.length}`;
      fields.push(
        structList(
          "mc_list",
          14,
          n.members.map((m) => {
            const member = t.nextHops.get(m.nh);
            if (member?.type === "tunnel")
              return struct("McastData", [
                f("type", "string", 1, "Tunnel"),
                f("sip", "string", 2, member.srcIp),
                f("dip", "string", 3, member.dstIp),
                f("label", "i32", 4, m.label),
              ]);
            if (member?.type === "encap")
              return struct("McastData", [
                f("type", "string", 1, "Interface"),
                f("label", "i32", 4, m.label),
                f("itf", "string", 5, t.vifs.get(member.vif)?.name ?? "", "ItfReq"),
              ]);
            return struct("McastData", [f("type", "string", 1, "NULL")]);
          }),
        ),
      );
      break;
    case "vrf-translate":
      type = "vrf";
      fields.push(f("vrf", "string", 7, vrfName(t, n.vrf), "VrfListReq"));
      break;
    case "fabric":
      // ip-fabric forwarding: an ARP next-hop towards the router (a resolve one when on-link)
      type = n.via === "0.0.0.0" ? "resolve" : "arp";
      if (n.via !== "0.0.0.0")
        fields.push(
          f("sip", "string", 5, n.via),
          f("vrf", "string", 7, vrfName(t, t.compute.fabricVrf), "VrfListReq"),
          f("itf", "string", 8, t.vifs.get(t.compute.fabricVif)?.name ?? "", "ItfReq"),
        );
      break;
  }
  const policy = n.type === "encap" ? n.policy : n.type === "composite" || n.type === "receive";
  return [
    f("type", "string", 1, type),
    f("ref_count", "i32", 2, refs.get(n.id) ?? 0),
    f("valid", "string", 3, "true"),
    f("policy", "string", 4, policy ? "enabled" : "disabled"),
    ...fields,
    f("nh_index", "i32", 21, n.id),
    f("vxlan_flag", "bool", 24, false),
    f("isid", "i32", 26, 0),
    f("learning_enabled", "bool", 27, false),
    f("etree_leaf", "bool", 28, false),
    f("layer2_control_word", "bool", 29, false),
    f("crypt_all_traffic", "bool", 31, false),
    f("crypt_path_available", "bool", 32, false),
    f("crypt_interface", "string", 33, ""),
    f("intf_flags", "i32", 34, 0),
  ];
}

const NH_TYPE_WORDS: Record<NextHop["type"], string[]> = {
  discard: ["discard"],
  receive: ["receive"],
  encap: ["interface"],
  tunnel: ["tunnel"],
  composite: ["composite", "ecmp"],
  "vrf-translate": ["vrf"],
  fabric: ["arp", "resolve"],
};

function nhListResp(view: VrouterView, q: URLSearchParams): string {
  const t = view.tables;
  const refs = nhRefs(t);
  const type = (q.get("type") ?? "").toLowerCase();
  const index = q.get("nh_index") ?? "";
  const policy = (q.get("policy_enabled") ?? "").toLowerCase();
  const items = [...t.nextHops.values()]
    .sort((a, b) => a.id - b.id)
    .filter((n) => index === "" || String(n.id) === index)
    .filter((n) => type === "" || NH_TYPE_WORDS[n.type].some((w) => w.includes(type)))
    .filter(
      (n) =>
        policy === "" ||
        (n.type === "encap" && n.policy) === (policy === "enabled" || policy === "true" || policy === "yes"),
    )
    .map((n) => struct("NhSandeshData", nhData(t, n, refs)));
  return response("NhListResp", [structList("nh_list", 1, items)]);
}

/** Who put a route there, as the agent names its peers. */
function peerOf(t: VrouterTables, r: Route): string {
  const nh = t.nextHops.get(r.nh);
  if (nh?.type === "receive")
    return t.linkLocal.some((l) => r.prefix === `${l.ip}/32`) ? "LinkLocal" : "Local";
  if (nh?.type === "encap") return "LocalVmPort";
  // the testbed has no control node: the agents compute what it would have sent them
  return "control-node (computed by the agent)";
}

function inet4UcRouteResp(view: VrouterView, q: URLSearchParams): string {
  const t = view.tables;
  const vrfId = Number.parseInt(q.get("vrf_index") ?? "0", 10) || 0;
  const vrf = t.vrfs.get(vrfId);
  const src = q.get("src_ip") ?? "";
  const plen = q.get("prefix_len") ?? "";
  const refs = nhRefs(t);
  let routes = [...(vrf?.routes ?? [])];
  if (src !== "") {
    const a = parseIpv4(src);
    const len = plen === "" ? 32 : Number.parseInt(plen, 10);
    routes = routes.filter((r) => {
      const c = parseCidr(r.prefix);
      if (!c || a === undefined) return false;
      // the agent lists the route of that prefix, else the routes under it
      return plen === ""
        ? ipv4InPrefix(a, c)
        : c.length >= len && ipv4InPrefix(c.network, parseCidr(`${src}/${len}`)!);
    });
  }
  const key = (r: Route) => parseCidr(r.prefix) ?? { network: 0, length: 0 };
  routes.sort((a, b) => key(a).network - key(b).network || key(a).length - key(b).length);
  const items = routes.map((r) => {
    const [ip, len] = r.prefix.split("/") as [string, string | undefined];
    const nh = t.nextHops.get(r.nh);
    const tunnel =
      nh?.type === "tunnel"
        ? nh.encap === "mplsoudp"
          ? "MPLSoUDP"
          : nh.encap === "mplsogre"
            ? "MPLSoGRE"
            : "VXLAN"
        : "";
    return struct("RouteUcSandeshData", [
      f("src_ip", "string", 1, ip),
      f("src_plen", "i32", 2, Number(len ?? 32)),
      f("src_vrf", "string", 3, vrf?.name ?? "", "VrfListReq"),
      structList("path_list", 4, [
        struct("PathSandeshData", [
          structField(
            "nh",
            1,
            "NhSandeshData",
            nh ? nhData(t, nh, refs) : [f("type", "string", 1, "invalid")],
          ),
          f("label", "i32", 2, r.label ?? -1),
          f("vxlan_id", "i32", 3, 0),
          f("peer", "string", 4, peerOf(t, r)),
          primList("dest_vn_list", 5, "string", r.destVns, "VnListReq"),
          f("unresolved", "string", 6, "false"),
          primList("sg_list", 10, "i32", r.sgIds),
          f(
            "supported_tunnel_type",
            "string",
            11,
            t.encapPriority
              .map((e) => (e === "mplsoudp" ? "MPLSoUDP" : e === "mplsogre" ? "MPLSoGRE" : "VXLAN"))
              .join(" "),
          ),
          f("active_tunnel_type", "string", 12, tunnel),
          f("etree_leaf", "bool", 23, false),
          f("layer2_control_word", "bool", 24, false),
          primList("tag_list", 25, "i32", r.tags),
          f("inactive", "bool", 26, false),
          f("origin_vn", "string", 27, r.destVns[0] ?? ""),
        ]),
      ]),
      f("multicast", "bool", 7, false),
      f("intf_route_type", "string", 9, nh?.type === "encap" ? "interface" : ""),
    ]);
  });
  return response("Inet4UcRouteResp", [structList("route_list", 1, items)]);
}

// ---- ACLs and firewall policies -----------------------------------------------------------------------------

const range = (p: PortRange) =>
  struct("SandeshRange", [f("min", "i32", 1, p.start), f("max", "i32", 2, p.end)]);
const protoRange = (p: number | "any") =>
  p === "any" ? range({ start: 0, end: 255 }) : range({ start: p, end: p });
const action = (a: string) => struct("ActionStr", [f("action", "string", 1, a)]);

function addressText(a: AddressMatch): [text: string, type: string] {
  switch (a.kind) {
    case "any":
      return ["any", "any"];
    case "vn":
      return [a.name, "network"];
    case "subnet":
      return [a.cidr, "ip"];
    case "sg":
      return [String(a.id), "sg"];
  }
}

function endpointText(e: FirewallEndpoint): [text: string, type: string] {
  switch (e.kind) {
    case "any":
      return ["any", "any"];
    case "tags":
      return [e.tags.map((id) => `0x${id.toString(16).padStart(8, "0")}`).join(" "), "tags"];
    case "address-group":
      return [e.prefixes.join(" "), "address-group"];
    case "vn":
      return [e.name, "network"];
    case "subnet":
      return [e.cidr, "ip"];
  }
}

function aclEntry(rule: AclRule, i: number): string {
  const [src, srcType] = addressText(rule.src);
  const [dst, dstType] = addressText(rule.dst);
  return struct("AclEntrySandeshData", [
    f("ace_id", "string", 1, String(i + 1)),
    f("rule_type", "string", 2, "Terminal"),
    f("src", "string", 3, src),
    f("dst", "string", 4, dst),
    structList("src_port_l", 5, [range(rule.srcPorts)]),
    structList("dst_port_l", 6, [range(rule.dstPorts)]),
    structList("proto_l", 7, [protoRange(rule.protocol)]),
    structList("action_l", 8, [action(rule.action)]),
    f("src_type", "string", 9, srcType),
    f("dst_type", "string", 10, dstType),
    f("uuid", "string", 11, rule.uuid),
  ]);
}

function firewallEntry(p: FirewallPolicy, i: number): string {
  const r = p.rules[i]!;
  const [src, srcType] = endpointText(r.endpoint1);
  const [dst, dstType] = endpointText(r.endpoint2);
  const services = r.services.length
    ? r.services
    : [{ protocol: "any" as const, srcPorts: { start: 0, end: 65535 }, dstPorts: { start: 0, end: 65535 } }];
  return struct("AclEntrySandeshData", [
    f("ace_id", "string", 1, r.sequence),
    f("rule_type", "string", 2, "Terminal"),
    f("src", "string", 3, src),
    f("dst", "string", 4, dst),
    structList(
      "src_port_l",
      5,
      services.map((s) => range(s.srcPorts)),
    ),
    structList(
      "dst_port_l",
      6,
      services.map((s) => range(s.dstPorts)),
    ),
    structList(
      "proto_l",
      7,
      services.map((s) => protoRange(s.protocol)),
    ),
    structList("action_l", 8, [action(r.action)]),
    f("src_type", "string", 9, srcType),
    f("dst_type", "string", 10, dstType),
    f("uuid", "string", 11, r.origin.uuid),
    f(
      "match_condition",
      "string",
      12,
      `direction ${r.direction}${r.matchTags.length ? `, match-tags ${r.matchTags.map((m) => `0x${m.toString(16)}`).join(" ")}` : ""}`,
    ),
  ]);
}

function aclResp(view: VrouterView, q: URLSearchParams): string {
  const t = view.tables;
  const uuid = q.get("uuid") ?? "";
  const acls: string[] = [];
  for (const a of [...t.acls.values()].sort((x, y) => x.id.localeCompare(y.id))) {
    if (uuid !== "" && a.id !== uuid) continue;
    acls.push(aclStruct(a.id, a.origin.fqName.join(":"), a.rules.map(aclEntry)));
  }
  // the agent holds a firewall policy as an ACL of its own, named after the policy
  for (const p of [...t.firewallPolicies.values()].sort((x, y) => x.id.localeCompare(y.id))) {
    if (uuid !== "" && p.id !== uuid) continue;
    acls.push(
      aclStruct(
        p.id,
        p.origin.fqName.join(":"),
        p.rules.map((_, i) => firewallEntry(p, i)),
      ),
    );
  }
  return response("AclResp", [structList("acl_list", 1, acls)]);
}

function aclStruct(uuid: string, name: string, entries: string[]): string {
  return struct("AclSandeshData", [
    f("uuid", "string", 1, uuid, "AclFlowReq"),
    f("dynamic_acl", "bool", 2, false),
    structList("entries", 3, entries),
    f("name", "string", 4, name),
  ]);
}

// ---- flows ------------------------------------------------------------------------------------------------

/** TrafficAction flags (filter/traffic_action.h): 1 << DENY(3), 1 << PASS(5). */
const ACTION_DENY = 1 << 3;
const ACTION_PASS = 1 << 5;

function aclInfo(name: string, id: number, step: TraceStep | undefined): Field {
  const deny = step?.action === "deny";
  return structField(name, id, "FlowAclInfo", [
    f("action", "i32", 1, step ? (deny ? ACTION_DENY : ACTION_PASS) : 0),
    structList(
      "acl",
      2,
      step?.ref ? [struct("FlowAclUuid", [f("uuid", "string", 1, step.ref.uuid, "AclReq")])] : [],
    ),
    structList("action_str", 3, step ? [action(deny ? "deny" : "pass")] : []),
  ]);
}

function flowData(view: VrouterView, fl: FlowEntry, index: Map<string, number>): string {
  return struct("SandeshFlowData", flowFields(view, fl, index));
}

function flowFields(view: VrouterView, fl: FlowEntry, index: Map<string, number>): Field[] {
  const t = view.tables;
  const stepOf = (stage: TraceStep["stage"], out: boolean) =>
    fl.decidedBy.find((s) => s.stage === stage && /^(destination|ingress of)/.test(s.detail) === out);
  const keyNh = t.nextHops.get(fl.key.nh);
  const srcVrf = keyNh?.type === "encap" ? (t.vifs.get(keyNh.vif)?.vrf ?? fl.vrf) : fl.vrf;
  const denied = fl.action === "drop";
  const natText = fl.nat
    ? Object.entries(fl.nat)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")
    : "";
  return [
    f("vrf", "i32", 1, srcVrf),
    f("sip", "string", 2, fl.key.sip),
    f("dip", "string", 3, fl.key.dip),
    f("src_port", "i32", 4, fl.key.sport),
    f("dst_port", "i32", 5, fl.key.dport),
    f("protocol", "u16", 6, fl.key.proto),
    f("dest_vrf", "i16", 7, fl.vrf),
    f("action", "i32", 8, denied ? ACTION_DENY : ACTION_PASS),
    f("direction", "string", 11, fl.direction === "forward" ? "ingress" : "egress"),
    f("stats_bytes", "i64", 12, fl.bytes),
    f("stats_packets", "i64", 13, fl.packets),
    f("nat", "string", 15, fl.nat ? "enabled" : "disabled"),
    f("flow_handle", "i32", 16, index.get(flowKeyText(fl.key)) ?? -1),
    f("implicit_deny", "string", 20, denied && !fl.decidedBy.some((s) => s.rule) ? "yes" : "no"),
    f("short_flow", "string", 21, "no"),
    ...(fl.ecmp ? [f("ecmp_index", "u16", 23, ecmpIndex(t, fl))] : []),
    f("reverse_flow", "string", 28, fl.direction === "reverse" ? "yes" : "no"),
    aclInfo("policy", 29, stepOf("network-policy", false)),
    aclInfo("out_policy", 30, stepOf("network-policy", true)),
    aclInfo("sg", 31, stepOf("security-group", false)),
    aclInfo("out_sg", 32, stepOf("security-group", true)),
    structList("action_str", 35, [action(denied ? "deny" : "pass")]),
    f("nh", "i32", 39, fl.key.nh),
    f("fip", "string", 41, natText),
    ...(denied ? [f("drop_reason", "string", 46, dropReasonOf(fl))] : []),
    f("l3_flow", "bool", 57, true),
    f("deleted", "bool", 59, false),
    f("gen_id", "u16", 61, 0),
    aclInfo("policy_set", 63, stepOf("firewall-policy", false)),
    aclInfo("out_policy_set", 64, stepOf("firewall-policy", true)),
    f(
      "fw_policy_match",
      "string",
      66,
      fl.decidedBy.find((s) => s.stage === "firewall-policy")?.policy?.fqName.join(":") ?? "",
    ),
  ];
}

function ecmpIndex(t: VrouterTables, fl: FlowEntry): number {
  const comp = t.nextHops.get(fl.ecmp!.composite);
  return comp?.type === "composite" ? comp.members.findIndex((m) => m.nh === fl.ecmp!.nh) : 0;
}

/** The agent's drop reason words (FlowEntry::FlowDropReasonStr, pkt/flow_entry.cc) for the stage that denied. */
function dropReasonOf(fl: FlowEntry): string {
  const d = flowDenial(fl);
  if (d?.stage === "network-policy") return d.out ? "Flow drop Out Policy" : "Flow drop Policy";
  if (d?.stage === "security-group") return d.out ? "Flow drop OUT SG" : "Flow drop SG";
  if (d?.stage === "firewall-policy")
    return d.out ? "Flow drop OUT Firewall Policy" : "Flow drop Firewall Policy";
  return "UNKNOWN";
}

function sortedFlows(view: VrouterView): { flows: FlowEntry[]; index: Map<string, number> } {
  const flows = view.datapath?.flows ?? [];
  const index = flowIndexes(flows, view.datapath?.flowLimit ?? 524_288);
  return {
    flows: [...flows].sort((a, b) => index.get(flowKeyText(a.key))! - index.get(flowKeyText(b.key))!),
    index,
  };
}

function flowRecordsResp(view: VrouterView, from: number): string {
  const { flows, index } = sortedFlows(view);
  const page = flows.slice(from, from + FLOWS_PER_PAGE);
  const next = from + FLOWS_PER_PAGE < flows.length ? String(from + FLOWS_PER_PAGE) : "";
  return response("FlowRecordsResp", [
    structList(
      "flow_list",
      1,
      page.map((fl) => flowData(view, fl, index)),
    ),
    f("flow_key", "string", 2, next, "NextFlowRecordsSet"),
  ]);
}

function fetchFlowRecord(view: VrouterView, q: URLSearchParams): string {
  const { flows, index } = sortedFlows(view);
  const num = (k: string) => Number.parseInt(q.get(k) ?? "", 10);
  const found = flows.find(
    (fl) =>
      fl.key.nh === num("nh") &&
      fl.key.sip === q.get("sip") &&
      fl.key.dip === q.get("dip") &&
      fl.key.sport === num("src_port") &&
      fl.key.dport === num("dst_port") &&
      fl.key.proto === num("protocol"),
  );
  if (!found)
    return `${HEADER}<FlowErrorResp type="sandesh"><resp type="string" identifier="1">No Flow Record for specified key </resp><more type="bool" identifier="0">false</more></FlowErrorResp>`;
  return response("FlowRecordResp", [
    structField("record", 1, "SandeshFlowData", flowFields(view, found, index)),
  ]);
}

/** The introspect's index page: each request with a link, as the agent's /agent.xml lists them. */
export function indexPage(compute: string): string {
  const links = Object.entries(REQUESTS)
    .map(
      ([r, args]) => `<li><a href="/Snh_${r}">Snh_${r}</a>${args.length ? ` (${args.join(", ")})` : ""}</li>`,
    )
    .join("");
  return `<html><head><title>vrouter agent introspect: ${esc(compute)}</title></head><body><h1>${esc(compute)}: agent introspect</h1><ul>${links}</ul></body></html>`;
}
