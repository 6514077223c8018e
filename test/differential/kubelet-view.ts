/**
 * What of a pod a real kubelet node and the node emulator both decide, for comparing their runs: on real
 * nodes the testbed runs every container on the local echo image (containers' image, pull policy, command and
 * args rewritten, init containers left out, no token volume, the original images in an annotation: the
 * kubelet backend's local-image overlay), and the kubelet writes status the emulator does not model (container
 * and image ids, observed generations, PodReadyToStartContainers, messages). Kept: the spec otherwise, and the
 * status a Service or a probe depends on — phase, addresses, each condition's status among PodScheduled,
 * Initialized, ContainersReady and Ready, each container's ready/started/restarts and state.
 *
 * Example: `readKube(kube, allocated, kubeletView)`.
 */
import type { KubeObject, ResourceName } from "../../controller/kube/api";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are untyped JSON
type Any = any;

const ORIGINAL_IMAGES = "testbed.contrail/original-images";
const ORIGINAL_PROBES = "testbed.contrail/original-probes";
const CONDITIONS = new Set(["PodScheduled", "Initialized", "ContainersReady", "Ready"]);

/** The spec as written: the network probes the overlay ran inside the pod are the originals again. */
function podSpec(spec: Any, m: Any): Any {
  if (!spec) return spec;
  const out = { ...spec };
  delete out.initContainers;
  delete out.automountServiceAccountToken;
  const probes = m?.annotations?.[ORIGINAL_PROBES] ? JSON.parse(m.annotations[ORIGINAL_PROBES]) : {};
  out.containers = (spec.containers ?? []).map((c: Any) => {
    const { image: _i, imagePullPolicy: _p, command: _c, args: _a, ...rest } = c;
    return { ...rest, ...(probes[c.name] ?? {}) };
  });
  return out;
}

function metadata(m: Any): Any {
  if (!m?.annotations?.[ORIGINAL_IMAGES] && !m?.annotations?.[ORIGINAL_PROBES]) return m;
  const { [ORIGINAL_IMAGES]: _original, [ORIGINAL_PROBES]: _probes, ...annotations } = m.annotations;
  const out = { ...m, annotations };
  // the overlay's annotation was the only one: as if none had been written
  if (Object.keys(annotations).length === 0) delete out.annotations;
  return out;
}

function podStatus(s: Any): Any {
  if (!s) return s;
  return {
    phase: s.phase,
    podIP: s.podIP,
    podIPs: s.podIPs,
    conditions: (s.conditions ?? [])
      .filter((c: Any) => CONDITIONS.has(c.type))
      .map((c: Any) => ({ type: c.type, status: c.status }))
      .sort((a: Any, b: Any) => a.type.localeCompare(b.type)),
    containerStatuses: (s.containerStatuses ?? []).map((c: Any) => ({
      name: c.name,
      ready: c.ready,
      started: c.started,
      restartCount: c.restartCount,
      state: Object.keys(c.state ?? {}),
    })),
  };
}

export function kubeletView(resource: ResourceName, o: KubeObject): KubeObject {
  if (resource === "pods")
    return {
      ...o,
      metadata: metadata(o.metadata),
      spec: podSpec(o.spec, o.metadata),
      status: podStatus(o.status),
    };
  if ((resource === "deployments" || resource === "replicasets") && o.spec?.template) {
    const t = o.spec.template;
    return {
      ...o,
      spec: {
        ...o.spec,
        template: { ...t, metadata: metadata(t.metadata), spec: podSpec(t.spec, t.metadata) },
      },
    };
  }
  return o;
}
