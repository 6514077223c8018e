/**
 * A minimal in-memory KubeApi for the controller's tests: objects with uids and resourceVersions, list +
 * watch with replay from a resourceVersion, 410 Gone once history is compacted, and knobs to end every watch
 * (server-side close) or compact history, so informer recovery paths can be driven deterministically.
 *
 * Example: `const k = new FakeKube(); await k.create("namespaces", ns("dev")); k.compact(); k.closeWatches();`
 */
import { randomUUID } from "node:crypto";
import {
  type KubeApi,
  KubeApiError,
  type KubeObject,
  type ResourceName,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from "../../controller/kube/api";

interface Watcher {
  resource: ResourceName;
  onEvent: (ev: WatchEvent) => void;
  onDone: (err?: Error) => void;
}

export class FakeKube implements KubeApi {
  private rv = 1;
  private readonly objects = new Map<ResourceName, Map<string, KubeObject>>();
  private history: { rv: number; resource: ResourceName; ev: WatchEvent }[] = [];
  private oldest = 1;
  private readonly watchers = new Set<Watcher>();
  /** Calls per method, for assertions on informer behaviour. */
  readonly calls = { list: 0, watch: 0 };

  private bucket(r: ResourceName) {
    let m = this.objects.get(r);
    if (!m) {
      m = new Map();
      this.objects.set(r, m);
    }
    return m;
  }

  private emit(resource: ResourceName, type: WatchEvent["type"], obj: KubeObject) {
    const ev = { type, object: structuredClone(obj) };
    this.history.push({ rv: Number(obj.metadata.resourceVersion), resource, ev });
    for (const w of this.watchers) if (w.resource === resource) w.onEvent(structuredClone(ev));
  }

  async list(resource: ResourceName) {
    this.calls.list++;
    return {
      items: [...this.bucket(resource).values()].map((o) => structuredClone(o)),
      resourceVersion: String(this.rv),
    };
  }

  async watch(
    resource: ResourceName,
    opts: WatchOptions,
    onEvent: (ev: WatchEvent) => void,
    onDone: (err?: Error) => void,
  ): Promise<WatchHandle> {
    this.calls.watch++;
    const from = Number(opts.resourceVersion);
    if (from < this.oldest - 1) {
      queueMicrotask(() => onDone(new KubeApiError(410, "Gone", `too old resource version: ${from}`)));
      return { stop() {} };
    }
    const w: Watcher = { resource, onEvent, onDone };
    const replay = this.history.filter((h) => h.resource === resource && h.rv > from).map((h) => h.ev);
    queueMicrotask(() => {
      for (const ev of replay) onEvent(structuredClone(ev));
      this.watchers.add(w);
    });
    return { stop: () => this.watchers.delete(w) };
  }

  async get(resource: ResourceName, name: string, namespace?: string) {
    const o = this.bucket(resource).get(namespace ? `${namespace}/${name}` : name);
    if (!o) throw new KubeApiError(404, "NotFound", `${resource} "${name}" not found`);
    return structuredClone(o);
  }

  async create(resource: ResourceName, obj: KubeObject, namespace?: string) {
    const o = structuredClone(obj);
    if (namespace) o.metadata.namespace = namespace;
    const key = o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!;
    if (this.bucket(resource).has(key)) throw new KubeApiError(409, "AlreadyExists", `${key} already exists`);
    o.metadata.uid ??= randomUUID();
    o.metadata.resourceVersion = String(++this.rv);
    this.bucket(resource).set(key, o);
    this.emit(resource, "ADDED", o);
    return structuredClone(o);
  }

  async replace(resource: ResourceName, obj: KubeObject) {
    const key = obj.metadata.namespace
      ? `${obj.metadata.namespace}/${obj.metadata.name}`
      : obj.metadata.name!;
    const cur = this.bucket(resource).get(key);
    if (!cur) throw new KubeApiError(404, "NotFound", `${key} not found`);
    const o = structuredClone(obj);
    o.metadata.uid = cur.metadata.uid;
    o.metadata.resourceVersion = String(++this.rv);
    this.bucket(resource).set(key, o);
    this.emit(resource, "MODIFIED", o);
    return structuredClone(o);
  }

  /** Merge patch only (enough for the tests). */
  async patch(resource: ResourceName, name: string, namespace: string | undefined, patch: unknown) {
    const cur = await this.get(resource, name, namespace);
    return this.replace(resource, merge(cur, patch) as KubeObject);
  }

  async patchStatus(resource: ResourceName, name: string, namespace: string | undefined, patch: unknown) {
    return this.patch(resource, name, namespace, { status: (patch as { status?: unknown }).status ?? patch });
  }

  async delete(resource: ResourceName, name: string, namespace?: string) {
    const key = namespace ? `${namespace}/${name}` : name;
    const cur = this.bucket(resource).get(key);
    if (!cur) throw new KubeApiError(404, "NotFound", `${key} not found`);
    this.bucket(resource).delete(key);
    cur.metadata.resourceVersion = String(++this.rv);
    this.emit(resource, "DELETED", cur);
  }

  /** End every open watch as a server would on timeout (clients resume from their last version). */
  closeWatches() {
    const ws = [...this.watchers];
    this.watchers.clear();
    for (const w of ws) w.onDone();
  }

  /** Forget history: resuming from any version seen so far now answers 410 Gone. */
  compact() {
    this.history = [];
    this.oldest = this.rv + 2;
    this.rv = this.oldest - 1;
  }
}

function merge(base: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    base && typeof base === "object" && !Array.isArray(base) ? { ...(base as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

export const ns = (name: string, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, ...(annotations ? { annotations } : {}) },
});

export const node = (name: string, ip: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name },
  status: { addresses: [{ type: "InternalIP", address: ip }] },
});

export const pod = (
  namespace: string,
  name: string,
  nodeName: string,
  labels?: Record<string, string>,
): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace, ...(labels ? { labels } : {}) },
  spec: { nodeName, containers: [{ name: "c", image: "agnhost" }] },
});

export const service = (
  namespace: string,
  name: string,
  clusterIP: string,
  port = 80,
  targetPort = 8080,
): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace },
  spec: { clusterIP, ports: [{ name: "http", port, targetPort, protocol: "TCP" }] },
});

export const slice = (namespace: string, svc: string, pods: KubeObject[], port = 8080): KubeObject => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: `${svc}-x`, namespace, labels: { "kubernetes.io/service-name": svc } },
  addressType: "IPv4",
  ports: [{ name: "http", port, protocol: "TCP" }],
  endpoints: pods.map((p) => ({
    addresses: ["10.0.0.1"],
    conditions: { ready: true },
    targetRef: { kind: "Pod", namespace, name: p.metadata.name, uid: p.metadata.uid },
  })),
});
