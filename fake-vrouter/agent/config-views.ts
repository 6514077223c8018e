/**
 * Typed readings of config objects the agent needs: origins (with the Kubernetes object the controller named
 * in the annotations), subnets with their gateway and DNS addresses, tag ids, security-group ids, protocols
 * and port ranges. Tolerant of partly filled objects: a missing optional field gets the API's default.
 *
 * Example: `vnSubnets(model, vn)` → `[{ cidr: "10.32.0.0/12", gateway: "10.47.255.254", dns: "10.47.255.253", ... }]`
 */
import ipaddr from "ipaddr.js";
import type { ObjectRef, PortRange } from "../tables";
import { type ConfigModel, type ConfigObject, fqString } from "./config-model";
import { fnv1a } from "./ids";

export const IP_FABRIC_VN = "default-domain:default-project:ip-fabric";
export const IP_FABRIC_VRF = "default-domain:default-project:ip-fabric:__default__";

/** The Contrail object behind a decision, plus the Kubernetes object when the controller annotated it. */
export function originOf(o: ConfigObject): ObjectRef {
  const ref: ObjectRef = { type: o.type, uuid: o.uuid, fqName: o.fqName };
  const kv = annotations(o);
  if (kv.kind && kv.name)
    ref.k8s = { kind: kv.kind, name: kv.name, ...(kv.namespace ? { namespace: kv.namespace } : {}) };
  return ref;
}

/** `annotations.key_value_pair` as a plain record. */
export function annotations(o: ConfigObject): Record<string, string> {
  const out: Record<string, string> = {};
  const kvp = (o.data.annotations as { key_value_pair?: { key?: unknown; value?: unknown }[] } | undefined)
    ?.key_value_pair;
  if (Array.isArray(kvp))
    for (const p of kvp)
      if (typeof p?.key === "string") out[p.key] = typeof p.value === "string" ? p.value : "";
  return out;
}

export interface Subnet {
  cidr: string;
  gateway?: string;
  dns?: string;
  subnetUuid?: string;
  ipam: ConfigObject;
}

interface IpamSubnetType {
  subnet?: { ip_prefix?: string; ip_prefix_len?: number };
  default_gateway?: string;
  dns_server_address?: string;
  subnet_uuid?: string;
  addr_from_start?: boolean;
}

/**
 * A VN's subnets: from the VN→IPAM ref attr, or for flat-subnet IPAMs (Kubernetes) from the IPAM itself
 * (the ref attr then only carries `subnet_uuid`).
 */
export function vnSubnets(model: ConfigModel, vn: ConfigObject): Subnet[] {
  const out: Subnet[] = [];
  for (const { target: ipam, attr } of model.refs(vn, "network-ipam")) {
    const onRef = ((attr as { ipam_subnets?: IpamSubnetType[] } | undefined)?.ipam_subnets ?? []).filter(
      (s) => s?.subnet?.ip_prefix,
    );
    const onIpam = (ipam.data.ipam_subnets as { subnets?: IpamSubnetType[] } | undefined)?.subnets ?? [];
    const refUuids = new Set(
      ((attr as { ipam_subnets?: IpamSubnetType[] } | undefined)?.ipam_subnets ?? [])
        .map((s) => s?.subnet_uuid)
        .filter(Boolean),
    );
    const chosen = onRef.length
      ? onRef
      : onIpam.filter((s) => s?.subnet?.ip_prefix && (refUuids.size === 0 || refUuids.has(s.subnet_uuid)));
    for (const s of chosen) {
      const sub = toSubnet(s, ipam);
      if (sub) out.push(sub);
    }
  }
  return out;
}

function toSubnet(s: IpamSubnetType, ipam: ConfigObject): Subnet | undefined {
  const prefix = s.subnet?.ip_prefix;
  const len = Number(s.subnet?.ip_prefix_len);
  if (!prefix || !ipaddr.isValid(prefix) || !Number.isInteger(len)) return undefined;
  const addr = ipaddr.parse(prefix);
  const cidr = `${networkAddress(prefix, len)}/${len}`;
  const usable = (a: string | undefined) =>
    a && a !== "0.0.0.0" && a !== "::" && ipaddr.isValid(a) ? a : undefined;
  let gateway = usable(s.default_gateway);
  let dns = usable(s.dns_server_address);
  if (
    addr.kind() === "ipv4" &&
    len <= 30 &&
    (s.default_gateway === undefined || s.dns_server_address === undefined)
  ) {
    // API defaults: broadcast-1 / broadcast-2, or network+1 / network+2 with addr_from_start.
    const net = ipv4ToInt(networkAddress(prefix, len));
    const bcast = net + 2 ** (32 - len) - 1;
    if (s.default_gateway === undefined) gateway = intToIpv4(s.addr_from_start ? net + 1 : bcast - 1);
    if (s.dns_server_address === undefined) dns = intToIpv4(s.addr_from_start ? net + 2 : bcast - 2);
  }
  return { cidr, gateway, dns, subnetUuid: s.subnet_uuid, ipam };
}

export function networkAddress(ip: string, len: number): string {
  const a = ipaddr.parse(ip);
  if (a.kind() === "ipv4") {
    const n = ipv4ToInt(ip);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return intToIpv4((n & mask) >>> 0);
  }
  return ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${len}`).toString();
}

export function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function hostPrefix(ip: string): string {
  return ip.includes(":") ? `${ip}/128` : `${ip}/32`;
}

/** Predefined tag types (the API boots them with these ids). */
const TAG_TYPE_IDS: Record<string, number> = {
  label: 0,
  application: 1,
  tier: 2,
  deployment: 3,
  site: 4,
  neutron_fwaas: 5,
  neutron_tag: 6,
};

export function tagTypeId(model: ConfigModel, typeName: string): number {
  if (typeName in TAG_TYPE_IDS) return TAG_TYPE_IDS[typeName];
  const tt = model.byFqName("tag-type", [typeName]);
  const parsed = parseHexOrInt(tt?.data.tag_type_id);
  // Unknown custom types still get a stable id so both ends of a rule agree.
  return parsed ?? 0x100 + (fnv1a(typeName) % 0xfe00);
}

/** The tag's `tag_id` (0xTTTTVVVV), or a stable id derived from its type and value when the API gave none. */
export function tagId(model: ConfigModel, tag: ConfigObject): number {
  const parsed = parseHexOrInt(tag.data.tag_id);
  if (parsed !== undefined) return parsed;
  const { type, value } = tagTypeValue(tag);
  return syntheticTagId(model, type, value);
}

export function syntheticTagId(model: ConfigModel, type: string, value: string): number {
  return ((tagTypeId(model, type) << 16) | (fnv1a(value) & 0xffff)) >>> 0;
}

export function tagTypeValue(tag: ConfigObject): { type: string; value: string } {
  const name = tag.fqName[tag.fqName.length - 1];
  const eq = name.indexOf("=");
  const type =
    typeof tag.data.tag_type_name === "string" ? tag.data.tag_type_name : name.slice(0, Math.max(eq, 0));
  const value = typeof tag.data.tag_value === "string" ? tag.data.tag_value : name.slice(eq + 1);
  return { type, value };
}

export function parseHexOrInt(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isInteger(v)) return v >>> 0;
  if (typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim())) return Number(v.trim()) >>> 0;
  return undefined;
}

/** `security_group_id` as the API allocated it (8000000+), else a stable id from the uuid. */
export function securityGroupId(sg: ConfigObject): number {
  return parseHexOrInt(sg.data.security_group_id) ?? 8_000_000 + (fnv1a(sg.uuid) % 1_000_000);
}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmp6: 58, sctp: 132 };

/** "any" | "tcp" | "6" | 6 → protocol number or "any"; undefined for garbage. */
export function parseProtocol(p: unknown): number | "any" | undefined {
  if (p === undefined || p === null || p === "" || p === "any") return "any";
  if (typeof p === "number" && Number.isInteger(p) && p >= 0 && p <= 255) return p;
  if (typeof p === "string") {
    const lower = p.toLowerCase();
    if (lower in PROTOCOLS) return PROTOCOLS[lower];
    if (/^\d+$/.test(lower) && Number(lower) <= 255) return Number(lower);
  }
  return undefined;
}

/** `{start_port, end_port}` with -1 / missing meaning "any" → an inclusive range. */
export function portRange(r: unknown): PortRange {
  const o = (r ?? {}) as { start_port?: unknown; end_port?: unknown };
  const s = Number(o.start_port);
  const e = Number(o.end_port);
  const start = Number.isInteger(s) && s >= 0 ? s : 0;
  const end = Number.isInteger(e) && e >= 0 ? e : 65535;
  return { start, end: Math.max(start, end) };
}

/** The VN's primary routing instance: the child named like the VN, else `fq+[name]` by convention. */
export function primaryRoutingInstance(model: ConfigModel, vn: ConfigObject): string {
  if (fqString(vn.fqName) === IP_FABRIC_VN) return IP_FABRIC_VRF;
  const name = vn.fqName[vn.fqName.length - 1];
  const ri = model.children(vn.uuid, "routing-instance").find((r) => r.fqName[r.fqName.length - 1] === name);
  return ri ? fqString(ri.fqName) : fqString([...vn.fqName, name]);
}

export function isIpFabricForwarded(model: ConfigModel, vn: ConfigObject): boolean {
  return model.refs(vn, "virtual-network").some((r) => fqString(r.target.fqName) === IP_FABRIC_VN);
}

/** The VMI's MAC: `virtual_machine_interface_mac_addresses`, else the API default `02:` + uuid bytes. */
export function vmiMac(vmi: ConfigObject): string {
  const macs = (vmi.data.virtual_machine_interface_mac_addresses as { mac_address?: string[] } | undefined)
    ?.mac_address;
  if (Array.isArray(macs) && typeof macs[0] === "string") return macs[0].toLowerCase();
  const hex = vmi.uuid.replace(/-/g, "");
  return ["02", hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6), hex.slice(6, 8), hex.slice(8, 10)].join(
    ":",
  );
}
