/**
 * A minimal IPv4 host stack for simulated endpoints (pods behind a vrouter vif, plain hosts on the fabric):
 * answers ARP for its address and ICMP echo; TCP SYN → SYN-ACK on a listening port, RST otherwise; UDP
 * echoes on a listening port, ICMP port-unreachable otherwise; SCTP INIT → INIT-ACK or ABORT. It also builds
 * the probe packets a client sends and classifies the answers it gets back.
 *
 * Replies go to the MAC the request came from (for a pod: the vrouter; for a fabric host: the compute).
 * A packet arriving from the wire with the host's own address as its source is dropped, as Linux drops a
 * martian source: the hairpin of a pod reaching its own Service VIP, DNAT'ed back to itself without SNAT.
 *
 * Example: `new HostStack({ name: "web", mac, ip: "10.47.255.250", listen: { tcp: [80] } }).handle(frame)`
 */
import { VROUTER_MAC } from "../tables";
import {
  ARP_REPLY,
  ARP_REQUEST,
  decodeEthernet,
  encodeArp,
  encodeIpv4,
  ETHERTYPE_ARP,
  ICMP_CODE_PORT_UNREACHABLE,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  type Ipv4Packet,
  icmpEcho,
  icmpError,
  ipv4,
  type L4,
  SCTP_ABORT,
  SCTP_INIT,
  SCTP_INIT_ACK,
  sctp,
  sctpInitChunk,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
  tcp,
  udp,
  ipv4Frame,
  wrapEthernet,
} from "./packet";

export type ProbeProto = "icmp" | "tcp" | "udp" | "sctp";

export interface ListenPorts {
  tcp?: number[];
  udp?: number[];
  sctp?: number[];
}

export interface HostSpec {
  name: string;
  mac: string;
  ip: string;
  listen?: ListenPorts;
}

/** What a client got back for one probe packet. */
export type ProbeAnswer = "reply" | "refused" | undefined;

export interface HostOutput {
  /** Frames the stack sends in answer. */
  replies: Uint8Array[];
  /** The IPv4 packet addressed to this host, if any (answers to its own probes land here). */
  received?: Ipv4Packet;
  /** What the stack did, for traces. */
  note?: string;
  /** The packet was for this host but its kernel dropped it (`note` says why). */
  dropped?: boolean;
}

/** Where a frame reaches the stack: its interface (eth0) or its own loopback. */
export type HostIngress = "wire" | "loopback";

export class HostStack {
  constructor(readonly spec: HostSpec) {}

  listens(proto: "tcp" | "udp" | "sctp", port: number): boolean {
    return this.spec.listen?.[proto]?.includes(port) ?? false;
  }

  listening(proto: "tcp" | "udp" | "sctp"): readonly number[] {
    return this.spec.listen?.[proto] ?? [];
  }

  handle(frame: Uint8Array, via: HostIngress = "wire"): HostOutput {
    const decoded = decodeEthernet(frame);
    if (!decoded.ok) return { replies: [], note: `malformed frame ignored: ${decoded.error.message}` };
    const eth = decoded.value;
    const p = eth.payload;
    if (p.kind === "arp") {
      if (p.op !== ARP_REQUEST || p.targetIp !== this.spec.ip) return { replies: [] };
      const reply = encodeArp({
        kind: "arp",
        op: ARP_REPLY,
        senderMac: this.spec.mac,
        senderIp: this.spec.ip,
        targetMac: p.senderMac,
        targetIp: p.senderIp,
      });
      return { replies: [wrapEthernet(p.senderMac, this.spec.mac, ETHERTYPE_ARP, reply)], note: "ARP reply" };
    }
    if (p.kind !== "ipv4" || p.dst !== this.spec.ip) return { replies: [], note: "not for this host" };
    // Linux's martian-source rule: only loopback may carry a local source address in.
    if (via === "wire" && p.src === this.spec.ip)
      return { replies: [], dropped: true, note: "dropped by the pod's kernel: source is its own address" };
    const answer = this.answer(p);
    if (!answer) return { replies: [], received: p };
    const out = ipv4({ src: this.spec.ip, dst: p.src, payload: answer.l4 });
    return { replies: [ipv4Frame(eth.src, this.spec.mac, out)], received: p, note: answer.note };
  }

  private answer(p: Ipv4Packet): { l4: L4; note: string } | undefined {
    const l4 = p.payload;
    switch (l4.kind) {
      case "icmp":
        return l4.type === ICMP_ECHO_REQUEST
          ? { l4: icmpEcho(ICMP_ECHO_REPLY, l4.id, l4.seq, l4.data), note: "ICMP echo reply" }
          : undefined;
      case "tcp":
        if ((l4.flags & (TCP_SYN | TCP_ACK)) !== TCP_SYN) return undefined;
        if (this.listens("tcp", l4.dport)) {
          return {
            l4: tcp({
              sport: l4.dport,
              dport: l4.sport,
              seq: 1000,
              ack: l4.seq + 1,
              flags: TCP_SYN | TCP_ACK,
            }),
            note: `SYN-ACK from :${l4.dport}`,
          };
        }
        return {
          l4: tcp({ sport: l4.dport, dport: l4.sport, seq: 0, ack: l4.seq + 1, flags: TCP_RST | TCP_ACK }),
          note: `RST: nothing listens on tcp/${l4.dport}`,
        };
      case "udp":
        if (this.listens("udp", l4.dport))
          return { l4: udp(l4.dport, l4.sport, l4.data), note: `UDP echo from :${l4.dport}` };
        return {
          l4: icmpError(ICMP_DEST_UNREACHABLE, ICMP_CODE_PORT_UNREACHABLE, encodeIpv4(p)),
          note: `ICMP port unreachable: nothing listens on udp/${l4.dport}`,
        };
      case "sctp": {
        const init = l4.chunks.find((c) => c.type === SCTP_INIT);
        if (!init || init.value.length < 4) return undefined;
        const peerTag = new DataView(init.value.buffer, init.value.byteOffset).getUint32(0);
        if (this.listens("sctp", l4.dport)) {
          return {
            l4: sctp(l4.dport, l4.sport, peerTag, [sctpInitChunk(SCTP_INIT_ACK, 0x5c7a0001)]),
            note: `SCTP INIT-ACK from :${l4.dport}`,
          };
        }
        return {
          l4: sctp(l4.dport, l4.sport, peerTag, [{ type: SCTP_ABORT, flags: 0, value: new Uint8Array(0) }]),
          note: `SCTP ABORT: nothing listens on sctp/${l4.dport}`,
        };
      }
      default:
        return undefined;
    }
  }

  /** The request packet of a probe (ICMP echo with `id`/`seq`; TCP SYN, UDP datagram, SCTP INIT from `sport`). */
  request(proto: ProbeProto, dst: string, port: number, sport: number, seq: number): Ipv4Packet {
    let l4: L4;
    switch (proto) {
      case "icmp":
        l4 = icmpEcho(ICMP_ECHO_REQUEST, sport, seq, new TextEncoder().encode("ctb-probe"));
        break;
      case "tcp":
        l4 = tcp({ sport, dport: port, seq: 100 + seq, flags: TCP_SYN });
        break;
      case "udp":
        l4 = udp(sport, port, new TextEncoder().encode("ctb-probe"));
        break;
      case "sctp":
        l4 = sctp(sport, port, 0, [sctpInitChunk(SCTP_INIT, 0x5c7a0000 + (sport & 0xffff))]);
        break;
    }
    return ipv4({ src: this.spec.ip, dst, payload: l4 });
  }

  /** Frames to send: the request to `nextHopMac` (the vrouter for pods). */
  frame(pkt: Ipv4Packet, nextHopMac: string = VROUTER_MAC): Uint8Array {
    return ipv4Frame(nextHopMac, this.spec.mac, pkt);
  }

  /** Classify a received packet as the answer to `req` (or not). */
  static classify(req: Ipv4Packet, got: Ipv4Packet): ProbeAnswer {
    const q = req.payload;
    const a = got.payload;
    if (got.dst !== req.src) return undefined;
    if (a.kind === "icmp" && a.type === ICMP_DEST_UNREACHABLE && a.data.length >= 28) {
      const dv = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
      const ihl = (a.data[0] & 0x0f) * 4;
      const sport = a.data.length >= ihl + 2 ? dv.getUint16(ihl) : -1;
      const quotesUs =
        a.data[9] === req.protocol &&
        (q.kind === "udp" || q.kind === "tcp" || q.kind === "sctp") &&
        sport === q.sport;
      return quotesUs ? "refused" : undefined;
    }
    if (got.src !== req.dst) return undefined;
    switch (q.kind) {
      case "icmp":
        return a.kind === "icmp" && a.type === ICMP_ECHO_REPLY && a.id === q.id && a.seq === q.seq
          ? "reply"
          : undefined;
      case "tcp":
        if (a.kind !== "tcp" || a.sport !== q.dport || a.dport !== q.sport) return undefined;
        if (a.flags & TCP_RST) return "refused";
        return (a.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) ? "reply" : undefined;
      case "udp":
        return a.kind === "udp" && a.sport === q.dport && a.dport === q.sport ? "reply" : undefined;
      case "sctp":
        if (a.kind !== "sctp" || a.sport !== q.dport || a.dport !== q.sport) return undefined;
        if (a.chunks.some((c) => c.type === SCTP_INIT_ACK)) return "reply";
        return a.chunks.some((c) => c.type === SCTP_ABORT) ? "refused" : undefined;
      default:
        return undefined;
    }
  }
}
