/**
 * `nh`: the vrouter's next-hop table (tf-vrouter utils/nh.c): `--list`, `--get <id>` (a composite's members
 * follow it, as nh.c fetches them). Each entry: id, type, family, reference count and VRF; the flags in bit
 * order ("Valid, Policy, Etree Root, "); then what the type carries (the ENCAP's L2 rewrite, a TUNNEL's
 * addresses, a COMPOSITE's members with their labels).
 *
 * How the agent's next-hops map onto the kernel's types: `encap` → Encap (rewrite to the VM's MAC), `tunnel`
 * → Tunnel (MPLSoUDP/MPLSoGRE/VXLAN), `composite` → Composite ECMP, `receive` → Receive (to vhost0),
 * `discard` → Drop, `vrf-translate` → Vrf_Translate, and `fabric` (ip-fabric forwarding) → an Encap out of
 * the fabric port towards the next router (a Resolve when it is on-link: the kernel resolves the destination).
 *
 * Example: `nh(["--get", "21"], view).stdout` → "Id:21         Type:Encap          Fmly: AF_INET  Rid:0 …"
 */
import { fabricMacFor } from "../datapath/engine";
import { type NextHop, VROUTER_MAC } from "../tables";
import { getoptLong, strtoul } from "./getopt";
import {
  EXIT_EINVAL,
  hostVif,
  macBytes,
  nhRefs,
  nhVrf,
  Out,
  type ToolResult,
  vrouterResponse,
  type VrouterView,
} from "./view";

const USAGE = `Usage: nh --list
       nh --get <nh_id>
       nh --help

--list Lists All Nexthops
--get  <nh_id> Displays nexthop corresponding to <nh_id>
--sock-dir <netlink sock dir>
--help Displays this help message

`;

/** nh.c's long options (it has no short ones); the ones that write are refused, the rest need --create. */
const LONGS = [
  "oif:",
  "smac:",
  "dmac:",
  "vrf:",
  "type:",
  "sip:",
  "dip:",
  "pol",
  "rpol",
  "l2",
  "sport:",
  "dport:",
  "l3_vxlan:",
  "udp",
  "vxlan",
  "cni:",
  "cmc",
  "cfa",
  "mc",
  "cen",
  "cevpn",
  "tor",
  "rlkup",
  "lbl:",
  "uucf",
  "list",
  "get:",
  "create:",
  "delete:",
  "cmd",
  "ind",
  "pbb",
  "root",
  "ml",
  "help",
  "sock-dir:",
  "ecmp",
].map((s) => ({ name: s.replace(":", ""), arg: s.endsWith(":") }));

/** NH_FLAG_* bits (vr_nexthop.h) the testbed's next-hops carry, and nh.c's words for them. */
const F = {
  VALID: [0x1, "Valid"],
  POLICY: [0x2, "Policy"],
  GRE: [0x8, "MPLSoGRE"],
  UDP_MPLS: [0x40, "MPLSoUDP"],
  VXLAN: [0x80, "Vxlan"],
  ECMP: [0x400, "Ecmp"],
  ETREE_ROOT: [0x200000, "Etree Root"],
} as const;
type Flag = keyof typeof F;

export function nh(argv: string[], view: VrouterView): ToolResult {
  const out = new Out();
  const usage = () => {
    out.print(USAGE);
    return out.result(EXIT_EINVAL); // usage() exits -EINVAL
  };
  const p = getoptLong("nh", argv, "", LONGS);
  for (const e of p.errors) out.err(e);
  if (p.errors.length) return usage();
  const names = new Set(p.opts.map((o) => o.name));
  // validate_options: create, then delete, then get, then list
  const command = ["create", "delete", "get", "list"].find((c) => names.has(c));
  if (!command) return usage();
  if (command === "create" || command === "delete") {
    out.err(
      `nh: --${command} is not available in the testbed: its vrouter is programmed only by its agent (read-only tools)`,
    );
    return out.result(1);
  }
  const refs = nhRefs(view.tables);
  if (command === "list") {
    for (const n of [...view.tables.nextHops.values()].sort((a, b) => a.id - b.id))
      printNh(out, n, view, refs);
    return out.result(0);
  }
  const id = strtoul(p.opts.find((o) => o.name === "get")!.value!);
  const seen = new Set<number>();
  const get = (nhId: number) => {
    const n = view.tables.nextHops.get(nhId);
    if (!n) {
      out.line(vrouterResponse(2));
      return;
    }
    printNh(out, n, view, refs);
    if (n.type === "composite" && !seen.has(n.id)) {
      seen.add(n.id);
      for (const m of n.members) get(m.nh);
    }
  };
  get(id);
  return out.result(0);
}

const NL = `\n${" ".repeat(14)}`;

function printNh(out: Out, n: NextHop, view: VrouterView, refs: Map<number, number>): void {
  const t = view.tables;
  const type =
    n.type === "encap"
      ? "Encap"
      : n.type === "tunnel"
        ? "Tunnel"
        : n.type === "composite"
          ? "Composite"
          : n.type === "receive"
            ? "Receive"
            : n.type === "discard"
              ? "Drop"
              : n.type === "vrf-translate"
                ? "Vrf_Translate"
                : n.via === "0.0.0.0"
                  ? "Resolve"
                  : "Encap";
  const flags: Flag[] = ["VALID"];
  let body = "";
  const fabricVif = t.compute.fabricVif;
  const fabricMac = t.vifs.get(fabricVif)?.mac ?? fabricMacFor(t.compute.fabricIp);
  const encapData = (dst: string, src: string) =>
    [...macBytes(dst), ...macBytes(src), 0x08, 0x00]
      .map((b) => `${b.toString(16).padStart(2, "0")} `)
      .join("");
  switch (n.type) {
    case "encap": {
      if (n.policy) flags.push("POLICY");
      flags.push("ETREE_ROOT");
      const vif = t.vifs.get(n.vif);
      body = `${NL}EncapFmly:0806 Oif:${n.vif} Len:14${NL}Encap Data: ${encapData(vif?.mac ?? "00:00:00:00:00:00", VROUTER_MAC)}`;
      break;
    }
    case "tunnel":
      flags.push(
        n.encap === "mplsoudp" ? "UDP_MPLS" : n.encap === "mplsogre" ? "GRE" : "VXLAN",
        "ETREE_ROOT",
      );
      body = `${NL}Oif:${fabricVif} Len:14 Data:${encapData(fabricMacFor(n.dstIp), fabricMac)}${NL}Sip:${n.srcIp} Dip:${n.dstIp}`;
      break;
    case "composite":
      flags.push("POLICY", "ECMP", "ETREE_ROOT");
      body = `${NL}Sub NH(label):${compositeMembers(n.members)}`;
      break;
    case "receive":
      flags.push("POLICY", "ETREE_ROOT");
      body = `${NL}Oif:${hostVif(t)?.index ?? 1}`;
      break;
    case "vrf-translate":
      body = `${NL}Vrf:${n.vrf}`;
      break;
    case "fabric":
      flags.push("ETREE_ROOT");
      if (n.via !== "0.0.0.0")
        body = `${NL}EncapFmly:0806 Oif:${fabricVif} Len:14${NL}Encap Data: ${encapData(fabricMacFor(n.via), fabricMac)}`;
      break;
    case "discard":
      break;
  }
  const flagText = flags
    .map((f) => F[f])
    .sort((a, b) => a[0] - b[0])
    .map(([, w]) => `${w}, `)
    .join("");
  out.print(
    `Id:${String(n.id).padEnd(9)}  Type:${type.padEnd(13)}  Fmly:${"AF_INET".padStart(8)}  Rid:0  Ref_cnt:${String(refs.get(n.id) ?? 0).padEnd(10)} Vrf:${nhVrf(t, n)}`,
  );
  out.print(`${NL}Flags:${flagText}${body}`);
  out.print("\n\n");
}

/** nh.c's member list: " 21(17) 34(25)", wrapped past 60 characters. */
function compositeMembers(members: { nh: number; label: number }[]): string {
  let s = "";
  let printed = 0;
  for (const m of members) {
    if (printed > 60) {
      s += `${NL}${" ".repeat(14)}`;
      printed = 0;
    }
    const item = ` ${m.nh}${m.label >= 0 ? `(${m.label})` : ""}`;
    s += item;
    printed += item.length;
  }
  return s;
}
