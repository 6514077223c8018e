/**
 * What the vrouter's own tools read, and what they answer. A `VrouterView` is one compute's live state: the
 * agent's tables (vifs, next-hops, VRFs, labels) and the datapath engine's flow table and counters; each tool
 * (`vif.ts`, `nh.ts`, …) turns a command line and a view into the text the real utility prints (tf-vrouter
 * utils/*.c layouts) and its exit code. Pure: no I/O, so the same code answers `ctb vrouter <node> vif --list`,
 * the netns shims and the scenario `vrouter` step.
 *
 * Example: `runTool("vif", ["--list"], view)` → `{ stdout: "Vrouter Interface Table\n…", stderr: "", code: 0 }`
 */
import type { DatapathSnapshot, FlowEntry } from "../datapath/engine";
import type { NextHop, Vif, VrouterTables } from "../tables";

export interface VrouterView {
  tables: VrouterTables;
  /** Undefined until the compute's datapath has an engine (its first tables): counters read 0, no flows. */
  datapath?: DatapathSnapshot;
}

export interface ToolResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** C's exit(-EINVAL) as the shell sees it. */
export const EXIT_EINVAL = 256 - 22;

/** Lines written like printf's; `result` ends the tool. */
export class Out {
  stdout = "";
  stderr = "";
  print(s: string): void {
    this.stdout += s;
  }
  line(s = ""): void {
    this.stdout += `${s}\n`;
  }
  err(s: string): void {
    this.stderr += `${s}\n`;
  }
  result(code: number): ToolResult {
    return { stdout: this.stdout, stderr: this.stderr, code };
  }
}

/** "%-Nd"/"%-Ns" and "%Nd"/"%Ns" of C's printf. */
export const left = (v: string | number, n: number) => String(v).padEnd(n);
export const right = (v: string | number, n: number) => String(v).padStart(n);

/** The kernel's errno text for the codes the vrouter answers with. */
const ERRNO: Record<number, string> = { 2: "No such file or directory", 22: "Invalid argument" };

/** vr_response_common_process: a refused request prints this line (stdout) and the tool still exits 0. */
export function vrouterResponse(errno: number): string {
  return `vRouter(Response): ${ERRNO[errno] ?? `Unknown error ${errno}`} (${errno})`;
}

/**
 * The interface NH of a vif (its `vifr_nh_id`, the K(nh) of the flows it originates): the policy-enabled ENCAP
 * twin when both exist, as the engine keys flows (`datapath/tables-index.ts`); 0 (none) otherwise.
 */
export function vifNh(tables: VrouterTables, vif: number): number {
  let found = 0;
  for (const nh of tables.nextHops.values()) {
    if (nh.type !== "encap" || nh.vif !== vif) continue;
    if (nh.policy || found === 0) found = nh.id;
  }
  return found;
}

/** How many routes, composite members and labels refer to each NH (the kernel's reference count, minus its own). */
export function nhRefs(tables: VrouterTables): Map<number, number> {
  const refs = new Map<number, number>();
  const add = (id: number) => refs.set(id, (refs.get(id) ?? 0) + 1);
  for (const vrf of tables.vrfs.values()) for (const r of vrf.routes) add(r.nh);
  for (const nh of tables.nextHops.values())
    if (nh.type === "composite") for (const m of nh.members) add(m.nh);
  for (const nh of tables.labels.values()) add(nh);
  return refs;
}

/** The VRF a next-hop belongs to: its vif's for ENCAP, its own for RECEIVE/translate, else the first route's. */
export function nhVrf(tables: VrouterTables, nh: NextHop): number {
  if (nh.type === "encap") return tables.vifs.get(nh.vif)?.vrf ?? 0;
  if (nh.type === "receive" || nh.type === "vrf-translate") return nh.vrf;
  if (nh.type === "composite") {
    for (const vrf of tables.vrfs.values()) if (vrf.routes.some((r) => r.nh === nh.id)) return vrf.id;
  }
  return 0;
}

/** The host vif (vhost0), where RECEIVE next-hops send. */
export function hostVif(tables: VrouterTables): Vif | undefined {
  for (const v of tables.vifs.values()) if (v.type === "host") return v;
  return undefined;
}

/** "02:fa:0a:00:00:01" → [0x02, 0xfa, …]. */
export function macBytes(mac: string): number[] {
  return mac.split(":").map((h) => Number.parseInt(h, 16) || 0);
}

/** ether_ntoa: hex without leading zeros ("2:fa:a:0:0:1"), as `rt` prints MACs. */
export function etherNtoa(mac: string): string {
  return macBytes(mac)
    .map((b) => b.toString(16))
    .join(":");
}

export const PROTO_NAMES: Record<number, string> = {
  6: "TCP",
  17: "UDP",
  1: "ICMP",
  132: "SCTP",
  58: "ICMPv6",
};

/**
 * Why a drop flow drops: the stage that denied it and whether on the destination's side (its VN's policy,
 * its vif's ingress SG or firewall policy: the kernel's OUT_* reasons); undefined when nothing is recorded.
 */
export function flowDenial(f: FlowEntry): { stage: string; out: boolean } | undefined {
  const s = f.dropped ?? f.verdict ?? [...f.decidedBy].reverse().find((d) => d.action === "deny");
  if (!s) return undefined;
  return { stage: s.stage, out: /^(destination|ingress of)/.test(s.detail) };
}
