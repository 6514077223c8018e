/**
 * Which value of contrail-kubernetes.conf kube-manager actually reads, and what it silently ignores.
 *
 * Upstream (kube_manager/common/args.py) reads each section into its own dict that starts from built-in
 * defaults — DEFAULTS, VNC, KUBERNETES, SANDESH, AUTH — then merges the dicts in that order into one namespace.
 * So the section a key is written in does not matter, except that a dict applied later that has the key (its
 * built-in default or the file's value) wins: `pod_subnets` under [DEFAULTS] is lost to [KUBERNETES]'s
 * default None, while `secure_project` under [KUBERNETES] is read. configparser lower-cases keys and copies its
 * special [DEFAULT] section into every other section. The testbed resolves values the same way and reports, at
 * their lines, the keys kube-manager would not read, so a conf file behaves here as it would on a cluster.
 *
 * Example: resolveSections(parseIniEntries("[KUBERNETES]\nsecure_project = True\n")).values.get("secure_project")
 *   → { value: "True", section: "KUBERNETES", line: 2 }
 */

/** The sections args.py reads, in the order their dicts are merged (a later one wins). */
export const READ_ORDER = ["DEFAULTS", "VNC", "KUBERNETES", "SANDESH", "AUTH"] as const;
export type ReadSection = (typeof READ_ORDER)[number];

/** Keys each of args.py's dicts has a built-in default for (so it overrides the same key from an earlier one). */
const BUILT_IN: Record<Exclude<ReadSection, "SANDESH">, readonly string[]> = {
  DEFAULTS: [
    "http_server_port",
    "worker_id",
    "collectors",
    "logger_class",
    "logging_conf",
    "log_local",
    "log_category",
    "use_syslog",
    "syslog_facility",
    "kube_object_cache",
    "disc_server_ip",
    "disc_server_port",
    "log_level",
    "log_file",
    "api_service_link_local",
    "orchestrator",
    "token",
    "nested_mode",
    "global_tags",
    "aps_name",
    "kube_timer_interval",
    "secure_project",
    "host_ip",
  ],
  VNC: [
    "rabbit_server",
    "rabbit_port",
    "rabbit_user",
    "rabbit_password",
    "rabbit_vhost",
    "rabbit_ha_mode",
    "rabbit_use_ssl",
    "kombu_ssl_version",
    "kombu_ssl_keyfile",
    "kombu_ssl_certfile",
    "kombu_ssl_ca_certs",
    "cassandra_user",
    "cassandra_password",
    "cassandra_server_list",
    "cassandra_use_ssl",
    "cassandra_ca_certs",
    "cluster_id",
    "vnc_endpoint_ip",
    "vnc_endpoint_port",
    "admin_user",
    "admin_password",
    "admin_tenant",
    "public_fip_pool",
    "zk_server_ip",
  ],
  KUBERNETES: [
    "kubernetes_api_server",
    "kubernetes_api_port",
    "kubernetes_api_secure_port",
    "kubernetes_service_name",
    "service_subnets",
    "pod_subnets",
    "ip_fabric_subnets",
    "kubernetes_cluster_owner",
    "kubernetes_cluster_domain",
    "cluster_name",
    "cluster_project",
    "cluster_network",
    "cluster_pod_network",
    "cluster_service_network",
    "ip_fabric_forwarding",
    "ip_fabric_snat",
    "host_network_service",
  ],
  AUTH: ["auth_token_url", "auth_user", "auth_password", "auth_tenant"],
};

/** Sandesh's own options (pysandesh SandeshConfig): read by kube-manager, not modelled by the testbed. */
const SANDESH_KEYS = [
  "keyfile",
  "certfile",
  "ca_cert",
  "sandesh_ssl_enable",
  "introspect_ssl_enable",
  "introspect_ssl_insecure",
  "disable_object_logs",
  "system_logs_rate_limit",
  "sandesh_send_rate_limit",
  "tcp_keepalive_enable",
  "tcp_keepalive_idle_time",
  "tcp_keepalive_probes",
  "tcp_keepalive_interval",
  "dscp_value",
];

/** Options kube-manager reads (any of its dicts). */
export const UPSTREAM_KEYS: ReadonlySet<string> = new Set([
  ...Object.values(BUILT_IN).flat(),
  ...SANDESH_KEYS,
]);

export interface IniEntry {
  section: string;
  key: string;
  value: string;
  /** 1-based line in the text. */
  line: number;
}

/** A parsed INI text: its entries and every section header (an empty section still counts for [DEFAULT]). */
export interface IniFile {
  entries: IniEntry[];
  sections: string[];
}

export interface ResolvedValue {
  value: string;
  /** The section the value was read from (for a [DEFAULT] key, the section configparser copied it into). */
  section: ReadSection;
  line: number;
}

export interface ConfigWarning {
  line: number;
  message: string;
}

/**
 * The value kube-manager reads for every key the file sets, and a warning for each key it would not read.
 * `known` is the set of keys the testbed models (for the "not modelled" and typo warnings).
 */
export function resolveSections(
  { entries, sections }: IniFile,
  known: ReadonlySet<string> = new Set(),
): { values: Map<string, ResolvedValue>; warnings: ConfigWarning[] } {
  const present = new Set(sections);
  // configparser: [DEFAULT]'s keys show up in every section that exists, unless that section sets them itself
  const bySection = new Map<string, Map<string, IniEntry>>(sections.map((s) => [s, new Map()]));
  for (const e of entries) {
    if (!bySection.has(e.section)) bySection.set(e.section, new Map());
    bySection.get(e.section)?.set(e.key, e);
  }
  const defaultSection = bySection.get("DEFAULT") ?? new Map<string, IniEntry>();
  const itemsOf = (s: ReadSection): Map<string, IniEntry> => {
    const own = bySection.get(s);
    if (!own) return new Map();
    const items = new Map(defaultSection);
    for (const [k, e] of own) items.set(k, e);
    return items;
  };

  const values = new Map<string, ResolvedValue>();
  // who set each key last, built-in defaults included: a built-in default in a later dict hides the file's value
  const winner = new Map<string, { section: ReadSection; entry?: IniEntry }>();
  for (const s of READ_ORDER) {
    if (s !== "SANDESH") for (const k of BUILT_IN[s]) winner.set(k, { section: s });
    for (const [k, entry] of itemsOf(s)) winner.set(k, { section: s, entry });
  }
  for (const [k, w] of winner)
    if (w.entry) values.set(k, { value: w.entry.value, section: w.section, line: w.entry.line });

  const warnings: ConfigWarning[] = [];
  const notModelled: IniEntry[] = [];
  for (const e of entries) {
    if (e.section === "DEFAULT" && !READ_ORDER.some((s) => present.has(s))) {
      warnings.push({
        line: e.line,
        message:
          `${e.key} under [DEFAULT] is not read: configparser copies [DEFAULT] only into the other sections and ` +
          "this file has none; kube-manager's own section is [DEFAULTS]",
      });
      continue;
    }
    if (e.section !== "DEFAULT" && !(READ_ORDER as readonly string[]).includes(e.section)) {
      warnings.push({
        line: e.line,
        message: `[${e.section}] ${e.key} is not read: kube-manager reads only [${READ_ORDER.join("], [")}]`,
      });
      continue;
    }
    if (e.section === "DEFAULT") continue; // judged through the sections it is copied into
    const w = winner.get(e.key);
    if (w && w.entry !== e && bySection.get(e.section)?.get(e.key) === e) {
      const by = w.entry ? `the value at line ${w.entry.line}` : "its built-in default";
      warnings.push({
        line: e.line,
        message: `[${e.section}] ${e.key} is not read: kube-manager takes ${e.key} from [${w.section}] (${by}), whose dict is merged after [${e.section}]`,
      });
      continue;
    }
    if (known.has(e.key)) continue;
    if (UPSTREAM_KEYS.has(e.key)) notModelled.push(e);
    else {
      const near = closest(e.key, [...known, ...UPSTREAM_KEYS]);
      warnings.push({
        line: e.line,
        message:
          `[${e.section}] ${e.key} is not a kube-manager option; ignored, as kube-manager ignores it` +
          (near ? ` (did you mean ${near}?)` : ""),
      });
    }
  }
  if (notModelled.length > 0)
    warnings.push({
      line: notModelled[0].line,
      message: `read by kube-manager but not modelled by the testbed (no effect here): ${[...new Set(notModelled.map((e) => e.key))].join(", ")}`,
    });
  warnings.sort((a, b) => a.line - b.line);
  return { values, warnings };
}

/** The nearest name within edit distance 2 (a typo), if any. */
function closest(key: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = editDistance(key, n, bestD);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best;
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
