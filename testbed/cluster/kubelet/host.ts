/**
 * What a real kubelet and containerd change on the machine outside their own directories, and how it is put
 * back. kubelet sets kernel sysctls (vm.overcommit_memory, kernel.panic, …), creates iptables chains in the
 * root namespace (KUBE-FIREWALL with jumps from INPUT/OUTPUT, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT, IPv4 and
 * IPv6) and a few fixed paths (/var/lib/kubelet/device-plugins, /var/log/containers, …); containerd's shims
 * make /run/containerd/s. Before the first node starts, `snapshotHost` reads all of that; `planRestore` (pure)
 * compares it with the state after and lists the steps that undo only what appeared since; `applyRestore` runs
 * them. The snapshot is written to the run's record first, so `ctb down` restores after a crash too.
 *
 * Example: `const before = await snapshotHost(); …; await applyRestore(planRestore(before, await snapshotHost()))`.
 */
import { existsSync, rmSync } from "node:fs";
import { exec } from "../../../fake-vrouter/netns/ns";

/** The sysctls kubelet's container manager sets (setupKernelTunables) and the forwarding switches. */
export const WATCHED_SYSCTLS = [
  "vm.overcommit_memory",
  "vm.panic_on_oom",
  "kernel.panic",
  "kernel.panic_on_oops",
  "kernel.keys.root_maxkeys",
  "kernel.keys.root_maxbytes",
  "net.ipv4.ip_forward",
] as const;

/** Fixed paths kubelet, containerd and libcni create whatever their configured directories are. */
export const WATCHED_PATHS = [
  "/var/lib/kubelet",
  "/var/log/containers",
  "/var/log/pods",
  "/usr/libexec/kubernetes",
  "/var/lib/cni",
  "/run/containerd",
  "/var/lib/containerd",
  "/opt/containerd",
  "/etc/cni",
  // libmount's utab, made by the first `mount --bind` (containerd's network namespaces, pods' names for them)
  "/run/mount",
] as const;

export interface HostSnapshot {
  sysctls: Record<string, string>;
  /** `iptables-save` / `ip6tables-save` lines per family (chain headers without counters, and rules). */
  iptables: { v4: string[]; v6: string[] };
  /** Which watched paths existed. */
  paths: Record<string, boolean>;
  /** Addresses on the root namespace's `lo` ("10.84.31.11/32"). */
  loAddrs: string[];
}

export type RestoreStep =
  | { kind: "sysctl"; key: string; value: string }
  | { kind: "iptables"; family: "v4" | "v6"; table: string; args: string[] }
  | { kind: "rm"; path: string }
  | { kind: "lo-addr-del"; addr: string }
  /** an nf_tables table iptables registered and that is empty again (iptables-nft leaves it behind) */
  | { kind: "nft-table-del"; family: "ip" | "ip6"; table: string };

export interface RestoreScope {
  /** The node addresses this run put on lo (never another run's). */
  ownAddrs: string[];
  /**
   * Another kubelet on the machine still uses the shared state (sysctls, KUBE- chains, fixed paths): leave it
   * for the last one out.
   */
  othersRunning: boolean;
  /** iptables is the nf_tables variant (empty tables it registered can be deleted). */
  nft: boolean;
}

export async function snapshotHost(): Promise<HostSnapshot> {
  const sysctls: Record<string, string> = {};
  for (const key of WATCHED_SYSCTLS) {
    const r = await exec("sysctl", ["-n", key]);
    if (r.code === 0) sysctls[key] = r.stdout.trim();
  }
  const save = async (cmd: string) => {
    const r = await exec(cmd, []).catch(() => ({ code: 127, stdout: "", stderr: "" }));
    return r.code === 0 ? normaliseSave(r.stdout) : [];
  };
  const paths: Record<string, boolean> = {};
  for (const p of WATCHED_PATHS) paths[p] = existsSync(p);
  const lo = await exec("ip", ["-j", "-4", "addr", "show", "dev", "lo"]);
  const loAddrs =
    lo.code === 0
      ? (JSON.parse(lo.stdout || "[]") as { addr_info?: { local: string; prefixlen: number }[] }[])
          .flatMap((l) => l.addr_info ?? [])
          .map((a) => `${a.local}/${a.prefixlen}`)
      : [];
  return {
    sysctls,
    iptables: { v4: await save("iptables-save"), v6: await save("ip6tables-save") },
    paths,
    loAddrs,
  };
}

/** iptables-save output without comments, COMMIT lines and packet counters (which change by themselves). */
export function normaliseSave(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l && !l.startsWith("#") && l !== "COMMIT")
    .map((l) => (l.startsWith(":") ? l.replace(/\s*\[\d+:\d+\]$/, "") : l));
}

/**
 * The steps that take the host from `after` back to `before`: sysctls that changed get their old value; rules
 * that appeared and mention a KUBE- chain are deleted, then KUBE- chains that appeared are flushed and removed
 * (only KUBE-: other software's rules are not ours to judge); paths that appeared are removed; addresses that
 * appeared on lo (the nodes' addresses) are deleted.
 */
export function planRestore(before: HostSnapshot, after: HostSnapshot, scope: RestoreScope): RestoreStep[] {
  const steps: RestoreStep[] = [];
  for (const addr of after.loAddrs)
    if (!before.loAddrs.includes(addr) && scope.ownAddrs.includes(addr))
      steps.push({ kind: "lo-addr-del", addr });
  if (scope.othersRunning) return steps;
  for (const [key, value] of Object.entries(before.sysctls))
    if (after.sysctls[key] !== undefined && after.sysctls[key] !== value)
      steps.push({ kind: "sysctl", key, value });
  for (const family of ["v4", "v6"] as const) {
    const old = new Set(tableLines(before.iptables[family]));
    const now = tableLines(after.iptables[family]);
    const added = now.filter((l) => !old.has(l));
    // rules first (a chain that is still referenced cannot be removed), in reverse so jumps go before targets
    for (const l of [...added].reverse()) {
      const [table, line] = splitTableLine(l);
      if (!line.startsWith("-A ") || !line.includes("KUBE-")) continue;
      steps.push({ kind: "iptables", family, table, args: ["-D", ...shellWords(line.slice(3))] });
    }
    for (const l of added) {
      const [table, line] = splitTableLine(l);
      const m = /^:(KUBE-[\w-]+)/.exec(line);
      if (!m) continue;
      steps.push({ kind: "iptables", family, table, args: ["-F", m[1]!] });
    }
    for (const l of added) {
      const [table, line] = splitTableLine(l);
      const m = /^:(KUBE-[\w-]+)/.exec(line);
      if (!m) continue;
      steps.push({ kind: "iptables", family, table, args: ["-X", m[1]!] });
    }
    // a table that did not exist before and holds nothing but what the steps above remove
    if (scope.nft) {
      const had = new Set(before.iptables[family].filter((l) => l.startsWith("*")));
      let table = "";
      const lines = new Map<string, string[]>();
      for (const l of after.iptables[family])
        if (l.startsWith("*")) {
          table = l.slice(1);
          lines.set(table, []);
        } else lines.get(table)?.push(l);
      for (const [t, ls] of lines) {
        if (had.has(`*${t}`)) continue;
        const foreign = ls.some((l) => !l.includes("KUBE-") && !BUILTIN_HEADER.test(l));
        if (!foreign) steps.push({ kind: "nft-table-del", family: family === "v4" ? "ip" : "ip6", table: t });
      }
    }
  }
  for (const [path, existed] of Object.entries(before.paths))
    if (!existed && after.paths[path]) steps.push({ kind: "rm", path });
  return steps;
}

/** A built-in chain's header with its default policy, as iptables-save prints an untouched table. */
const BUILTIN_HEADER = /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT$/;

/** Runs the steps; returns one line per step that failed (the rest still run). */
export async function applyRestore(steps: RestoreStep[]): Promise<string[]> {
  const failed: string[] = [];
  for (const s of steps) {
    let r = { code: 0, stderr: "" };
    try {
      r = await applyStep(s);
    } catch (e) {
      r = { code: 1, stderr: (e as Error).message }; // a tool that cannot run: the other steps still run
    }
    if (r.code !== 0) failed.push(`${describeStep(s)}: ${r.stderr.trim()}`);
  }
  return failed;
}

async function applyStep(s: RestoreStep): Promise<{ code: number; stderr: string }> {
  if (s.kind === "sysctl") return exec("sysctl", ["-qw", `${s.key}=${s.value}`]);
  if (s.kind === "iptables")
    return exec(s.family === "v4" ? "iptables" : "ip6tables", ["-w", "-t", s.table, ...s.args]);
  if (s.kind === "lo-addr-del") return exec("ip", ["addr", "del", s.addr, "dev", "lo"]);
  if (s.kind === "nft-table-del") return exec("nft", ["delete", "table", s.family, s.table]);
  rmSync(s.path, { recursive: true, force: true });
  return { code: 0, stderr: "" };
}

export function describeStep(s: RestoreStep): string {
  switch (s.kind) {
    case "sysctl":
      return `sysctl ${s.key}=${s.value}`;
    case "iptables":
      return `${s.family === "v4" ? "iptables" : "ip6tables"} -t ${s.table} ${s.args.join(" ")}`;
    case "rm":
      return `rm -r ${s.path}`;
    case "lo-addr-del":
      return `ip addr del ${s.addr} dev lo`;
    case "nft-table-del":
      return `nft delete table ${s.family} ${s.table}`;
  }
}

/** "*filter" sections flattened to "filter\t<line>" so a rule is compared with its table. */
function tableLines(lines: string[]): string[] {
  let table = "filter";
  const out: string[] = [];
  for (const l of lines) {
    if (l.startsWith("*")) table = l.slice(1);
    else out.push(`${table}\t${l}`);
  }
  return out;
}

function splitTableLine(l: string): [string, string] {
  const i = l.indexOf("\t");
  return [l.slice(0, i), l.slice(i + 1)];
}

/** iptables-save quotes arguments with spaces ("--comment \"a b\""): split as a shell would. */
export function shellWords(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(s); m; m = re.exec(s))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!);
  return out;
}
