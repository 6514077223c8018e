/**
 * `ctb controller`: run the controller alone against a kubeconfig's cluster and a VNC API, until SIGINT or
 * SIGTERM. Flags override contrail-kubernetes.conf; logs are JSON lines on stderr; /status and /metrics are
 * served on 127.0.0.1:<status-port> (8108, kube-manager's introspect port, unless told otherwise).
 *
 * Example: ctb controller --kubeconfig ~/.kube/config --vnc http://127.0.0.1:8082 --config k.conf --model r4
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import {
  ConfigError,
  type ConfigOverrides,
  configWarnings,
  type Model,
  parseConfig,
  parseIni,
} from "./config";
import { jsonLogger, type LogLevel, startController } from "./index";
import { HttpKubeApi } from "./kube/http";

export const USAGE = `usage: ctb controller [flags]
  --kubeconfig <file>     cluster to watch (default: $KUBECONFIG, then ~/.kube/config)
  --vnc <url>             VNC config API (default: http://<[VNC] vnc_endpoint_ip>:<port>, i.e. http://127.0.0.1:8082)
  --config <file>         contrail-kubernetes.conf ([KUBERNETES], [VNC], [DEFAULTS])
  --model r4|r5           object model generation (default r5)
  --cluster-name <name>   overrides [KUBERNETES] cluster_name (default k8s)
  --set <key>=<value>     any contrail-kubernetes.conf option by its upstream name, in its section, over the
                          file (repeatable): --set kubernetes_cluster_domain=admin_domain
                          --set "cluster_project={'project': 'k8s'}" --set secure_project=True
  --status-port <port>    /status and /metrics on 127.0.0.1 (default 8108; 0 = any free port)
  --log-level <level>     debug | info | warn | error (default info)
`;

/** A bad command line; the message says which flag. */
export class ControllerUsageError extends Error {
  override name = "ControllerUsageError";
}

export async function main(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: "string" },
        vnc: { type: "string" },
        config: { type: "string" },
        model: { type: "string" },
        "cluster-name": { type: "string" },
        set: { type: "string", multiple: true },
        "status-port": { type: "string" },
        "log-level": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    throw new ControllerUsageError(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const model = values.model as string | undefined;
  if (model !== undefined && model !== "r4" && model !== "r5")
    throw new ControllerUsageError(`--model must be r4 or r5, not "${model}"`);
  const level = (values["log-level"] ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(level))
    throw new ControllerUsageError(`--log-level must be debug, info, warn or error, not "${level}"`);
  let statusPort = 8108;
  if (values["status-port"] !== undefined) {
    statusPort = Number(values["status-port"]);
    if (!Number.isInteger(statusPort) || statusPort < 0 || statusPort > 65535)
      throw new ControllerUsageError(`--status-port must be a port number, not "${values["status-port"]}"`);
  }

  const overrides: ConfigOverrides = {};
  if (model) overrides.model = model as Model;
  if (values["cluster-name"]) overrides.clusterName = values["cluster-name"] as string;
  let text = "";
  if (values.config) {
    const path = values.config as string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why =
        err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "is a directory" : err.message;
      throw new ControllerUsageError(`--config ${path}: ${why}`);
    }
    // the file's own syntax errors at file:line (the --set options are added after its lines)
    try {
      parseIni(text);
    } catch (e) {
      const line = e instanceof ConfigError ? /^line (\d+)$/.exec(e.key) : null;
      if (!(line && e instanceof ConfigError)) throw e;
      throw new ControllerUsageError(`${path}:${line[1]}: ${e.message.slice(e.key.length + 2)}`);
    }
  }
  const options: Record<string, string> = {};
  for (const kv of (values.set as string[] | undefined) ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new ControllerUsageError(`--set wants <key>=<value>, not "${kv}"`);
    options[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
  }
  const config = withFileLine(values.config as string | undefined, text, options, () =>
    parseConfig(text, overrides, options),
  );
  const vncUrl =
    (values.vnc as string | undefined) ?? `http://${config.vncEndpoint.ip}:${config.vncEndpoint.port}`;

  const kc = new KubeConfig();
  if (values.kubeconfig) kc.loadFromFile(values.kubeconfig as string);
  else kc.loadFromDefault();
  const kube = new HttpKubeApi(kc);

  const log = jsonLogger((l) => process.stderr.write(l), level);
  // what kube-manager itself would not read in the file: said once at start, as file:line
  if (values.config)
    for (const w of configWarnings(text)) log.log("warn", `${values.config}:${w.line}: ${w.message}`);
  // [AUTH] auth_token_url: authenticate to the config API with keystone and map Kubernetes RBAC to it
  const controller = await startController({
    kube,
    vncUrl,
    config,
    log,
    statusPort,
    ...(config.keystone ? { keystone: config.keystone } : {}),
  });
  log.log("info", "status endpoint", { url: controller.statusUrl });
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
  await controller.stop();
}

/** A refused value read from the --config file is reported at its file:line (a --set value wins over it). */
function withFileLine<T>(
  path: string | undefined,
  text: string,
  options: Record<string, string>,
  f: () => T,
): T {
  try {
    return f();
  } catch (e) {
    if (!(path && e instanceof ConfigError)) throw e;
    const option = e.key.replace(/^\[[A-Z]+\]\s*/, "");
    if (option in options) throw e;
    const lines = text.split(/\r?\n/);
    const at = lines.findLastIndex((l) => new RegExp(`^\\s*${option}\\s*[=:]`).test(l));
    if (at < 0) throw e;
    throw new ControllerUsageError(`${path}:${at + 1}: ${e.message}`);
  }
}
