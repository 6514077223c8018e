/**
 * Pid files for every process a testbed starts (vrouters, pod servers, control-plane components), and marker
 * files for the namespaces it creates, so `ctb down` can stop exactly those after a crash. A process record
 * holds the pid, the process start time and its command line (from /proc), so a pid reused by an unrelated
 * process is never signalled.
 *
 * Layout under a state directory: `pids/<ns|host>.<role>.<pid>.json`, `netns/<namespace>` (empty files).
 *
 * Example: `await recordProcess(dir, { pid, ns: "ctb-compute-1", role: "vrouter" })`.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Default state directory: tmpfs, gone at reboot like the namespaces themselves. */
export const DEFAULT_STATE_DIR = process.env.CTB_STATE_DIR ?? "/run/ctb";

export interface ProcessRecord {
  pid: number;
  /** The testbed namespace it runs in; "" for a process in the root namespace (control plane). */
  ns: string;
  role: string;
  /** /proc/<pid>/stat starttime (clock ticks since boot). */
  startTime: string;
  /** /proc/<pid>/cmdline, NUL-separated arguments joined by spaces (absent in older records). */
  cmdline?: string;
}

/** The command line of a live process, arguments joined by spaces; undefined when it is gone. */
export function processCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0$/, "").split("\0").join(" ");
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat; undefined when the process is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces; fields after it are split from the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

function fileOf(dir: string, r: { ns: string; role: string; pid: number }): string {
  return join(dir, "pids", `${r.ns || "host"}.${r.role}.${r.pid}.json`);
}

export async function recordProcess(
  dir: string,
  r: { pid: number; ns: string; role: string },
): Promise<void> {
  const startTime = processStartTime(r.pid);
  if (startTime === undefined) return;
  const cmdline = processCmdline(r.pid);
  await mkdir(join(dir, "pids"), { recursive: true });
  // written beside and renamed into place: a reader (`ctb down`, a listing) never sees half a record, which it
  // would take for a crash's leftover and remove
  const file = fileOf(dir, r);
  await writeFile(`${file}.tmp`, JSON.stringify({ ...r, startTime, cmdline } satisfies ProcessRecord));
  await rename(`${file}.tmp`, file);
}

export async function forgetProcess(
  dir: string,
  r: { pid: number; ns: string; role: string },
): Promise<void> {
  await rm(fileOf(dir, r), { force: true });
}

export async function listProcesses(dir: string, nsPrefix: string): Promise<ProcessRecord[]> {
  let names: string[];
  try {
    names = await readdir(join(dir, "pids"));
  } catch {
    return [];
  }
  const out: ProcessRecord[] = [];
  for (const n of names.filter((x) => x.startsWith(nsPrefix) && x.endsWith(".json"))) {
    try {
      out.push(JSON.parse(await readFile(join(dir, "pids", n), "utf8")) as ProcessRecord);
    } catch {
      await rm(join(dir, "pids", n), { force: true });
    }
  }
  return out;
}

/** True while the recorded process is alive and still the same process (same start time and command line). */
export function stillRunning(r: ProcessRecord): boolean {
  if (processStartTime(r.pid) !== r.startTime) return false;
  // a zombie keeps its start time but has no command line: it is gone for our purposes
  return r.cmdline === undefined || processCmdline(r.pid) === r.cmdline;
}

/**
 * Namespace markers: written before a namespace is created and removed after it is deleted, so a crash in
 * between leaves at most a marker for a namespace that does not exist (harmless), never an unrecorded one.
 * Synchronous on purpose: the marker must be on disk before `ip netns add` runs.
 */
export function recordNamespace(dir: string, ns: string): void {
  mkdirSync(join(dir, "netns"), { recursive: true });
  // The owner (pid + start time): `ctb down` removes a namespace only when the process that made it is gone.
  const owner: NamespaceOwner = { pid: process.pid, startTime: processStartTime(process.pid) ?? "" };
  writeFileSync(join(dir, "netns", ns), JSON.stringify(owner));
}

export interface NamespaceOwner {
  pid: number;
  /** /proc starttime: tells the owner from a later process that reused its pid. */
  startTime: string;
}

/** The owner a namespace marker records; undefined without a marker or for an empty one (older versions). */
export function namespaceOwner(dir: string, ns: string): NamespaceOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(join(dir, "netns", ns), "utf8")) as Partial<NamespaceOwner>;
    return Number.isInteger(o.pid) && typeof o.startTime === "string" && o.startTime
      ? { pid: o.pid!, startTime: o.startTime }
      : undefined;
  } catch {
    return undefined;
  }
}

/** True while the recorded owner still runs (same pid and start time). */
export function namespaceOwnerAlive(o: NamespaceOwner): boolean {
  return processStartTime(o.pid) === o.startTime;
}

export function forgetNamespace(dir: string, ns: string): void {
  rmSync(join(dir, "netns", ns), { force: true });
}

export function listNamespaceRecords(dir: string): string[] {
  try {
    return readdirSync(join(dir, "netns"));
  } catch {
    return [];
  }
}

/** SIGTERM, then SIGKILL after `graceMs` if it is still the same process. Resolves when it is gone. */
export async function stopProcess(r: ProcessRecord, graceMs = 2000): Promise<void> {
  if (!stillRunning(r)) return;
  try {
    process.kill(r.pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (stillRunning(r)) {
    if (Date.now() > deadline) {
      try {
        process.kill(r.pid, "SIGKILL");
      } catch {
        return;
      }
    }
    await new Promise((res) => setTimeout(res, 20));
  }
}
