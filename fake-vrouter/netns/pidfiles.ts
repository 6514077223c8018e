/**
 * Pid files for every process the netns backend starts (vrouters, pod servers), so `ctb down` can stop
 * exactly those after a crash. A record holds the pid and the process start time (from /proc), so a pid
 * reused by an unrelated process is never signalled.
 *
 * Example: `await recordProcess(dir, { pid, ns: "ctb-compute-1", role: "vrouter" })`.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Default state directory: tmpfs, gone at reboot like the namespaces themselves. */
export const DEFAULT_STATE_DIR = process.env.CTB_STATE_DIR ?? "/run/ctb";

export interface ProcessRecord {
  pid: number;
  ns: string;
  role: string;
  /** /proc/<pid>/stat starttime (clock ticks since boot). */
  startTime: string;
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
  return join(dir, "pids", `${r.ns}.${r.role}.${r.pid}.json`);
}

export async function recordProcess(
  dir: string,
  r: { pid: number; ns: string; role: string },
): Promise<void> {
  const startTime = processStartTime(r.pid);
  if (startTime === undefined) return;
  await mkdir(join(dir, "pids"), { recursive: true });
  await writeFile(fileOf(dir, r), JSON.stringify({ ...r, startTime } satisfies ProcessRecord));
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

/** True while the recorded process is alive and still the same process (same start time). */
export function stillRunning(r: ProcessRecord): boolean {
  return processStartTime(r.pid) === r.startTime;
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
