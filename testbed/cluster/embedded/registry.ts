/**
 * The API server's request handling over the object store: namespace resolution and admission, defaulting,
 * validation, optimistic concurrency, the status subresource, patches, ClusterIP/NodePort allocation,
 * finalizers and namespace termination. Synchronous, so the in-process controllers and the async KubeApi
 * façade share one code path. Returned objects are the frozen stored ones; callers clone before handing
 * them out.
 *
 * Example: registry.create("pods", { apiVersion: "v1", kind: "Pod", metadata: { name: "a" }, spec })
 */
import {
  KubeApiError,
  type KubeObject,
  type ListOptions,
  type PatchType,
  RESOURCES,
  type ResourceName,
  type WriteOptions,
} from "../../../controller/kube/api";
import { decode } from "./decode";
import type { FieldType } from "./schema";
import { defaultObject, defaultPodStatus, hasStatusSubresource, initialStatus } from "./defaulting";
import { alreadyExists, badRequest, conflict, type FieldError, forbidden, invalid, notFound } from "./errors";
import { AllocationError, ClusterIPAllocator, NodePortAllocator } from "./ipam";
import type { IdSource } from "./names";
import { deepEqual, isMap, jsonPatch, mergePatch, strategicMergePatch } from "./patch";
import { matchesFieldQuery, matchesLabelQuery, parseFieldQuery, parseLabelQuery } from "./selectors";
import type { ObjectStore } from "./store";
import { validateObject, validateUpdate } from "./validation";

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;

/** Namespaces that exist from the start; the first three may never be deleted. */
export const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];
const UNDELETABLE_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);

export interface RegistryOptions {
  serviceSubnet: string;
  ids: IdSource;
  now: () => Date;
  /** Warnings of requests that bring no onWarning of their own (unknown fields under Warn). */
  onWarning?: (message: string) => void;
}

type Mode = "main" | "status";

/**
 * Kinds whose strategy keeps metadata.generation in the real API server (1 on create, +1 per spec change);
 * Services, Namespaces, Nodes, Endpoints and Leases have none. Pods have one since PodObservedGenerationTracking.
 */
const GENERATION_RESOURCES = new Set<ResourceName>([
  "pods",
  "deployments",
  "replicasets",
  "replicationcontrollers",
  "networkpolicies",
  "ingresses",
  "endpointslices",
  // a custom resource always has one (its spec is whatever is not metadata or status)
  "networkattachmentdefinitions",
]);

/** An EndpointSlice has no spec: its generation follows its endpoints, ports and address type. */
function specChanged(resource: ResourceName, next: KubeObject, prev: KubeObject): boolean {
  if (resource !== "endpointslices") return next.spec !== undefined && !deepEqual(next.spec, prev.spec);
  const body = (o: Any) => ({
    addressType: o.addressType,
    endpoints: o.endpoints ?? [],
    ports: o.ports ?? [],
  });
  return !deepEqual(body(next), body(prev));
}

function apiVersionOf(resource: ResourceName): string {
  const r = RESOURCES[resource];
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** Go's %+v of a decoded JSON value (how the server prints a strategic patch in its errors). */
function goFormat(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (Array.isArray(v)) return `[${v.map(goFormat).join(" ")}]`;
  if (isMap(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goFormat(v[k])}`).join(" ")}]`;
  }
  return String(v);
}

/** reflect.Kind of a JSON value decoded into interface{} with PreserveInts (the unstructured converter's input). */
function goKindOf(v: unknown): string {
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int64" : "float64";
  if (Array.isArray(v)) return "slice";
  return "map";
}

/**
 * runtime.DefaultUnstructuredConverter's error for a value of the wrong type (what a strategic merge patch
 * reports): reflect conversions, where numbers convert to strings but nothing converts to a number or a bool.
 */
function converterError(value: unknown, t: FieldType): string | undefined {
  const from = goKindOf(value);
  if (t.kind === "struct") return `cannot restore struct from: ${from}`;
  if (t.kind === "array") return `cannot restore slice from ${from}`;
  if (t.kind === "map") return `cannot restore map from ${from}`;
  const kind =
    t.kind === "string"
      ? "string"
      : t.kind === "bool"
        ? "bool"
        : t.kind === "int"
          ? `int${t.bits}`
          : t.kind === "float"
            ? "float64"
            : undefined;
  if (!kind) return undefined;
  const numeric = from === "int64" || from === "float64";
  if (numeric && (kind === "string" || (from === "float64" && kind.startsWith("int"))))
    return `cannot convert ${from} to ${t.go}`;
  return `unrecognized type: ${kind}`;
}

export class Registry {
  readonly clusterIPs: ClusterIPAllocator;
  readonly nodePorts = new NodePortAllocator();

  constructor(
    readonly store: ObjectStore,
    private readonly opts: RegistryOptions,
  ) {
    this.clusterIPs = new ClusterIPAllocator(opts.serviceSubnet);
  }

  /** Now, as metadata timestamps are written (RFC 3339, whole seconds). */
  timestamp(): string {
    return this.opts
      .now()
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z");
  }

  /** The namespace a request is for: the argument, else the object's, else "default" (kubectl's default). */
  private namespaceFor(
    resource: ResourceName,
    arg: string | undefined,
    fromObject?: string,
  ): string | undefined {
    if (!RESOURCES[resource].namespaced) return undefined;
    if (arg && fromObject && arg !== fromObject) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    return arg || fromObject || "default";
  }

  get(resource: ResourceName, name: string, namespace?: string): KubeObject {
    const ns = this.namespaceFor(resource, namespace);
    const obj = this.store.get(resource, ns, name);
    if (!obj) throw notFound(resource, name);
    return obj;
  }

  find(resource: ResourceName, name: string, namespace?: string): KubeObject | undefined {
    return this.store.get(
      resource,
      RESOURCES[resource].namespaced ? (namespace ?? "default") : undefined,
      name,
    );
  }

  list(resource: ResourceName, opts: ListOptions = {}): { items: KubeObject[]; resourceVersion: string } {
    const labels = parseLabelQuery(opts.labelSelector);
    const fields = parseFieldQuery(resource, opts.fieldSelector);
    const ns = RESOURCES[resource].namespaced ? opts.namespace || undefined : undefined;
    const items = this.store
      .list(resource, ns)
      .filter((o) => matchesLabelQuery(labels, o.metadata.labels) && matchesFieldQuery(fields, o));
    return { items, resourceVersion: String(this.store.resourceVersion) };
  }

  /** Where warnings of a request go: its own onWarning, else the cluster's. */
  private warn(opts: WriteOptions, messages: string[]): void {
    const sink = opts.onWarning ?? this.opts.onWarning;
    if (sink) for (const m of messages) sink(m);
  }

  /**
   * The decoding step of a create or update body: a value of the wrong type is a 400 whatever the field
   * validation; unknown fields are a 400 under Strict, a warning each under Warn (the default), and are dropped.
   * Returns the decoded copy.
   */
  private decodeBody(resource: ResourceName, body: KubeObject, opts: WriteOptions): Any {
    const { kind, version } = RESOURCES[resource];
    const prefix = `${kind} in version "${version}" cannot be handled as a ${kind}: `;
    const r = decode(resource, body);
    if (r.typeError) throw badRequest(prefix + r.typeError);
    if (r.strict.length > 0) {
      const mode = opts.fieldValidation ?? "Warn";
      if (mode === "Strict") throw badRequest(`${prefix}strict decoding error: ${r.strict.join(", ")}`);
      if (mode === "Warn") this.warn(opts, r.strict);
    }
    return r.object;
  }

  /**
   * Decoding a patched object: the server reports its failures as 422 on the field `patch`, with the patched
   * JSON (merge, JSON patch) or the patch as a Go map (strategic) as the value.
   */
  private decodePatched(
    next: Any,
    resource: ResourceName,
    patch: unknown,
    type: PatchType,
    opts: WriteOptions,
  ): Any {
    const r = decode(resource, next);
    const strategic = type === "strategic";
    const fail = (detail: string) =>
      invalid("", "", [
        { path: "patch", kind: "Invalid", value: strategic ? goFormat(patch) : JSON.stringify(next), detail },
      ]);
    if (r.typeError) {
      const converted =
        strategic && r.typeErrorAt ? converterError(r.typeErrorAt.value, r.typeErrorAt.type) : undefined;
      throw fail(converted ?? r.typeError);
    }
    if (r.strict.length > 0) {
      const mode = opts.fieldValidation ?? "Warn";
      const errs = strategic ? [...r.strict].sort() : r.strict;
      if (mode === "Strict") throw fail(`strict decoding error: ${errs.join(", ")}`);
      if (mode === "Warn") this.warn(opts, errs);
    }
    return r.object;
  }

  private checkKind(resource: ResourceName, obj: KubeObject): void {
    if (!isMap(obj) || !isMap(obj.metadata))
      throw badRequest("Object 'metadata' is missing in the request body");
    const r = RESOURCES[resource];
    const av = apiVersionOf(resource);
    if ((obj.kind && obj.kind !== r.kind) || (obj.apiVersion && obj.apiVersion !== av)) {
      throw badRequest(`${obj.kind} in version "${obj.apiVersion}" cannot be handled as a ${r.kind}`);
    }
  }

  private admitNamespace(resource: ResourceName, name: string, ns: string | undefined): void {
    if (ns === undefined) return;
    const nsObj = this.store.get("namespaces", undefined, ns);
    if (!nsObj) throw notFound("namespaces", ns);
    if (nsObj.metadata.deletionTimestamp) {
      throw forbidden(
        resource,
        name,
        `unable to create new content in namespace ${ns} because it is being terminated`,
      );
    }
  }

  /** 422 Invalid, naming the kind with its group as the server does (`Deployment.apps "web" is invalid`). */
  private reject(resource: ResourceName, name: string, errs: FieldError[]): void {
    const r = RESOURCES[resource];
    if (errs.length > 0) throw invalid(r.group ? `${r.kind}.${r.group}` : r.kind, name, errs);
  }

  create(resource: ResourceName, input: KubeObject, namespace?: string, opts: WriteOptions = {}): KubeObject {
    this.checkKind(resource, input);
    const obj: Any = this.decodeBody(resource, input, opts);
    const r = RESOURCES[resource];
    obj.apiVersion = apiVersionOf(resource);
    obj.kind = r.kind;
    const md = obj.metadata;
    const ns = this.namespaceFor(resource, namespace, md.namespace);
    if (ns) md.namespace = ns;
    else delete md.namespace;
    if (md.resourceVersion) throw badRequest("resourceVersion should not be set on objects to be created");
    if (!md.name && md.generateName && typeof md.generateName === "string") {
      do md.name = this.opts.ids.generateName(md.generateName);
      while (this.store.get(resource, ns, md.name));
    }
    for (const k of [
      "uid",
      "creationTimestamp",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "managedFields",
    ]) {
      delete md[k];
    }
    const status = initialStatus(resource, obj);
    if (status !== undefined) obj.status = structuredClone(status);
    defaultObject(resource, obj);
    this.reject(resource, md.name ?? "", validateObject(resource, obj));
    this.admitNamespace(resource, md.name, ns);
    if (this.store.get(resource, ns, md.name)) throw alreadyExists(resource, md.name);
    const rollback = resource === "services" ? this.allocateService(obj, undefined) : () => {};
    try {
      md.uid = this.opts.ids.uid();
      md.creationTimestamp = this.timestamp();
      if (GENERATION_RESOURCES.has(resource)) md.generation = 1;
      return this.store.put(resource, obj, "ADDED");
    } catch (e) {
      rollback();
      throw e;
    }
  }

  /** Full update of the main resource (status kept) or of the status subresource (only status taken). */
  replace(
    resource: ResourceName,
    input: KubeObject,
    namespace?: string,
    mode: Mode = "main",
    opts: WriteOptions = {},
  ): KubeObject {
    this.checkKind(resource, input);
    const name = input.metadata.name;
    if (!name) throw badRequest("name is required");
    const ns = this.namespaceFor(resource, namespace, input.metadata.namespace);
    const prev = this.store.get(resource, ns, name);
    if (!prev) throw notFound(resource, name);
    const rv = input.metadata.resourceVersion;
    if (rv && rv !== prev.metadata.resourceVersion) throw conflict(resource, name);
    return this.writeUpdate(resource, prev, this.decodeBody(resource, input, opts), mode);
  }

  patch(
    resource: ResourceName,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    type: PatchType = "merge",
    mode: Mode = "main",
    opts: WriteOptions = {},
  ): KubeObject {
    const prev = this.get(resource, name, namespace);
    const base = structuredClone(prev);
    let next: Any;
    if (type === "json") next = jsonPatch(base, patch);
    else if (!isMap(patch)) throw badRequest(`${type} merge patch must be a JSON object`);
    else if (type === "strategic") next = strategicMergePatch(base, patch, resource);
    else next = mergePatch(base, patch);
    if (!isMap(next) || !isMap(next.metadata)) throw badRequest("patch removed the object's metadata");
    next = this.decodePatched(next, resource, patch, type, opts);
    // a resourceVersion in the patch is a precondition, like on the real server
    const rv = next.metadata.resourceVersion;
    if (rv && rv !== prev.metadata.resourceVersion) throw conflict(resource, name);
    if (next.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    next.metadata.namespace = prev.metadata.namespace;
    return this.writeUpdate(resource, prev, next, mode);
  }

  private writeUpdate(resource: ResourceName, prev: KubeObject, next: Any, mode: Mode): KubeObject {
    const name = prev.metadata.name!;
    if (mode === "status") {
      next = { ...structuredClone(prev), status: next.status };
      if (resource === "pods") defaultPodStatus(next.status);
    } else {
      next.apiVersion = prev.apiVersion;
      next.kind = prev.kind;
      const md = next.metadata;
      for (const k of [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
      ]) {
        if ((prev.metadata as Any)[k] === undefined) delete md[k];
        else md[k] = (prev.metadata as Any)[k];
      }
      md.namespace = prev.metadata.namespace;
      if (!RESOURCES[resource].namespaced) delete md.namespace;
      if (hasStatusSubresource(resource)) {
        if (prev.status === undefined) delete next.status;
        else next.status = structuredClone(prev.status);
      }
      if (resource === "services") this.keepAllocations(next, prev);
      defaultObject(resource, next);
    }
    this.reject(resource, name, [...validateObject(resource, next), ...validateUpdate(resource, next, prev)]);
    if (mode === "main" && GENERATION_RESOURCES.has(resource) && specChanged(resource, next, prev)) {
      next.metadata.generation = ((prev.metadata.generation as number | undefined) ?? 0) + 1;
    }
    next.metadata.resourceVersion = prev.metadata.resourceVersion;
    if (deepEqual(next, prev)) return prev;
    if (
      next.metadata.deletionTimestamp &&
      (next.metadata.finalizers ?? []).length === 0 &&
      resource !== "namespaces"
    ) {
      return this.removeNow(resource, prev);
    }
    const rollback = resource === "services" && mode === "main" ? this.allocateService(next, prev) : () => {};
    try {
      return this.store.put(resource, next, "MODIFIED");
    } catch (e) {
      rollback();
      throw e;
    }
  }

  /** Binding subresource: what the scheduler writes (node name plus the PodScheduled condition). */
  bind(namespace: string, name: string, nodeName: string): KubeObject {
    const prev = this.get("pods", name, namespace);
    if (prev.spec?.nodeName) {
      throw new KubeApiError(
        409,
        "Conflict",
        `pod ${name} is already assigned to node "${prev.spec.nodeName}"`,
      );
    }
    const next: Any = structuredClone(prev);
    next.spec.nodeName = nodeName;
    const conditions = (next.status.conditions ?? []).filter((c: Any) => c.type !== "PodScheduled");
    conditions.push({
      type: "PodScheduled",
      status: "True",
      lastProbeTime: null,
      lastTransitionTime: this.timestamp(),
    });
    next.status.conditions = conditions;
    return this.store.put("pods", next, "MODIFIED");
  }

  /** Set one status condition, keeping its transition time when nothing about it changes. */
  setCondition(resource: ResourceName, obj: KubeObject, cond: Record<string, unknown>): KubeObject {
    const conditions: Any[] = obj.status?.conditions ?? [];
    const old = conditions.find((c) => c.type === cond.type);
    if (old && old.status === cond.status && old.reason === cond.reason && old.message === cond.message)
      return obj;
    const updated = { lastProbeTime: null, ...cond, lastTransitionTime: this.timestamp() };
    const next = [...conditions.filter((c) => c.type !== cond.type), updated];
    return this.writeUpdate(resource, obj, { ...obj, status: { ...obj.status, conditions: next } }, "status");
  }

  delete(resource: ResourceName, name: string, namespace?: string): void {
    const obj = this.get(resource, name, namespace);
    if (resource === "namespaces") {
      if (UNDELETABLE_NAMESPACES.has(name))
        throw forbidden("namespaces", name, "this namespace may not be deleted");
      if (obj.metadata.deletionTimestamp) return;
      const next: Any = structuredClone(obj);
      next.metadata.deletionTimestamp = this.timestamp();
      next.metadata.deletionGracePeriodSeconds = 0;
      next.status = { ...next.status, phase: "Terminating" };
      this.store.put(resource, next, "MODIFIED");
      return;
    }
    if ((obj.metadata.finalizers ?? []).length > 0) {
      if (obj.metadata.deletionTimestamp) return;
      const next: Any = structuredClone(obj);
      next.metadata.deletionTimestamp = this.timestamp();
      next.metadata.deletionGracePeriodSeconds = 0;
      this.store.put(resource, next, "MODIFIED");
      return;
    }
    this.removeNow(resource, obj);
  }

  /** The namespace controller's last step: the namespace is empty, drop it. */
  finalizeNamespace(name: string): void {
    const ns = this.store.get("namespaces", undefined, name);
    if (ns?.metadata.deletionTimestamp) this.store.remove("namespaces", undefined, name);
  }

  private removeNow(resource: ResourceName, obj: KubeObject): KubeObject {
    const gone = this.store.remove(resource, obj.metadata.namespace, obj.metadata.name!)!;
    if (resource === "services") this.releaseService(obj);
    return gone;
  }

  // ---- service address allocation ----

  /** Carry allocated ClusterIPs and NodePorts over when an update leaves them out (as the real server). */
  private keepAllocations(next: Any, prev: KubeObject): void {
    const s = next.spec;
    const p = prev.spec ?? {};
    if (!isMap(s) || s.type === "ExternalName" || p.type === "ExternalName") return;
    const spec = s as Any;
    if (
      (spec.clusterIP === undefined || spec.clusterIP === "") &&
      spec.clusterIPs === undefined &&
      p.clusterIP
    ) {
      spec.clusterIP = p.clusterIP;
      spec.clusterIPs = [...(p.clusterIPs ?? [p.clusterIP])];
    }
    if (Array.isArray(spec.ports) && (spec.type === "NodePort" || spec.type === "LoadBalancer")) {
      for (const port of spec.ports) {
        if (!isMap(port) || port.nodePort) continue;
        const old = (p.ports ?? []).find(
          (o: Any) => o.port === port.port && (o.protocol ?? "TCP") === (port.protocol ?? "TCP"),
        );
        if (old?.nodePort) port.nodePort = old.nodePort;
      }
    }
  }

  private allocationError(obj: Any, path: string, value: unknown, e: unknown): never {
    if (e instanceof AllocationError) {
      if (e.reason === "full") {
        throw new KubeApiError(
          500,
          "InternalError",
          `Internal error occurred: failed to allocate a serviceIP: ${e.message}`,
        );
      }
      throw invalid("Service", obj.metadata.name, [{ path, kind: "Invalid", value, detail: e.message }]);
    }
    throw e;
  }

  /**
   * Allocate what `next` needs and `prev` did not hold; release what `prev` held and `next` no longer uses.
   * Returns a rollback for when the write fails afterwards.
   */
  private allocateService(next: Any, prev: KubeObject | undefined): () => void {
    const s = next.spec;
    const p: Any = prev?.spec ?? {};
    const taken: (() => void)[] = [];
    const rollback = () => {
      for (const undo of taken) undo();
    };
    try {
      const wantsIP = s.type !== "ExternalName";
      const hadIP =
        p.type !== "ExternalName" && p.clusterIP && p.clusterIP !== "None"
          ? (p.clusterIP as string)
          : undefined;
      if (wantsIP && s.clusterIP !== "None") {
        if (s.clusterIP && s.clusterIP !== hadIP) {
          try {
            this.clusterIPs.reserve(s.clusterIP);
          } catch (e) {
            this.allocationError(next, "spec.clusterIPs[0]", s.clusterIP, e);
          }
          const ip = s.clusterIP;
          taken.push(() => this.clusterIPs.release(ip));
        } else if (!s.clusterIP) {
          let ip: string;
          try {
            ip = this.clusterIPs.allocate();
          } catch (e) {
            this.allocationError(next, "spec.clusterIPs[0]", "", e);
          }
          taken.push(() => this.clusterIPs.release(ip));
          s.clusterIP = ip;
          s.clusterIPs = [ip];
        }
      }
      if (wantsIP && s.clusterIP === "None") s.clusterIPs = ["None"];
      const oldPorts = new Set<number>(
        (p.type === "NodePort" || p.type === "LoadBalancer" ? (p.ports ?? []) : [])
          .map((x: Any) => x.nodePort)
          .filter(Boolean),
      );
      const newPorts = new Set<number>();
      if (s.type === "NodePort" || s.type === "LoadBalancer") {
        (s.ports ?? []).forEach((port: Any, i: number) => {
          if (port.nodePort && !oldPorts.has(port.nodePort)) {
            try {
              this.nodePorts.reserve(port.nodePort);
            } catch (e) {
              this.allocationError(next, `spec.ports[${i}].nodePort`, port.nodePort, e);
            }
            const np = port.nodePort;
            taken.push(() => this.nodePorts.release(np));
          } else if (!port.nodePort) {
            let np: number;
            try {
              np = this.nodePorts.allocate();
            } catch (e) {
              this.allocationError(next, `spec.ports[${i}].nodePort`, 0, e);
            }
            taken.push(() => this.nodePorts.release(np));
            port.nodePort = np;
          }
          newPorts.add(port.nodePort);
        });
      }
      // released only once the write is certain: the callers put right after
      if (hadIP && (!wantsIP || s.clusterIP !== hadIP)) this.clusterIPs.release(hadIP);
      for (const old of oldPorts) if (!newPorts.has(old)) this.nodePorts.release(old);
      return rollback;
    } catch (e) {
      rollback();
      throw e;
    }
  }

  private releaseService(obj: KubeObject): void {
    const s = obj.spec ?? {};
    if (s.type !== "ExternalName" && s.clusterIP && s.clusterIP !== "None")
      this.clusterIPs.release(s.clusterIP);
    if (s.type === "NodePort" || s.type === "LoadBalancer") {
      for (const p of s.ports ?? []) if (p.nodePort) this.nodePorts.release(p.nodePort);
    }
  }
}
