/**
 * The simulated datapath as the harness uses it: one `SimNetwork` (every compute's engine, the pods' host
 * stacks, the underlay) fed with the tables the vrouter agents compute, pods attached to the vif the agent
 * made for their VMI, fabric hosts on the underlay, and probes answered with a verdict and a trace.
 *
 * Example: `const sim = new SimDatapath(agents, scenario.fabricHosts); await sim.attach(portAttachment)`.
 */
import type { Agents } from "../fake-vrouter/agent/index";
import type { DatapathSnapshot, DatapathStats } from "../fake-vrouter/datapath/engine";
import { PcapWriter } from "../fake-vrouter/netns/pcap-writer";
import { type Arrival, type DryRunImage, SimNetwork } from "../fake-vrouter/datapath/sim-network";
import { type DryRunBatch, reachBatch } from "../fake-vrouter/datapath/dry-run-pool";
import type { PortWindow } from "../fake-vrouter/datapath/port-window";
import { formatTrace, type TraceStep } from "../fake-vrouter/datapath/trace";
import type { ListenPorts } from "../fake-vrouter/datapath/host";
import { type CaptureHandle, type CaptureTarget, once } from "./capture";
import type { PortAttachment } from "./node/port-api-plumber";
import { answerWire, query, readResponse, type Zone } from "../cluster-dns/zone";
import type {
  DnsRequest,
  DnsResult,
  FirewallDecision,
  HttpRequest,
  HttpResult,
  ProbeRequest,
  ProbeResult,
  ReachOutcome,
} from "./runner/testbed";
import { parseHaproxyConfig, routeHttp } from "../fake-vrouter/haproxy/route";
import type { ServiceInstanceRun } from "../fake-vrouter/haproxy/instances";
import type { ExternalHostSpec, FabricHostSpec } from "./scenario/types";
import { externalHostIfname, externalHostMac, type SdnGateway } from "../fake-vrouter/agent/sdn-gateway";
import type { PortCuts } from "../fake-vrouter/datapath/port-space";

export class SimDatapath {
  readonly net = new SimNetwork();
  private readonly unsubscribe: () => void;
  private readonly captures = new Set<() => Promise<number>>();
  /** Endpoints of CoreDNS pods: a datagram reaching their port 53 is answered by the cluster DNS core. */
  private readonly dnsEndpoints = new Set<string>();

  constructor(
    private readonly agents: Agents,
    fabricHosts: FabricHostSpec[],
    /** The scenario's nodes: a capture on one whose tables are not computed yet starts when they are. */
    private readonly nodes: string[] = [],
    /** The SDN gateway (its engine is one more station on the underlay) and the external hosts behind it. */
    gateway?: SdnGateway,
    externalHosts: ExternalHostSpec[] = [],
  ) {
    for (const compute of [...agents.computes(), ...(gateway ? [gateway.name] : [])]) {
      const t = agents.tables(compute);
      if (t) this.net.setTables(compute, t);
    }
    this.unsubscribe = agents.onTables((compute, t) => this.net.setTables(compute, t));
    for (const [i, h] of fabricHosts.entries()) {
      this.net.addEndpoint({
        name: `host:${h.name}`,
        kind: "fabric-host",
        mac: `02:fa:b0:00:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`,
        ip: h.ip,
        listen: listenPorts(h.listen),
      });
    }
    // an external host is plugged into the gateway's port for it (vif 3 + i, as gatewayTables numbers them)
    for (const [i, h] of externalHosts.entries()) {
      const vif = gateway ? this.agents.tables(gateway.name)?.vifs.get(3 + i) : undefined;
      if (!gateway || vif?.name !== externalHostIfname(i))
        throw new Error(`external host ${h.name}: the SDN gateway has no port for it`);
      this.net.addEndpoint({
        name: `external:${h.name}`,
        kind: "pod",
        compute: gateway.name,
        vif: vif.index,
        mac: externalHostMac(h.ip),
        ip: h.ip,
        listen: listenPorts(h.listen),
      });
    }
  }

  /** Attach a plumbed pod to the vif its compute's agent created for the VMI. */
  async attach(a: PortAttachment): Promise<void> {
    // the port was added just before: its vif is in the agent's next recomputation (one per batch of pods)
    const tables = await this.agents.nextTables(a.node);
    const vif = tables && [...tables.vifs.values()].find((v) => v.vmi?.uuid === a.vmiUuid);
    if (!vif)
      throw new Error(
        `compute ${a.node} has no vif for VMI ${a.vmiUuid} of pod ${a.endpoint} after the port add`,
      );
    this.net.setTables(a.node, tables);
    this.net.removeEndpoint(a.endpoint);
    if (a.dns) this.dnsEndpoints.add(a.endpoint);
    else this.dnsEndpoints.delete(a.endpoint);
    this.net.addEndpoint({
      name: a.endpoint,
      kind: "pod",
      compute: a.node,
      vif: vif.index,
      mac: a.mac,
      ip: a.ip,
      listen: listenPorts(a.listen),
      ...(a.forwarding
        ? {
            router: {
              group: a.endpoint.split("@")[0]!,
              prefix: prefixOf(a.ip, a.plen ?? 32),
              drop: a.forwarding.drop.map((d) => ({
                protocol: d.proto === "tcp" ? 6 : 17,
                port: d.port,
                text: `-p ${d.proto} --dport ${d.port} -j DROP`,
              })),
            },
          }
        : {}),
    });
  }

  detach(_node: string, endpoint: string): void {
    this.dnsEndpoints.delete(endpoint);
    this.net.removeEndpoint(endpoint);
  }

  /**
   * One DNS query: the UDP datagram from the source to server:53 through the engines (DNAT to a DNS pod
   * through the kube-dns Service's load balancer, policy, …); if it reaches a CoreDNS pod, that pod's answer is
   * the cluster DNS core's answer to the query's bytes (the same `answerWire` the netns server runs).
   */
  resolve(req: DnsRequest, zone: Zone): DnsResult {
    const r = this.probe({ from: req.from, toIp: req.server, proto: "udp", port: 53, count: 1 });
    const head = `DNS ${req.qtype ?? "A"} ${req.name} from ${req.from} to ${req.server}:53/udp`;
    if (!r.received)
      return {
        addresses: [],
        answers: [],
        trace: [`${head}: no response${r.refused ? " (port unreachable)" : ""}`, ...r.trace],
        ...(r.drop ? { drop: r.drop } : {}),
      };
    if (!r.servedBy || !this.dnsEndpoints.has(r.servedBy))
      return {
        addresses: [],
        answers: [],
        trace: [
          `${head}: reached ${r.servedBy ?? "an endpoint"}, which runs no DNS server (not a CoreDNS pod)`,
          ...r.trace,
        ],
      };
    const answer = readResponse(answerWire(zone, query(req.name, req.qtype ?? "A")));
    return {
      ...answer,
      servedBy: r.servedBy,
      trace: [`${head}: ${answer.rcode} from ${r.servedBy}`, ...r.trace],
    };
  }

  probe(req: ProbeRequest): ProbeResult {
    if (!this.net.endpoint(req.from)) {
      throw new Error(`${req.from} is not attached to the datapath (is the pod Running?)`);
    }
    const r = this.net.probe({
      from: req.from,
      to: req.toIp,
      proto: req.proto,
      port: req.port,
      count: req.count,
      ...(req.sport !== undefined ? { sport: req.sport } : {}),
    });
    return {
      sent: r.sent,
      received: r.replies,
      servedBy: r.servedBy,
      servedByCounts: r.servedByCounts,
      replyTtl: r.replyTtl,
      drop: r.drop
        ? { where: `${r.drop.compute} ${r.drop.step?.stage ?? ""}`.trim(), reason: r.drop.reason }
        : r.hostDrop
          ? { where: `${r.hostDrop.endpoint} FORWARD`, reason: r.hostDrop.rule }
          : undefined,
      refused: r.refused,
      trace: formatTrace(r.trace).split("\n").filter(Boolean),
      firewall: firewallDecisions(r.trace),
    };
  }

  /**
   * One HTTP request: the TCP connection through the engines; if an Ingress's haproxy (a service instance the
   * agent runs) takes it, the routing decision from its config (`routeHttp`, as haproxy decides) and the
   * connection haproxy opens from its own port to the chosen server (the backend Service's ClusterIP), through
   * the engines again; the pod that answers is the body. haproxy: `roundrobin` over the pool's servers, 3
   * retries with redispatch, 503 when no backend or no server answers.
   */
  http(req: HttpRequest): HttpResult {
    const services = this.refreshServices();
    const leg1 = this.probe({ from: req.from, toIp: req.toIp, proto: "tcp", port: req.port, count: 1 });
    if (!leg1.received)
      return { connected: false, refused: leg1.refused > 0, drop: leg1.drop, trace: leg1.trace };
    const svc = leg1.servedBy ? services.get(leg1.servedBy) : undefined;
    if (!svc) return { connected: true, status: 200, servedBy: leg1.servedBy, trace: leg1.trace };
    const decision = routeHttp(parseHaproxyConfig(svc.config), {
      port: req.port,
      host: req.host ?? req.toIp,
      path: req.path,
    });
    const proxy: NonNullable<HttpResult["proxy"]> = {
      lbUuid: svc.lbUuid,
      decision,
      sourceIp: this.net.endpoint(leg1.servedBy!)?.ip,
    };
    if (!decision.servers.length) return { connected: true, status: 503, proxy, trace: leg1.trace };
    const n = decision.servers.length;
    const start = this.rr.get(decision.backend!) ?? 0;
    this.rr.set(decision.backend!, start + 1);
    let trace = leg1.trace;
    for (let attempt = 0; attempt <= 3; attempt++) {
      const server = decision.servers[(start + attempt) % n];
      const leg2 = this.probe({
        from: leg1.servedBy!,
        toIp: server.ip,
        proto: "tcp",
        port: server.port,
        count: 1,
      });
      proxy.server = server;
      proxy.firewall = leg2.firewall;
      trace = [
        ...leg1.trace,
        `haproxy ${leg1.servedBy} → server ${server.ip}:${server.port}:`,
        ...leg2.trace,
      ];
      if (leg2.received) return { connected: true, status: 200, servedBy: leg2.servedBy, proxy, trace };
      proxy.serverDrop = leg2.drop ? `${leg2.drop.where}: ${leg2.drop.reason}` : "no answer";
    }
    return { connected: true, status: 503, proxy, trace };
  }

  private readonly rr = new Map<string, number>();

  /** Attach every haproxy the agents run (endpoint `haproxy:<lb uuid>` on its instance's vif); by endpoint name. */
  private refreshServices(): Map<string, ServiceInstanceRun> {
    const out = new Map<string, ServiceInstanceRun>();
    for (const compute of this.agents.computes()) {
      const t = this.agents.tables(compute);
      if (!t) continue;
      for (const si of this.agents.serviceInstances(compute)) {
        const vif = [...t.vifs.values()].find((v) => v.vmi?.uuid === si.vmiUuid);
        if (!vif?.ip) continue;
        const name = `haproxy:${si.lbUuid}`;
        const ports = parseHaproxyConfig(si.config).frontends.map((f) => f.bind.port);
        const cur = this.net.endpoint(name);
        if (
          cur?.kind !== "pod" ||
          cur.compute !== compute ||
          cur.vif !== vif.index ||
          cur.ip !== vif.ip ||
          JSON.stringify(cur.listen?.tcp) !== JSON.stringify(ports)
        ) {
          this.net.removeEndpoint(name);
          this.net.addEndpoint({
            name,
            kind: "pod",
            compute,
            vif: vif.index,
            mac: vif.mac,
            ip: vif.ip,
            listen: { tcp: ports },
          });
        }
        out.set(name, si);
      }
    }
    return out;
  }

  /** The dry-run verdict of one new connection (no frames, no flows): what a matrix asks for each cell. */
  reach(req: Omit<ProbeRequest, "count">): boolean {
    if (!this.net.endpoint(req.from)) {
      throw new Error(`${req.from} is not attached to the datapath (is the pod Running?)`);
    }
    return this.net.reachFast(req.from, req.toIp, req.proto, req.port ?? 0);
  }

  /**
   * The dry-run outcome of every cell of a batch (a matrix), on this machine's cores where it is worth it
   * (fake-vrouter/datapath/dry-run-pool.ts); the same answers as `reach` asked cell by cell in order.
   */
  reachMany(batch: DryRunBatch, progress?: (done: number) => void): Promise<Uint8Array> {
    for (const from of batch.sources)
      if (!this.net.endpoint(from))
        throw new Error(`${from} is not attached to the datapath (is the pod Running?)`);
    return reachBatch(this.net, batch, progress);
  }

  /** What a copy of the network needs for dry runs on a worker thread (`SimNetwork.dryRunImage`). */
  dryRunImage(): DryRunImage {
    return this.net.dryRunImage();
  }

  /** The next `n` ephemeral source ports (`SimNetwork.takeEphemeral`). */
  takeEphemeral(n: number): Uint16Array {
    return this.net.takeEphemeral(n);
  }

  /** The dry-run outcome of one new connection with a given source port (the all-packets analysis). */
  reachOutcome(
    req: Omit<ProbeRequest, "count">,
    onArrival?: (a: Arrival) => void,
    window?: PortWindow,
  ): ReachOutcome {
    if (!this.net.endpoint(req.from)) {
      throw new Error(`${req.from} is not attached to the datapath (is the pod Running?)`);
    }
    return this.net.reachOutcome(req.from, req.toIp, req.proto, req.port ?? 0, req.sport, onArrival, window);
  }

  ecmpPossible(ip: string): boolean {
    return this.net.ecmpPossible(ip);
  }

  portCuts(proto: "tcp" | "udp" | "sctp"): PortCuts {
    return this.net.portCuts(proto);
  }

  /** The engine counters of a compute (undefined before its first tables). */
  stats(compute: string): DatapathStats | undefined {
    return this.net.datapath(compute)?.stats();
  }

  /** The flow table and counters of a compute's engine, for the vrouter tools (undefined before its first tables). */
  snapshot(compute: string): DatapathSnapshot | undefined {
    return this.net.datapath(compute)?.snapshot();
  }

  /**
   * Capture into a pcap file as frames go through the simulated network: a pod's vif, a compute's fabric vif,
   * or the whole underlay. Frames carry the wall-clock time they were simulated at (the network's logical
   * clock only orders flow aging).
   */
  capture(target: CaptureTarget, file: string, limit = 0): CaptureHandle {
    let point: Parameters<SimNetwork["capture"]>[0] | undefined;
    if (target === "fabric") point = "fabric";
    else if ("pod" in target) {
      const ep = this.net.endpoint(target.pod);
      if (ep?.kind !== "pod")
        throw new Error(`${target.pod} is not attached to the datapath (is the pod Running?)`);
      point = { compute: ep.compute, vif: ep.vif };
    } else {
      const t = this.agents.tables(target.compute);
      if (t) point = { compute: target.compute, vif: t.compute.fabricVif };
      else if (!this.nodes.includes(target.compute)) {
        throw new Error(
          `no compute ${target.compute} (computes: ${[...new Set([...this.nodes, ...this.agents.computes()])].join(", ")})`,
        );
      }
    }
    const writer = new PcapWriter(file, limit);
    let off = () => {};
    const attach = (p: Parameters<SimNetwork["capture"]>[0]) => {
      off = this.net.capture(p, (frame) => {
        writer.write(frame, Date.now());
        if (!writer.open) off();
      });
    };
    if (point) attach(point);
    else {
      // a node whose virtual-router the controller has not created yet (a run's captures start with the testbed)
      const compute = (target as { compute: string }).compute;
      const unsubscribe = this.agents.onTables((c, t) => {
        if (c !== compute) return;
        unsubscribe();
        if (writer.open) attach({ compute, vif: t.compute.fabricVif });
      });
      off = () => unsubscribe();
    }
    const stop = once(async () => {
      off();
      writer.close();
      this.captures.delete(stop);
      return writer.count;
    });
    this.captures.add(stop);
    return { file, count: async () => writer.count, stop };
  }

  close(): void {
    for (const stop of [...this.captures]) void stop();
    this.unsubscribe();
  }
}

function listenPorts(listen: { port: number; proto: string }[]): ListenPorts {
  const out: Required<ListenPorts> = { tcp: [], udp: [], sctp: [] };
  for (const l of listen) if (l.proto in out) out[l.proto as keyof ListenPorts]!.push(l.port);
  return out;
}

/** The firewall-policy stages of a trace, as the runner's divergence report reads them. */
function firewallDecisions(trace: readonly TraceStep[]): FirewallDecision[] {
  return trace
    .filter((s) => s.stage === "firewall-policy" && (s.action === "pass" || s.action === "deny"))
    .map((s) => ({
      where: s.detail.startsWith("destination") ? "destination" : "source",
      compute: s.compute,
      action: s.action as "pass" | "deny",
      policy: s.policy?.fqName.join(":"),
      rule: s.ref?.type === "firewall-rule" ? s.ref.fqName.join(":") : undefined,
      sequence: s.sequence,
    }));
}

/** "10.10.1.5", 24 → "10.10.1.0/24". */
function prefixOf(ip: string, plen: number): string {
  const n = ip.split(".").reduce((a, b) => a * 256 + Number(b), 0);
  const mask = plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join(".")}/${plen}`;
}
