/**
 * Defaulting as the API server applies it before validation: the fields a `kubectl get -o yaml` shows
 * although the manifest never set them (Pod restartPolicy/dnsPolicy, Service type/targetPort/ipFamilies,
 * NetworkPolicy policyTypes, Deployment strategy, the namespace's kubernetes.io/metadata.name label...).
 * Functions mutate the (already cloned) object they are given.
 *
 * Example: defaultObject("services", svc) turns `ports: [{port: 80}]` into
 *          `ports: [{port: 80, protocol: "TCP", targetPort: 80}]`, `type: "ClusterIP"`, ...
 */
import type { KubeObject, ResourceName } from "../../../controller/kube/api";
import { isMap } from "./patch";

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON
type Any = any;

function imagePullPolicy(image: unknown): string {
  if (typeof image !== "string") return "IfNotPresent";
  if (image.includes("@")) return "IfNotPresent";
  const lastPart = image.slice(image.lastIndexOf("/") + 1);
  const tag = lastPart.includes(":") ? lastPart.slice(lastPart.indexOf(":") + 1) : "";
  return tag === "" || tag === "latest" ? "Always" : "IfNotPresent";
}

function defaultContainer(c: Any): void {
  if (!isMap(c)) return;
  c.imagePullPolicy ??= imagePullPolicy(c.image);
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  c.resources ??= {};
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isMap(p)) p.protocol ??= "TCP";
}

/** PodSpec defaults, shared by pods and the templates of workloads. */
export function defaultPodSpec(spec: Any): void {
  if (!isMap(spec)) return;
  const s = spec as Any;
  s.restartPolicy ??= "Always";
  s.dnsPolicy ??= "ClusterFirst";
  s.terminationGracePeriodSeconds ??= 30;
  s.schedulerName ??= "default-scheduler";
  s.securityContext ??= {};
  for (const list of [s.containers, s.initContainers])
    if (Array.isArray(list)) list.forEach(defaultContainer);
}

/** The DefaultTolerationSeconds admission plugin: 300 s grace for not-ready/unreachable nodes. */
function defaultTolerations(spec: Any): void {
  if (!isMap(spec)) return;
  const s = spec as Any;
  const tolerations: Any[] = Array.isArray(s.tolerations) ? s.tolerations : [];
  for (const key of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
    const has = tolerations.some((t) => t?.key === key && (t.effect === "NoExecute" || !t.effect));
    if (!has) tolerations.push({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 });
  }
  s.tolerations = tolerations;
}

/** status.podIP and status.podIPs[0] are one field in two shapes (likewise hostIP/hostIPs). */
/**
 * Pod status as the real server stores it: podIP/podIPs and hostIP/hostIPs in step, and every container
 * status with `state` and `lastState` objects (Go structs without omitempty, so `{}` when empty).
 */
export function defaultPodStatus(status: Any): void {
  syncPodIPs(status);
  if (!isMap(status)) return;
  for (const list of [status.containerStatuses, status.initContainerStatuses]) {
    for (const c of Array.isArray(list) ? list : []) {
      if (!isMap(c)) continue;
      c.state ??= {};
      c.lastState ??= {};
    }
  }
}

function syncPodIPs(status: Any): void {
  if (!isMap(status)) return;
  const s = status as Any;
  for (const [one, many] of [
    ["podIP", "podIPs"],
    ["hostIP", "hostIPs"],
  ] as const) {
    if (s[one] && (!Array.isArray(s[many]) || s[many].length === 0)) s[many] = [{ ip: s[one] }];
    else if (!s[one] && Array.isArray(s[many]) && s[many].length > 0) s[one] = s[many][0]?.ip;
  }
}

function defaultServiceSpec(spec: Any): void {
  if (!isMap(spec)) return;
  const s = spec as Any;
  s.type ??= "ClusterIP";
  s.sessionAffinity ??= "None";
  if (Array.isArray(s.ports)) {
    for (const p of s.ports) {
      if (!isMap(p)) continue;
      const port = p as Any;
      port.protocol ??= "TCP";
      // an unset targetPort (also 0 or "") means "same as port"
      if (
        s.type !== "ExternalName" &&
        (port.targetPort === undefined || port.targetPort === 0 || port.targetPort === "")
      ) {
        port.targetPort = port.port;
      }
    }
  }
  if (s.type === "ExternalName") return;
  if (s.clusterIP !== undefined && s.clusterIP !== "" && !Array.isArray(s.clusterIPs))
    s.clusterIPs = [s.clusterIP];
  if (s.clusterIP === undefined && Array.isArray(s.clusterIPs) && s.clusterIPs.length > 0)
    s.clusterIP = s.clusterIPs[0];
  s.ipFamilies ??= ["IPv4"];
  s.ipFamilyPolicy ??= "SingleStack";
  s.internalTrafficPolicy ??= "Cluster";
  if (s.type === "NodePort" || s.type === "LoadBalancer") s.externalTrafficPolicy ??= "Cluster";
  if (s.type === "LoadBalancer") s.allocateLoadBalancerNodePorts ??= true;
}

function defaultNetworkPolicySpec(spec: Any): void {
  if (!isMap(spec)) return;
  const s = spec as Any;
  s.podSelector ??= {};
  for (const dir of ["ingress", "egress"]) {
    if (!Array.isArray(s[dir])) continue;
    for (const rule of s[dir]) {
      if (isMap(rule) && Array.isArray((rule as Any).ports)) {
        for (const p of (rule as Any).ports) if (isMap(p)) p.protocol ??= "TCP";
      }
    }
  }
  if (!Array.isArray(s.policyTypes) || s.policyTypes.length === 0) {
    s.policyTypes = ["Ingress"];
    if (Array.isArray(s.egress) && s.egress.length > 0) s.policyTypes.push("Egress");
  }
}

function defaultWorkload(resource: ResourceName, obj: Any): void {
  const s = obj.spec;
  if (!isMap(s)) return;
  const spec = s as Any;
  spec.replicas ??= 1;
  if (resource === "replicationcontrollers") {
    const tplLabels = spec.template?.metadata?.labels;
    if ((!isMap(spec.selector) || Object.keys(spec.selector).length === 0) && isMap(tplLabels)) {
      spec.selector = { ...tplLabels };
    }
    if ((!isMap(obj.metadata.labels) || Object.keys(obj.metadata.labels).length === 0) && isMap(tplLabels)) {
      obj.metadata.labels = { ...tplLabels };
    }
  }
  if (resource === "deployments") {
    spec.strategy ??= { type: "RollingUpdate" };
    if (spec.strategy.type === undefined) spec.strategy.type = "RollingUpdate";
    if (spec.strategy.type === "RollingUpdate") {
      spec.strategy.rollingUpdate ??= {};
      spec.strategy.rollingUpdate.maxUnavailable ??= "25%";
      spec.strategy.rollingUpdate.maxSurge ??= "25%";
    }
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
  }
  if (isMap(spec.template)) {
    spec.template.metadata ??= {};
    defaultPodSpec(spec.template.spec);
  }
}

/** Apply the kind's defaults in place (the object is a private copy). */
export function defaultObject(resource: ResourceName, obj: KubeObject): void {
  const o = obj as Any;
  switch (resource) {
    case "namespaces":
      o.metadata.labels = { ...(o.metadata.labels ?? {}), "kubernetes.io/metadata.name": o.metadata.name };
      o.spec ??= {};
      o.spec.finalizers ??= ["kubernetes"];
      break;
    case "pods":
      defaultPodSpec(o.spec);
      // SetDefaults_Pod, not SetDefaults_PodSpec: pod templates of workloads do not get it
      if (isMap(o.spec)) o.spec.enableServiceLinks ??= true;
      defaultTolerations(o.spec);
      // the Priority admission plugin, with no PriorityClass marked globalDefault
      if (o.spec) {
        o.spec.priority ??= 0;
        o.spec.preemptionPolicy ??= "PreemptLowerPriority";
      }
      defaultPodStatus(o.status);
      break;
    case "services":
      defaultServiceSpec(o.spec);
      break;
    case "networkpolicies":
      o.spec ??= {};
      defaultNetworkPolicySpec(o.spec);
      break;
    case "deployments":
    case "replicasets":
    case "replicationcontrollers":
      defaultWorkload(resource, o);
      break;
    case "endpoints":
      for (const s of Array.isArray(o.subsets) ? o.subsets : []) {
        for (const p of Array.isArray(s?.ports) ? s.ports : []) if (isMap(p)) p.protocol ??= "TCP";
      }
      break;
    case "endpointslices":
      for (const p of Array.isArray(o.ports) ? o.ports : []) if (isMap(p)) p.protocol ??= "TCP";
      break;
    case "rolebindings":
    case "clusterrolebindings":
      // rbac/v1 SetDefaults_RoleBinding, SetDefaults_Subject
      if (isMap(o.roleRef) && !o.roleRef.apiGroup) o.roleRef.apiGroup = "rbac.authorization.k8s.io";
      for (const s of Array.isArray(o.subjects) ? o.subjects : [])
        if (isMap(s) && !s.apiGroup && (s.kind === "User" || s.kind === "Group"))
          s.apiGroup = "rbac.authorization.k8s.io";
      break;
    default:
      break;
  }
}

/** The pod's QoS class from its containers' cpu/memory requests and limits (requests default to limits). */
export function qosClass(spec: Any): "Guaranteed" | "Burstable" | "BestEffort" {
  const containers: Any[] = [
    ...(Array.isArray(spec?.containers) ? spec.containers : []),
    ...(Array.isArray(spec?.initContainers) ? spec.initContainers : []),
  ];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const limits = c?.resources?.limits ?? {};
    const requests = { ...limits, ...(c?.resources?.requests ?? {}) };
    for (const r of ["cpu", "memory"]) {
      if (requests[r] !== undefined || limits[r] !== undefined) any = true;
      if (limits[r] === undefined || String(requests[r]) !== String(limits[r])) guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

/** The status a kind starts with: user-supplied status is dropped on create for status-subresource kinds. */
export function initialStatus(resource: ResourceName, obj?: KubeObject): Any | undefined {
  switch (resource) {
    case "pods":
      return { phase: "Pending", qosClass: qosClass(obj?.spec) };
    case "namespaces":
      return { phase: "Active" };
    case "services":
    case "ingresses":
      return { loadBalancer: {} };
    case "deployments":
    case "replicasets":
    case "replicationcontrollers":
      return {};
    default:
      return undefined;
  }
}

/** Kinds whose status is a subresource: updates of the main resource leave status alone. */
export function hasStatusSubresource(resource: ResourceName): boolean {
  return initialStatus(resource) !== undefined || resource === "nodes";
}
