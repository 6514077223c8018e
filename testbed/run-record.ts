/**
 * The per-run record: every `ctb run` and every `ctb up` environment gets a directory
 * `<work dir>/runs/<id>/` that is also its state directory. What the run starts is written there as it starts
 * it — `run.json` (the owner: pid, start time, command line, scenario, backends, metrics URLs), `pids/*.json`
 * (each process with its start time and command line: vrouters, pod processes, control-plane components),
 * `netns/<name>` (each namespace) — and the run's CNI state and control-plane files live beside them. A
 * clean exit removes the directory; after a crash `ctb down` reads it and undoes exactly what it names.
 *
 * Example: `const rec = RunRecord.create(".ctb", { kind: "run", scenario: f, datapath: "netns", cluster: "embedded" })`.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import {
  listNamespaceRecords,
  listProcesses,
  processCmdline,
  processStartTime,
  stillRunning,
} from "../fake-vrouter/netns/pidfiles";

export interface RunInfo {
  id: string;
  kind: "run" | "up";
  pid: number;
  /** /proc starttime of the owner: with the pid, tells the owner from a process that reused its pid. */
  startTime: string;
  cmdline: string;
  started: string;
  scenario?: string;
  datapath?: string;
  cluster?: string;
  /** Component → metrics URL, once the testbed is up. */
  metrics?: Record<string, string>;
  /** Vrouter → its agent introspect URL, once the testbed is up. */
  introspect?: Record<string, string>;
}

export class RunRecord {
  private constructor(
    readonly dir: string,
    private info: RunInfo,
  ) {}

  /** Creates `<workDir>/runs/<id>/run.json` for this process, before anything is started. */
  static create(workDir: string, o: Pick<RunInfo, "kind" | "scenario" | "datapath" | "cluster">): RunRecord {
    const id = `${process.pid}-${Date.now().toString(36)}`;
    const dir = join(runsDir(workDir), id);
    mkdirSync(dir, { recursive: true });
    const info: RunInfo = {
      id,
      ...o,
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? "",
      cmdline: processCmdline(process.pid) ?? "",
      started: new Date().toISOString(),
    };
    const rec = new RunRecord(dir, info);
    rec.write();
    return rec;
  }

  get id(): string {
    return this.info.id;
  }

  update(patch: Partial<Omit<RunInfo, "id" | "pid" | "startTime">>): void {
    this.info = { ...this.info, ...patch };
    this.write();
  }

  /** Removes the record (a clean exit: everything it named is gone). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private write(): void {
    // renamed into place, so `ctb down` or a listing never reads half a record
    const file = join(this.dir, "run.json");
    writeFileSync(`${file}.tmp`, `${JSON.stringify(this.info, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }
}

export function runsDir(workDir: string): string {
  return join(resolve(workDir), "runs");
}

export interface RunOnDisk {
  dir: string;
  /** Undefined when run.json is missing or unreadable (a run killed while creating it). */
  info?: RunInfo;
}

export function listRuns(workDir: string): RunOnDisk[] {
  const root = runsDir(workDir);
  if (!existsSync(root)) return [];
  return readdirSync(root).map((id) => {
    const dir = join(root, id);
    try {
      return { dir, info: JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as RunInfo };
    } catch {
      return { dir };
    }
  });
}

/** True while the process that owns the run is alive and still the same process. */
export function ownerAlive(info: RunInfo | undefined): boolean {
  return !!info && processStartTime(info.pid) === info.startTime;
}

/** What a dead run left: recorded processes still running, recorded namespaces still present. */
export async function leftovers(
  dir: string,
  existingNamespaces: Set<string>,
): Promise<{ processes: number; namespaces: number }> {
  const processes = (await listProcesses(dir, "")).filter(stillRunning).length;
  const namespaces = listNamespaceRecords(dir).filter((n) => existingNamespaces.has(n)).length;
  return { processes, namespaces };
}

/**
 * Removes the directories of dead runs that left nothing behind, and the `run-<pid>` directories older
 * versions left. Runs with live leftovers are kept (their record is how `ctb down` finds them); returns
 * their count so the caller can point at `ctb down`.
 */
export async function pruneDeadRuns(
  workDir: string,
  existingNamespaces: Set<string>,
): Promise<{ pruned: number; withLeftovers: number }> {
  let pruned = 0;
  let withLeftovers = 0;
  for (const run of listRuns(workDir)) {
    if (ownerAlive(run.info)) continue;
    if (!run.info && Date.now() - mtime(run.dir) < 60_000) continue; // being created right now
    const left = await leftovers(run.dir, existingNamespaces);
    if (left.processes + left.namespaces > 0) {
      withLeftovers++;
      continue;
    }
    rmSync(run.dir, { recursive: true, force: true });
    pruned++;
  }
  const root = resolve(workDir);
  if (existsSync(root)) {
    for (const name of readdirSync(root)) {
      const m = /^run-(\d+)$/.exec(name);
      if (m && !pidAlive(Number(m[1]))) {
        rmSync(join(root, name), { recursive: true, force: true });
        pruned++;
      }
    }
  }
  return { pruned, withLeftovers };
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function uptime(info: RunInfo): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(info.started)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
