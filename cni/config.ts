/**
 * Network configuration: the stdin JSON of a CNI call, overlaid on the `contrail` section of the deployed
 * `*contrail.conf` file, validated into typed options. Pure: the caller reads stdin and the file.
 *
 * Example: `parseNetConf('{"cniVersion":"1.0.0","name":"contrail","type":"contrail-k8s-cni"}', "ADD")`
 * → options with the agent at 127.0.0.1:9091, state in /var/lib/contrail/ports/vm.
 */
import { isIP } from "node:net";
import { CniCode, CniError } from "./errors";
import { allows, type Command, isSupported, parseVersion, SUPPORTED_VERSIONS } from "./versions";

export interface ContrailOptions {
  clusterName: string;
  mode: "k8s";
  metaPlugin: boolean;
  /** With meta-plugin: the network (annotation `network`) this delegated call plumbs. */
  networkName?: string;
  vifType: "veth";
  parentInterface: string;
  mtu: number;
  vrouterIp: string;
  vrouterPort: number;
  /** Where the per-pod state files live: `<configDir>/<vm-name>/<vmi-uuid>`. */
  configDir: string;
  /** Seconds between two polls of the agent (also the per-request timeout). */
  pollTimeout: number;
  pollRetries: number;
  logFile?: string;
  logLevel: LogLevel;
  /**
   * Testbed extension: the network namespace (name) that holds the host ends of the veths, i.e. the compute
   * node. Absent = the namespace the plugin runs in, as on a real node.
   */
  hostNetns?: string;
}

export type LogLevel = "error" | "warn" | "info" | "debug";

export interface DnsConfig {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  dns?: DnsConfig;
  /** CHECK (always) and DEL (1.1.0, optional): the result ADD returned. */
  prevResult?: Record<string, unknown>;
  /** GC: attachments the runtime still uses. */
  validAttachments?: Attachment[];
  contrail: ContrailOptions;
}

export const DEFAULT_OPTIONS: ContrailOptions = {
  clusterName: "k8s",
  mode: "k8s",
  metaPlugin: false,
  vifType: "veth",
  parentInterface: "eth0",
  mtu: 1500,
  vrouterIp: "127.0.0.1",
  vrouterPort: 9091,
  configDir: "/var/lib/contrail/ports/vm",
  pollTimeout: 5,
  pollRetries: 15,
  logLevel: "info",
};

const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function bad(msg: string): CniError {
  return new CniError(CniCode.InvalidNetworkConfig, msg);
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Decode the stdin text (code 6 when it is not a JSON object). */
export function decodeStdin(text: string): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CniError(
      CniCode.DecodeFailure,
      "network configuration on stdin is not valid JSON",
      String(err),
    );
  }
  if (!isObject(parsed))
    throw new CniError(CniCode.DecodeFailure, "network configuration on stdin is not a JSON object");
  return parsed;
}

/** The cniVersion of the request, checked against what the plugin supports and what the command needs. */
export function checkVersion(raw: Json, command: Command): string {
  const v = raw.cniVersion;
  if (v === undefined || v === "") throw bad("cniVersion is missing");
  if (typeof v !== "string") throw bad("cniVersion must be a string");
  if (!parseVersion(v)) throw new CniError(CniCode.IncompatibleVersion, `cniVersion "${v}" is not a version`);
  if (!isSupported(v)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `incompatible CNI versions: config is "${v}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    );
  }
  if (!allows(v, command)) {
    throw new CniError(CniCode.IncompatibleVersion, `config version "${v}" does not allow ${command}`);
  }
  return v;
}

const str = (key: string, v: unknown): string => {
  if (typeof v !== "string" || v === "") throw bad(`contrail.${key} must be a non-empty string`);
  return v;
};
const int = (key: string, v: unknown, min: number, max: number): number => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`contrail.${key} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
};

const LEVELS: LogLevel[] = ["error", "warn", "info", "debug"];

function logLevel(v: unknown): LogLevel {
  // Deployed configs carry glog-style numbers ("2"); higher is more verbose.
  const s = typeof v === "number" ? String(v) : v;
  if (typeof s !== "string") throw bad("contrail.log-level must be a string or a number");
  if ((LEVELS as string[]).includes(s)) return s as LogLevel;
  if (/^\d+$/.test(s)) return LEVELS[Math.min(Number(s), 3)];
  throw bad(`contrail.log-level "${s}" is not one of ${LEVELS.join(", ")} or a number`);
}

/** Apply one `contrail` section onto options; unknown keys are ignored like the real plugin's decoder does. */
export function applyContrailSection(
  base: ContrailOptions,
  section: unknown,
  where: string,
): ContrailOptions {
  if (section === undefined) return base;
  if (!isObject(section)) throw bad(`"contrail" in ${where} must be an object`);
  const o: ContrailOptions = { ...base };
  for (const [key, v] of Object.entries(section)) {
    switch (key) {
      case "cluster-name":
        o.clusterName = str(key, v);
        // It starts every pod's state-directory name.
        if (!NETWORK_NAME.test(o.clusterName))
          throw bad(`contrail.cluster-name ${JSON.stringify(v)} must be a plain name ([A-Za-z0-9_.-])`);
        break;
      case "mode":
        if (v === "mesos")
          throw new CniError(CniCode.UnsupportedField, 'contrail.mode "mesos" is not supported');
        if (v !== "k8s") throw bad(`contrail.mode must be "k8s", got ${JSON.stringify(v)}`);
        break;
      case "meta-plugin":
        if (typeof v !== "boolean") throw bad("contrail.meta-plugin must be true or false");
        o.metaPlugin = v;
        break;
      case "network-name":
        o.networkName = str(key, v);
        break;
      case "vif-type":
        if (v === "macvlan") {
          throw new CniError(
            CniCode.UnsupportedField,
            'contrail.vif-type "macvlan" (nested mode) is not supported',
          );
        }
        if (v !== "veth") throw bad(`contrail.vif-type must be "veth", got ${JSON.stringify(v)}`);
        break;
      case "parent-interface":
        o.parentInterface = str(key, v);
        break;
      case "mtu":
        o.mtu = int(key, v, 68, 65535);
        break;
      case "vrouter-ip":
        if (typeof v !== "string" || isIP(v) === 0)
          throw bad(`contrail.vrouter-ip must be an IP address, got ${JSON.stringify(v)}`);
        o.vrouterIp = v;
        break;
      case "vrouter-port":
        o.vrouterPort = int(key, v, 1, 65535);
        break;
      case "config-dir":
        if (typeof v !== "string" || !v.startsWith("/"))
          throw bad("contrail.config-dir must be an absolute path");
        o.configDir = v.replace(/\/+$/, "");
        break;
      case "poll-timeout":
        if (typeof v !== "number" || !(v > 0) || v > 3600)
          throw bad("contrail.poll-timeout must be seconds in (0, 3600]");
        o.pollTimeout = v;
        break;
      case "poll-retries":
        o.pollRetries = int(key, v, 1, 10_000);
        break;
      case "log-file":
        o.logFile = str(key, v);
        break;
      case "log-level":
        o.logLevel = logLevel(v);
        break;
      case "host-netns":
        if (typeof v !== "string" || !NETWORK_NAME.test(v))
          throw bad("contrail.host-netns must be a namespace name");
        o.hostNetns = v;
        break;
      default:
        // log-dir, conf-dir and keys of newer plugin versions: accepted, not used.
        break;
    }
  }
  return o;
}

function parseDns(v: unknown): DnsConfig | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw bad("dns must be an object");
  const list = (k: string): string[] | undefined => {
    const x = v[k];
    if (x === undefined) return undefined;
    if (!Array.isArray(x) || !x.every((s) => typeof s === "string"))
      throw bad(`dns.${k} must be a list of strings`);
    return x;
  };
  const domain = v.domain;
  if (domain !== undefined && typeof domain !== "string") throw bad("dns.domain must be a string");
  return { nameservers: list("nameservers"), domain, search: list("search"), options: list("options") };
}

function parseAttachments(v: unknown): Attachment[] {
  if (!Array.isArray(v)) throw bad('"cni.dev/valid-attachments" must be a list');
  return v.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== "string" || typeof a.ifname !== "string") {
      throw bad(`"cni.dev/valid-attachments"[${i}] needs string containerID and ifname`);
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}

/**
 * Build the NetConf of one call. `fileSection` is the `contrail` object of the deployed conf file (if any):
 * stdin keys override it key by key.
 */
export function parseNetConf(
  raw: Json,
  command: Command,
  file?: { path: string; contrail: unknown },
): NetConf {
  const cniVersion = checkVersion(raw, command);
  if (typeof raw.name !== "string" || !NETWORK_NAME.test(raw.name)) {
    throw bad(`network name must match ${NETWORK_NAME.source}, got ${JSON.stringify(raw.name)}`);
  }
  if (typeof raw.type !== "string" || raw.type === "") throw bad("type is missing");
  let contrail = DEFAULT_OPTIONS;
  if (file) contrail = applyContrailSection(contrail, file.contrail, file.path);
  contrail = applyContrailSection(contrail, raw.contrail, "stdin");
  const conf: NetConf = { cniVersion, name: raw.name, type: raw.type, dns: parseDns(raw.dns), contrail };
  if (raw.prevResult !== undefined) {
    if (!isObject(raw.prevResult)) throw bad("prevResult must be an object");
    conf.prevResult = raw.prevResult;
  }
  if (command === "CHECK" && !conf.prevResult) throw bad("CHECK needs prevResult");
  if (command === "GC") {
    // libcni also sends the list as "cni.dev/attachments" (the name an early spec draft used).
    const list = raw["cni.dev/valid-attachments"] ?? raw["cni.dev/attachments"];
    // Without the list every attachment would look invalid: refuse rather than wipe the node.
    if (list === undefined) throw bad('GC needs "cni.dev/valid-attachments"');
    conf.validAttachments = parseAttachments(list);
  }
  return conf;
}

/** The deployed file's `contrail` section, from the text of a `*contrail.conf` file. */
export function parseConfFile(path: string, text: string): { path: string; contrail: unknown } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw bad(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw bad(`${path} is not a JSON object`);
  return { path, contrail: parsed.contrail };
}
