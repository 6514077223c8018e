/**
 * The Kubernetes API as every part of the testbed sees it: list + watch with resourceVersions (what informers
 * need) and the writes the controller and the node emulator make. One interface, several implementations:
 * the embedded in-process cluster (`testbed/cluster/embedded`) and the HTTP adapter over
 * @kubernetes/client-node (`controller/kube/http.ts`) used for the local control plane and kind.
 *
 * Example:
 *   const { items, resourceVersion } = await api.list("pods");
 *   const w = await api.watch("pods", { resourceVersion }, (ev) => console.log(ev.type, ev.object.metadata.name),
 *     (err) => { if (err?.status === 410) relist(); });
 */
import type { V1ObjectMeta } from "@kubernetes/client-node";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
  // biome-ignore lint/suspicious/noExplicitAny: spec/status/data differ per kind; typed views live in the callers
  [field: string]: any;
}

export interface ResourceInfo {
  group: string; // "" for the core group
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** The resources the testbed reads or writes. */
export const RESOURCES = {
  namespaces: { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
  nodes: { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false },
  pods: { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true },
  services: { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true },
  endpoints: { group: "", version: "v1", kind: "Endpoints", plural: "endpoints", namespaced: true },
  replicationcontrollers: {
    group: "",
    version: "v1",
    kind: "ReplicationController",
    plural: "replicationcontrollers",
    namespaced: true,
  },
  endpointslices: {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    namespaced: true,
  },
  networkpolicies: {
    group: "networking.k8s.io",
    version: "v1",
    kind: "NetworkPolicy",
    plural: "networkpolicies",
    namespaced: true,
  },
  ingresses: {
    group: "networking.k8s.io",
    version: "v1",
    kind: "Ingress",
    plural: "ingresses",
    namespaced: true,
  },
  deployments: { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true },
  replicasets: { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", namespaced: true },
  leases: { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true },
  roles: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "Role",
    plural: "roles",
    namespaced: true,
  },
  rolebindings: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    namespaced: true,
  },
  clusterroles: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    namespaced: false,
  },
  clusterrolebindings: {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
    namespaced: false,
  },
  // Multus' CRD: the secondary networks a pod's `k8s.v1.cni.cncf.io/networks` annotation names (kube-manager
  // makes each a virtual network)
  networkattachmentdefinitions: {
    group: "k8s.cni.cncf.io",
    version: "v1",
    kind: "NetworkAttachmentDefinition",
    plural: "network-attachment-definitions",
    namespaced: true,
  },
} as const satisfies Record<string, ResourceInfo>;

export type ResourceName = keyof typeof RESOURCES;

/** Find the resource for a manifest's apiVersion + kind ("apps/v1", "Deployment"). */
export function resourceForKind(apiVersion: string, kind: string): ResourceName | undefined {
  for (const [name, r] of Object.entries(RESOURCES)) {
    const av = r.group ? `${r.group}/${r.version}` : r.version;
    if (r.kind === kind && av === apiVersion) return name as ResourceName;
  }
  return undefined;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
}

export interface WatchHandle {
  stop(): void;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchOptions extends ListOptions {
  /** Watch from after this version (the list's resourceVersion). Too old -> onDone(KubeApiError 410). */
  resourceVersion: string;
  allowWatchBookmarks?: boolean;
}

/** Patch flavours of the real API (Content-Type application/merge-patch+json etc.). */
export type PatchType = "merge" | "strategic" | "json";

/** An error as the API server reports it (a Status object): HTTP code, reason and message. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string, // "NotFound", "AlreadyExists", "Conflict", "Invalid", "Gone", ...
    message: string,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

/**
 * kube-apiserver's `fieldValidation` for writes: what happens to fields the kind does not have. Strict: 400
 * `strict decoding error: unknown field "spec.foo"` (kubectl's default since 1.27); Warn (the server's default):
 * dropped, one warning each; Ignore: dropped silently. Values of the wrong type fail in every mode.
 */
export type FieldValidation = "Strict" | "Warn" | "Ignore";

/** Options of create, replace and patch. */
export interface WriteOptions {
  fieldValidation?: FieldValidation;
  /** Receives the server's warnings (HTTP `Warning` headers), e.g. `unknown field "spec.foo"` under Warn. */
  onWarning?: (message: string) => void;
}

export interface KubeApi {
  list(resource: ResourceName, opts?: ListOptions): Promise<{ items: KubeObject[]; resourceVersion: string }>;
  /**
   * Stream changes after opts.resourceVersion. onDone is called once when the watch ends: without an error
   * when stopped or closed by the server (the caller re-watches from its last seen version), with a
   * KubeApiError 410 when that version is too old (the caller relists).
   */
  watch(
    resource: ResourceName,
    opts: WatchOptions,
    onEvent: (ev: WatchEvent) => void,
    onDone: (err?: Error) => void,
  ): Promise<WatchHandle>;
  get(resource: ResourceName, name: string, namespace?: string): Promise<KubeObject>;
  create(
    resource: ResourceName,
    obj: KubeObject,
    namespace?: string,
    opts?: WriteOptions,
  ): Promise<KubeObject>;
  /** Full update; metadata.resourceVersion, if set, must match (409 Conflict otherwise). */
  replace(resource: ResourceName, obj: KubeObject, opts?: WriteOptions): Promise<KubeObject>;
  patch(
    resource: ResourceName,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    type?: PatchType,
    opts?: WriteOptions,
  ): Promise<KubeObject>;
  /** Merge patch of the status subresource. */
  patchStatus(
    resource: ResourceName,
    name: string,
    namespace: string | undefined,
    patch: unknown,
  ): Promise<KubeObject>;
  /**
   * Delete. `gracePeriodSeconds: 0` removes a pod at once — what the kubelet sends once it has stopped the
   * pod's containers; without it a real API server only marks the pod terminating.
   */
  delete(
    resource: ResourceName,
    name: string,
    namespace?: string,
    opts?: { gracePeriodSeconds?: number },
  ): Promise<void>;
  /**
   * The same API acting as another user (kubectl's `--as`/`--as-group`: Impersonate-User and Impersonate-Group
   * headers on a real server; the embedded cluster authorises it with its own RBAC). Absent: not supported.
   */
  impersonate?(user: { name: string; groups?: string[] }): KubeApi;
}
