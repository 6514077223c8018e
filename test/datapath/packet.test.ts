/**
 * Wire formats: encode → decode round trips for every protocol the datapath speaks, checksums that a real
 * stack would accept, and malformed bytes that come back as typed errors instead of exceptions.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  crc32c,
  decodeEthernet,
  decodeIpv4,
  decodeMplsStack,
  decodeVxlan,
  encodeEthernet,
  encodeIpv4,
  encodeMplsStack,
  encodeVxlan,
  ETHERTYPE_IPV4,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_EXCEEDED,
  icmpEcho,
  icmpError,
  internetChecksum,
  type Ipv4Packet,
  ipv4,
  PacketError,
  SCTP_INIT,
  sctp,
  sctpInitChunk,
  TCP_ACK,
  TCP_SYN,
  tcp,
  udp,
  wrapEthernet,
} from "../../fake-vrouter/datapath/packet";

function roundTrip(p: Ipv4Packet): Ipv4Packet {
  const d = decodeIpv4(encodeIpv4(p));
  if (!d.ok) throw d.error;
  return d.value;
}

/** Sum of the pseudo-header and the segment: 0xffff complement → 0 when the checksum is right. */
function transportChecksumOk(bytes: Uint8Array): boolean {
  const ihl = (bytes[0] & 15) * 4;
  const seg = bytes.subarray(ihl);
  const pseudo = new Uint8Array(12);
  pseudo.set(bytes.subarray(12, 20), 0);
  pseudo[9] = bytes[9];
  pseudo[10] = seg.length >> 8;
  pseudo[11] = seg.length & 255;
  const all = new Uint8Array(12 + seg.length);
  all.set(pseudo);
  all.set(seg, 12);
  return internetChecksum(all) === 0;
}

describe("packet codecs", () => {
  it("Ethernet + IPv4 + TCP round trip with flags, options and valid checksums", () => {
    const p = ipv4({
      src: "10.1.0.3",
      dst: "10.1.0.4",
      ttl: 17,
      id: 4242,
      payload: tcp({
        sport: 40000,
        dport: 80,
        seq: 7,
        ack: 9,
        flags: TCP_SYN | TCP_ACK,
        options: new Uint8Array([2, 4, 5, 180]),
        data: new Uint8Array([1, 2, 3]),
      }),
    });
    const frame = encodeEthernet({
      dst: "00:00:5e:00:01:00",
      src: "02:42:0a:01:00:03",
      etherType: ETHERTYPE_IPV4,
      payload: p,
    });
    const d = decodeEthernet(frame);
    expect(d.ok && d.value).toMatchObject({
      dst: "00:00:5e:00:01:00",
      src: "02:42:0a:01:00:03",
      payload: {
        src: "10.1.0.3",
        dst: "10.1.0.4",
        ttl: 17,
        id: 4242,
        protocol: 6,
        payload: { sport: 40000, dport: 80, seq: 7, ack: 9, flags: TCP_SYN | TCP_ACK },
      },
    });
    const bytes = encodeIpv4(p);
    expect(internetChecksum(bytes, 0, 20)).toBe(0);
    expect(transportChecksumOk(bytes)).toBe(true);
  });
  it("UDP checksum uses the pseudo-header", () => {
    expect(
      transportChecksumOk(
        encodeIpv4(
          ipv4({ src: "1.2.3.4", dst: "5.6.7.8", payload: udp(53, 5353, new Uint8Array([9, 9, 9])) }),
        ),
      ),
    ).toBe(true);
  });
  it("ICMP echo, destination unreachable and time exceeded", () => {
    const echo = roundTrip(
      ipv4({
        src: "1.1.1.1",
        dst: "2.2.2.2",
        payload: icmpEcho(ICMP_ECHO_REQUEST, 77, 3, new Uint8Array([1, 2])),
      }),
    );
    expect(echo.payload).toMatchObject({ kind: "icmp", type: 8, id: 77, seq: 3 });
    const offending = encodeIpv4(
      ipv4({ src: "1.1.1.1", dst: "2.2.2.2", payload: udp(1000, 2000, new Uint8Array(100)) }),
    );
    for (const type of [ICMP_DEST_UNREACHABLE, ICMP_TIME_EXCEEDED]) {
      const err = encodeIpv4(
        ipv4({ src: "2.2.2.2", dst: "1.1.1.1", payload: icmpError(type, 3, offending) }),
      );
      expect(internetChecksum(err, 20)).toBe(0);
      const d = decodeIpv4(err);
      expect(d.ok && d.value.payload).toMatchObject({ type, code: 3 });
      // RFC 792: the quote is the header plus the first 8 bytes.
      expect(d.ok && (d.value.payload as { data: Uint8Array }).data.length).toBe(28);
    }
  });
  it("SCTP: protocol 132, ports, chunks and the CRC32c checksum", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    const p = ipv4({
      src: "1.1.1.1",
      dst: "2.2.2.2",
      payload: sctp(5000, 3868, 0, [sctpInitChunk(SCTP_INIT, 0xabcd)]),
    });
    expect(p.protocol).toBe(132);
    const bytes = encodeIpv4(p);
    const seg = bytes.slice(20);
    const stored = new DataView(seg.buffer).getUint32(8, true);
    seg.fill(0, 8, 12);
    expect(crc32c(seg)).toBe(stored);
    expect(roundTrip(p).payload).toMatchObject({
      kind: "sctp",
      sport: 5000,
      dport: 3868,
      chunks: [{ type: SCTP_INIT }],
    });
  });
  it("MPLS label stacks and VXLAN headers", () => {
    const stack = encodeMplsStack(
      [
        { label: 1000, tc: 1, ttl: 64 },
        { label: 17, tc: 0, ttl: 63 },
      ],
      new Uint8Array([0x45]),
    );
    const d = decodeMplsStack(stack);
    expect(d.ok && d.value.labels).toEqual([
      { label: 1000, tc: 1, ttl: 64 },
      { label: 17, tc: 0, ttl: 63 },
    ]);
    expect(d.ok && [...d.value.payload]).toEqual([0x45]);
    const vx = decodeVxlan(encodeVxlan(0xabcdef, new Uint8Array([1])));
    expect(vx.ok && vx.value.vni).toBe(0xabcdef);
  });
  it("802.1Q tags are read", () => {
    const f = encodeEthernet({
      dst: "ff:ff:ff:ff:ff:ff",
      src: "02:00:00:00:00:01",
      vlan: 100,
      etherType: ETHERTYPE_IPV4,
      payload: ipv4({ src: "1.1.1.1", dst: "2.2.2.2", payload: udp(1, 2) }),
    });
    const d = decodeEthernet(f);
    expect(d.ok && d.value.vlan).toBe(100);
  });
  it.each([
    ["short frame", new Uint8Array(5), "ethernet"],
    [
      "IPv4 version 5",
      wrapEthernet("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", ETHERTYPE_IPV4, new Uint8Array(20).fill(0x55)),
      "ipv4",
    ],
    [
      "total length beyond the frame",
      (() => {
        const b = encodeIpv4(ipv4({ src: "1.1.1.1", dst: "2.2.2.2", payload: udp(1, 2) }));
        return wrapEthernet("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", ETHERTYPE_IPV4, b.slice(0, 25));
      })(),
      "ipv4",
    ],
  ])("%s → typed PacketError", (_n, bytes, layer) => {
    const d = decodeEthernet(bytes);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.error).toBeInstanceOf(PacketError);
      expect(d.error.reason).toBe("INVALID_PACKET");
      expect(d.error.layer).toBe(layer);
    }
  });
  it("MPLS without bottom of stack is an error, not a throw", () => {
    expect(decodeMplsStack(new Uint8Array([0, 1, 0, 64])).ok).toBe(false);
  });
  it("property: arbitrary bytes never throw out of the decoders", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const decode of [decodeEthernet, decodeIpv4, decodeMplsStack, decodeVxlan]) {
          const r = decode(bytes);
          expect(typeof r.ok).toBe("boolean");
        }
      }),
      { numRuns: 2000 },
    );
  });
  it("property: TCP/UDP/ICMP packets survive encode → decode unchanged", () => {
    const ipArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
    const l4 = fc.oneof(
      fc.record({ sport: fc.nat(65535), dport: fc.nat(65535), flags: fc.nat(63) }).map((x) => tcp(x)),
      fc
        .record({ sport: fc.nat(65535), dport: fc.nat(65535) })
        .map((x) => udp(x.sport, x.dport, new Uint8Array([1]))),
      fc
        .record({ id: fc.nat(65535), seq: fc.nat(65535) })
        .map((x) => icmpEcho(ICMP_ECHO_REQUEST, x.id, x.seq)),
    );
    fc.assert(
      fc.property(ipArb, ipArb, l4, fc.integer({ min: 1, max: 255 }), (src, dst, payload, ttl) => {
        const p = ipv4({ src, dst, payload, ttl });
        const back = roundTrip(p);
        expect({ src: back.src, dst: back.dst, ttl: back.ttl, protocol: back.protocol }).toEqual({
          src,
          dst,
          ttl,
          protocol: p.protocol,
        });
        const { data: _a, options: _b, ...want } = payload as typeof payload & { options?: unknown };
        expect(back.payload).toMatchObject(want);
      }),
      { numRuns: 500 },
    );
  });
});
