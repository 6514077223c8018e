/**
 * Network-namespace primitives for the netns datapath and its tests, with the testbed's safety rule built in:
 * every namespace name must carry the `ctb-` prefix, links are created with both ends born inside such
 * namespaces, and nothing here ever addresses the root namespace's interfaces or routes.
 *
 * Example: `await addNetns("ctb-c1"); await ipIn("ctb-c1", ["link", "set", "lo", "up"]); await delNetns("ctb-c1")`.
 */
import { execFile } from "node:child_process";
import { mkdirSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";

export const PREFIX = "ctb-";

/**
 * The prefix of the namespaces a process owns: `ctb-<its pid in base 36>-[<tag>-]`. `ctb down` reads the pid
 * back (`ownerPid`) and removes unrecorded namespaces only when that process is gone, so every creator of
 * namespaces — testbeds, tests, benches — must name them this way or a concurrent `ctb down` takes them.
 */
export function ownedPrefix(tag = "", pid = process.pid): string {
  return `${PREFIX}${pid.toString(36)}-${tag ? `${tag}-` : ""}`;
}

/** The pid a namespace name says owns it (`ownedPrefix`), or undefined for a name without one. */
export function ownerPid(name: string): { pid: number; prefix: string } | undefined {
  const m = name.match(/^ctb-([0-9a-z]+)-/);
  if (!m) return undefined;
  const pid = Number.parseInt(m[1]!, 36);
  // Linux pids stop at 2^22: a longer word ("ctb-compute-1") names no process
  return pid > 0 && pid <= 4_194_304 ? { pid, prefix: `${PREFIX}${m[1]}-` } : undefined;
}

export class NetnsError extends Error {
  constructor(
    msg: string,
    readonly stderr = "",
  ) {
    super(stderr ? `${msg}: ${stderr.trim()}` : msg);
    this.name = "NetnsError";
  }
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command, resolving with its exit code (rejects only when it cannot be started). */
export function exec(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: "utf8", timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err?.signal) {
          // Killed (our timeout, or a signal from elsewhere): report it like a shell would, 128 + signal.
          resolve({
            code: 128 + (osConstants.signals[err.signal as NodeJS.Signals] ?? 0),
            stdout,
            stderr: `${stderr}killed by ${err.signal}`,
          });
          return;
        }
        if (err && typeof err.code !== "number") {
          reject(new NetnsError(`cannot run ${cmd}`, err.message));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Throws unless `name` is a testbed namespace name. */
export function assertTestbedName(name: string): void {
  if (!name.startsWith(PREFIX) || !/^[A-Za-z0-9_.-]+$/.test(name) || name.length > 64) {
    throw new NetnsError(`refusing namespace "${name}": testbed namespaces are named ${PREFIX}<…>`);
  }
}

export async function listNetns(prefix = PREFIX): Promise<string[]> {
  const r = await exec("ip", ["-j", "netns", "list"]);
  if (r.code !== 0) throw new NetnsError("ip netns list failed", r.stderr);
  const list = r.stdout.trim() ? (JSON.parse(r.stdout) as { name: string }[]) : [];
  return list.map((x) => x.name).filter((n) => n.startsWith(prefix));
}

/** Create a namespace with its loopback up. */
export async function addNetns(name: string): Promise<void> {
  assertTestbedName(name);
  const r = await exec("ip", ["netns", "add", name]);
  if (r.code !== 0) throw new NetnsError(`ip netns add ${name} failed`, r.stderr);
  await ipIn(name, ["link", "set", "lo", "up"]);
}

/** Delete a namespace (its veth ends go with it) and its /etc/netns files; absent is fine. */
export async function delNetns(name: string): Promise<void> {
  assertTestbedName(name);
  const r = await exec("ip", ["netns", "del", name]);
  if (r.code !== 0 && !/No such file/.test(r.stderr))
    throw new NetnsError(`ip netns del ${name} failed`, r.stderr);
  removeNetnsEtc(name);
}

/** Where `ip netns exec` finds a namespace's own /etc files (bind-mounted over /etc/<file>). */
export const NETNS_ETC = "/etc/netns";

/**
 * Give a namespace its own resolv.conf: `ip netns exec <ns>` bind-mounts /etc/netns/<ns>/resolv.conf over
 * /etc/resolv.conf for the program it runs. Removed with the namespace (`delNetns`).
 */
export function writeNetnsResolvConf(name: string, text: string): void {
  assertTestbedName(name);
  const dir = `${NETNS_ETC}/${name}`;
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/resolv.conf`, text);
      return;
    } catch (e) {
      // another testbed removed the (then empty) /etc/netns between our mkdir and write: once more
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || attempt > 0) throw e;
    }
  }
}

/** Remove /etc/netns/<ns>, and /etc/netns itself once empty (the host keeps no trace of the testbed). */
export function removeNetnsEtc(name: string): void {
  assertTestbedName(name);
  rmSync(`${NETNS_ETC}/${name}`, { recursive: true, force: true });
  try {
    rmdirSync(NETNS_ETC);
  } catch {
    // not empty (another namespace's files, or the machine's own), or absent: leave it
  }
}

/** `ip -n <ns> …`, throwing on failure. */
export async function ipIn(ns: string, args: string[]): Promise<string> {
  assertTestbedName(ns);
  const r = await exec("ip", ["-n", ns, ...args]);
  if (r.code !== 0) throw new NetnsError(`ip -n ${ns} ${args.join(" ")} failed`, r.stderr);
  return r.stdout;
}

/** Several `ip` commands in one process inside a namespace. */
export async function ipBatch(ns: string, lines: string[]): Promise<void> {
  assertTestbedName(ns);
  const r = await exec("ip", ["-n", ns, "-batch", "-"], { input: `${lines.join("\n")}\n` });
  if (r.code !== 0) throw new NetnsError(`ip -n ${ns} -batch failed`, r.stderr);
}

/** Run any command inside a namespace. */
export function execIn(
  ns: string,
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
) {
  assertTestbedName(ns);
  return exec("ip", ["netns", "exec", ns, cmd, ...args], opts);
}

/** A veth pair whose ends are created directly inside two testbed namespaces (never in the root one). */
export async function addVethBetween(
  a: { ns: string; name: string; mac?: string },
  b: { ns: string; name: string; mac?: string },
  mtu = 1500,
): Promise<void> {
  assertTestbedName(a.ns);
  assertTestbedName(b.ns);
  const mac = (m?: string) => (m ? ["address", m] : []);
  const r = await exec("ip", [
    "link",
    "add",
    a.name,
    ...mac(a.mac),
    "mtu",
    String(mtu),
    "netns",
    a.ns,
    "type",
    "veth",
    "peer",
    "name",
    b.name,
    ...mac(b.mac),
    "mtu",
    String(mtu),
    "netns",
    b.ns,
  ]);
  if (r.code !== 0) throw new NetnsError(`veth ${a.ns}/${a.name} <-> ${b.ns}/${b.name} failed`, r.stderr);
  await ipIn(a.ns, ["link", "set", a.name, "up"]);
  await ipIn(b.ns, ["link", "set", b.name, "up"]);
}

export interface LinkState {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export async function linkState(ns: string, ifname: string): Promise<LinkState | undefined> {
  assertTestbedName(ns);
  const r = await exec("ip", ["-n", ns, "-j", "addr", "show", "dev", ifname]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as LinkState[])[0];
}

export async function rootHasLink(ifname: string): Promise<boolean> {
  return (await exec("ip", ["link", "show", "dev", ifname])).code === 0;
}

/** Whether this process may create namespaces (root with iproute2). */
export async function netnsUsable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    return (await exec("ip", ["netns", "list"])).code === 0;
  } catch {
    return false;
  }
}
