/**
 * The vocabulary of the pure translation: a snapshot of the Kubernetes caches plus what the controller knows
 * of the VNC side goes in; per "unit" (the cluster, one namespace, pod, service or node) a desired set of
 * Contrail objects comes out. Each object is identified by type + fq_name, carries a deterministic uuid and
 * the owner marker annotations that let the reconciler find it again after a restart.
 *
 * Example: `{ type: "virtual-machine", fq_name: ["k8s__default__web"], uuid: pod.metadata.uid, props, refs }`
 */
import type { KubeObject } from "../kube/api";
import type { ManagedType } from "../contrail-types";
import type {
  EndpointSliceObject,
  EndpointsObject,
  NamespaceObject,
  NetworkPolicyObject,
  NodeObject,
  PodObject,
  ServiceObject,
} from "../kube/objects";

/** A ref by fq_name; `compareAttr: false` when the server rewrites the attr (VN → IPAM subnet uuids). */
export interface DesiredRef {
  to: string[];
  attr?: unknown;
  compareAttr?: boolean;
}

/**
 * A value known only once other objects exist: the subnet uuid the API server assigned to the flat IPAM
 * `ipam` on the ref of network `vn`. The reconciler substitutes it before writing.
 */
export interface SubnetOf {
  $subnetOf: { vn: string[]; ipam: string[] };
}

/**
 * The uuid of an object another unit owns, as the API server knows it (an adopted object may have another
 * uuid than the one this controller would give it); `otherwise` (the uuid its creator will use) while it does
 * not exist yet. The reconciler substitutes it before writing.
 */
export interface UuidOf {
  $uuidOf: { type: string; fq: string[]; otherwise: string };
}

export interface DesiredObject {
  type: ManagedType;
  fq_name: string[];
  parent_type?: string;
  uuid: string;
  /** Properties to set (compared as a subset of what the server returns). */
  props: Record<string, unknown>;
  /** Ref fields (`virtual_network_refs`, ...) → refs. A field present replaces the whole list on update. */
  refs: Record<string, DesiredRef[]>;
  /** Properties sent only on create (server-owned afterwards, e.g. a fixed instance_ip_address). */
  createOnly?: Record<string, unknown>;
  /**
   * Ref fields another writer adds to (svc-monitor extends a load balancer VMI's floating IP to the members):
   * the refs given must be there, extra ones are left alone.
   */
  refsSharedWith?: Record<string, string>;
  /**
   * Set on an object the unit can do without (a Service's floating IP from a configured pool): when a parent or
   * ref target it needs does not exist, the object is skipped with this warning (`<what is missing>` appended)
   * instead of the whole unit being blocked, as upstream warns and still builds the load balancer.
   */
  optional?: string;
}

/**
 * A ref this unit needs on an object it does not own (virtual-router → virtual-machine, ip-fabric VN →
 * network-policy). Applied with ref-update; removed before the target is deleted.
 */
export interface DesiredEdge {
  fromType: string;
  from: string[];
  refType: string;
  to: string[];
  attr?: unknown;
}

/**
 * An entry this unit owns in a list property of an object it does not own (the kubernetes Service's link-local
 * services in `default-global-vrouter-config`'s `linklocal_services.linklocal_service_entry`). Entries are told
 * apart by `entry[keyField]`; the applier reads the list, replaces or appends this unit's entries, drops the
 * ones it no longer wants and leaves everyone else's as they are.
 */
export interface DesiredListEntry {
  holderType: string;
  holder: string[];
  /** The property holding the list (`linklocal_services`) and the list inside it (`linklocal_service_entry`). */
  prop: string;
  list: string;
  keyField: string;
  entry: Record<string, unknown>;
}

export type UnitKind = "Tags" | "Cluster" | "Node" | "Namespace" | "Pod" | "Service" | "Ingress" | "Policies";

export interface UnitDesired {
  key: string;
  objects: DesiredObject[];
  edges: DesiredEdge[];
  /** Entries in shared lists of objects the unit does not own. */
  entries?: DesiredListEntry[];
  /** Problems with the Kubernetes input, each naming the object; the unit is handled on defaults. */
  warnings: string[];
  /** Set when the unit cannot be translated now (e.g. no virtual-router for the pod's node yet). */
  blocked?: string;
  /** The block is on something only someone else creates (reported at once; nothing waits for the unit). */
  blockedExternally?: boolean;
  /**
   * Objects the unit needs that no unit of this cluster creates (a network an annotation names). While one is
   * missing the unit is blocked on something only someone else can do: reported as a warning at once, retried
   * slowly, and nothing waits for it (the settle barrier skips the pod).
   */
  external?: { type: string; fq_name: string[] }[];
}

/** Kubernetes caches, keyed `name` (cluster-scoped) or `namespace/name`. */
export interface KubeSnapshot {
  namespaces: Map<string, NamespaceObject>;
  pods: Map<string, PodObject>;
  services: Map<string, ServiceObject>;
  endpointslices: Map<string, EndpointSliceObject>;
  endpoints: Map<string, EndpointsObject>;
  nodes: Map<string, NodeObject>;
  networkpolicies: Map<string, NetworkPolicyObject>;
  ingresses: Map<string, KubeObject>;
  /** Multus NetworkAttachmentDefinitions (`ns/name`): secondary networks of pods (multinet.ts). */
  networkattachmentdefinitions: Map<string, KubeObject>;
}

/** What the translation needs to know of the VNC side: virtual-routers not created by this controller. */
export interface VncView {
  /** virtual_router_ip_address → fq_name. */
  routersByIp: Map<string, string[]>;
  /** name → fq_name. */
  routersByName: Map<string, string[]>;
  /** Whether an object is known to exist (last scan and this controller's writes); absent: nothing is known. */
  exists?: (type: string, fq: string[]) => boolean;
  /** nested_mode: the VMs' interfaces on the underlay, as last read from the config API. */
  nested?: NestedView;
}

/** A VM's interface on the nested underlay: pods on that VM are VLAN sub-interfaces of it. */
export interface NestedHost {
  uuid: string;
  fq_name: string[];
  /** `virtual_machine_interface_bindings` host_id: the vrouter (compute) the VM runs on. */
  hostId: string;
  /** VLAN tags in use by its sub-interfaces (any owner). */
  vlans: Set<number>;
}

export interface NestedView {
  /** The interface holding `hostIp` on the underlay with a host_id binding (vnc_pod.py `_get_host_vmi`). */
  host(hostIp: string): NestedHost | undefined;
  /** The VLAN tag a sub-interface has now (this controller's VMIs), if it exists. */
  vlanOf(vmiFq: string[]): number | undefined;
}

export function emptySnapshot(): KubeSnapshot {
  return {
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
}

export function emptyView(): VncView {
  return { routersByIp: new Map(), routersByName: new Map() };
}

/**
 * Store a raw object from the KubeApi in the snapshot's cache for resource `r` (the typed views are what a
 * KubeApi object of that resource is; the union of the caches just cannot say which one).
 */
export function putObject(snap: KubeSnapshot, r: keyof KubeSnapshot, o: KubeObject, key = cacheKey(o)): void {
  (snap[r] as Map<string, KubeObject>).set(key, o);
}

/** `ns/name` for namespaced objects, `name` otherwise. */
export function cacheKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata.name}` : `${obj.metadata.name}`;
}
