/**
 * Address helpers for the datapath: IPv4 text <-> uint32, CIDR matching, MAC text <-> bytes.
 * The engine keeps addresses as text (the `VrouterTables` contract does) and converts at the edges.
 *
 * Example: `ipv4InCidr(parseIpv4("10.47.255.251")!, parseCidr("10.32.0.0/12")!)` → true
 */

/** A parsed IPv4 prefix: network address (already masked) and length. */
export interface Ipv4Prefix {
  network: number;
  length: number;
  mask: number;
}

/** "10.1.2.3" → 0x0a010203, or undefined when the text is not a dotted quad. */
export function parseIpv4(text: string): number | undefined {
  // Hand-rolled (no split/Number): this runs for every address of every packet.
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (value * 256 + octet) >>> 0;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

export function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** "10.32.0.0/12" → prefix, undefined for non-IPv4 or malformed text. A bare address is a /32. */
export function parseCidr(text: string): Ipv4Prefix | undefined {
  const slash = text.indexOf("/");
  const addr = parseIpv4(slash < 0 ? text : text.slice(0, slash));
  if (addr === undefined) return undefined;
  const length = slash < 0 ? 32 : Number(text.slice(slash + 1));
  if (!Number.isInteger(length) || length < 0 || length > 32) return undefined;
  const mask = maskOf(length);
  return { network: (addr & mask) >>> 0, length, mask };
}

export function ipv4InPrefix(addr: number, prefix: Ipv4Prefix): boolean {
  return (addr & prefix.mask) >>> 0 === prefix.network;
}

const cidrCache = new Map<string, Ipv4Prefix | null>();

/** Text-level CIDR membership with a parse cache (policy rules repeat the same prefixes). */
export function ipInCidr(ip: string, cidr: string): boolean {
  let prefix = cidrCache.get(cidr);
  if (prefix === undefined) {
    prefix = parseCidr(cidr) ?? null;
    if (cidrCache.size > 100_000) cidrCache.clear();
    cidrCache.set(cidr, prefix);
  }
  if (prefix === null) return false;
  const addr = parseIpv4(ip);
  return addr !== undefined && ipv4InPrefix(addr, prefix);
}

const macCache = new Map<string, Uint8Array | null>();

function macBytes(text: string): Uint8Array | null {
  let bytes = macCache.get(text);
  if (bytes !== undefined) return bytes;
  const parts = text.split(":");
  bytes = new Uint8Array(6);
  if (parts.length !== 6) bytes = null;
  for (let i = 0; bytes && i < 6; i++) {
    const byte = Number.parseInt(parts[i], 16);
    if (parts[i].length === 0 || parts[i].length > 2 || Number.isNaN(byte)) bytes = null;
    else bytes[i] = byte;
  }
  if (macCache.size > 100_000) macCache.clear();
  macCache.set(text, bytes);
  return bytes;
}

/** Writes "aa:bb:cc:dd:ee:ff" into `out` at `offset`; false when the text is not a MAC. */
export function writeMac(text: string, out: Uint8Array, offset: number): boolean {
  const bytes = macBytes(text);
  if (!bytes) return false;
  out.set(bytes, offset);
  return true;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function readMac(bytes: Uint8Array, offset: number): string {
  return `${HEX[bytes[offset]]}:${HEX[bytes[offset + 1]]}:${HEX[bytes[offset + 2]]}:${HEX[bytes[offset + 3]]}:${HEX[bytes[offset + 4]]}:${HEX[bytes[offset + 5]]}`;
}

export function isMac(text: string): boolean {
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text);
}

export const BROADCAST_MAC = "ff:ff:ff:ff:ff:ff";
