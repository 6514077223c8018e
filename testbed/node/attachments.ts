/**
 * A pod's interfaces as the node sees them: the default network's (eth0) and one per entry of its
 * `k8s.v1.cni.cncf.io/networks` annotation, in the order of the VMIs' `index` annotation (i/N), with the
 * container interface name (the one the entry asks for, else eth<i>, as contrail-k8s-cni names them), the
 * name Multus' network-status gives the attachment ("<ns>/<definition>") and the endpoint the testbed's
 * datapaths and scenarios know it by: "<ns>/<pod>" for eth0, "<ns>/<pod>@<network>" for the others, where
 * <network> is the definition's name, or "<ns>/<name>" for a definition in another namespace.
 *
 * Example: podAttachments(pod) → [{ ifname: "eth0", endpoint: "default/fw" }, { ifname: "eth1",
 *   network: "default/left", endpoint: "default/fw@left" }]
 */
import type { KubeObject } from "../../controller/kube/api";
import { NETWORKS_ANNOTATION, parsePodNetworks } from "../../controller/translate/multinet";
import { parseAnnotations } from "../../cni/port-api";

export interface PodAttachmentRef {
  ifname: string;
  /** "<ns>/<definition>"; absent for the default network */
  network?: string;
  endpoint: string;
}

export function podAttachments(pod: KubeObject): PodAttachmentRef[] {
  const ns = pod.metadata.namespace!;
  const base = `${ns}/${pod.metadata.name}`;
  const out: PodAttachmentRef[] = [{ ifname: "eth0", endpoint: base }];
  const list = parsePodNetworks(pod.metadata.annotations?.[NETWORKS_ANNOTATION], ns);
  if (typeof list === "string") return out;
  for (const [n, a] of list.entries())
    out.push({
      ifname: a.interface ?? `eth${n + 1}`,
      network: `${a.namespace}/${a.name}`,
      endpoint: `${base}@${a.namespace === ns ? a.name : `${a.namespace}/${a.name}`}`,
    });
  return out;
}

/** The `index` annotation's i of a `/vm-cfg` entry (0 when absent: a single-interface pod). */
export function vmCfgIndex(cfg: { annotations?: unknown }): number {
  const m = /^(\d+)\/\d+$/.exec(parseAnnotations(cfg.annotations).index ?? "");
  return m ? Number(m[1]) : 0;
}

/** The N of a `/vm-cfg` entry's `index` annotation i/N: how many interfaces the pod has (1 when absent). */
export function vmCfgTotal(cfg: { annotations?: unknown }): number {
  const m = /^\d+\/(\d+)$/.exec(parseAnnotations(cfg?.annotations).index ?? "");
  return m ? Number(m[1]) : 1;
}
