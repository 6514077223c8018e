/**
 * The vrouter datapath engine: one compute's forwarding, as a pure function of its `VrouterTables`, its flow
 * table and the frame in. `receive(vif, frame, now)` returns the frames out (per vif), the stage-by-stage
 * trace and, when the packet died, the drop reason (the kernel's VP_DROP_* names), counted per reason.
 *
 * Pipeline (docs: shared/reference/vrouter.md): from a pod vif — proxy ARP, receive routes (gateway/DNS),
 * RPF, TTL, flow lookup; on a miss the agent's work: NAT choice (link-local, floating-IP SNAT, fabric SNAT,
 * floating-IP DNAT), policy (network-policy ACLs, security groups, firewall policies), then a forward+reverse
 * flow pair; then LPM in the flow's VRF and next-hop output (encap, tunnel, composite/ECMP, fabric, discard,
 * receive, vrf-translate). From the fabric — decapsulation (MPLSoUDP, MPLSoGRE, VXLAN), label → NH, flow,
 * deliver; unencapsulated packets are routed in the fabric VRF (ip-fabric forwarding, fabric SNAT replies).
 *
 * No timers and no I/O: the same engine runs under the simulated network and the netns front end.
 *
 * Example: `new VrouterDatapath(tables).receive(3, frameFromPod, Date.now()).out[0].vif` → the fabric vif
 */
import type { DropReason, FloatingIpBinding, NextHop, ObjectRef, Route, Vif, VrouterTables } from "../tables";
import { FABRIC_SNAT_POOLS, MPLS_UDP_PORT, VROUTER_MAC, VXLAN_UDP_PORT } from "../tables";
import { BROADCAST_MAC, formatIpv4, parseIpv4 } from "./addr";
import {
  type FlowEntry,
  type FlowKey,
  flowHash,
  flowKeyText,
  type NatRewrite,
  type PoolName,
  PortPools,
} from "./flows";
import {
  ARP_REPLY,
  ARP_REQUEST,
  type ArpPacket,
  decodeEthernet,
  type EthernetFrame,
  decodeIpv4,
  decodeMplsStack,
  decodeVxlan,
  encodeArp,
  ETHERTYPE_ARP,
  ETHERTYPE_MPLS,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_EXCEEDED,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type Ipv4Packet,
  icmpEcho,
  internetChecksum,
  ipv4,
  type L4,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  ipv4Frame,
  tunnelFrame,
  wrapEthernet,
} from "./packet";
import { evaluateAcls, evaluateFirewall, type PolicyEnd, type PolicyTuple } from "./policy";
import { FABRIC_KEY_NH, TablesIndex } from "./tables-index";
import type { TraceStage, TraceStep } from "./trace";

export type { FlowEntry, FlowKey, NatRewrite } from "./flows";
export type { TraceStep } from "./trace";

export interface DatapathResult {
  out: { vif: number; frame: Uint8Array }[];
  trace: TraceStep[];
  drop?: DropReason;
}

export interface DatapathOptions {
  /** Maximum flow entries (forward and reverse each count). Default 524288, the vrouter's default table. */
  flowLimit?: number;
  /** Idle time after which a flow pair expires. Default 180 s. */
  flowAgingMs?: number;
  /**
   * MAC of an underlay address (a remote compute's fabric port, a fabric host) when none was learned from
   * its traffic yet. Default: `fabricMacFor(ip)`, a MAC derived from the address.
   */
  resolveFabricMac?: (ip: string) => string | undefined;
}

export interface DatapathStats {
  drops: Record<DropReason, number>;
  flows: number;
  flowsCreated: number;
  flowHits: number;
  packetsIn: number;
  framesOut: number;
  arpProxied: number;
  natPortsInUse: number;
}

export const DROP_REASONS: readonly DropReason[] = [
  "FLOW_ACTION_DROP",
  "NOWHERE_TO_GO",
  "TTL_EXCEEDED",
  "INVALID_NH",
  "DISCARD",
  "FLOW_NAT_NO_RFLOW",
  "INVALID_PACKET",
  "INVALID_PROTOCOL",
  "INVALID_LABEL",
  "INVALID_SOURCE",
  "INVALID_VNID",
  "INVALID_IF",
  "FLOW_TABLE_FULL",
  "FLOW_NO_MEMORY",
  "NO_FMD",
  "PULL",
  "ARP_NO_WHERE_TO_GO",
  "INVALID_ARP",
];

/** The underlay MAC the engine assumes for a fabric address it has not heard from: 02:fa:<ip bytes>. */
export function fabricMacFor(ip: string): string {
  const v = parseIpv4(ip) ?? 0;
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `02:fa:${hex(v >>> 24)}:${hex((v >>> 16) & 255)}:${hex((v >>> 8) & 255)}:${hex(v & 255)}`;
}

/** Where a packet entered the L3 pipeline. */
type Ingress =
  | { kind: "vif"; vif: Vif }
  /** From the fabric with an MPLS label (or VNI) naming a local interface NH. */
  | { kind: "label"; label: number; nh: Extract<NextHop, { type: "encap" }> }
  /** From the fabric unencapsulated (or a VNI naming a VRF): routed in `vrf`, delivered only locally. */
  | { kind: "fabric"; vrf: number };

type StoredIngress =
  | { kind: "vif"; vif: number }
  | { kind: "label"; label: number }
  | { kind: "fabric"; vrf: number };

type Tuple = FlowTuple;

interface Decision {
  drop?: {
    reason: DropReason;
    stage: TraceStage;
    detail: string;
    ref?: ObjectRef;
    rule?: string;
    installFlow: boolean;
  };
  nat: NatRewrite;
  /** Fabric SNAT / link-local: the source port comes from this pool when the flow is installed. */
  natPool?: PoolName;
  vrf: number;
  reverseVrf: number;
  reverseNh: number;
  ecmp?: FlowEntry["ecmp"];
  steps: TraceStep[];
  verdict?: TraceStep;
}

interface FlowRecord extends FlowEntry {
  keyText: string;
  /** A TCP FIN went through this entry: with one in each direction the connection is over (vr_flow_tcp_digest). */
  fin?: boolean;
  request?: { ingress: StoredIngress; tuple: Tuple };
  signature?: string;
  natPort?: { pool: PoolName; port: number };
}

/** A flow's 5-tuple (ICMP echo: the identifier as sport for a request). */
export interface FlowTuple {
  proto: number;
  sip: string;
  sport: number;
  dip: string;
  dport: number;
}

/** The dry-run result of `explain`: where the first packet goes next, or why it dies. */
export type Explanation =
  | {
      verdict: "forward";
      hop:
        | { kind: "deliver"; vif: number }
        | { kind: "tunnel"; dstIp: string; label: number }
        | { kind: "fabric"; via: string }
        /** Taken by the compute host (receive route). */
        | { kind: "host" }
        /** An ICMP echo to a receive address, answered by the vrouter itself. */
        | { kind: "vrouter" };
      /** The packet as it leaves (after NAT). */
      packet: FlowTuple;
    }
  | { verdict: "drop"; reason: DropReason; step: TraceStep };

const EGRESS: FloatingIpBinding["direction"][] = ["egress", "both"];
const INGRESS: FloatingIpBinding["direction"][] = ["ingress", "both"];
/** A fabric next-hop `via` meaning "the destination itself is on the fabric subnet". */
const ON_LINK = "0.0.0.0";

export class VrouterDatapath {
  private idx: TablesIndex;
  private readonly flowTable = new Map<string, FlowRecord>();
  private readonly pools = new PortPools();
  private readonly neighbors = new Map<string, string>();
  private tracing = true;
  /** Size of the frame being processed (flow byte counters). */
  private frameBytes = 0;
  private readonly flowLimit: number;
  private readonly agingMs: number;
  private readonly resolveFabricMac?: (ip: string) => string | undefined;
  private readonly counters: Omit<DatapathStats, "drops" | "flows" | "natPortsInUse"> = {
    flowsCreated: 0,
    flowHits: 0,
    packetsIn: 0,
    framesOut: 0,
    arpProxied: 0,
  };
  private readonly drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;

  constructor(tables: VrouterTables, opts: DatapathOptions = {}) {
    this.idx = new TablesIndex(tables);
    this.flowLimit = opts.flowLimit ?? 524_288;
    this.agingMs = opts.flowAgingMs ?? 180_000;
    this.resolveFabricMac = opts.resolveFabricMac;
  }

  get tables(): VrouterTables {
    return this.idx.tables;
  }

  private get compute(): string {
    return this.idx.tables.compute.name;
  }

  /** New config from the agent. Flows whose decision would change (policy, NAT, routes, vifs) are evicted. */
  install(tables: VrouterTables): void {
    this.idx = new TablesIndex(tables);
    this.tracing = false;
    for (const rec of [...this.flowTable.values()]) {
      if (rec.direction !== "forward" || !rec.request || !this.flowTable.has(rec.keyText)) continue;
      const ingress = this.resolveIngress(rec.request.ingress);
      const still = ingress
        ? signatureOf(this.decide(ingress, rec.request.tuple, () => rec.keyText, rec.ecmp))
        : "gone";
      if (still !== rec.signature) this.evict(rec);
    }
  }

  stats(): DatapathStats {
    return {
      drops: { ...this.drops },
      flows: this.flowTable.size,
      natPortsInUse: this.pools.inUse(),
      ...this.counters,
    };
  }

  /** The flow table (forward and reverse entries), as the `flow -l` listing would show it. */
  flows(): FlowEntry[] {
    return [...this.flowTable.values()].map(({ keyText, request, signature, natPort, ...entry }) => {
      const out = entry as FlowEntry & Record<string, unknown>;
      for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
      return out;
    });
  }

  /** Removes flow pairs idle for longer than the aging time. */
  expireFlows(now: number): number {
    let removed = 0;
    for (const rec of [...this.flowTable.values()]) {
      if (this.flowTable.has(rec.keyText) && now - rec.lastUsedAt > this.agingMs) removed += this.evict(rec);
    }
    return removed;
  }

  /**
   * One frame in on `vifIndex` at time `now` (ms). `trace: false` skips building the step-by-step trace
   * (the drop step is still reported) — for bulk probing where only verdicts matter.
   */
  receive(vifIndex: number, frame: Uint8Array, now: number, opts?: { trace?: boolean }): DatapathResult {
    this.tracing = opts?.trace ?? true;
    this.frameBytes = frame.length;
    this.counters.packetsIn++;
    const t: TraceStep[] = [];
    const vif = this.idx.vif(vifIndex);
    if (!vif)
      return this.dropped(t, "INVALID_IF", "ingress", `no vif ${vifIndex} on ${this.compute}`, {
        vif: vifIndex,
      });
    const decoded = decodeEthernet(frame);
    if (!decoded.ok) {
      const reason = decoded.error.layer === "arp" ? "INVALID_ARP" : "INVALID_PACKET";
      return this.dropped(t, reason, "ingress", decoded.error.message, { vif: vifIndex });
    }
    const eth = decoded.value;
    if (this.tracing)
      t.push(
        this.step("ingress", `${frame.length} bytes on vif ${vif.index} (${vif.name})`, {
          vif: vif.index,
          ref: vif.vmi,
        }),
      );
    let result: DatapathResult;
    if (vif.type === "fabric") result = this.fromFabric(t, vif, eth.src, eth.payload, now);
    else if (vif.type === "virtual") result = this.fromVirtual(t, vif, eth.dst, eth.payload, now);
    else result = this.dropped(t, "INVALID_IF", "ingress", `packets from a ${vif.type} vif are not modelled`);
    this.counters.framesOut += result.out.length;
    return result;
  }

  // ------------------------------------------------------------------------------------------ pod side

  private fromVirtual(
    t: TraceStep[],
    vif: Vif,
    dstMac: string,
    payload: EthernetFrame["payload"],
    now: number,
  ): DatapathResult {
    if (payload.kind === "arp") return this.proxyArp(t, vif, payload);
    if (payload.kind !== "ipv4") {
      return this.dropped(
        t,
        "INVALID_PROTOCOL",
        "ingress",
        "only IPv4 and ARP are forwarded (IPv6 not implemented)",
      );
    }
    if (dstMac !== VROUTER_MAC && dstMac !== BROADCAST_MAC) {
      return this.dropped(
        t,
        "NOWHERE_TO_GO",
        "ingress",
        `frame to ${dstMac}: L2 bridging is not modelled (pods reach the vrouter MAC through proxy ARP)`,
      );
    }
    const ip = payload;
    if (!vif.ip || ip.src !== vif.ip) {
      return this.dropped(
        t,
        "INVALID_SOURCE",
        "rpf",
        `source ${ip.src} is not the address of vif ${vif.index} (${vif.ip ?? "none"})`,
        { ref: vif.vmi },
      );
    }
    if (ip.ttl <= 1) return this.dropped(t, "TTL_EXCEEDED", "ttl", `TTL ${ip.ttl} would expire`);
    return this.l3(t, { kind: "vif", vif }, ip, now);
  }

  /** Link-local service addresses have receive routes, but matching (ip, port) traffic is NATted instead. */
  private isLinkLocal(ip: Ipv4Packet): boolean {
    const l4 = ip.payload;
    if (l4.kind !== "tcp" && l4.kind !== "udp") return false;
    return this.idx.tables.linkLocal.some((s) => s.ip === ip.dst && s.port === l4.dport);
  }

  private isLinkLocalTuple(t: FlowTuple): boolean {
    if (t.proto !== IPPROTO_TCP && t.proto !== IPPROTO_UDP) return false;
    return this.idx.tables.linkLocal.some((s) => s.ip === t.dip && s.port === t.dport);
  }

  private proxyArp(t: TraceStep[], vif: Vif, arp: ArpPacket): DatapathResult {
    if (arp.op !== ARP_REQUEST) {
      if (this.tracing) t.push(this.step("arp", `ARP op ${arp.op} from the pod absorbed`));
      return { out: [], trace: t };
    }
    if (arp.targetIp === vif.ip || arp.targetIp === arp.senderIp) {
      if (this.tracing)
        t.push(
          this.step("arp", `ARP for the pod's own address ${arp.targetIp} (address probe): not answered`),
        );
      return { out: [], trace: t };
    }
    const reply = encodeArp({
      kind: "arp",
      op: ARP_REPLY,
      senderMac: VROUTER_MAC,
      senderIp: arp.targetIp,
      targetMac: arp.senderMac,
      targetIp: arp.senderIp,
    });
    this.counters.arpProxied++;
    if (this.tracing)
      t.push(
        this.step("arp", `proxy ARP: ${arp.targetIp} is-at ${VROUTER_MAC}`, {
          action: "forward",
          vif: vif.index,
        }),
      );
    return {
      out: [{ vif: vif.index, frame: wrapEthernet(arp.senderMac, VROUTER_MAC, ETHERTYPE_ARP, reply) }],
      trace: t,
    };
  }

  /** Gateway / DNS addresses: the vrouter answers pings itself; DNS goes to the agent regardless of policy. */
  private toReceiveRoute(t: TraceStep[], vif: Vif, ip: Ipv4Packet, route: Route): DatapathResult {
    const l4 = ip.payload;
    const base = { vrf: vif.vrf, prefix: route.prefix, nh: route.nh, ref: route.origin };
    if (l4.kind === "icmp" && l4.type === ICMP_ECHO_REQUEST) {
      const reply = ipv4({
        src: ip.dst,
        dst: ip.src,
        payload: icmpEcho(ICMP_ECHO_REPLY, l4.id, l4.seq, l4.data),
      });
      if (this.tracing)
        t.push(
          this.step("receive", `ICMP echo to ${ip.dst} answered by the vrouter`, {
            ...base,
            action: "forward",
          }),
        );
      return { out: [{ vif: vif.index, frame: ipv4Frame(vif.mac, VROUTER_MAC, reply) }], trace: t };
    }
    const dns = (l4.kind === "udp" || l4.kind === "tcp") && l4.dport === 53;
    const target = dns ? this.idx.agentVif : this.idx.hostVif;
    const what = dns ? "DNS query passes to the agent (policy does not apply)" : "to the compute host";
    if (this.tracing) t.push(this.step("receive", `${ip.dst}: ${what}`, { ...base, action: "forward" }));
    if (!target) {
      if (this.tracing)
        t.push(this.step("host", `consumed: no ${dns ? "agent" : "host"} vif modelled on ${this.compute}`));
      return { out: [], trace: t };
    }
    return { out: [{ vif: target.index, frame: ipv4Frame(target.mac, VROUTER_MAC, ip) }], trace: t };
  }

  // ------------------------------------------------------------------------------------------ fabric side

  private fromFabric(
    t: TraceStep[],
    fabric: Vif,
    srcMac: string,
    payload: EthernetFrame["payload"],
    now: number,
  ): DatapathResult {
    const myIp = this.idx.tables.compute.fabricIp;
    if (payload.kind === "arp") {
      this.neighbors.set(payload.senderIp, payload.senderMac);
      if (payload.op === ARP_REQUEST && payload.targetIp === myIp) {
        const reply = encodeArp({
          kind: "arp",
          op: ARP_REPLY,
          senderMac: fabric.mac,
          senderIp: myIp,
          targetMac: payload.senderMac,
          targetIp: payload.senderIp,
        });
        if (this.tracing)
          t.push(this.step("arp", `${myIp} is-at ${fabric.mac} (fabric port)`, { action: "forward" }));
        return {
          out: [
            { vif: fabric.index, frame: wrapEthernet(payload.senderMac, fabric.mac, ETHERTYPE_ARP, reply) },
          ],
          trace: t,
        };
      }
      if (this.tracing) t.push(this.step("arp", `ARP on the fabric for ${payload.targetIp} ignored`));
      return { out: [], trace: t };
    }
    if (payload.kind !== "ipv4")
      return this.dropped(t, "INVALID_PROTOCOL", "ingress", "only IPv4 and ARP on the fabric");
    const outer = payload;
    this.neighbors.set(outer.src, srcMac);
    if (outer.dst === myIp) {
      const l4 = outer.payload;
      if (l4.kind === "udp" && l4.dport === MPLS_UDP_PORT)
        return this.fromMpls(t, outer, l4.data, "MPLSoUDP", now);
      if (l4.kind === "gre" && l4.protocolType === ETHERTYPE_MPLS)
        return this.fromMpls(t, outer, l4.data, "MPLSoGRE", now);
      if (l4.kind === "udp" && l4.dport === VXLAN_UDP_PORT) return this.fromVxlan(t, outer, l4.data, now);
      if (l4.kind === "gre")
        return this.dropped(t, "INVALID_PROTOCOL", "decap", `GRE protocol 0x${l4.protocolType.toString(16)}`);
    }
    const fabricVrf = this.idx.tables.compute.fabricVrf;
    if (this.tracing)
      t.push(
        this.step("decap", `unencapsulated ${outer.src} → ${outer.dst}: routed in the fabric VRF`, {
          vrf: fabricVrf,
        }),
      );
    if (outer.ttl <= 1 && outer.dst !== myIp)
      return this.dropped(t, "TTL_EXCEEDED", "ttl", `TTL ${outer.ttl} would expire`);
    return this.l3(t, { kind: "fabric", vrf: fabricVrf }, outer, now);
  }

  private fromMpls(
    t: TraceStep[],
    outer: Ipv4Packet,
    data: Uint8Array,
    encap: string,
    now: number,
  ): DatapathResult {
    const mpls = decodeMplsStack(data);
    if (!mpls.ok) return this.dropped(t, "INVALID_PACKET", "decap", mpls.error.message);
    const label = mpls.value.labels[mpls.value.labels.length - 1].label;
    const inner = decodeIpv4(mpls.value.payload);
    if (!inner.ok) return this.dropped(t, "INVALID_PACKET", "decap", `inner packet: ${inner.error.message}`);
    if (this.tracing) t.push(this.step("decap", `${encap} from ${outer.src}, label ${label}`, { label }));
    return this.byLabel(t, label, inner.value, now);
  }

  private fromVxlan(t: TraceStep[], outer: Ipv4Packet, data: Uint8Array, now: number): DatapathResult {
    const vx = decodeVxlan(data);
    if (!vx.ok) return this.dropped(t, "INVALID_PACKET", "decap", vx.error.message);
    const inner = decodeEthernet(vx.value.inner);
    if (!inner.ok) return this.dropped(t, "INVALID_PACKET", "decap", `inner frame: ${inner.error.message}`);
    if (inner.value.payload.kind !== "ipv4")
      return this.dropped(t, "INVALID_PROTOCOL", "decap", "VXLAN inner frame is not IPv4");
    if (this.tracing)
      t.push(this.step("decap", `VXLAN from ${outer.src}, VNI ${vx.value.vni}`, { label: vx.value.vni }));
    if (!this.idx.tables.labels.has(vx.value.vni)) {
      // An L3 VNI names a VRF (vxlan_network_identifier): route the inner packet there, locally only.
      const vrf = this.idx.vrfByVni(vx.value.vni);
      if (vrf === undefined)
        return this.dropped(t, "INVALID_VNID", "label", `VNI ${vx.value.vni} names no NH and no VRF`);
      if (this.tracing) t.push(this.step("label", `VNI ${vx.value.vni} → VRF ${vrf}`, { vrf }));
      return this.l3(t, { kind: "fabric", vrf }, inner.value.payload, now);
    }
    return this.byLabel(t, vx.value.vni, inner.value.payload, now);
  }

  private byLabel(t: TraceStep[], label: number, inner: Ipv4Packet, now: number): DatapathResult {
    const nhId = this.idx.tables.labels.get(label);
    if (nhId === undefined)
      return this.dropped(t, "INVALID_LABEL", "label", `label ${label} is not in the MPLS table`, { label });
    const nh = this.idx.nextHop(nhId);
    if (!nh)
      return this.dropped(t, "INVALID_NH", "label", `label ${label} → missing NH ${nhId}`, {
        label,
        nh: nhId,
      });
    if (this.tracing)
      t.push(this.step("label", `label ${label} → NH ${nh.id} (${nh.type})`, { label, nh: nh.id }));
    switch (nh.type) {
      case "encap":
        return this.l3(t, { kind: "label", label, nh }, inner, now);
      case "vrf-translate":
        return this.l3(t, { kind: "fabric", vrf: nh.vrf }, inner, now);
      case "composite": {
        const tuple = tupleOf(inner);
        const member =
          nh.members[
            flowHash(`${tuple.proto}:${inner.src}:${tuple.sport}>${inner.dst}:${tuple.dport}`) %
              Math.max(1, nh.members.length)
          ];
        const mnh = member ? this.idx.nextHop(member.nh) : undefined;
        if (mnh?.type !== "encap")
          return this.dropped(
            t,
            "INVALID_NH",
            "ecmp",
            `composite NH ${nh.id} from the fabric has no local member`,
          );
        if (this.tracing)
          t.push(this.step("ecmp", `member NH ${mnh.id} of composite ${nh.id}`, { nh: mnh.id }));
        return this.l3(t, { kind: "label", label, nh: mnh }, inner, now);
      }
      case "receive":
        return this.toHostStack(t, inner);
      case "discard":
        return this.dropped(t, "DISCARD", "label", `label ${label} → discard NH`);
      default:
        return this.dropped(
          t,
          "INVALID_NH",
          "label",
          `label ${label} → ${nh.type} NH ${nh.id} cannot take fabric traffic`,
        );
    }
  }

  // ------------------------------------------------------------------------------------------ flows

  private l3(t: TraceStep[], ingress: Ingress, ip: Ipv4Packet, now: number): DatapathResult {
    const keyNh = this.ingressKeyNh(ingress);
    const l4 = ip.payload;
    if (l4.kind === "icmp" && (l4.type === ICMP_DEST_UNREACHABLE || l4.type === ICMP_TIME_EXCEEDED)) {
      return this.icmpError(t, ingress, ip, l4.data, keyNh, now);
    }
    const tuple = tupleOf(ip);
    const keyText = flowKeyText({
      proto: tuple.proto,
      sport: tuple.sport,
      dport: tuple.dport,
      nh: keyNh,
      sip: tuple.sip,
      dip: tuple.dip,
    });
    let rec = this.lookupFlow(keyText, now);
    // a SYN on a closed connection's entries starts a new connection (the vrouter evicted the dead flow)
    if (rec && l4.kind === "tcp" && l4.flags & TCP_SYN && this.closedTcp(rec)) {
      this.evict(rec);
      rec = undefined;
    }
    if (rec) {
      this.counters.flowHits++;
      if (this.tracing)
        t.push(
          this.step("flow", `hit ${rec.direction} flow ${keyText} (${rec.action})`, {
            action: rec.action === "drop" ? "drop" : "forward",
            ref: rec.verdict?.ref,
            rule: rec.verdict?.rule,
          }),
        );
    } else {
      // Receive routes (gateway, DNS, compute addresses) are handled by the vrouter itself, unless a flow
      // (a NAT reply towards the compute's address, say) claimed the packet above.
      if (ingress.kind === "vif" && !this.isLinkLocal(ip)) {
        const local = this.idx.lookup(ingress.vif.vrf, ip.dst);
        if (local && this.idx.nextHop(local.route.nh)?.type === "receive")
          return this.toReceiveRoute(t, ingress.vif, ip, local.route);
      }
      const d = this.decide(ingress, tuple, () => keyText);
      for (const s of d.steps) t.push(s);
      if (d.drop) {
        if (d.drop.installFlow) this.installDrop(ingress, tuple, keyText, d, now);
        return this.dropped(t, d.drop.reason, d.drop.stage, d.drop.detail, {
          ref: d.drop.ref,
          rule: d.drop.rule,
        });
      }
      const installed = this.installPair(ingress, tuple, keyText, d, now);
      if ("reason" in installed) return this.dropped(t, installed.reason, "flow", installed.detail);
      rec = installed;
      if (this.tracing)
        t.push(
          this.step("flow", `new flow ${keyText} (${rec.action}), reverse ${rec.reverseKey}`, {
            action: "forward",
          }),
        );
    }
    if (rec.action === "drop") {
      return this.dropped(t, "FLOW_ACTION_DROP", "flow", "flow action DROP", {
        ref: rec.verdict?.ref,
        rule: rec.verdict?.rule,
      });
    }
    if (rec.nat && !(rec.reverseKey && this.flowTable.has(rec.reverseKey))) {
      return this.dropped(t, "FLOW_NAT_NO_RFLOW", "flow", `NAT flow ${keyText} has no reverse flow`);
    }
    const pkt = rec.nat ? applyNat(ip, rec.nat) : ip;
    if (rec.nat && this.tracing) t.push(this.step("flow", `NAT ${describeNat(ip, pkt)}`, { action: "nat" }));
    rec.packets++;
    rec.bytes += this.frameBytes;
    const result = this.output(t, ingress, rec, pkt, flowHash(keyText));
    if (l4.kind === "tcp" && l4.flags & TCP_RST) this.evict(rec);
    else if (l4.kind === "tcp" && l4.flags & TCP_FIN) rec.fin = true;
    return result;
  }

  /** ICMP errors travel with the flow of the packet they quote (reverse direction), un-NATted on the way. */
  private icmpError(
    t: TraceStep[],
    ingress: Ingress,
    ip: Ipv4Packet,
    quoted: Uint8Array,
    keyNh: number,
    now: number,
  ): DatapathResult {
    const inner = quotedTuple(quoted);
    if (!inner) return this.dropped(t, "INVALID_PACKET", "flow", "ICMP error quotes no IPv4 header");
    const keyText = flowKeyText({
      proto: inner.proto,
      sport: inner.dport,
      dport: inner.sport,
      nh: keyNh,
      sip: inner.dip,
      dip: inner.sip,
    });
    const rec = this.lookupFlow(keyText, now);
    if (!rec || rec.action === "drop") {
      return this.dropped(
        t,
        "FLOW_ACTION_DROP",
        "flow",
        `ICMP error for ${inner.sip} → ${inner.dip}: no allowed flow ${keyText}`,
      );
    }
    if (this.tracing)
      t.push(this.step("flow", `ICMP error follows ${rec.direction} flow ${keyText}`, { action: "forward" }));
    const pkt = rec.nat ? natIcmpError(ip, quoted, rec.nat) : ip;
    return this.output(t, ingress, rec, pkt, flowHash(keyText));
  }

  private ingressKeyNh(ingress: Ingress): number {
    if (ingress.kind === "vif") return this.idx.vifNh(ingress.vif.index);
    if (ingress.kind === "label") return this.idx.vifNh(ingress.nh.vif);
    return FABRIC_KEY_NH;
  }

  private resolveIngress(stored: StoredIngress): Ingress | undefined {
    if (stored.kind === "vif") {
      const vif = this.idx.vif(stored.vif);
      return vif ? { kind: "vif", vif } : undefined;
    }
    if (stored.kind === "fabric") return stored;
    const nhId = this.idx.tables.labels.get(stored.label);
    const nh = nhId === undefined ? undefined : this.idx.nextHop(nhId);
    return nh?.type === "encap" ? { kind: "label", label: stored.label, nh } : undefined;
  }

  private lookupFlow(keyText: string, now: number): FlowRecord | undefined {
    const rec = this.flowTable.get(keyText);
    if (!rec) return undefined;
    if (now - rec.lastUsedAt > this.agingMs) {
      this.evict(rec);
      return undefined;
    }
    rec.lastUsedAt = now;
    const partner = rec.reverseKey ? this.flowTable.get(rec.reverseKey) : undefined;
    if (partner) partner.lastUsedAt = now;
    return rec;
  }

  /** Both directions of this TCP flow saw a FIN. */
  private closedTcp(rec: FlowRecord): boolean {
    if (rec.key.proto !== IPPROTO_TCP || !rec.fin || !rec.reverseKey) return false;
    return this.flowTable.get(rec.reverseKey)?.fin === true;
  }

  private evict(rec: FlowRecord): number {
    let removed = 0;
    for (const key of [rec.keyText, rec.reverseKey]) {
      if (key === undefined) continue;
      const r = this.flowTable.get(key);
      if (!r) continue;
      this.flowTable.delete(key);
      if (r.natPort) this.pools.release(r.natPort.pool, r.natPort.port);
      removed++;
    }
    return removed;
  }

  private hasRoom(entries: number, now: number): boolean {
    if (this.flowTable.size + entries <= this.flowLimit) return true;
    this.expireFlows(now);
    return this.flowTable.size + entries <= this.flowLimit;
  }

  private installDrop(ingress: Ingress, tuple: Tuple, keyText: string, d: Decision, now: number): void {
    // Deny flows are installed one way only, so a connection in the other direction is judged on its own.
    if (!this.hasRoom(1, now)) return;
    this.counters.flowsCreated++;
    const rec = newRecord(
      { ...tuple, nh: this.ingressKeyNh(ingress) },
      keyText,
      "forward",
      undefined,
      "drop",
      d,
      now,
    );
    rec.request = { ingress: storeIngress(ingress), tuple };
    rec.signature = signatureOf(d);
    this.flowTable.set(keyText, rec);
  }

  private installPair(
    ingress: Ingress,
    tuple: Tuple,
    keyText: string,
    d: Decision,
    now: number,
  ): FlowRecord | { reason: DropReason; detail: string } {
    if (!this.hasRoom(2, now))
      return { reason: "FLOW_TABLE_FULL", detail: `flow table full (${this.flowLimit} entries)` };
    const nat: NatRewrite = { ...d.nat };
    let natPort: FlowRecord["natPort"];
    if (d.natPool) {
      const port = this.pools.allocate(d.natPool);
      if (port === undefined) return { reason: "FLOW_NO_MEMORY", detail: "fabric SNAT port pool exhausted" };
      nat.sport = port;
      natPort = { pool: d.natPool, port };
    }
    const hasNat = Object.keys(nat).length > 0;
    const rkey: FlowKey = {
      proto: tuple.proto,
      sport: nat.dport ?? tuple.dport,
      dport: nat.sport ?? tuple.sport,
      nh: d.reverseNh,
      sip: nat.dip ?? tuple.dip,
      dip: nat.sip ?? tuple.sip,
    };
    const rkeyText = flowKeyText(rkey);
    let holder = this.flowTable.get(rkeyText);
    // a closed TCP connection's entries are evicted by the real vrouter once both FINs went through: they
    // do not hold a key against a new flow (a client reusing its source port towards a Service, say)
    if (holder && this.closedTcp(holder)) {
      this.evict(holder);
      holder = undefined;
    }
    if (holder || rkeyText === keyText) {
      // The agent makes such a flow a short (DROP) flow: its reverse key belongs to another connection
      // (typically a reply that came back on another next-hop than the one its flow expects).
      if (natPort) this.pools.release(natPort.pool, natPort.port);
      const detail = holder
        ? `reverse key ${rkeyText} is held by ${holder.direction} flow ${holder.keyText} (short flow: reverse flow change)`
        : `flow ${keyText} is its own reverse (short flow: same flow and reverse key)`;
      return { reason: hasNat ? "FLOW_NAT_NO_RFLOW" : "FLOW_ACTION_DROP", detail };
    }
    let reverseNat: NatRewrite | undefined;
    if (hasNat) {
      reverseNat = {};
      if (nat.dip !== undefined) reverseNat.sip = tuple.dip;
      if (nat.dport !== undefined) reverseNat.sport = tuple.dport;
      if (nat.sip !== undefined) reverseNat.dip = tuple.sip;
      if (nat.sport !== undefined) reverseNat.dport = tuple.sport;
    }
    const action = hasNat ? "nat" : "forward";
    const fwd = newRecord(
      { ...tuple, nh: this.ingressKeyNh(ingress) },
      keyText,
      "forward",
      rkeyText,
      action,
      d,
      now,
    );
    fwd.nat = hasNat ? nat : undefined;
    fwd.ecmp = d.ecmp;
    fwd.request = { ingress: storeIngress(ingress), tuple };
    fwd.signature = signatureOf(d);
    fwd.natPort = natPort;
    const rev = newRecord(rkey, rkeyText, "reverse", keyText, action, d, now);
    rev.vrf = d.reverseVrf;
    rev.nat = reverseNat;
    this.flowTable.set(keyText, fwd);
    this.flowTable.set(rkeyText, rev);
    this.counters.flowsCreated++;
    return fwd;
  }

  // ------------------------------------------------------------------------------------------ agent: flow setup

  /** What the agent decides for the first packet of a flow: NAT, destination, policy verdict. */
  private decide(
    ingress: Ingress,
    tuple: Tuple,
    keyText: () => string,
    sticky?: FlowEntry["ecmp"],
  ): Decision {
    const steps: TraceStep[] = [];
    const tables = this.idx.tables;
    const { fabricVrf, fabricIp } = tables.compute;
    const nat: NatRewrite = {};
    let natPool: PoolName | undefined;
    let srcEnd: PolicyEnd;
    let srcVn: string | undefined;
    let srcLocal: Vif | undefined;
    let vrf: number;
    let reverseVrf: number;
    const fail = (
      reason: DropReason,
      stage: TraceStage,
      detail: string,
      extra: Partial<NonNullable<Decision["drop"]>> = {},
    ): Decision => {
      const drop = { reason, stage, detail, installFlow: false, ...extra };
      return {
        drop,
        nat,
        vrf: 0,
        reverseVrf: 0,
        reverseNh: 0,
        steps,
      };
    };

    // 1. Source end and the NAT that changes where the packet is routed.
    if (ingress.kind === "vif") {
      const vif = ingress.vif;
      srcLocal = vif;
      srcVn = vif.vnName;
      srcEnd = endOfVif(vif, tuple.sip);
      vrf = vif.vrf;
      reverseVrf = vif.vrf;
      const ll = tables.linkLocal.find((s) => s.ip === tuple.dip && s.port === tuple.dport);
      if (ll && (tuple.proto === IPPROTO_TCP || tuple.proto === IPPROTO_UDP)) {
        nat.sip = fabricIp;
        nat.dip = ll.fabricIp;
        nat.dport = ll.fabricPort;
        natPool = tuple.proto === IPPROTO_TCP ? "tcp" : "udp";
        vrf = fabricVrf;
        if (this.tracing)
          steps.push(
            this.step(
              "link-local",
              `link-local service ${ll.name}: ${tuple.dip}:${tuple.dport} → ${ll.fabricIp}:${ll.fabricPort}, source → ${fabricIp}`,
              { action: "nat", vrf },
            ),
          );
      } else {
        const own = this.idx.lookup(vif.vrf, tuple.dip);
        let best: { fip: FloatingIpBinding; length: number } | undefined;
        for (const fip of vif.floatingIps) {
          if (!EGRESS.includes(fip.direction)) continue;
          const m = this.idx.lookup(fip.vrf, tuple.dip);
          if (m && m.length > (best?.length ?? own?.length ?? -1)) best = { fip, length: m.length };
        }
        if (best) {
          nat.sip = best.fip.address;
          vrf = best.fip.vrf;
          srcVn = best.fip.vnName;
          if (this.tracing)
            steps.push(
              this.step(
                "floating-ip",
                `SNAT ${tuple.sip} → floating IP ${best.fip.address}: its VN has the longer route (/${best.length} vs ${own ? `/${own.length}` : "none"}); forwarding continues in VRF ${vrf}`,
                { action: "nat", vrf, ref: best.fip.origin },
              ),
            );
        } else if (
          vif.fabricSnat &&
          vif.vrf !== fabricVrf &&
          (own ? this.idx.nextHop(own.route.nh)?.type === "fabric" : this.idx.lookup(fabricVrf, tuple.dip))
        ) {
          // An overlay address leaving onto the underlay would get no answer: the fabric has no route back to it.
          nat.sip = fabricIp;
          natPool = tuple.proto === IPPROTO_TCP ? "tcp" : "udp";
          vrf = fabricVrf;
          if (this.tracing)
            steps.push(
              this.step(
                "fabric-snat",
                `${own ? "the pod's route leaves the overlay to the fabric" : "no route in the pod's VRF"}; fabric SNAT to ${fabricIp} with a ${natPool} pool port`,
                { action: "nat", vrf },
              ),
            );
        }
      }
    } else {
      vrf = ingress.kind === "fabric" ? ingress.vrf : 0;
      reverseVrf = vrf;
      srcEnd = { ip: tuple.sip, vns: [], sgIds: [], tags: [] };
    }

    // 2. Destination: the local vif the packet ends on, or the route's remote endpoint.
    const dip = nat.dip ?? tuple.dip;
    let dstLocal: Vif | undefined;
    let dstRoute: Route | undefined;
    let ecmp: FlowEntry["ecmp"];
    let reverseNh: number;
    let remoteVia: "tunnel" | "fabric" | undefined;
    if (ingress.kind === "label") {
      dstLocal = this.idx.vif(ingress.nh.vif);
      if (!dstLocal)
        return fail("INVALID_NH", "label", `NH ${ingress.nh.id} names missing vif ${ingress.nh.vif}`);
      if (!ingress.nh.policy && this.tracing)
        steps.push(
          this.step("label", `no-policy NH ${ingress.nh.id}: destination policy skipped`, {
            nh: ingress.nh.id,
          }),
        );
    } else {
      let lookupVrf = vrf;
      for (let depth = 0; ; depth++) {
        const m = this.idx.lookup(lookupVrf, dip);
        if (!m) {
          return fail(
            "NOWHERE_TO_GO",
            "route",
            `no route to ${dip} in VRF ${lookupVrf} (${tables.vrfs.get(lookupVrf)?.name ?? "unknown"})`,
            { installFlow: false },
          );
        }
        dstRoute = m.route;
        if (this.tracing) steps.push(this.routeStep(lookupVrf, m.route, dip));
        const nh = this.idx.nextHop(m.route.nh);
        if (!nh) return fail("INVALID_NH", "nexthop", `route ${m.route.prefix} → missing NH ${m.route.nh}`);
        if (nh.type === "vrf-translate" && depth < 4) {
          lookupVrf = nh.vrf;
          continue;
        }
        if (nh.type === "discard")
          return fail("DISCARD", "nexthop", `route ${m.route.prefix} → discard`, { ref: m.route.origin });
        if (nh.type === "receive") {
          // The compute itself (its fabric IP, a gateway reached through NAT): no flow, straight to the host.
          return fail("PULL", "receive", `${dip} is a receive route: to the host`, { ref: m.route.origin });
        }
        if (nh.type === "encap") dstLocal = this.idx.vif(nh.vif);
        else if (nh.type === "composite") {
          // Revalidation keeps a flow on its member while that member exists (stickiness).
          const member =
            (sticky?.composite === nh.id
              ? nh.members.find((x) => x.nh === sticky.nh && x.label === sticky.label)
              : undefined) ?? nh.members[flowHash(keyText()) % Math.max(1, nh.members.length)];
          if (!member) return fail("INVALID_NH", "ecmp", `composite NH ${nh.id} has no members`);
          ecmp = { composite: nh.id, nh: member.nh, label: member.label };
          const mnh = this.idx.nextHop(member.nh);
          if (this.tracing)
            steps.push(
              this.step(
                "ecmp",
                `member ${nh.members.indexOf(member) + 1}/${nh.members.length}: NH ${member.nh} label ${member.label}`,
                { nh: member.nh, label: member.label },
              ),
            );
          if (mnh?.type === "encap") dstLocal = this.idx.vif(mnh.vif);
          else remoteVia = mnh?.type === "fabric" ? "fabric" : "tunnel";
        } else remoteVia = nh.type === "fabric" ? "fabric" : nh.type === "tunnel" ? "tunnel" : undefined;
        if (ingress.kind === "fabric" && !dstLocal) {
          return fail(
            "NOWHERE_TO_GO",
            "route",
            `${dip} is not local: fabric traffic is not forwarded back to the fabric`,
          );
        }
        break;
      }
    }

    // 3. Floating-IP DNAT on the destination port.
    let dstVn: string | undefined;
    let dstEnd: PolicyEnd;
    if (dstLocal) {
      const fip = dstLocal.floatingIps.find((f) => f.address === dip && INGRESS.includes(f.direction));
      if (fip) {
        nat.dip = fip.fixedIp;
        if (fip.portMappings) {
          const map = fip.portMappings.find((p) => p.protocol === tuple.proto && p.srcPort === tuple.dport);
          if (!map) {
            return fail(
              "FLOW_ACTION_DROP",
              "floating-ip",
              `floating IP ${fip.address} has port mappings, none for ${tuple.proto}/${tuple.dport}`,
              { ref: fip.origin, installFlow: true },
            );
          }
          nat.dport = map.dstPort;
        }
        vrf = dstLocal.vrf;
        if (this.tracing)
          steps.push(
            this.step(
              "floating-ip",
              `DNAT floating IP ${fip.address}${nat.dport !== undefined ? `:${tuple.dport}` : ""} → ${fip.fixedIp}${nat.dport !== undefined ? `:${nat.dport}` : ""} (vif ${dstLocal.index})`,
              { action: "nat", ref: fip.origin },
            ),
          );
      }
      // A floating-IP flow's destination is the floating IP's VN for network policy, on both sides: the
      // sender's VN ACL sees the VN it reached (the service network for a VIP), and so does the out-policy,
      // which is that VN's ACL. SGs and tags stay the member's own.
      dstVn = fip ? fip.vnName : dstLocal.vnName;
      dstEnd = { ...endOfVif(dstLocal, nat.dip ?? dip), vns: dstVn ? [dstVn] : [] };
      reverseNh = this.idx.vifNh(dstLocal.index);
      if (ingress.kind !== "vif") {
        // The reply of a floating-IP flow is un-NATted and routed in the floating IP's VRF (the VN the
        // sender reached the FIP through), not in the member's own VRF, which may not know the sender.
        reverseVrf = fip ? fip.vrf : dstLocal.vrf;
        if (ingress.kind === "fabric" && !nat.dip) vrf = ingress.vrf;
        const srcRoute = this.idx.lookup(reverseVrf, tuple.sip)?.route;
        if (srcRoute)
          srcEnd = { ip: tuple.sip, vns: srcRoute.destVns, sgIds: srcRoute.sgIds, tags: srcRoute.tags };
      }
    } else {
      const r = dstRoute!;
      dstEnd = { ip: dip, vns: r.destVns, sgIds: r.sgIds, tags: r.tags };
      // The reply comes back labelled for the source vif (tunnel) or unencapsulated (fabric NH).
      reverseNh = remoteVia === "fabric" ? FABRIC_KEY_NH : this.idx.vifNh(srcLocal!.index);
      if (natPool) reverseNh = FABRIC_KEY_NH;
    }

    // 4. Policy, in the agent's order; each stage stops on deny.
    const policyTuple: PolicyTuple = {
      proto: tuple.proto,
      sport: tuple.sport,
      dport: nat.dport ?? tuple.dport,
      src: srcEnd,
      dst: dstEnd,
    };
    const srcPolicy = srcLocal?.policyEnabled === true;
    const dstPolicy = dstLocal?.policyEnabled === true && !(ingress.kind === "label" && !ingress.nh.policy);
    let verdict: TraceStep | undefined;
    const stages: (() => TraceStep | undefined)[] = [];
    const srcAcl = srcPolicy ? this.idx.networkPolicyAcl(srcVn) : undefined;
    const dstAcl = dstPolicy ? this.idx.networkPolicyAcl(dstVn) : undefined;
    if (srcPolicy)
      stages.push(() =>
        this.aclStage("network-policy", srcAcl ? [srcAcl] : [], policyTuple, `source VN ${srcVn ?? "?"}`),
      );
    if (dstPolicy && dstAcl !== srcAcl)
      stages.push(() =>
        this.aclStage(
          "network-policy",
          dstAcl ? [dstAcl] : [],
          policyTuple,
          `destination VN ${dstVn ?? "?"}`,
        ),
      );
    if (srcPolicy)
      stages.push(() =>
        this.aclStage(
          "security-group",
          srcLocal!.sgEgressAcls,
          policyTuple,
          `egress of vif ${srcLocal!.index}`,
        ),
      );
    if (dstPolicy)
      stages.push(() =>
        this.aclStage(
          "security-group",
          dstLocal!.sgIngressAcls,
          policyTuple,
          `ingress of vif ${dstLocal!.index}`,
        ),
      );
    if (srcPolicy) stages.push(() => this.firewallStage(srcLocal!, policyTuple, "source"));
    if (dstPolicy && dstLocal !== srcLocal)
      stages.push(() => this.firewallStage(dstLocal!, policyTuple, "destination"));
    for (const stage of stages) {
      const s = stage();
      if (!s) continue;
      steps.push(s);
      if (s.ref) verdict = s;
      if (s.action === "deny") {
        return fail("FLOW_ACTION_DROP", s.stage, s.detail, { ref: s.ref, rule: s.rule, installFlow: true });
      }
    }
    return { nat, natPool, vrf, reverseVrf, reverseNh, ecmp, steps, verdict };
  }

  private aclStage(
    stage: "network-policy" | "security-group",
    ids: string[],
    t: PolicyTuple,
    whose: string,
  ): TraceStep | undefined {
    if (ids.length === 0) return undefined;
    const v = evaluateAcls(ids, this.idx.tables.acls, t);
    const what = v.rule
      ? `rule ${v.rule.uuid} ${v.rule.action}`
      : v.acl
        ? "no rule matched: implicit deny"
        : "no ACL: implicit allow";
    return this.step(stage, `${whose}: ${what}`, {
      action: v.action,
      ref: v.acl?.origin,
      rule: v.rule?.uuid,
    });
  }

  private firewallStage(vif: Vif, t: PolicyTuple, whose: string): TraceStep | undefined {
    if (vif.firewallPolicies.length === 0) return undefined;
    const v = evaluateFirewall(vif.firewallPolicies, this.idx.tables.firewallPolicies, t);
    const what = v.rule
      ? `${v.policy!.origin.fqName.join(":")} rule ${v.rule.sequence} ${v.rule.action}`
      : "no firewall rule matched: implicit deny";
    return this.step("firewall-policy", `${whose} vif ${vif.index}: ${what}`, {
      action: v.action,
      ref: v.rule?.origin ?? v.policy?.origin,
      policy: v.policy?.origin,
      sequence: v.rule?.sequence,
    });
  }

  // ------------------------------------------------------------------------------------------ dry run

  /**
   * What the first packet of a new flow would meet here, decided by the same flow-setup code as `receive`
   * but without bytes, flows or counters: the next hop of the (NATted) packet, or the drop. Also checks that
   * the reply can be routed back (`NOWHERE_TO_GO` otherwise). Existing flows are ignored. Used for bulk
   * reachability (`SimNetwork.matrix({ fast: true })`); a conformance test holds it to `receive`'s verdicts.
   */
  explain(from: { vif: number } | { label: number } | { fabric: true }, packet: FlowTuple): Explanation {
    this.tracing = false;
    let ingress: Ingress | undefined;
    if ("vif" in from) {
      const vif = this.idx.vif(from.vif);
      if (vif?.type !== "virtual")
        return this.explained("INVALID_IF", "ingress", `no virtual vif ${from.vif}`);
      if (vif.ip !== packet.sip)
        return this.explained("INVALID_SOURCE", "rpf", `source ${packet.sip} is not vif ${from.vif}'s`);
      const own = this.isLinkLocalTuple(packet) ? undefined : this.idx.lookup(vif.vrf, packet.dip);
      if (own && this.idx.nextHop(own.route.nh)?.type === "receive") {
        // Gateway / DNS / compute addresses: the vrouter answers pings itself, the rest goes to the host.
        return {
          verdict: "forward",
          hop: { kind: packet.proto === IPPROTO_ICMP ? "vrouter" : "host" },
          packet,
        };
      }
      ingress = { kind: "vif", vif };
    } else if ("label" in from) {
      const nhId = this.idx.tables.labels.get(from.label);
      const nh = nhId === undefined ? undefined : this.idx.nextHop(nhId);
      if (nh?.type !== "encap")
        return this.explained("INVALID_LABEL", "label", `label ${from.label} names no interface NH`);
      ingress = { kind: "label", label: from.label, nh };
    } else ingress = { kind: "fabric", vrf: this.idx.tables.compute.fabricVrf };
    const keyNh = this.ingressKeyNh(ingress);
    const d = this.decide(ingress, packet, () => flowKeyText({ ...packet, nh: keyNh }));
    if (d.drop) {
      if (d.drop.reason === "PULL") return { verdict: "forward", hop: { kind: "host" }, packet };
      return this.explained(d.drop.reason, d.drop.stage, d.drop.detail);
    }
    const nat = { ...d.nat };
    if (d.natPool) nat.sport = FABRIC_SNAT_POOLS[d.natPool][0];
    const out: FlowTuple = {
      proto: packet.proto,
      sip: nat.sip ?? packet.sip,
      sport: nat.sport ?? packet.sport,
      dip: nat.dip ?? packet.dip,
      dport: nat.dport ?? packet.dport,
    };
    const result = this.nextHopOf(ingress, d, out);
    // The reply is routed in the reverse entry's VRF unless it comes back labelled for the source vif.
    if (result.verdict === "forward" && (ingress.kind !== "vif" || result.hop.kind === "deliver")) {
      const back = this.idx.lookup(d.reverseVrf, packet.sip);
      const nh = back && this.idx.nextHop(back.route.nh);
      if (!nh || nh.type === "discard") {
        return this.explained(
          "NOWHERE_TO_GO",
          "route",
          `no route back to ${packet.sip} in VRF ${d.reverseVrf}`,
        );
      }
    }
    return result;
  }

  private nextHopOf(ingress: Ingress, d: Decision, out: FlowTuple): Explanation {
    if (ingress.kind === "label")
      return { verdict: "forward", hop: { kind: "deliver", vif: ingress.nh.vif }, packet: out };
    let vrf = d.vrf;
    for (let depth = 0; depth < 5; depth++) {
      const m = this.idx.lookup(vrf, out.dip);
      if (!m) return this.explained("NOWHERE_TO_GO", "route", `no route to ${out.dip} in VRF ${vrf}`);
      let nh = this.idx.nextHop(m.route.nh);
      let label = m.route.label;
      if (nh?.type === "vrf-translate") {
        vrf = nh.vrf;
        continue;
      }
      if (nh?.type === "composite" && d.ecmp) {
        label = d.ecmp.label;
        nh = this.idx.nextHop(d.ecmp.nh);
      }
      switch (nh?.type) {
        case "encap":
          return { verdict: "forward", hop: { kind: "deliver", vif: nh.vif }, packet: out };
        case "tunnel":
          if (ingress.kind === "fabric")
            return this.explained(
              "NOWHERE_TO_GO",
              "route",
              "fabric traffic is not forwarded back to the fabric",
            );
          if (label === undefined)
            return this.explained("INVALID_LABEL", "tunnel", `route ${m.route.prefix} has no label`);
          return { verdict: "forward", hop: { kind: "tunnel", dstIp: nh.dstIp, label }, packet: out };
        case "fabric":
          if (ingress.kind === "fabric")
            return this.explained(
              "NOWHERE_TO_GO",
              "route",
              "fabric traffic is not forwarded back to the fabric",
            );
          return { verdict: "forward", hop: { kind: "fabric", via: nh.via }, packet: out };
        case "receive":
          return { verdict: "forward", hop: { kind: "host" }, packet: out };
        case "discard":
          return this.explained("DISCARD", "nexthop", `route ${m.route.prefix} → discard`);
        default:
          return this.explained("INVALID_NH", "nexthop", `route ${m.route.prefix} → NH ${m.route.nh}`);
      }
    }
    return this.explained("INVALID_NH", "nexthop", "VRF translation loop");
  }

  private explained(reason: DropReason, stage: TraceStage, detail: string): Explanation {
    return {
      verdict: "drop",
      reason,
      step: { compute: this.compute, stage, detail, action: "drop", reason },
    };
  }

  // ------------------------------------------------------------------------------------------ output

  /** Route in the flow's VRF and emit on the chosen next-hop (label traffic goes straight to its vif). */
  private output(
    t: TraceStep[],
    ingress: Ingress,
    rec: FlowRecord,
    pkt: Ipv4Packet,
    hash: number,
  ): DatapathResult {
    const routed = ingress.kind !== "label";
    if (ingress.kind === "label" && rec.direction === "forward")
      return this.deliver(t, ingress.nh.vif, pkt, false);
    let vrf = rec.vrf;
    for (let depth = 0; depth < 5; depth++) {
      const m = this.idx.lookup(vrf, pkt.dst);
      if (!m)
        return this.dropped(
          t,
          "NOWHERE_TO_GO",
          "route",
          `no route to ${pkt.dst} in VRF ${vrf} (${this.idx.tables.vrfs.get(vrf)?.name ?? "unknown"})`,
        );
      if (this.tracing && (rec.direction === "reverse" || ingress.kind !== "vif" || depth > 0))
        t.push(this.routeStep(vrf, m.route, pkt.dst));
      const nh = this.idx.nextHop(m.route.nh);
      if (!nh)
        return this.dropped(t, "INVALID_NH", "nexthop", `route ${m.route.prefix} → missing NH ${m.route.nh}`);
      const fromFabric = ingress.kind !== "vif";
      switch (nh.type) {
        case "vrf-translate":
          vrf = nh.vrf;
          continue;
        case "discard":
          return this.dropped(t, "DISCARD", "nexthop", `route ${m.route.prefix} → discard NH ${nh.id}`, {
            ref: m.route.origin,
          });
        case "receive":
          return this.toHostStack(t, pkt);
        case "encap":
          return this.deliver(t, nh.vif, pkt, routed);
        case "composite": {
          let member =
            rec.ecmp && rec.ecmp.composite === nh.id
              ? nh.members.find((x) => x.nh === rec.ecmp!.nh && x.label === rec.ecmp!.label)
              : undefined;
          if (!member) {
            member = nh.members[hash % Math.max(1, nh.members.length)];
            if (!member) return this.dropped(t, "INVALID_NH", "ecmp", `composite NH ${nh.id} has no members`);
            rec.ecmp = { composite: nh.id, nh: member.nh, label: member.label };
            if (this.tracing)
              t.push(
                this.step("ecmp", `member NH ${member.nh} label ${member.label} chosen for the flow`, {
                  nh: member.nh,
                  label: member.label,
                }),
              );
          } else if (this.tracing)
            t.push(
              this.step("ecmp", `flow sticks to member NH ${member.nh} label ${member.label}`, {
                nh: member.nh,
                label: member.label,
              }),
            );
          const mnh = this.idx.nextHop(member.nh);
          if (mnh?.type === "encap") return this.deliver(t, mnh.vif, pkt, routed);
          if (fromFabric)
            return this.dropped(
              t,
              "NOWHERE_TO_GO",
              "ecmp",
              "fabric traffic is not forwarded back to the fabric",
            );
          if (mnh?.type === "tunnel") return this.tunnel(t, mnh, member.label, pkt, hash);
          if (mnh?.type === "fabric") return this.fabricOut(t, mnh.via, pkt);
          return this.dropped(t, "INVALID_NH", "ecmp", `member NH ${member.nh} is ${mnh?.type ?? "missing"}`);
        }
        case "tunnel":
          if (fromFabric)
            return this.dropped(
              t,
              "NOWHERE_TO_GO",
              "route",
              "fabric traffic is not forwarded back to the fabric",
            );
          if (m.route.label === undefined)
            return this.dropped(t, "INVALID_LABEL", "tunnel", `route ${m.route.prefix} has no label`);
          return this.tunnel(t, nh, m.route.label, pkt, hash);
        case "fabric":
          if (fromFabric)
            return this.dropped(
              t,
              "NOWHERE_TO_GO",
              "route",
              "fabric traffic is not forwarded back to the fabric",
            );
          return this.fabricOut(t, nh.via, pkt);
      }
    }
    return this.dropped(t, "INVALID_NH", "nexthop", "VRF translation loop");
  }

  private deliver(t: TraceStep[], vifIndex: number, pkt: Ipv4Packet, routed: boolean): DatapathResult {
    const vif = this.idx.vif(vifIndex);
    if (!vif) return this.dropped(t, "INVALID_IF", "deliver", `NH names missing vif ${vifIndex}`);
    const out = routed ? { ...pkt, ttl: pkt.ttl - 1 } : pkt;
    if (this.tracing)
      t.push(
        this.step("deliver", `to vif ${vif.index} (${vif.name}) ${vif.mac}`, {
          action: "forward",
          vif: vif.index,
          ref: vif.vmi,
        }),
      );
    return { out: [{ vif: vif.index, frame: ipv4Frame(vif.mac, VROUTER_MAC, out) }], trace: t };
  }

  private tunnel(
    t: TraceStep[],
    nh: Extract<NextHop, { type: "tunnel" }>,
    label: number,
    pkt: Ipv4Packet,
    hash: number,
  ): DatapathResult {
    const fabric = this.idx.fabricVif;
    if (!fabric) return this.dropped(t, "INVALID_IF", "tunnel", "no fabric vif");
    const header = {
      dstMac: this.macFor(nh.dstIp),
      srcMac: fabric.mac,
      srcIp: nh.srcIp,
      dstIp: nh.dstIp,
      encap: nh.encap,
      label,
      sport: 49152 + (hash % 16384),
      innerDstMac: VROUTER_MAC,
      innerSrcMac: VROUTER_MAC,
    };
    if (this.tracing)
      t.push(
        this.step(
          "tunnel",
          `${nh.encap} ${nh.srcIp} → ${nh.dstIp} ${nh.encap === "vxlan" ? "VNI" : "label"} ${label}`,
          { action: "forward", nh: nh.id, label, vif: fabric.index },
        ),
      );
    return {
      out: [{ vif: fabric.index, frame: tunnelFrame(header, { ...pkt, ttl: pkt.ttl - 1 }) }],
      trace: t,
    };
  }

  private fabricOut(t: TraceStep[], via: string, pkt: Ipv4Packet): DatapathResult {
    const fabric = this.idx.fabricVif;
    if (!fabric) return this.dropped(t, "INVALID_IF", "fabric", "no fabric vif");
    // via 0.0.0.0: the destination is on the fabric subnet, so the frame goes to its own MAC
    const nextHop = via === ON_LINK ? pkt.dst : via;
    if (this.tracing)
      t.push(
        this.step(
          "fabric",
          `unencapsulated out of the fabric towards ${nextHop}${via === ON_LINK ? " (on-link)" : ""}`,
          { action: "forward", vif: fabric.index },
        ),
      );
    const frame = ipv4Frame(this.macFor(nextHop), fabric.mac, { ...pkt, ttl: pkt.ttl - 1 });
    return { out: [{ vif: fabric.index, frame }], trace: t };
  }

  private toHostStack(t: TraceStep[], pkt: Ipv4Packet): DatapathResult {
    const host = this.idx.hostVif;
    if (this.tracing)
      t.push(
        this.step(
          "host",
          `${pkt.dst}: to the compute host${host ? ` (vif ${host.index})` : " (not modelled: consumed)"}`,
        ),
      );
    if (!host) return { out: [], trace: t };
    return { out: [{ vif: host.index, frame: ipv4Frame(host.mac, VROUTER_MAC, pkt) }], trace: t };
  }

  private macFor(ip: string): string {
    return this.neighbors.get(ip) ?? this.resolveFabricMac?.(ip) ?? fabricMacFor(ip);
  }

  // ------------------------------------------------------------------------------------------ helpers

  private routeStep(vrf: number, route: Route, dst: string): TraceStep {
    const origin = route.origin ? ` from ${route.origin.type} ${route.origin.fqName.join(":")}` : "";
    const leak = route.leakedBy ? `, leaked by ${route.leakedBy}` : "";
    return this.step(
      "route",
      `${dst} matches ${route.prefix} in VRF ${vrf} → NH ${route.nh}${route.label !== undefined ? ` label ${route.label}` : ""}${origin}${leak}`,
      {
        vrf,
        prefix: route.prefix,
        nh: route.nh,
        label: route.label,
        ref: route.origin,
      },
    );
  }

  private step(stage: TraceStage, detail: string, extra?: Partial<TraceStep>): TraceStep {
    const s: TraceStep = { compute: this.compute, stage, detail };
    if (extra) {
      const target = s as unknown as Record<string, unknown>;
      const source = extra as Record<string, unknown>;
      for (const k in source) if (source[k] !== undefined) target[k] = source[k];
    }
    return s;
  }

  private dropped(
    t: TraceStep[],
    reason: DropReason,
    stage: TraceStage,
    detail: string,
    extra: Partial<TraceStep> = {},
  ): DatapathResult {
    if (reason === "PULL") {
      // A receive route reached through routing (not an error): the host stack takes the packet.
      t.push(this.step("host", detail, extra));
      return { out: [], trace: t };
    }
    this.drops[reason]++;
    t.push(this.step(stage, detail, { ...extra, action: "drop", reason }));
    return { out: [], trace: t, drop: reason };
  }
}

// -------------------------------------------------------------------------------------------- pure helpers

/** Every record gets every field up front, so all flow entries share one object shape. */
function newRecord(
  key: FlowKey,
  keyText: string,
  direction: FlowEntry["direction"],
  reverseKey: string | undefined,
  action: FlowEntry["action"],
  d: Decision,
  now: number,
): FlowRecord {
  return {
    key,
    keyText,
    direction,
    reverseKey,
    action,
    nat: undefined,
    vrf: d.vrf,
    ecmp: undefined,
    verdict: d.verdict,
    decidedBy: d.steps,
    createdAt: now,
    lastUsedAt: now,
    packets: 0,
    bytes: 0,
    request: undefined,
    signature: undefined,
    natPort: undefined,
  };
}

/** What revalidation compares: the verdict, the NAT, the VRFs, the deciding rule (not ECMP or pool ports). */
function signatureOf(d: Decision): string {
  if (d.drop) return `drop:${d.drop.reason}:${d.drop.rule ?? ""}:${d.drop.ref?.uuid ?? ""}`;
  const { nat, verdict } = d;
  return `fwd:${nat.sip ?? ""}:${nat.dip ?? ""}:${nat.dport ?? ""}:${d.natPool ?? ""}:${d.vrf}:${d.reverseVrf}:${d.reverseNh}:${verdict?.rule ?? verdict?.ref?.uuid ?? ""}`;
}

function endOfVif(vif: Vif, ip: string): PolicyEnd {
  return { ip, vns: vif.vnName ? [vif.vnName] : [], sgIds: vif.securityGroupIds, tags: vif.tags, vif };
}

function storeIngress(ingress: Ingress): StoredIngress {
  if (ingress.kind === "vif") return { kind: "vif", vif: ingress.vif.index };
  if (ingress.kind === "label") return { kind: "label", label: ingress.label };
  return ingress;
}

/** Flow-key ports: TCP/UDP/SCTP ports; ICMP echo uses the identifier (request: sport, reply: dport). */
export function tupleOf(ip: Ipv4Packet): Tuple {
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

function describeNat(before: Ipv4Packet, after: Ipv4Packet): string {
  const a = tupleOf(before);
  const b = tupleOf(after);
  return `${a.sip}:${a.sport} → ${a.dip}:${a.dport} becomes ${b.sip}:${b.sport} → ${b.dip}:${b.dport}`;
}

/** The 5-tuple of the packet quoted inside an ICMP error (its IP header + first 8 bytes). */
function quotedTuple(quoted: Uint8Array): Tuple | undefined {
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
function natIcmpError(ip: Ipv4Packet, quoted: Uint8Array, nat: NatRewrite): Ipv4Packet {
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
