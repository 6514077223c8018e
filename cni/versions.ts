/**
 * CNI spec versions the plugin speaks and what each allows. The deployed 10-contrail.conf says 0.3.1, kubelet
 * and cnitool speak 1.x, so configs from 0.3.0 up are accepted and results are shaped for the config's version.
 *
 * Example: `allows("0.3.1", "CHECK")` is false — CHECK arrived in 0.4.0.
 */

export const SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export const PLUGIN_VERSION = "1.1.0";

export type Command = "ADD" | "DEL" | "CHECK" | "VERSION" | "STATUS" | "GC";
export const COMMANDS: readonly Command[] = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"];

/** Parse "1.0.0" into comparable parts; undefined when it is not a version string. */
export function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) throw new Error(`not a version: ${pa ? b : a}`);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

export function isSupported(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** The first spec version that has the command. */
const INTRODUCED: Record<Command, string> = {
  ADD: "0.1.0",
  DEL: "0.1.0",
  VERSION: "0.1.0",
  CHECK: "0.4.0",
  STATUS: "1.1.0",
  GC: "1.1.0",
};

export function allows(version: string, command: Command): boolean {
  return compareVersions(version, INTRODUCED[command]) >= 0;
}

/** Results before 1.0.0 carry `ips[].version`. */
export function resultHasIpVersion(version: string): boolean {
  return compareVersions(version, "1.0.0") < 0;
}
