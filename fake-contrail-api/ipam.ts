/**
 * Pure address management for IPAM subnets: subnet defaults (gateway = broadcast−1 and DNS = broadcast−2, or
 * .1/.2 with addr_from_start), top-down (or upward) allocation skipping reserved and taken addresses, checks of
 * requested addresses, and VMI MAC addresses. No store access: callers pass the taken set.
 * Example: `const s = planSubnet({subnet:{ip_prefix:"10.0.0.0",ip_prefix_len:24}}, "u1"); allocate(s, new Set())`
 * → `"10.0.0.252"` (.255 broadcast, .254 gateway, .253 DNS).
 */
import ipaddr from "ipaddr.js";
import type { IpamSubnet } from "./schema";

export class IpamError extends Error {
  constructor(
    readonly status: 400 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** A subnet ready for allocation. Addresses are BigInts for uniform v4/v6 arithmetic. */
export interface SubnetPlan {
  subnetUuid: string;
  family: "v4" | "v6";
  cidr: string;
  network: bigint;
  broadcast: bigint;
  gateway?: bigint;
  dns?: bigint;
  addrFromStart: boolean;
  /** Inclusive ranges addresses may come from (the whole host range when no allocation_pools). */
  pools: Array<[bigint, bigint]>;
}

/** Strict address syntax: dotted-quad IPv4 (no "10.1" shorthands) or IPv6. */
export function isAddress(s: unknown): s is string {
  if (typeof s !== "string") return false;
  return s.includes(":") ? ipaddr.IPv6.isValid(s) : ipaddr.IPv4.isValidFourPartDecimal(s);
}

const bits = (f: "v4" | "v6") => (f === "v4" ? 32 : 128);

export function toBig(addr: string): bigint {
  const a = ipaddr.parse(addr);
  let n = 0n;
  for (const b of a.toByteArray()) n = (n << 8n) | BigInt(b);
  return n;
}

export function fromBig(n: bigint, family: "v4" | "v6"): string {
  const len = family === "v4" ? 4 : 16;
  const bytes: number[] = [];
  for (let i = 0; i < len; i++) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** Canonical text form of an address ("10.0.0.01" is rejected, v6 is compressed); throws IpamError(400). */
export function canonicalAddress(addr: string): string {
  if (!isAddress(addr)) throw new IpamError(400, `invalid IP address "${addr}"`);
  return ipaddr.parse(addr).toString();
}

const familyOf = (addr: string): "v4" | "v6" => (ipaddr.parse(addr).kind() === "ipv4" ? "v4" : "v6");

/**
 * Validates a subnet and returns it with the server-written fields filled in: `subnet_uuid`, `default_gateway`,
 * `dns_server_address` (absent ones only). Throws IpamError(400) for a malformed prefix or gateway.
 */
export function completeSubnet(s: IpamSubnet, newUuid: () => string): IpamSubnet {
  const plan = planSubnet(s, s.subnet_uuid ?? "");
  const out: IpamSubnet = { ...s, subnet_uuid: s.subnet_uuid ?? newUuid() };
  const fromStart = !!s.addr_from_start;
  if (out.default_gateway === undefined || out.default_gateway === null)
    out.default_gateway = fromBig(fromStart ? plan.network + 1n : plan.broadcast - 1n, plan.family);
  if (out.dns_server_address === undefined || out.dns_server_address === null)
    out.dns_server_address = fromBig(fromStart ? plan.network + 2n : plan.broadcast - 2n, plan.family);
  return out;
}

export function planSubnet(s: IpamSubnet, subnetUuid: string): SubnetPlan {
  const prefix = s.subnet?.ip_prefix;
  const len = s.subnet?.ip_prefix_len;
  if (!isAddress(prefix)) throw new IpamError(400, `invalid subnet prefix "${String(prefix)}"`);
  const family = familyOf(prefix);
  const width = bits(family);
  if (typeof len !== "number" || !Number.isInteger(len) || len < 0 || len > width)
    throw new IpamError(400, `invalid subnet prefix length ${String(len)} for ${prefix}`);
  const hostBits = BigInt(width - len);
  const mask = ((1n << BigInt(width)) - 1n) ^ ((1n << hostBits) - 1n);
  const network = toBig(prefix) & mask;
  const broadcast = network | ((1n << hostBits) - 1n);
  const inside = (a: bigint) => a >= network && a <= broadcast;
  const addrIn = (v: string | undefined | null, what: string): bigint | undefined => {
    if (v === undefined || v === null || v === "" || v === "0.0.0.0" || v === "::") return undefined;
    if (!isAddress(v) || familyOf(v) !== family) throw new IpamError(400, `invalid ${what} "${v}"`);
    const a = toBig(v);
    if (!inside(a)) throw new IpamError(400, `${what} ${v} is not in subnet ${prefix}/${len}`);
    return a;
  };
  const gateway = addrIn(s.default_gateway, "default gateway");
  const dns = addrIn(s.dns_server_address, "DNS server address");
  const hostLo = hostBits >= 2n ? network + 1n : network;
  const hostHi = hostBits >= 2n ? broadcast - 1n : broadcast;
  const pools: Array<[bigint, bigint]> = [];
  for (const p of s.allocation_pools ?? []) {
    const a = addrIn(p.start, "allocation pool start");
    const b = addrIn(p.end, "allocation pool end");
    if (a === undefined || b === undefined || a > b)
      throw new IpamError(400, `invalid allocation pool ${p.start}-${p.end}`);
    pools.push([a, b]);
  }
  if (pools.length === 0) pools.push([hostLo, hostHi]);
  pools.sort((x, y) => (x[0] < y[0] ? -1 : 1));
  return {
    subnetUuid,
    family,
    cidr: `${fromBig(network, family)}/${len}`,
    network,
    broadcast,
    gateway,
    dns,
    addrFromStart: !!s.addr_from_start,
    pools,
  };
}

export function contains(plan: SubnetPlan, addr: string): boolean {
  if (!isAddress(addr) || familyOf(addr) !== plan.family) return false;
  const a = toBig(addr);
  return a >= plan.network && a <= plan.broadcast;
}

/**
 * The next free address: from the top of the pools downward (or from the bottom upward with addr_from_start),
 * skipping network, broadcast, gateway, DNS and `taken` (canonical strings). Undefined when the subnet is full.
 * `hint` (the previous allocation) only speeds the search up: addresses before it are retried afterwards.
 */
export function allocate(plan: SubnetPlan, taken: ReadonlySet<string>, hint?: string): string | undefined {
  const reserved = (a: bigint) =>
    (plan.broadcast - plan.network >= 3n && (a === plan.network || a === plan.broadcast)) ||
    a === plan.gateway ||
    a === plan.dns;
  const up = plan.addrFromStart;
  const pools = up ? plan.pools : [...plan.pools].reverse();
  const from = hint !== undefined && contains(plan, hint) ? toBig(hint) : undefined;
  const scan = (skipBeforeHint: boolean): string | undefined => {
    for (const [lo, hi] of pools) {
      let a = up ? lo : hi;
      if (skipBeforeHint && from !== undefined) {
        if (up ? from > hi : from < lo) continue;
        if (up ? from >= lo : from <= hi) a = from;
      }
      for (; a >= lo && a <= hi; a += up ? 1n : -1n) {
        if (reserved(a)) continue;
        const s = fromBig(a, plan.family);
        if (!taken.has(s)) return s;
      }
    }
    return undefined;
  };
  return (from !== undefined ? scan(true) : undefined) ?? scan(false);
}

/** Checks a requested address: 400 outside the subnet or on the gateway/DNS, 409 when taken. */
export function checkRequested(plan: SubnetPlan, addr: string, taken: ReadonlySet<string>): string {
  const canon = canonicalAddress(addr);
  if (!contains(plan, canon)) throw new IpamError(400, `${addr} is not in subnet ${plan.cidr}`);
  const a = toBig(canon);
  if (a === plan.gateway) throw new IpamError(400, `${addr} is the gateway address of subnet ${plan.cidr}`);
  if (a === plan.dns) throw new IpamError(400, `${addr} is the DNS server address of subnet ${plan.cidr}`);
  if (taken.has(canon)) throw new IpamError(409, `Ip address ${addr} already in use`);
  return canon;
}

/** The MAC the API server gives a VMI: `02:` + the first five bytes of its uuid. */
export function macFromUuid(uuid: string): string {
  const u = uuid.toLowerCase();
  return `02:${u.slice(0, 2)}:${u.slice(2, 4)}:${u.slice(4, 6)}:${u.slice(6, 8)}:${u.slice(9, 11)}`;
}
