/**
 * The vrouter datapath engine: one compute's forwarding, as a pure function of its `VrouterTables`, its flow
 * table and the frame in. `receive(vif, frame, now)` returns the frames out (per vif), the stage-by-stage
 * trace and, when the packet died, the drop reason (the kernel's VP_DROP_* names), counted per reason.
 *
 * This file holds the state — the flow table, the NAT port pools, the learned underlay MACs, the counters —
 * and wires the stages of PIPELINE.md together; the stages themselves live in `stages/` (one module per
 * stage or group, each a function of a per-call `CallContext`, the tables index and its inputs) and the dry
 * run in `dry-run.ts`. Every call builds its own context: nothing of a call is left on the engine.
 *
 * No timers and no I/O: the same engine runs under the simulated network and the netns front end.
 *
 * Example: `new VrouterDatapath(tables).receive(3, frameFromPod, Date.now()).out[0].vif` → the fabric vif
 */
import type { DropReason, VrouterTables } from "../tables";
import { parseIpv4 } from "./addr";
import {
  type CallContext,
  callContext,
  Drop,
  drop,
  dropStep,
  type Frames,
  type Ingress,
  keyNhOf,
  step,
  type ToL3,
} from "./context";
import { type ExplainFrom, type Explanation, explain } from "./dry-run";
import {
  type FlowEntry,
  type FlowKey,
  flowHash,
  flowKeyText,
  type NatRewrite,
  type PoolName,
  PortPools,
} from "./flows";
import { applyNat, describeNat, type FlowTuple, natIcmpError, quotedTuple, tupleOf } from "./nat";
import {
  decodeEthernet,
  ICMP_DEST_UNREACHABLE,
  ICMP_TIME_EXCEEDED,
  IPPROTO_TCP,
  type Ipv4Packet,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from "./packet";
import { fromFabric } from "./stages/fabric-ingress";
import { decide, type FlowDecision } from "./stages/flow-setup";
import { emit, nextHop, type Resolved } from "./stages/output";
import { fromPod, proxyArp, receiveRouteOf, toReceiveRoute } from "./stages/pod-ingress";
import { TablesIndex } from "./tables-index";
import type { TraceStep } from "./trace";

export type { Explanation } from "./dry-run";
export type { FlowEntry, FlowKey, NatRewrite } from "./flows";
export type { FlowTuple } from "./nat";
export type { TraceStep } from "./trace";

export interface DatapathResult {
  out: Frames;
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

/** Per-vif packet counters, as `vif --list` shows them (vifr_ipackets, vifr_opackets, vifr_dpackets, …). */
export interface VifCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Packets that entered on this vif and were dropped, and why (`vif --get <id> --get-drop-stats`). */
  drops: number;
  dropReasons: Partial<Record<DropReason, number>>;
}

/** Per-VRF forwarding counters, named after `vrfstats`' (vr_vrf_stats): which next-hop kind carried a packet. */
export interface VrfCounters {
  discards: number;
  receives: number;
  ecmpComposites: number;
  udpMplsTunnels: number;
  greMplsTunnels: number;
  vxlanTunnels: number;
  encaps: number;
  arpVirtualProxies: number;
}

/** What the vrouter's own tools read (`fake-vrouter/tools`): the flow table and every counter, at one instant. */
export interface DatapathSnapshot {
  flows: FlowEntry[];
  flowLimit: number;
  stats: DatapathStats;
  vifs: Record<number, VifCounters>;
  vrfs: Record<number, VrfCounters>;
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

/** Where a flow's first packet entered, kept to re-decide the flow when the tables change. */
type StoredIngress =
  | { kind: "vif"; vif: number }
  | { kind: "label"; label: number }
  | { kind: "fabric"; vrf: number };

interface FlowRecord extends FlowEntry {
  keyText: string;
  /** A TCP FIN went through this entry: with one in each direction the connection is over (vr_flow_tcp_digest). */
  fin?: boolean;
  request?: { ingress: StoredIngress; tuple: FlowTuple };
  signature?: string;
  natPort?: { pool: PoolName; port: number };
}

export class VrouterDatapath {
  /** The lookup structures of the installed tables, built when first used (see `install`). */
  private index: TablesIndex | undefined;
  private installed: VrouterTables;
  private get idx(): TablesIndex {
    this.index ??= new TablesIndex(this.installed);
    return this.index;
  }
  private readonly flowTable = new Map<string, FlowRecord>();
  private readonly pools = new PortPools();
  private readonly neighbors = new Map<string, string>();
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
  private readonly vifCounters = new Map<number, VifCounters>();
  private readonly vrfCounters = new Map<number, VrfCounters>();
  /** Underlay MAC of a fabric address: learned, else the resolver's, else derived (output stage). */
  private readonly macFor = (ip: string): string =>
    this.neighbors.get(ip) ?? this.resolveFabricMac?.(ip) ?? fabricMacFor(ip);

  constructor(tables: VrouterTables, opts: DatapathOptions = {}) {
    this.installed = tables;
    this.flowLimit = opts.flowLimit ?? 524_288;
    this.agingMs = opts.flowAgingMs ?? 180_000;
    this.resolveFabricMac = opts.resolveFabricMac;
  }

  get tables(): VrouterTables {
    return this.installed;
  }

  private get compute(): string {
    return this.installed.compute.name;
  }

  /** New config from the agent. Flows whose decision would change (policy, NAT, routes, vifs) are evicted. */
  install(tables: VrouterTables): void {
    if (this.installed === tables) return; // the same tables again (a subscriber and a reader both pass them)
    this.installed = tables;
    this.index = undefined;
    // an engine nobody sends packets through between two recomputations never builds their index
    if (this.flowTable.size === 0) return;
    for (const rec of [...this.flowTable.values()]) {
      if (rec.direction !== "forward" || !rec.request || !this.flowTable.has(rec.keyText)) continue;
      const ingress = this.resolveIngress(rec.request.ingress);
      // Revalidation reads no clock and traces nothing; each flow gets its own context.
      const ctx = callContext(this.compute, { tracing: false, now: rec.lastUsedAt, frameBytes: 0 });
      const setup = { tuple: rec.request.tuple, keyText: rec.keyText, sticky: rec.ecmp };
      const still = ingress ? signatureOf(decide(ctx, this.idx, { ...setup, ingress })) : "gone";
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

  /** The flow table and the counters at once, for the vrouter's tools (`vif`, `flow`, `dropstats`, …). */
  snapshot(): DatapathSnapshot {
    return {
      flows: this.flows(),
      flowLimit: this.flowLimit,
      stats: this.stats(),
      vifs: Object.fromEntries(
        [...this.vifCounters].map(([i, c]) => [i, { ...c, dropReasons: { ...c.dropReasons } }]),
      ),
      vrfs: Object.fromEntries([...this.vrfCounters].map(([i, c]) => [i, { ...c }])),
    };
  }

  private vifCount(index: number): VifCounters {
    let c = this.vifCounters.get(index);
    if (!c) {
      c = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: 0, dropReasons: {} };
      this.vifCounters.set(index, c);
    }
    return c;
  }

  private vrfCount(vrf: number): VrfCounters {
    let c = this.vrfCounters.get(vrf);
    if (!c) {
      c = {
        discards: 0,
        receives: 0,
        ecmpComposites: 0,
        udpMplsTunnels: 0,
        greMplsTunnels: 0,
        vxlanTunnels: 0,
        encaps: 0,
        arpVirtualProxies: 0,
      };
      this.vrfCounters.set(vrf, c);
    }
    return c;
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
    const ctx = callContext(this.compute, { tracing: opts?.trace ?? true, now, frameBytes: frame.length });
    this.counters.packetsIn++;
    const rx = this.vifCount(vifIndex);
    rx.rxPackets++;
    rx.rxBytes += frame.length;
    const vif = this.idx.vif(vifIndex);
    if (!vif)
      return this.dropped(
        ctx,
        drop("INVALID_IF", "ingress", `no vif ${vifIndex} on ${this.compute}`, { vif: vifIndex }),
      );
    const decoded = decodeEthernet(frame);
    if (!decoded.ok) {
      const reason = decoded.error.layer === "arp" ? "INVALID_ARP" : "INVALID_PACKET";
      return this.dropped(ctx, drop(reason, "ingress", decoded.error.message, { vif: vifIndex }));
    }
    const eth = decoded.value;
    if (ctx.tracing)
      ctx.trace.push(
        step(ctx, "ingress", `${frame.length} bytes on vif ${vif.index} (${vif.name})`, {
          vif: vif.index,
          ref: vif.vmi,
        }),
      );
    let result: DatapathResult;
    if (vif.type === "fabric") {
      // Senders on the underlay are learned for later tunnels and fabric output.
      if (eth.payload.kind === "arp") this.neighbors.set(eth.payload.senderIp, eth.payload.senderMac);
      else if (eth.payload.kind === "ipv4") this.neighbors.set(eth.payload.src, eth.src);
      result = this.afterIngress(ctx, fromFabric(ctx, this.idx, vif, eth.payload));
    } else if (vif.type === "virtual" && eth.payload.kind === "arp") {
      const out = proxyArp(ctx, vif, eth.payload);
      if (out.length > 0) {
        this.counters.arpProxied++;
        this.vrfCount(vif.vrf).arpVirtualProxies++;
      }
      result = { out, trace: ctx.trace };
    } else if (vif.type === "virtual") {
      const ip = fromPod(vif, eth.dst, eth.payload);
      result = ip instanceof Drop ? this.dropped(ctx, ip) : this.l3(ctx, { kind: "vif", vif }, ip);
    } else
      result = this.dropped(
        ctx,
        drop("INVALID_IF", "ingress", `packets from a ${vif.type} vif are not modelled`),
      );
    this.counters.framesOut += result.out.length;
    if (result.drop) {
      rx.drops++;
      rx.dropReasons[result.drop] = (rx.dropReasons[result.drop] ?? 0) + 1;
    }
    for (const o of result.out) {
      const tx = this.vifCount(o.vif);
      tx.txPackets++;
      tx.txBytes += o.frame.length;
    }
    return result;
  }

  /**
   * What the first packet of a new flow would meet here, without bytes, flows or counters (`dry-run.ts`):
   * the same flow setup and next-hop code as `receive`. Used by `SimNetwork.matrix({ fast: true })`.
   */
  explain(from: ExplainFrom, packet: FlowTuple, describe = true): Explanation {
    return explain(this.idx, from, packet, describe);
  }

  private afterIngress(ctx: CallContext, r: ToL3 | Frames | Drop): DatapathResult {
    if (Array.isArray(r)) return { out: r, trace: ctx.trace };
    if (r instanceof Drop) return this.dropped(ctx, r);
    return this.l3(ctx, r.ingress, r.ip);
  }

  // ------------------------------------------------------------------------------------------ flow stage

  /** Flow lookup (step 7); on a miss the receive route or the agent's flow setup (steps 8–9); then output. */
  private l3(ctx: CallContext, ingress: Ingress, ip: Ipv4Packet): DatapathResult {
    const t = ctx.trace;
    const keyNh = keyNhOf(this.idx, ingress);
    const l4 = ip.payload;
    if (l4.kind === "icmp" && (l4.type === ICMP_DEST_UNREACHABLE || l4.type === ICMP_TIME_EXCEEDED)) {
      return this.icmpError(ctx, ingress, ip, l4.data, keyNh);
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
    let rec = this.lookupFlow(keyText, ctx.now);
    // a SYN on a closed connection's entries starts a new connection (the vrouter evicted the dead flow)
    if (rec && l4.kind === "tcp" && l4.flags & TCP_SYN && this.closedTcp(rec)) {
      this.evict(rec);
      rec = undefined;
    }
    if (rec) {
      this.counters.flowHits++;
      if (ctx.tracing)
        t.push(
          step(ctx, "flow", `hit ${rec.direction} flow ${keyText} (${rec.action})`, {
            action: rec.action === "drop" ? "drop" : "forward",
            ref: rec.verdict?.ref,
            rule: rec.verdict?.rule,
          }),
        );
    } else {
      // Receive routes (gateway, DNS, compute addresses) are handled by the vrouter itself, unless a flow
      // (a NAT reply towards the compute's address, say) claimed the packet above.
      if (ingress.kind === "vif") {
        const route = receiveRouteOf(this.idx, ingress.vif, tuple);
        if (route) this.vrfCount(ingress.vif.vrf).receives++;
        if (route) return { out: toReceiveRoute(ctx, this.idx, ingress.vif, ip, route), trace: t };
      }
      const mark = t.length;
      const d = decide(ctx, this.idx, { ingress, tuple, keyText });
      const decidedBy = t.slice(mark);
      if (d instanceof Drop) {
        if (d.installFlow) this.installDrop(ctx, ingress, tuple, keyText, d, decidedBy);
        return this.dropped(ctx, d);
      }
      const installed = this.installPair(ctx, ingress, tuple, keyText, d, decidedBy);
      if (installed instanceof Drop) return this.dropped(ctx, installed);
      rec = installed;
      if (ctx.tracing)
        t.push(
          step(ctx, "flow", `new flow ${keyText} (${rec.action}), reverse ${rec.reverseKey}`, {
            action: "forward",
          }),
        );
    }
    if (rec.action === "drop") {
      return this.dropped(
        ctx,
        drop("FLOW_ACTION_DROP", "flow", "flow action DROP", {
          ref: rec.verdict?.ref,
          rule: rec.verdict?.rule,
        }),
      );
    }
    if (rec.nat && !(rec.reverseKey && this.flowTable.has(rec.reverseKey))) {
      return this.dropped(ctx, drop("FLOW_NAT_NO_RFLOW", "flow", `NAT flow ${keyText} has no reverse flow`));
    }
    const pkt = rec.nat ? applyNat(ip, rec.nat) : ip;
    if (rec.nat && ctx.tracing) t.push(step(ctx, "flow", `NAT ${describeNat(ip, pkt)}`, { action: "nat" }));
    rec.packets++;
    rec.bytes += ctx.frameBytes;
    const result = this.output(ctx, ingress, rec, pkt, flowHash(keyText));
    if (l4.kind === "tcp" && l4.flags & TCP_RST) this.evict(rec);
    else if (l4.kind === "tcp" && l4.flags & TCP_FIN) rec.fin = true;
    return result;
  }

  /** ICMP errors travel with the flow of the packet they quote (reverse direction), un-NATted on the way. */
  private icmpError(
    ctx: CallContext,
    ingress: Ingress,
    ip: Ipv4Packet,
    quoted: Uint8Array,
    keyNh: number,
  ): DatapathResult {
    const inner = quotedTuple(quoted);
    if (!inner) return this.dropped(ctx, drop("INVALID_PACKET", "flow", "ICMP error quotes no IPv4 header"));
    const keyText = flowKeyText({
      proto: inner.proto,
      sport: inner.dport,
      dport: inner.sport,
      nh: keyNh,
      sip: inner.dip,
      dip: inner.sip,
    });
    const rec = this.lookupFlow(keyText, ctx.now);
    if (!rec || rec.action === "drop") {
      return this.dropped(
        ctx,
        drop(
          "FLOW_ACTION_DROP",
          "flow",
          `ICMP error for ${inner.sip} → ${inner.dip}: no allowed flow ${keyText}`,
        ),
      );
    }
    if (ctx.tracing)
      ctx.trace.push(
        step(ctx, "flow", `ICMP error follows ${rec.direction} flow ${keyText}`, { action: "forward" }),
      );
    const pkt = rec.nat ? natIcmpError(ip, quoted, rec.nat) : ip;
    return this.output(ctx, ingress, rec, pkt, flowHash(keyText));
  }

  /** Output (step 10): route in the flow's VRF, keep the flow's ECMP member, emit on the next hop. */
  private output(
    ctx: CallContext,
    ingress: Ingress,
    rec: FlowRecord,
    pkt: Ipv4Packet,
    hash: number,
  ): DatapathResult {
    const hop = nextHop(ctx, this.idx, ingress, rec, pkt.dst, () => hash);
    if (hop.ecmp) rec.ecmp = hop.ecmp;
    if (hop instanceof Drop) {
      if (hop.reason === "DISCARD") this.vrfCount(rec.vrf).discards++;
      return this.dropped(ctx, hop);
    }
    this.countHop(rec.vrf, hop);
    const out = emit(ctx, this.idx, hop, pkt, hash, this.macFor);
    return out instanceof Drop ? this.dropped(ctx, out) : { out, trace: ctx.trace };
  }

  /** vrfstats: the next-hop kind that carried a packet routed in `vrf`. */
  private countHop(vrf: number, hop: Resolved): void {
    const c = this.vrfCount(vrf);
    if (hop.ecmp) c.ecmpComposites++;
    if (hop.kind === "host") c.receives++;
    else if (hop.kind === "tunnel") {
      if (hop.nh.encap === "mplsoudp") c.udpMplsTunnels++;
      else if (hop.nh.encap === "mplsogre") c.greMplsTunnels++;
      else c.vxlanTunnels++;
    } else c.encaps++;
  }

  private dropped(ctx: CallContext, d: Drop): DatapathResult {
    if (d.reason === "PULL") {
      // A receive route reached through routing (not an error): the host stack takes the packet.
      ctx.trace.push(
        step(ctx, "host", d.detail, { vif: d.vif, label: d.label, nh: d.nh, ref: d.ref, rule: d.rule }),
      );
      return { out: [], trace: ctx.trace };
    }
    this.drops[d.reason]++;
    ctx.trace.push(dropStep(ctx, d));
    return { out: [], trace: ctx.trace, drop: d.reason };
  }

  // ------------------------------------------------------------------------------------------ flow table

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

  private installDrop(
    ctx: CallContext,
    ingress: Ingress,
    tuple: FlowTuple,
    keyText: string,
    d: Drop,
    decidedBy: TraceStep[],
  ): void {
    // Deny flows are installed one way only, so a connection in the other direction is judged on its own.
    if (!this.hasRoom(1, ctx.now)) return;
    this.counters.flowsCreated++;
    const key = { ...tuple, nh: keyNhOf(this.idx, ingress) };
    const rec = newRecord(key, keyText, "forward", undefined, "drop", { vrf: 0, decidedBy }, ctx.now);
    rec.dropped = { stage: d.stage, detail: d.detail, reason: d.reason };
    rec.request = { ingress: storeIngress(ingress), tuple };
    rec.signature = signatureOf(d);
    this.flowTable.set(keyText, rec);
  }

  private installPair(
    ctx: CallContext,
    ingress: Ingress,
    tuple: FlowTuple,
    keyText: string,
    d: FlowDecision,
    decidedBy: TraceStep[],
  ): FlowRecord | Drop {
    if (!this.hasRoom(2, ctx.now))
      return drop("FLOW_TABLE_FULL", "flow", `flow table full (${this.flowLimit} entries)`);
    const nat: NatRewrite = { ...d.nat };
    let natPort: FlowRecord["natPort"];
    if (d.natPool) {
      const port = this.pools.allocate(d.natPool);
      if (port === undefined) return drop("FLOW_NO_MEMORY", "flow", "fabric SNAT port pool exhausted");
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
      return drop(hasNat ? "FLOW_NAT_NO_RFLOW" : "FLOW_ACTION_DROP", "flow", detail);
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
    const decided = { vrf: d.vrf, verdict: d.verdict, decidedBy };
    const key = { ...tuple, nh: keyNhOf(this.idx, ingress) };
    const fwd = newRecord(key, keyText, "forward", rkeyText, action, decided, ctx.now);
    fwd.nat = hasNat ? nat : undefined;
    fwd.ecmp = d.ecmp;
    fwd.request = { ingress: storeIngress(ingress), tuple };
    fwd.signature = signatureOf(d);
    fwd.natPort = natPort;
    const rev = newRecord(rkey, rkeyText, "reverse", keyText, action, decided, ctx.now);
    rev.vrf = d.reverseVrf;
    rev.nat = reverseNat;
    rev.ecmp = reverseEcmp(this.idx, ingress, d.reverseVrf, tuple.sip);
    this.flowTable.set(keyText, fwd);
    this.flowTable.set(rkeyText, rev);
    this.counters.flowsCreated++;
    return fwd;
  }
}

// -------------------------------------------------------------------------------------------- pure helpers

/**
 * The reverse flow's ECMP member when the way back is a composite (a service chain's ECMP over port tuples):
 * the member the forward packet came from — its local vif, or the only member tunnelled to the compute that
 * sent it — so answers return through the same instance (the agent's reverse-flow ECMP index from the
 * forward packet's source). Undefined: the hash chooses, as for a flow of its own.
 */
function reverseEcmp(idx: TablesIndex, ingress: Ingress, vrf: number, sip: string): FlowEntry["ecmp"] {
  const hit = idx.lookup(vrf, sip);
  const nh = hit ? idx.nextHop(hit.route.nh) : undefined;
  if (nh?.type !== "composite") return undefined;
  const came = nh.members.filter((m) => {
    const mnh = idx.nextHop(m.nh);
    if (ingress.kind === "vif") return mnh?.type === "encap" && mnh.vif === ingress.vif.index;
    if (ingress.kind === "label") return mnh?.type === "tunnel" && mnh.dstIp === ingress.from;
    return false;
  });
  const m = came.length === 1 ? came[0]! : undefined;
  return m ? { composite: nh.id, nh: m.nh, label: m.label } : undefined;
}

/** Every record gets every field up front, so all flow entries share one object shape. */
function newRecord(
  key: FlowKey,
  keyText: string,
  direction: FlowEntry["direction"],
  reverseKey: string | undefined,
  action: FlowEntry["action"],
  decided: { vrf: number; verdict?: TraceStep; decidedBy: TraceStep[] },
  now: number,
): FlowRecord {
  return {
    key,
    keyText,
    direction,
    reverseKey,
    action,
    nat: undefined,
    vrf: decided.vrf,
    ecmp: undefined,
    verdict: decided.verdict,
    decidedBy: decided.decidedBy,
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
function signatureOf(d: FlowDecision | Drop): string {
  if (d instanceof Drop) return `drop:${d.reason}:${d.rule ?? ""}:${d.ref?.uuid ?? ""}`;
  const { nat, verdict } = d;
  return `fwd:${nat.sip ?? ""}:${nat.dip ?? ""}:${nat.dport ?? ""}:${d.natPool ?? ""}:${d.vrf}:${d.reverseVrf}:${d.reverseNh}:${verdict?.rule ?? verdict?.ref?.uuid ?? ""}`;
}

function storeIngress(ingress: Ingress): StoredIngress {
  if (ingress.kind === "vif") return { kind: "vif", vif: ingress.vif.index };
  if (ingress.kind === "label") return { kind: "label", label: ingress.label };
  return ingress;
}
