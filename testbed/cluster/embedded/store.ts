/**
 * The object store behind the embedded API server (what etcd + the watch cache are to a real one): objects
 * per resource keyed by namespace/name, one global monotonically increasing resourceVersion, a bounded
 * history of changes for watches to resume from, and indexes by uid and by owner uid. It does no
 * validation; the registry layer does. Stored objects are deep-frozen, so nobody mutates them by accident.
 *
 * Example: store.put("pods", pod, "ADDED") -> the stored pod with metadata.resourceVersion "17"
 */
import type { KubeObject, ResourceName } from "../../../controller/kube/api";
import { expired } from "./errors";

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

export interface Change {
  rv: number;
  resource: ResourceName;
  type: ChangeType;
  object: KubeObject;
  /** The object before the change (MODIFIED, DELETED). */
  prev?: KubeObject;
}

export type ChangeListener = (c: Change) => void;

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === "object" && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

export class ObjectStore {
  private rv = 0;
  private readonly objects = new Map<ResourceName, Map<string, KubeObject>>();
  /** The same objects per namespace: a namespace's pods without a walk over every pod of the cluster. */
  private readonly byNamespace = new Map<ResourceName, Map<string, Map<string, KubeObject>>>();
  private readonly byUid = new Map<string, { resource: ResourceName; key: string }>();
  /** owner uid -> dependents ("resource|key") */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly history: Change[] = [];
  /** Every change with rv <= compactedRv has left the history. */
  private compactedRv = 0;
  private readonly listeners: ChangeListener[] = [];

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): number {
    return this.rv;
  }

  subscribe(l: ChangeListener): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private table(resource: ResourceName): Map<string, KubeObject> {
    let t = this.objects.get(resource);
    if (!t) {
      t = new Map();
      this.objects.set(resource, t);
    }
    return t;
  }

  get(resource: ResourceName, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(resource)?.get(objectKey(namespace, name));
  }

  getByUid(uid: string): { resource: ResourceName; object: KubeObject } | undefined {
    const at = this.byUid.get(uid);
    if (!at) return undefined;
    const object = this.objects.get(at.resource)?.get(at.key);
    return object ? { resource: at.resource, object } : undefined;
  }

  /** Objects whose ownerReferences name this uid. */
  dependentsOf(uid: string): { resource: ResourceName; object: KubeObject }[] {
    const out: { resource: ResourceName; object: KubeObject }[] = [];
    for (const ref of this.dependents.get(uid) ?? []) {
      const sep = ref.indexOf("|");
      const resource = ref.slice(0, sep) as ResourceName;
      const object = this.objects.get(resource)?.get(ref.slice(sep + 1));
      if (object) out.push({ resource, object });
    }
    return out;
  }

  /** Objects of a resource, optionally in one namespace, in no particular order (for controllers). */
  scan(resource: ResourceName, namespace?: string): KubeObject[] {
    const t =
      namespace === undefined ? this.objects.get(resource) : this.byNamespace.get(resource)?.get(namespace);
    return t ? [...t.values()] : [];
  }

  private namespaced(resource: ResourceName, namespace: string): Map<string, KubeObject> {
    let r = this.byNamespace.get(resource);
    if (!r) {
      r = new Map();
      this.byNamespace.set(resource, r);
    }
    let t = r.get(namespace);
    if (!t) {
      t = new Map();
      r.set(namespace, t);
    }
    return t;
  }

  /** Objects of a resource, optionally in one namespace, in key order (like etcd). */
  list(resource: ResourceName, namespace?: string): KubeObject[] {
    return this.scan(resource, namespace).sort((a, b) => {
      const ka = objectKey(a.metadata.namespace, a.metadata.name!);
      const kb = objectKey(b.metadata.namespace, b.metadata.name!);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  private index(resource: ResourceName, obj: KubeObject, add: boolean): void {
    const key = objectKey(obj.metadata.namespace, obj.metadata.name!);
    const ref = `${resource}|${key}`;
    if (obj.metadata.uid) {
      if (add) this.byUid.set(obj.metadata.uid, { resource, key });
      else this.byUid.delete(obj.metadata.uid);
    }
    for (const o of obj.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(o.uid);
      if (add) {
        if (!set) {
          set = new Set();
          this.dependents.set(o.uid, set);
        }
        set.add(ref);
      } else if (set) {
        set.delete(ref);
        if (set.size === 0) this.dependents.delete(o.uid);
      }
    }
  }

  /** Write an object (the caller has built it completely); stamps the next resourceVersion. */
  put(resource: ResourceName, obj: KubeObject, type: "ADDED" | "MODIFIED"): KubeObject {
    const key = objectKey(obj.metadata.namespace, obj.metadata.name!);
    const t = this.table(resource);
    const prev = t.get(key);
    const stored = deepFreeze({
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: String(++this.rv) },
    });
    if (prev) this.index(resource, prev, false);
    t.set(key, stored);
    if (obj.metadata.namespace) this.namespaced(resource, obj.metadata.namespace).set(key, stored);
    this.index(resource, stored, true);
    this.record({ rv: this.rv, resource, type, object: stored, prev });
    return stored;
  }

  /** Remove an object; the DELETED event carries it with the deletion's resourceVersion. */
  remove(resource: ResourceName, namespace: string | undefined, name: string): KubeObject | undefined {
    const key = objectKey(namespace, name);
    const t = this.table(resource);
    const prev = t.get(key);
    if (!prev) return undefined;
    t.delete(key);
    if (namespace) {
      const inNs = this.byNamespace.get(resource)?.get(namespace);
      inNs?.delete(key);
      if (inNs?.size === 0) this.byNamespace.get(resource)!.delete(namespace);
    }
    this.index(resource, prev, false);
    const gone = deepFreeze({ ...prev, metadata: { ...prev.metadata, resourceVersion: String(++this.rv) } });
    this.record({ rv: this.rv, resource, type: "DELETED", object: gone, prev });
    return gone;
  }

  private record(c: Change): void {
    this.history.push(c);
    // compacted in batches of a quarter of the limit: dropping one change per write shifts the whole history
    if (this.history.length > this.historyLimit + Math.max(1, this.historyLimit >> 2)) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1].rv;
    }
    for (const l of [...this.listeners]) l(c);
  }

  /** Changes after `rv`, or 410 Expired when some of them already left the history. */
  changesSince(rv: number): Change[] {
    if (rv < this.compactedRv) throw expired(rv, this.compactedRv + 1);
    // history is sorted by rv: binary search for the first change after rv
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid].rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }
}
