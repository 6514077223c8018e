/**
 * A scenario's `controller:` block → the controller's configuration, through the same contrail-kubernetes.conf
 * parser `ctb controller` uses (each key is an upstream kube-manager option under a camel-cased name), so both
 * take the same values and give the same errors. The loader calls it to report a bad value at its line.
 *
 * Example: `controllerConfigOf({ clusterName: "cluster", clusterDomain: "admin_domain" }).domain` → "admin_domain"
 */
import { type ControllerConfig, ConfigError, parseConfig } from "../../controller/config";
import type { ControllerOptions } from "./types";

/** Scenario key → upstream option (kube_manager/common/args.py) and how its value is written there. */
const KEYS: Record<keyof ControllerOptions, [option: string, write?: (v: unknown) => string]> = {
  model: ["model"],
  clusterName: ["cluster_name"],
  clusterDomain: ["kubernetes_cluster_domain"],
  clusterOwner: ["kubernetes_cluster_owner"],
  podSubnet: ["pod_subnets"],
  serviceSubnet: ["service_subnets"],
  ipFabricSubnet: ["ip_fabric_subnets"],
  clusterProject: ["cluster_project", dictText],
  clusterNetwork: ["cluster_network", dictText],
  clusterPodNetwork: ["cluster_pod_network", dictText],
  clusterServiceNetwork: ["cluster_service_network", dictText],
  ipFabricForwarding: ["ip_fabric_forwarding"],
  ipFabricSnat: ["ip_fabric_snat"],
  publicFipPool: ["public_fip_pool", dictText],
  netpolLayout: ["netpol_layout"],
  kubernetesApiServer: ["kubernetes_api_server"],
  kubernetesApiSecurePort: ["kubernetes_api_secure_port"],
  kubernetesServiceName: ["kubernetes_service_name"],
  // upstream compares these with the strings 'True' / '1'
  apiServiceLinkLocal: ["api_service_link_local", (v) => (v ? "True" : "False")],
  secureProject: ["secure_project", (v) => (v ? "True" : "False")],
  apsName: ["aps_name"],
  hostNetworkService: ["host_network_service"],
  nestedMode: ["nested_mode", (v) => (v ? "1" : "0")],
};

function dictText(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** Thrown for a value the controller refuses; `key` is the scenario's key under `controller:`. */
export class ControllerOptionError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

export function controllerConfigOf(c: ControllerOptions): ControllerConfig {
  const options: Record<string, string> = {};
  const keyOf = new Map<string, string>();
  for (const [key, value] of Object.entries(c)) {
    if (value === undefined) continue;
    const [option, write] = KEYS[key as keyof ControllerOptions];
    options[option] = write ? write(value) : String(value);
    keyOf.set(option, key);
  }
  try {
    return parseConfig("", {}, options);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // "[KUBERNETES] cluster_project" → cluster_project → clusterProject
    const option = e.key.replace(/^\[[A-Z]+\]\s*/, "");
    const key = keyOf.get(option) ?? option;
    throw new ControllerOptionError(
      key,
      `controller.${key} (${option}): ${e.message.slice(e.key.length + 2)}`,
    );
  }
}
