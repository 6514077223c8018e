/**
 * One CNI invocation from environment + stdin to stdout + exit code, with every edge injected. This is where
 * the spec's output rules live: a result (ADD) or version info on stdout and exit 0, nothing on stdout for a
 * successful DEL/CHECK/GC/STATUS, and on any failure the error JSON on stdout with exit 1.
 *
 * Example: `await invoke({env: {CNI_COMMAND: "VERSION"}, stdin: ""}, edges)` → `{exitCode: 0, stdout: '{"cniVersion":"1.1.0",…}'}`.
 */
import { type NetConf, decodeStdin, parseConfFile, parseNetConf } from "./config";
import { parseEnv } from "./env";
import { CniCode, CniError } from "./errors";
import type { Logger } from "./log";
import { type NetworkCommand, type PluginDeps, runCommand, versionInfo } from "./plugin";
import { PLUGIN_VERSION, parseVersion } from "./versions";

export interface Invocation {
  env: Record<string, string | undefined>;
  stdin: string;
}

export interface Edges {
  log: Logger;
  /** The first `*contrail.conf` file of a directory, if any. */
  readConfFile(dir: string): Promise<{ path: string; text: string } | undefined>;
  makeDeps(conf: NetConf): PluginDeps;
}

export interface Outcome {
  stdout: string;
  exitCode: number;
}

export const DEFAULT_CONF_DIR = "/etc/cni/net.d";

/** stdin `contrail.conf-dir` (testbed extension), else NETCONFPATH (as cnitool sets it), else /etc/cni/net.d. */
export function confDir(raw: Record<string, unknown>, env: Record<string, string | undefined>): string {
  const c = raw.contrail as Record<string, unknown> | undefined;
  if (c && typeof c["conf-dir"] === "string") return c["conf-dir"];
  return env.NETCONFPATH || DEFAULT_CONF_DIR;
}

export async function invoke(inv: Invocation, edges: Edges): Promise<Outcome> {
  let version = PLUGIN_VERSION;
  try {
    const env = parseEnv(inv.env);
    if (env.command === "VERSION") return { stdout: JSON.stringify(versionInfo()), exitCode: 0 };
    const raw = decodeStdin(inv.stdin);
    // Errors answer in the request's version once it is known to be one.
    if (typeof raw.cniVersion === "string" && parseVersion(raw.cniVersion)) version = raw.cniVersion;
    const dir = confDir(raw, inv.env);
    const fileText = await edges.readConfFile(dir);
    const file = fileText ? parseConfFile(fileText.path, fileText.text) : undefined;
    const conf = parseNetConf(raw, env.command, file);
    edges.log.configure(conf.contrail.logLevel, conf.contrail.logFile);
    edges.log.info(
      `${env.command} container=${env.containerId ?? "-"} netns=${env.netns ?? "-"} ifname=${env.ifname ?? "-"} args=${inv.env.CNI_ARGS ?? ""}`,
    );
    const result = await runCommand(env.command as NetworkCommand, env, conf, edges.makeDeps(conf));
    return { stdout: result ? JSON.stringify(result) : "", exitCode: 0 };
  } catch (err) {
    const e =
      err instanceof CniError
        ? err
        : new CniError(CniCode.IoFailure, `unexpected failure: ${(err as Error)?.message ?? String(err)}`);
    edges.log.error(`code ${e.code}: ${e.message}${e.details ? ` (${e.details})` : ""}`);
    return { stdout: JSON.stringify(e.toJSON(version)), exitCode: 1 };
  }
}
