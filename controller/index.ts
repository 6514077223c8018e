/**
 * The controller (contrail-kube-manager equivalent): informers over a KubeApi feed a work queue of units
 * (cluster, node, namespace, pod, service); a worker pool translates each unit from the caches and reconciles
 * it through the VNC client, dependencies first, failures retried with backoff; a periodic resync rescans the
 * config API so the result is level-triggered. Structured JSON logs, prom-client metrics and a status
 * endpoint (`/status`, `/metrics`) on 127.0.0.1.
 *
 * Example:
 *   const c = await startController({ kube, vncUrl: "http://127.0.0.1:8082", config: defaultConfig("r4") });
 *   await c.waitIdle();   // every Kubernetes object applied
 *   await c.stop();
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ControllerConfig } from "./config";
import type { KubeApi, KubeObject, ResourceName } from "./kube/api";
import { type ChangeType, Informer } from "./kube/informer";
import { Reconciler, UnitBlocked } from "./reconcile";
import {
  type KubeSnapshot,
  Layout,
  parseUnitKey,
  hasPort,
  podTags,
  policyInvolvedPods,
  translateUnit,
  r4Membership,
  UNIT_RANK,
  unitDeps,
  unitKey,
  unitKeys,
} from "./translate";
import { VncClient } from "./vnc/client";

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

export interface ControllerStatus {
  inSync: boolean;
  queueDepth: number;
  inflight: number;
  /** Units whose last attempt failed or that are blocked (retried with backoff). */
  failing: number;
  lastError?: string;
}

export interface ControllerHandle {
  stop(): Promise<void>;
  isIdle(): boolean;
  waitIdle(): Promise<void>;
  status(): ControllerStatus;
  /** `http://127.0.0.1:<port>` when a status port was requested. */
  statusUrl?: string;
  /** Run a full resync now (rescan the config API, re-apply every unit). */
  resync(): Promise<void>;
  /** The translation's current warnings (Kubernetes input it could not translate as asked), each once. */
  warnings(): string[];
}

export interface ControllerOptions {
  kube: KubeApi;
  vncUrl: string;
  config: ControllerConfig;
  log?: Logger;
  statusPort?: number;
  /** Units reconciled in parallel (default 16). */
  concurrency?: number;
}

const WATCHED: ResourceName[] = [
  "namespaces",
  "nodes",
  "pods",
  "services",
  "endpointslices",
  "endpoints",
  "networkpolicies",
];
/** Largest burst of pending units for which pod addresses are allocated strictly in creation order. */
const ORDERED_BURST = 64;
/** Attempts during which a failing unit still counts as work in progress (not idle). */
const BUSY_ATTEMPTS = 5;

interface RetryState {
  attempts: number;
  timer?: NodeJS.Timeout;
  busy: boolean;
  message: string;
}

export async function startController(opts: ControllerOptions): Promise<ControllerHandle> {
  const log = opts.log ?? jsonLogger();
  const cfg = opts.config;
  const layout = new Layout(cfg);
  const concurrency = opts.concurrency ?? 16;

  const registry = new Registry();
  const mQueue = new Gauge({
    name: "ctb_controller_queue_depth",
    help: "units waiting",
    registers: [registry],
  });
  const mFailing = new Gauge({
    name: "ctb_controller_units_failing",
    help: "units retrying",
    registers: [registry],
  });
  const mLatency = new Histogram({
    name: "ctb_controller_reconcile_seconds",
    help: "time to translate and apply one unit",
    labelNames: ["kind"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const mCalls = new Counter({
    name: "ctb_controller_vnc_calls_total",
    help: "VNC API calls",
    labelNames: ["method", "what"],
    registers: [registry],
  });
  const mErrors = new Counter({
    name: "ctb_controller_vnc_errors_total",
    help: "VNC API calls answered with an error status",
    labelNames: ["status"],
    registers: [registry],
  });

  const vnc = new VncClient(opts.vncUrl, {
    onCall: ({ method, what, status }) => {
      mCalls.inc({ method, what });
      if (status >= 400 || status === 0) mErrors.inc({ status: String(status) });
    },
  });
  const reconciler = new Reconciler(vnc, cfg.clusterName, {
    warn: (m) => log.log("warn", m),
    // addresses follow creation order for bursts a person would type; big bursts allocate in parallel
    orderAllocations: () => queueDepth() + inflight.size <= ORDERED_BURST,
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
  };
  const podsByUid = new Map<string, KubeObject>();
  /** pods NetworkPolicies select or name (kept current by policiesChanged) */
  let involved = new Set<string>();
  /** r4 security-group layout: `ns/pod` → the policy security groups its interface refs (policiesChanged) */
  let sgMembership = new Map<string, string>();
  /** label/namespace tag → pods carrying it: the tags unit only runs when a tag appears or goes unused */
  const tagUsers = new Map<string, number>();
  const NO_IDENTITY: ReadonlySet<string> = new Set();
  const countTags = (pod: KubeObject | undefined, delta: 1 | -1): boolean => {
    if (cfg.model !== "r5" || !pod || !hasPort(pod)) return false;
    let changed = false;
    for (const t of podTags(layout, pod, NO_IDENTITY)) {
      const n = (tagUsers.get(t) ?? 0) + delta;
      if (n <= 0) tagUsers.delete(t);
      else tagUsers.set(t, n);
      if (n === 0 || (n === 1 && delta === 1)) changed = true;
    }
    return changed;
  };

  // ---- work queue ----
  const buckets: Set<string>[] = Array.from(
    { length: Math.max(...Object.values(UNIT_RANK)) + 1 },
    () => new Set<string>(),
  );
  const inflight = new Set<string>();
  const again = new Set<string>();
  const retries = new Map<string, RetryState>();
  /**
   * Units whose deletes the API refused because others still referenced the objects (a tag on an interface),
   * with the write count when that attempt began. Other units' writes since then may have let go of the
   * references, so such a unit runs again as soon as the queue drains, and the controller is not idle until
   * it has: a refusal caused by ordering within one burst of events is work known to be pending.
   */
  const deferredSince = new Map<string, number>();
  /** Writes to the config API so far (failed units count as one: they may have written part of their objects). */
  let writeCount = 0;
  const lastWarnings = new Map<string, string>();
  let lastError: string | undefined;
  let started = false;
  let stopped = false;
  let resyncPending = false;
  let resyncRunning = false;
  let idleWaiters: (() => void)[] = [];

  const queued = (k: string) => buckets[UNIT_RANK[parseUnitKey(k).kind]].has(k);
  const queueDepth = () => buckets.reduce((n, b) => n + b.size, 0);
  const busy = (k: string) => queued(k) || inflight.has(k) || retries.get(k)?.busy === true;

  function enqueue(k: string) {
    if (stopped) return;
    if (inflight.has(k)) {
      again.add(k);
      return;
    }
    const r = retries.get(k);
    if (r?.timer) {
      clearTimeout(r.timer);
      r.timer = undefined;
    }
    buckets[UNIT_RANK[parseUnitKey(k).kind]].add(k);
    mQueue.set(queueDepth());
  }

  /** Nothing queued, running or retrying soon (deferred units aside). */
  function drained(): boolean {
    if (!started || resyncPending || resyncRunning || inflight.size || queueDepth()) return false;
    for (const r of retries.values()) if (r.busy) return false;
    return true;
  }

  /** Deferred units that others have written since their last attempt: worth another try. */
  const retryable = () => [...deferredSince].filter(([, since]) => since < writeCount).map(([k]) => k);

  function isIdle(): boolean {
    return drained() && retryable().length === 0;
  }

  function checkIdle() {
    if (!isIdle()) return;
    const w = idleWaiters;
    idleWaiters = [];
    for (const f of w) f();
  }

  /** A deleted namespace's unit waits for the units of its pods and services still at work. */
  function deletionDeps(k: string): string[] {
    const u = parseUnitKey(k);
    if (u.kind !== "Namespace" || snap.namespaces.has(u.name!)) return [];
    const prefix = [`Pod/${u.name}/`, `Service/${u.name}/`];
    return reconciler.ownedUnits().filter((o) => prefix.some((p) => o.startsWith(p)));
  }

  function pick(): string | undefined {
    for (const b of buckets) {
      for (const k of b) {
        if (unitDeps(k, snap, layout).every((d) => !busy(d)) && deletionDeps(k).every((d) => !busy(d))) {
          b.delete(k);
          return k;
        }
      }
    }
    return undefined;
  }

  function pump() {
    if (!started || stopped) return;
    if (resyncPending) {
      if (inflight.size === 0 && !resyncRunning) void runResync();
      return;
    }
    // the queue drained: deferred deletes whose referrers have changed since are tried again now
    if (drained()) for (const k of retryable()) enqueue(k);
    while (inflight.size < concurrency) {
      const k = pick();
      if (!k) break;
      inflight.add(k);
      void processUnit(k).finally(() => {
        inflight.delete(k);
        if (again.delete(k)) enqueue(k);
        mQueue.set(queueDepth());
        pump();
        checkIdle();
      });
    }
    mQueue.set(queueDepth());
    checkIdle();
  }

  function scheduleRetry(k: string, message: string, blocked: boolean) {
    const r = retries.get(k) ?? { attempts: 0, busy: false, message };
    r.attempts++;
    r.message = message;
    // blocked units wait for an event (node, namespace, network appears); failures are retried soon
    r.busy = !blocked && r.attempts < BUSY_ATTEMPTS;
    const delay = blocked
      ? Math.min(30_000, 1000 * 2 ** (r.attempts - 1))
      : Math.min(30_000, 100 * 2 ** (r.attempts - 1));
    clearTimeout(r.timer);
    r.timer = setTimeout(() => {
      r.timer = undefined;
      enqueue(k);
      pump();
    }, delay);
    r.timer.unref?.();
    retries.set(k, r);
    mFailing.set(retries.size);
  }

  async function processUnit(k: string) {
    const t0 = performance.now();
    const since = writeCount;
    const desired = translateUnit(k, snap, layout, reconciler.view, { podsByUid, involved });
    const w = desired.warnings.join("\n");
    if (w !== (lastWarnings.get(k) ?? "")) {
      for (const m of desired.warnings) log.log("warn", m, { unit: k });
      if (w) lastWarnings.set(k, w);
      else lastWarnings.delete(k);
    }
    try {
      const { writes, deferred } = await reconciler.apply(desired);
      writeCount += writes;
      const r = retries.get(k);
      if (deferred) {
        // objects still in use by others: look again once the queue drains (if anyone wrote meanwhile),
        // and slowly after that, without holding anyone up
        deferredSince.set(k, since);
        scheduleRetry(k, deferred, true);
      } else {
        deferredSince.delete(k);
        if (r) {
          clearTimeout(r.timer);
          retries.delete(k);
          mFailing.set(retries.size);
          log.log("info", "unit recovered", { unit: k });
        }
      }
      if (writes) log.log("debug", "unit applied", { unit: k, writes });
      if (k.startsWith("Service/")) await publishLoadBalancerStatus(k);
    } catch (err) {
      const e = err as Error;
      const blocked = e instanceof UnitBlocked;
      deferredSince.delete(k);
      if (!blocked) writeCount++;
      const prev = retries.get(k)?.message;
      if (prev !== e.message)
        log.log("warn", blocked ? e.message : `${k}: ${e.message}`, { unit: k, blocked });
      if (!blocked) lastError = `${k}: ${e.message}`;
      scheduleRetry(k, e.message, blocked);
    } finally {
      mLatency.observe({ kind: parseUnitKey(k).kind }, (performance.now() - t0) / 1000);
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

  function enqueueAll() {
    for (const k of unitKeys(snap)) enqueue(k);
    for (const k of reconciler.ownedUnits()) enqueue(k);
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

  // ---- Kubernetes events → units ----
  /**
   * A selector's inputs changed (pod labels, namespace labels, policies): re-derive the firewall objects,
   * the tags in use, and the interfaces of pods that gained or lost their identity tag. Free without policies.
   */
  const policiesChanged = () => {
    if (
      !layout.upstreamPolicies &&
      !snap.networkpolicies.size &&
      involved.size === 0 &&
      sgMembership.size === 0 &&
      !reconciler.owned.has(unitKey.policies())
    )
      return;
    enqueue(unitKey.policies());
    enqueue(unitKey.tags());
    // the upstream layout matches label tags at flow time: no pod carries an identity tag
    if (layout.upstreamPolicies) return;
    if (layout.r4SecurityGroups) {
      // r4: pods whose interface gains or loses a policy security group
      const next = r4Membership(layout, snap);
      for (const k of new Set([...sgMembership.keys(), ...next.keys()])) {
        if (sgMembership.get(k) === next.get(k)) continue;
        const [ns, name] = k.split("/");
        enqueue(unitKey.pod(ns, name));
      }
      sgMembership = next;
      return;
    }
    const next = policyInvolvedPods(layout, snap);
    for (const k of new Set([...involved, ...next])) {
      if (involved.has(k) === next.has(k)) continue;
      const [ns, name] = k.split("/");
      enqueue(unitKey.pod(ns, name));
    }
    involved = next;
  };
  const inNamespace = (m: Map<string, KubeObject>, ns: string) =>
    [...m.values()].filter((o) => o.metadata.namespace === ns);
  const nodeIp = (n?: KubeObject) =>
    (n?.status?.addresses ?? []).find((a: { type: string }) => a.type === "InternalIP")?.address;

  const handlers: Record<string, (t: ChangeType, o: KubeObject, old?: KubeObject) => void> = {
    namespaces: (t, o, old) => {
      const ns = o.metadata.name!;
      enqueue(unitKey.namespace(ns));
      // the default networks' perms2.share lists the non-isolated namespaces' projects
      const quiet = () => {};
      if (t !== "update" || !old || layout.isIsolated(o, quiet) !== layout.isIsolated(old, quiet))
        enqueue(unitKey.cluster());
      // r5 pods carry their namespace's labels as tags
      const labelsChanged = JSON.stringify(o.metadata.labels ?? {}) !== JSON.stringify(old?.metadata.labels ?? {});
      if ((t !== "update" || labelsChanged) && cfg.model === "r5") enqueue(unitKey.tags());
      for (const p of inNamespace(snap.pods, ns)) enqueue(unitKey.pod(ns, p.metadata.name!));
      for (const s of inNamespace(snap.services, ns)) enqueue(unitKey.service(ns, s.metadata.name!));
      policiesChanged();
    },
    nodes: (t, o, old) => {
      const name = o.metadata.name!;
      enqueue(unitKey.node(name));
      if (t === "update" && nodeIp(o) === nodeIp(old)) return;
      for (const p of snap.pods.values())
        if (p.spec?.nodeName === name) enqueue(unitKey.pod(p.metadata.namespace!, p.metadata.name!));
    },
    pods: (t, o, old) => {
      const ns = o.metadata.namespace!;
      if (old?.metadata.uid && old.metadata.uid !== o.metadata.uid) podsByUid.delete(old.metadata.uid);
      if (o.metadata.uid) {
        if (t === "delete") podsByUid.delete(o.metadata.uid);
        else podsByUid.set(o.metadata.uid, o);
      }
      enqueue(unitKey.pod(ns, o.metadata.name!));
      // labels and interfaces drive tags and selectors; status updates change neither
      const relevant =
        t !== "update" ||
        JSON.stringify(o.metadata.labels ?? {}) !== JSON.stringify(old?.metadata.labels ?? {}) ||
        o.spec?.nodeName !== old?.spec?.nodeName;
      if (relevant) {
        const removed = countTags(old ?? (t === "delete" ? o : undefined), -1);
        const added = t !== "delete" && countTags(o, 1);
        if (removed || added) enqueue(unitKey.tags());
        policiesChanged();
      }
      // members reference pods by uid: a pod appearing or going changes its services' member sets
      if (t !== "update")
        for (const s of inNamespace(snap.services, ns)) enqueue(unitKey.service(ns, s.metadata.name!));
    },
    services: (_t, o) => enqueue(unitKey.service(o.metadata.namespace!, o.metadata.name!)),
    endpointslices: (_t, o, old) => {
      for (const s of [o, old]) {
        const svc = s?.metadata.labels?.["kubernetes.io/service-name"];
        if (svc) enqueue(unitKey.service(s!.metadata.namespace!, svc));
      }
    },
    endpoints: (_t, o) => enqueue(unitKey.service(o.metadata.namespace!, o.metadata.name!)),
    networkpolicies: () => policiesChanged(),
  };

  const informers = WATCHED.map(
    (r) =>
      new Informer(opts.kube, r, {
        onChange: (t, o, old) => {
          const cache = snap[r as keyof KubeSnapshot];
          const key = o.metadata.namespace
            ? `${o.metadata.namespace}/${o.metadata.name}`
            : `${o.metadata.name}`;
          if (t === "delete") cache.delete(key);
          else cache.set(key, o);
          handlers[r](t, o, old);
          pump();
        },
        onError: (err) => log.log("warn", `watch ${r}: ${err.message}`, { resource: r }),
      }),
  );

  const status = (): ControllerStatus => ({
    inSync: isIdle(),
    queueDepth: queueDepth(),
    inflight: inflight.size,
    failing: retries.size,
    ...(lastError ? { lastError } : {}),
  });

  // the status endpoint answers from the start (inSync: false until the first pass is applied)
  let server: Server | undefined;
  let statusUrl: string | undefined;
  if (opts.statusPort !== undefined) {
    server = createServer((req, res) => {
      if (req.url === "/status") {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(status()));
      } else if (req.url === "/metrics") {
        registry.metrics().then(
          (text) => {
            res.setHeader("content-type", registry.contentType);
            res.end(text);
          },
          (e: Error) => {
            res.statusCode = 500;
            res.end(e.message);
          },
        );
      } else {
        res.statusCode = 404;
        res.end("not found: try /status or /metrics\n");
      }
    });
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(opts.statusPort, "127.0.0.1", () => resolve());
    });
    statusUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

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
  enqueueAll();
  started = true;
  log.log("info", "controller started", { model: cfg.model, cluster: cfg.clusterName, vnc: opts.vncUrl });
  pump();

  const timer = setInterval(() => {
    resyncPending = true;
    pump();
  }, cfg.kubeTimerInterval * 1000);
  timer.unref();

  return {
    statusUrl,
    isIdle,
    status,
    warnings: () => [...new Set([...lastWarnings.values()].flatMap((w) => w.split("\n")))],
    waitIdle: () =>
      new Promise<void>((resolve) => {
        if (isIdle()) resolve();
        else idleWaiters.push(resolve);
      }),
    resync: async () => {
      resyncPending = true;
      pump();
      await new Promise<void>((resolve) => {
        if (isIdle()) resolve();
        else idleWaiters.push(resolve);
      });
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      for (const i of informers) i.stop();
      for (const r of retries.values()) clearTimeout(r.timer);
      // let in-flight units finish their current call so no write is cut in half needlessly
      while (inflight.size) await new Promise((r) => setTimeout(r, 5));
      if (server) await new Promise<void>((r) => server!.close(() => r()));
      vnc.close();
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    },
  };
}
