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

/**
 * What the pod's stack does with packets for other addresses: it forwards between its interfaces when it asks
 * for `net.ipv4.ip_forward=1` (spec.securityContext.sysctls, as a router or firewall pod does), and drops what
 * its FORWARD rules drop. The annotation `ctb.contrail/forward-drop: "tcp/8080, udp/53"` stands for the
 * image's own filter rules (the testbed runs no images): on netns they become iptables FORWARD rules in the
 * pod's namespace; on sim the pod's simulated stack applies them. Undefined: the pod does not forward.
 */
export const FORWARD_DROP_ANNOTATION = "ctb.contrail/forward-drop";

export interface PodForwarding {
  drop: { proto: "tcp" | "udp"; port: number }[];
}

export function podForwarding(pod: KubeObject): PodForwarding | string | undefined {
  const sysctls = (pod.spec?.securityContext?.sysctls ?? []) as { name?: string; value?: string }[];
  const on = sysctls.some(
    (s) => (s.name === "net.ipv4.ip_forward" || s.name === "net/ipv4/ip_forward") && String(s.value) === "1",
  );
  const raw = pod.metadata.annotations?.[FORWARD_DROP_ANNOTATION];
  if (!on)
    return raw === undefined
      ? undefined
      : `annotation ${FORWARD_DROP_ANNOTATION} needs the sysctl net.ipv4.ip_forward=1 (the pod does not forward)`;
  const drop: PodForwarding["drop"] = [];
  for (const item of (raw ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^(tcp|udp)\/(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535)
      return `annotation ${FORWARD_DROP_ANNOTATION}: "${item}" is not tcp/<port> or udp/<port>`;
    drop.push({ proto: m[1] as "tcp" | "udp", port });
  }
  return { drop };
}
