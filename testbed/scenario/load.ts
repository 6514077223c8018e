/**
 * Loads a scenario file: YAML → JSON Schema validation → normalised `Scenario`, with every problem reported
 * as `file:line: what is wrong`. Manifests inside a step (inline text or `{file}`) are parsed here too, so a
 * broken manifest is caught before anything runs.
 *
 * Example: `const s = loadScenario("scenarios/section-9.yaml")` → `s.steps[3].line === 41`.
 */
import { formatProtoPorts, parseProtoPorts, type ProtoPorts } from "../../fake-vrouter/datapath/port-space";
import { ControllerOptionError, controllerConfigOf } from "./controller";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import ipaddr from "ipaddr.js";
import { isMap, isSeq, LineCounter, type Node, parseAllDocuments, parseDocument } from "yaml";
import { plainYamlDocuments } from "./manifest-yaml";
import type { KubeObject } from "../../controller/kube/api";
import schema from "../../scenarios/scenario.schema.json" with { type: "json" };
import { isTool, TOOLS } from "../../fake-vrouter/tools/index";
import { parseTruthTable } from "./matrix";
import { parseOwnerRef, parseVncOps, refType } from "./vnc";
import {
  type ExternalHostSpec,
  type GatewaySpec,
  type ObjectKey,
  type ObjectLine,
  type PodExpectation,
  type Proto,
  type ReachProbe,
  type Scenario,
  ScenarioError,
  type Step,
  type StepBody,
  type Actor,
  type ScenarioAuth,
} from "./types";
import { parseIdentity } from "../../fake-contrail-api/auth/identity";

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validate = ajv.compile(schema);

const ACTIONS = [
  "apply",
  "delete",
  "patch",
  "label",
  "annotate",
  "vnc",
  "wait",
  "readiness",
  "health",
  "reach",
  "vrouter",
  "matrix",
  "contrail",
  "pods",
  "show",
  "get",
];

/** Steps that send requests a user could be refused: the ones `as:` and `expect:` go with. */
const ACTING = new Set(["apply", "delete", "patch", "label", "annotate", "vnc", "get"]);

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ScenarioError(file, 0, `cannot read the file: ${(e as Error).message}`);
  }
  return parseScenario(text, file);
}

export function parseScenario(text: string, file: string): Scenario {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineOf = (offset: number | undefined) => (offset === undefined ? 1 : lines.linePos(offset).line);
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    throw new ScenarioError(file, lineOf(err.pos[0]), `invalid YAML: ${err.message.split("\n")[0]}`);
  }
  const data = doc.toJS() as unknown;
  const nodeLine = (path: (string | number)[]) => lineOf(nodeAt(doc.contents as Node, path)?.range?.[0]);

  if (!validate(data)) {
    const err = mostSpecific(validate.errors ?? []);
    const path = pointerToPath(err.instancePath);
    // an unknown key is pointed at on its own line, not its parent's
    const at =
      err.keyword === "additionalProperties" ? [...path, String(err.params.additionalProperty)] : path;
    throw new ScenarioError(file, nodeLine(at), describeSchemaError(err, path));
  }
  const raw = data as Record<string, any>;
  let nested = false;
  try {
    nested = controllerConfigOf(raw.controller ?? {}).nestedMode;
  } catch (e) {
    if (!(e instanceof ControllerOptionError)) throw e;
    throw new ScenarioError(file, nodeLine(["controller", e.key]), e.message);
  }
  // the controller builds nested mode's objects, but no emulated datapath carries VLAN sub-interfaces
  if (nested)
    (raw.steps as Record<string, unknown>[]).forEach((s, i) => {
      const traffic = ["reach", "matrix"].find((a) => a in s);
      if (traffic)
        throw new ScenarioError(
          file,
          nodeLine(["steps", i]),
          `${traffic}: nested mode (controller.nestedMode) is not carried by the emulated datapath (a pod's interface is a VLAN sub-interface of its VM's); check its objects with contrail expectations`,
        );
    });
  const base = dirname(resolve(file));
  const { gateway, externalHosts } = outsideTheCluster(raw, file, nodeLine);
  const externalNames = new Set(externalHosts.map((h) => h.name));
  /** Pods and workloads applied so far: "<ns>/<name>" → whether a container declares a readiness probe. */
  const declared: Declared = new Map();
  const auth = authOf(raw, file, nodeLine);
  const steps: Step[] = (raw.steps as Record<string, any>[]).map((s, index) => {
    const line = nodeLine(["steps", index]);
    const fail = (problem: string, sub: (string | number)[] = []): never => {
      throw new ScenarioError(file, sub.length ? nodeLine(["steps", index, ...sub]) : line, problem);
    };
    const actions = Object.keys(s).filter((k) => k !== "title" && k !== "as" && k !== "expect");
    if (actions.length !== 1) {
      fail(
        actions.length === 0
          ? `step ${index + 1} has no action (one of ${ACTIONS.join(", ")})`
          : `step ${index + 1} has ${actions.length} actions (${actions.join(", ")}); put each in its own step`,
      );
    }
    const lineAt = (sub: (string | number)[]) => nodeLine(["steps", index, ...sub]);
    const body = normaliseStep(actions[0]!, s[actions[0]!], base, file, fail, lineAt, externalNames);
    if (body.kind === "apply") declareProbes(body.manifests, declared, lineAt(["apply"]), s.apply, file);
    if (body.kind === "readiness") checkReadinessTarget(body.pod, declared, fail);
    if (body.kind === "health") checkHealthTarget(body.pod, declared, fail);
    if (body.kind === "vrouter" && "name" in body.node) {
      const vrouters = [
        ...((raw.nodes ?? ["node-1", "node-2"]) as (string | { name: string })[]).map((n) =>
          typeof n === "string" ? n : n.name,
        ),
        ...(gateway ? [gateway.name] : []),
      ];
      if (!vrouters.includes(body.node.name))
        fail(`vrouter.node "${body.node.name}" is not a node of this scenario (${vrouters.join(", ")})`, [
          "vrouter",
          "node",
        ]);
    }
    const who = actorOf(s, body.kind, auth, fail);
    return { ...body, title: s.title, line, index, ...who } as Step;
  });

  return {
    file,
    name: raw.name,
    description: raw.description,
    controller: raw.controller ?? {},
    nodes: (raw.nodes ?? ["node-1", "node-2"]).map((n: string | { name: string; ip?: string }) =>
      typeof n === "string" ? { name: n } : n,
    ),
    fabricHosts: (raw.fabricHosts ?? []).map((h: { name: string; ip: string; listen?: any[] }) => ({
      name: h.name,
      ip: h.ip,
      listen: (h.listen ?? []).map((l) => ({ port: l.port, proto: (l.proto ?? "tcp") as Proto })),
    })),
    ...(gateway ? { gateway } : {}),
    externalHosts,
    captureDir: raw.capture ? resolve(base, raw.capture.dir) : undefined,
    ...(auth ? { auth } : {}),
    steps,
  };
}

/**
 * The gateway and the external hosts behind it. An external host's address must be outside the cluster: not in
 * a pod, service or ip-fabric subnet (the controller's, defaults included) nor on a node's fabric /24, and
 * unique; its name unique. External hosts imply a gateway with defaults.
 */
function outsideTheCluster(
  raw: Record<string, any>,
  file: string,
  nodeLine: (path: (string | number)[]) => number,
): { gateway?: GatewaySpec; externalHosts: ExternalHostSpec[] } {
  const hosts: any[] = raw.externalHosts ?? [];
  if (!raw.gateway && hosts.length === 0) return { externalHosts: [] };
  // the subnets the controller will use (its defaults included), read as the testbed configures it
  const cfg = controllerConfigOf(raw.controller ?? {});
  const inside: [string, string][] = [
    ...cfg.podSubnets.map((c): [string, string] => ["pod subnet", c]),
    ...cfg.serviceSubnets.map((c): [string, string] => ["service subnet", c]),
    ...cfg.ipFabricSubnets.map((c): [string, string] => ["ip-fabric subnet", c]),
  ];
  const nodes: { name: string; ip?: string }[] = (raw.nodes ?? []).map((n: any) =>
    typeof n === "string" ? { name: n } : n,
  );
  nodes.forEach((n, i) => {
    const ip = n.ip ?? `10.84.31.${11 + i}`;
    inside.push([`fabric of node ${n.name}`, `${ip.split(".").slice(0, 3).join(".")}.0/24`]);
  });
  const gw = raw.gateway ?? {};
  const gateway: GatewaySpec = {
    name: gw.name ?? "sdn-gw",
    ...(gw.ip ? { ip: gw.ip } : {}),
    importRouteTargets: gw.importRouteTargets ?? [],
  };
  if (nodes.some((n) => n.name === gateway.name))
    throw new ScenarioError(
      file,
      nodeLine(["gateway", "name"]),
      `gateway.name "${gateway.name}" is also a node's name`,
    );
  const seen = new Map<string, string>();
  const externalHosts = hosts.map((h, i): ExternalHostSpec => {
    const line = nodeLine(["externalHosts", i]);
    const fail = (field: string, problem: string): never => {
      throw new ScenarioError(file, nodeLine(["externalHosts", i, field]), problem);
    };
    if (seen.has(h.name)) fail("name", `externalHosts: two hosts named ${h.name}`);
    if ([...seen.values()].includes(h.ip)) fail("ip", `externalHosts: ${h.ip} is given to two hosts`);
    seen.set(h.name, h.ip);
    let addr: ipaddr.IPv4;
    try {
      addr = ipaddr.IPv4.parse(h.ip);
    } catch {
      return fail("ip", `externalHosts.${h.name}: ${h.ip} is not an IPv4 address`);
    }
    for (const [what, cidr] of inside) {
      if (addr.match(ipaddr.IPv4.parseCIDR(cidr)))
        fail(
          "ip",
          `external host ${h.name}: ${h.ip} is inside the ${what} ${cidr}; an external host is outside the cluster (give it an address the cluster does not use, e.g. 198.51.100.0/24)`,
        );
    }
    return {
      name: h.name,
      ip: h.ip,
      listen: (h.listen ?? []).map((l: any) => ({ port: l.port, proto: (l.proto ?? "tcp") as Proto })),
      line,
    };
  });
  return { gateway, externalHosts };
}

export type Fail = (problem: string, sub?: (string | number)[]) => never;

function normaliseStep(
  action: string,
  v: any,
  base: string,
  file: string,
  fail: Fail,
  lineAt: (sub: (string | number)[]) => number,
  externalNames: ReadonlySet<string>,
): StepBody {
  switch (action) {
    case "apply": {
      const { objects, lines } = loadManifests(v, base, file, fail, lineAt);
      return { kind: "apply", manifests: objects, objectLines: lines };
    }
    case "delete":
      return { kind: "delete", objects: (Array.isArray(v) ? v : [v]) as ObjectKey[] };
    case "patch":
      return { kind: "patch", target: objectKey(v), patch: v.patch, patchType: v.type ?? "merge" };
    case "label":
    case "annotate":
      return { kind: action, target: objectKey(v), set: v.set ?? {} };
    case "wait":
      return { kind: "wait", pods: (v.pods ?? {}) as PodExpectation };
    case "readiness":
      if (!POD_REF.test(v.pod))
        fail(`readiness.pod "${v.pod}" must be <namespace>/<pod> or <namespace>/<prefix>*`, [
          "readiness",
          "pod",
        ]);
      return { kind: "readiness", pod: v.pod, passing: v.probe === "pass" };
    case "health":
      if (!POD_REF.test(v.pod))
        fail(`health.pod "${v.pod}" must be <namespace>/<pod> or <namespace>/<prefix>*`, ["health", "pod"]);
      return { kind: "health", pod: v.pod, passing: v.check === "pass" };
    case "reach":
      return {
        kind: "reach",
        probes: (Array.isArray(v) ? v : [v]).map((p: any, i: number) => ({
          ...reachProbe(p, i, fail, externalNames),
          line: lineAt(Array.isArray(v) ? ["reach", i] : ["reach"]),
        })),
      };
    case "matrix": {
      const proto = (v.proto ?? "tcp") as Proto;
      if (proto !== "icmp" && v.port === undefined) fail(`matrix: proto ${proto} needs a port`, ["matrix"]);
      const base = { kind: "matrix" as const, proto, port: v.port, via: v.via ?? "pod" };
      if (v.expect === "kubernetes") return { ...base, pods: v.pods, divergences: v.divergences };
      if (v.pods || v.divergences)
        fail("matrix: pods and divergences go with expect: kubernetes", ["matrix"]);
      let table: ReturnType<typeof parseTruthTable>;
      try {
        table = parseTruthTable(v.expect);
      } catch (e) {
        return fail(`matrix: ${(e as Error).message}`, ["matrix", "expect"]);
      }
      for (const cell of [...table.targets, ...table.rows.map((r) => r.from)]) {
        const name = /^external:(.+)$/.exec(cell)?.[1];
        if (name !== undefined && !externalNames.has(name))
          fail(
            `matrix: no external host ${name} (externalHosts: ${[...externalNames].join(", ") || "none declared"})`,
            ["matrix", "expect"],
          );
      }
      return { ...base, table };
    }
    case "vnc":
      return { kind: "vnc", ops: parseVncOps(v, fail, lineAt) };
    case "contrail":
      return {
        kind: "contrail",
        expectations: v.map((c: any, i: number) => ({
          type: c.type,
          name: c.name,
          fqName: typeof c.fqName === "string" ? c.fqName.split(":") : c.fqName,
          of: c.of === undefined ? undefined : parseOwnerRef(c.of, (m) => fail(m, ["contrail", i, "of"])),
          exists: c.exists ?? true,
          count: c.count,
          fields: c.fields,
          refs:
            c.refs === undefined
              ? undefined
              : Object.fromEntries(
                  Object.entries(c.refs as Record<string, string | string[]>).map(([k, globs]) => [
                    refType(c.type, k, (m) => fail(m, ["contrail", i, "refs", k])),
                    typeof globs === "string" ? [globs] : globs,
                  ]),
                ),
        })),
      };
    case "pods":
      return { kind: "pods", expectations: v };
    case "show":
      return { kind: "show", show: v === "pods" ? { pods: {} } : v };
    case "vrouter":
      return vrouterStep(v, fail, lineAt);
    case "get":
      return {
        kind: "get",
        target: { kind: v.kind, apiVersion: v.apiVersion, namespace: v.namespace, name: v.name },
      };
    default:
      return fail(`unknown action ${action}`);
  }
}

/** A `vrouter` step: which node, the tool's command line (split as a shell would), the rows to look for. */
function vrouterStep(
  v: { node?: string; nodeOf?: string; run: string; expect: Record<string, string | string[]>[] },
  fail: Fail,
  lineAt: (sub: (string | number)[]) => number,
): StepBody {
  if ((v.node === undefined) === (v.nodeOf === undefined))
    fail("vrouter: give node (a node's name) or nodeOf (<namespace>/<pod>), one of them");
  if (v.nodeOf !== undefined && !POD_REF.test(v.nodeOf))
    fail(`vrouter.nodeOf "${v.nodeOf}" must be <namespace>/<pod> or <namespace>/<prefix>*`, [
      "vrouter",
      "nodeOf",
    ]);
  const argv = shellWords(v.run);
  if (typeof argv === "string") return fail(`vrouter.run: ${argv}`, ["vrouter", "run"]);
  if (argv.length === 0) return fail("vrouter.run names no tool", ["vrouter", "run"]);
  if (!isTool(argv[0]!))
    fail(`vrouter.run: "${argv[0]}" is not a vrouter tool (${Object.keys(TOOLS).join(", ")})`, [
      "vrouter",
      "run",
    ]);
  const texts = (t: string | string[]) => (Array.isArray(t) ? t : [t]);
  return {
    kind: "vrouter",
    node: v.node !== undefined ? { name: v.node } : { podOf: v.nodeOf! },
    argv,
    expect: v.expect.map((e, i) => ({
      present: "row" in e,
      texts: texts(e.row ?? e.noRow!),
      line: lineAt(["vrouter", "expect", i]),
    })),
  };
}

/** A command line split into words as sh does with quotes ('…', "…" with \ escapes); a problem as text. */
export function shellWords(text: string): string[] | string {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return "unmatched ' (quote)";
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let part = "";
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && j + 1 < text.length) j++;
        part += text[j];
      }
      if (j >= text.length) return 'unmatched " (quote)';
      word = (word ?? "") + part;
      i = j;
    } else if (c === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else word = (word ?? "") + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The `auth:` block: aaa_mode and the keystone users, checked as an identity file is (at their lines). */
function authOf(
  raw: Record<string, any>,
  file: string,
  nodeLine: (path: (string | number)[]) => number,
): ScenarioAuth | undefined {
  if (!raw.auth) return undefined;
  const identity = parseIdentity({ users: raw.auth.users }, (problem, path) => {
    throw new ScenarioError(file, nodeLine(["auth", ...path]), `auth: ${problem}`);
  });
  const aaaMode = raw.auth.aaaMode ?? "rbac";
  if (
    aaaMode !== "no-auth" &&
    ![...identity.users.values()].some((u) => [...u.roles.values()].some((r) => r.includes("admin")))
  )
    throw new ScenarioError(
      file,
      nodeLine(["auth", "users"]),
      "auth.users: no user holds the admin role on any project; the testbed's own components (controller, config daemons, agents) act as that user (upstream's admin_user)",
    );
  return { aaaMode, identity };
}

/** A step's `as:` and `expect:`, checked against the steps they go with and the scenario's users. */
function actorOf(
  s: Record<string, any>,
  kind: string,
  auth: ScenarioAuth | undefined,
  fail: Fail,
): { as?: Actor; outcome?: "allowed" | "forbidden" } {
  const out: { as?: Actor; outcome?: "allowed" | "forbidden" } = {};
  if (s.expect !== undefined) {
    if (!ACTING.has(kind)) fail(`expect: goes with ${[...ACTING].join(", ")} steps, not ${kind}`, ["expect"]);
    out.outcome = s.expect;
  }
  if (s.as === undefined) return out;
  if (!ACTING.has(kind)) fail(`as: goes with ${[...ACTING].join(", ")} steps, not ${kind}`, ["as"]);
  const actor: Actor = typeof s.as === "string" ? { user: s.as } : { user: s.as.user, project: s.as.project };
  if (!auth)
    fail(
      `as: ${actor.user}: the scenario has no auth: block with users to act as (auth: {aaaMode: rbac, users: {...}})`,
      ["as"],
    );
  if (!auth!.identity.users.has(actor.user))
    fail(
      `as: no user "${actor.user}" in auth.users (users: ${[...auth!.identity.users.keys()].join(", ")})`,
      ["as"],
    );
  out.as = actor;
  return out;
}

function objectKey(v: any): ObjectKey {
  return { kind: v.kind, apiVersion: v.apiVersion, name: v.name, namespace: v.namespace };
}

/** "<namespace>/<pod>", or "<namespace>/<prefix>*" for pods with generated names (Deployments). */
const POD_REF = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9][-.a-z0-9]*\*?$/;
/** A pod's interface on a secondary network: "<namespace>/<pod>@<network>" or "…@<namespace>/<network>". */
const ATTACHMENT_REF =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9][-.a-z0-9]*\*?@([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9][-.a-z0-9]*$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function reachProbe(p: any, i: number, fail: Fail, externalNames: ReadonlySet<string>): ReachProbe {
  const at = ["reach", i];
  const fromOk = POD_REF.test(p.from) || ATTACHMENT_REF.test(p.from) || /^(host|external):.+/.test(p.from);
  if (!fromOk)
    fail(
      `reach.from "${p.from}" must be <namespace>/<pod>, <namespace>/<pod>@<network>, host:<fabric host> or external:<external host>`,
      [...at, "from"],
    );
  const to: string = p.to;
  const toOk =
    POD_REF.test(to) ||
    ATTACHMENT_REF.test(to) ||
    IPV4.test(to) ||
    /^(service|svc|lb|ingress):[^/]+\/.+$/.test(to) ||
    /^(host|external):.+/.test(to) ||
    /^dns:[a-z0-9_]([-a-z0-9_.]*[a-z0-9])?\.?$/i.test(to);
  if (!toOk)
    fail(
      `reach.to "${to}" must be <namespace>/<pod>, <namespace>/<pod>@<network>, service:<namespace>/<name>, lb:<namespace>/<name>, ingress:<namespace>/<name>, host:<name>, external:<name>, dns:<name> or an IPv4 address`,
      [...at, "to"],
    );
  for (const [field, ref] of [
    ["from", p.from],
    ["to", to],
  ] as const) {
    const name = /^external:(.+)$/.exec(ref)?.[1];
    if (name !== undefined && !externalNames.has(name))
      fail(
        `reach.${field} "${ref}": no external host ${name} (externalHosts: ${[...externalNames].join(", ") || "none declared"})`,
        [...at, field],
      );
  }
  if (p.allows !== undefined) {
    // the all-packets form: the set is the expectation, no single probe
    for (const f of ["proto", "port", "count", "expect", "spread", "droppedBy", "host", "path", "backend"])
      if (p[f] !== undefined)
        fail(`reach: allows is the whole expectation; ${f} does not go with it`, [...at, f]);
    if (typeof p.allows !== "string")
      fail('reach: allows must be text like "tcp 80,443; udp 53; icmp" (or "nothing")', [...at, "allows"]);
    let allows: ProtoPorts;
    try {
      allows = parseProtoPorts(p.allows);
    } catch (e) {
      return fail(`reach: allows "${p.allows}": ${(e as Error).message}`, [...at, "allows"]);
    }
    return {
      from: p.from,
      to: to.replace(/^svc:/, "service:"),
      proto: "icmp",
      count: 1,
      // nothing through is a deny (a name that does not resolve passes it)
      expect: formatProtoPorts(allows) === "nothing" ? "deny" : "allow",
      allows,
    };
  }
  if (p.expect !== "allow" && p.expect !== "deny")
    fail('reach: needs expect: allow or deny (or allows: "<protocols and ports>")', at);
  const proto = (p.proto ?? "icmp") as Proto | "http";
  if (proto === "http") {
    if (p.spread !== undefined) fail("reach: proto http takes no spread", [...at, "spread"]);
    if (p.path !== undefined && !String(p.path).startsWith("/"))
      fail(`reach: path "${p.path}" must start with /`, [...at, "path"]);
  } else
    for (const f of ["host", "path", "backend"])
      if (p[f] !== undefined) fail(`reach: ${f} goes with proto: http`, [...at, f]);
  if (p.backend !== undefined && p.expect !== "allow")
    fail("reach: backend goes with expect: allow", [...at, "backend"]);
  if (proto === "http") {
    if (p.droppedBy !== undefined && p.expect !== "deny")
      fail("reach: droppedBy goes with expect: deny", [...at, "droppedBy"]);
    return {
      from: p.from,
      to,
      proto,
      port: p.port ?? 80,
      count: 1,
      expect: p.expect,
      path: p.path ?? "/",
      ...(p.host !== undefined ? { host: p.host } : {}),
      ...(p.backend !== undefined ? { backend: p.backend } : {}),
      ...(p.droppedBy !== undefined ? { droppedBy: p.droppedBy } : {}),
    };
  }
  if (proto !== "icmp" && p.port === undefined) fail(`reach: proto ${proto} needs a port`, at);
  if (proto === "icmp" && p.port !== undefined) fail("reach: icmp takes no port", [...at, "port"]);
  if (p.droppedBy !== undefined && p.expect !== "deny")
    fail("reach: droppedBy goes with expect: deny", [...at, "droppedBy"]);
  return {
    from: p.from,
    to: to.replace(/^svc:/, "service:"),
    proto,
    port: p.port,
    count: p.count ?? (proto === "icmp" ? 2 : 1),
    expect: p.expect,
    spread: p.spread,
    ...(p.droppedBy !== undefined ? { droppedBy: p.droppedBy } : {}),
  };
}

/**
 * The step's manifests, and where each object is written: its line in the scenario (inline text or a list), or
 * in the manifests file it names (`file` set) — what a warning about the object points at.
 */
function loadManifests(
  v: any,
  base: string,
  file: string,
  fail: Fail,
  lineAt: (sub: (string | number)[]) => number,
): { objects: KubeObject[]; lines: ObjectLine[] } {
  let objs: unknown[];
  const at: { line: number; file?: string }[] = [];
  if (typeof v === "string" || (v && typeof v.file === "string" && Object.keys(v).length === 1)) {
    const source = typeof v === "string" ? file : resolve(base, v.file);
    let text = v as string;
    if (typeof v !== "string") {
      try {
        text = readFileSync(source, "utf8");
      } catch (e) {
        fail(`apply: cannot read ${v.file}: ${(e as Error).message}`, ["apply"]);
      }
    }
    objs = [];
    const plain = plainYamlDocuments(text);
    if (plain) {
      // inline text starts on the line after `apply: |`
      for (const { value, line } of plain) {
        const where = typeof v === "string" ? { line: lineAt(["apply"]) + line } : { line, file: v.file };
        const o = value as { kind?: unknown; items?: unknown };
        for (const item of o.kind === "List" && Array.isArray(o.items) ? o.items : [o]) {
          objs.push(item);
          at.push(where);
        }
      }
    }
    const lc = new LineCounter();
    const docs = plain ? [] : parseAllDocuments(text, { lineCounter: lc });
    if (!Array.isArray(docs)) return fail("apply: not YAML documents", ["apply"]);
    for (const d of docs) {
      if (d.errors.length > 0) {
        const where = typeof v === "string" ? "" : ` (${v.file}:${lc.linePos(d.errors[0]!.pos[0]).line})`;
        fail(`apply: invalid manifest YAML${where}: ${d.errors[0]!.message.split("\n")[0]}`, ["apply"]);
      }
      const o = d.toJS();
      if (o === null || o === undefined) continue;
      const items = o.kind === "List" && Array.isArray(o.items) ? o.items : [o];
      // the document's first key; inline text starts on the line after `apply: |`
      const rel = lc.linePos((d.contents as { range?: number[] } | null)?.range?.[0] ?? 0).line;
      const where = typeof v === "string" ? { line: lineAt(["apply"]) + rel } : { line: rel, file: v.file };
      for (const item of items) {
        objs.push(item);
        at.push(where);
      }
    }
  } else {
    objs = Array.isArray(v) ? v : [v];
    for (const i of objs.keys())
      at.push({ line: Array.isArray(v) ? lineAt(["apply", i]) : lineAt(["apply"]) });
  }
  objs.forEach((o: any, i) => {
    if (!o || typeof o !== "object" || !o.apiVersion || !o.kind || !o.metadata?.name) {
      fail(`apply: manifest ${i + 1} needs apiVersion, kind and metadata.name`, ["apply"]);
    }
  });
  const objects = objs as KubeObject[];
  const lines = objects.map((o, i) => ({
    kind: o.kind,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
    name: o.metadata.name!,
    ...at[i]!,
  }));
  return { objects, lines };
}

type Declared = Map<string, { kind: string; probe: boolean }>;

const WORKLOADS = new Set([
  "Deployment",
  "ReplicaSet",
  "ReplicationController",
  "StatefulSet",
  "DaemonSet",
  "Job",
]);
const PROBE_HANDLERS = ["exec", "httpGet", "tcpSocket", "grpc"] as const;

/**
 * Every readiness probe applied must be able to both fail and pass on the testbed: exactly one handler, and a
 * tcpSocket/httpGet/grpc port the container declares (the testbed's pods listen on their declared ports only,
 * so another port could never pass). A bad one is refused at its line (`manifest.yaml:12` for a file).
 */
function declareProbes(
  manifests: KubeObject[],
  declared: Declared,
  applyLine: number,
  // biome-ignore lint/suspicious/noExplicitAny: the step's apply value as written
  written: any,
  file: string,
): void {
  const text: string | undefined =
    typeof written === "string"
      ? written
      : typeof written?.file === "string"
        ? (() => {
            try {
              return readFileSync(resolve(dirname(resolve(file)), written.file), "utf8");
            } catch {
              return undefined;
            }
          })()
        : undefined;
  // where the n-th "readinessProbe:" of the text is: inline text starts on the line after `apply: |`
  let seen = 0;
  const probeAt = (): { file: string; line: number } => {
    const lines = (text ?? "").split("\n");
    let n = 0;
    for (let i = 0; i < lines.length; i++)
      if (/^\s*readinessProbe:/.test(lines[i]!) && n++ === seen)
        return typeof written === "string"
          ? { file, line: applyLine + 1 + i }
          : { file: resolve(dirname(resolve(file)), written.file), line: i + 1 };
    return { file, line: applyLine };
  };
  for (const m of manifests) {
    // biome-ignore lint/suspicious/noExplicitAny: manifests as written
    const spec: any =
      m.kind === "Pod" ? m.spec : WORKLOADS.has(m.kind) ? (m.spec as any)?.template?.spec : undefined;
    if (!spec) continue;
    let probe = false;
    for (const c of spec.containers ?? []) {
      const p = c.readinessProbe;
      if (p === undefined) continue;
      probe = true;
      const at = probeAt();
      seen++;
      const refuse = (problem: string): never => {
        throw new ScenarioError(at.file, at.line, problem);
      };
      const what = `${m.kind} ${m.metadata?.namespace ?? "default"}/${m.metadata?.name} container ${c.name}: readinessProbe`;
      const handlers = PROBE_HANDLERS.filter((h) => p?.[h] !== undefined);
      if (handlers.length !== 1)
        refuse(
          `${what} ${handlers.length ? `has ${handlers.length} handlers (${handlers.join(", ")})` : "has no handler"}: it needs exactly one of exec, httpGet, tcpSocket, grpc, or it can neither fail nor pass`,
        );
      const port = p[handlers[0]!]?.port;
      if (handlers[0] !== "exec") {
        // biome-ignore lint/suspicious/noExplicitAny: container ports as written
        const ports: any[] = c.ports ?? [];
        const known = ports.some(
          (cp) => cp.containerPort === port || (cp.name !== undefined && cp.name === port),
        );
        if (port === undefined || !known)
          refuse(
            `${what}: ${handlers[0]} port ${port ?? "(none)"} is not one of the container's ports (${ports.map((cp) => cp.name ?? cp.containerPort).join(", ") || "none declared"}); nothing listens there, so it could never pass`,
          );
      }
    }
    declared.set(`${m.metadata?.namespace ?? "default"}/${m.metadata?.name}`, { kind: m.kind, probe });
  }
}

/** The pod or workload of this file a step's pod reference names. */
function declaredMatch(ref: string, declared: Declared) {
  const glob = ref.endsWith("*");
  const stem = glob ? ref.slice(0, -1) : ref;
  return [...declared].find(([k, d]) =>
    d.kind === "Pod"
      ? glob
        ? k.startsWith(stem)
        : k === ref
      : stem.startsWith(`${k}-`) || (glob && `${k}-`.startsWith(stem)),
  );
}

/**
 * A health step names a pod (or a workload's pods) of this file; whether a service-health-check refers to its
 * interface is known only once it runs (an operator's monitor comes from a vnc step), so the step checks it then.
 */
function checkHealthTarget(ref: string, declared: Declared, fail: Fail): void {
  if (!declaredMatch(ref, declared))
    fail(`health: no pod or workload ${ref} is applied before this step in this file`, ["health", "pod"]);
}

/** A readiness step names a pod (or a workload's pods) of this file that has a readiness probe to fail. */
function checkReadinessTarget(ref: string, declared: Declared, fail: Fail): void {
  const match = declaredMatch(ref, declared);
  if (!match)
    fail(
      `readiness: no pod or workload ${ref} is applied before this step in this file, so nothing says it has a readiness probe`,
      ["readiness", "pod"],
    );
  if (!match![1].probe)
    fail(
      `readiness: ${match![1].kind} ${match![0]} declares no readinessProbe: kubelet counts it Ready whenever it runs, so its probe cannot fail`,
      ["readiness", "pod"],
    );
}

/** Walk the YAML AST along a JSON path to find the node (for its line). */
function nodeAt(root: Node | null, path: (string | number)[]): Node | undefined {
  let node: Node | null | undefined = root;
  let found: Node | undefined = root ?? undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (it.key as any)?.value === key || (it.key as any) === key);
      if (!pair) break;
      node = pair.value as Node;
      found = (pair.key as Node) ?? node;
    } else if (isSeq(node) && typeof key === "number") {
      node = node.items[key] as Node;
      found = node;
    } else break;
    if (!node) break;
  }
  return found;
}

function pointerToPath(pointer: string): (string | number)[] {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function mostSpecific(errors: ErrorObject[]): ErrorObject {
  // oneOf failures report every branch; the deepest path is the most useful line to point at
  return [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0]!;
}

function describeSchemaError(err: ErrorObject, path: (string | number)[]): string {
  const where = path.length ? path.join(".") : "scenario";
  const p = err.params as Record<string, any>;
  switch (err.keyword) {
    case "additionalProperties":
      return `${where}: unknown field "${p.additionalProperty}"`;
    case "required":
      return `${where}: missing required field "${p.missingProperty}"`;
    case "enum":
      return `${where}: must be one of ${(p.allowedValues as unknown[]).join(", ")}`;
    case "type":
      return `${where}: must be ${p.type}`;
    case "pattern":
      if (path.at(-1) === "of" && path.includes("contrail")) {
        return `${where}: "${valueText(err.data)}" must be pod <namespace>/<name>, service <namespace>/<name>, namespace <name> or node <name>`;
      }
      return `${where}: "${valueText(err.data)}" is not in the expected format`;
    case "oneOf":
      return `${where}: does not match any accepted form (see docs/scenarios.md)`;
    case "minProperties":
    case "maxProperties":
      if (path.includes("vnc")) return `${where}: each entry is exactly one of create, update or delete`;
      return `${where}: ${err.message}`;
    default:
      return `${where}: ${err.message}`;
  }
}

function valueText(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}
