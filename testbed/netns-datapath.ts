/**
 * The netns datapath as the harness uses it — the real-packet twin of `SimDatapath`: one network namespace
 * per compute (running a vrouter process fed with the agents' tables), per pod (plumbed by the real CNI
 * plugin through `CniPlumber`) and per fabric host, joined by an underlay namespace. A probe runs inside the
 * source pod's namespace (ping, TCP connect, UDP exchange by the pod's own process); when nothing answers,
 * the vrouters' recent drops say why. Fabric hosts get a /32 route to every ip-fabric-forwarded pod via its
 * compute's fabric IP, and to every public address the SDN gateway imports via the gateway, as the fabric's
 * routers would learn them (`underlayRoutes`); overlay pods stay unknown to the underlay.
 *
 * Example: `const dp = await NetnsDatapath.start({ agents, computes, fabricHosts, stateDir }); tb.probe = (r) => dp.probe(r)`.
 */
import { TablesIndex } from "../fake-vrouter/datapath/tables-index";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { processStartTime } from "../fake-vrouter/netns/pidfiles";
import { join } from "node:path";
import { formatTrace } from "../fake-vrouter/datapath/trace";
import { execIn, ipBatch, ownedPrefix } from "../fake-vrouter/netns/ns";
import type { KubeObject } from "../controller/kube/api";
import type { DatapathSnapshot, DatapathStats } from "../fake-vrouter/datapath/engine";
import {
  attachAgents,
  CaptureProcess,
  ensureCaptureAddon,
  NetnsTopology,
  PodProcess,
  type ProbeOutcome,
  type RecentDrop,
  type ServedPort,
} from "../fake-vrouter/netns/index";
import type { VrouterTables } from "../fake-vrouter/tables";
import { underlayRoutes } from "../fake-vrouter/datapath/underlay";
import { PORT_PROTOCOLS, type PortCuts, portCuts } from "../fake-vrouter/datapath/port-space";
import { type CaptureHandle, type CaptureTarget, once } from "./capture";
import { CniPlumber, type NetnsPod } from "./node/cni-plumber";
import type {
  DnsRequest,
  DnsResult,
  HttpRequest,
  HttpResult,
  ProbeRequest,
  ProbeResult,
} from "./runner/testbed";
import type { ServiceInstanceRun } from "../fake-vrouter/haproxy/instances";
import { HaproxyProcess } from "../fake-vrouter/haproxy/netns";
import { parseHaproxyConfig, routeHttp } from "../fake-vrouter/haproxy/route";
import type { ExternalHostSpec, FabricHostSpec } from "./scenario/types";
import { externalHostIfname, externalHostMac, type SdnGateway } from "../fake-vrouter/agent/sdn-gateway";

export class NetnsDatapathError extends Error {}

export interface NetnsDatapathOptions {
  agents: {
    tables(compute: string): VrouterTables | undefined;
    onTables(cb: (compute: string, t: VrouterTables) => void): () => void;
    /** The load-balancer service instances (haproxy) placed on a compute. */
    serviceInstances?(compute: string): ServiceInstanceRun[];
  };
  computes: { name: string; fabricIp: string }[];
  fabricHosts: FabricHostSpec[];
  /** The SDN gateway (a namespace with its own vrouter process) and the external hosts behind it. */
  gateway?: SdnGateway;
  externalHosts?: ExternalHostSpec[];
  clusterName: string;
  /** Port of each compute's agent port API on 127.0.0.1. */
  portApiPort: (compute: string) => number;
  /** CNI state files go under it (removed on close). */
  workDir: string;
  /** The run's record: pid files and namespace markers (default /run/ctb); CNI state goes here too when given. */
  stateDir?: string;
  /** Namespace prefix; default `ctb-<pid in base 36>-` so concurrent testbeds do not collide. */
  prefix?: string;
  /** A pod's resolv.conf as kubelet writes it (`kubeletResolvConf`); none: pods read the host's. */
  resolvConf?: (pod: KubeObject) => Promise<string | undefined>;
  log?: (msg: string) => void;
}

/** What `ctb exec` needs to run a program inside a pod. */
export interface NetnsEndpoint {
  endpoint: string;
  netns: string;
  node?: string;
  ip: string;
}

/** How long one probe attempt waits for an answer (ping's -W is whole seconds). */
const ATTEMPT_TIMEOUT_MS = 1000;

export class NetnsDatapath {
  private readonly pods = new Map<string, NetnsPod>();
  private readonly hosts = new Map<string, { ip: string; proc: PodProcess; netns: string }>();
  /** External hosts behind the SDN gateway (their process starts after the namespaces are wired). */
  private readonly externals = new Map<
    string,
    { ip: string; netns: string; listen: ExternalHostSpec["listen"]; ifname: string; proc?: PodProcess }
  >();
  private detachAgents: () => void = () => {};
  /** Latest tables per compute and of the SDN gateway (what the fabric's routers learn, `underlayRoutes`). */
  private readonly tables = new Map<string, VrouterTables>();
  /** Pod /32 → compute fabric IP, as installed in every fabric host. */
  private hostRoutes = new Map<string, string>();
  private routeSync: Promise<void> = Promise.resolve();
  private routeError: Error | undefined;
  private readonly captures = new Set<CaptureProcess>();
  readonly plumber: CniPlumber;
  private readonly cniDir: string;

  private constructor(
    readonly topo: NetnsTopology,
    private readonly opts: NetnsDatapathOptions,
  ) {
    const o = opts;
    this.cniDir = join(o.stateDir ?? o.workDir, `cni-${topo.prefix.replace(/-$/, "")}`);
    mkdirSync(this.cniDir, { recursive: true });
    // Whose state this is: `ctb down` removes it once this process is gone, never by guessing from the name.
    writeFileSync(
      join(this.cniDir, "owner.json"),
      JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) ?? "" }),
    );
    this.plumber = new CniPlumber({
      topo,
      clusterName: o.clusterName,
      portApiPort: o.portApiPort,
      stateDir: this.cniDir,
      onUp: (p) => this.pods.set(p.endpoint, p),
      onDown: (endpoint) => this.pods.delete(endpoint),
      ...(o.resolvConf ? { resolvConf: o.resolvConf } : {}),
    });
  }

  static async start(o: NetnsDatapathOptions): Promise<NetnsDatapath> {
    if (process.getuid?.() !== 0)
      throw new NetnsDatapathError("the netns datapath needs root (network namespaces, veths, raw sockets)");
    // CNI DEL deletes a tap its vrouter captures on: only the assertion-free capture addon survives that
    const addon = await ensureCaptureAddon();
    if (addon.addon !== "ndebug")
      throw new NetnsDatapathError(
        `cannot build the capture addon (fake-vrouter/netns/tools/build-cap.sh): ${addon.detail}`,
      );
    // the SDN gateway is one more router on the underlay, forwarding with its own vrouter process
    const gw = o.gateway;
    const topo = await NetnsTopology.create({
      prefix: o.prefix ?? ownedPrefix(),
      computes: gw ? [...o.computes, { name: gw.name, fabricIp: gw.fabricIp }] : o.computes,
      fabricHosts: o.fabricHosts.map((h) => ({ name: h.name, ip: h.ip })),
      stateDir: o.stateDir,
      log: o.log,
    });
    const dp = new NetnsDatapath(topo, o);
    try {
      // external hosts are wired to the gateway's ports before its vrouter opens them
      for (const [i, h] of (gw ? (o.externalHosts ?? []) : []).entries()) {
        const netns = await topo.addExternalHost({
          name: h.name,
          router: gw!.name,
          ifname: externalHostIfname(i),
          mac: externalHostMac(h.ip),
          ip: h.ip,
        });
        dp.externals.set(h.name, { ip: h.ip, netns, listen: h.listen, ifname: externalHostIfname(i) });
      }
      await topo.startVrouters();
      const detach = attachAgents(topo, o.agents);
      for (const c of topo.spec.computes) {
        const t = o.agents.tables(c.name);
        if (t) dp.tables.set(c.name, t);
      }
      const off = o.agents.onTables((c, t) => {
        dp.tables.set(c, t);
        dp.syncFabricRoutes();
      });
      dp.detachAgents = () => {
        off();
        detach();
      };
      for (const h of o.fabricHosts) {
        const ports = h.listen.flatMap((l): ServedPort[] =>
          l.proto === "tcp" || l.proto === "udp" ? [{ proto: l.proto, port: l.port }] : [],
        );
        const netns = topo.hostNs(h.name);
        const proc = await PodProcess.start({ ns: netns, ports, stateDir: topo.stateDir });
        dp.hosts.set(h.name, { ip: h.ip, proc, netns });
      }
      for (const e of dp.externals.values()) {
        const ports = e.listen.flatMap((l): ServedPort[] =>
          l.proto === "tcp" || l.proto === "udp" ? [{ proto: l.proto, port: l.port }] : [],
        );
        e.proc = await PodProcess.start({ ns: e.netns, ports, stateDir: topo.stateDir });
        if (gw) await topo.vrouter(gw.name).waitForPorts([e.ifname]);
      }
      dp.syncFabricRoutes();
      await dp.routeSync;
    } catch (e) {
      await dp.close();
      throw e;
    }
    return dp;
  }

  /** Where the CNI plugin keeps its per-pod state (`config-dir` is `<this>/ports`) and looks for its conf. */
  get cniStateDir(): string {
    return this.cniDir;
  }

  /**
   * A pod a real kubelet runs (`--nodes kubelet`): containerd made its namespace and called the CNI plugin;
   * once its vrouter has the tap, it gets its testbed name and a prober process (its own container serves
   * its ports), and probes, `ctb exec` and captures treat it like a plumbed pod.
   */
  async adoptPod(p: {
    endpoint: string;
    node: string;
    key: string;
    netnsPath: string;
    ip: string;
    mac?: string;
    tap: string;
  }) {
    await withDeadline(
      this.topo.vrouter(p.node).waitForPorts([p.tap]),
      15_000,
      `the vrouter of ${p.node} did not open tap ${p.tap} of ${p.endpoint}`,
    );
    const netns = await this.topo.adoptPodNamespace(p.key, p.netnsPath);
    try {
      await this.topo.startPod(p.key, []);
    } catch (e) {
      await this.topo.deletePodNamespace(p.key);
      throw e;
    }
    this.pods.set(p.endpoint, {
      endpoint: p.endpoint,
      node: p.node,
      key: p.key,
      netns,
      ip: p.ip,
      mac: p.mac,
      tap: p.tap,
    });
  }

  /** A real kubelet's pod is gone or changed: drop its prober and its testbed name. */
  async forgetPod(endpoint: string): Promise<void> {
    const p = this.pods.get(endpoint);
    if (!p) return;
    this.pods.delete(endpoint);
    await this.topo.deletePodNamespace(p.key);
  }

  /**
   * The namespace, node and address of a pod ("<ns>/<pod>"), a fabric host ("host:<name>") or a compute's own
   * namespace, where its vrouter process runs ("vrouter:<compute>").
   */
  endpoint(name: string): NetnsEndpoint | undefined {
    if (name.startsWith("vrouter:")) {
      const c = this.topo.spec.computes.find((x) => x.name === name.slice("vrouter:".length));
      return c && { endpoint: name, netns: this.topo.computeNs(c.name), node: c.name, ip: c.fabricIp };
    }
    if (name.startsWith("external:")) {
      const h = this.externals.get(name.slice("external:".length));
      return h && { endpoint: name, netns: h.netns, ip: h.ip };
    }
    if (name.startsWith("host:")) {
      const h = this.hosts.get(name.slice("host:".length));
      return h && { endpoint: name, netns: h.netns, ip: h.ip };
    }
    const p = this.pods.get(name);
    return p && { endpoint: p.endpoint, netns: p.netns, node: p.node, ip: p.ip };
  }

  /**
   * Where the port space of `proto` must be cut for the all-packets analysis (port-space.ts): the numbers the
   * vrouters' tables decide on and the fabric and external hosts' listening ports (the caller adds the pods').
   */
  portCuts(proto: "tcp" | "udp" | "sctp"): PortCuts {
    const listening = [...this.opts.fabricHosts, ...(this.opts.externalHosts ?? [])].flatMap((h) =>
      h.listen.filter((l) => l.proto === proto).map((l) => l.port),
    );
    // a forwarding pod's FORWARD drop rules decide on a port too
    for (const p of this.pods.values())
      for (const d of p.forwardDrop ?? []) if (d.proto === proto) listening.push(d.port);
    return portCuts(this.tables.values(), PORT_PROTOCOLS[proto], listening);
  }

  async probe(req: ProbeRequest): Promise<ProbeResult> {
    const src = this.source(req.from);
    if (req.sport !== undefined)
      throw new NetnsDatapathError(
        "the netns prober picks its own source ports (sport is a sim-only option)",
      );
    if (req.proto === "sctp")
      throw new NetnsDatapathError(
        "the netns datapath has no SCTP prober: pods run TCP/UDP echo servers only",
      );
    // A status request travels behind the last tables on each vrouter's IPC channel: once all have answered,
    // every table change the agents made before this probe is in force (the settle barrier's last step).
    await Promise.all(this.topo.spec.computes.map((c) => this.topo.vrouter(c.name).status()));
    await this.routeSync;
    if (this.routeError)
      throw new NetnsDatapathError(`fabric hosts' routes to pods: ${this.routeError.message}`);
    const started = Date.now();
    const owner = this.ownerOf(req.toIp);
    // a service or floating IP: which member answered shows in the members' interface counters
    const identify = !owner && req.proto !== "icmp";
    const result: ProbeResult = { sent: 0, received: 0, refused: 0, servedByCounts: {}, trace: [] };
    const details: string[] = [];
    // a service chain on the way: the route that sends it to a service instance, the pods that forwarded it
    const chain = this.chainRoute(req.from, req.toIp);
    const forwardedBefore = chain ? await this.forwardedCounts() : undefined;
    for (let i = 0; i < req.count; i++) {
      const before = identify ? await this.rxCounters() : undefined;
      const out: ProbeOutcome = await src.probe({
        proto: req.proto,
        dst: req.toIp,
        port: req.port,
        timeoutMs: ATTEMPT_TIMEOUT_MS,
      });
      result.sent++;
      details.push(`attempt ${i + 1}: ${out.answer ?? "no answer"} (${out.detail})`);
      if (out.answer === "refused") result.refused++;
      if (out.answer !== "reply") continue;
      result.received++;
      const by = owner ?? (before ? busiest(before, await this.rxCounters(), req.from) : undefined);
      if (by) {
        result.servedBy ??= by;
        result.servedByCounts[by] = (result.servedByCounts[by] ?? 0) + 1;
      }
    }
    const where = this.endpoint(req.from);
    result.trace.push(
      `netns: ${req.proto}${req.port ? `/${req.port}` : ""} ${req.from} (${where?.netns}) → ${req.toIp}: ${result.received}/${result.sent} answered`,
      ...details,
    );
    if (chain && forwardedBefore) {
      const after = await this.forwardedCounts();
      const by = [...after].filter(([k, n]) => n > (forwardedBefore.get(k) ?? n)).map(([k]) => k);
      result.trace.push(
        chain,
        `forwarded by ${by.length ? by.join(", ") : "no forwarding pod"} (IP ForwDatagrams of its namespace)`,
      );
    }
    if (result.received < result.sent) {
      const drop = await this.firstDropSince(started);
      if (drop) {
        const stage = drop.drop.trace.at(-1)?.stage ?? "";
        result.drop = { where: `${drop.compute} ${stage}`.trim(), reason: drop.drop.reason };
        result.trace.push(
          `dropped on ${drop.compute} (${drop.drop.ifname}):`,
          ...formatTrace(drop.drop.trace).split("\n").filter(Boolean),
        );
      } else {
        // every vrouter forwarded it: the loss happened in a host stack (e.g. a kernel dropping a martian source,
        // a forwarding pod's FORWARD rule)
        const rules = await this.forwardDropsSinceLastLook();
        const first = rules[0];
        if (first) result.drop = { where: `${first.pod} FORWARD`, reason: first.rule };
        result.trace.push(
          "no vrouter dropped a packet of this probe: what was lost was dropped by a host, not by the datapath",
          ...rules.map((r) => `dropped by ${r.text}`),
        );
      }
    }
    return result;
  }

  /** Give every CoreDNS pod's DNS server the cluster state it answers from (after each settle). */
  async setDnsZone(input: unknown): Promise<void> {
    await Promise.all(
      [...this.pods.values()].filter((p) => p.dns).map((p) => this.topo.pod(p.key).setDnsZone(input)),
    );
  }

  /**
   * One real DNS query (UDP) from the source's process to the server's address, through the vrouters; which
   * DNS pod answered shows in the members' interface counters, as for a service probe.
   */
  async resolve(req: DnsRequest): Promise<DnsResult> {
    const src = this.source(req.from);
    await Promise.all(this.topo.spec.computes.map((c) => this.topo.vrouter(c.name).status()));
    const started = Date.now();
    const before = await this.rxCounters();
    const out = await src.probe({
      proto: "dns",
      dst: req.server,
      port: 53,
      name: req.name,
      qtype: req.qtype ?? "A",
      timeoutMs: ATTEMPT_TIMEOUT_MS,
    });
    const trace = [
      `netns: DNS ${req.qtype ?? "A"} ${req.name} from ${req.from} to ${req.server}:53/udp: ${out.detail}`,
    ];
    if (out.answer === "reply" && out.dns) {
      const servedBy = busiest(before, await this.rxCounters(), req.from);
      return { ...out.dns, ...(servedBy ? { servedBy } : {}), trace };
    }
    const drop = await this.firstDropSince(started);
    if (drop)
      trace.push(
        `dropped on ${drop.compute} (${drop.drop.ifname}):`,
        ...formatTrace(drop.drop.trace).split("\n").filter(Boolean),
      );
    return {
      addresses: [],
      answers: [],
      trace,
      ...(drop
        ? {
            drop: {
              where: `${drop.compute} ${drop.drop.trace.at(-1)?.stage ?? ""}`.trim(),
              reason: drop.drop.reason,
            },
          }
        : {}),
    };
  }

  /**
   * One HTTP GET by the source's own process. A haproxy the agents place (an Ingress's service instance) runs
   * for real in its namespace on its compute's port, restarted when svc-monitor rewrites its config; the pod
   * that answers is the one whose address the body names; the rule that chose is `routeHttp` on the same
   * config (haproxy decides, the same function explains).
   */
  async http(req: HttpRequest): Promise<HttpResult> {
    const src = this.source(req.from);
    await this.syncServices();
    await Promise.all(this.topo.spec.computes.map((c) => this.topo.vrouter(c.name).status()));
    const started = Date.now();
    const out = await src.probe({
      proto: "http",
      dst: req.toIp,
      port: req.port,
      host: req.host,
      path: req.path,
      timeoutMs: 3000,
    });
    const trace = [
      `netns: GET http://${req.host ?? req.toIp}${req.path} from ${req.from} to ${req.toIp}:${req.port}: ${out.detail}`,
    ];
    // the haproxy whose VIP or floating IP the request went to
    const svc = [...this.services.values()].find(
      (s) => s.ip === req.toIp || s.floatingIps.includes(req.toIp),
    );
    const decision = svc
      ? routeHttp(parseHaproxyConfig(svc.proc.config), {
          port: req.port,
          host: req.host ?? req.toIp,
          path: req.path,
        })
      : undefined;
    const proxy = svc && decision ? { lbUuid: svc.lbUuid, decision, server: decision.servers[0] } : undefined;
    if (out.answer !== "reply") {
      const drop = await this.firstDropSince(started);
      return {
        connected: false,
        refused: out.answer === "refused",
        ...(drop
          ? {
              drop: {
                where: `${drop.compute} ${drop.drop.trace.at(-1)?.stage ?? ""}`.trim(),
                reason: drop.drop.reason,
              },
            }
          : {}),
        trace: drop ? [...trace, ...formatTrace(drop.drop.trace).split("\n").filter(Boolean)] : trace,
      };
    }
    const servedBy = out.status === 200 ? this.ownerOf((out.body ?? "").trim()) : undefined;
    return {
      connected: true,
      status: out.status,
      ...(servedBy ? { servedBy } : {}),
      ...(proxy ? { proxy } : {}),
      trace,
    };
  }

  /** Running haproxys by load balancer: namespace, address, the config they run. */
  private readonly services = new Map<
    string,
    {
      lbUuid: string;
      compute: string;
      ifname: string;
      ip: string;
      floatingIps: string[];
      proc: HaproxyProcess;
    }
  >();

  /** Start, restart (new config or place) or stop haproxys to match the service instances the agents place. */
  private async syncServices(): Promise<void> {
    const want = new Map<
      string,
      { si: ServiceInstanceRun; compute: string; ifname: string; ip: string; mac: string; fips: string[] }
    >();
    for (const c of this.topo.spec.computes) {
      const t = this.tables.get(c.name) ?? this.opts.agents.tables(c.name);
      for (const si of this.opts.agents.serviceInstances?.(c.name) ?? []) {
        const vif = t && [...t.vifs.values()].find((v) => v.vmi?.uuid === si.vmiUuid);
        if (!vif?.ip) continue;
        want.set(si.lbUuid, {
          si,
          compute: c.name,
          ifname: vif.name,
          ip: vif.ip,
          mac: vif.mac,
          fips: vif.floatingIps.map((f) => f.address),
        });
      }
    }
    const short = (lb: string) => lb.replace(/-/g, "").slice(0, 12);
    for (const [lb, cur] of [...this.services]) {
      const w = want.get(lb);
      if (w && w.compute === cur.compute && w.ip === cur.ip && w.si.config === cur.proc.config) {
        cur.floatingIps = w.fips;
        continue;
      }
      await cur.proc.stop();
      if (!w || w.compute !== cur.compute || w.ip !== cur.ip)
        await this.topo.removeServiceNamespace(short(lb));
      this.services.delete(lb);
    }
    for (const [lb, w] of want) {
      if (this.services.has(lb)) continue;
      const ns = this.topo.serviceNs(short(lb));
      if (!(await this.topo.hasNamespace(ns)))
        await this.topo.addServiceNamespace({
          name: short(lb),
          compute: w.compute,
          ifname: w.ifname,
          mac: w.mac,
          ip: w.ip,
        });
      await this.topo.vrouter(w.compute).waitForPorts([w.ifname]);
      const proc = await HaproxyProcess.start({
        ns,
        config: w.si.config,
        name: short(lb),
        stateDir: this.topo.stateDir,
      });
      this.services.set(lb, {
        lbUuid: lb,
        compute: w.compute,
        ifname: w.ifname,
        ip: w.ip,
        floatingIps: w.fips,
        proc,
      });
    }
  }

  /** The engine counters of a compute's vrouter process (undefined before its first tables). */
  async stats(compute: string): Promise<DatapathStats | undefined> {
    return (await this.topo.vrouter(compute).status()).engine;
  }

  /** The flow table and counters of a compute's vrouter process, for the vrouter tools. */
  async snapshot(compute: string): Promise<DatapathSnapshot | undefined> {
    return this.topo.vrouter(compute).snapshot();
  }

  /**
   * Capture into a pcap file: a pod's tap or a compute's fabric0 through its vrouter process (every frame in
   * and out, as the vrouter sees it), or the fabric through a capture process on the underlay bridge's ports.
   */
  async capture(target: CaptureTarget, file: string, limit = 0): Promise<CaptureHandle> {
    if (target === "fabric") {
      const ifaces = this.topo
        .underlayPorts()
        .map((p) => ({ name: p.name, filter: `ether src ${p.peerMac}` }));
      const proc = await CaptureProcess.start({
        ns: this.topo.underlayNs(),
        file,
        ifaces,
        limit,
        stateDir: this.topo.stateDir,
      });
      this.captures.add(proc);
      const stop = once(async () => {
        this.captures.delete(proc);
        return proc.stop();
      });
      return { file, count: () => proc.count(), stop };
    }
    let compute: string;
    let ifname: string;
    if ("pod" in target) {
      const p = this.pods.get(target.pod);
      if (!p)
        throw new NetnsDatapathError(
          `${target.pod} is not plumbed on the netns datapath (is the pod Running?)`,
        );
      compute = p.node;
      ifname = p.tap;
    } else {
      if (!this.topo.spec.computes.some((c) => c.name === target.compute)) {
        throw new NetnsDatapathError(
          `no compute ${target.compute} (computes: ${this.topo.spec.computes.map((c) => c.name).join(", ")})`,
        );
      }
      compute = target.compute;
      ifname = "fabric0";
    }
    const v = this.topo.vrouter(compute);
    await v.capture(ifname, file, limit);
    return { file, count: () => v.captureCount(ifname), stop: once(() => v.stopCapture(ifname)) };
  }

  async close(): Promise<void> {
    for (const c of [...this.captures]) await c.stop().catch(() => 0);
    for (const s of this.services.values()) await s.proc.stop().catch(() => {});
    this.services.clear();
    this.detachAgents();
    for (const h of this.hosts.values()) await h.proc.stop().catch(() => {});
    this.hosts.clear();
    for (const h of this.externals.values()) await h.proc?.stop().catch(() => {});
    this.externals.clear();
    this.pods.clear();
    await this.topo.destroy();
    rmSync(this.cniDir, { recursive: true, force: true });
  }

  /** Queue an update of the fabric hosts' pod routes to the agents' latest tables (applied in order). */
  private syncFabricRoutes(): void {
    if (this.hosts.size === 0) return;
    const want = underlayRoutes(this.tables.values());
    this.routeSync = this.routeSync.then(async () => {
      const lines: string[] = [];
      for (const dst of this.hostRoutes.keys()) if (!want.has(dst)) lines.push(`route del ${dst} dev eth0`);
      for (const [dst, via] of want)
        if (this.hostRoutes.get(dst) !== via) lines.push(`route replace ${dst} via ${via} dev eth0`);
      if (lines.length === 0) return;
      try {
        for (const h of this.hosts.values()) await ipBatch(h.netns, lines);
        this.hostRoutes = want;
      } catch (e) {
        this.routeError = e as Error;
      }
    });
  }

  private source(from: string): Pick<PodProcess, "probe"> {
    if (from.startsWith("external:")) {
      const h = this.externals.get(from.slice("external:".length));
      if (!h?.proc)
        throw new NetnsDatapathError(
          `no external host ${from.slice("external:".length)} on the netns datapath`,
        );
      return h.proc;
    }
    if (from.startsWith("host:")) {
      const h = this.hosts.get(from.slice("host:".length));
      if (!h)
        throw new NetnsDatapathError(`no fabric host ${from.slice("host:".length)} on the netns datapath`);
      return h.proc;
    }
    const p = this.pods.get(from);
    if (!p)
      throw new NetnsDatapathError(`${from} is not plumbed on the netns datapath (is the pod Running?)`);
    const proc = this.topo.pod(p.key);
    // a pod's secondary interface: its probes leave from that interface's address (the pod's source routing
    // sends them out of that interface, as the simulated stack of that interface does)
    if (!from.includes("@")) return proc;
    return { probe: (q) => proc.probe({ ...q, src: p.ip }) };
  }

  /**
   * The route a service chain gives the source's VRF for `dst` ("route: … from service-instance …, leaked by
   * …"), as the sim trace's route step names it; undefined when no chain is on the way.
   */
  private chainRoute(from: string, dst: string): string | undefined {
    // a chain needs a forwarding pod: without one, no probe pays for the look-up
    if (![...this.pods.values()].some((x) => x.forwardDrop)) return undefined;
    const p = this.pods.get(from);
    const t = p && this.tables.get(p.node);
    const vif = t && [...t.vifs.values()].find((v) => v.name === p.tap);
    if (!t || !vif) return undefined;
    let idx = this.indexes.get(t);
    if (!idx) {
      idx = new TablesIndex(t);
      this.indexes.set(t, idx);
    }
    const r = idx.lookup(vif.vrf, dst)?.route;
    if (r?.origin?.type !== "service-instance") return undefined;
    return `route on ${p.node}: ${dst} matches ${r.prefix} in VRF ${vif.vrf} from service-instance ${r.origin.fqName.join(":")}${r.leakedBy ? `, leaked by ${r.leakedBy}` : ""}`;
  }

  /** Forwarded datagrams per forwarding pod ("<ns>/<pod>" → the kernel's Ip ForwDatagrams in its namespace). */
  private async forwardedCounts(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const pods = new Map<string, NetnsPod>();
    for (const p of this.pods.values()) if (p.forwardDrop && !p.endpoint.includes("@")) pods.set(p.key, p);
    await Promise.all(
      [...pods.values()].map(async (p) => {
        const r = await execIn(p.netns, "cat", ["/proc/net/snmp"]).catch(() => undefined);
        const lines = r?.code === 0 ? r.stdout.split("\n").filter((l) => l.startsWith("Ip:")) : [];
        const col = lines[0]?.split(/\s+/).indexOf("ForwDatagrams") ?? -1;
        const v = col > 0 ? Number(lines[1]?.split(/\s+/)[col]) : Number.NaN;
        if (Number.isFinite(v)) out.set(p.endpoint, v);
      }),
    );
    return out;
  }

  /** Route look-up indexes of the computes' tables, built once per tables version. */
  private readonly indexes = new WeakMap<VrouterTables, TablesIndex>();

  /** Packets each forwarding pod's FORWARD drop rules counted, last time they were read. */
  private readonly forwardCounts = new Map<string, number>();

  /**
   * The FORWARD drop rules of forwarding pods (a firewall in a service chain) whose iptables packet counters
   * grew since the last look: "<pod>: its FORWARD rule -p tcp --dport 8080 -j DROP (iptables: +1 packets)".
   */
  private async forwardDropsSinceLastLook(): Promise<{ pod: string; rule: string; text: string }[]> {
    const out: { pod: string; rule: string; text: string }[] = [];
    const seen = new Set<string>();
    for (const p of this.pods.values()) {
      if (!p.forwardDrop?.length || seen.has(p.key)) continue;
      seen.add(p.key);
      const r = await execIn(p.netns, "iptables", ["-L", "FORWARD", "-v", "-n", "-x"]).catch(() => undefined);
      if (r?.code !== 0) continue;
      for (const line of r.stdout.split("\n")) {
        // the protocol column is a name or (newer iptables) its number
        const m = /^\s*(\d+)\s+\d+\s+DROP\s+(tcp|udp|6|17)\s.*\bdpt:(\d+)/.exec(line);
        if (!m) continue;
        const proto = m[2] === "6" ? "tcp" : m[2] === "17" ? "udp" : m[2];
        const rule = `-p ${proto} --dport ${m[3]} -j DROP`;
        const key = `${p.key} ${rule}`;
        const n = Number(m[1]);
        const grew = n - (this.forwardCounts.get(key) ?? 0);
        this.forwardCounts.set(key, n);
        if (grew > 0)
          out.push({
            pod: p.endpoint,
            rule,
            text: `${p.endpoint}: its FORWARD rule ${rule} (iptables: +${grew} packets)`,
          });
      }
    }
    return out;
  }

  private ownerOf(ip: string): string | undefined {
    for (const p of this.pods.values()) if (p.ip === ip) return p.endpoint;
    for (const [name, h] of this.hosts) if (h.ip === ip) return `host:${name}`;
    for (const [name, h] of this.externals) if (h.ip === ip) return `external:${name}`;
    return undefined;
  }

  /** Received packets on each pod interface (eth0, or a secondary interface for its own endpoint) and every fabric host's eth0. */
  private async rxCounters(): Promise<Map<string, number>> {
    // each endpoint's own interface: a pod's secondary interfaces are endpoints of their own
    const all = [...this.pods.values()].map((p) => [p.endpoint, p.netns, p.ifname ?? "eth0"] as const);
    for (const [name, h] of this.hosts) all.push([`host:${name}`, h.netns, "eth0"]);
    for (const [name, h] of this.externals) all.push([`external:${name}`, h.netns, "eth0"]);
    const out = new Map<string, number>();
    await Promise.all(
      all.map(async ([endpoint, netns, ifname]) => {
        const r = await execIn(netns, "cat", [`/sys/class/net/${ifname}/statistics/rx_packets`]);
        if (r.code === 0) out.set(endpoint, Number(r.stdout.trim()));
      }),
    );
    return out;
  }

  private async firstDropSince(t: number): Promise<{ compute: string; drop: RecentDrop } | undefined> {
    let first: { compute: string; drop: RecentDrop } | undefined;
    for (const c of this.topo.spec.computes) {
      const s = await this.topo
        .vrouter(c.name)
        .status()
        .catch(() => undefined);
      for (const d of s?.recentDrops ?? []) {
        if (d.at >= t && (!first || d.at < first.drop.at)) first = { compute: c.name, drop: d };
      }
    }
    return first;
  }
}

/** The endpoint (other than the prober) whose interface received the most packets between two readings. */
function busiest(before: Map<string, number>, after: Map<string, number>, self: string): string | undefined {
  let best: string | undefined;
  let most = 0;
  for (const [ep, n] of after) {
    const d = n - (before.get(ep) ?? n);
    if (ep !== self && d > most) {
      most = d;
      best = ep;
    }
  }
  return best;
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new NetnsDatapathError(`${what} within ${ms} ms`)), ms);
    }),
  ]);
}
