/**
 * The vrouter agents of a testbed: one process-wide config model fed by the config API's change stream
 * (`/watch`), a port table per compute (filled by the CNI through the port API, or by the node emulator),
 * and per-compute `VrouterTables` recomputed after every change and pushed to subscribers (the datapath).
 *
 * Example:
 *   const agents = await startAgents({ apiUrl: "http://127.0.0.1:8082" });
 *   const api = await agents.startPortApi("compute-1", { port: 9091 });
 *   agents.onTables((compute, t) => engine.load(compute, t));
 *   await agents.whenCaughtUp(seq);
 */
import { ChangeStream, type StreamEvent } from "../../fake-contrail-api/watch-client";
import type { VrouterTables } from "../tables";
import {
  type ClusterView,
  type PluggedPort,
  TableMemo,
  UnknownComputeError,
  buildClusterView,
  computeTables,
  linkLocalDnsNames,
} from "./compute-tables";
import { ConfigModel, type VncData, fqString } from "./config-model";
import { type ServiceInstanceRun, serviceInstancesOn } from "../haproxy/instances";
import { FabricDnsResolver } from "./fabric-dns";
import { IdAllocator } from "./ids";
import type { DatapathStatsSource } from "./metrics";
import { polledAnswer, startPortApi } from "./port-api";
import { gatewayTables, type SdnGateway } from "./sdn-gateway";

/** A port add (the `POST /vm` body, camel-cased). */
export interface PortAdd {
  vmUuid: string;
  vmiUuid: string;
  hostIfname: string;
  vmIfname?: string;
  vmName?: string;
  vmNamespace?: string;
  vnUuid?: string;
  /** The container id (`vm-id`): a DEL for another container id is stale and ignored by the CNI. */
  containerId?: string;
}

export interface Agents {
  /** Computes served: the ones asked for, or every virtual-router in the config. */
  computes(): string[];
  tables(compute: string): VrouterTables | undefined;
  onTables(cb: (compute: string, t: VrouterTables) => void): () => void;
  appliedSeq(): number;
  whenCaughtUp(seq: number): Promise<void>;
  /**
   * The compute's tables once they include every change applied so far: at once when nothing is pending,
   * else at the next (throttled, coalesced) recomputation — a caller that just plugged a port waits for the
   * batch instead of forcing a recomputation of every compute for itself.
   */
  nextTables(compute: string): Promise<VrouterTables | undefined>;
  /** The load-balancer service instances (haproxy) placed on the compute, with their config. */
  serviceInstances(compute: string): ServiceInstanceRun[];
  /**
   * Resolves when a config change or a port change touches one of `keys` (an object's uuid, the last element of
   * its fq_name, its display_name, or the uuid of something it refers to), after `maxMs` at the latest, or when
   * `signal` aborts: what a poller of the port API waits on instead of a timer. With `until`, a touch wakes
   * the caller only once `until()` holds (the answer it polls for is there; at once if it holds already), so a
   * pod whose VM gains its interface, then its compute, then its address, asks once instead of at each step.
   */
  whenTouched(keys: string[], maxMs: number, signal?: AbortSignal, until?: () => boolean): Promise<void>;
  /** What the port API of `compute` answers a polled GET now (see port-api.ts `polledAnswer`). */
  polledAnswer(compute: string, path: string): { body: unknown } | undefined;
  plugPort(compute: string, port: PortAdd): void;
  /** What VM `vmUuid`'s application answers its interfaces' service-health-checks from now on (`health` step). */
  setHealthAnswer(vmUuid: string, answers: boolean): string[];
  /** Removes every port of the VM (as `DELETE /vm/<vm-uuid>`), or only one VMI's port. */
  unplugPort(compute: string, vmUuid: string, vmiUuid?: string): boolean;
  /** The CNI port API of one compute, with its Prometheus metrics at /metrics. */
  startPortApi(
    compute: string,
    opts: { host?: string; port: number; datapathStats?: DatapathStatsSource },
  ): Promise<{ url: string; close(): Promise<void> }>;
  stop(): Promise<void>;
}

export interface AgentOptions {
  apiUrl: string;
  /** Computes (virtual-router names) to run agents for; default: every virtual-router, as they appear. */
  computes?: string[];
  /** Prefix length of the underlay subnet around each compute's fabric IP (default 24). */
  fabricPrefixLen?: number;
  /** The SDN gateway the control node peers with: its routes go to the computes, its own tables by its name. */
  gateway?: SdnGateway;
  log?: (msg: string) => void;
  /**
   * Reuse what the last computation built for what did not change (default). `false` recomputes every table
   * from scratch: the reference the incremental tables are tested against.
   */
  incremental?: boolean;
}

/** Connects to the change stream and resolves once the initial snapshot is applied and tables are computed. */
export async function startAgents(opts: AgentOptions): Promise<Agents> {
  const runtime = new AgentRuntime(opts);
  const stream = new ChangeStream({
    apiUrl: opts.apiUrl,
    onEvent: (ev) => runtime.onStreamEvent(ev),
    onError: (err) => opts.log?.(`vrouter agent: change stream: ${err.message}`),
  });
  stream.start();
  await stream.whenSynced();
  runtime.flush();
  const servers = new Set<{ close(): Promise<void> }>();
  return {
    computes: () => runtime.computes(),
    tables: (c) => runtime.tables(c),
    onTables: (cb) => runtime.subscribe(cb),
    appliedSeq: () => runtime.model.appliedSeq(),
    whenCaughtUp: (seq) => runtime.whenCaughtUp(seq),
    nextTables: (c) => runtime.nextTables(c),
    serviceInstances: (c) => serviceInstancesOn(runtime.model, c),
    whenTouched: (keys, maxMs, signal, until) => runtime.whenTouched(keys, maxMs, signal, until),
    polledAnswer: (c, path) => polledAnswer(runtime, c, path),
    plugPort: (c, p) => runtime.plug(c, p),
    setHealthAnswer: (vm, answers) => runtime.setHealthAnswer(vm, answers),
    unplugPort: (c, vm, vmi) => runtime.unplug(c, vm, vmi),
    startPortApi: async (compute, o) => {
      const server = await startPortApi(runtime, compute, o);
      servers.add(server);
      return {
        url: server.url,
        close: async () => {
          servers.delete(server);
          await server.close();
        },
      };
    },
    stop: async () => {
      await Promise.all([...servers].map((s) => s.close()));
      servers.clear();
      await stream.stop();
      runtime.stop();
    },
  };
}

/**
 * Agent state shared by the port API and the change stream. Table recomputation is batched: changes mark
 * the tables dirty and a flush runs at a throttled deadline, or at once when tables are read or a
 * `whenCaughtUp` wait is satisfied.
 */
export class AgentRuntime {
  readonly model = new ConfigModel();
  private readonly ports = new Map<string, Map<string, PluggedPort>>();
  private readonly ids = new Map<string, IdAllocator>();
  /** per compute: what its last table computation built, for the next one to reuse (incremental tables) */
  private readonly memos = new Map<string, TableMemo>();
  /** the cluster view of the last computation: endpoints that did not change are kept as they were */
  private lastView: ClusterView | undefined;
  /** VMs (pod uids) whose application fails the health checks the agent runs on their interfaces */
  private readonly healthFailing = new Set<string>();
  private cache = new Map<string, VrouterTables>();
  private dirty = true;
  private flushTimer: NodeJS.Timeout | undefined;
  private lastFlushMs = 0;
  private lastFlushEnd = Number.NEGATIVE_INFINITY;
  private readonly listeners = new Set<(compute: string, t: VrouterTables) => void>();
  private waiters: { seq: number; resolve: () => void }[] = [];
  /** Link-local services given by DNS name; a lookup's answer recomputes the tables at once. */
  private readonly fabricDns: FabricDnsResolver;
  /** Callers of `nextTables` waiting for the next recomputation. */
  private flushWaiters: (() => void)[] = [];
  /** key → wake-ups of `whenTouched` callers */
  private touchWaiters = new Map<string, Set<() => void>>();
  private stopped = false;

  constructor(private readonly opts: Omit<AgentOptions, "apiUrl">) {
    this.fabricDns = new FabricDnsResolver({
      onChange: () => this.flush(),
      warn: (msg) => this.opts.log?.(`vrouter agent: ${msg}`),
    });
  }

  onStreamEvent(ev: StreamEvent): void {
    try {
      if (ev.kind === "snapshot") {
        this.model.loadSnapshot(
          ev.objects.map((o) => ({ ...o, obj: o.obj as VncData })),
          ev.seq,
        );
        this.touchAll();
      } else {
        const before = this.touchWaiters.size ? this.model.get(ev.change.uuid)?.data : undefined;
        this.model.apply({ ...ev.change, obj: ev.change.obj as VncData | undefined });
        if (this.touchWaiters.size)
          this.touch(
            changeKeys(ev.change.uuid, ev.change.fq_name, ev.change.obj as VncData | undefined, before),
          );
      }
    } catch (err) {
      this.opts.log?.(`vrouter agent: ${(err as Error).message}`);
    }
    this.markDirty();
  }

  nextTables(compute: string): Promise<VrouterTables | undefined> {
    if (!this.dirty) return Promise.resolve(this.cache.get(compute));
    return new Promise((resolve) => this.flushWaiters.push(() => resolve(this.cache.get(compute))));
  }

  whenTouched(keys: string[], maxMs: number, signal?: AbortSignal, until?: () => boolean): Promise<void> {
    if (until?.()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        clearInterval(recheck);
        signal?.removeEventListener("abort", done);
        for (const k of keys) {
          const set = this.touchWaiters.get(k);
          set?.delete(touched);
          if (set?.size === 0) this.touchWaiters.delete(k);
        }
        resolve();
      };
      // a stopped agent wakes everyone: nobody waits on it
      const touched = () => {
        if (!until || this.stopped || until()) done();
      };
      const timer = setTimeout(done, maxMs);
      timer.unref();
      // and asked again each second in case the change came by a key the caller did not name: a second, not
      // the caller's whole wait, and no request
      const recheck = until ? setInterval(touched, RECHECK_MS) : undefined;
      recheck?.unref();
      if (signal?.aborted) return done();
      signal?.addEventListener("abort", done, { once: true });
      for (const k of keys) {
        const set = this.touchWaiters.get(k) ?? new Set();
        this.touchWaiters.set(k, set);
        set.add(touched);
      }
    });
  }

  private touch(keys: Iterable<string>): void {
    if (this.touchWaiters.size === 0) return;
    // a waiter listening on several of the keys is asked once
    const wakes = new Set<() => void>();
    for (const k of keys) for (const wake of this.touchWaiters.get(k) ?? []) wakes.add(wake);
    for (const wake of wakes) wake();
  }

  private touchAll(): void {
    for (const set of [...this.touchWaiters.values()]) for (const wake of [...set]) wake();
  }

  /** Endpoint routes the last recomputation took from the one before (hits) and built (misses), all computes. */
  reuseCounts(): { hits: number; misses: number } {
    let hits = 0;
    let misses = 0;
    for (const m of this.memos.values()) {
      hits += m.hits;
      misses += m.misses;
    }
    return { hits, misses };
  }

  /** Compute names this runtime serves. */
  computes(): string[] {
    if (this.opts.computes) return [...this.opts.computes];
    return this.model.list("virtual-router").map((vr) => vr.fqName[vr.fqName.length - 1]);
  }

  tables(compute: string): VrouterTables | undefined {
    if (this.dirty) this.flush();
    return this.cache.get(compute);
  }

  subscribe(cb: (compute: string, t: VrouterTables) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async whenCaughtUp(seq: number): Promise<void> {
    if (this.model.appliedSeq() >= seq) {
      // a reader is waiting: recompute now instead of at the throttled deadline
      if (this.dirty) this.flush();
    } else await new Promise<void>((resolve) => this.waiters.push({ seq, resolve }));
    // caught up includes the link-local names that config asked for (each answer has recomputed the tables)
    await this.fabricDns.settled();
  }

  portsOf(compute: string): PluggedPort[] {
    return [...(this.ports.get(compute)?.values() ?? [])];
  }

  port(compute: string, vmiUuid: string): PluggedPort | undefined {
    return this.ports.get(compute)?.get(vmiUuid);
  }

  plug(compute: string, p: PortAdd): void {
    const table = this.ports.get(compute) ?? new Map<string, PluggedPort>();
    this.ports.set(compute, table);
    table.set(p.vmiUuid, { ...p, enabled: table.get(p.vmiUuid)?.enabled ?? true });
    this.touch([p.vmiUuid, p.vmUuid]);
    this.markDirty();
  }

  unplug(compute: string, vmUuid: string, vmiUuid?: string): boolean {
    const table = this.ports.get(compute);
    if (!table) return false;
    let removed = false;
    for (const [k, p] of table)
      if (p.vmUuid === vmUuid && (vmiUuid === undefined || p.vmiUuid === vmiUuid)) {
        table.delete(k);
        removed = true;
      }
    if (removed) this.markDirty();
    return removed;
  }

  /** Removes one VMI's port (`DELETE /port/<vmi-uuid>`). */
  unplugVmi(compute: string, vmiUuid: string): boolean {
    const removed = this.ports.get(compute)?.delete(vmiUuid) ?? false;
    if (removed) this.markDirty();
    return removed;
  }

  /**
   * Whether the application of VM `vmUuid` (a pod's uid) answers the service-health-checks its VMIs refer to,
   * from now on: the testbed's stand-in for the probe's outcome (kept across re-plugs, like the app's state).
   */
  setHealthAnswer(vmUuid: string, answers: boolean): string[] {
    if (answers) this.healthFailing.delete(vmUuid);
    else this.healthFailing.add(vmUuid);
    this.touch([vmUuid]);
    this.markDirty();
    return this.healthChecksOf(vmUuid);
  }

  /** The service-health-checks (fq_name strings) the interfaces of VM `vmUuid` refer to. */
  healthChecksOf(vmUuid: string): string[] {
    return this.model
      .backRefs(vmUuid, "virtual-machine-interface")
      .flatMap((vmi) => this.model.refs(vmi, "service-health-check").map((r) => fqString(r.target.fqName)))
      .sort();
  }

  setEnabled(compute: string, vmiUuid: string, enabled: boolean): boolean {
    const p = this.ports.get(compute)?.get(vmiUuid);
    if (!p) return false;
    p.enabled = enabled;
    this.markDirty();
    return true;
  }

  /** Recompute every served compute's tables and tell subscribers. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.dirty = false;
    const started = performance.now();
    const computes = this.computes();
    const ports = new Map(computes.map((c) => [c, this.portsOf(c)]));
    const view = buildClusterView(
      this.model,
      ports,
      this.opts.fabricPrefixLen,
      this.opts.gateway,
      (vm) => !this.healthFailing.has(vm),
      this.opts.incremental === false ? undefined : this.lastView,
    );
    this.lastView = view;
    this.fabricDns.resolveList(linkLocalDnsNames(this.model));
    const fabricDns = (name: string) => this.fabricDns.addresses(name);
    const next = new Map<string, VrouterTables>();
    for (const compute of computes) {
      const ids = this.ids.get(compute) ?? new IdAllocator({ vif: 3, vrf: 1, nh: 1 });
      this.ids.set(compute, ids);
      const memo = this.opts.incremental === false ? undefined : (this.memos.get(compute) ?? new TableMemo());
      if (memo) this.memos.set(compute, memo);
      try {
        next.set(compute, computeTables(this.model, compute, ports, { ids, view, fabricDns, memo }));
      } catch (err) {
        if (!(err instanceof UnknownComputeError))
          this.opts.log?.(`vrouter agent ${compute}: ${(err as Error).message}`);
      }
    }
    if (this.opts.gateway) next.set(this.opts.gateway.name, gatewayTables(view, this.opts.gateway));
    this.cache = next;
    for (const [compute, t] of next)
      for (const cb of this.listeners) {
        try {
          cb(compute, t);
        } catch (err) {
          this.opts.log?.(`vrouter agent: tables subscriber failed: ${(err as Error).message}`);
        }
      }
    this.lastFlushEnd = performance.now();
    this.lastFlushMs = this.lastFlushEnd - started;
    const applied = this.model.appliedSeq();
    const ready = this.waiters.filter((w) => w.seq <= applied);
    this.waiters = this.waiters.filter((w) => w.seq > applied);
    for (const w of ready) w.resolve();
    for (const w of this.flushWaiters.splice(0)) w();
  }

  stop(): void {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.fabricDns.stop();
    // nobody waits on a stopped agent: pollers look once more, table readers get what there is
    for (const w of this.flushWaiters.splice(0)) w();
    this.touchAll();
  }

  /**
   * Schedules a recomputation. Under a stream of changes flushes are spaced by eight times the last flush's
   * cost (at most 5 s) and at least FLUSH_FLOOR_MS from the last one, so recomputing takes at most a ninth of
   * the CPU while the rest of the testbed produces the changes (1,000 pods starting: 320 flushes, 4.8 s, at
   * twice the cost and at most 200 ms; ~60 at four times the cost, ~42 at eight: 7% less CPU for the whole
   * start, load 5); readers (`tables`, `whenCaughtUp`) flush at once.
   */
  private markDirty(): void {
    this.dirty = true;
    if (this.waiters.some((w) => w.seq <= this.model.appliedSeq())) {
      this.flush();
      return;
    }
    if (this.flushTimer) return;
    const sinceLast = performance.now() - this.lastFlushEnd;
    const spacing = Math.max(8 * this.lastFlushMs, FLUSH_FLOOR_MS - sinceLast);
    this.flushTimer = setTimeout(() => this.flush(), Math.min(5000, Math.max(1, spacing)));
  }
}

/** How often a `whenTouched` caller's `until` is asked again without a touch. */
const RECHECK_MS = 1000;

/**
 * Back-to-back recomputations are at least this far apart: each recomputes every compute's tables (in part:
 * see TableMemo), so 1,000 pods starting, each waiting for its vif, made 160 of them in 8 s at four times
 * their cost; 50 ms apart, 65. After a quiet spell the floor does not hold back the first one.
 */
const FLUSH_FLOOR_MS = 50;

/**
 * What a change touches, for `whenTouched`: its uuid, name, display name and the uuids it newly refers to (a
 * virtual-router update lists every VM of its compute: only the one it gained is news to a poller).
 */
function changeKeys(
  uuid: string,
  fq: string[] | undefined,
  obj: VncData | undefined,
  before?: VncData,
): string[] {
  const keys = [uuid];
  const name = fq?.[fq.length - 1];
  if (name) keys.push(name);
  if (!obj) return keys;
  if (typeof obj.display_name === "string") keys.push(obj.display_name);
  for (const [field, value] of Object.entries(obj)) {
    if (!field.endsWith("_refs") || !Array.isArray(value)) continue;
    const had = new Set(
      ((before?.[field] as { uuid?: string }[] | undefined) ?? []).map((r) => r?.uuid).filter(Boolean),
    );
    for (const r of value as { uuid?: string }[])
      if (typeof r?.uuid === "string" && !had.has(r.uuid)) keys.push(r.uuid);
  }
  return keys;
}
