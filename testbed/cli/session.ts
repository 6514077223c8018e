/**
 * The persistent environment behind `ctb up` / `ctb down` and the inspection verbs. `ctb up` starts a
 * detached `ctb __serve` process (the embedded cluster and simulated datapath live in-process there), which
 * runs the scenario, then serves a small control API on 127.0.0.1; its address and pid go to
 * `.ctb/session.json` (mode 0600) with the session's token, which every request to the control API must carry
 * (another local user or a web page cannot shut it down or start captures). `get`, `describe`, `exec` and `trace`
 * ask it; `down` stops it — also while it is still starting, found by the pid `up` records at once — and removes
 * what its own runs recorded (namespaces, processes, CNI state).
 *
 * Example: `ctb up scenarios/section-9.yaml && ctb get pods -A -o wide && ctb down`.
 */
import { vncEndpoint } from "../../fake-contrail-api/auth/client";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { processStartTime } from "../../fake-vrouter/netns/pidfiles";
import { type KubeObject, KubeApiError, RESOURCES, type ResourceName } from "../../controller/kube/api";
import type { DnsResult, ProbeProto, ProbeResult } from "../runner/testbed";
import { formatReachSet, type ReachSet } from "../runner/reach-set";
import { copiesNote, formatWhy, WhyEndpointError, type WhyResult } from "../runner/why";
import { type ConnectivityFormat, type ConnectivityMap, formatConnectivity } from "../runner/connectivity";
import { formatProtoPorts } from "../../fake-vrouter/datapath/port-space";
import { type ReachProbe, type Scenario, ScenarioError, type Step } from "../scenario/types";
import { stringify } from "yaml";
import { CommandError, envFlags, parseListen, parseVerbArgs, UsageError, withOverrides } from "./flags";
import { interrupted, onTeardown, stop } from "./lifecycle";
import {
  describeGeneric,
  describeNode,
  describePod,
  describeService,
  kindNames,
  parseOutput,
  qualifiedName,
  resourceFor,
  serialize,
  table,
} from "./printers";

export const WORK_DIR = resolve(process.env.CTB_WORKDIR ?? ".ctb");
const SESSION_FILE = `${WORK_DIR}/session.json`;

export interface SessionState {
  pid: number;
  /** Empty while the environment is still starting (no control API yet). */
  controlUrl: string;
  /** Bearer token of the control API. */
  token?: string;
  vncUrl: string;
  scenario: string;
  datapath: "sim" | "netns";
  cluster: string;
  ready: boolean;
  failed?: string;
  /** Expectations of the scenario that did not hold when it came up (`up` then exits 1, the environment stays). */
  failedChecks?: number;
  /** When the environment started (ISO), and its components' Prometheus endpoints. */
  started?: string;
  metrics?: Record<string, string>;
  /** Each vrouter's agent introspect (node → URL). */
  introspect?: Record<string, string>;
  /** The web view (web/): the environment's pages in a browser. */
  uiUrl?: string;
}

export function readSession(): SessionState | undefined {
  if (!existsSync(SESSION_FILE)) return undefined;
  try {
    return JSON.parse(readFileSync(SESSION_FILE, "utf8")) as SessionState;
  } catch {
    return undefined;
  }
}

export function requireSession(): SessionState {
  const s = readSession();
  if (!s?.ready)
    throw new UsageError("no environment is up here: run `ctb up <scenario.yaml>` first", { hint: false });
  return s;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The session file holds the control API's token: only the user who started the environment may read it. */
function writeSession(s: SessionState): void {
  writeFileSync(SESSION_FILE, JSON.stringify(s, null, 2), { mode: 0o600 });
  chmodSync(SESSION_FILE, 0o600);
}

function authHeaders(s: SessionState): Record<string, string> {
  return s.token ? { authorization: `Bearer ${s.token}` } : {};
}

export async function control<T>(s: SessionState, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${s.controlUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: {
      ...authHeaders(s),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((e) => {
    throw new CommandError(
      `the environment (pid ${s.pid}) does not answer at ${s.controlUrl}: ${(e as Error).message}; run \`ctb down\``,
    );
  });
  const text = await res.text();
  const json = res.headers.get("content-type")?.includes("json");
  if (!res.ok) {
    const status = json
      ? (JSON.parse(text) as { kind?: string; reason?: string; message?: string })
      : undefined;
    // as kubectl prints an API error, e.g. Error from server (NotFound): pods "x" not found
    if (status?.kind === "Status")
      throw new CommandError(`Error from server (${status.reason}): ${status.message}`, { bare: true });
    if (res.status === 400) throw new UsageError(text);
    throw new CommandError(text);
  }
  return (json ? JSON.parse(text) : text) as T;
}

// ---- up / serve / down -------------------------------------------------------------------------------------

export async function up(args: string[]): Promise<number> {
  const { positionals } = envFlags(args);
  if (positionals.length !== 1) throw new UsageError("up takes exactly one scenario file");
  const { loadScenario } = await import("../scenario/load");
  loadScenario(positionals[0]!); // fail fast on a broken file
  const { assertPrerequisites } = await import("../prereqs");
  await assertPrerequisites(envFlags(args).options); // and on a machine that lacks what the backends need
  const existing = readSession();
  if (existing && alive(existing.pid)) {
    throw new UsageError(
      `an environment is already up (pid ${existing.pid}, ${existing.scenario}); run \`ctb down\` first`,
    );
  }
  mkdirSync(WORK_DIR, { recursive: true });
  rmSync(SESSION_FILE, { force: true });
  const logFile = `${WORK_DIR}/serve.log`;
  const out = openSync(logFile, "w");
  const child = spawn(process.execPath, [resolve(import.meta.dirname, "../../bin/ctb"), "__serve", ...args], {
    detached: true,
    stdio: ["ignore", out, out],
    env: { ...process.env, CTB_WORKDIR: WORK_DIR, NO_COLOR: "1" },
  });
  closeSync(out);
  child.unref();
  // Recorded at once, so a `ctb down` during start-up finds (and stops) what is starting.
  writeSession({
    pid: child.pid!,
    controlUrl: "",
    vncUrl: "",
    scenario: positionals[0]!,
    datapath: "sim",
    cluster: "",
    ready: false,
  });
  // interrupted while it comes up: the half-started environment goes too (its own teardown, by its pid)
  const off = onTeardown(async () => {
    if (child.exitCode !== null || readSession()?.ready) return;
    child.kill("SIGTERM");
    for (let i = 0; i < 1200 && child.exitCode === null && alive(child.pid!); i++)
      await new Promise((r) => setTimeout(r, 100));
  }, "environment being started");
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    const s = readSession();
    if (s?.ready || s?.failed || interrupted.aborted) break;
    if (child.exitCode !== null || !alive(child.pid!)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (interrupted.aborted) return new Promise<never>(() => {}); // the teardown stops it and ends this process
  off();
  const s = readSession();
  process.stdout.write(readFileSync(logFile, "utf8"));
  if (!s?.ready) {
    if (s && s.pid === child.pid) rmSync(SESSION_FILE, { force: true });
    const stopped = child.signalCode === "SIGTERM" || child.exitCode === 143;
    process.stderr.write(
      `ctb: the environment did not come up${stopped ? " (stopped while starting, e.g. by `ctb down`)" : ""} (log: ${logFile})\n`,
    );
    return 1;
  }
  process.stdout.write(
    `\nEnvironment up (pid ${s.pid}). Web view: ${s.uiUrl ?? "(none)"}. Try: ctb get pods -A -o wide; ctb down to stop.\n`,
  );
  if (s.failedChecks) {
    // the environment stays up for a look, but a script must not take this for success
    process.stderr.write(`ctb: ${s.failedChecks} expectation(s) of ${s.scenario} did not hold (see above)\n`);
    return 1;
  }
  return 0;
}

export async function serve(args: string[]): Promise<number> {
  const { options, positionals, values } = envFlags(args);
  const { default: express } = await import("express");
  const { loadScenario, parseScenario } = await import("../scenario/load");
  const { startTestbed } = await import("../env");
  const { describeNamespace, resolveSource, resolveTarget, runScenario } = await import("../runner/run");
  const { summaryText, textReporter } = await import("../runner/report");
  const { reachSet } = await import("../runner/reach-set");
  const { netpolContext } = await import("../runner/matrix-check");
  const { connectivity } = await import("../runner/connectivity");
  const { why } = await import("../runner/why");
  const scenario = withOverrides(loadScenario(positionals[0]!), values);
  // what this environment starts is recorded under .ctb/runs/<id>/ as it starts it, for `ctb down` after a crash
  const { RunRecord } = await import("../run-record");
  const record = RunRecord.create(WORK_DIR, {
    kind: "up",
    scenario: scenario.file,
    datapath: options.datapath,
    cluster: options.cluster.kind,
  });
  const starting = startTestbed(scenario, {
    ...options,
    workDir: WORK_DIR,
    stateDir: record.dir,
    signal: interrupted,
    log: (m) => process.stdout.write(`${m}\n`),
  });
  const captures = new Map<string, import("../capture").CaptureHandle>();
  // `ctb down` (POST /shutdown or SIGTERM) and any signal end here: captures, testbed, session file, record
  onTeardown(async () => {
    for (const c of captures.values()) await c.stop().catch(() => 0);
    const tb = await starting.catch(() => undefined);
    await tb?.close();
    rmSync(SESSION_FILE, { force: true });
    record.remove();
  }, "environment");
  const tb = await starting.catch((e) => {
    if (interrupted.aborted) return new Promise<never>(() => {}); // the teardown ends the process
    throw e;
  });
  record.update({ metrics: tb.metrics, introspect: tb.introspect });

  // the web view serves from now on, so its pages follow the scenario as it runs (its report once it ends)
  let lastReport: import("../runner/run").RunReport | undefined;
  const listen = values["ui-listen"] ? parseListen(String(values["ui-listen"])) : undefined;
  const web = await (await import("../../web/server/server"))
    .startWebServer({
      tb,
      scenario: { file: scenario.file, name: scenario.name, model: scenario.controller.model ?? "r5" },
      netpol: {
        layout: scenario.controller.netpolLayout ?? "upstream",
        clusterName: scenario.controller.clusterName ?? "k8s",
        ...(scenario.controller.apsName ? { apsName: scenario.controller.apsName } : {}),
      },
      report: () => lastReport,
      lastRunFile: `${WORK_DIR}/last-run.json`,
      ...(listen ?? {}),
    })
    .catch(async (e: Error) => {
      // up but not servable as asked (--ui-listen on a port in use): say why (`up` prints this log) and stop
      process.stdout.write(`ctb: ${e.message}\n`);
      writeSession({ ...(readSession() ?? ({} as SessionState)), failed: e.message });
      await stop("SIGTERM");
      return new Promise<never>(() => {});
    });
  onTeardown(() => web.close(), "web view");
  process.stdout.write(`Web view: ${web.url}\n`);

  const report = await runScenario(scenario, tb, {
    onEvent: textReporter(process.stdout),
    signal: interrupted,
    allowNoExpectations: values["allow-no-expectations"] === true,
    compareKubernetes: values.compare === "kubernetes",
  });
  if (interrupted.aborted) return new Promise<never>(() => {}); // being torn down: never announce it ready
  lastReport = report;
  process.stdout.write(`${summaryText([report])}\n`);

  const app = express();
  // Every endpoint needs the session's token: /shutdown ends the environment, /capture writes files.
  const token = randomBytes(24).toString("hex");
  const expected = Buffer.from(`Bearer ${token}`);
  app.use((req, res, next) => {
    const got = Buffer.from(req.get("authorization") ?? "");
    if (got.length === expected.length && timingSafeEqual(got, expected)) return next();
    res
      .status(401)
      .type("text")
      .send("the control API needs the session's token (from .ctb/session.json): use the ctb commands");
  });
  app.use(express.json());
  // errors as the Kubernetes API reports them (a Status) so the client can print kubectl's "Error from server"
  const fail = (res: import("express").Response, e: unknown, status = 404) => {
    if (e instanceof KubeApiError)
      res.status(e.status).json({ kind: "Status", reason: e.reason, message: e.message });
    else
      res
        .status(status)
        .type("text")
        .send((e as Error).message);
  };
  // generic read access to the cluster for `ctb get` / `ctb describe`: a list (namespace "" or absent: all) or one object
  app.get(["/kube/:resource", "/kube/:resource/:name"], async (req, res) => {
    const resource = String(req.params.resource) as ResourceName;
    const name = req.params.name as string | undefined;
    if (!Object.hasOwn(RESOURCES, resource))
      return void res.status(400).type("text").send(`unknown resource "${resource}"`);
    const namespace = RESOURCES[resource].namespaced
      ? (req.query.namespace as string) || undefined
      : undefined;
    try {
      if (name) res.json(await tb.kube.get(resource, name, namespace));
      else
        res.json(
          await tb.kube.list(resource, {
            namespace,
            labelSelector: (req.query.labelSelector as string) || undefined,
          }),
        );
    } catch (e) {
      fail(res, e, 400);
    }
  });
  app.get("/namespace/:name", async (req, res) => {
    try {
      res.type("text").send(await describeNamespace(tb, req.params.name));
    } catch (e) {
      fail(res, e);
    }
  });
  app.post("/probe", async (req, res) => {
    try {
      res.json(await tb.probe(req.body));
    } catch (e) {
      fail(res, e, 400);
    }
  });
  // `ctb exec <pod> -- nslookup` on the simulated datapath: one query through the engines to the cluster DNS
  app.post("/dns", async (req, res) => {
    try {
      if (!tb.resolve) throw new Error(`DNS queries are not supported on the ${tb.datapath} datapath`);
      res.json(await tb.resolve(req.body));
    } catch (e) {
      fail(res, e, 400);
    }
  });
  /** A request's endpoints judged as a scenario's reach entry; undefined when refused (a 400 saying why is sent). */
  const endpointsOf = (
    body: { from: string; to: string; proto?: ProbeProto; port?: number },
    res: { status(code: number): { type(t: string): { send(text: string): unknown } } },
    what: string,
  ): ReachProbe | undefined => {
    try {
      return parseReachEndpoints(parseScenario, scenario, body.from, body.to, what, body.proto, body.port);
    } catch (e) {
      res
        .status(400)
        .type("text")
        .send((e as Error).message);
      return undefined;
    }
  };
  // `ctb trace`: the endpoint forms of a scenario's reach step, judged by the scenario loader and resolved by
  // the runner, so a trace accepts and means exactly what a scenario does
  app.post("/trace", async (req, res) => {
    const probe = endpointsOf(req.body, res, "ctb trace");
    if (!probe) return;
    try {
      const src = await resolveSource(tb, probe.from);
      const dst = await resolveTarget(tb, probe.to, probe.port, src.endpoint);
      const result = await tb.probe({
        from: src.endpoint,
        toIp: dst.ip,
        // an HTTP request's packets are a TCP connection's
        proto: probe.proto === "http" ? "tcp" : probe.proto,
        port: dst.port,
        count: 1,
      });
      res.json({ from: src.label, to: dst.label, result });
    } catch (e) {
      fail(res, e);
    }
  });
  // `ctb reach`: every (protocol, port) that gets through from one endpoint to another (runner/reach-set.ts),
  // the endpoints judged and resolved as a scenario's reach step's
  app.post("/reach-set", async (req, res) => {
    const probe = endpointsOf(req.body, res, "ctb reach");
    if (!probe) return;
    try {
      const src = await resolveSource(tb, probe.from);
      const dst = await resolveTarget(tb, probe.to, undefined, src.endpoint);
      res.json({
        from: src.label,
        to: dst.label,
        toIp: dst.ip,
        set: await reachSet(tb, src.endpoint, dst.ip, {
          netpol: netpolContext(scenario.controller),
        }),
      });
    } catch (e) {
      fail(res, e);
    }
  });
  // `ctb connectivity`: every pair of pods, grouped (runner/connectivity.ts)
  app.post("/connectivity", async (req, res) => {
    const { namespaces } = req.body as { namespaces?: string[] };
    try {
      res.json(
        await connectivity(tb, {
          ...(namespaces?.length ? { namespaces } : {}),
          netpol: netpolContext(scenario.controller),
        }),
      );
    } catch (e) {
      fail(res, e);
    }
  });
  // `ctb why`: changes that would turn a flow's fate, each verified in a copy of this environment (runner/why.ts)
  app.post("/why", async (req, res) => {
    const probe = endpointsOf(req.body, res, "ctb why");
    if (!probe) return;
    try {
      // the ends as a scenario's reach step names them (a pod glob resolved here); why.ts judges the rest
      let from: string;
      let to = probe.to;
      try {
        from = (await resolveSource(tb, probe.from)).endpoint;
        if (!/^(service|svc|lb|host|external|ingress|dns):|^\d/.test(to))
          to = (await resolveSource(tb, to)).endpoint;
      } catch (e) {
        res
          .status(400)
          .type("text")
          .send((e as Error).message);
        return;
      }
      // a copy is the same scenario to its end, on the simulated datapath and the embedded cluster
      const copy = async () => {
        const t = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
        try {
          await runScenario(scenario, t, { allowNoExpectations: true });
        } catch (e) {
          await t.close();
          throw e;
        }
        return t;
      };
      const r = await why(tb, copy, {
        from,
        to,
        proto: probe.proto as ProbeProto,
        ...(probe.port !== undefined ? { port: probe.port } : {}),
      });
      const note = copiesNote(options.datapath, options.cluster.kind);
      res.json(note ? { ...r, copyNote: note } : r);
    } catch (e) {
      fail(res, e, e instanceof WhyEndpointError ? 400 : 404);
    }
  });
  // `ctb exec`: the pod (exact name, or a runner-style `<prefix>*` glob) and, on netns, its network namespace
  app.post("/resolve", async (req, res) => {
    try {
      const { namespace, name } = req.body as { namespace: string; name: string };
      const pod = name.endsWith("*")
        ? await tb.kube.get(
            "pods",
            (await resolveSource(tb, `${namespace}/${name}`)).endpoint.split("/")[1]!,
            namespace,
          )
        : await tb.kube.get("pods", name, namespace);
      const endpoint = `${namespace}/${pod.metadata.name}`;
      // netns: the pod's network namespace, once the CNI plumbed it (a pod still ContainerCreating has none)
      const netns = tb.netnsEndpoint(endpoint)?.netns;
      if (tb.datapath === "netns" && !netns)
        throw new Error(`pod ${endpoint} has no network namespace (phase ${pod.status?.phase ?? "unknown"})`);
      res.json({ ip: pod.status?.podIP, node: pod.spec?.nodeName, endpoint, netns });
    } catch (e) {
      fail(res, e);
    }
  });
  app.post("/shutdown", (_req, res) => {
    res.json({ ok: true });
    void stop("SIGTERM");
  });
  // `ctb capture`: start a capture into a file the client names, read its count, stop it
  let nextCapture = 1;
  app.post("/capture", async (req, res) => {
    try {
      const { parseCaptureTarget } = await import("../capture");
      const { target, file, limit } = req.body as { target: string; file: string; limit?: number };
      // a pod as the other verbs name it (a prefix glob like example1-* picks the first match)
      const t = String(target).includes("/")
        ? (await resolveSource(tb, String(target))).endpoint
        : String(target);
      const handle = await tb.capture(parseCaptureTarget(t), String(file), Number(limit ?? 0));
      const id = String(nextCapture++);
      captures.set(id, handle);
      res.json({ id });
    } catch (e) {
      fail(res, e, 409); // the command line was fine; the environment has no such endpoint (yet)
    }
  });
  app.get("/capture/:id", async (req, res) => {
    const c = captures.get(req.params.id);
    if (!c) return void res.status(404).type("text").send(`no capture ${req.params.id}`);
    res.json({ count: await c.count() });
  });
  app.post("/capture/:id/stop", async (req, res) => {
    const c = captures.get(req.params.id);
    if (!c) return void res.status(404).type("text").send(`no capture ${req.params.id}`);
    captures.delete(req.params.id);
    res.json({ count: await c.stop() });
  });
  // `ctb vrouter <node> <tool>` and the tools' shims in the compute namespaces (also on a unix socket)
  await (await import("./vrouter-tools")).mountVrouterTools(app, tb);
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const state: SessionState = {
    pid: process.pid,
    controlUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    vncUrl: tb.vncUrl,
    scenario: scenario.file,
    datapath: options.datapath,
    cluster: options.cluster.kind,
    ready: true,
    failedChecks: report.failed,
    started: new Date(Date.now() - Math.round(process.uptime() * 1000)).toISOString(),
    metrics: tb.metrics,
    introspect: tb.introspect,
    uiUrl: web.url,
  };
  writeSession(state);
  await new Promise(() => {}); // serve until `ctb down`
  return 0;
}

export async function down(args: string[] = []): Promise<number> {
  const all = args.includes("--all");
  if (args.some((a) => a !== "--all")) throw new UsageError("down takes no arguments but --all");
  const { listRuns, ownerAlive } = await import("../run-record");
  const done: string[] = [];
  const s = readSession();
  // 1. the persistent environment: asked to stop, it tears itself down and removes its own record
  const upRuns = listRuns(WORK_DIR).filter((r) => r.info?.kind === "up" && ownerAlive(r.info));
  const servers = upRuns.map((r) => r.info!);
  if (s && alive(s.pid) && !servers.some((i) => i.pid === s.pid))
    servers.push({ pid: s.pid } as (typeof servers)[number]);
  for (const info of servers) {
    const same = () => (info.startTime ? ownerAlive(info) : alive(info.pid));
    if (s?.pid === info.pid && s.controlUrl) {
      await fetch(`${s.controlUrl}/shutdown`, {
        method: "POST",
        headers: authHeaders(s),
        signal: AbortSignal.timeout(10_000),
      }).catch(() => {});
    }
    if (same()) signalPid(info.pid, "SIGTERM"); // still starting (no control API yet), or it did not answer
    // a local control plane and netns pods take a while to stop
    const deadline = Date.now() + 90_000;
    while (same() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (same()) {
      signalPid(info.pid, "SIGKILL"); // our own server, found by the pid and start time it recorded
      done.push(`killed environment process ${info.pid} (it did not stop in time)`);
    } else done.push(`stopped environment process ${info.pid}${info.scenario ? ` (${info.scenario})` : ""}`);
  }
  rmSync(SESSION_FILE, { force: true });
  // 2. every run's record: what a dead run (or, with --all, a live one) started and left is undone
  done.push(...(await cleanupRecords(all)));
  // 3. what older versions left without a record
  done.push(...(await cleanupLeftovers(all)));
  process.stdout.write(done.length ? `${done.join("\n")}\n` : "nothing was up\n");
  return 0;
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/**
 * Reads every run record under .ctb/runs/: stops the recorded processes whose pid, start time and command line
 * still match (nothing else is signalled), removes the recorded namespaces, and removes the records of dead
 * runs. Runs whose owner is alive (a `ctb run` in progress, a test) are left alone unless `all`.
 */
async function cleanupRecords(all: boolean): Promise<string[]> {
  const out: string[] = [];
  const { listRuns, ownerAlive } = await import("../run-record");
  const { cleanupRecorded } = await import("../../fake-vrouter/netns/index");
  for (const run of listRuns(WORK_DIR)) {
    const owner = run.info
      ? `${run.info.kind === "up" ? "ctb up" : "ctb run"} pid ${run.info.pid}`
      : `run ${run.dir}`;
    const live = ownerAlive(run.info);
    if (live && !all) {
      out.push(
        `left alone: ${owner} is still running (${run.info?.scenario ?? "?"}); \`ctb down --all\` also removes what it started`,
      );
      continue;
    }
    try {
      const r = await cleanupRecorded(run.dir);
      // a live run's namespaces are gone now (--all): its CNI state files describe nothing any more
      if (live) out.push(...cleanupCniState(run.dir, true));
      for (const p of r.stopped)
        out.push(`stopped ${p.role} process ${p.pid}${p.ns ? ` in ${p.ns}` : ""} (${owner})`);
      for (const ns of r.namespaces) out.push(`removed network namespace ${ns} (${owner})`);
      for (const l of r.leftAlone)
        out.push(`left alone: process ${l.pid} was inside ${l.ns} but is not in the record`);
      // real kubelet nodes: their containers, mounts, cgroups and what kubelet changed on the host
      const { hasNodeRecord, undoNodes } = await import("../cluster/kubelet/node");
      if (hasNodeRecord(run.dir)) {
        const left = await undoNodes(run.dir);
        out.push(
          left.length
            ? `kubelet nodes of ${owner}: not undone: ${left.join("; ")}`
            : `removed the kubelet nodes' containers, mounts and cgroups and restored the host (${owner})`,
        );
      }
    } catch (e) {
      out.push(`cleanup of ${owner}: ${(e as Error).message}`);
      continue;
    }
    if (!live) {
      rmSync(run.dir, { recursive: true, force: true });
      out.push(`removed the record of ${owner} (${run.dir})`);
    }
  }
  return out;
}

/**
 * Namespaces left outside this work dir's run records (tests and benches that build topologies directly record
 * them in the shared state dir, /run/ctb). One is removed only when its marker records an owner (pid and start
 * time) and that process is gone — never guessed from the pid in its name, which another process may have reused
 * or another checkout's testbed may own. Unrecorded ones are reported and left alone unless `--all`. Also the CNI
 * state directories (`cni-ctb-*`) a testbed without a run record left in this work dir, by their owner file.
 */
async function cleanupLeftovers(all: boolean): Promise<string[]> {
  const out: string[] = [];
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  const names = (list.stdout ?? "")
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith("ctb-"));
  const { cleanupAll, cleanupOrphanNamespace } = await import("../../fake-vrouter/netns/index");
  const { DEFAULT_STATE_DIR, namespaceOwner, namespaceOwnerAlive } = await import(
    "../../fake-vrouter/netns/pidfiles"
  );
  // a pod's /etc/netns/<ns> (its resolv.conf) whose namespace is already gone
  const etcOnly = (existsSync("/etc/netns") ? readdirSync("/etc/netns") : []).filter(
    (n) => n.startsWith("ctb-") && !names.includes(n),
  );
  const unowned: string[] = [];
  if (all) {
    try {
      const left = await cleanupAll("ctb-", undefined, { killUnrecorded: false });
      if (left.processes) out.push(`stopped ${left.processes} recorded process(es) of ctb-*`);
      out.push(...left.namespaces.map((n) => `removed network namespace ${n} (--all)`));
      if (left.leftAlone.length)
        out.push(
          `left alone: processes ${left.leftAlone.join(", ")} were inside ctb-* but are not in any record`,
        );
    } catch (e) {
      out.push(`netns cleanup of ctb-*: ${(e as Error).message}`);
    }
  } else {
    for (const name of [...names, ...etcOnly]) {
      const owner = namespaceOwner(DEFAULT_STATE_DIR, name);
      if (!owner) {
        unowned.push(name);
        continue;
      }
      if (namespaceOwnerAlive(owner)) continue; // a live testbed's: not ours to take
      try {
        const r = await cleanupOrphanNamespace(name, DEFAULT_STATE_DIR);
        const by = `recorded owner pid ${owner.pid} is gone`;
        for (const p of r.stopped) out.push(`stopped ${p.role} process ${p.pid} in ${name} (${by})`);
        out.push(
          r.removed ? `removed network namespace ${name} (${by})` : `removed /etc/netns/${name} (${by})`,
        );
        if (r.leftAlone.length)
          out.push(
            `left alone: processes ${r.leftAlone.join(", ")} were inside ${name} but are not in its record`,
          );
      } catch (e) {
        out.push(`netns cleanup of ${name}: ${(e as Error).message}`);
      }
    }
  }
  if (unowned.length)
    out.push(`left alone (no owner recorded; \`ctb down --all\` removes them): ${unowned.join(", ")}`);
  out.push(...cleanupCniState(WORK_DIR, all));
  try {
    const { stopFromPidFiles } = await import("../cluster/local/index");
    for (const pid of await stopFromPidFiles(WORK_DIR)) out.push(`stopped control-plane process ${pid}`);
  } catch (e) {
    out.push(`control plane cleanup: ${(e as Error).message}`);
  }
  const { pruneDeadRuns } = await import("../run-record");
  const { pruned } = await pruneDeadRuns(WORK_DIR, new Set(names));
  if (pruned) out.push(`removed ${pruned} old run director${pruned === 1 ? "y" : "ies"}`);
  return out;
}

/**
 * CNI state directories (`cni-ctb-*`: the plugin's per-pod state files) directly in `dir`: removed when their
 * `owner.json` names a process that is gone (or with `all`); without an owner file they are reported.
 */
export function cleanupCniState(dir: string, all: boolean): string[] {
  const out: string[] = [];
  const entries = existsSync(dir) ? readdirSync(dir).filter((n) => /^cni-ctb-/.test(n)) : [];
  const unowned: string[] = [];
  for (const name of entries) {
    const path = `${dir}/${name}`;
    let owner: { pid: number; startTime: string } | undefined;
    try {
      owner = JSON.parse(readFileSync(`${path}/owner.json`, "utf8"));
    } catch {
      owner = undefined;
    }
    const ownerLive = owner !== undefined && processStartTime(owner.pid) === owner.startTime;
    if (!all && (owner === undefined || ownerLive)) {
      if (owner === undefined) unowned.push(name);
      continue;
    }
    rmSync(path, { recursive: true, force: true });
    out.push(
      `removed CNI state ${path}${owner ? ` (owner pid ${owner.pid}${ownerLive ? "" : " gone"})` : ""}`,
    );
  }
  if (unowned.length)
    out.push(`left alone (no owner recorded; \`ctb down --all\` removes them): ${unowned.join(", ")}`);
  return out;
}

// ---- inspection ----------------------------------------------------------------------------------------------

/** `<kind> [name…]` or `<kind>/<name>…` (kubectl's two spellings) to the resource and the names asked for. */
function kindAndNames(positionals: string[], verb: string): { resource: ResourceName; names: string[] } {
  const [first, ...rest] = positionals;
  if (!first)
    throw new UsageError(`you must specify the type of resource to ${verb}; one of: ${kindNames()}`);
  const slashed = first.includes("/");
  const word = slashed ? first.slice(0, first.indexOf("/")) : first;
  const resource = resourceFor(word);
  if (!resource)
    throw new UsageError(`the server doesn't have a resource type "${word}" (known: ${kindNames()})`);
  if (!slashed) return { resource, names: rest };
  const names = positionals.map((p) => {
    const [k, n] = p.split("/");
    if (!n || resourceFor(k!) !== resource)
      throw new UsageError(
        `there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (got "${p}")`,
      );
    return n;
  });
  return { resource, names };
}

/** Objects by name, with kubectl's NotFound errors for the missing ones collected rather than thrown. */
async function getNamed(s: SessionState, resource: ResourceName, names: string[], namespace: string) {
  const found: KubeObject[] = [];
  const errors: string[] = [];
  for (const name of names) {
    try {
      found.push(
        await control<KubeObject>(
          s,
          `/kube/${resource}/${encodeURIComponent(name)}?namespace=${encodeURIComponent(namespace)}`,
        ),
      );
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      errors.push(e.message);
    }
  }
  return { found, errors };
}

async function listObjects(
  s: SessionState,
  resource: ResourceName,
  namespace: string,
  labelSelector?: string,
): Promise<KubeObject[]> {
  const q = new URLSearchParams({ namespace, ...(labelSelector ? { labelSelector } : {}) });
  return (await control<{ items: KubeObject[] }>(s, `/kube/${resource}?${q}`)).items;
}

function noResources(resource: ResourceName, namespace: string): string {
  return RESOURCES[resource].namespaced && namespace
    ? `No resources found in ${namespace} namespace.\n`
    : "No resources found\n";
}

export async function get(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, {
    namespace: { type: "string", short: "n" },
    "all-namespaces": { type: "boolean", short: "A" },
    output: { type: "string", short: "o" },
    selector: { type: "string", short: "l" },
    "no-headers": { type: "boolean" },
  });
  const output = parseOutput(values.output);
  const { resource, names } = kindAndNames(positionals, "get");
  const all = !!values["all-namespaces"];
  if (all && names.length)
    throw new UsageError("a resource cannot be retrieved by name across all namespaces");
  const s = requireSession();
  const namespace = all ? "" : (values.namespace ?? "default");
  const { found: objs, errors } = names.length
    ? await getNamed(s, resource, names, namespace)
    : { found: await listObjects(s, resource, namespace, values.selector), errors: [] };
  if (output === "json" || output === "yaml") {
    if (objs.length || !names.length)
      process.stdout.write(serialize(resource, objs, names.length !== 1, output));
  } else if (output === "name") {
    process.stdout.write(objs.map((o) => `${qualifiedName(resource, o)}\n`).join(""));
  } else if (objs.length) {
    process.stdout.write(
      table(resource, objs, { wide: output === "wide", allNamespaces: all, headers: !values["no-headers"] }),
    );
  }
  if (!objs.length && !names.length && output !== "json" && output !== "yaml")
    process.stderr.write(noResources(resource, namespace));
  for (const e of errors) process.stderr.write(`${e}\n`);
  return errors.length ? 1 : 0;
}

export async function describe(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, { namespace: { type: "string", short: "n" } });
  const { resource, names } = kindAndNames(positionals, "describe");
  const s = requireSession();
  const namespace = values.namespace ?? "default";
  // kubectl describe <kind> without a name describes every object of the kind in the namespace
  const { found, errors } = names.length
    ? await getNamed(s, resource, names, namespace)
    : { found: await listObjects(s, resource, namespace), errors: [] };
  if (!found.length && !names.length) process.stderr.write(noResources(resource, namespace));
  const texts: string[] = [];
  for (const o of found) {
    if (resource === "namespaces") {
      // the runner's text (the isolation mark included); its first line is the kubectl command it stands for
      texts.push(
        `${(await control<string>(s, `/namespace/${encodeURIComponent(o.metadata.name!)}`)).split("\n").slice(1).join("\n")}\n`,
      );
    } else if (resource === "pods") texts.push(describePod(o));
    else if (resource === "services") {
      const ep = await getNamed(s, "endpoints", [o.metadata.name!], namespace);
      texts.push(describeService(o, ep.found[0]));
    } else if (resource === "nodes") texts.push(describeNode(o, await listObjects(s, "pods", "")));
    else texts.push(describeGeneric(resource, o));
  }
  process.stdout.write(texts.join("\n\n"));
  for (const e of errors) process.stderr.write(`${e}\n`);
  return errors.length ? 1 : 0;
}

const EXEC_FLAGS = {
  namespace: { type: "string", short: "n" },
  container: { type: "string", short: "c" },
  stdin: { type: "boolean", short: "i" },
  tty: { type: "boolean", short: "t" },
} as const;

/** `ctb exec [-it] [-n ns] <pod> -- cmd…` (kubectl) or `ctb exec <ns>/<pod> -- cmd…`; exits with the command's code. */
export async function exec(args: string[]): Promise<number> {
  const sep = args.indexOf("--");
  let head = sep >= 0 ? args.slice(0, sep) : args;
  let cmd = sep >= 0 ? args.slice(sep + 1) : [];
  if (sep < 0) {
    // the old kubectl form without `--`: everything after the pod is the command, its flags included
    const { tokens } = parseArgs({
      args: head,
      options: EXEC_FLAGS,
      strict: false,
      allowPositionals: true,
      tokens: true,
    });
    const pod = tokens.find((t) => t.kind === "positional");
    if (pod) [head, cmd] = [head.slice(0, pod.index + 1), head.slice(pod.index + 1)];
  }
  const { values, positionals } = parseVerbArgs(head, EXEC_FLAGS);
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length
        ? `one pod, then -- and the command (got ${positionals.join(" ")})`
        : "which pod? ctb exec [-it] [-n <ns>] <pod> -- <command…>",
    );
  if (cmd.length === 0) throw new UsageError("no command: ctb exec [-it] [-n <ns>] <pod> -- <command…>");
  const ref = positionals[0]!;
  const [namespace, name] = ref.includes("/")
    ? (ref.split("/", 2) as [string, string])
    : [values.namespace ?? "default", ref];
  const s = requireSession();
  // a node's name (no namespace given): the command runs in its vrouter (its tools; on netns its namespace)
  if (!ref.includes("/") && values.namespace === undefined) {
    const code = await (await import("./vrouter-tools")).execOnVrouter(s, ref, cmd, values.stdin === true);
    if (code !== undefined) return code;
  }
  const pod = await control<{ endpoint: string; netns?: string }>(s, "/resolve", { namespace, name });
  if (s.datapath === "netns") {
    if (!pod.netns?.startsWith("ctb-"))
      throw new CommandError(`the environment gave no testbed namespace for ${pod.endpoint}`);
    // the real program, inside the pod's network namespace (like kubectl exec, minus the other namespaces);
    // stdin only with -i, as kubectl; a terminal (-t) is the caller's own
    const r = spawnSync("ip", ["netns", "exec", pod.netns, ...cmd], {
      stdio: [values.stdin ? "inherit" : "ignore", "inherit", "inherit"],
    });
    if (r.error) throw new CommandError(`cannot run ${cmd[0]} in ${pod.netns}: ${r.error.message}`);
    return r.status ?? 1;
  }
  if (cmd[0] === "nslookup") return simNslookup(s, pod.endpoint, cmd);
  return simPing(s, pod.endpoint, cmd);
}

/**
 * Simulated datapath: `nslookup [-type=A|SRV] <name> [server]` is one DNS query through the engines to the
 * server (default the kube-dns Service's ClusterIP), answered by the cluster DNS core; exit 1 without an answer.
 */
async function simNslookup(s: SessionState, endpoint: string, cmd: string[]): Promise<number> {
  const typeArg = cmd.find((a) => /^-(type|query|q)=/i.test(a));
  const qtype = (typeArg?.split("=")[1] ?? "A").toUpperCase();
  const rest = cmd.slice(1).filter((a) => a !== typeArg);
  if (rest.length < 1 || rest.length > 2 || (qtype !== "A" && qtype !== "SRV"))
    throw new UsageError(
      `on the simulated datapath exec supports nslookup [-type=A|SRV] <name> [server] (got "${cmd.join(" ")}")`,
    );
  const [name, given] = rest as [string, string | undefined];
  const svc = await control<KubeObject>(s, "/kube/services/kube-dns?namespace=kube-system").catch(
    () => undefined,
  );
  const server = given ?? svc?.spec?.clusterIP;
  if (!server)
    throw new CommandError(
      "no cluster DNS: there is no Service kube-system/kube-dns (apply scenarios/manifests/cluster-dns.yaml); name the server: nslookup <name> <server>",
    );
  // the pod's resolv.conf as kubelet writes it when the cluster has kube-dns (the netns pods' file):
  // a name with fewer than 5 dots (ndots:5) tries the search path first, then as given
  const search = svc
    ? [`${endpoint.split("/")[0]}.svc.cluster.local`, "svc.cluster.local", "cluster.local"]
    : [];
  const dots = name.split(".").length - 1;
  const tries = name.endsWith(".")
    ? [name.slice(0, -1)]
    : dots < 5
      ? [...search.map((d) => `${name}.${d}`), name]
      : [name, ...search.map((d) => `${name}.${d}`)];
  // as bind's nslookup (the program the netns datapath runs): only NXDOMAIN moves on to the next name of the
  // search path; any other answer ends it, and the last answer is the one reported (`nslookup nope` ends on
  // "nope." itself, outside cluster.local: REFUSED, as on netns)
  let r = await control<DnsResult>(s, "/dns", { from: endpoint, server, name: tries[0], qtype });
  for (const t of tries.slice(1)) {
    if (r.rcode !== "NXDOMAIN") break;
    r = await control<DnsResult>(s, "/dns", { from: endpoint, server, name: t, qtype });
  }
  process.stdout.write(`Server:\t\t${server}\nAddress:\t${server}#53\n\n`);
  if (r.rcode === undefined) {
    process.stdout.write(
      `;; connection timed out; no servers could be reached${r.drop ? ` (dropped at ${r.drop.where}: ${r.drop.reason})` : ""}\n`,
    );
    return 1;
  }
  if (r.rcode !== "NOERROR") {
    process.stdout.write(`** server can't find ${name}: ${r.rcode}\n`);
    return 1;
  }
  for (const a of r.answers) process.stdout.write(`${a}\n`);
  if (r.answers.length === 0) process.stdout.write(`*** Can't find ${name}: No answer\n`);
  return 0;
}

/** Simulated datapath: the pod has no processes; ping is answered by sending probes through the engine. */
async function simPing(s: SessionState, endpoint: string, cmd: string[]): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{
      args: string[];
      allowPositionals: true;
      options: { count: { type: "string"; short: "c" }; W: { type: "string" }; i: { type: "string" } };
    }>
  >;
  try {
    parsed = parseArgs({
      args: cmd.slice(1),
      allowPositionals: true,
      options: { count: { type: "string", short: "c" }, W: { type: "string" }, i: { type: "string" } },
    });
  } catch {
    parsed = { values: {}, positionals: [] };
  }
  if (cmd[0] !== "ping" || parsed.positionals.length !== 1) {
    throw new UsageError(
      `on the simulated datapath pods run no programs; exec supports: ping [-c N] <ip>, nslookup [-type=A|SRV] <name> [server] (got "${cmd.join(" ")}")`,
    );
  }
  const ip = parsed.positionals[0]!;
  const count = Number(parsed.values.count ?? 4);
  if (!Number.isInteger(count) || count < 1)
    throw new UsageError(`ping: -c must be a positive integer, not "${parsed.values.count}"`);
  const r = await control<ProbeResult>(s, "/probe", { from: endpoint, toIp: ip, proto: "icmp", count });
  process.stdout.write(`PING ${ip} (${ip}): 56 data bytes\n`);
  for (let i = 0; i < r.received; i++)
    process.stdout.write(`64 bytes from ${ip}: icmp_seq=${i} ttl=${r.replyTtl ?? 64}\n`);
  const loss = Math.round(((r.sent - r.received) / Math.max(1, r.sent)) * 100);
  process.stdout.write(
    `--- ${ip} ping statistics ---\n${r.sent} packets transmitted, ${r.received} packets received, ${loss}% packet loss\n`,
  );
  return r.received > 0 ? 0 : 1;
}

const PROTOS = ["icmp", "tcp", "udp", "sctp"];

/** A port flag: an integer 1..65535, or a usage error. */
function portFlag(v: string | undefined, flag = "--port"): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= 65535)) throw new UsageError(`${flag} must be an integer from 1 to 65535, not "${v}"`);
  return n;
}

/** `-o json` or `--json` (both spellings are in use); any other -o is a usage error. */
function jsonFlag(
  values: { json?: boolean; output?: string },
  allowed: string[] = ["json"],
): string | undefined {
  if (values.output !== undefined && !allowed.includes(values.output)) {
    throw new UsageError(`-o must be ${allowed.join(" or ")}, not "${values.output}"`);
  }
  return values.json ? "json" : values.output;
}

/**
 * `<from> <to>` (and a protocol and port) judged as a scenario's reach entry would be — the same endpoint forms,
 * the environment's external hosts known — or an Error saying what is wrong, in the command's words.
 */
function parseReachEndpoints(
  parse: (text: string, file: string) => Scenario,
  scenario: Scenario,
  from: string,
  to: string,
  what: string,
  proto: ProbeProto = "icmp",
  port?: number,
): ReachProbe {
  try {
    const text = stringify({
      name: what.replace(" ", "-"),
      // the environment's external hosts, so `external:<name>` is judged as in its scenario
      ...(scenario.externalHosts.length
        ? {
            controller: scenario.controller,
            nodes: scenario.nodes,
            externalHosts: scenario.externalHosts.map(({ name, ip }) => ({ name, ip })),
          }
        : {}),
      steps: [{ reach: [{ from, to, proto, port, expect: "allow" }] }],
    });
    return (parse(text, what).steps[0] as Extract<Step, { kind: "reach" }>).probes[0]!;
  } catch (e) {
    const problem = e instanceof ScenarioError ? e.problem : (e as Error).message;
    throw new Error(problem.replace(/^reach\.(from|to) /, "$1 ").replace(/^reach: /, ""));
  }
}

/** Exit 0 when the packet was delivered, 1 when it was dropped. */
export async function trace(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, {
    proto: { type: "string", default: "icmp" },
    port: { type: "string" },
    json: { type: "boolean" },
    output: { type: "string", short: "o" },
  });
  const json = jsonFlag(values) === "json";
  if (positionals.length !== 2)
    throw new UsageError(`two endpoints, <from> and <to>, are needed (got ${positionals.length})`);
  const proto = values.proto as ProbeProto;
  if (!PROTOS.includes(proto)) throw new UsageError(`--proto must be icmp, tcp, udp or sctp, not "${proto}"`);
  const port = portFlag(values.port);
  if (proto !== "icmp" && port === undefined) throw new UsageError(`--proto ${proto} needs --port`);
  if (proto === "icmp" && port !== undefined)
    throw new UsageError("--port does not apply to icmp; add --proto tcp|udp|sctp");
  const [from, to] = positionals as [string, string];
  const r = await control<{ from: string; to: string; result: ProbeResult }>(requireSession(), "/trace", {
    from,
    to,
    proto,
    port,
  });
  const delivered = r.result.received > 0;
  if (json) process.stdout.write(`${JSON.stringify(r.result, null, 2)}\n`);
  else {
    process.stdout.write(
      `${r.from} → ${r.to} ${proto}${port ? `/${port}` : ""}: ${delivered ? "delivered" : "DROPPED"}\n`,
    );
    for (const line of r.result.trace) process.stdout.write(`  ${line}\n`);
    if (r.result.drop) process.stdout.write(`  drop: ${r.result.drop.reason} at ${r.result.drop.where}\n`);
  }
  return delivered ? 0 : 1;
}

/**
 * `ctb reach <from> <to>`: every protocol and port that gets through (runner/reach-set.ts). Exit 0 when something
 * does, 1 when nothing does.
 */
export async function reach(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, {
    json: { type: "boolean" },
    output: { type: "string", short: "o" },
  });
  const json = jsonFlag(values) === "json";
  if (positionals.length !== 2)
    throw new UsageError(`two endpoints, <from> and <to>, are needed (got ${positionals.length})`);
  const [from, to] = positionals as [string, string];
  const r = await control<{ from: string; to: string; toIp: string; set: ReachSet }>(
    requireSession(),
    "/reach-set",
    { from, to },
  );
  const through = formatProtoPorts(r.set.delivered);
  if (json)
    process.stdout.write(
      `${JSON.stringify(
        {
          from: r.from,
          to: r.to,
          address: r.toIp,
          allows: through,
          answers: formatProtoPorts(r.set.answered),
          ...r.set,
        },
        null,
        2,
      )}\n`,
    );
  else process.stdout.write(formatReachSet(r.from, r.to, r.set));
  return through === "nothing" && r.set.bySourcePort.length === 0 ? 1 : 0;
}

/** `ctb connectivity`: the whole cluster's map (runner/connectivity.ts). Exit 0. */
export async function connectivityMap(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, {
    namespace: { type: "string", short: "n", multiple: true },
    output: { type: "string", short: "o" },
    json: { type: "boolean" },
    all: { type: "boolean" },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const format = (values.json ? "json" : (values.output ?? "text")) as ConnectivityFormat;
  if (!["text", "json", "csv", "dot"].includes(format))
    throw new UsageError(`-o must be text, json, csv or dot, not "${format}"`);
  const m = await control<ConnectivityMap>(requireSession(), "/connectivity", {
    namespaces: (values.namespace as string[] | undefined) ?? [],
  });
  process.stdout.write(formatConnectivity(m, format, values.all === true));
  return 0;
}

/** `ctb why <from> <to>`: exit 0 when a change was found (and verified), 1 when none was. */
export async function whyFlow(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, {
    proto: { type: "string", default: "icmp" },
    port: { type: "string" },
    json: { type: "boolean" },
  });
  if (positionals.length !== 2)
    throw new UsageError(`two endpoints, <from> and <to>, are needed (got ${positionals.length})`);
  const proto = values.proto as ProbeProto;
  if (!PROTOS.includes(proto)) throw new UsageError(`--proto must be icmp, tcp, udp or sctp, not "${proto}"`);
  const port = portFlag(values.port);
  if (proto !== "icmp" && port === undefined) throw new UsageError(`--proto ${proto} needs --port`);
  if (proto === "icmp" && port !== undefined)
    throw new UsageError("--port does not apply to icmp; add --proto tcp|udp|sctp");
  const [from, to] = positionals as [string, string];
  const r = await control<WhyResult>(requireSession(), "/why", { from, to, proto, port });
  process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : formatWhy(r));
  return r.changes.length ? 0 : 1;
}

export async function contrail(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, {
    api: { type: "string" },
    json: { type: "boolean" },
    output: { type: "string", short: "o" },
  });
  const output = jsonFlag(values, ["json", "yaml", "name"]);
  const [op, type, ident, ...extra] = positionals;
  if (op !== "list" && op !== "get")
    throw new UsageError(
      op ? `unknown operation "${op}" (list or get)` : "list <type> or get <type> <fq_name|uuid>?",
    );
  if (!type) throw new UsageError(`${op} needs an object type, e.g. virtual-network`);
  if (op === "list" && (ident || extra.length))
    throw new UsageError(`list takes one type (got ${positionals.slice(1).join(" ")})`);
  if (op === "get" && (!ident || extra.length))
    throw new UsageError("get takes a type and one fq_name (a:b:c) or uuid");
  // a session with authentication on records the admin port's URL: its credentials go in a header
  const { base, headers: auth } = vncEndpoint(values.api ?? requireSession().vncUrl);
  const call = async (path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch((e: Error) => {
      throw new CommandError(
        `the config API at ${base} does not answer: ${(e.cause as Error | undefined)?.message ?? e.message}`,
      );
    });
    return { status: res.status, text: await res.text() };
  };
  const print = (v: unknown) =>
    process.stdout.write(output === "yaml" ? stringify(v) : `${JSON.stringify(v, null, 2)}\n`);
  const unknownType = async () => (await call(`/${type}s?count=true`)).status === 404;
  if (op === "list") {
    const r = await call(`/${type}s?detail=true`);
    if (r.status === 404)
      throw new UsageError(
        `unknown config object type "${type}" (e.g. virtual-network, virtual-machine-interface, project)`,
      );
    if (r.status !== 200) throw new CommandError(`config API: ${r.status} ${r.text}`);
    type Obj = { fq_name: string[]; uuid: string };
    const objs = ((JSON.parse(r.text) as Record<string, Record<string, Obj>[]>)[`${type}s`] ?? []).map(
      (w) => w[type]!,
    );
    if (output === "json" || output === "yaml") print(objs);
    else
      for (const o of objs)
        process.stdout.write(
          output === "name" ? `${o.fq_name.join(":")}\n` : `${o.fq_name.join(":")}  ${o.uuid}\n`,
        );
    return 0;
  }
  if (output === "name") throw new UsageError("-o name applies to contrail list");
  // a failed lookup is a usage error when the type is wrong, kubectl's NotFound (exit 1) when the object is
  const lookupFailed = async (r: { status: number; text: string }) => {
    if (await unknownType())
      throw new UsageError(`unknown config object type "${type}" (e.g. virtual-network, project)`);
    if (r.status === 404) throw new CommandError(`${type} ${ident} not found`);
    throw new CommandError(`config API: ${r.status} ${r.text}`);
  };
  let uuid = ident!;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-/.test(uuid)) {
    const r = await call("/fqname-to-id", { type, fq_name: ident!.split(":") });
    if (r.status !== 200) return lookupFailed(r);
    uuid = (JSON.parse(r.text) as { uuid: string }).uuid;
  }
  const r = await call(`/${type}/${uuid}`);
  if (r.status !== 200) return lookupFailed(r);
  print(JSON.parse(r.text));
  return 0;
}

/** `ctb ui [--open]`: the running environment's web view (web/): its URL, and with --open a browser on it. */
export async function ui(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, { open: { type: "boolean", default: false } });
  if (positionals.length) throw new UsageError("ui takes no arguments");
  const s = requireSession();
  if (!alive(s.pid)) throw new CommandError(`the environment (pid ${s.pid}) is gone; run \`ctb down\``);
  if (!s.uiUrl)
    throw new CommandError("this environment serves no web view (it was started by an older ctb)");
  process.stdout.write(`${s.uiUrl}\n`);
  if (values.open) {
    // the desktop's own opener; a machine without one (a server) just has the URL printed
    const opener = process.platform === "darwin" ? "open" : "xdg-open";
    const r = spawnSync(opener, [s.uiUrl], { stdio: "ignore" });
    if (r.error || r.status !== 0)
      throw new CommandError(
        `cannot open a browser here (${opener} ${r.error ? "is missing" : "failed"}): open ${s.uiUrl}`,
      );
  }
  return 0;
}
