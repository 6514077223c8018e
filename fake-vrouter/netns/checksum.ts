/**
 * Completes TCP/UDP checksums of frames captured from veths. A Linux sender hands veth frames over with
 * checksum offload pending (CHECKSUM_PARTIAL: the field holds only the pseudo-header sum); a capture sees
 * them that way, and re-injected on another veth the receiving stack would drop them. The kernel vrouter
 * finishes such checksums itself; the netns front end does it here before the engine sees the frame.
 *
 * Example: `completeL4Checksum(frame)` — rewrites the checksum in place; returns whether it was an IPv4
 * TCP/UDP frame it handled.
 */
import { internetChecksum } from "../datapath/packet";

const ETH_HLEN = 14;

export function completeL4Checksum(frame: Uint8Array): boolean {
  if (frame.length < ETH_HLEN + 20) return false;
  if (frame[12] !== 0x08 || frame[13] !== 0x00) return false; // not IPv4
  const ip = ETH_HLEN;
  if (frame[ip] >> 4 !== 4) return false;
  const ihl = (frame[ip] & 0x0f) * 4;
  const proto = frame[ip + 9];
  if (proto !== 6 && proto !== 17) return false;
  // Fragments carry no complete L4 segment.
  if ((((frame[ip + 6] << 8) | frame[ip + 7]) & 0x3fff) !== 0) return false;
  const total = (frame[ip + 2] << 8) | frame[ip + 3];
  const l4 = ip + ihl;
  const end = ip + total;
  if (end > frame.length || l4 >= end) return false;
  const field = l4 + (proto === 6 ? 16 : 6);
  if (field + 2 > end) return false;
  // UDP checksum 0 means "none" (tunnel encapsulations use it): leave it so.
  if (proto === 17 && frame[field] === 0 && frame[field + 1] === 0) return false;
  const len = end - l4;
  let pseudo = 0;
  for (let i = ip + 12; i < ip + 20; i += 2) pseudo += (frame[i] << 8) | frame[i + 1];
  pseudo += proto + len;
  frame[field] = 0;
  frame[field + 1] = 0;
  let sum = internetChecksum(frame, l4, end, pseudo);
  if (proto === 17 && sum === 0) sum = 0xffff;
  frame[field] = sum >> 8;
  frame[field + 1] = sum & 0xff;
  return true;
}
