/**
 * Flags shared by `ctb run`, `ctb up` and the environment daemon, and the error type for bad command lines.
 */
import { parseArgs } from "node:util";
import type { ClusterChoice, EnvOptions } from "../env";

export class UsageError extends Error {}

export function envFlags(args: string[]): { options: EnvOptions; positionals: string[]; values: Record<string, unknown> } {
  let parsed: ReturnType<typeof parse>;
  const parse = (a: string[]) =>
    parseArgs({
      args: a,
      allowPositionals: true,
      options: {
        datapath: { type: "string", default: "sim" },
        cluster: { type: "string", default: "embedded" },
        json: { type: "boolean", default: false },
        junit: { type: "string" },
      },
    });
  try {
    parsed = parse(args);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.datapath !== "sim" && values.datapath !== "netns") {
    throw new UsageError(`--datapath must be sim or netns, not "${values.datapath}"`);
  }
  return {
    options: { datapath: values.datapath, cluster: parseClusterFlagOrUsage(values.cluster!) },
    positionals,
    values,
  };
}


function parseClusterFlagOrUsage(v: string): ClusterChoice {
  if (v === "embedded" || v === "local") return { kind: v };
  if (v.startsWith("kubeconfig:") && v.length > "kubeconfig:".length) return { kind: "kubeconfig", path: v.slice(11) };
  throw new UsageError(`--cluster must be embedded, local or kubeconfig:<path>, not "${v}"`);
}
