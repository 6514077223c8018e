/**
 * Typed views of the Kubernetes objects the translation reads, from @kubernetes/client-node's models: the
 * snapshot holds these, so a field the translation reads is checked against the real API types. A raw
 * `KubeObject` (whose spec/status are untyped) is assignable to each view.
 *
 * Example: `const pod: PodObject = snap.pods.get("default/web")!; pod.spec?.containers[0]?.ports`.
 */
import type {
  V1EndpointSlice,
  V1Endpoints,
  V1Namespace,
  V1NetworkPolicy,
  V1Node,
  V1ObjectMeta,
  V1Pod,
  V1Service,
} from "@kubernetes/client-node";

/** The model's fields, with the envelope every object of the KubeApi has. */
type View<T> = Omit<T, "apiVersion" | "kind" | "metadata"> & {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
};

export type NamespaceObject = View<V1Namespace>;
export type PodObject = View<V1Pod>;
export type ServiceObject = View<V1Service>;
export type EndpointSliceObject = View<V1EndpointSlice>;
export type EndpointsObject = View<V1Endpoints>;
export type NodeObject = View<V1Node>;
export type NetworkPolicyObject = View<V1NetworkPolicy>;
