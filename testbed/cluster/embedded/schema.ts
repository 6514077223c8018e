/**
 * The wire schema of every kind the embedded cluster serves, as kube-apiserver's JSON decoder sees it: field
 * names and types come from @kubernetes/client-node's generated models (their attributeTypeMap lists every
 * field of every API type), loaded once for the kinds in RESOURCES and whatever they reference. What those
 * models lose of the Go types is put back from GO_TYPES below: named string types (`v1.Protocol`),
 * Quantity maps and the like, which appear in the decoder's messages
 * (`... into Go struct field ContainerPort.spec.containers.ports.protocol of type v1.Protocol`).
 *
 * Example: schemaFor("deployments").fields.get("spec") -> { kind: "struct", go: "v1.DeploymentSpec", ... }
 */
import { RESOURCES, type ResourceName } from "../../../controller/kube/api";

export type FieldType =
  | { kind: "string" | "bool" | "float"; go: string }
  | { kind: "int"; go: string; bits: 32 | 64 }
  | { kind: "array" | "map"; go: string; elem: FieldType }
  | { kind: "struct"; go: string; struct: StructType }
  /** Types with their own UnmarshalJSON in Go: their errors stop decoding and carry their own words. */
  | { kind: "intOrString" | "quantity" | "time"; go: string }
  /** Free-form JSON (managedFields' fieldsV1). */
  | { kind: "raw"; go: string };

export interface StructType {
  /** The Go struct's name, which type errors print (`DeploymentSpec`). */
  name: string;
  fields: Map<string, FieldType>;
}

interface Attribute {
  baseName: string;
  type: string;
  format: string;
}

/**
 * Go types of fields whose client-node type is plainer than the Go one, as reflect prints them (k8s.io/api
 * v0.34): `Struct.field` -> Go type. Only fields of the kinds served here; everything else is derived.
 */
const GO_TYPES: Record<string, string> = {
  "ObjectMeta.uid": "types.UID",
  "OwnerReference.uid": "types.UID",
  "ManagedFieldsEntry.operation": "v1.ManagedFieldsOperationType",
  "LabelSelectorRequirement.operator": "v1.LabelSelectorOperator",
  "Container.imagePullPolicy": "v1.PullPolicy",
  "Container.terminationMessagePolicy": "v1.TerminationMessagePolicy",
  "Container.restartPolicy": "v1.ContainerRestartPolicy",
  "EphemeralContainer.imagePullPolicy": "v1.PullPolicy",
  "EphemeralContainer.terminationMessagePolicy": "v1.TerminationMessagePolicy",
  "EphemeralContainer.restartPolicy": "v1.ContainerRestartPolicy",
  "ContainerPort.protocol": "v1.Protocol",
  "ContainerResizePolicy.resourceName": "v1.ResourceName",
  "ContainerResizePolicy.restartPolicy": "v1.ResourceResizeRestartPolicy",
  "ContainerRestartRule.action": "v1.ContainerRestartRuleAction",
  "ContainerRestartRuleOnExitCodes.operator": "v1.ContainerRestartRuleOnExitCodesOperator",
  "ResourceRequirements.limits": "v1.ResourceList",
  "ResourceRequirements.requests": "v1.ResourceList",
  "VolumeResourceRequirements.limits": "v1.ResourceList",
  "VolumeResourceRequirements.requests": "v1.ResourceList",
  "PodSpec.overhead": "v1.ResourceList",
  "PodSpec.restartPolicy": "v1.RestartPolicy",
  "PodSpec.dnsPolicy": "v1.DNSPolicy",
  "PodSpec.preemptionPolicy": "v1.PreemptionPolicy",
  "PodOS.name": "v1.OSName",
  "PodSecurityContext.fsGroupChangePolicy": "v1.PodFSGroupChangePolicy",
  "PodSecurityContext.supplementalGroupsPolicy": "v1.SupplementalGroupsPolicy",
  "PodSecurityContext.seLinuxChangePolicy": "v1.PodSELinuxChangePolicy",
  "SecurityContext.procMount": "v1.ProcMountType",
  "Capabilities.add": "[]v1.Capability",
  "Capabilities.drop": "[]v1.Capability",
  "SeccompProfile.type": "v1.SeccompProfileType",
  "AppArmorProfile.type": "v1.AppArmorProfileType",
  "Toleration.operator": "v1.TolerationOperator",
  "Toleration.effect": "v1.TaintEffect",
  "Taint.effect": "v1.TaintEffect",
  "NodeSelectorRequirement.operator": "v1.NodeSelectorOperator",
  "TopologySpreadConstraint.whenUnsatisfiable": "v1.UnsatisfiableConstraintAction",
  "TopologySpreadConstraint.nodeAffinityPolicy": "v1.NodeInclusionPolicy",
  "TopologySpreadConstraint.nodeTaintsPolicy": "v1.NodeInclusionPolicy",
  "HTTPGetAction.scheme": "v1.URIScheme",
  "Lifecycle.stopSignal": "v1.Signal",
  "VolumeMount.mountPropagation": "v1.MountPropagationMode",
  "VolumeMount.recursiveReadOnly": "v1.RecursiveReadOnlyMode",
  "HostPathVolumeSource.type": "v1.HostPathType",
  "EmptyDirVolumeSource.medium": "v1.StorageMedium",
  "EmptyDirVolumeSource.sizeLimit": "resource.Quantity",
  "ResourceFieldSelector.divisor": "resource.Quantity",
  "PersistentVolumeClaimSpec.accessModes": "[]v1.PersistentVolumeAccessMode",
  "PersistentVolumeClaimSpec.volumeMode": "v1.PersistentVolumeMode",
  "PersistentVolumeClaimStatus.phase": "v1.PersistentVolumeClaimPhase",
  "PodCondition.type": "v1.PodConditionType",
  "PodCondition.status": "v1.ConditionStatus",
  "PodStatus.phase": "v1.PodPhase",
  "PodStatus.qosClass": "v1.PodQOSClass",
  "PodStatus.resize": "v1.PodResizeStatus",
  "ContainerStatus.allocatedResources": "v1.ResourceList",
  "ContainerStatus.user": "v1.ContainerUser",
  "ResourceStatus.name": "v1.ResourceName",
  "ResourceHealth.resourceID": "v1.ResourceID",
  "ResourceHealth.health": "v1.ResourceHealthStatus",
  "ServiceSpec.type": "v1.ServiceType",
  "ServiceSpec.sessionAffinity": "v1.ServiceAffinity",
  "ServiceSpec.externalTrafficPolicy": "v1.ServiceExternalTrafficPolicy",
  "ServiceSpec.internalTrafficPolicy": "v1.ServiceInternalTrafficPolicy",
  "ServiceSpec.ipFamilies": "[]v1.IPFamily",
  "ServiceSpec.ipFamilyPolicy": "v1.IPFamilyPolicy",
  "ServicePort.protocol": "v1.Protocol",
  "PortStatus.protocol": "v1.Protocol",
  "LoadBalancerIngress.ipMode": "v1.LoadBalancerIPMode",
  "NamespaceSpec.finalizers": "[]v1.FinalizerName",
  "NamespaceStatus.phase": "v1.NamespacePhase",
  "NamespaceCondition.type": "v1.NamespaceConditionType",
  "NamespaceCondition.status": "v1.ConditionStatus",
  "NodeStatus.capacity": "v1.ResourceList",
  "NodeStatus.allocatable": "v1.ResourceList",
  "NodeStatus.phase": "v1.NodePhase",
  "NodeStatus.volumesInUse": "[]v1.UniqueVolumeName",
  "NodeCondition.type": "v1.NodeConditionType",
  "NodeCondition.status": "v1.ConditionStatus",
  "NodeAddress.type": "v1.NodeAddressType",
  "AttachedVolume.name": "v1.UniqueVolumeName",
  "ReplicationControllerCondition.type": "v1.ReplicationControllerConditionType",
  "ReplicationControllerCondition.status": "v1.ConditionStatus",
  "EndpointPort.protocol": "v1.Protocol",
  "EndpointSlice.addressType": "v1.AddressType",
  "DeploymentStrategy.type": "v1.DeploymentStrategyType",
  "DeploymentCondition.type": "v1.DeploymentConditionType",
  "DeploymentCondition.status": "v1.ConditionStatus",
  "ReplicaSetCondition.type": "v1.ReplicaSetConditionType",
  "ReplicaSetCondition.status": "v1.ConditionStatus",
  "NetworkPolicySpec.policyTypes": "[]v1.PolicyType",
  "NetworkPolicyPort.protocol": "v1.Protocol",
  "HTTPIngressPath.pathType": "v1.PathType",
  "LeaseSpec.acquireTime": "v1.MicroTime",
  "LeaseSpec.renewTime": "v1.MicroTime",
  "LeaseSpec.strategy": "v1.CoordinatedLeaseStrategy",
  "Condition.status": "v1.ConditionStatus",
  "ManagedFieldsEntry.fieldsV1": "v1.FieldsV1",
  "ConfigMapNodeConfigSource.uid": "types.UID",
  "ObjectReference.uid": "types.UID",
  "PodReadinessGate.conditionType": "v1.PodConditionType",
  "AzureDiskVolumeSource.cachingMode": "v1.AzureDataDiskCachingMode",
  "AzureDiskVolumeSource.kind": "v1.AzureDataDiskKind",
  "ImageVolumeSource.pullPolicy": "v1.PullPolicy",
  "ContainerStatus.stopSignal": "v1.Signal",
  "VolumeMountStatus.recursiveReadOnly": "v1.RecursiveReadOnlyMode",
  "IngressPortStatus.protocol": "v1.Protocol",
};

/** client-node model name -> the Go struct's name (`CoreV1EndpointPort` -> `EndpointPort`). */
function goStructName(model: string): string {
  return model.replace(/^(?:[A-Z][a-z]+)*V\d+(?:(?:alpha|beta)\d+)?(?=[A-Z])/, "");
}

type ModelClass = { getAttributeTypeMap(): Attribute[] };
const MODEL_DIR = "@kubernetes/client-node/dist/gen/models";

/** Load the models reachable from `roots`, level by level (each model is its own small module). */
async function loadModels(roots: string[]): Promise<Map<string, Attribute[]>> {
  const models = new Map<string, Attribute[]>();
  let wave = roots;
  while (wave.length > 0) {
    const loaded = await Promise.all(
      wave.map(async (name) => {
        const mod = (await import(`${MODEL_DIR}/${name}.js`)) as Record<string, ModelClass>;
        return [name, mod[name].getAttributeTypeMap()] as const;
      }),
    );
    const next = new Set<string>();
    for (const [name, attrs] of loaded) {
      models.set(name, attrs);
      for (const a of attrs) {
        if (a.type === "V1MicroTime") continue; // a format, not a model (see GO_TYPES)
        for (const ref of a.type.match(/\b(?:[A-Z][a-z]+)*V\d+(?:(?:alpha|beta)\d+)?[A-Z][A-Za-z0-9]*\b/g) ??
          []) {
          if (!models.has(ref) && !wave.includes(ref)) next.add(ref);
        }
      }
    }
    wave = [...next];
  }
  return models;
}

/** Custom resources (no client-node model): their schema is the CRD's, written out in CUSTOM_SCHEMAS. */
const CUSTOM = new Set<ResourceName>(["networkattachmentdefinitions"]);
const ROOT_MODELS = (Object.keys(RESOURCES) as ResourceName[])
  .filter((r) => !CUSTOM.has(r))
  .map((r) => `V1${RESOURCES[r].kind}`)
  .concat(["V1ObjectMeta"]);
const MODELS = await loadModels(ROOT_MODELS);
const structs = new Map<string, StructType>();

/** A Go type string (from GO_TYPES) -> FieldType. */
function fromGo(go: string): FieldType {
  if (go.startsWith("[]")) return { kind: "array", go, elem: fromGo(go.slice(2)) };
  if (go === "v1.ResourceList")
    return { kind: "map", go, elem: { kind: "quantity", go: "resource.Quantity" } };
  if (go === "resource.Quantity") return { kind: "quantity", go };
  if (go === "v1.MicroTime" || go === "v1.Time") return { kind: "time", go };
  if (go === "v1.FieldsV1") return { kind: "raw", go };
  return { kind: "string", go };
}

function fieldType(attr: Attribute, owner: string): FieldType {
  const override = GO_TYPES[`${owner}.${attr.baseName}`];
  if (override) return fromGo(override);
  return typeOf(attr.type, attr.format);
}

function typeOf(t: string, format: string): FieldType {
  const array = /^Array<(.*)>$/.exec(t);
  if (array) {
    const elem = typeOf(array[1], format);
    return { kind: "array", go: `[]${elem.go}`, elem };
  }
  const map = /^\{ \[key: string\]: (.*); \}$/.exec(t);
  if (map) {
    const elem = typeOf(map[1], format);
    return { kind: "map", go: `map[string]${elem.go}`, elem };
  }
  switch (t) {
    case "string":
      return format === "byte" ? { kind: "string", go: "[]uint8" } : { kind: "string", go: "string" };
    case "boolean":
      return { kind: "bool", go: "bool" };
    case "number":
      if (format === "int32") return { kind: "int", go: "int32", bits: 32 };
      if (format === "int64") return { kind: "int", go: "int64", bits: 64 };
      return { kind: "float", go: "float64" };
    case "Date":
      return { kind: "time", go: format === "date-time-micro" ? "v1.MicroTime" : "v1.Time" };
    case "V1MicroTime":
      return { kind: "time", go: "v1.MicroTime" };
    case "IntOrString":
      return { kind: "intOrString", go: "intstr.IntOrString" };
    case "any":
      return { kind: "raw", go: "interface {}" };
  }
  if (MODELS.has(t)) return { kind: "struct", go: `v1.${goStructName(t)}`, struct: structOf(t) };
  return { kind: "raw", go: t };
}

/** The struct for a model, built on first use (types refer to each other, so fields resolve lazily). */
function structOf(model: string): StructType {
  let s = structs.get(model);
  if (s) return s;
  const name = goStructName(model);
  const attrs = MODELS.get(model) ?? [];
  let fields: Map<string, FieldType> | undefined;
  s = {
    name,
    get fields() {
      fields ??= new Map(attrs.map((a) => [a.baseName, fieldType(a, name)]));
      return fields;
    },
  };
  structs.set(model, s);
  return s;
}

/** The top-level struct of a resource's objects (`Deployment`: apiVersion, kind, metadata, spec, status). */
export function schemaFor(resource: ResourceName): StructType {
  if (resource === "networkattachmentdefinitions") return NAD_SCHEMA;
  return structOf(`V1${RESOURCES[resource].kind}`);
}

const STRING: FieldType = { kind: "string", go: "string" };

/** Multus' NetworkAttachmentDefinition CRD (k8s.cni.cncf.io/v1): spec.config is the CNI config, a JSON string. */
const NAD_SCHEMA: StructType = {
  name: "NetworkAttachmentDefinition",
  fields: new Map<string, FieldType>([
    ["apiVersion", STRING],
    ["kind", STRING],
    ["metadata", { kind: "struct", go: "v1.ObjectMeta", struct: structOf("V1ObjectMeta") }],
    [
      "spec",
      {
        kind: "struct",
        go: "NetworkAttachmentDefinitionSpec",
        struct: { name: "NetworkAttachmentDefinitionSpec", fields: new Map([["config", STRING]]) },
      },
    ],
  ]),
};
