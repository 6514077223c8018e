/**
 * Controller configuration: the keys of contrail-kubernetes.conf ([KUBERNETES], [VNC], [DEFAULTS]) parsed from
 * INI text, with the upstream defaults and the model generation (r4 = seed 000 naming, r5 = R5.0+ naming).
 * Every error names the section and key it is about.
 *
 * Example:
 *   const cfg = parseConfig(readFileSync("contrail-kubernetes.conf", "utf8"), { model: "r4" });
 *   cfg.podSubnets // ["10.32.0.0/12"]
 */
import ipaddr from "ipaddr.js";
import {
  type ConfigWarning,
  type IniEntry,
  type IniFile,
  type ReadSection,
  resolveSections,
} from "./config-sections";

export type Model = "r4" | "r5";

/** `{"domain","project","name"}` of a virtual network (cluster_network, namespace/pod network annotation). */
export interface VnRef {
  domain: string;
  project: string;
  name: string;
}

/** `{"domain","project","network","name"}` of a floating-ip-pool. */
export interface FipPoolRef {
  domain: string;
  project: string;
  network: string;
  name: string;
}

export interface ControllerConfig {
  model: Model;
  clusterName: string;
  /** kubernetes_cluster_domain: the Contrail domain projects live in. */
  domain: string;
  podSubnets: string[];
  serviceSubnets: string[];
  ipFabricSubnets: string[];
  /** cluster_project: project name holding the cluster IPAMs / networks (default r4 `default`, r5 `<c>-default`). */
  clusterProject?: string;
  /** cluster_network (r4): use this VN instead of creating `cluster-network`. */
  clusterNetwork?: VnRef;
  /**
   * r5 `cluster_pod_network` / `cluster_service_network` (dicts; only their `name` is used, as upstream's
   * `get_vn_name_from_vn_dict_string`): the default networks' names in the cluster project instead of
   * `<c>-default-pod-network` / `<c>-default-service-network` (an existing network of that name is adopted).
   */
  clusterPodNetwork?: string;
  clusterServiceNetwork?: string;
  /** Pod network forwarded in the underlay (r5 default true; r4 is overlay only). */
  ipFabricForwarding: boolean;
  ipFabricSnat: boolean;
  publicFipPool?: FipPoolRef;
  /** Periodic full resync, seconds (kube_timer_interval). */
  kubeTimerInterval: number;
  /** host_network_service: only false is supported (see parseConfig). */
  hostNetworkService: boolean;
  /**
   * `[KUBERNETES] kubernetes_cluster_owner` (`k8s`): the `owner` annotation on every object the controller
   * writes (config_db.py `add_annotations`), and the one it recognises its own objects by.
   */
  clusterOwner: string;
  /**
   * `[DEFAULTS] secure_project` (on only for the string `True`, as upstream compares it): the cluster's
   * `application=<c>` tag goes on each namespace's project instead of on the namespace's networks
   * (vnc_namespace.py `vnc_namespace_add`: policy enforced at project level, `enforce_policy=not secure_project`).
   */
  secureProject: boolean;
  /**
   * `[DEFAULTS] nested_mode` (`1`): Kubernetes runs inside OpenStack VMs; each pod's interface is a VLAN
   * sub-interface of its VM's interface (vnc_pod.py). The controller builds that graph; the emulated datapath
   * does not carry VLAN sub-interfaces, so the testbed refuses traffic checks in this mode.
   */
  nestedMode: boolean;
  vncEndpoint: { ip: string; port: number };
  /**
   * `[AUTH]` (with `auth_token_url`): the keystone user kube-manager authenticates to the config API as (its
   * vnc_api gets a token there on a 401), and with which the Kubernetes RBAC mapping manages role assignments.
   */
  keystone?: { url: string; user: string; password: string; project: string };
  apsName?: string;
  /**
   * How NetworkPolicy becomes Contrail objects (a testbed option, `[DEFAULTS] netpol_layout`):
   * `upstream` (default) — what the real kube-manager of the model builds: r5 the cluster APS of firewall
   * policies (netpol-upstream.ts), r4 security groups on the pods' interfaces (netpol-r4.ts);
   * `kubernetes` — the testbed's corrected per-pod firewall layout whose verdicts equal Kubernetes semantics
   * (Contrail does not ship it), for either model.
   */
  netpolLayout: NetpolLayout;
  /**
   * The kube-apiserver as the computes reach it (`[KUBERNETES] kubernetes_api_server`, default `localhost`):
   * an IPv4 address becomes the link-local entry's `ip_fabric_service_ip`, anything else its
   * `ip_fabric_DNS_service_name`; empty turns the link-local entries off.
   */
  kubernetesApiServer: string;
  /** `[KUBERNETES] kubernetes_api_secure_port` (8443): the link-local entries' `ip_fabric_service_port`. */
  kubernetesApiSecurePort: number;
  /** `[KUBERNETES] kubernetes_service_name` (`kubernetes`): services of this name (any namespace) get link-local entries. */
  kubernetesServiceName: string;
  /**
   * `[DEFAULTS] api_service_link_local` (default on): the kubernetes Service gets one link-local service per port
   * in default-global-vrouter-config. Upstream compares the value with the string `True`; any other value is off.
   */
  apiServiceLinkLocal: boolean;
}

export type NetpolLayout = "upstream" | "kubernetes";

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = "ConfigError";
  }
}

export function defaultConfig(model: Model = "r5"): ControllerConfig {
  return {
    model,
    clusterName: "k8s",
    domain: "default-domain",
    podSubnets: ["10.32.0.0/12"],
    serviceSubnets: ["10.96.0.0/12"],
    ipFabricSubnets: ["10.64.0.0/12"],
    ipFabricForwarding: model === "r5",
    ipFabricSnat: false,
    kubeTimerInterval: 120,
    hostNetworkService: false,
    clusterOwner: "k8s",
    secureProject: false,
    nestedMode: false,
    vncEndpoint: { ip: "127.0.0.1", port: 8082 },
    netpolLayout: "upstream",
    kubernetesApiServer: "localhost",
    kubernetesApiSecurePort: 8443,
    kubernetesServiceName: "kubernetes",
    apiServiceLinkLocal: true,
  };
}

/**
 * Parse INI text into its `key = value` entries with their lines; `#`/`;` comments, `key = value` or
 * `key: value`; keys lower-cased as configparser does.
 */
export function parseIniEntries(text: string): IniFile {
  const out: IniEntry[] = [];
  const sections: string[] = [];
  let section = "";
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) return;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      section = sec[1].trim();
      sections.push(section);
      return;
    }
    const m = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) throw new ConfigError(`line ${i + 1}`, `expected "key = value", got "${line}"`);
    if (!section) throw new ConfigError(`line ${i + 1}`, `key "${m[1]}" outside a [SECTION]`);
    out.push({ section, key: m[1].toLowerCase(), value: m[2], line: i + 1 });
  });
  return { entries: out, sections };
}

/** Parse INI text into `{SECTION: {key: value}}` (a later line wins). */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const e of parseIniEntries(text).entries) {
    out[e.section] ??= {};
    out[e.section][e.key] = e.value;
  }
  return out;
}

/**
 * What kube-manager would not read in this contrail-kubernetes.conf text, at its lines: keys hidden by the
 * merge order of args.py, keys in sections it does not read, unknown keys (with the nearest name), and the
 * options it reads that the testbed does not model.
 */
export function configWarnings(text: string): ConfigWarning[] {
  return resolveSections(parseIniEntries(text), TESTBED_KEYS).warnings;
}

/** The section each key parseConfig reads lives in, by upstream's name (kube_manager/common/args.py). */
export const OPTION_SECTIONS: Record<string, "KUBERNETES" | "VNC" | "DEFAULTS" | "AUTH"> = {
  cluster_name: "KUBERNETES",
  kubernetes_cluster_domain: "KUBERNETES",
  kubernetes_cluster_owner: "KUBERNETES",
  pod_subnets: "KUBERNETES",
  service_subnets: "KUBERNETES",
  ip_fabric_subnets: "KUBERNETES",
  cluster_project: "KUBERNETES",
  cluster_network: "KUBERNETES",
  cluster_pod_network: "KUBERNETES",
  cluster_service_network: "KUBERNETES",
  ip_fabric_forwarding: "KUBERNETES",
  ip_fabric_snat: "KUBERNETES",
  host_network_service: "KUBERNETES",
  kubernetes_api_server: "KUBERNETES",
  kubernetes_api_secure_port: "KUBERNETES",
  kubernetes_service_name: "KUBERNETES",
  vnc_endpoint_ip: "VNC",
  vnc_endpoint_port: "VNC",
  public_fip_pool: "VNC",
  model: "DEFAULTS",
  kube_timer_interval: "DEFAULTS",
  aps_name: "DEFAULTS",
  api_service_link_local: "DEFAULTS",
  secure_project: "DEFAULTS",
  global_tags: "DEFAULTS",
  nested_mode: "DEFAULTS",
  netpol_layout: "DEFAULTS",
  auth_token_url: "AUTH",
  auth_user: "AUTH",
  auth_password: "AUTH",
  auth_tenant: "AUTH",
};

/** The keys the testbed models (the rest of a conf file is reported by configWarnings). */
const TESTBED_KEYS: ReadonlySet<string> = new Set(Object.keys(OPTION_SECTIONS));

/**
 * contrail-kubernetes.conf text with `key = value` options added after it, each in its section
 * (`ctb controller --set cluster_project="{'project': 'k8s'}"`); they win over the file's. Unknown keys are an
 * error naming the accepted ones.
 */
export function withOptions(text: string, options: Record<string, string>): string {
  const lines = [text];
  for (const [key, value] of Object.entries(options)) {
    const section = OPTION_SECTIONS[key];
    if (!section)
      throw new ConfigError(
        key,
        `not a kube-manager option the testbed reads (${Object.keys(OPTION_SECTIONS).join(", ")})`,
      );
    if (/[\r\n]/.test(value)) throw new ConfigError(key, "the value must be one line");
    lines.push(`[${section}]`, `${key} = ${value}`);
  }
  return lines.join("\n");
}

/** Overrides from flags (already typed) applied after the file. */
export type ConfigOverrides = Partial<ControllerConfig>;

/**
 * Build a ControllerConfig from contrail-kubernetes.conf text (may be empty), `--set` options by upstream name
 * (they win over the file) and flag overrides (they win over both). A key is read wherever kube-manager would
 * read it (config-sections.ts); errors name the section it was read from.
 */
export function parseConfig(
  text: string,
  overrides: ConfigOverrides = {},
  options: Record<string, string> = {},
): ControllerConfig {
  const { values } = resolveSections(parseIniEntries(withOptions(text, options)), TESTBED_KEYS);
  for (const [key, value] of Object.entries(options))
    values.set(key, { value, section: OPTION_SECTIONS[key], line: 0 });
  // each key in the record of its home section, whichever section the file wrote it in
  const k8s: Record<string, string> = {};
  const vnc: Record<string, string> = {};
  const defs: Record<string, string> = {};
  const auth: Record<string, string> = {};
  for (const [key, v] of values) {
    const home = OPTION_SECTIONS[key];
    if (home === "AUTH") auth[key] = v.value;
    else if (home === "KUBERNETES") k8s[key] = v.value;
    else if (home === "VNC") vnc[key] = v.value;
    else if (home === "DEFAULTS") defs[key] = v.value;
  }
  /** `[SECTION] key` for errors: the section the value came from. */
  const at = (key: string) =>
    `[${(values.get(key)?.section ?? OPTION_SECTIONS[key]) as ReadSection | string}] ${key}`;
  const modelRaw = overrides.model ?? defs.model ?? "r5";
  if (modelRaw !== "r4" && modelRaw !== "r5") throw new ConfigError("model", `"${modelRaw}" is not r4 or r5`);
  const cfg = defaultConfig(modelRaw);

  const K = at;
  if (k8s.cluster_name !== undefined) cfg.clusterName = name(K("cluster_name"), k8s.cluster_name);
  if (k8s.kubernetes_cluster_domain !== undefined)
    cfg.domain = name(K("kubernetes_cluster_domain"), k8s.kubernetes_cluster_domain);
  if (k8s.pod_subnets !== undefined) cfg.podSubnets = cidrs(K("pod_subnets"), k8s.pod_subnets);
  if (k8s.service_subnets !== undefined)
    cfg.serviceSubnets = cidrs(K("service_subnets"), k8s.service_subnets);
  if (k8s.ip_fabric_subnets !== undefined)
    cfg.ipFabricSubnets = cidrs(K("ip_fabric_subnets"), k8s.ip_fabric_subnets);
  if (k8s.cluster_project !== undefined) {
    const p = dict(K("cluster_project"), k8s.cluster_project);
    if (p) {
      if (typeof p.project !== "string") throw new ConfigError(K("cluster_project"), 'needs a "project" key');
      cfg.clusterProject = p.project;
      if (typeof p.domain === "string") cfg.domain = p.domain;
    }
  }
  if (k8s.cluster_network !== undefined) {
    const n = dict(K("cluster_network"), k8s.cluster_network);
    if (n) cfg.clusterNetwork = vnRef(K("cluster_network"), n);
  }
  for (const [key, field] of [
    ["cluster_pod_network", "clusterPodNetwork"],
    ["cluster_service_network", "clusterServiceNetwork"],
  ] as const) {
    if (k8s[key] === undefined) continue;
    const n = dict(K(key), k8s[key]);
    if (!n) continue;
    if (typeof n.name !== "string" || !n.name) throw new ConfigError(K(key), 'needs a "name" key');
    cfg[field] = n.name;
  }
  if (k8s.ip_fabric_forwarding !== undefined)
    cfg.ipFabricForwarding = bool(K("ip_fabric_forwarding"), k8s.ip_fabric_forwarding);
  if (k8s.ip_fabric_snat !== undefined) cfg.ipFabricSnat = bool(K("ip_fabric_snat"), k8s.ip_fabric_snat);
  if (k8s.host_network_service !== undefined) {
    cfg.hostNetworkService = bool(K("host_network_service"), k8s.host_network_service);
    if (cfg.hostNetworkService)
      throw new ConfigError(
        K("host_network_service"),
        "true is not supported yet: upstream makes a host-network pod's endpoint a load-balancer member through " +
          "the virtual-router's own interface (vnc_endpoints.py), which the testbed does not build; such endpoints " +
          "are left out of the Service, as with false",
      );
  }
  if (k8s.kubernetes_cluster_owner !== undefined)
    cfg.clusterOwner = name(K("kubernetes_cluster_owner"), k8s.kubernetes_cluster_owner);
  if (k8s.kubernetes_api_server !== undefined) cfg.kubernetesApiServer = k8s.kubernetes_api_server.trim();
  if (k8s.kubernetes_api_secure_port !== undefined)
    cfg.kubernetesApiSecurePort = port(K("kubernetes_api_secure_port"), k8s.kubernetes_api_secure_port);
  if (k8s.kubernetes_service_name !== undefined)
    cfg.kubernetesServiceName = name(K("kubernetes_service_name"), k8s.kubernetes_service_name);

  if (vnc.vnc_endpoint_ip !== undefined) cfg.vncEndpoint.ip = vnc.vnc_endpoint_ip.split(/[\s,]+/)[0];
  if (vnc.vnc_endpoint_port !== undefined)
    cfg.vncEndpoint.port = port(at("vnc_endpoint_port"), vnc.vnc_endpoint_port);
  if (auth.auth_token_url !== undefined) {
    const raw = auth.auth_token_url.trim();
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(
        at("auth_token_url"),
        `"${raw}" is not a URL (e.g. http://10.0.0.1:5000/v3/auth/tokens)`,
      );
    }
    if (!/\/v3\/auth\/tokens\/?$/.test(url.pathname))
      throw new ConfigError(
        at("auth_token_url"),
        `"${raw}" is not a keystone v3 token URL (…/v3/auth/tokens)`,
      );
    cfg.keystone = {
      url: `${url.origin}${url.pathname.replace(/\/v3\/auth\/tokens\/?$/, "")}`,
      // kube-manager's defaults (args.py auth_opts)
      user: auth.auth_user ?? "admin",
      password: auth.auth_password ?? "admin",
      project: auth.auth_tenant ?? "admin",
    };
  }
  if (vnc.public_fip_pool !== undefined) {
    const p = dict(at("public_fip_pool"), vnc.public_fip_pool);
    if (p) cfg.publicFipPool = fipPoolRef(at("public_fip_pool"), p);
  }
  if (defs.kube_timer_interval !== undefined) {
    cfg.kubeTimerInterval = int(at("kube_timer_interval"), defs.kube_timer_interval);
    if (cfg.kubeTimerInterval <= 0) throw new ConfigError(at("kube_timer_interval"), "must be > 0");
  }
  if (defs.aps_name !== undefined && defs.aps_name !== "") cfg.apsName = defs.aps_name;
  // vnc_service.py: `self._args.api_service_link_local == 'True'`
  if (defs.api_service_link_local !== undefined)
    cfg.apiServiceLinkLocal = defs.api_service_link_local.trim() === "True";
  // vnc_kubernetes_config.py: `secure_project == 'True'`, `global_tags == '1'`; kube_manager.py: `nested_mode == '0'`
  if (defs.secure_project !== undefined) cfg.secureProject = defs.secure_project.trim() === "True";
  if (defs.global_tags !== undefined && defs.global_tags.trim() !== "1")
    throw new ConfigError(
      at("global_tags"),
      `"${defs.global_tags}" is not supported: only 1 (the default: label tags are global, fq_name [key=value]); ` +
        "upstream's project-scoped label tags are not built by the testbed",
    );
  if (defs.nested_mode !== undefined) {
    const v = defs.nested_mode.trim();
    if (v !== "0" && v !== "1") throw new ConfigError(at("nested_mode"), `"${v}" is not 0 or 1`);
    cfg.nestedMode = v === "1";
  }
  if (defs.netpol_layout !== undefined)
    cfg.netpolLayout = netpolLayout(at("netpol_layout"), defs.netpol_layout);

  const merged = { ...cfg, ...stripUndefined(overrides) };
  // ip_fabric_forwarding's default follows the model when only the model was overridden
  if (overrides.model && overrides.ipFabricForwarding === undefined && k8s.ip_fabric_forwarding === undefined)
    merged.ipFabricForwarding = overrides.model === "r5";
  if (merged.model === "r4" && merged.ipFabricForwarding)
    throw new ConfigError(at("ip_fabric_forwarding"), "the r4 model is overlay only");
  return merged;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function name(key: string, v: string): string {
  const s = v.trim();
  if (!s || s.includes(":")) throw new ConfigError(key, `"${v}" is not a valid name`);
  return s;
}

export function bool(key: string, v: string): boolean {
  const s = v.trim().toLowerCase();
  if (["true", "yes", "1", "on"].includes(s)) return true;
  if (["false", "no", "0", "off"].includes(s)) return false;
  throw new ConfigError(key, `"${v}" is not a boolean (true/false)`);
}

function int(key: string, v: string): number {
  if (!/^\s*\d+\s*$/.test(v)) throw new ConfigError(key, `"${v}" is not a whole number (0 or more)`);
  return Number(v);
}

function port(key: string, v: string): number {
  const n = int(key, v);
  if (n < 1 || n > 65535) throw new ConfigError(key, `"${v.trim()}" is not a port number (1-65535)`);
  return n;
}

function cidrs(key: string, v: string): string[] {
  const parts = v
    .replace(/[[\]'"]/g, " ")
    .split(/[\s,]+/)
    .filter(Boolean);
  if (parts.length === 0) throw new ConfigError(key, "needs at least one subnet");
  return parts.map((p) => {
    if (!ipaddr.isValidCIDR(p)) throw new ConfigError(key, `"${p}" is not a CIDR`);
    const [addr, len] = ipaddr.parseCIDR(p);
    // normalise to the network address so allocation and comparisons agree
    return `${networkAddress(addr, len)}/${len}`;
  });
}

function networkAddress(addr: ipaddr.IPv4 | ipaddr.IPv6, len: number): string {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, len - i * 8));
    bytes[i] &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** Parse a JSON or Python-literal dict string (`{'domain': 'default-domain', ...}`); `{}`/empty → undefined. */
export function dict(key: string, v: string): Record<string, unknown> | undefined {
  const s = v.trim();
  if (!s || s === "{}" || s.toLowerCase() === "none") return undefined;
  try {
    const o = JSON.parse(s.replace(/'/g, '"'));
    if (o && typeof o === "object" && !Array.isArray(o)) return o as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new ConfigError(key, `"${v}" is not a dict like {"domain": ..., "project": ...}`);
}

export function vnRef(key: string, o: Record<string, unknown>): VnRef {
  for (const k of ["domain", "project", "name"])
    if (typeof o[k] !== "string" || !o[k]) throw new ConfigError(key, `missing "${k}"`);
  return { domain: o.domain as string, project: o.project as string, name: o.name as string };
}

export function fipPoolRef(key: string, o: Record<string, unknown>): FipPoolRef {
  for (const k of ["domain", "project", "network", "name"])
    if (typeof o[k] !== "string" || !o[k]) throw new ConfigError(key, `missing "${k}"`);
  return {
    domain: o.domain as string,
    project: o.project as string,
    network: o.network as string,
    name: o.name as string,
  };
}

export function netpolLayout(key: string, v: string): NetpolLayout {
  if (v === "upstream" || v === "kubernetes") return v;
  throw new ConfigError(key, `"${v}" is not upstream or kubernetes`);
}
