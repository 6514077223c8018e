/**
 * The port space of a protocol cut into the pieces the datapath cannot tell apart.
 *
 * Every decision the engine takes on a port is a range test against a number in its tables: an ACL rule's or a
 * firewall service's port range, a floating IP's port mapping, a link-local service's port, a listening socket.
 * Between two consecutive such numbers every port meets the same rules, NAT and sockets, so one packet per piece
 * decides the whole piece — the all-packets answer of `ctb reach` is exact by construction (ECMP aside: the
 * member is chosen by a hash of the whole 5-tuple, which the caller samples). Over-cutting is harmless, so a
 * range's bounds cut both the source and the destination port space, whichever side it constrains.
 *
 * Example: pieces([80, 81, 443, 444]) → [1-79, 80, 81-442, 443, 444-65535];
 *          formatPortSet([{ lo: 80, hi: 80 }, { lo: 443, hi: 443 }]) → "80,443"
 */
import type { PortRange, VrouterTables } from "../tables";

export interface PortInterval {
  lo: number;
  hi: number;
}

export const PORT_MIN = 1;
export const PORT_MAX = 65535;

/** IP protocol numbers of the protocols with ports. */
export const PORT_PROTOCOLS = { tcp: 6, udp: 17, sctp: 132 } as const;

/** Where a protocol's destination and source port spaces must be cut. */
export interface PortCuts {
  dst: Set<number>;
  src: Set<number>;
}

/**
 * The numbers where the engine's port decisions can change, for one IP protocol: each is the first port of a new
 * piece. Destination ports: every range and point the tables decide on (rules' ranges on either side, over-cut
 * harmlessly), and the single ports given in `extra` (listening sockets). Source ports: rules' source-port ranges
 * only — the policy stages compare the packet's source port with nothing else (NAT rewrites destination ports;
 * fabric SNAT picks a source port after policy). Collected from every table the packet may meet.
 */
export function portCuts(
  tables: Iterable<VrouterTables>,
  proto: number,
  extra: Iterable<number> = [],
): PortCuts {
  const dst = new Set<number>();
  const src = new Set<number>();
  const range = (set: Set<number>, r: PortRange) => {
    set.add(r.start);
    set.add(r.end + 1);
  };
  const point = (p: number) => {
    dst.add(p);
    dst.add(p + 1);
  };
  for (const p of extra) point(p);
  const forProto = (p: number | "any") => p === "any" || p === proto;
  for (const t of tables) {
    for (const acl of t.acls.values())
      for (const rule of acl.rules)
        if (forProto(rule.protocol)) {
          range(dst, rule.srcPorts);
          range(dst, rule.dstPorts);
          range(src, rule.srcPorts);
        }
    for (const policy of t.firewallPolicies.values())
      for (const rule of policy.rules)
        for (const s of rule.services)
          if (forProto(s.protocol)) {
            range(dst, s.srcPorts);
            range(dst, s.dstPorts);
            range(src, s.srcPorts);
          }
    for (const vif of t.vifs.values())
      for (const fip of vif.floatingIps)
        for (const m of fip.portMappings ?? [])
          if (m.protocol === proto) {
            point(m.srcPort);
            point(m.dstPort);
          }
    for (const ll of t.linkLocal) {
      point(ll.port);
      point(ll.fabricPort);
    }
  }
  return { dst, src };
}

/** The pieces [PORT_MIN, PORT_MAX] falls into when cut at `cuts` (numbers outside the range are ignored). */
export function pieces(cuts: Iterable<number>): PortInterval[] {
  const starts = [...new Set([PORT_MIN, ...cuts])]
    .filter((c) => c >= PORT_MIN && c <= PORT_MAX)
    .sort((a, b) => a - b);
  return starts.map((lo, i) => ({ lo, hi: i + 1 < starts.length ? starts[i + 1]! - 1 : PORT_MAX }));
}

/** Adjacent or overlapping intervals joined, in order. */
export function mergeIntervals(intervals: Iterable<PortInterval>): PortInterval[] {
  const sorted = [...intervals].sort((a, b) => a.lo - b.lo);
  const out: PortInterval[] = [];
  for (const i of sorted) {
    const last = out.at(-1);
    if (last && i.lo <= last.hi + 1) last.hi = Math.max(last.hi, i.hi);
    else out.push({ ...i });
  }
  return out;
}

/** `80,443,8000-8080`; the whole range is `1-65535`; nothing is the empty string. */
export function formatPortSet(intervals: Iterable<PortInterval>): string {
  return mergeIntervals(intervals)
    .map((i) => (i.lo === i.hi ? `${i.lo}` : `${i.lo}-${i.hi}`))
    .join(",");
}

/** Parses `80,443,8000-8080` (spaces allowed); throws with what is wrong. */
export function parsePortSet(text: string): PortInterval[] {
  const out: PortInterval[] = [];
  for (const part of text.split(",").map((p) => p.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not a port or a range like 8000-8080`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < PORT_MIN || hi > PORT_MAX || lo > hi)
      throw new Error(`"${part}" is not within 1-65535 (low-high)`);
    out.push({ lo, hi });
  }
  return mergeIntervals(out);
}

export function portInSet(port: number, set: readonly PortInterval[]): boolean {
  return set.some((i) => port >= i.lo && port <= i.hi);
}

/** A set of packets by protocol: the destination ports of each protocol with ports, and whether ICMP (echo). */
export interface ProtoPorts {
  tcp: PortInterval[];
  udp: PortInterval[];
  sctp: PortInterval[];
  icmp: boolean;
}

export const PORTED = ["tcp", "udp", "sctp"] as const;
export type PortedProto = (typeof PORTED)[number];

export function emptyProtoPorts(): ProtoPorts {
  return { tcp: [], udp: [], sctp: [], icmp: false };
}

/** `tcp 80,443; udp 53; icmp` (a protocol's whole range as `1-65535`); the empty set is `nothing`. */
export function formatProtoPorts(p: ProtoPorts): string {
  const parts: string[] = [];
  for (const proto of PORTED) if (p[proto].length) parts.push(`${proto} ${formatPortSet(p[proto])}`);
  if (p.icmp) parts.push("icmp");
  return parts.length ? parts.join("; ") : "nothing";
}

/**
 * Parses the form formatProtoPorts writes; a protocol alone (`tcp`), `tcp *` or `tcp any` is every port of it, and
 * `nothing` (or an empty text) the empty set. Throws with what is wrong.
 */
export function parseProtoPorts(text: string): ProtoPorts {
  const out = emptyProtoPorts();
  const t = text.trim();
  if (t === "" || t === "nothing") return out;
  const seen = new Set<string>();
  for (const part of t.split(";").map((x) => x.trim())) {
    if (!part) continue;
    const m = /^([a-z]+)(?:\s+(.+))?$/.exec(part);
    const proto = m?.[1];
    if (!m || !proto || !["tcp", "udp", "sctp", "icmp"].includes(proto))
      throw new Error(`"${part}" does not start with tcp, udp, sctp or icmp`);
    if (seen.has(proto))
      throw new Error(`${proto} is given twice; list its ports once, e.g. "${proto} 80,443"`);
    seen.add(proto);
    if (proto === "icmp") {
      if (m[2] !== undefined) throw new Error(`icmp has no ports ("${part}")`);
      out.icmp = true;
      continue;
    }
    const ports = m[2]?.trim();
    out[proto as PortedProto] =
      ports === undefined || ports === "*" || ports === "any"
        ? [{ lo: PORT_MIN, hi: PORT_MAX }]
        : parsePortSet(ports);
  }
  return out;
}

export function sameProtoPorts(a: ProtoPorts, b: ProtoPorts): boolean {
  return formatProtoPorts(a) === formatProtoPorts(b);
}

/** The ports of `a` not in `b`. */
export function subtractIntervals(a: readonly PortInterval[], b: readonly PortInterval[]): PortInterval[] {
  let rest = mergeIntervals(a);
  for (const cut of mergeIntervals(b))
    rest = rest.flatMap((i) => {
      if (cut.hi < i.lo || cut.lo > i.hi) return [i];
      const out: PortInterval[] = [];
      if (i.lo < cut.lo) out.push({ lo: i.lo, hi: cut.lo - 1 });
      if (i.hi > cut.hi) out.push({ lo: cut.hi + 1, hi: i.hi });
      return out;
    });
  return rest;
}

/** The packets of `a` not in `b`, protocol by protocol. */
export function subtractProtoPorts(a: ProtoPorts, b: ProtoPorts): ProtoPorts {
  return {
    tcp: subtractIntervals(a.tcp, b.tcp),
    udp: subtractIntervals(a.udp, b.udp),
    sctp: subtractIntervals(a.sctp, b.sctp),
    icmp: a.icmp && !b.icmp,
  };
}
