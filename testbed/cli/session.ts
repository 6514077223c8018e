/**
 * The persistent environment behind `ctb up` / `ctb down` and the inspection verbs. `ctb up` starts a
 * detached `ctb __serve` process (the embedded cluster and simulated datapath live in-process there), which
 * runs the scenario, then serves a small control API on 127.0.0.1; its address and pid go to
 * `.ctb/session.json`. `get`, `describe`, `exec` and `trace` ask it; `down` stops it by its pid and removes any
 * namespaces and processes a crashed run left behind.
 *
 * Example: `ctb up scenarios/section-9.yaml && ctb get pods -A -o wide && ctb down`.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { ProbeProto, ProbeResult } from "../runner/testbed";
import { envFlags, UsageError } from "./flags";

const WORK_DIR = resolve(process.env.CTB_WORKDIR ?? ".ctb");
const SESSION_FILE = `${WORK_DIR}/session.json`;

interface SessionState {
  pid: number;
  controlUrl: string;
  vncUrl: string;
  scenario: string;
  datapath: "sim" | "netns";
  cluster: string;
  ready: boolean;
  failed?: string;
}

function readSession(): SessionState | undefined {
  if (!existsSync(SESSION_FILE)) return undefined;
  try {
    return JSON.parse(readFileSync(SESSION_FILE, "utf8")) as SessionState;
  } catch {
    return undefined;
  }
}

function requireSession(): SessionState {
  const s = readSession();
  if (!s?.ready) throw new UsageError("no environment is up here: run `ctb up <scenario.yaml>` first");
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

async function control<T>(s: SessionState, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${s.controlUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? undefined : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((e) => {
    throw new UsageError(`the environment (pid ${s.pid}) does not answer at ${s.controlUrl}: ${(e as Error).message}; run \`ctb down\``);
  });
  const text = await res.text();
  if (!res.ok) throw new UsageError(text);
  return (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T;
}

// ---- up / serve / down -------------------------------------------------------------------------------------

export async function up(args: string[]): Promise<number> {
  const { positionals } = envFlags(args);
  if (positionals.length !== 1) throw new UsageError("up takes exactly one scenario file");
  const { loadScenario } = await import("../scenario/load");
  loadScenario(positionals[0]!); // fail fast on a broken file
  const existing = readSession();
  if (existing && alive(existing.pid)) {
    throw new UsageError(`an environment is already up (pid ${existing.pid}, ${existing.scenario}); run \`ctb down\` first`);
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
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    const s = readSession();
    if (s?.ready || s?.failed) break;
    if (child.exitCode !== null || !alive(child.pid!)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const s = readSession();
  process.stdout.write(readFileSync(logFile, "utf8"));
  if (!s?.ready) {
    process.stderr.write(`ctb: the environment did not come up (log: ${logFile})\n`);
    return 1;
  }
  process.stdout.write(`\nEnvironment up (pid ${s.pid}). Try: ctb get pods -A -o wide; ctb down to stop.\n`);
  return 0;
}

export async function serve(args: string[]): Promise<number> {
  const { options, positionals } = envFlags(args);
  const { default: express } = await import("express");
  const { loadScenario } = await import("../scenario/load");
  const { startTestbed } = await import("../env");
  const { describeNamespace, podsTable, runScenario } = await import("../runner/run");
  const { summaryText, textReporter } = await import("../runner/report");
  const scenario = loadScenario(positionals[0]!);
  const tb = await startTestbed(scenario, { ...options, workDir: WORK_DIR, log: (m) => process.stdout.write(`${m}\n`) });
  let shuttingDown = false;
  const shutdown = async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    await tb.close();
    rmSync(SESSION_FILE, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  const report = await runScenario(scenario, tb, { onEvent: textReporter(process.stdout) });
  process.stdout.write(`${summaryText([report])}\n`);

  const app = express();
  app.use(express.json());
  app.get("/pods", async (req, res) => {
    res.type("text").send(await podsTable(tb, (req.query.namespace as string) || undefined));
  });
  app.get("/namespace/:name", async (req, res) => {
    try {
      res.type("text").send(await describeNamespace(tb, req.params.name));
    } catch (e) {
      res.status(404).type("text").send((e as Error).message);
    }
  });
  app.post("/probe", async (req, res) => {
    try {
      res.json(await tb.probe(req.body));
    } catch (e) {
      res.status(400).type("text").send((e as Error).message);
    }
  });
  app.post("/resolve", async (req, res) => {
    try {
      const [namespace, name] = String(req.body.pod).split("/");
      const pod = await tb.kube.get("pods", name!, namespace);
      const endpoint = `${namespace}/${name}`;
      // netns: the pod's network namespace, once the CNI plumbed it (a pod still ContainerCreating has none)
      const netns = tb.netnsEndpoint(endpoint)?.netns;
      if (tb.datapath === "netns" && !netns) throw new Error(`pod ${endpoint} has no network namespace (phase ${pod.status?.phase ?? "unknown"})`);
      res.json({ ip: pod.status?.podIP, node: pod.spec?.nodeName, endpoint, netns });
    } catch (e) {
      res.status(404).type("text").send((e as Error).message);
    }
  });
  app.post("/shutdown", (_req, res) => {
    res.json({ ok: true });
    void shutdown();
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const state: SessionState = {
    pid: process.pid,
    controlUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    vncUrl: tb.vncUrl,
    scenario: scenario.file,
    datapath: options.datapath,
    cluster: options.cluster.kind,
    ready: true,
  };
  writeFileSync(SESSION_FILE, JSON.stringify(state, null, 2));
  await new Promise(() => {}); // serve until `ctb down`
  return 0;
}

export async function down(args: string[] = []): Promise<number> {
  const all = args.includes("--all");
  if (args.some((a) => a !== "--all")) throw new UsageError("down takes no arguments but --all");
  const s = readSession();
  const done: string[] = [];
  if (s && alive(s.pid)) {
    await fetch(`${s.controlUrl}/shutdown`, { method: "POST", signal: AbortSignal.timeout(10_000) }).catch(() => {});
    const deadline = Date.now() + 15_000;
    while (alive(s.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(s.pid)) {
      process.kill(s.pid, "SIGKILL"); // our own server, found by the pid it recorded
      done.push(`killed environment process ${s.pid}`);
    } else done.push(`stopped environment process ${s.pid}`);
  }
  rmSync(SESSION_FILE, { force: true });
  done.push(...(await cleanupLeftovers(all, s?.pid)));
  process.stdout.write(done.length ? `${done.join("\n")}\n` : "nothing was up\n");
  return 0;
}

/**
 * Namespaces and processes a crashed run may have left. A testbed names its namespaces `ctb-<pid in base 36>-…`
 * after the process that owns them: those of a process that is gone (or of the session just stopped) are
 * removed with their recorded processes; those of a live testbed (another run, a test) are left alone unless
 * `--all` is given.
 */
async function cleanupLeftovers(all: boolean, sessionPid?: number): Promise<string[]> {
  const out: string[] = [];
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  const names = (list.stdout ?? "")
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith("ctb-"));
  const prefixes = new Set<string>();
  const unowned: string[] = [];
  for (const name of names) {
    const m = name.match(/^ctb-([0-9a-z]+)-/);
    const pid = m ? Number.parseInt(m[1]!, 36) : Number.NaN;
    if (all || (m && (pid === sessionPid || !alive(pid)))) prefixes.add(m && !all ? `ctb-${m[1]}-` : "ctb-");
    else if (!m) unowned.push(name);
  }
  const { cleanupAll } = await import("../../fake-vrouter/netns/index");
  for (const prefix of prefixes) {
    try {
      const left = await cleanupAll(prefix);
      if (left.processes) out.push(`stopped ${left.processes} leftover process(es) of ${prefix}*`);
      out.push(...left.namespaces.map((n) => `removed network namespace ${n}`));
    } catch (e) {
      out.push(`netns cleanup of ${prefix}*: ${(e as Error).message}`);
    }
  }
  if (unowned.length) out.push(`left alone (owner unknown; \`ctb down --all\` removes them): ${unowned.join(", ")}`);
  try {
    const { stopFromPidFiles } = await import("../cluster/local/index");
    for (const pid of await stopFromPidFiles(WORK_DIR)) out.push(`stopped control-plane process ${pid}`);
  } catch (e) {
    out.push(`control plane cleanup: ${(e as Error).message}`);
  }
  return out;
}

// ---- inspection ----------------------------------------------------------------------------------------------

export async function getPods(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      namespace: { type: "string", short: "n" },
      "all-namespaces": { type: "boolean", short: "A", default: false },
      output: { type: "string", short: "o" },
    },
  });
  if (positionals[0] !== "pods" && positionals[0] !== "pod" && positionals[0] !== "po") {
    throw new UsageError("get supports: get pods [-n <ns>|-A] [-o wide]");
  }
  const s = requireSession();
  const ns = values["all-namespaces"] ? "" : (values.namespace ?? "default");
  const table = await control<string>(s, `/pods?namespace=${encodeURIComponent(ns)}`);
  // without -o wide kubectl leaves out IP and NODE
  const wide = values.output === "wide";
  process.stdout.write(`${wide ? table : narrow(table)}\n`);
  return 0;
}

function narrow(table: string): string {
  const lines = table.split("\n");
  const cut = lines[0]!.indexOf("IP ");
  return cut < 0 ? table : lines.map((l) => l.slice(0, cut).trimEnd()).join("\n");
}

export async function describe(args: string[]): Promise<number> {
  const [kind, name] = args;
  if (!["namespace", "namespaces", "ns"].includes(kind ?? "") || !name) throw new UsageError("describe supports: describe namespace <name>");
  process.stdout.write(`${(await control<string>(requireSession(), `/namespace/${encodeURIComponent(name)}`)).split("\n").slice(1).join("\n")}\n`);
  return 0;
}

export async function exec(args: string[]): Promise<number> {
  const sep = args.indexOf("--");
  const target = args[0];
  const cmd = sep >= 0 ? args.slice(sep + 1) : args.slice(1);
  if (!target?.includes("/") || cmd.length === 0) throw new UsageError("exec <ns>/<pod> -- <command…>");
  const s = requireSession();
  if (s.datapath === "netns") {
    const { netns } = await control<{ netns: string }>(s, "/resolve", { pod: target });
    if (!netns?.startsWith("ctb-")) throw new UsageError(`the environment gave no testbed namespace for ${target}`);
    // the real program, inside the pod's network namespace (like kubectl exec, minus the other namespaces)
    const r = spawnSync("ip", ["netns", "exec", netns, ...cmd], { stdio: "inherit" });
    if (r.error) throw new UsageError(`cannot run ${cmd[0]} in ${netns}: ${r.error.message}`);
    return r.status ?? 1;
  }
  // simulated datapath: the pod has no processes; ping is answered by sending probes through the engine
  const { values, positionals } = parseArgs({
    args: cmd.slice(1),
    allowPositionals: true,
    options: { count: { type: "string", short: "c" }, W: { type: "string" }, i: { type: "string" } },
  });
  if (cmd[0] !== "ping" || positionals.length !== 1) {
    throw new UsageError(`on the simulated datapath pods run no programs; exec supports: ping [-c N] <ip> (got "${cmd.join(" ")}")`);
  }
  const ip = positionals[0]!;
  const count = Number(values.count ?? 4);
  const r = await control<ProbeResult>(s, "/probe", { from: target, toIp: ip, proto: "icmp", count });
  process.stdout.write(`PING ${ip} (${ip}): 56 data bytes\n`);
  for (let i = 0; i < r.received; i++) process.stdout.write(`64 bytes from ${ip}: icmp_seq=${i} ttl=${r.replyTtl ?? 64}\n`);
  const loss = Math.round(((r.sent - r.received) / Math.max(1, r.sent)) * 100);
  process.stdout.write(`--- ${ip} ping statistics ---\n${r.sent} packets transmitted, ${r.received} packets received, ${loss}% packet loss\n`);
  return r.received > 0 ? 0 : 1;
}

export async function trace(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { proto: { type: "string", default: "icmp" }, port: { type: "string" } },
  });
  if (positionals.length !== 2) throw new UsageError("trace <ns>/<pod> <ip|ns/pod> [--proto icmp|tcp|udp|sctp] [--port N]");
  const s = requireSession();
  let to = positionals[1]!;
  if (to.includes("/")) to = (await control<{ ip: string }>(s, "/resolve", { pod: to })).ip;
  const proto = values.proto as ProbeProto;
  if (!["icmp", "tcp", "udp", "sctp"].includes(proto)) throw new UsageError(`--proto must be icmp, tcp, udp or sctp`);
  if (proto !== "icmp" && !values.port) throw new UsageError(`--proto ${proto} needs --port`);
  const r = await control<ProbeResult>(s, "/probe", {
    from: positionals[0],
    toIp: to,
    proto,
    port: values.port ? Number(values.port) : undefined,
    count: 1,
  });
  process.stdout.write(`${positionals[0]} → ${to} ${proto}${values.port ? `/${values.port}` : ""}: ${r.received ? "delivered" : "DROPPED"}\n`);
  for (const line of r.trace) process.stdout.write(`  ${line}\n`);
  if (r.drop) process.stdout.write(`  drop: ${r.drop.reason} at ${r.drop.where}\n`);
  return 0;
}

export async function contrail(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { api: { type: "string" } } });
  const [op, type, ident] = positionals;
  const base = values.api ?? requireSession().vncUrl;
  if (op === "list" && type) {
    const res = await fetch(`${base}/${type}s?detail=true`);
    if (!res.ok) throw new UsageError(`config API: ${res.status} ${await res.text()}`);
    const objs = ((await res.json()) as Record<string, Record<string, any>[]>)[`${type}s`] ?? [];
    for (const w of objs) {
      const o = w[type]!;
      process.stdout.write(`${(o.fq_name as string[]).join(":")}  ${o.uuid}\n`);
    }
    return 0;
  }
  if (op === "get" && type && ident) {
    let uuid = ident;
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-/.test(ident)) {
      const r = await fetch(`${base}/fqname-to-id`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type, fq_name: ident.split(":") }),
      });
      if (!r.ok) throw new UsageError(`no ${type} ${ident}: ${r.status} ${await r.text()}`);
      uuid = ((await r.json()) as { uuid: string }).uuid;
    }
    const res = await fetch(`${base}/${type}/${uuid}`);
    if (!res.ok) throw new UsageError(`config API: ${res.status} ${await res.text()}`);
    process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
    return 0;
  }
  throw new UsageError("contrail list <type> | contrail get <type> <fq_name|uuid> [--api <url>]");
}
