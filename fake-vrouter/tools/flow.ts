/**
 * `flow`: the vrouter's flow table (tf-vrouter utils/flow.c): `-l` lists it, `--match "<ip>[:<port>][,<ip>
 * [:<port>]] [& vrf <n>] [& proto tcp|udp|icmp|sctp]"` lists the matching entries. Each entry as flow.c's
 * flow_dump_table prints it: index <=> reverse index, source and destination with ports, protocol and VRF
 * (src->dst when the flow changes VRF), then the key next-hop K(nh), the action — F, D(<reason>), N(<S, Ps, D,
 * Pd, L in flag-bit order>) — the ECMP member E:, the RPF next-hop S(nh), packet/byte stats and the outer UDP
 * source port.
 *
 * The testbed's engine keys flows as the kernel does but keeps no hash slots: an entry's index is its key's
 * hash in a table of the engine's size (linear probing), stable while the entry lives.
 *
 * `--get <index>` (or `-g`) prints one entry field by field, as flow.c's flow_dump_entry: its reverse, VRFs,
 * 5-tuple, action (the NAT it does), the expected source next-hop, the routes of both ends, stats.
 *
 * Example: `flow(["--match", "10.47.255.250 & proto icmp"], view)` lists the ICMP flows to or from that address.
 */
import { formatIpv4, ipv4InPrefix, parseCidr, parseIpv4 } from "../datapath/addr";
import type { FlowEntry } from "../datapath/engine";
import { flowHash, flowKeyText } from "../datapath/flows";
import type { NextHop, VrouterTables } from "../tables";
import { getoptLong, strtoul } from "./getopt";
import { EXIT_EINVAL, flowDenial, Out, PROTO_NAMES, type ToolResult, type VrouterView } from "./view";

const USAGE = `Usage:flow [-f flow_index]
           [-d flow_index]
           [-i flow_index]
           [-e flow_index]
           [--sock-dir <netlink socket dir>
           [--mirror=mirror table index]
           [--match "match_string"
           [-l]
           [--show-evicted]
           [-r]
           [-s]
           [-p flow_count]
           [-b bunch_count]
           [-F]

-f <flow_index>  Set forward action for flow at flow_index <flow_index>
-d <flow_index>  Set drop action for flow at flow_index <flow_index>
-i <flow_index>  Invalidate flow at flow_index <flow_index>
-e <flow_index>  force evict flow at flow_index <flow_index>
-p <flow_count>  Profile time to add/delete flow entries
-b <bunch_count> Bunch flow messages in one netlink message
-F               Flush all the flows
--get            Get and print flow entry in a particular index
                 e.g.: --get <flow_index>
--mirror         Mirror index to mirror to
--match          Match criteria separated by a '&'; IP:PORT separated by a ','
                 e.g.: --match 1.1.1.1:20
                       --match "1.1.1.1:20,2.2.2.2:22"
                       --match "[fe80::225:90ff:fec3:afa]:22"
                       --match "10.204.217.10:56910 & vrf 0 & proto tcp"
                       --match "10.204.217.10:56910,169.254.0.3:22 & vrf 0 & proto tcp"
                               proto {tcp, udp, icmp, icmp6, sctp}
-l               List flows
--show-evicted   Show evicted flows too
-r               Start dumping flow setup rate
-s               Start dumping flow stats
--help           Print this help
`;

const LONGS = [
  { name: "dvrf", arg: true },
  { name: "get", arg: true },
  { name: "mirror", arg: true },
  { name: "show-evicted", arg: false },
  { name: "match", arg: true },
  { name: "help", arg: false },
  { name: "force-evict", arg: true },
  { name: "sock-dir", arg: true },
];

/** sizeof(struct vr_flow_entry): the table's size in bytes is entries × this. */
const FLOW_ENTRY_BYTES = 256;

interface Match {
  ends: { ip?: number; port?: number }[];
  proto: number;
  vrf: number;
}

export function flow(argv: string[], view: VrouterView): ToolResult {
  const out = new Out();
  const usage = () => {
    out.print(USAGE);
    return out.result(EXIT_EINVAL);
  };
  const p = getoptLong("flow", argv, "d:f:g:i:e:p:u:b:lrsF", LONGS);
  for (const e of p.errors) out.err(e);
  if (p.errors.length) return usage();
  let list = false;
  let showEvicted = false;
  let getIndex: number | undefined;
  const match: Match = { ends: [], proto: -1, vrf: -1 };
  for (const o of p.opts) {
    switch (o.name) {
      case "l":
        list = true;
        break;
      case "show-evicted":
        showEvicted = true;
        break;
      case "match": {
        const problem = parseMatch(o.value!, match);
        if (problem !== undefined) {
          if (problem) out.line(problem);
          return out.result(EXIT_EINVAL);
        }
        list = true;
        break;
      }
      case "help":
        return usage();
      case "u":
      case "sock-dir":
      case "b":
        break;
      case "f":
      case "d":
      case "i":
      case "e":
      case "F":
      case "p":
      case "force-evict":
      case "mirror":
      case "dvrf":
        out.err(
          `flow: -${o.name.length > 1 ? "-" : ""}${o.name} changes the flow table: not available in the testbed, whose flows only its own packets make (read-only tools)`,
        );
        return out.result(1);
      case "g":
      case "get":
        getIndex = strtoul(o.value!);
        break;
      case "r":
      case "s":
        out.err(
          `flow: -${o.name.length > 1 ? "-" : ""}${o.name} is not yet supported by the testbed's flow (-l, --match and --get are)`,
        );
        return out.result(1);
    }
  }
  if (!list && getIndex !== undefined) return printGet(out, view, getIndex);
  if (!list) return usage();
  if (showEvicted && !list) return usage();
  printTable(out, view, match);
  return out.result(0);
}

/**
 * flow.c's flow_set_match: tokens separated by '&' — "proto <p>", "vrf <n>", or one or two "ip[:port]" ends
 * separated by ','. Returns undefined when it parsed, else the line flow.c prints before exiting -EINVAL.
 */
function parseMatch(text: string, m: Match): string | undefined {
  for (const raw of text.split("&")) {
    const token = raw.trim();
    if (!token) continue;
    if (token.startsWith("proto")) {
      const name = token.slice("proto".length + 1).trim();
      const protos: [string, number][] = [
        ["tcp", 6],
        ["udp", 17],
        ["icmp6", 58],
        ["icmp", 1],
        ["sctp", 132],
      ];
      const found = protos.find(([n]) => name.startsWith(n));
      if (!name) return "";
      if (!found) return `Unsupported protocol "${name}"`;
      m.proto = found[1];
    } else if (token.startsWith("vrf")) {
      const n = token.slice("vrf".length + 1).trim();
      if (!n || !/^\d+/.test(n)) return "";
      m.vrf = Number.parseInt(n, 10);
    } else {
      for (const part of token.split(",")) {
        const end = part.trim();
        if (!end) continue;
        if (m.ends.length === 2)
          return `match: Why do you specify "[${end}]" when both ends of the flow are already specified`;
        if (end.includes("[") || end.split(":").length > 2)
          return "match: the testbed's vrouter has no IPv6 flows (it forwards IPv4 only)";
        const [addr, port] = end.split(":") as [string, string | undefined];
        const ip = addr === "*" ? undefined : parseIpv4(addr);
        if (addr !== "*" && ip === undefined) return `match: "${addr}" is not a valid ipv4 address format`;
        m.ends.push({ ip, port: port === undefined || port === "*" ? undefined : Number.parseInt(port, 10) });
      }
    }
  }
  return undefined;
}

/** Index of every entry: its key's hash in a table of `size` slots, probing on collision (stable per key). */
export function flowIndexes(flows: FlowEntry[], size: number): Map<string, number> {
  const taken = new Set<number>();
  const byKey = new Map<string, number>();
  const keys = flows.map((f) => flowKeyText(f.key)).sort();
  for (const k of keys) {
    let i = flowHash(k) % size;
    while (taken.has(i)) i = (i + 1) % size;
    taken.add(i);
    byKey.set(k, i);
  }
  return byKey;
}

function printTable(out: Out, view: VrouterView, m: Match): void {
  const dp = view.datapath;
  const flows = dp?.flows ?? [];
  const size = dp?.flowLimit ?? 524_288;
  const created = dp?.stats.flowsCreated ?? 0;
  const activeSetups = flows.filter((f) => f.direction === "forward").length;
  out.line(`Flow table(size ${size * FLOW_ENTRY_BYTES}, entries ${size})`);
  out.line();
  out.line(
    `Entries: Created ${created} Added ${created} Deleted ${Math.max(0, created - activeSetups)} Changed 0Processed ${created} Used Overflow entries 0`,
  );
  out.line(`(Created Flows/CPU: ${created})(oflows 0)`);
  out.line();
  out.line("Action:F=Forward, D=Drop N=NAT(S=SNAT, D=DNAT, Ps=SPAT, Pd=DPAT, L=Link Local Port)");
  out.line(" Other:K(nh)=Key_Nexthop, S(nh)=RPF_Nexthop");
  out.line(" Flags:E=Evicted, Ec=Evict Candidate, N=New Flow, M=Modified Dm=Delete Marked");
  out.line("TCP(r=reverse):S=SYN, F=FIN, R=RST, C=HalfClose, E=Established, D=Dead");
  out.line();
  if (m.ends.length || m.proto > 0 || m.vrf > 0) {
    const parts = m.ends.map((e) => `[${e.ip === undefined ? "*" : formatIpv4(e.ip)}]:${e.port ?? "*"}`);
    if (m.proto >= 0) parts.push(`Protocol ${PROTO_NAMES[m.proto] ?? "UNKNOWN"}`);
    if (m.vrf >= 0) parts.push(`VRF ${m.vrf}`);
    out.line(`Listing flows matching (${parts.join(", ")})`);
    out.line();
  }
  out.line(
    `    Index            ${" ".repeat(4)}Source:Port/Destination:Port                  ${" ".repeat(4)}Proto(V)`,
  );
  out.line("-----------------------------------------------------------------------------------");
  const index = flowIndexes(flows, size);
  const rows = flows
    .map((f) => ({ f, i: index.get(flowKeyText(f.key))! }))
    .filter(({ f }) => matches(f, srcVrf(view.tables, f), m))
    .sort((a, b) => a.i - b.i);
  for (const { f, i } of rows)
    printEntry(out, view, f, i, f.reverseKey ? index.get(f.reverseKey) : undefined);
}

/** flow.c: an end matches a flow's source or destination (address, and port when given). */
function matches(f: FlowEntry, vrf: number, m: Match): boolean {
  if (m.vrf >= 0 && vrf !== m.vrf) return false;
  if (m.proto >= 0 && f.key.proto !== m.proto) return false;
  if (m.ends.length === 0) return true;
  const at = (e: Match["ends"][number], ip: string, port: number) =>
    (e.ip === undefined || parseIpv4(ip) === e.ip) && (e.port === undefined || e.port === port);
  const src = (e: Match["ends"][number]) => at(e, f.key.sip, f.key.sport);
  const dst = (e: Match["ends"][number]) => at(e, f.key.dip, f.key.dport);
  const [a, b] = m.ends;
  if (!b) return src(a!) || dst(a!);
  return (src(a!) && dst(b)) || (dst(a!) && src(b));
}

/** The VRF a flow's key belongs to: its key NH's interface's (-1: unencapsulated on the fabric, VRF 0). */
function srcVrf(t: VrouterTables, f: FlowEntry): number {
  const nh = t.nextHops.get(f.key.nh);
  if (nh?.type === "encap") return t.vifs.get(nh.vif)?.vrf ?? f.vrf;
  return f.key.nh < 0 ? t.compute.fabricVrf : f.vrf;
}

/** The longest-prefix route of `ip` in `vrf`. */
function routeOf(t: VrouterTables, vrf: number, ip: string) {
  const a = parseIpv4(ip);
  if (a === undefined) return undefined;
  let best: { nh: number; length: number } | undefined;
  for (const r of t.vrfs.get(vrf)?.routes ?? []) {
    const c = parseCidr(r.prefix);
    if (c && ipv4InPrefix(a, c) && (!best || c.length > best.length)) best = { nh: r.nh, length: c.length };
  }
  return best;
}

/** flow.c's drop reason words (flow_get_drop_reason) for the VR_FLOW_DR_* a denial sets. */
function dropReason(f: FlowEntry): string {
  const d = flowDenial(f);
  if (d?.stage === "network-policy") return d.out ? "OutPolicy" : "Policy";
  if (d?.stage === "security-group") return d.out ? "OutSG" : "SG";
  if (d?.stage === "firewall-policy") return d.out ? "OutFwPolicy" : "FwPolicy";
  if (d?.stage === "floating-ip") return "NoFipPortMap"; // VR_FLOW_DR_PORT_MAP_DROP
  return "Unknown";
}

/** The N(...) letters: VR_FLOW_FLAG_SNAT, SPAT, DNAT, DPAT, LINK_LOCAL in bit order. */
function natFlags(t: VrouterTables, f: FlowEntry): string {
  const n = f.nat ?? {};
  const linkLocal = t.linkLocal.some(
    (l) => (n.dip === l.fabricIp && f.key.dip === l.ip) || (n.sip === l.ip && f.key.sip === l.fabricIp),
  );
  return `${n.sip ? "S" : ""}${n.sport !== undefined ? "Ps" : ""}${n.dip ? "D" : ""}${n.dport !== undefined ? "Pd" : ""}${linkLocal ? "L" : ""}`;
}

function printEntry(out: Out, view: VrouterView, f: FlowEntry, i: number, r: number | undefined): void {
  const t = view.tables;
  const vrf = srcVrf(t, f);
  let s = String(i).padStart(9);
  s += r !== undefined ? `<=>${String(r).padEnd(9)}` : " ".repeat(12);
  s += " ".repeat(4);
  s += `${f.key.sip}:${String(f.key.sport).padEnd(5)}`.padEnd(46);
  s += " ".repeat(4);
  s += `${String(f.key.proto).padStart(3)} (${vrf}${f.vrf !== vrf ? `->${f.vrf}` : ""})\n`;
  s += " ".repeat(25);
  s += `${f.key.dip}:${String(f.key.dport).padEnd(5)}\n`;
  out.print(s);

  const action =
    f.action === "drop" ? `D(${dropReason(f)})` : f.action === "nat" ? `N(${natFlags(t, f)})` : "F";
  let line = `(Gen: 0, K(nh):${f.key.nh < 0 ? 0 : f.key.nh}, Action:${action}, Flags:, `;
  if (f.key.proto === 6) line += `TCP:${(f as FlowEntry & { fin?: boolean }).fin ? "F" : ""}, `;
  if (f.ecmp) {
    const comp = t.nextHops.get(f.ecmp.composite) as Extract<NextHop, { type: "composite" }> | undefined;
    const at = comp?.members.findIndex((mb) => mb.nh === f.ecmp!.nh) ?? -1;
    if (at >= 0) line += `E:${at}, `;
  }
  const rpf = routeOf(t, vrf, f.key.sip);
  line += `QOS:-1, S(nh):${rpf?.nh ?? 0}, `;
  let printed = line.length;
  const wrap = () => {
    if (printed >= 70) {
      line += "\n";
      printed = 0;
    }
  };
  wrap();
  const stats = ` Stats:${f.packets}/${f.bytes}, `;
  line += stats;
  printed += stats.length;
  wrap();
  const sport = ` SPort ${49152 + (flowHash(flowKeyText(f.key)) % 16384)},`;
  line += sport;
  printed += sport.length;
  wrap();
  line += " TTL 0,";
  wrap();
  line += ` Sinfo ${sourceInfo(t, f, vrf)})`;
  out.print(line);
  out.print("\n\n");
}

/**
 * fe_src_info: where the flow's packets come from — the vif index for a local port (printed by inet_ntop as
 * "<index>.0.0.0"), else the sending compute's fabric address (the tunnel towards the source).
 */
function sourceInfo(t: VrouterTables, f: FlowEntry, vrf: number): string {
  const nh = t.nextHops.get(f.key.nh);
  if (nh?.type === "encap") {
    const fromFabric = [...t.labels.values()].includes(nh.id) && srcIsRemote(t, vrf, f.key.sip);
    if (!fromFabric) return `${nh.vif}.0.0.0`;
  }
  const route = routeOf(t, vrf, f.key.sip);
  const rnh = route ? t.nextHops.get(route.nh) : undefined;
  if (rnh?.type === "tunnel") return rnh.dstIp;
  if (rnh?.type === "fabric" && rnh.via !== "0.0.0.0") return rnh.via;
  if (rnh?.type === "encap") return `${rnh.vif}.0.0.0`;
  return f.key.sip;
}

function srcIsRemote(t: VrouterTables, vrf: number, ip: string): boolean {
  const route = routeOf(t, vrf, ip);
  const rnh = route ? t.nextHops.get(route.nh) : undefined;
  return rnh?.type === "tunnel" || rnh?.type === "composite" || rnh?.type === "fabric";
}

/** flow.c's FLOW_GET_FIELD_LENGTH: a `--get` field name and its colon, padded to 30. */
const FIELD = 30;
const field = (name: string) => `${name}:`.padEnd(FIELD);
const SPACES = " ".repeat(FIELD);

const NH_TYPE_WORDS: Record<NextHop["type"], string> = {
  discard: "DISCARD",
  receive: "RECEIVE",
  encap: "ENCAP",
  tunnel: "TUNNEL",
  composite: "COMPOSITE",
  "vrf-translate": "VRF_TRANSLATE",
  fabric: "ENCAP",
};

/** flow --get <index>: flow.c's flow_dump_entry (fill_flow_req's messages for an index it cannot show). */
function printGet(out: Out, view: VrouterView, index: number): ToolResult {
  const t = view.tables;
  const dp = view.datapath;
  const size = dp?.flowLimit ?? 524_288;
  if (index >= size) {
    out.line(`Flow index ${index} is greater than available indices (${size - 1})`);
    return out.result(255);
  }
  const flows = dp?.flows ?? [];
  const indexes = flowIndexes(flows, size);
  const f = flows.find((x) => indexes.get(flowKeyText(x.key)) === index);
  if (!f) {
    out.line(`Flow index ${index} is not active`);
    return out.result(0);
  }
  const r = f.reverseKey ? flows.find((x) => flowKeyText(x.key) === f.reverseKey) : undefined;
  const vrf = srcVrf(t, f);
  out.line(`${field("Flow Index")}${index}`);
  out.line(`${field("Flow Generation ID")}0`);
  out.line(`${field("Reverse Flow Index")}${r ? indexes.get(f.reverseKey!) : -1}`);
  out.line(`${field("VRF")}${vrf}`);
  out.line(`${field("Destination VRF")}${f.vrf}`);
  out.line(`${field("Flow Source")}[${f.key.sip}]:${String(f.key.sport).padEnd(5)}`);
  out.line(`${field("Flow Destination")}[${f.key.dip}]:${String(f.key.dport).padEnd(5)}`);
  out.line(`${field("Flow Protocol")}${PROTO_NAMES[f.key.proto] ?? "UNKNOWN"}`);
  if (f.action === "drop") out.line(`${field("Flow Action")}DROP:${SPACES}${dropReason(f)}`);
  else if (f.action === "forward") out.line(`${field("Flow Action")}FORWARD`);
  else {
    const n = f.nat ?? {};
    const words = [
      n.sip ? "SourceNAT, " : "",
      n.sport !== undefined ? "SourcePortNAT, " : "",
      n.dip ? "DestinationNAT, " : "",
      n.dport !== undefined ? "DestinationPortNAT, " : "",
      natFlags(t, f).includes("L") ? "LinkLocalNAT, " : "",
    ].join("");
    out.line(`${field("Flow Action")}NAT: ${words}`);
    // what the packets become: the reverse entry's key, read backwards
    const src = `[${n.sip ?? f.key.sip}]:${n.sport ?? f.key.sport}`;
    const dst = `[${n.dip ?? f.key.dip}]:${n.dport ?? f.key.dport}`;
    out.line(`${SPACES}NAT(Source, Destination): ${src}, ${dst}`);
  }
  const rpf = routeOf(t, vrf, f.key.sip);
  const rpfNh = rpf ? t.nextHops.get(rpf.nh) : undefined;
  if (rpfNh) {
    out.print(field("Expected Source"));
    printNh(out, view, rpfNh, vrf, true);
  }
  printEnd(out, view, "Source Information", vrf, f.key.sip, true);
  printEnd(out, view, "Destination Information", f.vrf, f.nat?.dip ?? f.key.dip, false);
  out.line();
  out.line(field("Flow Flags"));
  if (f.key.proto === 6)
    out.line(`${field("TCP FLAGS")}${(f as FlowEntry & { fin?: boolean }).fin ? "FIN, " : ""}`);
  out.line(`${field("UDP Source Port")}${49152 + (flowHash(flowKeyText(f.key)) % 16384)}`);
  out.line();
  const drops = dp ? Object.values(dp.stats.drops).reduce((a, b) => a + b, 0) : 0;
  const d = dp?.stats.drops;
  const flowDrops = d ? d.FLOW_NO_MEMORY + d.FLOW_NAT_NO_RFLOW + d.FLOW_ACTION_DROP + d.FLOW_TABLE_FULL : 0;
  out.line(`${field("Flow Statistics")}${f.packets}/${f.bytes}`);
  out.line(`${field("System Wide Packet Drops")}${drops}`);
  out.line(`${SPACES}Reverse Path Failures: ${d?.INVALID_SOURCE ?? 0}`);
  out.line(`${SPACES}Flow Block Drops: ${flowDrops}`);
  return out.result(0);
}

/** "Source Information" / "Destination Information": the VRF, the route matching the address, its next-hop. */
function printEnd(
  out: Out,
  view: VrouterView,
  name: string,
  vrf: number,
  ip: string,
  ingress: boolean,
): void {
  const t = view.tables;
  const route = routeOf(t, vrf, ip);
  if (!route) return;
  const prefix = (t.vrfs.get(vrf)?.routes ?? []).find(
    (r) => r.nh === route.nh && parseCidr(r.prefix)?.length === route.length,
  )?.prefix;
  out.line(`${field(name)}VRF: ${vrf}`);
  out.line(`${SPACES}Layer 3 Route Information`);
  const [addr, len] = (prefix ?? `${ip}/${route.length}`).split("/") as [string, string];
  out.line(`${SPACES}Matching Route: ${addr}/${len.padEnd(2)}`);
  const nh = t.nextHops.get(route.nh);
  if (nh) {
    out.print(SPACES);
    printNh(out, view, nh, vrf, ingress);
  }
}

/** flow.c's flow_dump_nexthop: the NH header, then the tunnel's far end or the interface and its counters. */
function printNh(out: Out, view: VrouterView, nh: NextHop, vrf: number, ingress: boolean): void {
  const t = view.tables;
  if (nh.type !== "encap" && nh.type !== "receive" && nh.type !== "tunnel" && nh.type !== "composite") {
    out.line();
    return;
  }
  out.line(`NextHop(Index, VRF, Type): ${nh.id}, ${vrf}, ${NH_TYPE_WORDS[nh.type]}`);
  if (nh.type === "tunnel") out.line(`${SPACES}Tunnel Source: ${nh.dstIp}`);
  if (nh.type === "composite") {
    out.line(`${SPACES}ECMP`);
    out.line(`${SPACES}${nh.members.map((m) => `${m.nh}, `).join("")}`);
    return;
  }
  const vifIndex = nh.type === "encap" ? nh.vif : nh.type === "tunnel" ? t.compute.fabricVif : undefined;
  const vif = vifIndex === undefined ? undefined : t.vifs.get(vifIndex);
  if (!vif) return;
  const c = view.datapath?.vifs[vif.index];
  out.line(
    `${SPACES}${ingress ? "Ingress" : "Egress"} Interface(Index, VRF, OS): vif0/${vif.index}, ${vif.vrf}, ${vif.name}`,
  );
  out.line(`${SPACES}Interface Statistics(Out, In, Errors): ${c?.txPackets ?? 0}, ${c?.rxPackets ?? 0}, 0`);
}
