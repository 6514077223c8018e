/**
 * The web view's HTTP edge: serves the built client (dist/web) and a read-only JSON API over a running
 * environment — the config API's objects (kept from its change stream), the topology, a pods × pods matrix
 * judged by the datapath and by Kubernetes, one packet's trace, a vrouter's tables and counters, the scenario's
 * report — and pushes changes as Server-Sent Events (`/api/events`: `config` when the config API moves,
 * `vrouter` when an agent recomputes a compute's tables or a probe makes flows).
 *
 * Read-only: only GETs, and nothing a page can ask changes the configuration (a trace sends one probe, as
 * `ctb trace` does). Bound to 127.0.0.1 unless told otherwise, and a request's Host header must be an address
 * or localhost (a page on another site cannot reach it through DNS rebinding). No secret reaches a page: the config
 * API's address carries the admin port's credentials and stays here, and the session's control token is never
 * given to this server at all.
 *
 * Example: `const web = await startWebServer({ tb, report: () => rep, scenario: "section-9", netpol });`
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import type { Server } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { resolve } from "node:path";
import express, { type Request, type Response } from "express";
import { ChangeStream } from "../../fake-contrail-api/watch-client";
import { kubernetesAllows, kubernetesVerdict } from "../../testbed/oracle/kubernetes";
import {
  clusterWorld,
  describeDecision,
  type MatrixContext,
  policyBehind,
} from "../../testbed/runner/matrix-check";
import { resolveSource, resolveTarget, type RunReport } from "../../testbed/runner/run";
import type { KubeObject } from "../../controller/kube/api";
import type { ProbeProto, Testbed } from "../../testbed/runner/testbed";
import type { VrouterView } from "../../fake-vrouter/tools/index";
import { ISOLATION_ANNOTATIONS } from "../../controller/translate/layout";
import type { WatchObject } from "../../fake-contrail-api/watch-client";
import { ConfigIndex, kubeOwner } from "./config-index";
import { topology } from "./topology";
import { traceStages, type TraceView } from "./trace-model";
import { vrouterPage } from "./vrouter-model";

/** What the web view reads from an environment: the runner's Testbed plus the vrouters' views. */
export interface WebTestbed extends Testbed {
  vrouters(): string[];
  vrouterView(node: string): Promise<VrouterView>;
  /** Called with a compute's name whenever its agent recomputed its tables or a probe made flows there. */
  onVrouterChange?(cb: (node: string, what: "tables" | "flows") => void): () => void;
}

export interface WebOptions {
  tb: WebTestbed;
  /** The scenario file and name and the controller's object model (r4, r5), shown in the header. */
  scenario: { file: string; name: string; model?: string };
  netpol: Pick<MatrixContext, "layout" | "clusterName" | "apsName">;
  /** The environment's own run (undefined while the scenario is still running). */
  report: () => RunReport | undefined;
  /** Where `ctb run` keeps its last report (`jsonReport`'s JSON), shown beside the environment's own run. */
  lastRunFile?: string;
  /** Listen address (default 127.0.0.1) and port (default: any free one). */
  host?: string;
  port?: number;
  /** The built client (default: dist/web beside the sources). */
  assetsDir?: string;
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_ASSETS = resolve(import.meta.dirname, "../../dist/web");

const PROTOS = new Set(["icmp", "tcp", "udp", "sctp"]);

class BadRequest extends Error {}

export async function startWebServer(o: WebOptions): Promise<WebServer> {
  const { tb } = o;
  const assets = o.assetsDir ?? DEFAULT_ASSETS;
  const idx = new ConfigIndex();
  const clients = new Set<Response>();
  const push = (event: string, data: unknown) => {
    const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of clients) c.write(msg);
  };
  // coalesced: a reconcile writes dozens of objects in a burst; one notice per burst is enough
  const pending = new Map<string, NodeJS.Timeout>();
  const later = (key: string, fn: () => void) => {
    if (pending.has(key)) return;
    pending.set(
      key,
      setTimeout(() => {
        pending.delete(key);
        fn();
      }, 50),
    );
  };
  const stream = new ChangeStream({
    apiUrl: tb.vncUrl,
    onEvent: (ev) => {
      idx.apply(ev);
      later("config", () => push("config", { seq: idx.seq }));
    },
  });
  stream.start();
  // the config API is the environment's own and already up: not synced in 30 s means it is not answering
  let timer: NodeJS.Timeout | undefined;
  const synced = await Promise.race([
    stream.whenSynced().then(() => true),
    new Promise<false>((r) => {
      timer = setTimeout(() => r(false), 30_000);
    }),
  ]);
  clearTimeout(timer);
  if (!synced) {
    await stream.stop();
    throw new Error("the web view could not read the config API's change stream (/watch) in 30 s");
  }
  // a matrix is kept until the config or a vrouter's tables change (coming back from a trace redraws at once)
  let generation = 0;
  let lastMatrix: { key: string; view: Promise<MatrixView> } | undefined;
  const offVrouter = tb.onVrouterChange?.((node, what) => {
    if (what === "tables") generation++; // flows do not change what the dry run decides
    later(`vr:${node}`, () => push("vrouter", { node }));
  });

  const app = express();
  app.disable("x-powered-by");
  let listenPort = 0;
  app.use((req, res, next) => {
    if (!hostAllowed(req.get("host") ?? "", listenPort))
      return void res
        .status(421)
        .type("text")
        .send("this server answers only under an address (127.0.0.1, an IP) or localhost, not a DNS name");
    res.set({
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "content-security-policy":
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    });
    next();
  });
  const api = (fn: (req: Request) => unknown) => async (req: Request, res: Response) => {
    try {
      const out = await fn(req);
      if (out === undefined) res.status(404).json({ error: `nothing at ${req.path}` });
      else res.json(out);
    } catch (e) {
      res.status(e instanceof BadRequest ? 400 : 500).json({ error: (e as Error).message });
    }
  };
  const q = (req: Request, name: string) => {
    const v = req.query[name];
    return typeof v === "string" && v !== "" ? v : undefined;
  };
  const protoPort = (req: Request) => {
    const proto = (q(req, "proto") ?? "icmp") as ProbeProto;
    if (!PROTOS.has(proto)) throw new BadRequest(`proto must be icmp, tcp, udp or sctp, not "${proto}"`);
    const p = q(req, "port");
    const port = p === undefined ? undefined : Number(p);
    if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
      throw new BadRequest(`port must be 1-65535, not "${p}"`);
    if (proto !== "icmp" && port === undefined) throw new BadRequest(`${proto} needs a port`);
    return { proto, port: proto === "icmp" ? undefined : port };
  };

  app.get(
    "/api/summary",
    api(() => ({
      scenario: o.scenario,
      datapath: tb.datapath,
      layout: o.netpol.layout,
      vrouters: tb.vrouters(),
      objects: idx.size,
      seq: idx.seq,
      reportReady: o.report() !== undefined,
    })),
  );
  app.get(
    "/api/config/types",
    api(() => ({ types: idx.types(), projects: idx.projects() })),
  );
  app.get(
    "/api/config/objects",
    api((req) => idx.list(q(req, "type"), q(req, "project"))),
  );
  app.get(
    "/api/config/object/:uuid",
    api((req) => idx.detail(String(req.params.uuid))),
  );
  app.get(
    "/api/config/search",
    api((req) => idx.search(q(req, "q") ?? "")),
  );
  app.get(
    "/api/topology",
    api(async () => {
      const [pods, services, slices, namespaces] = await Promise.all([
        tb.kube.list("pods"),
        tb.kube.list("services"),
        tb.kube.list("endpointslices"),
        tb.kube.list("namespaces"),
      ]);
      return topology(idx, {
        pods: pods.items,
        services: services.items,
        slices: slices.items,
        namespaces: namespaces.items,
      });
    }),
  );
  app.get(
    "/api/matrix",
    api(async (req) => {
      const { proto, port } = protoPort(req);
      const ns = q(req, "namespaces")?.split(",");
      const pods = await tb.kube.list("pods");
      const key = JSON.stringify([idx.seq, generation, proto, port, ns, pods.resourceVersion]);
      // a large matrix takes seconds: the page shows how far it got (pushed, like every change)
      const progress = (done: number, total: number) => push("progress", { what: "matrix", done, total });
      if (lastMatrix?.key !== key) lastMatrix = { key, view: matrix(tb, proto, port, ns, progress) };
      const view = lastMatrix.view;
      view.catch(() => {
        if (lastMatrix?.view === view) lastMatrix = undefined;
      });
      return view;
    }),
  );
  app.get(
    "/api/trace",
    api(async (req) => {
      const { proto, port } = protoPort(req);
      const from = q(req, "from");
      const to = q(req, "to");
      if (!from || !to) throw new BadRequest("a trace needs from and to (<namespace>/<pod>)");
      return trace(tb, o.netpol, idx, from, to, proto, port);
    }),
  );
  app.get(
    "/api/vrouter/:node",
    api(async (req) => {
      const node = String(req.params.node);
      if (!tb.vrouters().includes(node)) return undefined;
      return vrouterPage(node, await tb.vrouterView(node));
    }),
  );
  app.get(
    "/api/report",
    api(() => {
      const r = o.report();
      return { ready: r !== undefined, ...(r ? { report: r } : {}), ...(lastRun() ?? {}) };
    }),
  );
  app.get("/api/events", (req, res) => {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.write(`: connected\n\nevent: hello\ndata: ${JSON.stringify({ seq: idx.seq })}\n\n`);
    clients.add(res);
    req.on("close", () => clients.delete(res));
  });
  app.get("/api/{*rest}", (_req, res) => void res.status(404).json({ error: "no such API" }));

  // the client: index.html for every page (the client routes on the hash), its script and stylesheet
  app.get(["/app.js", "/app.css"], (req, res) => {
    const file = resolve(assets, req.path.slice(1));
    if (!existsSync(file))
      return void res.status(503).type("text").send(`${file} is missing: run \`npm run build\``);
    res.type(req.path.endsWith(".js") ? "application/javascript" : "text/css").send(readFileSync(file));
  });
  app.get("/favicon.ico", (_req, res) => void res.status(204).end());
  app.get("/", (_req, res) => {
    const file = resolve(assets, "index.html");
    if (!existsSync(file))
      return void res
        .status(503)
        .type("text")
        .send(`the web view is not built (${file}): run \`npm run build\``);
    res.type("html").send(readFileSync(file));
  });

  /** The last `ctb run` in this work directory, and when it ended (its file's time). */
  const lastRun = () => {
    if (!o.lastRunFile || !existsSync(o.lastRunFile)) return undefined;
    try {
      const at = statSync(o.lastRunFile).mtime;
      const runs = (JSON.parse(readFileSync(o.lastRunFile, "utf8")) as { scenarios: RunReport[] }).scenarios;
      return { lastRun: { at: at.toISOString(), reports: runs } };
    } catch {
      return undefined; // being written, or not ours: the page shows the environment's run only
    }
  };

  const host = o.host ?? "127.0.0.1";
  const server: Server = app.listen(o.port ?? 0, host);
  try {
    await new Promise<void>((ok, fail) => {
      server.once("listening", () => ok());
      server.once("error", (e) =>
        fail(new Error(`the web view cannot listen on ${host}:${o.port ?? 0}: ${e.message}`)),
      );
    });
  } catch (e) {
    offVrouter?.();
    await stream.stop();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  listenPort = port;
  // SSE keeps connections open: pings keep proxies from cutting them; close() ends them
  const ping = setInterval(() => {
    for (const c of clients) c.write(": ping\n\n");
  }, 15_000);
  ping.unref();
  return {
    url: `http://${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : shown}:${port}/`,
    async close() {
      clearInterval(ping);
      for (const t of pending.values()) clearTimeout(t);
      offVrouter?.();
      for (const c of clients) c.end();
      await stream.stop();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * DNS rebinding: a page of another site can make its own name resolve to this machine, and its requests then
 * carry that name in Host. Addresses and localhost are what a user types to reach this server; a name is refused.
 */
export function hostAllowed(hostHeader: string, port: number): boolean {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(hostHeader);
  if (!m || Number(m[3]) !== port) return false;
  const name = (m[1] ?? m[2])!;
  return name === "localhost" || isIP(name) !== 0;
}

/** Pods a matrix shows: every pod with an address outside kube-system (as a `kubernetes` matrix step probes). */
export interface MatrixView {
  proto: string;
  port?: number;
  pods: { name: string; node?: string; ip: string }[];
  /**
   * One string per source row, one character per target: `.` both allow, `x` both deny, `D` Contrail denies
   * what Kubernetes allows, `A` Contrail allows what Kubernetes denies, ` ` the pod itself.
   */
  rows: string[];
  divergent: number;
}

const YIELD_EVERY = 20_000;
/** Past this many pods a matrix is millions of cells: the page asks for some namespaces instead. */
export const MATRIX_LIMIT = 2000;

async function matrix(
  tb: Testbed,
  proto: ProbeProto,
  port: number | undefined,
  namespaces: string[] | undefined,
  progress: (done: number, total: number) => void,
) {
  const world = await clusterWorld(tb);
  const pods = world.pods
    .filter(
      (p) =>
        p.status?.podIP &&
        p.metadata.namespace !== "kube-system" &&
        !p.spec?.hostNetwork &&
        (!namespaces || namespaces.includes(p.metadata.namespace!)),
    )
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    );
  if (pods.length > MATRIX_LIMIT)
    throw new BadRequest(
      `${pods.length} pods is more than the page draws (${MATRIX_LIMIT}): choose some namespaces (namespaces=a,b)`,
    );
  const rows: string[] = [];
  let divergent = 0;
  let n = 0;
  for (const src of pods) {
    const from = `${src.metadata.namespace}/${src.metadata.name}`;
    let row = "";
    for (const dst of pods) {
      if (dst === src) {
        row += " ";
        continue;
      }
      if (++n % YIELD_EVERY === 0) {
        progress(n, pods.length * (pods.length - 1));
        await new Promise((r) => setImmediate(r));
      }
      const req = { from, toIp: dst.status!.podIP!, proto, ...(port !== undefined ? { port } : {}) };
      const contrail = tb.reach ? tb.reach(req) : (await tb.probe({ ...req, count: 1 })).received > 0;
      const k8s = kubernetesAllows(world, {
        from: { pod: src, ip: src.status!.podIP! },
        to: { pod: dst, ip: dst.status!.podIP! },
        proto,
        ...(port !== undefined ? { port } : {}),
      });
      if (contrail !== k8s) divergent++;
      row += contrail ? (k8s ? "." : "A") : k8s ? "D" : "x";
    }
    rows.push(row);
  }
  const view: MatrixView = {
    proto,
    ...(port !== undefined ? { port } : {}),
    pods: pods.map((p) => ({
      name: `${p.metadata.namespace}/${p.metadata.name}`,
      ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
      ip: p.status!.podIP!,
    })),
    rows,
    divergent,
  };
  return view;
}

async function trace(
  tb: Testbed,
  netpol: WebOptions["netpol"],
  idx: ConfigIndex,
  from: string,
  to: string,
  proto: ProbeProto,
  port: number | undefined,
): Promise<TraceView> {
  const world = await clusterWorld(tb);
  // the endpoints as `ctb trace` and a scenario's reach step take them: a pod (`<ns>/<prefix>*` picks the
  // first match), and for the destination also `service:<ns>/<name>`, `dns:<name>` or an address
  const isPod = (s: string) => /^[a-z0-9][^/:]*\/[^/:]+$/.test(s);
  if (!isPod(from)) throw new BadRequest(`a trace starts at a pod (<namespace>/<pod>), not "${from}"`);
  const fromPod = await resolveSource(tb, from).catch((e: Error) => {
    throw new BadRequest(e.message);
  });
  from = fromPod.endpoint;
  const byName = (name: string) =>
    world.pods.find((p) => `${p.metadata.namespace}/${p.metadata.name}` === name);
  const src = byName(from)!;
  let dst: KubeObject | undefined;
  let toIp: string;
  if (isPod(to)) {
    to = (
      await resolveSource(tb, to).catch((e: Error) => {
        throw new BadRequest(e.message);
      })
    ).endpoint;
    dst = byName(to);
    if (!dst?.status?.podIP)
      throw new BadRequest(`pod ${to} has no address (phase ${dst?.status?.phase ?? "?"})`);
    toIp = dst.status.podIP;
  } else {
    const target = await resolveTarget(tb, to, port, from).catch((e: Error) => {
      throw new BadRequest(e.message.split("\n")[0]!);
    });
    toIp = target.ip;
    port = target.port ?? port;
    // a Service's address is judged by Kubernetes at the backend it reaches; an address of a pod as that pod
    dst = world.pods.find((p) => p.status?.podIP === toIp);
  }
  const r = await tb.probe({ from, toIp, proto, ...(port !== undefined ? { port } : {}), count: 1 });
  const stages = traceStages(r);
  for (const s of stages)
    if (s.contrail) {
      const obj = idx.byFqName(s.contrail.type, s.contrail.fqName);
      if (obj) s.contrail.uuid = obj.uuid;
    }
  const conn = {
    from: { pod: src, ip: src.status?.podIP ?? "" },
    to: { ...(dst ? { pod: dst } : {}), ip: toIp },
    proto,
    ...(port !== undefined ? { port } : {}),
  };
  const k = kubernetesVerdict(world, conn);
  const deciding = stages.find((s) => s.deciding);
  const fw = describeDecision(r, world, netpol);
  const decidedBy =
    r.received > 0
      ? fw
      : deciding
        ? `${deciding.stage} at ${deciding.where}: ${deciding.text}${deciding.contrail ? ` (${deciding.contrail.type} ${deciding.contrail.fqName})` : ""}`
        : fw;
  let behind = deciding ? await kubeBehind(tb, idx, deciding, dst) : undefined;
  // a firewall decided (the R5 layouts): its rule, and the NetworkPolicy the rule stands for
  const decisive = (r.firewall ?? []).find((d) => d.action === "deny") ?? r.firewall?.at(-1);
  let decidingObject = deciding?.contrail;
  if (decisive?.rule && (!deciding || deciding.stage === "firewall" || !decidingObject)) {
    const rule = idx.byFqName("firewall-rule", decisive.rule);
    decidingObject = { type: "firewall-rule", fqName: decisive.rule, ...(rule ? { uuid: rule.uuid } : {}) };
    const np = policyBehind(decisive, world, netpol);
    behind = np ? { kube: np } : behind;
  }
  return {
    from,
    to,
    toIp,
    proto,
    ...(port !== undefined ? { port } : {}),
    ...(decidingObject ? { decidingObject } : {}),
    ...(behind?.kube ? { kubernetesObject: behind.kube } : {}),
    ...(behind?.why ? { why: behind.why } : {}),
    contrail: r.received > 0 ? "allow" : "deny",
    // Kubernetes judges pod to pod; a Service's address or a host has no NetworkPolicy verdict of its own
    ...(dst ? { kubernetes: k.allowed ? "allow" : "deny", kubernetesReason: k.reason } : {}),
    decidedBy,
    ...(r.drop ? { drop: r.drop } : {}),
    stages,
    firewall: r.firewall ?? [],
  };
}

const refUuid = (o: WatchObject | undefined, field: string) =>
  ((o?.[field] as { uuid?: string }[] | undefined) ?? [])[0]?.uuid;

/**
 * The Kubernetes object behind a deciding stage: the one its Contrail object names; for a missing route, the
 * destination's network and the namespace it stands for (an isolated namespace's network is reached only
 * where a network-policy joins it to the source's).
 */
async function kubeBehind(
  tb: Testbed,
  idx: ConfigIndex,
  stage: TraceView["stages"][number],
  dst: import("../../controller/kube/api").KubeObject | undefined,
): Promise<{ kube?: string; why?: string } | undefined> {
  const named = stage.kube ? `${stage.kube.kind} ${stage.kube.name}` : undefined;
  if (stage.stage !== "route" || stage.contrail?.type !== "routing-instance" || !dst)
    return named ? { kube: named } : undefined;
  const ri = stage.contrail.uuid ? idx.get(stage.contrail.uuid)?.obj : undefined;
  const srcVn = ri?.parent_uuid ? idx.get(ri.parent_uuid)?.obj : undefined;
  const vmi = idx.all("virtual-machine-interface").find((v) => {
    const o = kubeOwner(v);
    return o?.kind === "Pod" && o.namespace === dst.metadata.namespace && o.name === dst.metadata.name;
  });
  const dstVnUuid = refUuid(vmi, "virtual_network_refs");
  const dstVn = dstVnUuid ? idx.get(dstVnUuid)?.obj : undefined;
  if (!srcVn || !dstVn || srcVn.uuid === dstVn.uuid) return named ? { kube: named } : undefined;
  const owner = kubeOwner(dstVn);
  let kube = owner ? `${owner.kind} ${owner.namespace ? `${owner.namespace}/` : ""}${owner.name}` : undefined;
  if (owner?.kind === "Namespace") {
    const ns = await tb.kube.get("namespaces", owner.name).catch(() => undefined);
    const key = ISOLATION_ANNOTATIONS.find(
      (k) => String(ns?.metadata.annotations?.[k] ?? "").toLowerCase() === "true",
    );
    if (key) kube += ` (isolated: ${key}: "true")`;
  }
  return {
    ...(kube ? { kube } : {}),
    why: `the destination is on virtual-network ${dstVn.fq_name.join(":")}${kube ? ` (${kube})` : ""}, and no network-policy joins it to the source's virtual-network ${srcVn.fq_name.join(":")}, so the source's VRF has no route to it`,
  };
}
