/**
 * Deletion that cascades: the garbage collector (dependents named by ownerReferences go when their last
 * owner is gone, background propagation; objects created with only dangling owners are collected too; pods
 * bound to a deleted node go, as PodGC does, though without its quarantine delay) and
 * the namespace controller (a Terminating namespace has all its content deleted, then disappears).
 *
 * Example: delete Deployment web -> GC deletes ReplicaSet web-5d4c6b8f79 -> GC deletes its pods.
 */
import { KubeApiError, type KubeObject, RESOURCES, type ResourceName } from "../../../../controller/kube/api";
import type { Registry } from "../registry";
import { type Change, objectKey } from "../store";
import type { Controller } from "./runtime";

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;

/** Ignore 404s: another controller (or the user) may have deleted the object first. */
function tolerateGone(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof KubeApiError && e.status === 404)) throw e;
  }
}

export class GarbageCollector implements Controller {
  readonly name = "garbage-collector";

  constructor(private readonly registry: Registry) {}

  onChange(change: Change, enqueue: (key: string) => void): void {
    const md = change.object.metadata;
    if (change.type === "DELETED" && md.uid) enqueue(`owner|${md.uid}`);
    // PodGC: pods bound to a node that no longer exists are deleted
    if (change.type === "DELETED" && change.resource === "nodes") enqueue(`node|${md.name}`);
    if (change.type !== "DELETED" && (md.ownerReferences ?? []).length > 0) {
      enqueue(`dependent|${change.resource}|${objectKey(md.namespace, md.name!)}`);
    }
  }

  reconcile(key: string): void {
    const [kind, a, b] = key.split("|");
    if (kind === "owner") {
      for (const { resource, object } of this.registry.store.dependentsOf(a)) this.collect(resource, object);
    } else if (kind === "node") {
      if (this.registry.store.get("nodes", undefined, a)) return;
      for (const pod of this.registry.store.scan("pods")) {
        if (pod.spec?.nodeName === a) {
          tolerateGone(() => this.registry.delete("pods", pod.metadata.name!, pod.metadata.namespace));
        }
      }
    } else {
      const [ns, name] = b.includes("/") ? b.split("/") : [undefined, b];
      const obj = this.registry.store.get(a as ResourceName, ns, name);
      if (obj) this.collect(a as ResourceName, obj);
    }
  }

  /** Delete the object if none of its owners exists any more; drop references to vanished owners otherwise. */
  private collect(resource: ResourceName, obj: KubeObject): void {
    const refs: Any[] = obj.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const alive = refs.filter((r) => {
      const owner = this.registry.store.getByUid(r.uid);
      return owner !== undefined && owner.object.metadata.name === r.name;
    });
    if (alive.length === refs.length) return;
    const { name, namespace } = obj.metadata;
    if (alive.length === 0) tolerateGone(() => this.registry.delete(resource, name!, namespace));
    else
      tolerateGone(() =>
        this.registry.patch(resource, name!, namespace, { metadata: { ownerReferences: alive } }),
      );
  }
}

const NAMESPACED = (Object.keys(RESOURCES) as ResourceName[]).filter((r) => RESOURCES[r].namespaced);

export class NamespaceController implements Controller {
  readonly name = "namespace";

  constructor(private readonly registry: Registry) {}

  onChange(change: Change, enqueue: (key: string) => void): void {
    if (change.resource === "namespaces") {
      if (change.type !== "DELETED" && change.object.metadata.deletionTimestamp)
        enqueue(change.object.metadata.name!);
      return;
    }
    // content leaving a terminating namespace may let it finish
    const ns = change.object.metadata.namespace;
    if (
      change.type === "DELETED" &&
      ns &&
      this.registry.store.get("namespaces", undefined, ns)?.metadata.deletionTimestamp
    ) {
      enqueue(ns);
    }
  }

  reconcile(name: string): void {
    const ns = this.registry.store.get("namespaces", undefined, name);
    if (!ns?.metadata.deletionTimestamp) return;
    for (const resource of NAMESPACED) {
      for (const obj of this.registry.store.scan(resource, name)) {
        if (!obj.metadata.deletionTimestamp)
          tolerateGone(() => this.registry.delete(resource, obj.metadata.name!, name));
      }
    }
    // objects held by finalizers keep the namespace until they go (their DELETED events requeue us)
    const left = NAMESPACED.reduce((n, r) => n + this.registry.store.scan(r, name).length, 0);
    if (left === 0) this.registry.finalizeNamespace(name);
  }
}
