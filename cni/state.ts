/**
 * Per-attachment state files, `<config-dir>/<vm-name>/<vmi-uuid>`, holding the `POST /vm` message ADD sent.
 * DEL compares the recorded `vm-id` (container id) with its own to ignore a stale delete that arrives after
 * the pod's sandbox was recreated; GC walks them to find attachments the runtime no longer knows.
 *
 * Example: `await new FileStateStore("/var/lib/contrail/ports/vm").list("k8s__default__web")`.
 */
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CniCode, CniError } from "./errors";
import type { AddMsg } from "./port-api";

export interface StateEntry {
  vmName: string;
  vmiUuid: string;
  /** undefined when the file is unreadable or not an add message (a crash mid-write). */
  msg?: AddMsg;
}

export interface StateStore {
  list(vmName: string): Promise<StateEntry[]>;
  listAll(): Promise<StateEntry[]>;
  write(vmName: string, vmiUuid: string, msg: AddMsg): Promise<void>;
  remove(vmName: string, vmiUuid: string): Promise<void>;
  /** Removes the pod's directory when it is empty. */
  removeVm(vmName: string): Promise<void>;
  exists(vmName: string, vmiUuid: string): Promise<boolean>;
}

function isAddMsg(x: unknown): x is AddMsg {
  if (typeof x !== "object" || x === null) return false;
  const o = x as Record<string, unknown>;
  return ["vm-id", "vm-uuid", "host-ifname", "vm-ifname", "vmi-uuid"].every((k) => typeof o[k] === "string");
}

async function dirEntries(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new CniError(CniCode.IoFailure, `cannot read ${path}`, (err as Error).message);
  }
}

/** One path component made of a vm-name or VMI uuid: never a separator, "." or "..", so no path leaves `dir`. */
const SAFE_PART = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function part(what: string, v: string): string {
  if (!SAFE_PART.test(v) || v.length > 255)
    throw new CniError(
      CniCode.InvalidEnvironment,
      `refusing state-file ${what} ${JSON.stringify(v)}: not a plain name`,
    );
  return v;
}

export class FileStateStore implements StateStore {
  constructor(private readonly dir: string) {}

  /** `<dir>/<vm-name>[/<vmi-uuid>]`, each part checked. */
  private path(vmName: string, vmiUuid?: string): string {
    const vm = join(this.dir, part("vm-name", vmName));
    return vmiUuid === undefined ? vm : join(vm, part("vmi uuid", vmiUuid));
  }

  async list(vmName: string): Promise<StateEntry[]> {
    const out: StateEntry[] = [];
    for (const vmiUuid of await dirEntries(this.path(vmName))) {
      let msg: AddMsg | undefined;
      try {
        const parsed: unknown = JSON.parse(await readFile(this.path(vmName, vmiUuid), "utf8"));
        if (isAddMsg(parsed)) msg = parsed;
      } catch {
        msg = undefined;
      }
      out.push({ vmName, vmiUuid, msg });
    }
    return out;
  }

  async listAll(): Promise<StateEntry[]> {
    const out: StateEntry[] = [];
    for (const vmName of await dirEntries(this.dir)) out.push(...(await this.list(vmName)));
    return out;
  }

  async write(vmName: string, vmiUuid: string, msg: AddMsg): Promise<void> {
    const dir = this.path(vmName);
    const file = this.path(vmName, vmiUuid);
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await writeFile(file, JSON.stringify(msg, null, "\t"), { mode: 0o644 });
    } catch (err) {
      throw new CniError(CniCode.IoFailure, `cannot write state file ${file}`, (err as Error).message);
    }
  }

  async remove(vmName: string, vmiUuid: string): Promise<void> {
    await rm(this.path(vmName, vmiUuid), { force: true });
  }

  async removeVm(vmName: string): Promise<void> {
    try {
      await rmdir(this.path(vmName));
    } catch {
      // not empty (other interfaces remain) or already gone: both fine
    }
  }

  async exists(vmName: string, vmiUuid: string): Promise<boolean> {
    return (await dirEntries(this.path(vmName))).includes(vmiUuid);
  }
}
