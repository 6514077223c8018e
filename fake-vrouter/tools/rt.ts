/**
 * `rt`: a VRF's routing table (tf-vrouter utils/rt.c): `--dump <vrf> [--family inet]`, `--get <addr/plen>
 * --vrf <id>`. Columns as rt.c prints them: destination/prefix, the replacing prefix length (PPL), flags
 * (L label valid, P proxy ARP, T trap ARP, F flood ARP), label, next-hop.
 *
 * The kernel's mtrie also lists every unrouted stretch of the address space (to the discard NH); the testbed
 * prints the routes the agent installed, longest prefix first within each address. `--family inet6` and
 * `bridge` print their empty tables: the testbed forwards IPv4 only (PIPELINE.md, Not modelled).
 *
 * Example: `rt(["--dump", "2"], view).stdout` → "…vRouter inet4 routing table 0/2/unicast\n…10.47.255.252/32 …"
 */
import { formatIpv4, ipv4InPrefix, parseCidr, parseIpv4 } from "../datapath/addr";
import type { Route, VrouterTables } from "../tables";
import { getoptLong, strtoul } from "./getopt";
import { Out, type ToolResult, type VrouterView } from "./view";

const USAGE = `Usage:    rt --dump <vrf_id> [--family <inet|inet6|bridge>]>
          rt --get <address/plen> --vrf <id> [--family <inet|inet6>]
          rt --monitor
          rt --help

--dump    Dumps the routing table corresponding to vrf_id
--family  Optional family specification to --dump command
          Specification should be one of "inet" or "bridge"
--monitor Watch for netlink broadcasted messages
--sock-dir <netlink sock dir>
--help    Prints this help message
`;

const LONGS = [
  { name: "cmd", arg: false },
  { name: "dump", arg: true },
  { name: "monitor", arg: false },
  { name: "family", arg: true },
  { name: "get", arg: true },
  { name: "vrf", arg: true },
  { name: "help", arg: false },
  { name: "sock-dir", arg: true },
];

const INET_LEGEND = "Flags: L=Label Valid, P=Proxy ARP, T=Trap ARP, F=Flood ARP, Ml=MAC-IP learnt route";
const BRIDGE_LEGEND =
  "Flags: L=Label Valid, Df=DHCP flood, Mm=Mac Moved, L2c=L2 Evpn Control Word, N=New Entry, Ec=EvpnControlProcessing";

export function rt(argv: string[], view: VrouterView): ToolResult {
  const out = new Out();
  const usage = () => {
    out.print(USAGE);
    return out.result(1); // rt.c's Usage() exits 1
  };
  const p = getoptLong("rt", argv, "TcdbmPM:n:p:l:v:t:s:e:f:u:r:Fx:", LONGS);
  for (const e of p.errors) out.err(e);
  if (p.errors.length) return usage();
  let op: "dump" | "get" | undefined;
  let vrf = -1;
  let family: "inet" | "inet6" | "bridge" = "inet";
  let familySet = false;
  let prefix: string | undefined;
  for (const o of p.opts) {
    switch (o.name) {
      case "help":
        return usage();
      case "dump":
        op = "dump";
        vrf = strtoul(o.value!);
        break;
      case "family": {
        const f = o.value!;
        if (f !== "inet" && f !== "inet6" && f !== "bridge") return usage();
        family = f;
        familySet = true;
        break;
      }
      case "get":
        op = "get";
        prefix = o.value;
        break;
      case "vrf":
      case "v":
        vrf = strtoul(o.value!);
        break;
      case "monitor":
        out.err("rt: --monitor is not yet supported by the testbed's rt (--dump and --get are)");
        return out.result(1);
      case "sock-dir":
      case "u":
        break;
      case "c":
      case "d":
        out.err(
          "rt: adding or deleting routes is not available in the testbed: its vrouter is programmed only by its agent (read-only tools)",
        );
        return out.result(1);
      case "b":
        op = "dump";
        break;
      default:
        break; // the create/delete operands (-n, -p, -l, …) mean nothing without -c/-d
    }
  }
  if (!op || vrf < 0) return usage();
  if (op === "dump") {
    if (p.opts.length > 1 && !familySet && p.opts.some((o) => o.name !== "dump" && o.name !== "sock-dir"))
      return usage();
    printHeader(out, family, vrf);
    if (family === "inet") for (const r of routesOf(view.tables, vrf)) printRoute(out, r.prefix, r);
    return out.result(0);
  }
  // --get <address/plen> --vrf <id>
  if (family === "bridge") {
    out.err("rt: --get in the bridge table is not yet supported by the testbed's rt");
    return out.result(1);
  }
  const [addr, plenText] = prefix!.split("/", 2) as [string, string | undefined];
  if (family === "inet6" || parseIpv4(addr) === undefined || plenText === undefined) return usage();
  const plen = strtoul(plenText);
  const masked = parseCidr(`${addr}/${Math.min(plen, 32)}`);
  const network = masked ? formatIpv4(masked.network) : addr;
  out.line(`Match ${network}/${plen} in vRouter inet4 table 0/${vrf}/unicast`);
  out.line();
  printHeader(out, family, vrf);
  const best = lookup(view.tables, vrf, addr, plen);
  if (best) printRoute(out, best.prefix, best);
  return out.result(0);
}

function printHeader(out: Out, family: string, vrf: number): void {
  if (family === "bridge") {
    out.line(BRIDGE_LEGEND);
    out.line(`vRouter bridge table 0/${vrf}`);
    out.line("Index       DestMac                  Flags           Label/VNID      Nexthop           Stats");
    return;
  }
  out.line(INET_LEGEND);
  out.line(`vRouter inet${family === "inet" ? "4" : "6"} routing table 0/${vrf}/unicast`);
  out.line("Destination           PPL        Flags        Label         Nexthop    Stitched MAC(Index)");
}

/** The VRF's routes by address, then longest prefix first (the kernel walks its mtrie in address order). */
function routesOf(t: VrouterTables, vrf: number): Route[] {
  const routes = [...(t.vrfs.get(vrf)?.routes ?? [])];
  const key = (r: Route) => parseCidr(r.prefix) ?? { network: 0, length: 0 };
  return routes.sort((a, b) => key(a).network - key(b).network || key(a).length - key(b).length);
}

/** rt --get: the longest prefix of the VRF covering `addr` no longer than `plen`. */
function lookup(
  t: VrouterTables,
  vrf: number,
  addr: string,
  plen: number,
): (Route & { length: number }) | undefined {
  const a = parseIpv4(addr)!;
  let best: (Route & { length: number }) | undefined;
  for (const r of t.vrfs.get(vrf)?.routes ?? []) {
    const c = parseCidr(r.prefix);
    if (!c || c.length > plen) continue;
    if (!ipv4InPrefix(a, c)) continue;
    if (!best || c.length > best.length) best = { ...r, length: c.length };
  }
  return best;
}

function printRoute(out: Out, dest: string, r: Route): void {
  const [addr, len] = dest.split("/") as [string, string];
  let line = `${addr}/${len.padEnd(2)}`;
  line = line.padEnd(21);
  line += String(parseCidr(r.prefix)?.length ?? 0).padStart(4);
  line += " ".repeat(8);
  // a route with a label is a tunnel's; the vrouter answers ARP for every host route (proxy ARP)
  const flags = `${r.label !== undefined ? "L" : ""}${len === "32" ? "P" : ""}`;
  line += flags.padStart(5);
  line += " ".repeat(6);
  line += (r.label !== undefined ? String(r.label) : "-").padStart(5);
  line += " ".repeat(8);
  line += String(r.nh).padStart(7);
  line += " ".repeat(8);
  line += "-";
  out.line(line);
}
