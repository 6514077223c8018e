/**
 * `vif`: the vrouter's interface table (tf-vrouter utils/vif.c, kernel platform): `--list`, `--get <id>`
 * (`--get-drop-stats`: the interface's drop counters, as dropstats prints them), with `--core <n>` (the
 * emulated vrouter has one core, 0). Each entry is vif.c's list_get_print: the vif and its OS name (and
 * interface NH), type, MAC and address, VRF and flags, RX/TX counters, drops.
 *
 * Example: `vif(["--get", "3"], view).stdout` → "…vif0/3      OS: tapeth0-14ec08 NH: 21\n            Type:Virtual…"
 */
import { VROUTER_MAC, type Vif } from "../tables";
import { dropLines } from "./counters";
import { getoptLong, strtoul } from "./getopt";
import { Out, type ToolResult, vifNh, vrouterResponse, type VrouterView } from "./view";

/** vif.c flag_metadata, in its order (a vif's flags print in this order, concatenated). */
const FLAGS: [symbol: string, name: string][] = [
  ["P", "Policy"],
  ["X", "Cross Connect"],
  ["S", "Service Chain"],
  ["Mr", "Receive Mirror"],
  ["Mt", "Transmit Mirror"],
  ["Tc", "Transmit Checksum Offload"],
  ["L3", "Layer 3"],
  ["L2", "Layer 2"],
  ["D", "DHCP"],
  ["Vp", "Vhost Physical"],
  ["Pr", "Promiscuous"],
  ["Vnt", "Native Vlan Tagged"],
  ["Mnp", "No MAC Proxy"],
  ["Dpdk", "DPDK PMD Interface"],
  ["Rfl", "Receive Filtering Offload"],
  ["Mon", "Interface is Monitored"],
  ["Uuf", "Unknown Unicast Flood"],
  ["Vof", "VLAN insert/strip offload"],
  ["Df", "Drop New Flows"],
  ["L", "MAC Learning Enabled"],
  ["Proxy", "MAC Requests Proxied Always"],
  ["Er", "Etree Root"],
  ["Mn", "Mirror without Vlan Tag"],
  ["HbsL", "HBS Left Intf"],
  ["HbsR", "HBS Right Intf"],
  ["Ig", "Igmp Trap Enabled"],
  ["Ml", "MAC-IP Learning Enabled"],
];

const USAGE = `Usage: vif [--create <intf_name> --mac <mac>]
\t   [--add <intf_name> --mac <mac> --vrf <vrf>
\t   \t--type [vhost|agent|physical|virtual|monitoring]
\t   \t--transport [eth|pmd|virtual|socket]
\t   \t--xconnect <physical interface name>
\t   \t--policy, --vhost-phys, --dhcp-enable]
\t   \t--vif <vif ID> --id <intf_id> --pmd --pci]
\t   [--delete <intf_id>|<intf_name>]
\t   [--get <intf_id>][--kernel][--core <core number>][--rate] [--get-drop-stats]
\t   [--set <intf_id> --vlan <vlan_id> --vrf <vrf_id>]
\t   [--list][--core <core number>][--rate]
\t   [--sock-dir <sock dir>]
\t   [--clear][--id <intf_id>][--core <core_number>]
\t   [--help]
`;

const LONGS = [
  ["add", true],
  ["create", true],
  ["get", true],
  ["rate", false],
  ["get-drop-stats", false],
  ["list", false],
  ["vrf", true],
  ["mac", true],
  ["delete", true],
  ["policy", false],
  ["pmd", false],
  ["pci", false],
  ["kernel", false],
  ["type", true],
  ["transport", true],
  ["set", true],
  ["vlan", true],
  ["vhost-phys", false],
  ["xconnect", true],
  ["vif", true],
  ["dhcp-enable", false],
  ["help", false],
  ["id", true],
  ["core", true],
  ["sock-dir", true],
  ["clear", false],
].map(([name, arg]) => ({ name: name as string, arg: arg as boolean }));

/** Short options of vif.c's getopt_long call, as the long option each stands for. */
const SHORT: Record<string, string> = {
  a: "add",
  c: "create",
  d: "delete",
  g: "get",
  k: "kernel",
  l: "list",
  b: "list",
  m: "mac",
  v: "vrf",
  p: "policy",
  D: "pmd",
  P: "pci",
  t: "type",
  T: "transport",
  i: "id",
  C: "core",
  s: "sock-dir",
};

/** Options that change the datapath: the testbed's vrouter is programmed only by its agent. */
const WRITES = ["add", "create", "delete", "set", "clear"];

export function vif(argv: string[], view: VrouterView): ToolResult {
  const out = new Out();
  const usage = () => {
    out.print(USAGE);
    return out.result(0); // vif.c's Usage() exits 0
  };
  const p = getoptLong("vif", argv, "ba:c:d:g:klm:t:T:v:p:C:DPi:s:", LONGS);
  for (const e of p.errors) out.err(e);
  if (p.errors.length) return usage();
  const set = new Map<string, string | undefined>();
  for (const o of p.opts) set.set(SHORT[o.name] ?? o.name, o.value);
  const has = (n: string) => set.has(n);
  const count = set.size - (has("sock-dir") ? 1 : 0);
  if (count === 0 || has("help")) return usage();
  const write = WRITES.find(has);
  if (write) {
    out.err(
      `vif: --${write} is not available in the testbed: its vrouter is programmed only by its agent (read-only tools)`,
    );
    return out.result(1);
  }
  if (has("rate") || has("kernel")) {
    const which = ["rate", "kernel"].find(has)!;
    out.err(
      `vif: --${which} is not yet supported by the testbed's vif (--list, --get <id> [--get-drop-stats], --core 0 are)`,
    );
    return out.result(1);
  }
  // validate_options: --list alone (or with --core), --get with --core
  if (has("list") && (has("get") || count > (has("core") ? 2 : 1))) return usage();
  if (has("get-drop-stats") && !has("get")) return usage();
  if (has("get") && count > 1 + (has("core") ? 1 : 0) + (has("get-drop-stats") ? 1 : 0)) return usage();
  if (!has("list") && !has("get")) return usage();
  let core = -1;
  if (has("core")) {
    const text = set.get("core")!;
    if (!/^\s*\d+\s*$/.test(text)) {
      out.line(`Error parsing core ${text}: Invalid argument (22)`);
      return usage();
    }
    core = Number(text);
  }

  printHeader(out);
  const vifs = [...view.tables.vifs.values()].sort((a, b) => a.index - b.index);
  if (has("get")) {
    const id = strtoul(set.get("get")!);
    const v = view.tables.vifs.get(id);
    if (!v) {
      out.line(vrouterResponse(2));
      return out.result(0);
    }
    if (has("get-drop-stats")) {
      // the kernel answers with the interface's drop counters (vr_drop_stats_req), printed as dropstats does
      if (core >= 0) out.line(`Statistics for core ${core}\n`);
      for (const l of dropLines(core > 0 ? undefined : view.datapath?.vifs[id]?.dropReasons)) out.line(l);
      return out.result(0);
    }
    printVif(out, v, view, core);
    return out.result(0);
  }
  for (const v of vifs) printVif(out, v, view, core);
  return out.result(0);
}

function printHeader(out: Out): void {
  out.line("Vrouter Interface Table");
  out.line();
  let text = "Flags: ";
  FLAGS.forEach(([sym, name], i) => {
    if (i) text += i % 4 ? ", " : "\n       ";
    text += `${sym}=${name}`;
  });
  out.line(text);
  out.line();
}

const TYPE_NAMES: Record<Vif["type"], string> = {
  virtual: "Virtual",
  fabric: "Physical",
  host: "Host",
  agent: "Agent",
};

/** What the agent sets on each kind of vif (vif.c prints them through flag_metadata). */
function flagsOf(v: Vif): string[] {
  switch (v.type) {
    case "virtual":
      return [...(v.policyEnabled ? ["P"] : []), "L3", "L2", "D", "Er"];
    case "fabric":
      return ["L3", "L2", "Vp", "Er"];
    case "host":
      return ["P", "L3", "D", "Er"];
    case "agent":
      return ["L3", "Er"];
  }
}

/** How many next-hops send to the vif, plus the agent's own hold on it (the kernel's vifr_ref_cnt). */
function refCount(view: VrouterView, index: number): number {
  let n = 1;
  for (const nh of view.tables.nextHops.values()) if (nh.type === "encap" && nh.vif === index) n++;
  return n;
}

function printVif(out: Out, v: Vif, view: VrouterView, core: number): void {
  const pad = " ".repeat(12);
  const nh = vifNh(view.tables, v.index);
  out.line(`${`vif0/${v.index}`.padEnd(12)}OS: ${v.name}${nh ? ` NH: ${nh}` : ""}`);
  // a pod's vif answers with the vrouter's MAC (the VM's own is in its ENCAP next-hop)
  const mac = v.type === "virtual" || v.type === "agent" ? VROUTER_MAC : v.mac;
  const ip = v.type === "virtual" || v.type === "host" ? (v.ip ?? "0.0.0.0") : "0.0.0.0";
  out.line(`${pad}Type:${TYPE_NAMES[v.type]} HWaddr:${mac} IPaddr:${ip}`);
  if (v.ip6) out.line(`${pad}IP6addr:${v.ip6}`);
  const vrf = v.type === "agent" ? 65535 : v.vrf;
  const mcast = v.type === "virtual" ? v.vrf : 65535;
  const flags = flagsOf(v).join("");
  out.line(
    `${pad}Vrf:${vrf} Mcast Vrf:${mcast} Flags:${flags || "NULL"} QOS:-1 Ref:${refCount(view, v.index)}`,
  );
  // one core: core 0 has every packet, any other none
  const c = core > 0 ? undefined : view.datapath?.vifs[v.index];
  const corePrefix = core >= 0 ? `Core ${core} ` : "";
  out.line(`${pad}${corePrefix}RX packets:${c?.rxPackets ?? 0}  bytes:${c?.rxBytes ?? 0} errors:0`);
  out.line(`${pad}${corePrefix}TX packets:${c?.txPackets ?? 0}  bytes:${c?.txBytes ?? 0} errors:0`);
  out.line(`${pad}Drops:${c?.drops ?? 0}`);
  out.line();
}
