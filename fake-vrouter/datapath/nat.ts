/**
 * Flow tuples and the packet rewrites of NAT flows: the 5-tuple a flow key is made of, the rewrite a NAT
 * entry applies, and the un-NAT of an ICMP error that quotes a NATted packet (PIPELINE.md steps 7 and 10).
 *
 * Example: `applyNat(ip, { dip: "10.1.0.4", dport: 8080 })` → the same packet towards 10.1.0.4:8080
 */
import { formatIpv4, parseIpv4 } from "./addr";
import type { NatRewrite } from "./flows";
import {
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  IPPROTO_ICMP,
  type Ipv4Packet,
  internetChecksum,
  type L4,
} from "./packet";

/** A flow's 5-tuple (ICMP echo: the identifier as sport for a request). */
export interface FlowTuple {
  proto: number;
  sip: string;
  sport: number;
  dip: string;
  dport: number;
}

/** Flow-key ports: TCP/UDP/SCTP ports; ICMP echo uses the identifier (request: sport, reply: dport). */
export function tupleOf(ip: Ipv4Packet): FlowTuple {
  const l4 = ip.payload;
  let sport = 0;
  let dport = 0;
  if (l4.kind === "tcp" || l4.kind === "udp" || l4.kind === "sctp") {
    sport = l4.sport;
    dport = l4.dport;
  } else if (l4.kind === "icmp") {
    if (l4.type === ICMP_ECHO_REQUEST) sport = l4.id;
    else if (l4.type === ICMP_ECHO_REPLY) dport = l4.id;
    else {
      sport = l4.type;
      dport = l4.code;
    }
  }
  return { proto: ip.protocol, sport, dport, sip: ip.src, dip: ip.dst };
}

export function applyNat(ip: Ipv4Packet, nat: NatRewrite): Ipv4Packet {
  const out: Ipv4Packet = { ...ip, src: nat.sip ?? ip.src, dst: nat.dip ?? ip.dst };
  const l4 = ip.payload;
  if (l4.kind === "tcp" || l4.kind === "udp" || l4.kind === "sctp") {
    out.payload = { ...l4, sport: nat.sport ?? l4.sport, dport: nat.dport ?? l4.dport };
  } else if (l4.kind === "icmp" && l4.type === ICMP_ECHO_REQUEST && nat.sport !== undefined) {
    out.payload = { ...l4, id: nat.sport };
  } else if (l4.kind === "icmp" && l4.type === ICMP_ECHO_REPLY && nat.dport !== undefined) {
    out.payload = { ...l4, id: nat.dport };
  }
  return out;
}

export function describeNat(before: Ipv4Packet, after: Ipv4Packet): string {
  const a = tupleOf(before);
  const b = tupleOf(after);
  return `${a.sip}:${a.sport} → ${a.dip}:${a.dport} becomes ${b.sip}:${b.sport} → ${b.dip}:${b.dport}`;
}

/** The 5-tuple of the packet quoted inside an ICMP error (its IP header + first 8 bytes). */
export function quotedTuple(quoted: Uint8Array): FlowTuple | undefined {
  if (quoted.length < 20 || quoted[0] >>> 4 !== 4) return undefined;
  const ihl = (quoted[0] & 0x0f) * 4;
  if (ihl < 20 || quoted.length < ihl + 4) return undefined;
  const dv = new DataView(quoted.buffer, quoted.byteOffset, quoted.byteLength);
  const proto = quoted[9];
  const sip = formatIpv4(dv.getUint32(12));
  const dip = formatIpv4(dv.getUint32(16));
  let sport = dv.getUint16(ihl);
  let dport = dv.getUint16(ihl + 2);
  if (proto === IPPROTO_ICMP) {
    if (quoted.length < ihl + 8) return undefined;
    const type = quoted[ihl];
    const id = dv.getUint16(ihl + 4);
    sport = type === ICMP_ECHO_REQUEST ? id : 0;
    dport = type === ICMP_ECHO_REPLY ? id : 0;
  }
  return { proto, sport, dport, sip, dip };
}

/**
 * Un-NAT an ICMP error travelling on the flow whose reply entry carries `nat`: the outer addresses and the
 * quoted packet (its addresses, ports and header checksum) are rewritten as the original sender knows them.
 */
export function natIcmpError(ip: Ipv4Packet, quoted: Uint8Array, nat: NatRewrite): Ipv4Packet {
  const q = quoted.slice();
  const dv = new DataView(q.buffer);
  const ihl = (q[0] & 0x0f) * 4;
  const innerDst = formatIpv4(dv.getUint32(16));
  if (nat.dip !== undefined) dv.setUint32(12, parseIpv4(nat.dip)!);
  if (nat.sip !== undefined) dv.setUint32(16, parseIpv4(nat.sip)!);
  if (q[9] !== IPPROTO_ICMP) {
    if (nat.dport !== undefined) dv.setUint16(ihl, nat.dport);
    if (nat.sport !== undefined) dv.setUint16(ihl + 2, nat.sport);
  } else if (nat.dport !== undefined && q.length >= ihl + 8) dv.setUint16(ihl + 4, nat.dport);
  dv.setUint16(10, 0);
  dv.setUint16(10, internetChecksum(q, 0, ihl));
  const l4 = ip.payload as Extract<L4, { kind: "icmp" }>;
  return {
    ...ip,
    src: ip.src === innerDst && nat.sip !== undefined ? nat.sip : ip.src,
    dst: nat.dip ?? ip.dst,
    payload: { ...l4, data: q },
  };
}
