/**
 * What `ctb get` and `ctb describe` print, as kubectl prints it: kind names and their short forms, the column
 * layout of each kind (with the `-o wide` extras), `-o name|json|yaml`, and the describe text of pods,
 * services and nodes. Pure functions over the objects the environment returns; no I/O.
 *
 * Example: `process.stdout.write(table("pods", items, { wide: true, allNamespaces: false }))`.
 */
import { stringify } from "yaml";
import { type KubeObject, RESOURCES, type ResourceName } from "../../controller/kube/api";
import { formatColumns } from "../runner/run";
import { UsageError } from "./flags";

/** kubectl's short names; the plural, the kind in lower case and `<plural>.<group>` are accepted too. */
const SHORT: Record<string, ResourceName> = {
  po: "pods",
  svc: "services",
  ns: "namespaces",
  no: "nodes",
  ep: "endpoints",
  deploy: "deployments",
  rs: "replicasets",
  rc: "replicationcontrollers",
  netpol: "networkpolicies",
  ing: "ingresses",
};

export function resourceFor(word: string): ResourceName | undefined {
  const w = word.toLowerCase();
  if (w in SHORT) return SHORT[w];
  for (const [name, r] of Object.entries(RESOURCES)) {
    if (w === name || w === r.kind.toLowerCase() || (r.group && w === `${name}.${r.group}`))
      return name as ResourceName;
  }
  return undefined;
}

export function kindNames(): string {
  const short = Object.fromEntries(Object.entries(SHORT).map(([s, r]) => [r, s]));
  return Object.keys(RESOURCES)
    .map((r) => (short[r] ? `${r} (${short[r]})` : r))
    .join(", ");
}

export type Output = "table" | "wide" | "json" | "yaml" | "name";

export function parseOutput(v: string | undefined): Output {
  if (v === undefined) return "table";
  if (v === "wide" || v === "json" || v === "yaml" || v === "name") return v;
  throw new UsageError(
    `unable to match a printer suitable for the output format "${v}", allowed formats are: json, name, wide, yaml`,
  );
}

/** Objects as `-o json|yaml` prints them: one object alone, several as a v1 List. */
export function serialize(
  resource: ResourceName,
  objs: KubeObject[],
  list: boolean,
  format: "json" | "yaml",
): string {
  const typed = objs.map((o) => withType(resource, o));
  const doc = list
    ? { apiVersion: "v1", items: typed, kind: "List", metadata: { resourceVersion: "" } }
    : typed[0];
  return format === "json" ? `${JSON.stringify(doc, null, 4)}\n` : stringify(doc);
}

/** `-o name`: `pod/web-1`, `deployment.apps/web`. */
export function qualifiedName(resource: ResourceName, o: KubeObject): string {
  const r = RESOURCES[resource];
  return `${r.kind.toLowerCase()}${r.group ? `.${r.group}` : ""}/${o.metadata.name}`;
}

// list items come without apiVersion/kind from the API; kubectl fills them in
function withType(resource: ResourceName, o: KubeObject): KubeObject {
  const r = RESOURCES[resource];
  const { apiVersion, kind, ...rest } = o;
  return {
    apiVersion: apiVersion || (r.group ? `${r.group}/${r.version}` : r.version),
    kind: kind || r.kind,
    ...rest,
  };
}

// ---- tables ------------------------------------------------------------------------------------------------

interface Columns {
  header: string[];
  row(o: KubeObject): string[];
  wideHeader?: string[];
  wideRow?(o: KubeObject): string[];
}

const none = (v: string | undefined) => (v === undefined || v === "" ? "<none>" : v);
const age = (o: KubeObject) => humanAge(o.metadata.creationTimestamp);

/** ReplicaSets and ReplicationControllers print the same counts. */
const replicaCounts: Columns = {
  header: ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
  row: (r) => [
    r.metadata.name!,
    String(r.spec?.replicas ?? 1),
    String(r.status?.replicas ?? 0),
    String(r.status?.readyReplicas ?? 0),
    age(r),
  ],
};

const COLUMNS: Partial<Record<ResourceName, Columns>> = {
  pods: {
    header: ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    row: (p) => {
      const statuses = (p.status?.containerStatuses ?? []) as { ready?: boolean; restartCount?: number }[];
      const total = p.spec?.containers?.length ?? statuses.length;
      const ready = statuses.filter((c) => c.ready).length;
      const restarts = statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0);
      return [p.metadata.name!, `${ready}/${total}`, podStatus(p), String(restarts), age(p)];
    },
    wideHeader: ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
    wideRow: (p) => [
      none(p.status?.podIP),
      none(p.spec?.nodeName),
      none(p.status?.nominatedNodeName),
      "<none>",
    ],
  },
  services: {
    header: ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
    row: (s) => [
      s.metadata.name!,
      s.spec?.type ?? "ClusterIP",
      none(s.spec?.clusterIP),
      externalIp(s),
      servicePorts(s),
      age(s),
    ],
    wideHeader: ["SELECTOR"],
    wideRow: (s) => [none(labelsText(s.spec?.selector, ","))],
  },
  namespaces: {
    header: ["NAME", "STATUS", "AGE"],
    row: (n) => [n.metadata.name!, n.status?.phase ?? "Active", age(n)],
  },
  nodes: {
    header: ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
    row: (n) => [
      n.metadata.name!,
      nodeStatus(n),
      nodeRoles(n),
      age(n),
      n.status?.nodeInfo?.kubeletVersion ?? "",
    ],
    wideHeader: ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
    wideRow: (n) => [
      none(nodeAddress(n, "InternalIP")),
      none(nodeAddress(n, "ExternalIP")),
      n.status?.nodeInfo?.osImage || "<unknown>",
      n.status?.nodeInfo?.kernelVersion || "<unknown>",
      n.status?.nodeInfo?.containerRuntimeVersion ?? "",
    ],
  },
  deployments: {
    header: ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
    row: (d) => [
      d.metadata.name!,
      `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 1}`,
      String(d.status?.updatedReplicas ?? 0),
      String(d.status?.availableReplicas ?? 0),
      age(d),
    ],
    wideHeader: ["CONTAINERS", "IMAGES", "SELECTOR"],
    wideRow: (d) => templateColumns(d),
  },
  replicasets: {
    ...replicaCounts,
    wideHeader: ["CONTAINERS", "IMAGES", "SELECTOR"],
    wideRow: (r) => templateColumns(r),
  },
  replicationcontrollers: replicaCounts,
  endpoints: {
    header: ["NAME", "ENDPOINTS", "AGE"],
    row: (e) => [e.metadata.name!, endpointsText(e), age(e)],
  },
  endpointslices: {
    header: ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
    row: (s) => [
      s.metadata.name!,
      s.addressType ?? "",
      ((s.ports ?? []) as { port?: number }[]).map((p) => p.port ?? "").join(",") || "<unset>",
      firstThree(((s.endpoints ?? []) as { addresses: string[] }[]).flatMap((e) => e.addresses)) || "<unset>",
      age(s),
    ],
  },
  networkpolicies: {
    header: ["NAME", "POD-SELECTOR", "AGE"],
    row: (n) => [n.metadata.name!, selectorText(n.spec?.podSelector), age(n)],
  },
  ingresses: {
    header: ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
    row: (i) => [
      i.metadata.name!,
      none(i.spec?.ingressClassName),
      ((i.spec?.rules ?? []) as { host?: string }[]).map((r) => r.host || "*").join(",") || "*",
      ((i.status?.loadBalancer?.ingress ?? []) as { ip?: string; hostname?: string }[])
        .map((x) => x.ip ?? x.hostname)
        .join(","),
      i.spec?.tls?.length ? "80, 443" : "80",
      age(i),
    ],
  },
  leases: {
    header: ["NAME", "HOLDER", "AGE"],
    row: (l) => [l.metadata.name!, l.spec?.holderIdentity ?? "", age(l)],
  },
};

export function table(
  resource: ResourceName,
  objs: KubeObject[],
  opts: { wide: boolean; allNamespaces: boolean; headers: boolean },
): string {
  const cols = COLUMNS[resource] ?? {
    header: ["NAME", "AGE"],
    row: (o: KubeObject) => [o.metadata.name!, age(o)],
  };
  const namespaced = RESOURCES[resource].namespaced && opts.allNamespaces;
  const wide = opts.wide && cols.wideRow;
  const header = [...(namespaced ? ["NAMESPACE"] : []), ...cols.header, ...(wide ? cols.wideHeader! : [])];
  const rows = sortObjects(objs).map((o) => [
    ...(namespaced ? [o.metadata.namespace!] : []),
    ...cols.row(o),
    ...(wide ? cols.wideRow!(o) : []),
  ]);
  const text = formatColumns([header, ...rows]);
  return `${opts.headers ? text : text.split("\n").slice(1).join("\n")}\n`;
}

export function sortObjects(objs: KubeObject[]): KubeObject[] {
  const key = (o: KubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
  return [...objs].sort((a, b) => key(a).localeCompare(key(b)));
}

/** What kubectl's STATUS column says: a container's waiting reason beats the phase (ContainerCreating). */
function podStatus(p: KubeObject): string {
  if (p.metadata.deletionTimestamp) return "Terminating";
  const statuses = (p.status?.containerStatuses ?? []) as { state?: Record<string, { reason?: string }> }[];
  const waiting = statuses.map((c) => c.state?.waiting?.reason ?? c.state?.terminated?.reason).find(Boolean);
  if (waiting) return waiting;
  const phase = p.status?.phase ?? "Pending";
  // scheduled but no container status yet: the kubelet is still setting the sandbox (network) up
  if (phase === "Pending" && p.spec?.nodeName && statuses.length === 0) return "ContainerCreating";
  return phase;
}

function externalIp(s: KubeObject): string {
  const external = (s.spec?.externalIPs ?? []) as string[];
  switch (s.spec?.type) {
    case "LoadBalancer": {
      const lb = ((s.status?.loadBalancer?.ingress ?? []) as { ip?: string; hostname?: string }[]).map(
        (x) => x.ip ?? x.hostname!,
      );
      const all = [...lb, ...external];
      return all.length ? all.join(",") : "<pending>";
    }
    case "ExternalName":
      return s.spec.externalName ?? "<none>";
    default:
      return external.length ? external.join(",") : "<none>";
  }
}

function servicePorts(s: KubeObject): string {
  const ports = (s.spec?.ports ?? []) as { port: number; nodePort?: number; protocol?: string }[];
  return (
    ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`).join(",") ||
    "<none>"
  );
}

function nodeStatus(n: KubeObject): string {
  const ready = (n.status?.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
  const status = ready?.status === "True" ? "Ready" : ready ? "NotReady" : "Unknown";
  return n.spec?.unschedulable ? `${status},SchedulingDisabled` : status;
}

function nodeRoles(n: KubeObject): string {
  const prefix = "node-role.kubernetes.io/";
  const roles = Object.keys(n.metadata.labels ?? {})
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length));
  return roles.sort().join(",") || "<none>";
}

function nodeAddress(n: KubeObject, type: string): string | undefined {
  return ((n.status?.addresses ?? []) as { type: string; address: string }[]).find((a) => a.type === type)
    ?.address;
}

function templateColumns(o: KubeObject): string[] {
  const containers = (o.spec?.template?.spec?.containers ?? []) as { name: string; image?: string }[];
  return [
    containers.map((c) => c.name).join(","),
    containers.map((c) => c.image ?? "").join(","),
    selectorText(o.spec?.selector),
  ];
}

function endpointsText(e: KubeObject): string {
  const out: string[] = [];
  for (const subset of (e.subsets ?? []) as { addresses?: { ip: string }[]; ports?: { port: number }[] }[]) {
    for (const a of subset.addresses ?? []) {
      if (!subset.ports?.length) out.push(a.ip);
      for (const p of subset.ports ?? []) out.push(`${a.ip}:${p.port}`);
    }
  }
  return firstThree(out) || "<none>";
}

function firstThree(items: string[]): string {
  return items.length > 3 ? `${items.slice(0, 3).join(",")} + ${items.length - 3} more...` : items.join(",");
}

/** A LabelSelector as kubectl writes it: `app=web,tier in (a,b)`; the empty selector is `<none>`. */
function selectorText(
  sel:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }
    | undefined,
): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const op = e.operator.toLowerCase();
    if (op === "exists") parts.push(e.key);
    else if (op === "doesnotexist") parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${op === "notin" ? "notin" : "in"} (${(e.values ?? []).join(",")})`);
  }
  return parts.join(",") || "<none>";
}

function labelsText(labels: Record<string, string> | undefined, sep: string): string {
  return Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(sep);
}

/** kubectl's AGE: 45s, 3m12s, 2h5m, 4d… (k8s.io/apimachinery duration.HumanDuration). */
export function humanAge(ts: unknown, now = Date.now()): string {
  if (!ts) return "<unknown>";
  const s = Math.floor((now - new Date(ts as string).getTime()) / 1000);
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  if (h < 24 * 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (h < 24 * 365 * 8) return d % 365 ? `${y}y${d % 365}d` : `${y}y`;
  return `${y}y`;
}

// ---- describe ----------------------------------------------------------------------------------------------

/** `Key:  value` lines with the values aligned, continuation lines under the value; nested sections indent. */
function fields(
  rows: [string, string][],
  indent = "",
  width = Math.max(...rows.map(([k]) => k.length)) + 3,
): string[] {
  return rows.flatMap(([k, v]) => {
    const [first, ...more] = v.split("\n");
    return [
      `${indent}${`${k}:`.padEnd(width)}${first}`.trimEnd(),
      ...more.map((l) => `${indent}${" ".repeat(width)}${l}`),
    ];
  });
}

const multi = (items: string[]) => items.join("\n") || "<none>";
const labels = (o: KubeObject) => multi(Object.entries(o.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`));
const annotations = (o: KubeObject) =>
  multi(Object.entries(o.metadata.annotations ?? {}).map(([k, v]) => `${k}: ${v}`));

/** Dates as kubectl describe prints them (RFC 1123 with a numeric zone). */
function date(ts: unknown): string {
  return ts ? new Date(ts as string).toUTCString().replace("GMT", "+0000") : "<unset>";
}

export function describePod(p: KubeObject): string {
  const owner = (p.metadata.ownerReferences ?? []).find((r) => r.controller);
  const ips = ((p.status?.podIPs ?? []) as { ip: string }[]).map((x) => `  IP:  ${x.ip}`);
  type ContainerStatus = {
    name: string;
    ready?: boolean;
    restartCount?: number;
    state?: Record<string, { startedAt?: string; reason?: string }>;
  };
  const statuses = new Map(
    ((p.status?.containerStatuses ?? []) as ContainerStatus[]).map((c) => [c.name, c]),
  );
  const width = "Service Account:  ".length; // one column for the whole pod, as kubectl aligns it
  const lines = fields(
    [
      ["Name", p.metadata.name!],
      ["Namespace", p.metadata.namespace!],
      ["Priority", String(p.spec?.priority ?? 0)],
      ["Service Account", p.spec?.serviceAccountName ?? "default"],
      ["Node", p.spec?.nodeName ? `${p.spec.nodeName}/${p.status?.hostIP ?? ""}` : "<none>"],
      ["Start Time", date(p.status?.startTime)],
      ["Labels", labels(p)],
      ["Annotations", annotations(p)],
      ["Status", podStatus(p)],
      ["IP", p.status?.podIP ?? ""],
    ],
    "",
    width,
  );
  lines.push(ips.length ? "IPs:" : "IPs:  <none>", ...ips);
  if (owner) lines.push(...fields([["Controlled By", `${owner.kind}/${owner.name}`]], "", width));
  lines.push("Containers:");
  for (const c of (p.spec?.containers ?? []) as {
    name: string;
    image?: string;
    ports?: { containerPort: number; protocol?: string }[];
  }[]) {
    const st = statuses.get(c.name);
    const state = st?.state ? Object.keys(st.state)[0]! : "Waiting";
    const stateRows: [string, string][] = [["State", state[0]!.toUpperCase() + state.slice(1)]];
    const started = st?.state?.running?.startedAt;
    if (started) stateRows.push(["  Started", date(started)]);
    const reason = st?.state?.waiting?.reason;
    if (reason) stateRows.push(["  Reason", reason]);
    lines.push(`  ${c.name}:`);
    lines.push(
      ...fields(
        [
          ["Image", c.image ?? ""],
          [
            "Port",
            (c.ports ?? []).map((x) => `${x.containerPort}/${x.protocol ?? "TCP"}`).join(", ") || "<none>",
          ],
          ...stateRows,
          ["Ready", st?.ready ? "True" : "False"],
          ["Restart Count", String(st?.restartCount ?? 0)],
        ],
        "    ",
      ),
    );
  }
  const conditions = (p.status?.conditions ?? []) as { type: string; status: string; message?: string }[];
  lines.push("Conditions:");
  if (conditions.length) {
    const rows = formatColumns([["Type", "Status"], ...conditions.map((c) => [c.type, c.status])]).split(
      "\n",
    );
    lines.push(...rows.map((r) => `  ${r}`));
  } else lines.push("  <none>");
  // the emulated kubelet writes why the network setup failed here; kubectl would show it as an event
  const failing = conditions.filter((c) => c.status !== "True" && c.message);
  lines.push(
    ...fields(
      [["Events", failing.length ? failing.map((c) => `${c.type}: ${c.message}`).join("\n") : "<none>"]],
      "",
      width,
    ),
  );
  return `${lines.join("\n")}\n`;
}

export function describeService(s: KubeObject, endpoints?: KubeObject): string {
  const ports = (s.spec?.ports ?? []) as {
    name?: string;
    port: number;
    targetPort?: number | string;
    nodePort?: number;
    protocol?: string;
  }[];
  const addrs = (endpoints?.subsets ?? []) as {
    addresses?: { ip: string }[];
    ports?: { port: number; name?: string }[];
  }[];
  const rows: [string, string][] = [
    ["Name", s.metadata.name!],
    ["Namespace", s.metadata.namespace!],
    ["Labels", labels(s)],
    ["Annotations", annotations(s)],
    ["Selector", labelsText(s.spec?.selector, ",") || "<none>"],
    ["Type", s.spec?.type ?? "ClusterIP"],
    ["IP Family Policy", s.spec?.ipFamilyPolicy ?? "SingleStack"],
    ["IP Families", (s.spec?.ipFamilies ?? ["IPv4"]).join(",")],
    ["IP", s.spec?.clusterIP ?? "<none>"],
    ["IPs", (s.spec?.clusterIPs ?? [s.spec?.clusterIP].filter(Boolean)).join(",") || "<none>"],
  ];
  if (s.spec?.externalIPs?.length) rows.push(["External IPs", s.spec.externalIPs.join(",")]);
  for (const p of ports) {
    const proto = p.protocol ?? "TCP";
    rows.push(["Port", `${p.name || "<unset>"}  ${p.port}/${proto}`]);
    rows.push(["TargetPort", `${p.targetPort ?? p.port}/${proto}`]);
    if (p.nodePort) rows.push(["NodePort", `${p.name || "<unset>"}  ${p.nodePort}/${proto}`]);
    const eps = addrs.flatMap((sub) =>
      (sub.addresses ?? []).flatMap((a) =>
        (sub.ports ?? [])
          .filter((x) => ports.length === 1 || x.name === p.name)
          .map((x) => `${a.ip}:${x.port}`),
      ),
    );
    rows.push(["Endpoints", eps.join(",")]);
  }
  rows.push(["Session Affinity", s.spec?.sessionAffinity ?? "None"], ["Events", "<none>"]);
  return `${fields(rows).join("\n")}\n`;
}

export function describeNode(n: KubeObject, pods: KubeObject[]): string {
  const lines = fields([
    ["Name", n.metadata.name!],
    ["Roles", nodeRoles(n)],
    ["Labels", labels(n)],
    ["Annotations", annotations(n)],
    ["CreationTimestamp", date(n.metadata.creationTimestamp)],
    ["Unschedulable", String(!!n.spec?.unschedulable)],
  ]);
  const conditions = (n.status?.conditions ?? []) as Record<string, string>[];
  lines.push("Conditions:");
  const condRows = conditions.map((c) => [
    c.type!,
    c.status!,
    date(c.lastHeartbeatTime),
    date(c.lastTransitionTime),
    c.reason ?? "",
    c.message ?? "",
  ]);
  lines.push(
    ...formatColumns([
      ["Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message"],
      ...condRows,
    ])
      .split("\n")
      .map((l) => `  ${l}`),
  );
  lines.push(
    "Addresses:",
    ...fields(
      ((n.status?.addresses ?? []) as { type: string; address: string }[]).map((a) => [a.type, a.address]),
      "  ",
    ),
  );
  for (const [title, res] of [
    ["Capacity", n.status?.capacity],
    ["Allocatable", n.status?.allocatable],
  ] as const) {
    if (res) lines.push(`${title}:`, ...fields(Object.entries(res as Record<string, string>), "  "));
  }
  const info = (n.status?.nodeInfo ?? {}) as Record<string, string>;
  lines.push(
    "System Info:",
    ...fields(
      Object.entries(info).map(([k, v]) => [k[0]!.toUpperCase() + k.slice(1).replace(/([A-Z])/g, " $1"), v]),
      "  ",
    ),
  );
  const mine = sortObjects(pods.filter((p) => p.spec?.nodeName === n.metadata.name));
  lines.push(`Non-terminated Pods:          (${mine.length} in total)`);
  if (mine.length) {
    const rows = formatColumns([
      ["Namespace", "Name", "IP", "Age"],
      ...mine.map((p) => [p.metadata.namespace!, p.metadata.name!, p.status?.podIP ?? "", age(p)]),
    ]);
    lines.push(...rows.split("\n").map((l) => `  ${l}`));
  }
  lines.push("Events:  <none>");
  return `${lines.join("\n")}\n`;
}

/** Kinds without a describer of their own: the header, then spec and status as YAML. */
export function describeGeneric(resource: ResourceName, o: KubeObject): string {
  const r = RESOURCES[resource];
  const rows: [string, string][] = [["Name", o.metadata.name!]];
  if (o.metadata.namespace) rows.push(["Namespace", o.metadata.namespace]);
  rows.push(
    ["Labels", labels(o)],
    ["Annotations", annotations(o)],
    ["API Version", r.group ? `${r.group}/${r.version}` : r.version],
    ["Kind", r.kind],
  );
  const lines = fields(rows);
  for (const [title, body] of Object.entries(o)) {
    if (["apiVersion", "kind", "metadata"].includes(title) || body === undefined) continue;
    lines.push(
      `${title[0]!.toUpperCase()}${title.slice(1)}:`,
      ...stringify(body)
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
    );
  }
  lines.push("Events:  <none>");
  return `${lines.join("\n")}\n`;
}
