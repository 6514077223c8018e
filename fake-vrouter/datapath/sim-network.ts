/**
 * The simulated datapath: several `VrouterDatapath` engines (one per compute), the pods on their virtual
 * vifs, plain hosts on the fabric, and an underlay that carries frames leaving a fabric vif to the station
 * that owns the destination (by MAC, else by outer destination IP). Everything runs synchronously and
 * deterministically on a logical clock, so a probe's verdict and trace are reproducible.
 *
 * The underlay behaves like the fabric's routers after BGP: a fabric host sending to a pod address reaches
 * the compute whose fabric VRF holds that pod locally (ip-fabric forwarding); overlay pods are unknown to it,
 * so a fabric host cannot answer them either.
 *
 * Example:
 *   const net = new SimNetwork();
 *   net.setTables("compute-1", tables1);
 *   net.addEndpoint({ name: "a", kind: "pod", compute: "compute-1", vif: 3, mac, ip: "10.47.255.252" });
 *   net.probe({ from: "a", to: "10.47.255.251", proto: "icmp" }).verdict   // "allow" | "deny"
 */
import { type PortCuts, portCuts } from "./port-space";
import { type PortWindow, portWindow, withPortWindow } from "./port-window";
import type { DropReason, VrouterTables } from "../tables";
import { VROUTER_MAC } from "../tables";
import { formatIpv4, ipInCidr, isMac, parseIpv4, readMac, writeMac } from "./addr";
import { type DatapathOptions, type FlowTuple, fabricMacFor, VrouterDatapath } from "./engine";
import { ON_LINK } from "./stages/output";
import { HostStack, type ListenPorts, type ProbeAnswer, type ProbeProto } from "./host";
import {
  ARP_REQUEST,
  decodeEthernet,
  encodeArp,
  ETHERTYPE_ARP,
  type Ipv4Packet,
  TCP_ACK,
  TCP_RST,
  tcp,
  ipv4,
  ipv4Frame,
  wrapEthernet,
} from "./packet";
import type { TraceStep } from "./trace";
import { underlayRoutes } from "./underlay";

export type EndpointSpec =
  | {
      name: string;
      kind: "pod";
      compute: string;
      vif: number;
      mac: string;
      ip: string;
      listen?: ListenPorts;
      /** One interface of a pod that forwards (net.ipv4.ip_forward=1) between its interfaces. */
      router?: PodRouter;
    }
  | { name: string; kind: "fabric-host"; mac: string; ip: string; listen?: ListenPorts };

/**
 * A forwarding pod's interface: the interfaces of one pod share `group` (the pod); a packet one of them gets
 * for an address that is not its own leaves by the interface whose `prefix` holds the destination, else by the
 * pod's default route (the interface without `@` in its endpoint name, eth0) — Linux forwarding — unless a
 * FORWARD rule of the pod drops it.
 */
export interface PodRouter {
  group: string;
  /** The interface's connected prefix, "10.10.1.0/24". */
  prefix: string;
  /** FORWARD drop rules: protocol number and destination port. */
  drop?: { protocol: number; port: number; text: string }[];
}

export interface ProbeRequest {
  from: string;
  to: string;
  proto: ProbeProto;
  port?: number;
  count?: number;
  /**
   * Source port (ICMP: echo identifier) of every attempt, so a caller can re-open the same flow (ECMP
   * stickiness). Default: a fresh ephemeral number per attempt (ICMP: one per probe).
   */
  sport?: number;
  /** false: verdicts only, no step-by-step trace (the first drop is still reported). Default true. */
  trace?: boolean;
}

export interface ProbeResult {
  /** "allow" when at least one answer came back from a listener (echo reply, SYN-ACK, UDP echo, INIT-ACK). */
  verdict: "allow" | "deny";
  replies: number;
  sent: number;
  /** Answers that prove delivery but no listener: TCP RST, ICMP port unreachable, SCTP ABORT. */
  refused: number;
  /** Every vrouter stage, underlay hop and endpoint action of the requests and their answers. */
  trace: TraceStep[];
  /** The first drop on the way (a vrouter's drop reason, or the underlay finding no station). */
  drop?: { compute: string; reason: DropReason; step: TraceStep };
  /** No vrouter dropped it, a forwarding pod did: the pod and its FORWARD rule (a service chain's firewall). */
  hostDrop?: { endpoint: string; rule: string };
  /** The endpoint that answered the first reply (ECMP: which backend served). */
  servedBy?: string;
  /** TTL of the first reply as the prober received it (what `ping` prints). */
  replyTtl?: number;
  /** Answers per endpoint over all `count` attempts (ECMP spread). */
  servedByCounts: Record<string, number>;
}

export interface ReachabilityMatrix {
  from: string[];
  to: string[];
  /** allowed[i][j]: from[i] reached to[j]. */
  allowed: boolean[][];
  /** Truth-table text: header row of `to` names, then `from` name and `.`/`X` per cell. */
  text: string;
}

/** A point where frames can be captured: a compute's vif (both directions) or the whole underlay. */
export type CapturePoint = { compute: string; vif: number } | "fabric";
export type CaptureSink = (frame: Uint8Array, timeMs: number) => void;

interface Station {
  name: string;
  mac: string | undefined;
  at: Location;
}

type Location =
  | { kind: "vif"; compute: string; vif: number }
  | { kind: "endpoint"; name: string }
  | { kind: "underlay"; from: string };

interface Pending {
  at: Location;
  frame: Uint8Array;
  /** The endpoint whose stack emitted the frame (answers carry the answering endpoint). */
  origin: string;
}

interface Compute {
  name: string;
  datapath: VrouterDatapath;
}

interface Endpoint {
  spec: EndpointSpec;
  stack: HostStack;
  inbox: { pkt: Ipv4Packet; origin: string }[];
  /** The vrouter answers every ARP with the same MAC, so one answered ARP teaches a pod its next hop. */
  arpDone: boolean;
}

const MAX_HOPS = 256;
const PROTO_NUMBER: Record<ProbeProto, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132 };

/** Where a packet of the dry run arrived, as the endpoint sees it (after any NAT on the way). */
export interface Arrival {
  endpoint: string;
  dip: string;
  dport: number;
  sip: string;
  sport: number;
}

/** Everything a copy of a SimNetwork needs for dry runs (`dryRunImage`, `SimNetwork.fromImage`). */
export interface DryRunImage {
  opts: Omit<DatapathOptions, "resolveFabricMac">;
  computes: { name: string; tables: VrouterTables }[];
  endpoints: EndpointSpec[];
}

/** Whether the endpoint listens on the port (narrowing an all-packets dry run's window as it compares). */
function listens(ep: Endpoint, proto: ProbeProto, dport: number): boolean {
  const w = portWindow();
  return w ? w.member(dport, ep.stack.listening(proto as "tcp")) : ep.stack.listens(proto as "tcp", dport);
}

/**
 * A dry run's packet as it finally arrives (after any NAT) at `ep`: it must be for this endpoint, and not carry
 * the endpoint's own address as its source (a hairpin; its kernel drops a martian source); then a listener
 * answers.
 */
function arrivalAt(
  ep: Endpoint | undefined,
  p: FlowTuple,
  proto: ProbeProto,
  onArrival: ((a: Arrival) => void) | undefined,
): "answered" | "refused" | "dropped" {
  if (ep === undefined || ep.spec.ip !== p.dip || p.sip === p.dip) return "dropped";
  onArrival?.({ endpoint: ep.spec.name, dip: p.dip, dport: p.dport, sip: p.sip, sport: p.sport });
  return proto === "icmp" || listens(ep, proto, p.dport) ? "answered" : "refused";
}

export class SimNetwork {
  /** The first forwarding pod's FORWARD drop of the probe under way (ProbeResult.hostDrop). */
  private hostDrop: ProbeResult["hostDrop"];
  private readonly computes = new Map<string, Compute>();
  private readonly endpoints = new Map<string, Endpoint>();
  /** Pod endpoints by compute and vif. */
  private readonly byVif = new Map<string, Map<number, string>>();
  private readonly captures: { point: CapturePoint; sink: CaptureSink }[] = [];
  private clock = 0;
  /** Underlay stations by MAC and by IP (computes' fabric ports, fabric hosts); rebuilt after changes. */
  private stations: { byMac: Map<string, Station>; byIp: Map<string, Station> } | undefined;
  private nextPort = 0;
  /** The underlay's routes to stations behind it (`underlayRoutes`); rebuilt after changes. */
  private fabricPods: Map<string, string> | undefined;
  /** Prefixes routed to a composite NH and addresses NATted on the way (`ecmpPossible`); rebuilt after changes. */
  private ecmpTargets: { prefixes: string[]; addresses: Set<string> } | undefined;

  constructor(private readonly opts: Omit<DatapathOptions, "resolveFabricMac"> = {}) {}

  /** Logical time in ms (flow aging runs on it); `advance` moves it forward. */
  now(): number {
    return this.clock;
  }

  advance(ms: number): void {
    this.clock += ms;
  }

  setTables(compute: string, tables: VrouterTables): void {
    this.ecmpTargets = undefined;
    const existing = this.computes.get(compute);
    if (existing) existing.datapath.install(tables);
    else {
      const datapath = new VrouterDatapath(tables, {
        ...this.opts,
        resolveFabricMac: (ip) => this.underlayMac(ip),
      });
      this.computes.set(compute, { name: compute, datapath });
    }
    this.stations = undefined;
    this.fabricPods = undefined;
  }

  removeCompute(compute: string): void {
    this.ecmpTargets = undefined;
    this.computes.delete(compute);
    this.stations = undefined;
    this.fabricPods = undefined;
  }

  datapath(compute: string): VrouterDatapath | undefined {
    return this.computes.get(compute)?.datapath;
  }

  computeNames(): string[] {
    return [...this.computes.keys()];
  }

  addEndpoint(spec: EndpointSpec): void {
    if (this.endpoints.has(spec.name)) throw new SimNetworkError(`endpoint ${spec.name} already exists`);
    if (parseIpv4(spec.ip) === undefined)
      throw new SimNetworkError(`endpoint ${spec.name}: bad IPv4 address ${spec.ip}`);
    if (!isMac(spec.mac)) throw new SimNetworkError(`endpoint ${spec.name}: bad MAC ${spec.mac}`);
    if (spec.kind === "pod") {
      const holder = this.endpointAt(spec.compute, spec.vif);
      if (holder)
        throw new SimNetworkError(
          `endpoint ${spec.name}: vif ${spec.compute}/${spec.vif} is taken by ${holder}`,
        );
      let vifs = this.byVif.get(spec.compute);
      if (!vifs) {
        vifs = new Map();
        this.byVif.set(spec.compute, vifs);
      }
      vifs.set(spec.vif, spec.name);
    }
    this.endpoints.set(spec.name, { spec, stack: new HostStack(spec), inbox: [], arpDone: false });
    this.stations = undefined;
    this.fabricPods = undefined;
  }

  /** The endpoint (pod) on a compute's vif. */
  private endpointAt(compute: string, vif: number): string | undefined {
    return this.byVif.get(compute)?.get(vif);
  }

  removeEndpoint(name: string): void {
    const ep = this.endpoints.get(name);
    if (!ep) return;
    if (ep.spec.kind === "pod") this.byVif.get(ep.spec.compute)?.delete(ep.spec.vif);
    this.endpoints.delete(name);
    this.stations = undefined;
    this.fabricPods = undefined;
  }

  endpoint(name: string): EndpointSpec | undefined {
    return this.endpoints.get(name)?.spec;
  }

  /** Calls `sink` with every frame seen at `point`; returns a function that stops the capture. */
  capture(point: CapturePoint, sink: CaptureSink): () => void {
    const entry = { point, sink };
    this.captures.push(entry);
    return () => {
      const i = this.captures.indexOf(entry);
      if (i >= 0) this.captures.splice(i, 1);
    };
  }

  /** Hands a frame to a compute's vif as if it arrived there, and runs the network until it is quiet. */
  inject(compute: string, vif: number, frame: Uint8Array): TraceStep[] {
    const trace: TraceStep[] = [];
    this.run([{ at: { kind: "vif", compute, vif }, frame, origin: "" }], trace, () => undefined, true);
    return trace;
  }

  probe(req: ProbeRequest): ProbeResult {
    const src = this.endpoints.get(req.from);
    if (!src) throw new SimNetworkError(`probe: no endpoint ${req.from}`);
    if (parseIpv4(req.to) === undefined) throw new SimNetworkError(`probe: ${req.to} is not an IPv4 address`);
    if (req.proto !== "icmp" && (req.port === undefined || req.port < 1 || req.port > 65535)) {
      throw new SimNetworkError(`probe: ${req.proto} needs a port 1-65535`);
    }
    if (req.sport !== undefined && !(Number.isInteger(req.sport) && req.sport >= 1 && req.sport <= 65535)) {
      throw new SimNetworkError(`probe: sport ${req.sport} is not 1-65535`);
    }
    const count = req.count ?? 1;
    const tracing = req.trace ?? true;
    const result: ProbeResult = {
      verdict: "deny",
      replies: 0,
      sent: 0,
      refused: 0,
      trace: [],
      servedByCounts: {},
    };
    let firstDrop: ProbeResult["drop"];
    this.hostDrop = undefined;
    const onDrop = (compute: string, reason: DropReason, step: TraceStep) => {
      firstDrop ??= { compute, reason, step };
    };
    // One ephemeral number per connection attempt (ICMP: one identifier for the whole ping), the same
    // sequence `matrix({ fast })` uses, so both pick the same ECMP members.
    const icmpId = req.proto === "icmp" ? (req.sport ?? this.ephemeral()) : 0;
    for (let i = 0; i < count; i++) {
      this.clock += 1;
      const sport = req.proto === "icmp" ? icmpId : (req.sport ?? this.ephemeral());
      const pkt = src.stack.request(req.proto, req.to, req.port ?? 0, sport, i + 1);
      if (req.to === src.spec.ip) {
        // A host's own address is delivered by its kernel (loopback); the vrouter never sees it.
        result.sent++;
        if (tracing)
          result.trace.push({
            compute: src.spec.name,
            stage: "host",
            detail: `${req.to} is its own address: delivered locally`,
          });
        const answer = this.loopback(src, pkt);
        if (answer === "reply") {
          result.replies++;
          result.servedBy ??= src.spec.name;
          result.servedByCounts[src.spec.name] = (result.servedByCounts[src.spec.name] ?? 0) + 1;
        } else if (answer === "refused") result.refused++;
        continue;
      }
      if (!this.resolveArp(src, req.to, result.trace, onDrop)) {
        result.sent++;
        continue;
      }
      src.inbox = [];
      result.sent++;
      this.run(
        [
          {
            at: this.firstHop(src),
            frame: src.stack.frame(pkt, this.nextHopMac(src, req.to)),
            origin: src.spec.name,
          },
        ],
        result.trace,
        onDrop,
        tracing,
      );
      let answer: ProbeAnswer;
      let servedBy = "";
      let ttl = 0;
      for (const got of src.inbox) {
        answer = HostStack.classify(pkt, got.pkt);
        if (answer) {
          servedBy = got.origin;
          ttl = got.pkt.ttl;
          break;
        }
      }
      if (answer && tracing)
        result.trace.push({
          compute: src.spec.name,
          stage: "host",
          detail: `${answer} from ${servedBy}, ttl=${ttl}`,
        });
      if (answer === "reply") {
        result.replies++;
        result.replyTtl ??= ttl;
        result.servedBy ??= servedBy;
        result.servedByCounts[servedBy] = (result.servedByCounts[servedBy] ?? 0) + 1;
        if (req.proto === "tcp") this.closeTcp(src, pkt, req.to);
      } else if (answer === "refused") result.refused++;
    }
    result.verdict = result.replies > 0 ? "allow" : "deny";
    if (firstDrop) result.drop = firstDrop;
    else if (this.hostDrop) result.hostDrop = this.hostDrop;
    return result;
  }

  /**
   * Probes every (from, to) pair (`to`: endpoint names or addresses such as service IPs) without traces, renders the
   * result in the upstream netpol truth-table notation: one row per `from`, `.` allowed, `X` blocked.
   * `fast`: decide each cell with the engines' dry run (`VrouterDatapath.explain`: the same flow-setup code,
   * no bytes, no flows) hop by hop; a conformance test holds it equal to the packet verdicts.
   */
  matrix(req: {
    from: string[];
    to: string[];
    proto: ProbeProto;
    port?: number;
    fast?: boolean;
  }): ReachabilityMatrix {
    const targets = req.to.map((name) => {
      if (parseIpv4(name) !== undefined) return name;
      const ep = this.endpoints.get(name);
      if (!ep) throw new SimNetworkError(`matrix: ${name} is neither an endpoint nor an IPv4 address`);
      return ep.spec.ip;
    });
    const allowed = req.from.map((from) =>
      targets.map((ip) =>
        req.fast
          ? this.reachFast(from, ip, req.proto, req.port ?? 0)
          : this.probe({ from, to: ip, proto: req.proto, port: req.port, trace: false }).verdict === "allow",
      ),
    );
    const width = Math.max(0, ...req.from.map((n) => n.length));
    const text = [
      `${" ".repeat(width)} ${req.to.join(" ")}`,
      ...req.from.map(
        (n, i) =>
          `${n.padEnd(width)} ${allowed[i].map((ok, j) => (ok ? "." : "X").padEnd(req.to[j].length)).join(" ")}`,
      ),
    ].join("\n");
    return { from: req.from, to: req.to, allowed, text };
  }

  /**
   * What a copy of this network needs to answer dry runs exactly as this one does: every compute's tables and
   * every endpoint (its listening ports are in its spec). Plain data, so it crosses to a worker thread.
   */
  dryRunImage(): DryRunImage {
    const { resolveFabricMac: _, ...opts } = this.opts as DatapathOptions;
    return {
      opts,
      computes: [...this.computes.values()].map((c) => ({ name: c.name, tables: c.datapath.tables })),
      endpoints: [...this.endpoints.values()].map((e) => e.spec),
    };
  }

  /** A network built from `dryRunImage()`: the same engines, tables and endpoints, no flows or frames. */
  static fromImage(image: DryRunImage): SimNetwork {
    const net = new SimNetwork(image.opts);
    for (const c of image.computes) net.setTables(c.name, c.tables);
    for (const spec of image.endpoints) net.addEndpoint(spec);
    return net;
  }

  /**
   * The next `n` ephemeral source ports, taken now (as `n` connection attempts in a row would take them), so a
   * batch of dry runs answered elsewhere (a worker thread) uses the very ports this network would have used.
   */
  takeEphemeral(n: number): Uint16Array {
    const ports = new Uint16Array(n);
    for (let k = 0; k < n; k++) ports[k] = this.ephemeral();
    return ports;
  }

  /** Would a new connection from `from` to `to` be answered? Hop-by-hop dry run through the engines. */
  reachFast(from: string, to: string, proto: ProbeProto, port: number): boolean {
    return this.reachOutcome(from, to, proto, port) === "answered";
  }

  /**
   * What a new connection from `from` to `to` would meet, by the engines' dry run hop by hop: `answered` (it
   * reached the endpoint holding the address and something listens there, or the vrouter answers an ICMP echo
   * itself), `refused` (it reached that endpoint, nothing listens on the port) or `dropped` (it never got
   * there). `sport` fixes the source port (the ECMP member a Service's address picks depends on it).
   */
  reachOutcome(
    from: string,
    to: string,
    proto: ProbeProto,
    port: number,
    sport?: number,
    onArrival?: (a: Arrival) => void,
    /** Records which destination ports this answer holds for (port-window.ts). */
    window?: PortWindow,
  ): "answered" | "refused" | "dropped" {
    if (window)
      return withPortWindow(window, () => this.reachOutcome(from, to, proto, port, sport, onArrival));
    const src = this.endpoints.get(from);
    if (!src) throw new SimNetworkError(`matrix: no endpoint ${from}`);
    const id = sport ?? this.ephemeral();
    let packet: FlowTuple = {
      proto: PROTO_NUMBER[proto],
      sip: src.spec.ip,
      sport: id,
      dip: to,
      dport: proto === "icmp" ? 0 : port,
    };
    if (to === src.spec.ip)
      return proto === "icmp" || listens(src, proto, packet.dport) ? "answered" : "refused"; // loopback
    let at: { compute: string; from: Parameters<VrouterDatapath["explain"]>[0] };
    if (src.spec.kind === "pod") at = { compute: src.spec.compute, from: { vif: src.spec.vif } };
    else {
      const station = this.stationIndex().byIp.get(to) ?? this.podRouter(to);
      if (!station) return "dropped";
      if (station.at.kind === "endpoint")
        return arrivalAt(this.endpoints.get(station.at.name), packet, proto, onArrival);
      at = { compute: station.name, from: { fabric: true } };
    }
    for (let hops = 0; hops < 8; hops++) {
      const dp = this.computes.get(at.compute)?.datapath;
      if (!dp) return "dropped";
      // only the outcome is read here: a policy denial need not be described
      const e = dp.explain(at.from, packet, false);
      if (e.verdict === "drop") return "dropped";
      packet = e.packet;
      const hop = e.hop;
      if (hop.kind === "vrouter") return "answered";
      if (hop.kind === "host") return "dropped";
      if (hop.kind === "deliver") {
        const ep = this.endpoints.get(this.endpointAt(at.compute, hop.vif) ?? "");
        // a forwarding pod (a service chain's firewall) sends it on out of another interface, or drops it
        if (ep?.spec.kind === "pod" && ep.spec.router) {
          const d = this.routerDecision(ep.spec.router, packet.dip, packet.proto, packet.dport);
          if (d.kind === "drop") return "dropped";
          if (d.kind === "out" && d.out.spec.kind === "pod") {
            at = { compute: d.out.spec.compute, from: { vif: d.out.spec.vif } };
            continue;
          }
        }
        return arrivalAt(ep, packet, proto, onArrival);
      }
      // an on-link fabric next-hop is the destination itself
      const station = this.stationIndex().byIp.get(
        hop.kind === "tunnel" ? hop.dstIp : hop.via === ON_LINK ? packet.dip : hop.via,
      );
      if (!station) return "dropped";
      if (station.at.kind === "endpoint") {
        if (hop.kind !== "fabric") return "dropped";
        // a fabric host answers through the underlay: only where its routers know the way back to the source
        // (an ip-fabric pod, a compute's fabric IP after fabric SNAT), not to an overlay address
        if (!this.stationIndex().byIp.get(packet.sip) && !this.podRouter(packet.sip)) return "dropped";
        return arrivalAt(this.endpoints.get(station.at.name), packet, proto, onArrival);
      }
      at = { compute: station.name, from: hop.kind === "tunnel" ? { label: hop.label } : { fabric: true } };
    }
    return "dropped";
  }

  /**
   * Whether a flow to `ip` can meet an ECMP choice anywhere (a route covering it with a composite next-hop on
   * some compute, or an address NATted on the way: a floating IP, a link-local service), i.e. whether its source
   * port can change its fate through the flow hash. False lets the all-packets analysis try one source port.
   */
  ecmpPossible(ip: string): boolean {
    if (!this.ecmpTargets) {
      const prefixes = new Set<string>();
      const addresses = new Set<string>();
      for (const c of this.computes.values()) {
        const t = c.datapath.tables;
        for (const vrf of t.vrfs.values())
          for (const r of vrf.routes) if (t.nextHops.get(r.nh)?.type === "composite") prefixes.add(r.prefix);
        for (const vif of t.vifs.values()) for (const f of vif.floatingIps) addresses.add(f.address);
        for (const ll of t.linkLocal) addresses.add(ll.ip);
      }
      this.ecmpTargets = { prefixes: [...prefixes], addresses };
    }
    const { prefixes, addresses } = this.ecmpTargets;
    return addresses.has(ip) || prefixes.some((p) => p.includes(":") || ipInCidr(ip, p));
  }

  /**
   * Where the port space of `proto` must be cut for the all-packets analysis (port-space.ts): every port number
   * a table of any compute decides on, and every port some endpoint listens on.
   */
  portCuts(proto: "tcp" | "udp" | "sctp"): PortCuts {
    const listening: number[] = [];
    for (const ep of this.endpoints.values()) {
      listening.push(...ep.stack.listening(proto));
      // a forwarding pod's FORWARD drop rules decide on a port too
      if (ep.spec.kind === "pod")
        for (const r of ep.spec.router?.drop ?? [])
          if (r.protocol === PROTO_NUMBER[proto]) listening.push(r.port);
    }
    return portCuts(
      [...this.computes.values()].map((c) => c.datapath.tables),
      PROTO_NUMBER[proto],
      listening,
    );
  }

  /** The compute holding `ip` as a local pod in its fabric VRF (how the underlay reaches ip-fabric pods). */
  private podRouter(ip: string): Station | undefined {
    const mac = this.podRouterMac(ip);
    return mac === undefined ? undefined : this.stationIndex().byMac.get(mac);
  }

  private loopback(ep: Endpoint, pkt: Ipv4Packet): ProbeAnswer {
    for (const frame of ep.stack.handle(ep.stack.frame(pkt, ep.spec.mac), "loopback").replies) {
      const d = decodeEthernet(frame);
      if (d.ok && d.value.payload.kind === "ipv4") return HostStack.classify(pkt, d.value.payload);
    }
    return undefined;
  }

  /** A client answers a SYN-ACK it will not use with RST, which also ends the flow in the vrouters. */
  private closeTcp(src: Endpoint, syn: Ipv4Packet, to: string): void {
    const q = syn.payload;
    if (q.kind !== "tcp") return;
    const rst = ipv4({
      src: src.spec.ip,
      dst: to,
      payload: tcp({ sport: q.sport, dport: q.dport, seq: q.seq + 1, flags: TCP_RST | TCP_ACK }),
    });
    this.run(
      [
        {
          at: this.firstHop(src),
          frame: src.stack.frame(rst, this.nextHopMac(src, to)),
          origin: src.spec.name,
        },
      ],
      [],
      () => undefined,
      false,
    );
    src.inbox = [];
  }

  private ephemeral(): number {
    const port = 32768 + (this.nextPort % 28232);
    this.nextPort++;
    return port;
  }

  private firstHop(src: Endpoint): Location {
    if (src.spec.kind === "pod") return { kind: "vif", compute: src.spec.compute, vif: src.spec.vif };
    return { kind: "underlay", from: src.spec.name };
  }

  private nextHopMac(src: Endpoint, to: string): string {
    if (src.spec.kind === "pod") return VROUTER_MAC;
    return this.underlayMac(to) ?? this.podRouterMac(to) ?? fabricMacFor(to);
  }

  /** A pod ARPs once per destination; the vrouter's proxy answer teaches it the vrouter MAC. */
  private resolveArp(
    src: Endpoint,
    to: string,
    trace: TraceStep[],
    onDrop: (c: string, r: DropReason, s: TraceStep) => void,
  ): boolean {
    if (src.spec.kind !== "pod" || src.arpDone) return true;
    const spec = src.spec;
    const req = encodeArp({
      kind: "arp",
      op: ARP_REQUEST,
      senderMac: spec.mac,
      senderIp: spec.ip,
      targetMac: "00:00:00:00:00:00",
      targetIp: to,
    });
    const dp = this.computes.get(spec.compute)?.datapath;
    if (!dp) {
      const step: TraceStep = {
        compute: spec.compute,
        stage: "ingress",
        detail: `compute ${spec.compute} has no vrouter tables`,
        action: "drop",
        reason: "INVALID_IF",
      };
      trace.push(step);
      onDrop(spec.compute, "INVALID_IF", step);
      return false;
    }
    const res = dp.receive(
      spec.vif,
      wrapEthernet("ff:ff:ff:ff:ff:ff", spec.mac, ETHERTYPE_ARP, req),
      this.clock,
    );
    this.tap(
      { compute: spec.compute, vif: spec.vif },
      wrapEthernet("ff:ff:ff:ff:ff:ff", spec.mac, ETHERTYPE_ARP, req),
    );
    for (const o of res.out) this.tap({ compute: spec.compute, vif: o.vif }, o.frame);
    const answered = res.out.some((o) => {
      const d = decodeEthernet(o.frame);
      return (
        o.vif === spec.vif &&
        d.ok &&
        d.value.payload.kind === "arp" &&
        d.value.payload.senderMac === VROUTER_MAC
      );
    });
    if (!answered) {
      for (const s of res.trace) trace.push(s);
      if (res.drop) onDrop(spec.compute, res.drop, res.trace[res.trace.length - 1]);
      return false;
    }
    src.arpDone = true;
    return true;
  }

  /** Moves frames until nothing is in flight. */
  private run(
    queue: Pending[],
    trace: TraceStep[],
    onDrop: (compute: string, reason: DropReason, step: TraceStep) => void,
    tracing: boolean,
  ): void {
    for (let hops = 0; queue.length > 0; hops++) {
      if (hops >= MAX_HOPS) {
        trace.push({
          compute: "underlay",
          stage: "underlay",
          detail: `stopped after ${MAX_HOPS} hops (forwarding loop?)`,
          action: "drop",
        });
        return;
      }
      const item = queue.shift()!;
      const at = item.at;
      if (at.kind === "vif") {
        const compute = this.computes.get(at.compute);
        if (!compute) {
          const step: TraceStep = {
            compute: at.compute,
            stage: "ingress",
            detail: `compute ${at.compute} has no vrouter tables`,
            action: "drop",
            reason: "INVALID_IF",
          };
          trace.push(step);
          onDrop(at.compute, "INVALID_IF", step);
          continue;
        }
        this.tap({ compute: at.compute, vif: at.vif }, item.frame);
        const res = compute.datapath.receive(at.vif, item.frame, this.clock, { trace: tracing });
        for (const s of res.trace) trace.push(s);
        if (res.drop) onDrop(at.compute, res.drop, res.trace[res.trace.length - 1]);
        const tables = compute.datapath.tables;
        for (const o of res.out) {
          this.tap({ compute: at.compute, vif: o.vif }, o.frame);
          const vif = tables.vifs.get(o.vif);
          if (vif?.type === "fabric")
            queue.push({ at: { kind: "underlay", from: at.compute }, frame: o.frame, origin: item.origin });
          else if (vif?.type === "virtual") {
            const name = this.endpointAt(at.compute, o.vif);
            if (name) queue.push({ at: { kind: "endpoint", name }, frame: o.frame, origin: item.origin });
            else
              trace.push({
                compute: at.compute,
                stage: "deliver",
                detail: `no endpoint attached to vif ${o.vif}: frame lost`,
              });
          }
        }
      } else if (at.kind === "underlay") {
        this.tap("fabric", item.frame);
        const dest = this.underlayStation(item.frame);
        if (!dest) {
          const step: TraceStep = {
            compute: "underlay",
            stage: "underlay",
            detail: `no station on the fabric for frame from ${at.from}`,
            action: "drop",
            reason: "NOWHERE_TO_GO",
          };
          trace.push(step);
          onDrop("underlay", "NOWHERE_TO_GO", step);
          continue;
        }
        if (tracing)
          trace.push({ compute: "underlay", stage: "underlay", detail: `${at.from} → ${dest.name}` });
        queue.push({ at: dest.at, frame: item.frame, origin: item.origin });
      } else {
        const ep = this.endpoints.get(at.name);
        if (!ep) continue;
        if (ep.spec.kind === "pod" && ep.spec.router) {
          const fwd = this.forward(ep, ep.spec.router, item.frame);
          if (fwd) {
            if (tracing || fwd.dropped) trace.push(fwd.step);
            if (fwd.out) queue.push({ at: fwd.out, frame: fwd.frame!, origin: item.origin });
            continue;
          }
        }
        const out = ep.stack.handle(item.frame);
        if (out.received) ep.inbox.push({ pkt: out.received, origin: item.origin });
        if (tracing && out.note && out.dropped)
          trace.push({ compute: ep.spec.name, stage: "host", action: "drop", detail: out.note });
        else if (tracing && out.note && out.replies.length > 0)
          trace.push({ compute: ep.spec.name, stage: "host", detail: out.note });
        for (const frame of out.replies) {
          if (ep.spec.kind === "pod") {
            queue.push({
              at: { kind: "vif", compute: ep.spec.compute, vif: ep.spec.vif },
              frame,
              origin: ep.spec.name,
            });
            continue;
          }
          const routed = this.routeFromHost(ep.spec.name, frame);
          if ("drop" in routed) {
            trace.push(routed.drop);
            onDrop(ep.spec.name, "NOWHERE_TO_GO", routed.drop);
          } else
            queue.push({
              at: { kind: "underlay", from: ep.spec.name },
              frame: routed.frame,
              origin: ep.spec.name,
            });
        }
      }
    }
  }

  /**
   * Linux forwarding in a pod with several interfaces: a packet for an address none of its interfaces has
   * leaves by the interface on the destination's prefix (else eth0), TTL one less, to the vrouter's MAC; a
   * FORWARD drop rule of the pod drops it there. Undefined: the packet is for the pod itself (its stack's).
   */
  private forward(
    ep: Endpoint,
    router: PodRouter,
    frame: Uint8Array,
  ): { step: TraceStep; dropped?: boolean; out?: Location; frame?: Uint8Array } | undefined {
    const d = decodeEthernet(frame);
    if (!d.ok || d.value.payload.kind !== "ipv4") return undefined;
    const ip = d.value.payload;
    const name = ep.spec.name;
    const l4 = ip.payload as { dport?: number };
    const decision = this.routerDecision(router, ip.dst, ip.protocol, l4.dport);
    if (decision.kind === "local") return undefined;
    if (decision.kind === "drop" && decision.rule)
      this.hostDrop ??= { endpoint: router.group, rule: decision.rule };
    if (decision.kind === "drop")
      return {
        dropped: true,
        step: {
          compute: name,
          stage: "host",
          action: "drop",
          detail: decision.rule
            ? `${router.group} forwards ${ip.src} → ${ip.dst} and drops it: its FORWARD rule ${decision.rule}`
            : `${router.group} has no route to ${ip.dst}`,
        },
      };
    if (ip.ttl <= 1)
      return {
        dropped: true,
        step: {
          compute: name,
          stage: "host",
          action: "drop",
          detail: `${router.group}: TTL expired in forwarding`,
        },
      };
    const out = decision.out;
    if (out.spec.kind !== "pod") return undefined;
    const fwd = ipv4Frame(VROUTER_MAC, out.spec.mac, { ...ip, ttl: ip.ttl - 1 });
    return {
      out: { kind: "vif", compute: out.spec.compute, vif: out.spec.vif },
      frame: fwd,
      step: {
        compute: name,
        stage: "host",
        detail: `${router.group} forwards ${ip.src} → ${ip.dst} from ${name} out of ${out.spec.name} (ip_forward)`,
      },
    };
  }

  /**
   * What a forwarding pod does with a packet one of its interfaces got: its own (`local`: some interface of the
   * pod has the address), dropped by a FORWARD rule (or no route), or out of the interface on the destination's
   * prefix, else the default route's (eth0).
   */
  private routerDecision(
    router: PodRouter,
    dst: string,
    protocol: number,
    dport: number | undefined,
  ): { kind: "local" } | { kind: "drop"; rule?: string } | { kind: "out"; out: Endpoint } {
    const siblings = [...this.endpoints.values()].filter(
      (e) => e.spec.kind === "pod" && e.spec.router?.group === router.group,
    );
    if (siblings.some((e) => e.spec.ip === dst)) return { kind: "local" };
    const w = portWindow();
    const rule = router.drop?.find(
      (r) =>
        r.protocol === protocol && (w && dport !== undefined ? w.equals(dport, r.port) : r.port === dport),
    );
    if (rule) return { kind: "drop", rule: rule.text };
    const out =
      siblings.find((e) => e.spec.kind === "pod" && e.spec.router && ipInCidr(dst, e.spec.router.prefix)) ??
      siblings.find((e) => !e.spec.name.includes("@"));
    return out ? { kind: "out", out } : { kind: "drop" };
  }

  /**
   * A fabric host routes its answers by destination IP like any host without a vrouter: on-link stations and
   * ip-fabric-forwarded pods (the routes the fabric learned) are reachable; an overlay address is not, whatever
   * MAC the request came from.
   */
  private routeFromHost(host: string, frame: Uint8Array): { frame: Uint8Array } | { drop: TraceStep } {
    if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return { frame };
    const dst = formatIpv4(((frame[30] << 24) | (frame[31] << 16) | (frame[32] << 8) | frame[33]) >>> 0);
    const mac = this.underlayMac(dst) ?? this.podRouterMac(dst);
    if (mac === undefined)
      return {
        drop: {
          compute: host,
          stage: "host",
          detail: `${host} has no route to ${dst}: the fabric knows only on-link hosts and ip-fabric-forwarded pods`,
          action: "drop",
          reason: "NOWHERE_TO_GO",
        },
      };
    const out = frame.slice();
    writeMac(mac, out, 0);
    return { frame: out };
  }

  /** The station a frame on the underlay reaches: by destination MAC, else by destination IP. */
  private underlayStation(frame: Uint8Array): Station | undefined {
    if (frame.length < 14) return undefined;
    const stations = this.stationIndex();
    const byMac = stations.byMac.get(readMac(frame, 0));
    if (byMac) return byMac;
    if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return undefined;
    const dst = formatIpv4(((frame[30] << 24) | (frame[31] << 16) | (frame[32] << 8) | frame[33]) >>> 0);
    return stations.byIp.get(dst);
  }

  private stationIndex(): { byMac: Map<string, Station>; byIp: Map<string, Station> } {
    if (this.stations) return this.stations;
    const byMac = new Map<string, Station>();
    const byIp = new Map<string, Station>();
    for (const c of this.computes.values()) {
      const t = c.datapath.tables;
      const fabric = t.vifs.get(t.compute.fabricVif);
      const station: Station = {
        name: c.name,
        mac: fabric?.mac,
        at: { kind: "vif", compute: c.name, vif: t.compute.fabricVif },
      };
      if (fabric) byMac.set(fabric.mac, station);
      byIp.set(t.compute.fabricIp, station);
    }
    for (const ep of this.endpoints.values()) {
      if (ep.spec.kind !== "fabric-host") continue;
      const station: Station = {
        name: ep.spec.name,
        mac: ep.spec.mac,
        at: { kind: "endpoint", name: ep.spec.name },
      };
      byMac.set(ep.spec.mac, station);
      byIp.set(ep.spec.ip, station);
    }
    this.stations = { byMac, byIp };
    return this.stations;
  }

  /** MAC of an underlay address: a compute's fabric port or a fabric host. */
  private underlayMac(ip: string): string | undefined {
    return this.stationIndex().byIp.get(ip)?.mac;
  }

  /**
   * The fabric MAC of the station the fabric's routers send `ip` to (their BGP view, `underlayRoutes`): the
   * compute where `ip` is a port forwarding in the fabric VRF, or the SDN gateway for a public address it
   * imports. Judged by ports, not by fabric-VRF routes: a route leaked there (an overlay pod, a service VIP with
   * one member, whose route is that member's interface) stays unknown to the fabric's routers.
   */
  private podRouterMac(ip: string): string | undefined {
    this.fabricPods ??= underlayRoutes([...this.computes.values()].map((c) => c.datapath.tables));
    const via = this.fabricPods.get(`${ip}/32`);
    return via === undefined ? undefined : this.underlayMac(via);
  }

  private tap(point: CapturePoint, frame: Uint8Array): void {
    for (const c of this.captures) {
      const p = c.point;
      if (
        p === "fabric"
          ? point === "fabric"
          : point !== "fabric" && p.compute === point.compute && p.vif === point.vif
      )
        c.sink(frame, this.clock);
    }
  }
}

export class SimNetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SimNetworkError";
  }
}
