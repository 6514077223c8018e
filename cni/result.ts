/**
 * Naming and results: the VM name kube-manager gives a pod, the host-side veth name, the CNI result ADD
 * prints (shaped for the config's cniVersion), and the prevResult CHECK reads back.
 *
 * Example: `hostIfname("eth0", "1a2b3c4d-5e6f-…")` → "tapeth0-1a2b3c".
 */
import type { DnsConfig } from "./config";
import { CniCode, CniError } from "./errors";
import type { VmiAddress } from "./port-api";
import { resultHasIpVersion } from "./versions";

/** `<cluster>__<namespace>__<pod>`: the virtual-machine name kube-manager creates for a pod. */
/** A DNS-1123 label, as Kubernetes validates namespace names and each dot-separated part of a pod name. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function vmName(cluster: string, args: Record<string, string>): string {
  const ns = args.K8S_POD_NAMESPACE;
  const pod = args.K8S_POD_NAME;
  if (!ns || !pod) {
    throw new CniError(CniCode.InvalidEnvironment, "CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME");
  }
  // They name the pod's state directory: only what Kubernetes accepts as names can reach the file system.
  if (ns.length > 63 || !DNS1123_LABEL.test(ns))
    throw new CniError(
      CniCode.InvalidEnvironment,
      `CNI_ARGS K8S_POD_NAMESPACE ${JSON.stringify(ns)} is not a Kubernetes namespace name (DNS-1123 label: lower-case letters, digits and '-', at most 63)`,
    );
  if (pod.length > 253 || !pod.split(".").every((l) => DNS1123_LABEL.test(l)))
    throw new CniError(
      CniCode.InvalidEnvironment,
      `CNI_ARGS K8S_POD_NAME ${JSON.stringify(pod)} is not a Kubernetes pod name (DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253)`,
    );
  return `${cluster}__${ns}__${pod}`;
}

/** Host end of the pod's veth: "tap" + the first 11 characters of "<ifname>-<vm-uuid>". */
export function hostIfname(containerIfname: string, vmUuid: string): string {
  return `tap${`${containerIfname}-${vmUuid}`.slice(0, 11)}`;
}

export interface CniInterface {
  name: string;
  mac: string;
  sandbox?: string;
}
export interface CniIp {
  version?: "4";
  address: string;
  gateway?: string;
  interface?: number;
}
export interface CniRoute {
  dst: string;
  gw?: string;
}
export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: CniRoute[];
  dns: DnsConfig;
}

/** Result of ADD for the pod's primary interface. */
export function buildResult(input: {
  cniVersion: string;
  ifname: string;
  mac: string;
  sandbox: string;
  address: VmiAddress;
  defaultRoute: boolean;
  dns?: DnsConfig;
}): CniResult {
  const ip: CniIp = { address: `${input.address.ip}/${input.address.plen}`, interface: 0 };
  if (resultHasIpVersion(input.cniVersion)) ip.version = "4";
  if (input.address.gateway) ip.gateway = input.address.gateway;
  const routes: CniRoute[] =
    input.defaultRoute && input.address.gateway ? [{ dst: "0.0.0.0/0", gw: input.address.gateway }] : [];
  const nameservers = [
    ...(input.address.dnsServer ? [input.address.dnsServer] : []),
    ...(input.dns?.nameservers ?? []).filter((n) => n !== input.address.dnsServer),
  ];
  const dns: DnsConfig = {};
  if (nameservers.length > 0) dns.nameservers = nameservers;
  if (input.dns?.domain) dns.domain = input.dns.domain;
  if (input.dns?.search) dns.search = input.dns.search;
  if (input.dns?.options) dns.options = input.dns.options;
  return {
    cniVersion: input.cniVersion,
    interfaces: [{ name: input.ifname, mac: input.mac, sandbox: input.sandbox }],
    ips: [ip],
    routes,
    dns,
  };
}

/** The other interfaces of the pod after the primary one: their addresses, no routes (the default is eth0's). */
export function addInterfaces(
  primary: CniResult,
  more: { ifname: string; mac: string; address: VmiAddress }[],
  sandbox: string,
): CniResult {
  const out: CniResult = { ...primary, interfaces: [...primary.interfaces], ips: [...primary.ips] };
  for (const m of more) {
    const ip: CniIp = { address: `${m.address.ip}/${m.address.plen}`, interface: out.interfaces.length };
    if (resultHasIpVersion(primary.cniVersion)) ip.version = "4";
    if (m.address.gateway) ip.gateway = m.address.gateway;
    out.interfaces.push({ name: m.ifname, mac: m.mac, sandbox });
    out.ips.push(ip);
  }
  return out;
}

export interface PrevResult {
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: CniRoute[];
}

function bad(msg: string): CniError {
  return new CniError(CniCode.InvalidNetworkConfig, `prevResult: ${msg}`);
}

/** Read back a result (any supported version) for CHECK. */
export function parsePrevResult(raw: Record<string, unknown>): PrevResult {
  const list = (k: string): Record<string, unknown>[] => {
    const v = raw[k];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "object" && x !== null))
      throw bad(`${k} must be a list of objects`);
    return v as Record<string, unknown>[];
  };
  const interfaces = list("interfaces").map((i, n): CniInterface => {
    if (typeof i.name !== "string") throw bad(`interfaces[${n}].name missing`);
    return {
      name: i.name,
      mac: typeof i.mac === "string" ? i.mac.toLowerCase() : "",
      sandbox: i.sandbox as string | undefined,
    };
  });
  const ips = list("ips").map((i, n): CniIp => {
    if (typeof i.address !== "string" || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(i.address))
      throw bad(`ips[${n}].address is not an IPv4 CIDR`);
    if (i.interface !== undefined && (typeof i.interface !== "number" || !interfaces[i.interface])) {
      throw bad(`ips[${n}].interface does not index interfaces`);
    }
    return {
      address: i.address,
      gateway: i.gateway as string | undefined,
      interface: i.interface as number | undefined,
    };
  });
  const routes = list("routes").map((r, n): CniRoute => {
    if (typeof r.dst !== "string") throw bad(`routes[${n}].dst missing`);
    return { dst: r.dst, gw: r.gw as string | undefined };
  });
  return { interfaces, ips, routes };
}
