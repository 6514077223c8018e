/**
 * The embedded Kubernetes cluster: an in-process API server (store, validation, defaulting, watch with
 * resourceVersions and 410 Expired) plus the controllers a testbed needs (scheduler, endpoints and
 * endpointslices, deployments/replicasets/replicationcontrollers, garbage collector, namespace lifecycle).
 * It implements KubeApi, so the controller and the node emulator use it exactly as they use a real cluster,
 * and it needs nothing but Node.
 *
 * Example:
 *   const cluster = createEmbeddedCluster();
 *   await cluster.applyManifest({ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
 *   await cluster.waitQuiet();
 *   cluster.close();
 */
import { ImpersonatedKubeApi, STOCK_CLUSTER_ROLES, type UserInfo } from "./rbac";
import {
  type KubeApi,
  KubeApiError,
  type KubeObject,
  type ListOptions,
  type PatchType,
  RESOURCES,
  type ResourceName,
  resourceForKind,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
  type WriteOptions,
} from "../../../controller/kube/api";
import { EndpointsController } from "./controllers/endpoints";
import { GarbageCollector, NamespaceController } from "./controllers/lifecycle";
import { ControllerRuntime, type ControllerFailure } from "./controllers/runtime";
import { Scheduler } from "./controllers/scheduler";
import { WorkloadController } from "./controllers/workloads";
import { badRequest } from "./errors";
import { IdSource } from "./names";
import { applyPatch, isMap } from "./patch";
import { Registry, SYSTEM_NAMESPACES } from "./registry";
import { matchesFieldQuery, matchesLabelQuery, parseFieldQuery, parseLabelQuery } from "./selectors";
import { type Change, ObjectStore } from "./store";

export interface EmbeddedClusterOptions {
  /** Service CIDR; ClusterIPs come from here and the `kubernetes` service gets its first address. */
  serviceSubnet?: string;
  /** Pod CIDR (informational: pod addresses come from the network plugin, not from the cluster). */
  podSubnet?: string;
  clusterName?: string;
  /** Seed for uids and generated names, for runs that must reproduce name for name. */
  seed?: number;
  /** How many changes watches can resume from; older resourceVersions get 410 Expired. */
  watchHistory?: number;
  /** Interval of BOOKMARK events for watches that allow them (the real server sends one about a minute). */
  bookmarkIntervalMs?: number;
  /** The API server's own address, published in the endpoints of the `kubernetes` service. */
  apiServerAddress?: string;
  now?: () => Date;
  /** Told about every controller reconcile that threw (default: console.error). */
  onControllerError?: (f: ControllerFailure) => void;
  /** Warnings of writes that bring no onWarning of their own (unknown fields dropped under Warn). */
  onWarning?: (message: string) => void;
}

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

interface ActiveWatch {
  resource: ResourceName;
  pending: WatchEvent[];
  flushScheduled: boolean;
  bookmarks: boolean;
  timer?: NodeJS.Timeout;
  stopped: boolean;
  onEvent: (ev: WatchEvent) => void;
  onDone: (err?: Error) => void;
  filter: (c: Change) => WatchEvent | undefined;
}

/**
 * A deep copy of what the API hands out (every read, write answer and watch event gets its own): objects here
 * are JSON-shaped, which a plain walk copies ~6× faster than structuredClone; anything else (a Date, a Map)
 * goes to structuredClone as before.
 */
function clone<T>(v: T): T {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) {
    const a = new Array(v.length);
    for (let i = 0; i < v.length; i++) a[i] = clone(v[i]);
    return a as T;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = clone((v as Record<string, unknown>)[k]);
    // an own "__proto__" key (JSON can carry one) stays a key, as structuredClone keeps it
    if (k === "__proto__")
      Object.defineProperty(o, k, { value: x, enumerable: true, writable: true, configurable: true });
    else o[k] = x;
  }
  return o as T;
}

export class EmbeddedCluster implements KubeApi {
  readonly serviceSubnet: string;
  readonly podSubnet: string;
  readonly clusterName: string;
  private readonly store: ObjectStore;
  private readonly registry: Registry;
  private readonly runtime: ControllerRuntime;
  private readonly watches = new Set<ActiveWatch>();
  private readonly bookmarkIntervalMs: number;
  private readonly onWarning?: (message: string) => void;
  private closed = false;

  constructor(opts: EmbeddedClusterOptions = {}) {
    this.serviceSubnet = opts.serviceSubnet ?? "10.96.0.0/12";
    this.podSubnet = opts.podSubnet ?? "10.244.0.0/16";
    this.clusterName = opts.clusterName ?? "k8s";
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 60_000;
    this.onWarning = opts.onWarning;
    this.store = new ObjectStore(opts.watchHistory ?? 10_000);
    this.registry = new Registry(this.store, {
      serviceSubnet: this.serviceSubnet,
      ids: new IdSource(opts.seed),
      now: opts.now ?? (() => new Date()),
      onWarning: opts.onWarning,
    });
    this.runtime = new ControllerRuntime(
      opts.onControllerError ??
        ((f) => console.error(`embedded cluster: ${f.controller} failed on ${f.key}:`, f.error)),
    );
    for (const c of [
      new Scheduler(this.registry),
      new EndpointsController(this.registry),
      new WorkloadController(this.registry),
      new GarbageCollector(this.registry),
      new NamespaceController(this.registry),
    ]) {
      this.runtime.register(c);
    }
    this.store.subscribe((c) => this.runtime.dispatch(c));
    this.store.subscribe((c) => this.deliver(c));
    this.bootstrap(opts.apiServerAddress ?? "172.18.0.2");
  }

  /** What a fresh cluster holds: system namespaces and the `kubernetes` service with its endpoints. */
  private bootstrap(apiServerAddress: string): void {
    for (const name of SYSTEM_NAMESPACES) {
      this.registry.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
    }
    const labels = { component: "apiserver", provider: "kubernetes" };
    this.registry.create("services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "kubernetes", namespace: "default", labels },
      spec: {
        clusterIP: this.registry.clusterIPs.firstAddress,
        ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: 6443 }],
      },
    });
    this.registry.create("endpoints", {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: {
        name: "kubernetes",
        namespace: "default",
        labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
      },
      subsets: [
        { addresses: [{ ip: apiServerAddress }], ports: [{ name: "https", port: 6443, protocol: "TCP" }] },
      ],
    });
    this.registry.create("endpointslices", {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: "kubernetes",
        namespace: "default",
        labels: { "kubernetes.io/service-name": "kubernetes" },
      },
      addressType: "IPv4",
      endpoints: [{ addresses: [apiServerAddress], conditions: { ready: true } }],
      ports: [{ name: "https", port: 6443, protocol: "TCP" }],
    });
  }

  /** Deprecation warnings the real server adds to every request for a kind (v1 Endpoints since 1.33). */
  private deprecation(resource: ResourceName, opts: WriteOptions | undefined): void {
    const sink = opts?.onWarning ?? this.onWarning;
    if (resource === "endpoints")
      sink?.("v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice");
  }

  private assertOpen(): void {
    if (this.closed) throw new KubeApiError(503, "ServiceUnavailable", "the embedded cluster is closed");
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.store.resourceVersion);
  }

  /** Controller reconciles that threw since the start (empty in a healthy run). */
  get controllerFailures(): readonly ControllerFailure[] {
    return this.runtime.failures;
  }

  async list(
    resource: ResourceName,
    opts?: ListOptions,
  ): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    this.assertOpen();
    const { items, resourceVersion } = this.registry.list(resource, opts);
    return { items: items.map(clone), resourceVersion };
  }

  async get(resource: ResourceName, name: string, namespace?: string): Promise<KubeObject> {
    this.assertOpen();
    return clone(this.registry.get(resource, name, namespace));
  }

  async create(
    resource: ResourceName,
    obj: KubeObject,
    namespace?: string,
    opts?: WriteOptions,
  ): Promise<KubeObject> {
    this.assertOpen();
    this.deprecation(resource, opts);
    return clone(this.registry.create(resource, obj, namespace, opts));
  }

  async replace(resource: ResourceName, obj: KubeObject, opts?: WriteOptions): Promise<KubeObject> {
    this.assertOpen();
    this.deprecation(resource, opts);
    return clone(this.registry.replace(resource, obj, obj?.metadata?.namespace, "main", opts));
  }

  async patch(
    resource: ResourceName,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    type: PatchType = "merge",
    opts?: WriteOptions,
  ): Promise<KubeObject> {
    this.assertOpen();
    this.deprecation(resource, opts);
    return clone(this.registry.patch(resource, name, namespace, patch, type, "main", opts));
  }

  async patchStatus(
    resource: ResourceName,
    name: string,
    namespace: string | undefined,
    patch: unknown,
  ): Promise<KubeObject> {
    this.assertOpen();
    return clone(this.registry.patch(resource, name, namespace, patch, "merge", "status"));
  }

  async delete(resource: ResourceName, name: string, namespace?: string): Promise<void> {
    this.assertOpen();
    this.registry.delete(resource, name, namespace);
  }

  /**
   * kube-apiserver's bootstrap RBAC policy, abridged: the stock ClusterRoles `cluster-admin`, `admin`, `edit`
   * and `view` (rbac.ts lists their rules). Not part of every fresh embedded cluster (its objects would shift
   * the reproducible uids and resourceVersions of existing runs): the testbed installs it when a scenario has users.
   */
  installBootstrapPolicy(): void {
    for (const [name, rules] of Object.entries(STOCK_CLUSTER_ROLES)) {
      if (this.store.get("clusterroles", undefined, name)) continue;
      this.registry.create("clusterroles", {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name, labels: { "kubernetes.io/bootstrapping": "rbac-defaults" } },
        rules,
      });
    }
  }

  /** This cluster acting as `user` (kubectl --as): every request authorised by its RBAC objects (rbac.ts). */
  impersonate(user: UserInfo): KubeApi {
    return new ImpersonatedKubeApi(this, user);
  }

  /**
   * `kubectl apply` for one manifest: create it, or patch the live object with the three-way patch
   * (last-applied configuration -> this manifest), recording the manifest in the last-applied annotation.
   * Field validation is Strict unless told otherwise, as kubectl's.
   */
  async applyManifest(obj: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    const write: WriteOptions = { ...opts, fieldValidation: opts.fieldValidation ?? "Strict" };
    this.assertOpen();
    if (!isMap(obj) || !isMap(obj.metadata)) throw badRequest("Object 'metadata' is missing in the manifest");
    const resource = resourceForKind(obj.apiVersion, obj.kind);
    if (!resource) {
      throw new KubeApiError(
        404,
        "NotFound",
        `no matches for kind "${obj.kind}" in version "${obj.apiVersion}"`,
      );
    }
    const desired = clone(obj);
    for (const k of ["resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"] as const) {
      delete desired.metadata[k];
    }
    delete desired.status;
    if (RESOURCES[resource].namespaced) desired.metadata.namespace ??= "default";
    const annotations = { ...(desired.metadata.annotations ?? {}) };
    delete annotations[LAST_APPLIED_ANNOTATION];
    const recorded = clone(desired);
    if (Object.keys(annotations).length > 0) recorded.metadata.annotations = annotations;
    else delete recorded.metadata.annotations;
    desired.metadata.annotations = {
      ...annotations,
      [LAST_APPLIED_ANNOTATION]: `${JSON.stringify(recorded)}\n`,
    };

    const live = desired.metadata.name
      ? this.registry.find(resource, desired.metadata.name, desired.metadata.namespace)
      : undefined;
    if (!live) return clone(this.registry.create(resource, desired, desired.metadata.namespace, write));
    let last: unknown = {};
    try {
      last = JSON.parse(live.metadata.annotations?.[LAST_APPLIED_ANNOTATION] ?? "{}");
    } catch {
      last = {};
    }
    const patch = applyPatch(last, desired, resource);
    return clone(
      this.registry.patch(
        resource,
        live.metadata.name!,
        live.metadata.namespace,
        patch,
        "strategic",
        "main",
        write,
      ),
    );
  }

  async watch(
    resource: ResourceName,
    opts: WatchOptions,
    onEvent: (ev: WatchEvent) => void,
    onDone: (err?: Error) => void,
  ): Promise<WatchHandle> {
    this.assertOpen();
    const labels = parseLabelQuery(opts.labelSelector);
    const fields = parseFieldQuery(resource, opts.fieldSelector);
    const ns = RESOURCES[resource].namespaced ? opts.namespace || undefined : undefined;
    const rvText = opts.resourceVersion ?? "";
    if (rvText !== "" && !/^\d+$/.test(rvText)) throw badRequest(`invalid resource version: ${rvText}`);
    const matches = (o: KubeObject | undefined) =>
      !!o &&
      (ns === undefined || o.metadata.namespace === ns) &&
      matchesLabelQuery(labels, o.metadata.labels) &&
      matchesFieldQuery(fields, o);
    const filter = (c: Change): WatchEvent | undefined => {
      if (c.resource !== resource) return undefined;
      const now = c.type !== "DELETED" && matches(c.object);
      const before = c.type === "ADDED" ? false : matches(c.prev ?? c.object);
      // an object moving into or out of the selection is ADDED or DELETED for this watch
      if (c.type === "DELETED") return before ? { type: "DELETED", object: clone(c.object) } : undefined;
      if (now && before) return { type: "MODIFIED", object: clone(c.object) };
      if (now) return { type: "ADDED", object: clone(c.object) };
      if (before) return { type: "DELETED", object: clone(c.object) };
      return undefined;
    };
    const w: ActiveWatch = {
      resource,
      pending: [],
      flushScheduled: false,
      bookmarks: !!opts.allowWatchBookmarks,
      stopped: false,
      onEvent,
      onDone,
      filter,
    };
    let backlog: WatchEvent[];
    try {
      if (rvText === "" || rvText === "0") {
        backlog = this.store
          .list(resource, ns)
          .filter((o) => matches(o))
          .map((o) => ({ type: "ADDED", object: clone(o) }));
      } else {
        backlog = this.store.changesSince(Number(rvText)).flatMap((c) => filter(c) ?? []);
      }
    } catch (err) {
      // like the real server: the watch opens, then ends with the 410 error
      w.stopped = true;
      setImmediate(() => onDone(err as Error));
      return { stop: () => {} };
    }
    this.watches.add(w);
    w.pending.push(...backlog);
    if (w.pending.length > 0) this.scheduleFlush(w);
    if (w.bookmarks) {
      w.timer = setInterval(() => this.bookmark(w), this.bookmarkIntervalMs);
      w.timer.unref();
    }
    return { stop: () => this.endWatch(w) };
  }

  private deliver(c: Change): void {
    for (const w of this.watches) {
      if (w.stopped || w.resource !== c.resource) continue;
      const ev = w.filter(c);
      if (!ev) continue;
      w.pending.push(ev);
      this.scheduleFlush(w);
    }
  }

  private scheduleFlush(w: ActiveWatch): void {
    if (w.flushScheduled) return;
    w.flushScheduled = true;
    queueMicrotask(() => {
      w.flushScheduled = false;
      const events = w.pending;
      w.pending = [];
      for (const ev of events) {
        if (w.stopped) return;
        try {
          w.onEvent(ev);
        } catch (err) {
          console.error("embedded cluster: watch handler threw:", err);
        }
      }
    });
  }

  private bookmark(w: ActiveWatch): void {
    if (w.stopped) return;
    const r = RESOURCES[w.resource];
    w.pending.push({
      type: "BOOKMARK",
      object: {
        apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
        kind: r.kind,
        metadata: { resourceVersion: String(this.store.resourceVersion) },
      },
    });
    this.scheduleFlush(w);
  }

  /** Send a BOOKMARK now to every watch that allows them (instead of waiting for the interval). */
  sendBookmarks(): void {
    for (const w of this.watches) if (w.bookmarks) this.bookmark(w);
  }

  private endWatch(w: ActiveWatch): void {
    if (w.stopped) return;
    w.stopped = true;
    if (w.timer) clearInterval(w.timer);
    this.watches.delete(w);
    try {
      w.onDone();
    } catch (err) {
      console.error("embedded cluster: watch onDone handler threw:", err);
    }
  }

  /** The controllers' queued work (`embedded controllers: 3 units: …`), or undefined when there is none. */
  pendingWork(): string | undefined {
    return this.runtime.idle || this.closed
      ? undefined
      : `embedded cluster controllers (${this.runtime.describe()})`;
  }

  /** Resolves when every internal controller has processed all pending work and watch events are delivered. */
  async waitQuiet(): Promise<void> {
    for (;;) {
      await this.runtime.waitQuiet();
      await new Promise<void>((r) => setImmediate(r));
      if (this.runtime.idle || this.closed) return;
    }
  }

  /** Stop the controllers and end every watch (onDone without error). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.runtime.close();
    for (const w of [...this.watches]) this.endWatch(w);
  }
}

export function createEmbeddedCluster(opts?: EmbeddedClusterOptions): EmbeddedCluster {
  return new EmbeddedCluster(opts);
}
