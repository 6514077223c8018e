/**
 * The CNI_* environment a runtime hands the plugin, parsed and validated before anything is touched.
 * Every violation is a code-4 CniError naming the variable, as libcni and the reference plugins do.
 *
 * Example: `parseEnv({CNI_COMMAND: "VERSION"})` → `{command: "VERSION", args: {}, ...}`.
 */
import { CniCode, CniError } from "./errors";
import { COMMANDS, type Command } from "./versions";

export interface CniEnv {
  command: Command;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS as a map (kubelet: K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, K8S_POD_INFRA_CONTAINER_ID). */
  args: Record<string, string>;
  /** CNI_PATH entries (required by the spec for ADD/CHECK/DEL; this plugin delegates to none). */
  path?: string[];
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** IFNAMSIZ is 16 with the terminating NUL. */
export const MAX_IFNAME = 15;

/** Which variables each command needs (spec 1.1: DEL may come without CNI_NETNS). */
const REQUIRED: Record<Command, (keyof CniEnv)[]> = {
  ADD: ["containerId", "netns", "ifname", "path"],
  CHECK: ["containerId", "netns", "ifname", "path"],
  DEL: ["containerId", "ifname", "path"],
  VERSION: [],
  STATUS: [],
  GC: [],
};

const VAR_NAME: Partial<Record<keyof CniEnv, string>> = {
  containerId: "CNI_CONTAINERID",
  netns: "CNI_NETNS",
  ifname: "CNI_IFNAME",
  path: "CNI_PATH",
};

function invalid(msg: string): CniError {
  return new CniError(CniCode.InvalidEnvironment, msg);
}

/** Validate an interface name the way the kernel and libcni do. */
export function validateIfname(name: string): void {
  if (name.length === 0) throw invalid("CNI_IFNAME is empty");
  if (name.length > MAX_IFNAME) throw invalid(`CNI_IFNAME "${name}" is longer than ${MAX_IFNAME} characters`);
  if (name === "." || name === "..") throw invalid(`CNI_IFNAME "${name}" is not a valid interface name`);
  if (/[/:\s]/.test(name)) throw invalid(`CNI_IFNAME "${name}" contains '/', ':' or whitespace`);
}

/** `K=V;K2=V2` → map. An item without '=' is an error, empty items are ignored. */
export function parseCniArgs(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const item of raw.split(";")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq <= 0) throw invalid(`CNI_ARGS item "${item}" is not KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const raw = env.CNI_COMMAND;
  if (!raw) throw invalid("CNI_COMMAND is not set");
  if (!(COMMANDS as readonly string[]).includes(raw)) throw invalid(`unknown CNI_COMMAND "${raw}"`);
  const command = raw as Command;
  const out: CniEnv = {
    command,
    containerId: env.CNI_CONTAINERID || undefined,
    netns: env.CNI_NETNS || undefined,
    ifname: env.CNI_IFNAME || undefined,
    args: parseCniArgs(env.CNI_ARGS),
    path: env.CNI_PATH ? env.CNI_PATH.split(":").filter((p) => p !== "") : undefined,
  };
  const missing = REQUIRED[command].filter((k) => out[k] === undefined).map((k) => VAR_NAME[k]);
  if (missing.length > 0)
    throw invalid(`required environment variables missing for ${command}: ${missing.join(", ")}`);
  if (out.containerId !== undefined && !CONTAINER_ID.test(out.containerId)) {
    throw invalid(
      `CNI_CONTAINERID "${out.containerId}" must start alphanumeric and contain only [A-Za-z0-9_.-]`,
    );
  }
  if (out.ifname !== undefined) validateIfname(out.ifname);
  return out;
}
