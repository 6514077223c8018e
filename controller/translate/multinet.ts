/**
 * Multiple networks per pod, as kube-manager does it (vnc_network.py, vnc_pod.py, kube_config_db.py):
 *
 * - A NetworkAttachmentDefinition `<ns>/<name>` whose annotations carry `opencontrail.org/cidr` becomes the
 *   virtual network `<c>-<name>-pod-network` with IPAM `<c>-<name>-pod-ipam` in the namespace's project
 *   (user-defined-subnet-only, the CIDR on the IPAM ref with the gateway at its last-but-one address,
 *   forwarding l2_l3, `opencontrail.org/ip_fabric_forwarding` / `opencontrail.org/ip_fabric_snat` as for a
 *   namespace); one annotated `opencontrail.org/network` names an existing network instead.
 * - A pod's `k8s.v1.cni.cncf.io/networks` annotation (a JSON list of `{name, namespace?, interface?}` or the
 *   short form `net1,other-ns/net2`) gives it one more VMI per network, in order: the VMI annotations `index`
 *   `i/N` (0 is the default network), `network` (the attachment's name) and `interface` when the pod names one.
 *
 * Where upstream quietly skips what it cannot use (a network with no definition, a definition that is not a
 * Contrail network), the pod is held back with the reason instead: the sandbox would fail on a real node
 * (Multus refuses to start a pod whose attachment is missing), so the pod stays Pending and says why.
 *
 * Example: `podNetworks(pod, snap, layout)` → `{ ok: [{ name: "blue", namespace: "default", vn: [...] }] }`.
 */
import ipaddr from "ipaddr.js";
import type { KubeObject } from "../kube/api";
import type { Layout } from "./layout";
import {
  IP_FABRIC_FORWARDING_ANNOTATION,
  IP_FABRIC_SNAT_ANNOTATION,
  NETWORK_ANNOTATION,
  parseBool,
} from "./layout";
import type { KubeSnapshot } from "./types";

export const NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks";
export const NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status";
export const CIDR_ANNOTATION = "opencontrail.org/cidr";

/** One entry of a pod's networks annotation. */
export interface PodAttachment {
  /** the NetworkAttachmentDefinition's name and namespace (the pod's unless given) */
  name: string;
  namespace: string;
  /** the container interface name the pod asks for */
  interface?: string;
}

/** A NetworkAttachmentDefinition as a Contrail network. */
export type NadNetwork =
  | {
      kind: "cidr";
      vn: string[];
      ipam: string[];
      subnets: { ip: string; len: number; gateway: string }[];
      ipFabric: boolean;
      snat: boolean;
    }
  | { kind: "existing"; vn: string[] }
  | { kind: "invalid"; why: string };

const IFNAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/;

/**
 * The pod's attachments in order, or why the annotation cannot be used (kube_config_db.py `_parse_annotations`:
 * a list is JSON with `name`, `namespace`, `interface`; otherwise comma-separated `[ns/]name`, with Multus'
 * `@ifname`). A name given twice as an interface is refused ("Interface eth1 is defined more than once").
 */
export function parsePodNetworks(v: string | undefined, podNs: string): PodAttachment[] | string {
  if (v === undefined || v.trim() === "") return [];
  const what = `annotation ${NETWORKS_ANNOTATION}`;
  const out: PodAttachment[] = [];
  if (v.trim().startsWith("[")) {
    let list: unknown;
    try {
      list = JSON.parse(v);
    } catch (e) {
      return `${what} is not valid JSON: ${(e as Error).message}`;
    }
    if (!Array.isArray(list)) return `${what} must be a JSON list`;
    for (const [i, e] of list.entries()) {
      if (typeof e !== "object" || e === null || Array.isArray(e))
        return `${what}[${i}] must be an object with "name"`;
      const o = e as Record<string, unknown>;
      if (typeof o.name !== "string" || o.name === "") return `${what}[${i}] has no "name"`;
      if (o.namespace !== undefined && typeof o.namespace !== "string")
        return `${what}[${i}].namespace must be a string`;
      if (o.interface !== undefined && (typeof o.interface !== "string" || !IFNAME.test(o.interface)))
        return `${what}[${i}].interface ${JSON.stringify(o.interface)} is not a Linux interface name (1-15 letters, digits, ".", "_" or "-")`;
      out.push({
        name: o.name,
        namespace: (o.namespace as string | undefined) || podNs,
        ...(o.interface ? { interface: o.interface as string } : {}),
      });
    }
  } else {
    for (const raw of v.split(",")) {
      const item = raw.trim();
      if (!item) return `${what} "${v}" has an empty entry`;
      const [path, ifname, more] = item.split("@");
      if (more !== undefined || (ifname !== undefined && !IFNAME.test(ifname)))
        return `${what}: "${item}" is not [namespace/]name[@interface]`;
      const parts = path!.split("/");
      if (parts.length > 2 || parts.some((p) => p === ""))
        return `${what}: "${item}" is not [namespace/]name`;
      const [namespace, name] = parts.length === 2 ? parts : [podNs, parts[0]];
      out.push({ name: name!, namespace: namespace!, ...(ifname ? { interface: ifname } : {}) });
    }
  }
  const seen = new Set<string>();
  for (const a of out) {
    if (!a.interface) continue;
    if (a.interface === "eth0" || seen.has(a.interface))
      return `Interface ${a.interface} is defined more than once${a.interface === "eth0" ? " (eth0 is the default network's)" : ""}`;
    seen.add(a.interface);
  }
  return out;
}

/** The virtual network a NetworkAttachmentDefinition stands for, or why it stands for none. */
export function nadNetwork(layout: Layout, nad: KubeObject): NadNetwork {
  const ns = nad.metadata.namespace!;
  const name = nad.metadata.name!;
  const ann = nad.metadata.annotations ?? {};
  const config = nad.spec?.config;
  // Multus reads spec.config as the CNI configuration of the attachment: a definition without a JSON one
  // cannot be delegated to
  if (config !== undefined && config !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(config));
    } catch (e) {
      return { kind: "invalid", why: `spec.config is not JSON (${(e as Error).message})` };
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      return { kind: "invalid", why: "spec.config is not a JSON object (a CNI network configuration)" };
    const type = (parsed as Record<string, unknown>).type;
    if (type !== undefined && type !== "contrail-k8s-cni")
      return {
        kind: "invalid",
        why: `spec.config delegates to CNI plugin type "${String(type)}", not contrail-k8s-cni: not a Contrail network`,
      };
  }
  if (ann[NETWORK_ANNOTATION] !== undefined) {
    let why = "";
    try {
      const o = JSON.parse(ann[NETWORK_ANNOTATION].replace(/'/g, '"'));
      if (o && typeof o.domain === "string" && typeof o.project === "string" && typeof o.name === "string")
        return { kind: "existing", vn: [o.domain, o.project, o.name] };
      why = "needs domain, project and name";
    } catch {
      why = "is not a JSON dict";
    }
    return { kind: "invalid", why: `annotation ${NETWORK_ANNOTATION} "${ann[NETWORK_ANNOTATION]}" ${why}` };
  }
  const cidr = ann[CIDR_ANNOTATION];
  if (cidr === undefined)
    return {
      kind: "invalid",
      why: `it has neither ${CIDR_ANNOTATION} nor ${NETWORK_ANNOTATION}: kube-manager makes no network of it`,
    };
  const subnets: { ip: string; len: number; gateway: string }[] = [];
  for (const c of cidr.split(",").map((s) => s.trim())) {
    let net: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      net = ipaddr.parseCIDR(c);
    } catch {
      return { kind: "invalid", why: `annotation ${CIDR_ANNOTATION} "${cidr}": "${c}" is not a CIDR` };
    }
    if (net[0].kind() !== "ipv4" || net[1] > 30)
      return {
        kind: "invalid",
        why: `annotation ${CIDR_ANNOTATION} "${cidr}": "${c}" must be an IPv4 prefix of /30 or shorter`,
      };
    const base = ipaddr.IPv4.networkAddressFromCIDR(c).toByteArray();
    const bcast = ipaddr.IPv4.broadcastAddressFromCIDR(c).toByteArray();
    const n = bcast.reduce((a, b) => a * 256 + b, 0) - 1; // netaddr's `cidr.last - 1`
    const gateway = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
    subnets.push({ ip: base.join("."), len: net[1], gateway });
  }
  const flag = (key: string): boolean | string => {
    const v = ann[key];
    if (v === undefined) return false;
    const b = parseBool(v);
    return b ?? `annotation ${key} "${v}" is neither true nor false`;
  };
  const ipFabric = flag(IP_FABRIC_FORWARDING_ANNOTATION);
  const snat = flag(IP_FABRIC_SNAT_ANNOTATION);
  if (typeof ipFabric === "string") return { kind: "invalid", why: ipFabric };
  if (typeof snat === "string") return { kind: "invalid", why: snat };
  return {
    kind: "cidr",
    vn: [...layout.project(ns), `${layout.c}-${name}-pod-network`],
    ipam: [...layout.project(ns), `${layout.c}-${name}-pod-ipam`],
    subnets,
    ipFabric,
    snat,
  };
}

/** NetworkAttachmentDefinitions of namespace `ns`, by name. */
export function nadsIn(snap: KubeSnapshot, ns: string): KubeObject[] {
  return [...snap.networkattachmentdefinitions.values()]
    .filter((n) => n.metadata.namespace === ns)
    .sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
}

/** What an attachment of a pod resolves to: its network, or why the pod cannot have it. */
export function attachmentNetwork(
  layout: Layout,
  snap: KubeSnapshot,
  a: PodAttachment,
): { vn: string[]; existing: boolean } | string {
  const nad = snap.networkattachmentdefinitions.get(`${a.namespace}/${a.name}`);
  if (!nad)
    return `cannot find a network-attachment-definition (${a.name}) in namespace (${a.namespace}): network-attachment-definitions.k8s.cni.cncf.io "${a.name}" not found`;
  const net = nadNetwork(layout, nad);
  if (net.kind === "invalid") return `network-attachment-definition ${a.namespace}/${a.name}: ${net.why}`;
  return { vn: net.vn, existing: net.kind === "existing" };
}

/** Whether a pod's networks annotation names the definition `ns/name` (a change to it re-runs the pod). */
export function podNamesNad(pod: KubeObject, ns: string, name: string): boolean {
  const list = parsePodNetworks(pod.metadata.annotations?.[NETWORKS_ANNOTATION], pod.metadata.namespace!);
  return typeof list !== "string" && list.some((a) => a.namespace === ns && a.name === name);
}
