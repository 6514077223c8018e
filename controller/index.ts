/**
 * The controller (contrail-kube-manager equivalent): informers over a KubeApi keep the caches; each change
 * names the units it affects (`affected.ts`, pure) and they go into the work queue (`queue.ts`: ranks,
 * dependencies, retries with backoff, idle); a worker pool translates each unit from the caches and
 * reconciles it through the VNC client (`reconcile.ts`); a periodic resync rescans the config API so the
 * result is level-triggered. Structured JSON logs; prom-client metrics and a status endpoint (`/status`,
 * `/metrics`) on 127.0.0.1 (`status.ts`). This file only wires those together.
 *
 * Example:
 *   const c = await startController({ kube, vncUrl: "http://127.0.0.1:8082", config: defaultConfig("r4") });
 *   await c.waitIdle();   // every Kubernetes object applied
 *   await c.stop();
 */
import { affectedUnits, NO_SELECTORS, type SelectorState, selectorUnits, TagUsers } from "./affected";
import type { ControllerConfig } from "./config";
import type { KubeApi, KubeObject, ResourceName } from "./kube/api";
import { type ChangeType, Informer } from "./kube/informer";
import { type Outcome, WorkQueue } from "./queue";
import { describeUnit, Reconciler, UnitBlocked, UnitFailed } from "./reconcile";
import { type ControllerStatus, controllerMetrics, serveStatus } from "./status";
import {
  type KubeSnapshot,
  Layout,
  LINK_LOCAL_LIST,
  PORT_POOL_LIST,
  portPoolOwner,
  linkLocalOwner,
  memberUids,
  parseUnitKey,
  putObject,
  ServiceMembers,
  translateUnit,
  UNIT_RANK,
  unitDeps,
  unitKey,
  unitKeys,
} from "./translate";
import { type RbacSync, startRbacSync } from "./rbac-sync";
import { BadRequest, VncClient } from "./vnc/client";
import { type KeystoneCredentials, KeystoneClient } from "./vnc/keystone";

export type LogLevel = "debug" | "info" | "warn" | "error";
export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** JSON lines on a stream (stderr by default), one object per event: `{ts, level, component, msg, ...}`. */
export function jsonLogger(
  write: (line: string) => void = (l) => process.stderr.write(l),
  minLevel: LogLevel = "info",
): Logger {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  return {
    log(level, msg, fields) {
      if (order.indexOf(level) < order.indexOf(minLevel)) return;
      write(
        `${JSON.stringify({ ts: new Date().toISOString(), level, component: "controller", msg, ...fields })}\n`,
      );
    },
  };
}

export type { ControllerStatus } from "./status";

export interface ControllerHandle {
  stop(): Promise<void>;
  isIdle(): boolean;
  waitIdle(): Promise<void>;
  status(): ControllerStatus;
  /** `http://127.0.0.1:<port>` when a status port was requested. */
  statusUrl?: string;
  /** Run a full resync now (rescan the config API, re-apply every unit). */
  resync(): Promise<void>;
  /**
   * Current warnings, each once: Kubernetes input the translation could not follow as asked, what applying left
   * out (a floating IP from a pool that does not exist), units blocked on what only someone else can create.
   */
  warnings(): string[];
  /**
   * Units blocked on something no unit of this cluster will create (a pod's annotated network that does not
   * exist) → why. They are retried in the background; nothing should wait for them.
   */
  blocked(): ReadonlyMap<string, string>;
  /**
   * Try again now the units of `blocked()` and those whose last apply left an optional object out (a floating
   * IP from a pool that did not exist), rather than at their next slow retry or resync: someone may have
   * created what they wait for, and the controller does not watch the config API. The testbed does it when it
   * settles.
   */
  retryBlocked(): void;
}

export interface ControllerOptions {
  kube: KubeApi;
  vncUrl: string;
  config: ControllerConfig;
  log?: Logger;
  statusPort?: number;
  /** Units reconciled in parallel (default 16). */
  concurrency?: number;
  /**
   * kube-manager's `[AUTH]` keystone user, when the config API checks tokens (aaa_mode cloud-admin or rbac):
   * Kubernetes RBAC is then mapped to Contrail roles (rbac-sync.ts). Absent: no mapping (no-auth has no roles).
   */
  keystone?: KeystoneCredentials;
}

const WATCHED: ResourceName[] = [
  "namespaces",
  "nodes",
  "pods",
  "services",
  "endpointslices",
  "endpoints",
  "networkpolicies",
  "ingresses",
  "networkattachmentdefinitions",
];
/** Largest burst of pending units for which pod addresses are allocated strictly in creation order. */
const ORDERED_BURST = 64;

export async function startController(opts: ControllerOptions): Promise<ControllerHandle> {
  const log = opts.log ?? jsonLogger();
  const cfg = opts.config;
  const layout = new Layout(cfg);
  const concurrency = opts.concurrency ?? 16;

  const metrics = controllerMetrics({ depth: () => queue.depth(), failing: () => queue.failing() });
  const vnc = new VncClient(opts.vncUrl, { onCall: metrics.onCall, keystone: opts.keystone });
  const reconciler = new Reconciler(vnc, cfg.clusterName, {
    warn: (m) => log.log("warn", m),
    owner: cfg.clusterOwner,
    // addresses follow creation order for bursts a person would type; big bursts allocate in parallel
    orderAllocations: () => queue.depth() + queue.inFlight() <= ORDERED_BURST,
    // the kubernetes Service's link-local services in default-global-vrouter-config
    sharedLists: [
      {
        ...LINK_LOCAL_LIST,
        holder: [...LINK_LOCAL_LIST.holder],
        ownerOf: (e) => linkLocalOwner(layout, e, snap),
      },
      // r5: the fabric-SNAT port translation pools
      { ...PORT_POOL_LIST, holder: [...PORT_POOL_LIST.holder], ownerOf: (e) => portPoolOwner(layout, e) },
    ],
  });

  // ---- caches ----
  const snap: KubeSnapshot = {
    namespaces: new Map(),
    pods: new Map(),
    services: new Map(),
    endpointslices: new Map(),
    endpoints: new Map(),
    nodes: new Map(),
    networkpolicies: new Map(),
    ingresses: new Map(),
    networkattachmentdefinitions: new Map(),
  };
  const podsByUid = new Map<string, KubeObject>();
  /** pod uid → the Services it is a member of (its VMI's `<c>-svc` tag), kept per Service: see service-tags.ts */
  const members = new ServiceMembers(memberUids);
  /** which pods NetworkPolicies select (r5 per-pod layout) or put in security groups (r4): see affected.ts */
  let selectors: SelectorState = NO_SELECTORS;
  const tagUsers = new TagUsers();

  const lastWarnings = new Map<string, string>();
  /** units blocked on something no unit of this cluster creates → why */
  const blockedExternally = new Map<string, string>();
  /** units whose last apply left an optional object out (its pool missing, its address refused) */
  const leftOut = new Set<string>();
  let lastError: string | undefined;
  let started = false;
  let stopped = false;
  let resyncPending = false;
  let resyncRunning = false;

  const queue = new WorkQueue({
    rank: (k) => UNIT_RANK[parseUnitKey(k).kind],
    waitsFor: (k) => [...unitDeps(k, snap, layout), ...deletionDeps(k)],
    wake: () => pump(),
    holds: () => !started || resyncPending || resyncRunning,
  });
  let rbac: RbacSync | undefined;
  const isIdle = () => queue.isIdle() && (rbac?.isIdle() ?? true);

  /** A deleted namespace's unit waits for the units of its pods and services still at work. */
  function deletionDeps(k: string): string[] {
    const u = parseUnitKey(k);
    if (u.kind !== "Namespace" || snap.namespaces.has(u.name!)) return [];
    const prefix = [`Pod/${u.name}/`, `Service/${u.name}/`, `Ingress/${u.name}/`];
    return reconciler.ownedUnits().filter((o) => prefix.some((p) => o.startsWith(p)));
  }

  function pump() {
    if (!started || stopped) return;
    if (resyncPending) {
      if (queue.inFlight() === 0 && !resyncRunning) void runResync();
      return;
    }
    while (queue.inFlight() < concurrency) {
      const k = queue.take();
      if (!k) break;
      void processUnit(k).finally(() => {
        pump();
        queue.notifyIdle();
      });
    }
    queue.notifyIdle();
  }

  async function processUnit(k: string) {
    const t0 = performance.now();
    // a translation that throws is a bug: it propagates, but the unit still leaves the queue
    let outcome: Outcome = { ok: false, message: "translation failed", blocked: false };
    try {
      const ctx = { podsByUid, involved: selectors.involved, members };
      // nested mode: a pod needs its VM's interface, which someone else makes: read the underlay afresh
      if (layout.nested && k.startsWith("Pod/")) await reconciler.refreshNested(layout.nestedUnderlay());
      const desired = translateUnit(k, snap, layout, reconciler.view, ctx);
      // the translation's warnings, then what applying it left out: each reported once, kept while they hold
      const report = (extra: string[]) => {
        const all = [...desired.warnings, ...extra];
        const w = all.join("\n");
        if (w === (lastWarnings.get(k) ?? "")) return;
        const before = new Set((lastWarnings.get(k) ?? "").split("\n"));
        for (const m of all) if (!before.has(m)) log.log("warn", m, { unit: k });
        if (w) lastWarnings.set(k, w);
        else lastWarnings.delete(k);
      };
      try {
        const { writes, deferred, warnings } = await reconciler.apply(desired);
        blockedExternally.delete(k);
        if (warnings?.length) leftOut.add(k);
        else leftOut.delete(k);
        report(warnings ?? []);
        if (writes) log.log("debug", "unit applied", { unit: k, writes });
        outcome = deferred ? { ok: true, writes, deferred } : { ok: true, writes };
        if (k.startsWith("Service/")) await publishLoadBalancerStatus(k);
        if (k.startsWith("Ingress/")) await publishIngressStatus(k);
      } catch (err) {
        const e = err as Error;
        // the config API refusing a write as asked (an address no subnet of the network can give, ...) is not
        // healed by retrying alone: like a block on what someone else creates, it is reported at once and
        // nothing waits for the unit
        const refused =
          e instanceof UnitFailed && e.errors.length > 0 && e.errors.every((x) => x instanceof BadRequest);
        const external = (e instanceof UnitBlocked && e.external) || refused;
        const why = refused ? `${describeUnit(k)}: the config API refuses it: ${e.message}` : e.message;
        // blocked on what only someone else can create: say so at once (in the warnings), and say what it waits for
        report(
          external
            ? [
                `${why}; ${refused ? "retried" : "waiting for it (retried"} in the background${refused ? "" : ")"}`,
              ]
            : [],
        );
        if (external) blockedExternally.set(k, why);
        else blockedExternally.delete(k);
        outcome = { ok: false, message: e.message, blocked: e instanceof UnitBlocked || refused };
      }
    } finally {
      metrics.latency.observe({ kind: parseUnitKey(k).kind }, (performance.now() - t0) / 1000);
      const f = queue.finish(k, outcome);
      if (f.recovered) log.log("info", "unit recovered", { unit: k });
      if (!outcome.ok) {
        const { message, blocked } = outcome;
        if (f.previousMessage !== message)
          log.log("warn", blocked ? message : `${k}: ${message}`, { unit: k, blocked });
        if (!blocked) lastError = `${k}: ${message}`;
      }
    }
  }

  /** A LoadBalancer service's floating IP addresses go to its status, as `kubectl get svc` shows them. */
  async function publishLoadBalancerStatus(k: string) {
    const u = parseUnitKey(k);
    const svc = snap.services.get(`${u.namespace}/${u.name}`);
    if (svc?.spec?.type !== "LoadBalancer") return;
    const fips = [...(reconciler.owned.get(k)?.values() ?? [])].filter((o) => o.type === "floating-ip");
    const ips: string[] = [];
    for (const f of fips) {
      const addr = (await vnc.read("floating-ip", f.uuid, { fields: ["floating_ip_address"] }))
        .floating_ip_address;
      if (addr) ips.push(addr);
    }
    const ingress = ips.sort().map((ip) => ({ ip }));
    const cur = (svc.status?.loadBalancer?.ingress ?? []) as { ip?: string }[];
    if (JSON.stringify(cur.map((i) => ({ ip: i.ip }))) === JSON.stringify(ingress)) return;
    try {
      await opts.kube.patchStatus("services", u.name!, u.namespace, {
        status: { loadBalancer: { ingress } },
      });
    } catch (err) {
      log.log(
        "warn",
        `service ${u.namespace}/${u.name}: could not write the load balancer address to its status: ${(err as Error).message}`,
        { unit: k },
      );
    }
  }

  /**
   * vnc_ingress.py `_update_kube_api_server`: an Ingress's status lists its floating IP, then its VIP.
   */
  async function publishIngressStatus(k: string) {
    const u = parseUnitKey(k);
    const ing = snap.ingresses.get(`${u.namespace}/${u.name}`);
    if (!ing) return;
    const owned = [...(reconciler.owned.get(k)?.values() ?? [])];
    const ips: string[] = [];
    for (const [type, field] of [
      ["floating-ip", "floating_ip_address"],
      ["instance-ip", "instance_ip_address"],
    ] as const)
      for (const o of owned.filter((x) => x.type === type)) {
        const addr = (await vnc.read(type, o.uuid, { fields: [field] }))[field];
        if (addr) ips.push(addr as string);
      }
    const ingress = ips.map((ip) => ({ ip }));
    const cur = (ing.status?.loadBalancer?.ingress ?? []) as { ip?: string }[];
    if (JSON.stringify(cur.map((i) => ({ ip: i.ip }))) === JSON.stringify(ingress)) return;
    try {
      await opts.kube.patchStatus("ingresses", u.name!, u.namespace, {
        status: { loadBalancer: { ingress } },
      });
    } catch (err) {
      log.log(
        "warn",
        `ingress ${u.namespace}/${u.name}: could not write its addresses to its status: ${(err as Error).message}`,
        { unit: k },
      );
    }
  }

  function enqueueAll() {
    for (const k of unitKeys(snap)) queue.enqueue(k);
    for (const k of reconciler.ownedUnits()) queue.enqueue(k);
  }

  async function runResync() {
    resyncRunning = true;
    try {
      await reconciler.scan();
      resyncPending = false;
      enqueueAll();
    } catch (err) {
      lastError = `resync: ${(err as Error).message}`;
      log.log("error", "resync failed; retrying", { error: (err as Error).message });
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      resyncRunning = false;
    }
    pump();
  }

  // ---- Kubernetes events → caches → units ----
  function onChange(r: ResourceName, t: ChangeType, o: KubeObject, old?: KubeObject) {
    const key = o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : `${o.metadata.name}`;
    if (t === "delete") snap[r as keyof KubeSnapshot].delete(key);
    else putObject(snap, r as keyof KubeSnapshot, o, key);
    if (r === "pods") {
      if (old?.metadata.uid && old.metadata.uid !== o.metadata.uid) podsByUid.delete(old.metadata.uid);
      if (o.metadata.uid) {
        if (t === "delete") podsByUid.delete(o.metadata.uid);
        else podsByUid.set(o.metadata.uid, o);
      }
    }
    const a = affectedUnits(r, t, o, old, snap, layout);
    for (const k of a.units) queue.enqueue(k);
    // r5: the pods that joined or left a Service whose members may have changed carry its `<c>-svc` tag
    if (layout.r5 && (r === "endpointslices" || r === "endpoints" || r === "services"))
      for (const k of a.units) {
        const u = parseUnitKey(k);
        if (u.kind !== "Service") continue;
        for (const uid of members.refresh(snap, `${u.namespace}/${u.name}`)) {
          const p = podsByUid.get(uid);
          if (p) queue.enqueue(unitKey.pod(p.metadata.namespace!, p.metadata.name!));
        }
      }
    if (a.tags && tagUsers.change(a.tags.before, a.tags.after)) queue.enqueue(unitKey.tags());
    if (a.selectors) {
      const s = selectorUnits(layout, snap, selectors, reconciler.owned.has(unitKey.policies()));
      selectors = s.next;
      for (const k of s.units) queue.enqueue(k);
    }
    pump();
  }

  const informers = WATCHED.map(
    (r) =>
      new Informer(opts.kube, r, {
        // Multus' CRD may not be installed: the controller runs without secondary networks then
        ...(r === "networkattachmentdefinitions" ? { optional: true, maxBackoffMs: 60_000 } : {}),
        onChange: (t, o, old) => onChange(r, t, o, old),
        onError: (err) => log.log("warn", `watch ${r}: ${err.message}`, { resource: r }),
      }),
  );

  const status = (): ControllerStatus => ({
    inSync: isIdle(),
    queueDepth: queue.depth(),
    inflight: queue.inFlight(),
    failing: queue.failing(),
    ...(lastError ? { lastError } : {}),
  });

  // the status endpoint answers from the start (inSync: false until the first pass is applied)
  const server =
    opts.statusPort === undefined ? undefined : await serveStatus(opts.statusPort, status, metrics.registry);

  // ---- start: caches, then the config API scan, then the queue ----
  await Promise.all(informers.map((i) => i.start()));
  for (;;) {
    try {
      await reconciler.scan();
      break;
    } catch (err) {
      if (stopped) break;
      lastError = `initial scan: ${(err as Error).message}`;
      log.log("warn", "config API not reachable yet; retrying", { error: (err as Error).message });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (opts.keystone)
    rbac = await startRbacSync({
      kube: opts.kube,
      vnc,
      keystone: new KeystoneClient(opts.keystone),
      projectOf: (ns) => layout.project(ns),
      warn: (m) => log.log("warn", m),
    });
  enqueueAll();
  started = true;
  log.log("info", "controller started", {
    model: cfg.model,
    cluster: cfg.clusterName,
    vnc: opts.vncUrl.replace(/\/\/[^@/]*@/, "//"),
  });
  pump();

  const timer = setInterval(() => {
    resyncPending = true;
    pump();
  }, cfg.kubeTimerInterval * 1000);
  timer.unref();

  return {
    statusUrl: server?.url,
    isIdle,
    status,
    warnings: () => [
      ...new Set([...[...lastWarnings.values()].flatMap((w) => w.split("\n")), ...(rbac?.warnings() ?? [])]),
    ],
    blocked: () => new Map(blockedExternally),
    retryBlocked: () => {
      for (const k of [...blockedExternally.keys(), ...leftOut]) queue.enqueue(k);
      pump();
    },
    waitIdle: async () => {
      do {
        await queue.waitIdle();
        await rbac?.waitIdle();
      } while (!isIdle());
    },
    resync: async () => {
      resyncPending = true;
      pump();
      await queue.waitIdle();
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      rbac?.stop();
      for (const i of informers) i.stop();
      // let in-flight units finish their current call so no write is cut in half needlessly
      await queue.stop();
      await server?.close();
      vnc.close();
    },
  };
}
