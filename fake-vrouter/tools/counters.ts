/**
 * The counter tools: `dropstats` (tf-vrouter utils/dropstats.c, printed by vr_util.c's vr_print_drop_stats:
 * every non-zero counter as "%-28s  %lu", in the kernel's order), `mpls --dump|--get <label>` (utils/mpls.c:
 * the incoming label map) and `vrfstats --dump|--get <vrf>` (utils/vrfstats.c: what carried each VRF's packets).
 *
 * The engine names its drops after the kernel's VP_DROP_* counters (`tables.ts` DropReason); each maps to the
 * dropstats line of that counter. `ARP_NO_WHERE_TO_GO` (an ARP the vrouter cannot answer or forward) has no
 * line of its own in this dropstats; it is counted under "Invalid ARP". vrfstats counts what the engine sees:
 * the next-hop kind that carried a routed packet (Encaps, Udp Mpls / Gre Mpls / Vxlan Tunnels, Ecmp
 * Composites), packets for the vrouter itself (Receives), discards and proxied ARPs; the kinds the testbed
 * has no next-hop for (multicast, EVPN, PBB, L2) stay 0.
 *
 * Example: `dropstats([], view).stdout` → "Flow Action Drop              3\n"
 */
import type { DropReason } from "../tables";
import { getoptLong, strtoul } from "./getopt";
import { EXIT_EINVAL, Out, type ToolResult, vrouterResponse, type VrouterView } from "./view";

/** vr_print_drop_stats' lines, in order, and the engine's reasons each counts. */
const DROP_LINES: [line: string, reasons: DropReason[]][] = [
  ["Invalid IF", ["INVALID_IF"]],
  ["Invalid ARP", ["INVALID_ARP", "ARP_NO_WHERE_TO_GO"]],
  ["Trap No IF", []],
  ["IF TX Discard", []],
  ["IF Drop", []],
  ["IF RX Discard", []],
  ["Flow Unusable", []],
  ["Flow No Memory", ["FLOW_NO_MEMORY"]],
  ["Flow Table Full", ["FLOW_TABLE_FULL"]],
  ["Flow NAT no rflow", ["FLOW_NAT_NO_RFLOW"]],
  ["Flow Action Drop", ["FLOW_ACTION_DROP"]],
  ["Flow Action Invalid", []],
  ["Flow Invalid Protocol", []],
  ["Flow Queue Limit Exceeded", []],
  ["New Flow Drops", []],
  ["Flow Unusable (Eviction)", []],
  ["Original Packet Trapped", []],
  ["Discards", ["DISCARD"]],
  ["TTL Exceeded", ["TTL_EXCEEDED"]],
  ["Mcast Clone Fail", []],
  ["Invalid NH", ["INVALID_NH"]],
  ["Invalid Label", ["INVALID_LABEL"]],
  ["Invalid Protocol", ["INVALID_PROTOCOL"]],
  ["Etree Leaf to Leaf", []],
  ["Bmac/ISID Mismatch", []],
  ["Rewrite Fail", []],
  ["Invalid Mcast Source", []],
  ["Packet Loop", []],
  ["Push Fails", []],
  ["Pull Fails", ["PULL"]],
  ["Duplicate", []],
  ["Head Alloc Fails", []],
  ["PCOW fails", []],
  ["Invalid Packets", ["INVALID_PACKET"]],
  ["Misc", []],
  ["Nowhere to go", ["NOWHERE_TO_GO"]],
  ["Checksum errors", []],
  ["No Fmd", ["NO_FMD"]],
  ["Invalid VNID", ["INVALID_VNID"]],
  ["Fragment errors", []],
  ["Invalid Source", ["INVALID_SOURCE"]],
  ["Jumbo Mcast Pkt with DF Bit", []],
  ["No L2 Route", []],
  ["Memory Failures", []],
  ["Fragment Queueing Failures", []],
  ["No Encrypt Path Failures", []],
  ["Invalid HBS received packet", []],
  ["No Fragment Entries", []],
  ["ICMP errors", []],
  ["Clone Failures", []],
  ["Invalid underlay ECMP", []],
];

/** vr_print_drop_stats: every non-zero counter, "%-28s  %lu", in the kernel's order. */
export function dropLines(drops: Partial<Record<DropReason, number>> | undefined): string[] {
  const out: string[] = [];
  for (const [line, reasons] of DROP_LINES) {
    const n = reasons.reduce((sum, r) => sum + (drops?.[r] ?? 0), 0);
    if (n) out.push(`${line.padEnd(28)}  ${n}`);
  }
  return out;
}

/** The dropstats line that counts a reason (for reports that name the counter a drop lands in). */
export function dropstatsLine(reason: DropReason): string {
  return DROP_LINES.find(([, rs]) => rs.includes(reason))?.[0] ?? reason;
}

const DROPSTATS_USAGE = `Usage: dropstats [--help]
Usage: dropstats [--core|-c] <core number> 

--core <core number>\t Show statistics for a specified CPU core
--sock-dir <netlink socket dir>
--log <core number> [--show <drop-type>]\t Show Packet drops log for a specified core.. \t\tCore number starts from 1...n. If core number specified as zero, \t\tit will log for all cores 
--clear\t To clear stats counters on all cores
--debug\t To Display Debug counters
--drop-type <drop log type|help>\t Log specific Packet drops type.         Use VP_DROP_MAX to clear drop set type
--clear-drop-log\t To clear packet drops log on all cores
--min-log <1(enable)/ 0<disable)\t To set min log
`;

export function dropstats(argv: string[], view: VrouterView): ToolResult {
  const out = new Out();
  const usage = () => {
    out.print(DROPSTATS_USAGE);
    return out.result(EXIT_EINVAL);
  };
  const p = getoptLong("dropstats", argv, "h:c:o:l:s:m:", [
    { name: "help", arg: false },
    { name: "core", arg: true },
    { name: "offload", arg: false },
    { name: "log", arg: true },
    { name: "show", arg: true },
    { name: "clear", arg: false },
    { name: "debug", arg: false },
    { name: "drop-type", arg: true },
    { name: "clear-drop-log", arg: false },
    { name: "min-log", arg: true },
    { name: "sock-dir", arg: true },
  ]);
  for (const e of p.errors) out.err(e);
  if (p.errors.length) return usage();
  let core = -1;
  for (const o of p.opts) {
    if (o.name === "help" || o.name === "h") return usage();
    if (o.name === "core" || o.name === "c") {
      if (!/^\d+$/.test(o.value!)) {
        out.line(`Invalid argument ${o.value}`);
        return usage();
      }
      core = Number(o.value);
    } else if (o.name === "offload" || o.name === "o") {
      out.line("Error: hardware offloads not enabled");
      return usage();
    } else if (o.name !== "sock-dir") {
      out.err(
        `dropstats: --${o.name.length > 1 ? o.name : o.name} is not available in the testbed's dropstats (it prints the counters, optionally --core 0)`,
      );
      return out.result(1);
    }
  }
  if (core >= 0) {
    out.line(`Statistics for core ${core}`);
    out.line();
  }
  // one core: core 0 has every drop, any other none
  const drops = core > 0 ? undefined : view.datapath?.stats.drops;
  for (const l of dropLines(drops)) out.line(l);
  return out.result(0);
}

const MPLS_USAGE = `Usage:  mpls --dump
        mpls --get <label>
        mpls --help

--dump  Dumps the mpls incoming label map
--get   Dumps the entry corresponding to label <label>
        in the label map
--sock-dir <netlink sock dir>
--help  Prints this help message
`;

export function mpls(argv: string[], view: VrouterView): ToolResult {
  const out = new Out();
  const usage = () => {
    out.print(MPLS_USAGE);
    return out.result(1); // mpls.c's Usage() exits 1
  };
  const p = getoptLong("mpls", argv, "bcdgn:l:s:", [
    { name: "cmd", arg: false },
    { name: "create", arg: true },
    { name: "delete", arg: true },
    { name: "dump", arg: false },
    { name: "get", arg: true },
    { name: "help", arg: false },
    { name: "nh", arg: true },
    { name: "sock-dir", arg: true },
  ]);
  for (const e of p.errors) out.err(e);
  if (p.errors.length) return usage();
  const ops = p.opts.filter((o) => ["dump", "get", "create", "delete", "b", "g", "c", "d"].includes(o.name));
  if (p.opts.some((o) => o.name === "help")) return usage();
  if (ops.length !== 1) return usage();
  const op = ops[0]!;
  if (["create", "delete", "c", "d"].includes(op.name)) {
    out.err(
      "mpls: changing the label map is not available in the testbed: its vrouter is programmed only by its agent (read-only tools)",
    );
    return out.result(1);
  }
  out.line("MPLS Input Label Map");
  out.line();
  out.line("   Label    NextHop");
  out.line("-------------------");
  const row = (label: number, nh: number) =>
    out.line(`${String(label).padStart(8)}    ${String(nh).padStart(6)}`);
  if (op.name === "dump" || op.name === "b") {
    for (const [label, nh] of [...view.tables.labels].sort((a, b) => a[0] - b[0])) row(label, nh);
    return out.result(0);
  }
  const labelText = op.value ?? p.opts.find((o) => o.name === "l")?.value;
  if (labelText === undefined) return usage();
  const label = strtoul(labelText);
  const nh = view.tables.labels.get(label);
  if (nh === undefined) out.line(vrouterResponse(2));
  else row(label, nh);
  return out.result(0);
}

const VRFSTATS_USAGE = `Usage: vrfstats --get <vrf>
                --dump
                --help

--get <vrf>    Displays packet statistics for the vrf <vrf>
--dump         Displays packet statistics for all vrfs
--help         Displays this help message
`;

export function vrfstats(argv: string[], view: VrouterView): ToolResult {
  const out = new Out();
  const usage = () => {
    out.print(VRFSTATS_USAGE);
    return out.result(EXIT_EINVAL);
  };
  const p = getoptLong("vrfstats", argv, "", [
    { name: "get", arg: true },
    { name: "dump", arg: false },
    { name: "help", arg: false },
  ]);
  for (const e of p.errors) out.err(e);
  if (p.errors.length) return usage();
  if (p.opts.length !== 1 || p.opts[0]!.name === "help") return usage();
  const o = p.opts[0]!;
  const ids = [...view.tables.vrfs.keys()].sort((a, b) => a - b);
  if (o.name === "dump") {
    for (const id of ids) printVrf(out, view, id);
    return out.result(0);
  }
  const id = strtoul(o.value!);
  if (!view.tables.vrfs.has(id)) {
    out.line(vrouterResponse(2));
    return out.result(0);
  }
  printVrf(out, view, id);
  return out.result(0);
}

function printVrf(out: Out, view: VrouterView, id: number): void {
  const c = view.datapath?.vrfs[id];
  const n = (v: number | undefined) => v ?? 0;
  out.line(`Vrf: ${id}`);
  out.line(
    `Discards ${n(c?.discards)}, Resolves 0, Receives ${n(c?.receives)}, L2 Receives 0, Vrf Translates 0, Unknown Unicast Floods 0`,
  );
  out.line(
    `Ecmp Composites ${n(c?.ecmpComposites)}, L2 Mcast Composites 0, Fabric Composites 0, Encap Composites 0, Evpn Composites 0`,
  );
  out.line(
    `Udp Tunnels 0, Udp Mpls Tunnels ${n(c?.udpMplsTunnels)}, Gre Mpls Tunnels ${n(c?.greMplsTunnels)}, Vxlan Tunnels ${n(c?.vxlanTunnels)}, Pbb Tunnels 0, Mpls over Mpls Tunnels 0`,
  );
  out.line(`L2 Encaps 0, Encaps ${n(c?.encaps)}`);
  out.line("GROs 0, Diags 0");
  out.line(
    `Arp Virtual Proxys ${n(c?.arpVirtualProxies)}, Arp Virtual Stitchs 0, Arp Virtual Floods 0, Arp Physical Stitchs 0, Arp Tor Proxys 0, Arp Physical Floods 0`,
  );
  out.line();
}
