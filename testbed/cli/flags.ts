/**
 * Flags shared by `ctb run`, `ctb up` and the environment daemon, the strict flag parser every verb uses, and
 * the two error types a verb throws: `UsageError` (exit 2, the command line is wrong) and `CommandError`
 * (exit 1, the command was fine but did not do what was asked — kubectl's `Error from server (NotFound): …`).
 *
 * Example: `const { values, positionals } = parseVerbArgs(args, { namespace: { type: "string", short: "n" } })`.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import type { ClusterChoice, EnvOptions } from "../env";

export class UsageError extends Error {
  override name = "UsageError";
  /** Whether `ctb <verb> --help` would help: not when the environment, not the command line, is at fault. */
  readonly hint: boolean;
  constructor(message: string, opts: { hint?: boolean } = {}) {
    super(message);
    this.hint = opts.hint ?? true;
  }
}

/** The command ran but failed (exit 1); printed as `ctb <verb>: message`, or as it is when `bare` (kubectl's API errors). */
export class CommandError extends Error {
  override name = "CommandError";
  readonly bare: boolean;
  constructor(message: string, opts: { bare?: boolean } = {}) {
    super(message);
    this.bare = opts.bare ?? false;
  }
}

/** node:util's parseArgs, strict, with its errors turned into one-line usage errors. */
export function parseVerbArgs<O extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(parseErrorText(e));
  }
}

/** "Unknown option '--x'. To specify a positional argument starting with a '-', …" → "unknown option '--x'". */
export function parseErrorText(e: unknown): string {
  const msg = (e as Error).message.split(". To specify")[0]!;
  return msg[0]!.toLowerCase() + msg.slice(1);
}

export function isParseArgsError(e: unknown): boolean {
  return String((e as { code?: unknown })?.code ?? "").startsWith("ERR_PARSE_ARGS");
}

export function envFlags(args: string[]): {
  options: EnvOptions;
  positionals: string[];
  values: Record<string, unknown>;
} {
  let parsed: ReturnType<typeof parse>;
  const parse = (a: string[]) =>
    parseArgs({
      args: a,
      allowPositionals: true,
      options: {
        datapath: { type: "string", default: "sim" },
        cluster: { type: "string", default: "embedded" },
        nodes: { type: "string", default: "emulated" },
        json: { type: "boolean", default: false },
        junit: { type: "string" },
        pcap: { type: "string" },
        "netpol-layout": { type: "string" },
        compare: { type: "string" },
        "allow-no-expectations": { type: "boolean", default: false },
        "ui-listen": { type: "string" },
      },
    });
  try {
    parsed = parse(args);
  } catch (e) {
    throw new UsageError(parseErrorText(e));
  }
  const { values, positionals } = parsed;
  if (values.datapath !== "sim" && values.datapath !== "netns") {
    throw new UsageError(`--datapath must be sim or netns, not "${values.datapath}"`);
  }
  if (values.nodes !== "emulated" && values.nodes !== "kubelet")
    throw new UsageError(`--nodes must be emulated or kubelet, not "${values.nodes}"`);
  if (values.nodes === "kubelet" && (values.cluster !== "local" || values.datapath !== "netns"))
    throw new UsageError(
      "--nodes kubelet runs real kubelet + containerd nodes: it needs --cluster local and --datapath netns",
    );
  const layout = values["netpol-layout"];
  if (layout !== undefined && layout !== "upstream" && layout !== "kubernetes")
    throw new UsageError(`--netpol-layout must be upstream or kubernetes, not "${layout}"`);
  if (values.compare !== undefined && values.compare !== "kubernetes")
    throw new UsageError(
      `--compare takes kubernetes (Kubernetes NetworkPolicy semantics), not "${values.compare}"`,
    );
  if (values["ui-listen"] !== undefined) parseListen(values["ui-listen"]);
  return {
    options: {
      datapath: values.datapath,
      cluster: parseClusterFlagOrUsage(values.cluster!),
      ...(values.nodes === "kubelet" ? { nodes: "kubelet" as const } : {}),
    },
    positionals,
    values,
  };
}

/** `--ui-listen <host>:<port>` (or a bare host, any free port): where `ctb up` serves the web view. */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+))(?::(\d+))?$/.exec(v);
  const port = Number(m?.[3] ?? 0);
  if (!m || port > 65535)
    throw new UsageError(
      `--ui-listen takes <address>[:<port>] (e.g. 127.0.0.1:8080, 0.0.0.0:8080), not "${v}"`,
    );
  return { host: (m[1] ?? m[2])!, port };
}

function parseClusterFlagOrUsage(v: string): ClusterChoice {
  if (v === "embedded" || v === "local") return { kind: v };
  if (v.startsWith("kubeconfig:") && v.length > "kubeconfig:".length)
    return { kind: "kubeconfig", path: v.slice(11) };
  throw new UsageError(`--cluster must be embedded, local or kubeconfig:<path>, not "${v}"`);
}

/** The scenario as the command line adjusts it: `--netpol-layout` overrides the scenario's controller option. */
export function withOverrides<S extends { controller: { netpolLayout?: "upstream" | "kubernetes" } }>(
  scenario: S,
  values: Record<string, unknown>,
): S {
  const layout = values["netpol-layout"] as "upstream" | "kubernetes" | undefined;
  return layout ? { ...scenario, controller: { ...scenario.controller, netpolLayout: layout } } : scenario;
}
