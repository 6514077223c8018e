/**
 * Frame builders and readers for datapath tests (the scapy layer of upstream's vtest): pod frames to the
 * vrouter MAC, MPLSoUDP frames from a remote compute, and decoding of whatever the engine emits.
 *
 * Example: `podFrame(world, "a", "10.1.0.5", tcp({ sport: 40000, dport: 80 }))`
 */
import {
  decodeEthernet,
  decodeIpv4,
  decodeMplsStack,
  type EthernetFrame,
  encodeIpv4,
  encodeMplsStack,
  ETHERTYPE_IPV4,
  type Ipv4Packet,
  ipv4,
  type L4,
  udp,
  wrapEthernet,
} from "../../fake-vrouter/datapath/packet";
import { MPLS_UDP_PORT, VROUTER_MAC } from "../../fake-vrouter/tables";
import { fabricMac, podMac, type World } from "./world";

export function pod(world: World, name: string) {
  const p = world.pods.find((x) => x.name === name);
  if (!p) throw new Error(`no pod ${name}`);
  return p;
}

export function podFrame(
  world: World,
  from: string,
  dst: string,
  l4: L4,
  fields: { ttl?: number; src?: string } = {},
): Uint8Array {
  const p = pod(world, from);
  return wrapEthernet(
    VROUTER_MAC,
    podMac(p),
    ETHERTYPE_IPV4,
    encodeIpv4(ipv4({ src: fields.src ?? p.ip, dst, payload: l4, ttl: fields.ttl ?? 64 })),
  );
}

/** An MPLSoUDP frame as compute `fromIp` would send it to compute `toIp`. */
export function mplsFrame(fromIp: string, toIp: string, label: number, inner: Ipv4Packet): Uint8Array {
  const outer = ipv4({
    src: fromIp,
    dst: toIp,
    payload: udp(50000, MPLS_UDP_PORT, encodeMplsStack([{ label, tc: 0, ttl: 64 }], encodeIpv4(inner))),
  });
  return wrapEthernet(fabricMac(toIp), fabricMac(fromIp), ETHERTYPE_IPV4, encodeIpv4(outer));
}

export function eth(frame: Uint8Array): EthernetFrame {
  const d = decodeEthernet(frame);
  if (!d.ok) throw d.error;
  return d.value;
}

export function ip(frame: Uint8Array): Ipv4Packet {
  const e = eth(frame);
  if (e.payload.kind !== "ipv4") throw new Error(`not IPv4: ${e.payload.kind}`);
  return e.payload;
}

/** The label and inner packet of an MPLSoUDP/MPLSoGRE frame. */
export function mplsInner(frame: Uint8Array): { outer: Ipv4Packet; label: number; inner: Ipv4Packet } {
  const outer = ip(frame);
  const l4 = outer.payload;
  const data = l4.kind === "udp" || l4.kind === "gre" ? l4.data : undefined;
  if (!data) throw new Error(`not MPLS over UDP/GRE: ${l4.kind}`);
  const m = decodeMplsStack(data);
  if (!m.ok) throw m.error;
  const inner = decodeIpv4(m.value.payload);
  if (!inner.ok) throw inner.error;
  return { outer, label: m.value.labels[0].label, inner: inner.value };
}
