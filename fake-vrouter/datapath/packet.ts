/**
 * Wire formats the datapath reads and writes: Ethernet (+802.1Q), ARP, IPv4, ICMP, TCP, UDP, SCTP, GRE,
 * MPLS label stacks and VXLAN. Decoders never throw: malformed bytes come back as a typed `PacketError`
 * (drop reason INVALID_PACKET); encoders compute lengths and checksums (IPv4 header, ICMP, TCP/UDP with
 * the pseudo-header, SCTP CRC32c).
 *
 * Transport checksums are not verified on decode: frames from veth/tap devices often carry partial
 * checksums (offload) and the kernel vrouter does not verify them either. The IPv4 header checksum is.
 *
 * Example: `const r = decodeEthernet(bytes); if (r.ok && r.value.payload.kind === "ipv4") r.value.payload.ttl`
 */
import { formatIpv4, parseIpv4, readMac, writeMac } from "./addr";

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_MPLS = 0x8847;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_GRE = 47;
export const IPPROTO_SCTP = 132;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
/** Destination-unreachable code the simulated stacks send for a closed UDP port. */
export const ICMP_CODE_PORT_UNREACHABLE = 3;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export const SCTP_INIT = 1;
export const SCTP_INIT_ACK = 2;
export const SCTP_ABORT = 6;

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

/** Why bytes could not be decoded; the engine counts these as INVALID_PACKET. */
export class PacketError extends Error {
  readonly reason = "INVALID_PACKET" as const;
  constructor(
    readonly layer: string,
    message: string,
  ) {
    super(`${layer}: ${message}`);
    this.name = "PacketError";
  }
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: PacketError };

export interface RawPayload {
  kind: "raw";
  data: Uint8Array;
}

export interface ArpPacket {
  kind: "arp";
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

export interface IcmpMessage {
  kind: "icmp";
  type: number;
  code: number;
  /** Echo identifier / sequence; for error messages these are the "unused" header bytes. */
  id: number;
  seq: number;
  /** Echo payload, or for errors the quoted original IP header + first 8 bytes. */
  data: Uint8Array;
}

export interface TcpSegment {
  kind: "tcp";
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  options: Uint8Array;
  data: Uint8Array;
}

export interface UdpDatagram {
  kind: "udp";
  sport: number;
  dport: number;
  data: Uint8Array;
}

export interface SctpChunk {
  type: number;
  flags: number;
  value: Uint8Array;
}

export interface SctpPacket {
  kind: "sctp";
  sport: number;
  dport: number;
  verificationTag: number;
  chunks: SctpChunk[];
}

export interface GrePacket {
  kind: "gre";
  protocolType: number;
  key?: number;
  data: Uint8Array;
}

export type L4 = IcmpMessage | TcpSegment | UdpDatagram | SctpPacket | GrePacket | RawPayload;

/** An IP packet. `family` leaves room for IPv6; only IPv4 is implemented. */
export interface Ipv4Packet {
  kind: "ipv4";
  family: 4;
  tos: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
  options: Uint8Array;
  payload: L4;
}

export interface EthernetFrame {
  dst: string;
  src: string;
  vlan?: number;
  etherType: number;
  payload: ArpPacket | Ipv4Packet | RawPayload;
}

export interface MplsLabel {
  label: number;
  tc: number;
  ttl: number;
}

const EMPTY = new Uint8Array(0);

// Big-endian field access on plain byte arrays (a DataView per packet costs more than the packet).
function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function w16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function w32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function w32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

function need(bytes: Uint8Array, length: number, layer: string): void {
  if (bytes.length < length) throw new PacketError(layer, `truncated: ${bytes.length} < ${length} bytes`);
}

function catching<T>(fn: () => T): DecodeResult<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof PacketError) return { ok: false, error: err };
    return { ok: false, error: new PacketError("decode", String(err)) };
  }
}

/** Ones'-complement sum of 16-bit words, folded (no final inversion). */
function sum16(bytes: Uint8Array, start: number, end: number, acc: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (bytes[i] << 8) | bytes[i + 1];
  if (i < end) acc += bytes[i] << 8;
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  return ~sum16(bytes, start, end, initial) & 0xffff;
}

function ipWords(ip: string): number {
  const v = parseIpv4(ip) ?? 0;
  return (v >>> 16) + (v & 0xffff);
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32c (Castagnoli), the SCTP checksum. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC32C_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------- decode

export function decodeEthernet(bytes: Uint8Array): DecodeResult<EthernetFrame> {
  return catching(() => readEthernet(bytes));
}

/** A bare IPv4 packet (the payload of MPLSoUDP/MPLSoGRE, or of an Ethernet frame). */
export function decodeIpv4(bytes: Uint8Array): DecodeResult<Ipv4Packet> {
  return catching(() => readIpv4(bytes));
}

/** A decoded frame; the MAC texts are built only when read (most packets never need them). */
class DecodedFrame implements EthernetFrame {
  constructor(
    private readonly bytes: Uint8Array,
    readonly etherType: number,
    readonly payload: EthernetFrame["payload"],
    readonly vlan: number | undefined,
  ) {}

  get dst(): string {
    return readMac(this.bytes, 0);
  }

  get src(): string {
    return readMac(this.bytes, 6);
  }

  toJSON(): EthernetFrame {
    const { dst, src, etherType, payload, vlan } = this;
    return vlan === undefined ? { dst, src, etherType, payload } : { dst, src, vlan, etherType, payload };
  }
}

function readEthernet(bytes: Uint8Array): EthernetFrame {
  need(bytes, 14, "ethernet");
  let etherType = u16(bytes, 12);
  let offset = 14;
  let vlan: number | undefined;
  if (etherType === ETHERTYPE_VLAN) {
    need(bytes, 18, "802.1q");
    vlan = u16(bytes, 14) & 0x0fff;
    etherType = u16(bytes, 16);
    offset = 18;
  }
  const body = bytes.subarray(offset);
  let payload: EthernetFrame["payload"];
  if (etherType === ETHERTYPE_IPV4) payload = readIpv4(body);
  else if (etherType === ETHERTYPE_ARP) payload = readArp(body);
  else payload = { kind: "raw", data: body };
  return new DecodedFrame(bytes, etherType, payload, vlan);
}

function readArp(bytes: Uint8Array): ArpPacket {
  need(bytes, 28, "arp");
  if (u16(bytes, 0) !== 1 || u16(bytes, 2) !== ETHERTYPE_IPV4 || bytes[4] !== 6 || bytes[5] !== 4) {
    throw new PacketError("arp", "not Ethernet/IPv4 ARP");
  }
  return {
    kind: "arp",
    op: u16(bytes, 6),
    senderMac: readMac(bytes, 8),
    senderIp: formatIpv4(u32(bytes, 14)),
    targetMac: readMac(bytes, 18),
    targetIp: formatIpv4(u32(bytes, 24)),
  };
}

function readIpv4(bytes: Uint8Array): Ipv4Packet {
  need(bytes, 20, "ipv4");
  const version = bytes[0] >>> 4;
  if (version !== 4) throw new PacketError("ipv4", `version ${version}`);
  const ihl = (bytes[0] & 0x0f) * 4;
  if (ihl < 20) throw new PacketError("ipv4", `header length ${ihl}`);
  const total = u16(bytes, 2);
  if (total < ihl) throw new PacketError("ipv4", `total length ${total} < header ${ihl}`);
  need(bytes, total, "ipv4");
  if (internetChecksum(bytes, 0, ihl) !== 0) throw new PacketError("ipv4", "bad header checksum");
  const frag = u16(bytes, 6);
  const fragmentOffset = (frag & 0x1fff) * 8;
  const moreFragments = (frag & 0x2000) !== 0;
  const protocol = bytes[9];
  const body = bytes.subarray(ihl, total);
  // Only the first fragment carries the transport header.
  const payload: L4 =
    fragmentOffset > 0 ? { kind: "raw", data: body } : readL4(protocol, body, moreFragments);
  return {
    kind: "ipv4",
    family: 4,
    tos: bytes[1],
    id: u16(bytes, 4),
    dontFragment: (frag & 0x4000) !== 0,
    moreFragments,
    fragmentOffset,
    ttl: bytes[8],
    protocol,
    src: formatIpv4(u32(bytes, 12)),
    dst: formatIpv4(u32(bytes, 16)),
    options: ihl > 20 ? bytes.subarray(20, ihl) : EMPTY,
    payload,
  };
}

function readL4(protocol: number, bytes: Uint8Array, fragmented: boolean): L4 {
  switch (protocol) {
    case IPPROTO_ICMP:
      need(bytes, 8, "icmp");
      return {
        kind: "icmp",
        type: bytes[0],
        code: bytes[1],
        id: u16(bytes, 4),
        seq: u16(bytes, 6),
        data: bytes.subarray(8),
      };
    case IPPROTO_TCP: {
      need(bytes, 20, "tcp");
      const offset = (bytes[12] >>> 4) * 4;
      if (offset < 20) throw new PacketError("tcp", `data offset ${offset}`);
      need(bytes, offset, "tcp");
      return {
        kind: "tcp",
        sport: u16(bytes, 0),
        dport: u16(bytes, 2),
        seq: u32(bytes, 4),
        ack: u32(bytes, 8),
        flags: bytes[13],
        window: u16(bytes, 14),
        urgent: u16(bytes, 18),
        options: bytes.subarray(20, offset),
        data: bytes.subarray(offset),
      };
    }
    case IPPROTO_UDP: {
      need(bytes, 8, "udp");
      const length = u16(bytes, 4);
      if (length < 8) throw new PacketError("udp", `length ${length}`);
      // A fragmented datagram's length covers all fragments.
      if (!fragmented) need(bytes, length, "udp");
      return {
        kind: "udp",
        sport: u16(bytes, 0),
        dport: u16(bytes, 2),
        data: bytes.subarray(8, fragmented ? bytes.length : length),
      };
    }
    case IPPROTO_SCTP: {
      need(bytes, 12, "sctp");
      const chunks: SctpChunk[] = [];
      let off = 12;
      while (off + 4 <= bytes.length) {
        const length = u16(bytes, off + 2);
        if (length < 4 || off + length > bytes.length)
          throw new PacketError("sctp", `chunk length ${length}`);
        chunks.push({
          type: bytes[off],
          flags: bytes[off + 1],
          value: bytes.subarray(off + 4, off + length),
        });
        off += (length + 3) & ~3;
      }
      return {
        kind: "sctp",
        sport: u16(bytes, 0),
        dport: u16(bytes, 2),
        verificationTag: u32(bytes, 4),
        chunks,
      };
    }
    case IPPROTO_GRE: {
      need(bytes, 4, "gre");
      const flags = u16(bytes, 0);
      if ((flags & 0x0007) !== 0) throw new PacketError("gre", `version ${flags & 7}`);
      let off = 4;
      if (flags & 0x8000) off += 4; // checksum + reserved
      let key: number | undefined;
      if (flags & 0x2000) {
        need(bytes, off + 4, "gre");
        key = u32(bytes, off);
        off += 4;
      }
      if (flags & 0x1000) off += 4; // sequence
      need(bytes, off, "gre");
      const gre: GrePacket = { kind: "gre", protocolType: u16(bytes, 2), data: bytes.subarray(off) };
      if (key !== undefined) gre.key = key;
      return gre;
    }
    default:
      return { kind: "raw", data: bytes };
  }
}

/** MPLS label stack up to and including the bottom-of-stack entry; the rest is the payload. */
export function decodeMplsStack(
  bytes: Uint8Array,
): DecodeResult<{ labels: MplsLabel[]; payload: Uint8Array }> {
  return catching(() => {
    const labels: MplsLabel[] = [];
    for (let off = 0; ; off += 4) {
      need(bytes, off + 4, "mpls");
      const word = u32(bytes, off);
      labels.push({ label: word >>> 12, tc: (word >>> 9) & 7, ttl: word & 0xff });
      if (word & 0x100) return { labels, payload: bytes.subarray(off + 4) };
      if (labels.length > 16) throw new PacketError("mpls", "no bottom of stack within 16 labels");
    }
  });
}

export function decodeVxlan(bytes: Uint8Array): DecodeResult<{ vni: number; inner: Uint8Array }> {
  return catching(() => {
    need(bytes, 8, "vxlan");
    if ((bytes[0] & 0x08) === 0) throw new PacketError("vxlan", "VNI flag not set");
    return { vni: u32(bytes, 4) >>> 8, inner: bytes.subarray(8) };
  });
}

// ---------------------------------------------------------------------------------------------- encode

export function encodeEthernet(frame: EthernetFrame): Uint8Array {
  const body =
    frame.payload.kind === "ipv4"
      ? encodeIpv4(frame.payload)
      : frame.payload.kind === "arp"
        ? encodeArp(frame.payload)
        : frame.payload.data;
  const header = frame.vlan === undefined ? 14 : 18;
  const out = new Uint8Array(header + body.length);
  writeEthernetHeader(out, frame.dst, frame.src, frame.etherType, frame.vlan);
  out.set(body, header);
  return out;
}

/** Ethernet header in front of an already encoded payload (saves a copy on the hot path). */
export function wrapEthernet(dst: string, src: string, etherType: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(14 + body.length);
  writeEthernetHeader(out, dst, src, etherType, undefined);
  out.set(body, 14);
  return out;
}

function writeEthernetHeader(out: Uint8Array, dst: string, src: string, etherType: number, vlan?: number) {
  writeMac(dst, out, 0);
  writeMac(src, out, 6);
  if (vlan === undefined) w16(out, 12, etherType);
  else {
    w16(out, 12, ETHERTYPE_VLAN);
    w16(out, 14, vlan & 0x0fff);
    w16(out, 16, etherType);
  }
}

export function encodeArp(arp: ArpPacket): Uint8Array {
  const out = new Uint8Array(28);
  w16(out, 0, 1);
  w16(out, 2, ETHERTYPE_IPV4);
  out[4] = 6;
  out[5] = 4;
  w16(out, 6, arp.op);
  writeMac(arp.senderMac, out, 8);
  w32(out, 14, parseIpv4(arp.senderIp) ?? 0);
  writeMac(arp.targetMac, out, 18);
  w32(out, 24, parseIpv4(arp.targetIp) ?? 0);
  return out;
}

/**
 * The IPv4 packet's bytes, preceded by `headroom` free bytes so outer headers (Ethernet, a tunnel) can be
 * written in front without another copy.
 */
export function encodeIpv4(ip: Ipv4Packet, headroom = 0): Uint8Array {
  const ihl = 20 + ((ip.options.length + 3) & ~3);
  const raw = ip.fragmentOffset > 0 || ip.payload.kind === "raw";
  const l4len = raw
    ? (ip.payload as RawPayload).data.length
    : l4Length(ip.payload as Exclude<L4, RawPayload>);
  const out = new Uint8Array(headroom + ihl + l4len);
  const o = headroom;
  out[o] = 0x40 | (ihl / 4);
  out[o + 1] = ip.tos;
  w16(out, o + 2, ihl + l4len);
  w16(out, o + 4, ip.id);
  w16(out, o + 6, (ip.dontFragment ? 0x4000 : 0) | (ip.moreFragments ? 0x2000 : 0) | (ip.fragmentOffset / 8));
  out[o + 8] = ip.ttl;
  out[o + 9] = ip.protocol;
  w32(out, o + 12, parseIpv4(ip.src) ?? 0);
  w32(out, o + 16, parseIpv4(ip.dst) ?? 0);
  out.set(ip.options, o + 20);
  w16(out, o + 10, internetChecksum(out, o, o + ihl));
  if (raw) out.set((ip.payload as RawPayload).data, o + ihl);
  else writeL4(out, o + ihl, l4len, ip);
  return out;
}

/** An IPv4 packet in an Ethernet frame, encoded in one buffer. */
export function ipv4Frame(dst: string, src: string, ip: Ipv4Packet): Uint8Array {
  const out = encodeIpv4(ip, 14);
  writeEthernetHeader(out, dst, src, ETHERTYPE_IPV4, undefined);
  return out;
}

export interface TunnelHeader {
  dstMac: string;
  srcMac: string;
  srcIp: string;
  dstIp: string;
  encap: "mplsoudp" | "mplsogre" | "vxlan";
  /** MPLS label, or the VNI for VXLAN. */
  label: number;
  /** Outer UDP source port (from the flow hash, for ECMP in the underlay). */
  sport: number;
  /** VXLAN only: the inner Ethernet addresses. */
  innerDstMac?: string;
  innerSrcMac?: string;
}

/**
 * The inner IPv4 packet inside a tunnel frame: outer Ethernet / IPv4 / UDP 6635 + MPLS, GRE + MPLS, or
 * UDP 4789 + VXLAN + inner Ethernet, written around the inner packet in one buffer. The outer UDP checksum
 * is 0 (allowed over IPv4 for MPLSoUDP and VXLAN).
 */
export function tunnelFrame(h: TunnelHeader, inner: Ipv4Packet): Uint8Array {
  const shim = h.encap === "vxlan" ? 8 + 8 + 14 : h.encap === "mplsoudp" ? 8 + 4 : 4 + 4;
  const head = 14 + 20 + shim;
  const out = encodeIpv4(inner, head);
  writeEthernetHeader(out, h.dstMac, h.srcMac, ETHERTYPE_IPV4, undefined);
  const ipLen = out.length - 14;
  out[14] = 0x45;
  out[15] = 0;
  w16(out, 16, ipLen);
  w16(out, 18, 0);
  w16(out, 20, 0);
  out[22] = 64;
  out[23] = h.encap === "mplsogre" ? IPPROTO_GRE : IPPROTO_UDP;
  w16(out, 24, 0);
  w32(out, 26, parseIpv4(h.srcIp) ?? 0);
  w32(out, 30, parseIpv4(h.dstIp) ?? 0);
  w16(out, 24, internetChecksum(out, 14, 34));
  let o = 34;
  if (h.encap === "mplsogre") {
    w16(out, o, 0);
    w16(out, o + 2, ETHERTYPE_MPLS);
    o += 4;
  } else {
    w16(out, o, h.sport);
    w16(out, o + 2, h.encap === "vxlan" ? 4789 : 6635);
    w16(out, o + 4, out.length - o);
    w16(out, o + 6, 0);
    o += 8;
  }
  if (h.encap === "vxlan") {
    out[o] = 0x08;
    w32(out, o + 4, (h.label << 8) >>> 0);
    writeEthernetHeader(
      out.subarray(o + 8),
      h.innerDstMac ?? h.dstMac,
      h.innerSrcMac ?? h.srcMac,
      ETHERTYPE_IPV4,
      undefined,
    );
  } else {
    w32(out, o, ((h.label << 12) | 0x100 | 64) >>> 0);
  }
  return out;
}

function pseudoHeaderSum(ip: Ipv4Packet, length: number): number {
  return ipWords(ip.src) + ipWords(ip.dst) + ip.protocol + length;
}

function l4Length(l4: Exclude<L4, RawPayload>): number {
  switch (l4.kind) {
    case "icmp":
    case "udp":
      return 8 + l4.data.length;
    case "tcp":
      return 20 + ((l4.options.length + 3) & ~3) + l4.data.length;
    case "sctp": {
      let length = 12;
      for (const c of l4.chunks) length += (4 + c.value.length + 3) & ~3;
      return length;
    }
    case "gre":
      return (l4.key !== undefined ? 8 : 4) + l4.data.length;
  }
}

/** Writes the transport header + payload of `ip` at `o` (length `len`), checksums included. */
function writeL4(out: Uint8Array, o: number, len: number, ip: Ipv4Packet): void {
  const l4 = ip.payload;
  const end = o + len;
  switch (l4.kind) {
    case "icmp":
      out[o] = l4.type;
      out[o + 1] = l4.code;
      w16(out, o + 4, l4.id);
      w16(out, o + 6, l4.seq);
      out.set(l4.data, o + 8);
      w16(out, o + 2, internetChecksum(out, o, end));
      return;
    case "tcp": {
      const optLen = (l4.options.length + 3) & ~3;
      w16(out, o, l4.sport);
      w16(out, o + 2, l4.dport);
      w32(out, o + 4, l4.seq >>> 0);
      w32(out, o + 8, l4.ack >>> 0);
      out[o + 12] = ((20 + optLen) / 4) << 4;
      out[o + 13] = l4.flags;
      w16(out, o + 14, l4.window);
      w16(out, o + 18, l4.urgent);
      out.set(l4.options, o + 20);
      out.set(l4.data, o + 20 + optLen);
      w16(out, o + 16, internetChecksum(out, o, end, pseudoHeaderSum(ip, len)));
      return;
    }
    case "udp":
      w16(out, o, l4.sport);
      w16(out, o + 2, l4.dport);
      w16(out, o + 4, len);
      out.set(l4.data, o + 8);
      // 0 means "no checksum" in UDP; a computed 0 is sent as 0xffff.
      w16(out, o + 6, internetChecksum(out, o, end, pseudoHeaderSum(ip, len)) || 0xffff);
      return;
    case "sctp": {
      w16(out, o, l4.sport);
      w16(out, o + 2, l4.dport);
      w32(out, o + 4, l4.verificationTag >>> 0);
      let off = o + 12;
      for (const c of l4.chunks) {
        out[off] = c.type;
        out[off + 1] = c.flags;
        w16(out, off + 2, 4 + c.value.length);
        out.set(c.value, off + 4);
        off += (4 + c.value.length + 3) & ~3;
      }
      // The CRC32c is stored little-endian (RFC 4960 appendix B).
      w32le(out, o + 8, crc32c(out.subarray(o, end)));
      return;
    }
    case "gre": {
      const hasKey = l4.key !== undefined;
      w16(out, o, hasKey ? 0x2000 : 0);
      w16(out, o + 2, l4.protocolType);
      if (hasKey) w32(out, o + 4, l4.key!);
      out.set(l4.data, o + (hasKey ? 8 : 4));
      return;
    }
    case "raw":
      out.set(l4.data, o);
      return;
  }
}

export function encodeMplsStack(labels: MplsLabel[], payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(labels.length * 4 + payload.length);
  labels.forEach((l, i) => {
    const bos = i === labels.length - 1 ? 0x100 : 0;
    w32(out, i * 4, ((l.label << 12) | ((l.tc & 7) << 9) | bos | (l.ttl & 0xff)) >>> 0);
  });
  out.set(payload, labels.length * 4);
  return out;
}

export function encodeVxlan(vni: number, inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + inner.length);
  out[0] = 0x08;
  w32(out, 4, (vni << 8) >>> 0);
  out.set(inner, 8);
  return out;
}

// ---------------------------------------------------------------------------------------------- builders

/** A fresh IPv4 packet with common defaults (TTL 64, DF clear, id 0). */
export function ipv4(fields: {
  src: string;
  dst: string;
  payload: L4;
  ttl?: number;
  id?: number;
  tos?: number;
}): Ipv4Packet {
  return {
    kind: "ipv4",
    family: 4,
    tos: fields.tos ?? 0,
    id: fields.id ?? 0,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    ttl: fields.ttl ?? 64,
    protocol: protocolOf(fields.payload),
    src: fields.src,
    dst: fields.dst,
    options: EMPTY,
    payload: fields.payload,
  };
}

export function protocolOf(l4: L4): number {
  switch (l4.kind) {
    case "icmp":
      return IPPROTO_ICMP;
    case "tcp":
      return IPPROTO_TCP;
    case "udp":
      return IPPROTO_UDP;
    case "sctp":
      return IPPROTO_SCTP;
    case "gre":
      return IPPROTO_GRE;
    case "raw":
      return 255;
  }
}

export function tcp(
  fields: Partial<Omit<TcpSegment, "kind">> & { sport: number; dport: number },
): TcpSegment {
  return {
    kind: "tcp",
    seq: 0,
    ack: 0,
    flags: TCP_SYN,
    window: 65535,
    urgent: 0,
    options: EMPTY,
    data: EMPTY,
    ...fields,
  };
}

export function udp(sport: number, dport: number, data: Uint8Array = EMPTY): UdpDatagram {
  return { kind: "udp", sport, dport, data };
}

export function icmpEcho(type: number, id: number, seq: number, data: Uint8Array = EMPTY): IcmpMessage {
  return { kind: "icmp", type, code: 0, id, seq, data };
}

/** An ICMP error quoting the offending packet's header and first 8 payload bytes (RFC 792). */
export function icmpError(type: number, code: number, offending: Uint8Array): IcmpMessage {
  const ihl = (offending[0] & 0x0f) * 4;
  return {
    kind: "icmp",
    type,
    code,
    id: 0,
    seq: 0,
    data: offending.slice(0, Math.min(offending.length, ihl + 8)),
  };
}

export function sctp(sport: number, dport: number, verificationTag: number, chunks: SctpChunk[]): SctpPacket {
  return { kind: "sctp", sport, dport, verificationTag, chunks };
}

/** The INIT / INIT-ACK fixed parameters: initiate tag, a_rwnd, streams, initial TSN. */
export function sctpInitChunk(type: number, initiateTag: number): SctpChunk {
  const value = new Uint8Array(16);
  w32(value, 0, initiateTag >>> 0);
  w32(value, 4, 65535);
  w16(value, 8, 1);
  w16(value, 10, 1);
  w32(value, 12, initiateTag >>> 0);
  return { type, flags: 0, value };
}
