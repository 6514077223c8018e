/**
 * Scenario files as the runner sees them after loading: the JSON Schema in scenarios/scenario.schema.json
 * describes the YAML; these types are the validated, normalised form (every step knows its source line).
 *
 * Example: `{ kind: "reach", line: 12, probes: [{ from: "default/client-1", to: "10.47.255.250", ... }] }`
 */
import type { ProtoPorts } from "../../fake-vrouter/datapath/port-space";
import type { KubeObject } from "../../controller/kube/api";
import type { Identity } from "../../fake-contrail-api/auth/identity";

export type Proto = "icmp" | "tcp" | "udp" | "sctp";

/**
 * The scenario's `controller:` block: upstream kube-manager options under camel-cased names (scenario/controller.ts
 * maps each to its contrail-kubernetes.conf key); dict options take the dict or its Python-literal text.
 */
export interface ControllerOptions {
  model?: "r4" | "r5";
  clusterName?: string;
  /** `[KUBERNETES] kubernetes_cluster_domain`: the Contrail domain (it must exist) the projects live in. */
  clusterDomain?: string;
  /** `[KUBERNETES] kubernetes_cluster_owner` (k8s): the `owner` annotation. */
  clusterOwner?: string;
  clusterProject?: string | Record<string, string>;
  clusterNetwork?: string | Record<string, string>;
  clusterPodNetwork?: string | Record<string, string>;
  clusterServiceNetwork?: string | Record<string, string>;
  /** `[DEFAULTS] secure_project`. */
  secureProject?: boolean;
  apsName?: string;
  /** Refused with a message saying why (not built yet). */
  hostNetworkService?: boolean;
  /** `[DEFAULTS] nested_mode`: objects built; reach and matrix steps refused (no datapath carries it). */
  nestedMode?: boolean;
  podSubnet?: string;
  serviceSubnet?: string;
  ipFabricSubnet?: string;
  ipFabricForwarding?: boolean;
  ipFabricSnat?: boolean;
  publicFipPool?: string | Record<string, string>;
  netpolLayout?: "upstream" | "kubernetes";
  /** contrail-kubernetes.conf `[KUBERNETES] kubernetes_api_server`: where link-local services of the kubernetes Service lead. */
  kubernetesApiServer?: string;
  kubernetesApiSecurePort?: number;
  kubernetesServiceName?: string;
  /** `[DEFAULTS] api_service_link_local` (default true). */
  apiServiceLinkLocal?: boolean;
}

export interface NodeSpec {
  name: string;
  ip?: string;
}

export interface FabricHostSpec {
  name: string;
  ip: string;
  listen: { port: number; proto: Proto }[];
}

/** A host outside the cluster, behind the SDN gateway. */
export interface ExternalHostSpec {
  name: string;
  ip: string;
  listen: { port: number; proto: Proto }[];
  line: number;
}

/** The SDN gateway the external hosts sit behind (defaults filled in by the loader). */
export interface GatewaySpec {
  name: string;
  /** Fabric address; undefined: .250 of the first node's fabric /24 (decided where node addresses are). */
  ip?: string;
  importRouteTargets: string[];
}

export interface ObjectKey {
  kind: string;
  apiVersion?: string;
  name: string;
  namespace?: string;
}

/** Where a step's manifest object is written: a line of the scenario, or of the manifests file it names. */
export interface ObjectLine {
  kind: string;
  namespace?: string;
  name: string;
  line: number;
  /** The manifests file (as the step names it), when the object is not in the scenario itself. */
  file?: string;
}

export interface ReachProbe {
  /** The entry's own line in the file (a failure points at it, not at the step). */
  line?: number;
  from: string;
  to: string;
  /** `http`: one GET with `host` and `path` (an Ingress's haproxy routes it; a pod's responder answers). */
  proto: Proto | "http";
  host?: string;
  path?: string;
  /** http, allow: text the chosen backend must show (`<service>:<port>`, the rule's host or path). */
  backend?: string;
  port?: number;
  count: number;
  expect: "allow" | "deny";
  spread?: { flows: number; minMembers: number };
  /** deny only: text the drop (place, reason or a trace line) must show, e.g. the rule that denied. */
  droppedBy?: string;
  /**
   * `allows: "tcp 80,443; icmp"`: instead of one probe, the exact set of protocols and destination ports that
   * gets through (runner/reach-set.ts); `proto`, `port` and `expect` are then unused.
   */
  allows?: ProtoPorts;
}

/** A cell where Contrail's verdict is known to differ from Kubernetes', and (optionally) the rule that decides it. */
export interface Divergence {
  from: string;
  to: string;
  contrail: "allow" | "deny";
  /** A firewall-rule name (or part of its fq_name) the decision must name. */
  rule?: string;
}

/** The Kubernetes object a Contrail object stands for: `of: pod x/a` → `{ kind: "Pod", namespace: "x", name: "a" }`. */
export interface OwnerRef {
  kind: "Pod" | "Service" | "Ingress" | "Namespace" | "Node";
  namespace?: string;
  name: string;
}

export interface ContrailExpectation {
  type: string;
  name?: string;
  fqName?: string[];
  /** Only the objects made for this Kubernetes object (owner annotations, or the pod's / service's uid). */
  of?: OwnerRef;
  exists: boolean;
  count?: number;
  fields?: Record<string, unknown>;
  /**
   * Ref target type (hyphenated) → fq_name globs; each glob must match one target (`*` any text; a glob
   * without `:` is matched against the target's last fq_name element). An empty list: no ref of that type.
   */
  refs?: Record<string, string[]>;
}

/** A reference in a `vnc` step: the target's fq_name (resolved to a uuid by /fqname-to-id) and its attr. */
export interface VncRef {
  to: string[];
  attr?: unknown;
}

/** One entry of a `vnc` step, sent to the config API as a client would (POST, GET, PUT or DELETE). */
export interface VncOp {
  op: "create" | "read" | "update" | "delete";
  type: string;
  /** Empty when `of` names the object instead. */
  fqName: string[];
  /** read/update/delete: the object made for this Kubernetes object (found as the admin, then used as the step's user). */
  of?: OwnerRef;
  /** create only: the parent's type (given, or the type's only possible parent). */
  parentType?: string;
  /** Properties, as the API names them (`router_external`, `virtual_network_properties`). */
  fields: Record<string, unknown>;
  /** Ref target type (hyphenated) → refs; the field sent is `<target>_refs` (a list given replaces the whole list). */
  refs: Record<string, VncRef[]>;
  line: number;
}

/** `row`: some row of the tool's output holds every text; `noRow`: none does. */
export interface VrouterRowExpectation {
  present: boolean;
  texts: string[];
  line: number;
}

export interface PodExpectation {
  namespace?: string;
  name?: string;
  subnet?: string;
  ip?: string;
  node?: string;
  phase?: string;
  /** text the pod's not-running reason (its conditions) must contain */
  reason?: string;
  count?: number;
}

/** The upstream netpol truth table: rows are sources, columns targets; a pod to itself is never judged. */
export interface TruthTable {
  targets: string[];
  rows: { from: string; cells: boolean[] }[]; // true = "." (connected)
}

export type ShowSpec = { pods: { namespace?: string } } | { namespace: string } | { contrail: string };

export type StepBody =
  | { kind: "apply"; manifests: KubeObject[]; objectLines?: ObjectLine[] }
  | { kind: "delete"; objects: ObjectKey[] }
  | { kind: "patch"; target: ObjectKey; patch: unknown; patchType: "merge" | "strategic" | "json" }
  | { kind: "label" | "annotate"; target: ObjectKey; set: Record<string, string | null> }
  | { kind: "wait"; pods: PodExpectation }
  /** Make a pod's readiness probe fail or pass (what its application answers the kubelet's prober). */
  | { kind: "readiness"; pod: string; passing: boolean }
  /**
   * Make what a pod's application answers the vrouter agent's service-health-check (PING or HTTP to its
   * interface) fail or pass: a failing interface's routes are withdrawn, so it leaves the VIP's ECMP next-hop.
   */
  | { kind: "health"; pod: string; passing: boolean }
  | { kind: "reach"; probes: ReachProbe[] }
  /** One of a vrouter's own tools on a node's live tables (`ctb vrouter <node> <tool>`), and rows to find. */
  | {
      kind: "vrouter";
      /** The node by name, or the node of a pod ("<ns>/<pod or prefix*>"). */
      node: { name: string } | { podOf: string };
      /** The tool and its arguments, `${ip:…}` templates not yet filled. */
      argv: string[];
      expect: VrouterRowExpectation[];
    }
  | {
      kind: "matrix";
      proto: Proto;
      port?: number;
      via: "pod" | "service";
      /** The written truth table; absent for `expect: kubernetes` (the oracle gives the table). */
      table?: TruthTable;
      /** `expect: kubernetes` only: the pods to probe (default: every pod with an address outside kube-system). */
      pods?: string[];
      /** `expect: kubernetes` only: cells where each NetworkPolicy layout is known to differ from Kubernetes. */
      divergences?: Partial<Record<"upstream" | "kubernetes", Divergence[]>>;
    }
  | { kind: "contrail"; expectations: ContrailExpectation[] }
  | { kind: "vnc"; ops: VncOp[] }
  | { kind: "pods"; expectations: PodExpectation[] }
  | { kind: "show"; show: ShowSpec }
  /** A Kubernetes read: get one object (with name) or list a kind (in a namespace). */
  | { kind: "get"; target: { kind: string; apiVersion?: string; namespace?: string; name?: string } };

/** Who a step acts as (`as:`): a user of the scenario's `auth.users`, optionally scoped to a project. */
export interface Actor {
  user: string;
  /** The keystone project a VNC token is scoped to (default: the project of the object each entry touches). */
  project?: string;
}

export type Step = StepBody & {
  title?: string;
  line: number;
  index: number;
  as?: Actor;
  /** The step's `expect:` — `forbidden`: every request of the step must be refused (Kubernetes 403, config API 401/403). */
  outcome?: "allowed" | "forbidden";
};

/** The scenario's `auth:` block: the config API's aaa_mode and the keystone users (see fake-contrail-api/auth). */
export interface ScenarioAuth {
  aaaMode: "no-auth" | "cloud-admin" | "rbac";
  identity: Identity;
}

export interface Scenario {
  file: string;
  name: string;
  description?: string;
  controller: ControllerOptions;
  nodes: NodeSpec[];
  fabricHosts: FabricHostSpec[];
  /** Present when the scenario declares a gateway or external hosts. */
  gateway?: GatewaySpec;
  externalHosts: ExternalHostSpec[];
  /** `capture: {dir}`: where runs write pcap files (absolute; resolved against the scenario file). */
  captureDir?: string;
  /** Present when the scenario turns authentication on. */
  auth?: ScenarioAuth;
  steps: Step[];
}

/** A problem in a scenario file, pointing at the line that has it. */
export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${problem}`);
    this.name = "ScenarioError";
  }
}
