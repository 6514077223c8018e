/**
 * Brings up a whole testbed for a scenario: the fake config API with its config daemons, a Kubernetes backend,
 * the controller, the vrouter agents, a datapath and one node emulator per scenario node — and tears it down.
 * The result is a `Testbed` the scenario runner drives; the settle barrier lives here because only this
 * module sees every component.
 *
 * Example: `const tb = await startTestbed(loadScenario(f), { datapath: "sim", cluster: { kind: "embedded" } })`.
 */
import { passwordToken } from "../controller/vnc/keystone";
import type { Identity } from "../fake-contrail-api/auth/identity";
import { resolve } from "node:path";
import { type KubeApi } from "../controller/kube/api";
import { startController } from "../controller/index";
import type { ControllerConfig } from "../controller/config";
import { controllerConfigOf } from "./scenario/controller";
import type { Logger } from "../controller/index";
import { startApiServer } from "../fake-contrail-api/server";
import { startConfigDaemons } from "../fake-contrail-api/daemons/index";
import { type Agents, startAgents } from "../fake-vrouter/agent/index";
import type { DatapathSnapshot, DatapathStats } from "../fake-vrouter/datapath/engine";
import { runTool, type VrouterView } from "../fake-vrouter/tools/index";
import type { SdnGateway } from "../fake-vrouter/agent/sdn-gateway";
import { createEmbeddedCluster } from "./cluster/embedded/index";
import { realClusterQuiet } from "./cluster/quiet";
import type { CaptureHandle, CaptureTarget } from "./capture";
import type { NetnsEndpoint } from "./netns-datapath";
import { type NodeEmulator, type PodPlumber, startNodeEmulator } from "./node/emulator";
import { declaredPorts, PortApiPlumber } from "./node/port-api-plumber";
import type {
  DnsRequest,
  DnsResult,
  HttpRequest,
  HttpResult,
  ProbeRequest,
  ProbeResult,
  ReachOutcome,
  Testbed,
} from "./runner/testbed";
import type { PortCuts } from "../fake-vrouter/datapath/port-space";
import type { Arrival, DryRunImage } from "../fake-vrouter/datapath/sim-network";
import type { DryRunBatch } from "../fake-vrouter/datapath/dry-run-pool";
import type { PortWindow } from "../fake-vrouter/datapath/port-window";
import { clusterDnsAddress, kubeletResolvConf, zoneInputFrom } from "../cluster-dns/cluster";
import { buildZone, type ZoneInput } from "../cluster-dns/zone";
import type { Scenario } from "./scenario/types";
import { SimDatapath } from "./sim-datapath";
import { assertPrerequisites, PrerequisiteError } from "./prereqs";

export type ClusterChoice = { kind: "embedded" } | { kind: "local" } | { kind: "kubeconfig"; path: string };

export interface EnvOptions {
  datapath: "sim" | "netns";
  cluster: ClusterChoice;
  /**
   * Who runs the pods: the node emulator (default), or real kubelet + containerd nodes, one per compute, whose
   * containerd calls the CNI plugin (needs the local cluster and the netns datapath; testbed/cluster/kubelet).
   */
  nodes?: "emulated" | "kubelet";
  /** `--nodes kubelet`: the CNI executable containerd calls instead of bin/contrail-k8s-cni (a bench's wrapper). */
  kubeletCniPlugin?: string;
  /** `--nodes kubelet`: also import deploy/'s image (contrail-k8s-testbed:dev) into the nodes, to run deploy/ there. */
  kubeletDeployImage?: boolean;
  /** Where persistent state lives (kubeconfig of the local control plane, pid files). */
  workDir?: string;
  /**
   * The run's record (testbed/run-record.ts): what the testbed starts is recorded there as it starts it —
   * processes with their start times, namespaces, the control plane's components — and CNI state lives there.
   */
  stateDir?: string;
  /** Aborting stops a start in progress: what was started is torn down and startTestbed rejects. */
  signal?: AbortSignal;
  log?: (msg: string) => void;
}

/** Fabric (underlay) address of the i-th node when the scenario gives none. */
export function defaultNodeIp(i: number): string {
  return `10.84.31.${11 + i}`;
}

/**
 * The SDN gateway the agents peer with, when the scenario has one: its fabric address defaults to .250 of
 * the first node's fabric /24; its hosts are the scenario's external hosts.
 */
export function gatewayFor(scenario: Scenario): SdnGateway | undefined {
  const g = scenario.gateway;
  if (!g) return undefined;
  const first = scenario.nodes[0]?.ip ?? defaultNodeIp(0);
  return {
    name: g.name,
    fabricIp: g.ip ?? `${first.split(".").slice(0, 3).join(".")}.250`,
    importRouteTargets: g.importRouteTargets,
    hosts: scenario.externalHosts.map((h) => ({ name: h.name, ip: h.ip })),
  };
}

export function controllerConfigFor(scenario: Scenario): ControllerConfig {
  return controllerConfigOf(scenario.controller);
}

/** A testbed built here: the runner's `Testbed` plus where pods live on the netns datapath (for `ctb exec`). */
export interface EnvTestbed extends Testbed {
  /** Namespace, node and address of "<ns>/<pod>" or "host:<name>"; undefined on the simulated datapath. */
  netnsEndpoint(name: string): NetnsEndpoint | undefined;
  /** Prometheus endpoints on 127.0.0.1: "controller", "config-api", "vrouter <compute>". */
  metrics: Record<string, string>;
  /** Capture a pod's vif, a compute's fabric port or the whole fabric into a pcap file (`limit` frames if > 0). */
  capture(target: CaptureTarget, file: string, limit?: number): Promise<CaptureHandle>;
  /** The vrouters' names (the nodes, and the SDN gateway when the scenario has one). */
  vrouters(): string[];
  /** One vrouter's live tables, flow table and counters; rejects naming the vrouters for an unknown name. */
  vrouterView(node: string): Promise<VrouterView>;
  /** The agent introspect of each vrouter (Sandesh-style HTTP on 127.0.0.1): "<node>" → base URL. */
  introspect: Record<string, string>;
  /**
   * Calls `cb` with a vrouter's name each time its agent recomputes its tables or a probe may have made flows
   * there (the web view's live pages); returns the way to stop.
   */
  onVrouterChange(cb: (node: string, what: "tables" | "flows") => void): () => void;
}

export async function startTestbed(scenario: Scenario, opts: EnvOptions): Promise<EnvTestbed> {
  // say everything the machine lacks before starting anything (nothing half-started to tear down)
  await assertPrerequisites(opts);
  const log = opts.log ?? (() => {});
  const workDir = opts.workDir ?? resolve(".ctb");
  const closers: (() => Promise<unknown> | unknown)[] = [];
  let closing: Promise<void> | undefined;
  // once, however many callers (the run's finally, an interrupt's teardown) ask
  const close = () =>
    (closing ??= (async () => {
      for (const c of closers.splice(0).reverse())
        await Promise.resolve(c()).catch((e) => log(`teardown: ${(e as Error).message}`));
    })());
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new Error(`testbed start interrupted (${String(opts.signal.reason)})`);
  };
  // real nodes' images are built (or reused) before anything starts: a build failure leaves nothing behind
  const images =
    opts.nodes === "kubelet"
      ? await (await import("./cluster/kubelet/index")).kubeletImages(
          opts.kubeletDeployImage ? ["testbed"] : [],
        )
      : undefined;
  let releaseNodesLock = () => {};
  if (opts.nodes === "kubelet") {
    const { acquireNodesLock, nodeAddressesTaken } = await import("./cluster/kubelet/node");
    // one kubelet-nodes environment at a time on a machine: a second one waits for the first to end
    releaseNodesLock = await acquireNodesLock({
      stateDir: opts.stateDir ?? workDir,
      signal: opts.signal,
      log: (m) => process.stderr.write(`ctb: ${m}\n`),
    });
    const taken = await nodeAddressesTaken(scenario.nodes.map((n, i) => n.ip ?? defaultNodeIp(i)));
    if (taken.length) {
      releaseNodesLock();
      throw new PrerequisiteError(taken);
    }
    closers.push(() => releaseNodesLock());
  }
  try {
    const config = controllerConfigFor(scenario);
    const auth = scenario.auth && scenario.auth.aaaMode !== "no-auth" ? scenario.auth : undefined;
    const api = await startApiServer({
      port: 0,
      quiet: true,
      ...(auth ? { auth: { aaaMode: auth.aaaMode, identity: auth.identity } } : {}),
    });
    closers.push(() => api.close());
    // with authentication on, the config daemons, agents and runner use the admin port (upstream's LocalAuth)
    const apiUrl = api.adminUrl ?? api.url;
    const daemons = await startConfigDaemons({ apiUrl });
    closers.push(() => daemons.stop());

    checkAbort();
    const realNodes = opts.nodes === "kubelet";
    const cluster = await startCluster(
      opts.cluster,
      config,
      workDir,
      opts,
      scenario.auth !== undefined,
      realNodes,
    );
    closers.push(() => cluster.close());
    // real nodes cannot pull: what the runner writes runs the local echo image (the overlay says so per pod)
    const kube = images
      ? (await import("./cluster/kubelet/index")).localImageOverlay(cluster.kube, images.echo.ref)
      : cluster.kube;
    checkAbort();

    // statusPort 0: /metrics and /status on a free 127.0.0.1 port, in every mode
    const controller = await startController({
      kube,
      // with authentication on it talks to the public port with keystone tokens, as kube-manager's [AUTH] does
      vncUrl: api.url,
      config,
      log: quietLogger(log),
      statusPort: 0,
      ...(auth ? { keystone: keystoneAdmin(auth.identity, api.keystoneUrl!) } : {}),
    });
    closers.push(() => controller.stop());
    const gateway = gatewayFor(scenario);
    const agents = await startAgents({ apiUrl, ...(gateway ? { gateway } : {}) });
    closers.push(() => agents.stop());

    const metrics: Record<string, string> = { "config-api": api.metricsUrl };
    if (controller.statusUrl) metrics.controller = `${controller.statusUrl}/metrics`;
    let datapathStats: DatapathHandle["stats"] | undefined; // the datapath starts after the port APIs
    const portApis = new Map<string, string>();
    for (const n of scenario.nodes) {
      const portApi = await agents.startPortApi(n.name, {
        host: "127.0.0.1",
        port: 0,
        datapathStats: () => datapathStats?.(n.name),
      });
      closers.push(() => portApi.close());
      portApis.set(n.name, portApi.url);
      metrics[`vrouter ${n.name}`] = `${portApi.url}/metrics`;
    }
    checkAbort();
    const dp = await startDatapath(opts.datapath, scenario, {
      agents,
      kube,
      clusterName: config.clusterName,
      portApis,
      workDir,
      stateDir: opts.stateDir,
      log,
    });
    closers.push(() => dp.close());
    datapathStats = (c) => dp.stats(c);
    checkAbort();

    // the vrouters' own tools and introspect read the agent's tables and the datapath's flows and counters
    const vrouters = [...scenario.nodes.map((n) => n.name), ...(gateway ? [gateway.name] : [])];
    const vrouterView = async (node: string): Promise<VrouterView> => {
      const tables = vrouters.includes(node) ? agents.tables(node) : undefined;
      if (!tables)
        throw new Error(`no vrouter "${node}" in this testbed (there are: ${vrouters.join(", ")})`);
      return { tables, datapath: await dp.snapshot(node) };
    };
    // who follows the vrouters' state (the web view): told of each agent recomputation and each probe's flows
    const vrouterListeners = new Set<(node: string, what: "flows") => void>();
    const flowsChanged = () => {
      for (const cb of vrouterListeners) for (const node of vrouters) cb(node, "flows");
    };
    const introspect: Record<string, string> = {};
    const { startIntrospect } = await import("../fake-vrouter/introspect/server");
    for (const node of vrouters) {
      const server = await startIntrospect({ compute: node, view: () => vrouterView(node) });
      closers.push(() => server.close());
      introspect[node] = server.url;
    }

    const nodes: NodeEmulator[] = [];
    // all at once: a node stopping waits for its pods' work in flight (a port waiting for the agent's next
    // recomputation), and fifty nodes one after another waited fifty times
    closers.push(() => Promise.all(nodes.map((n) => n.stop())));
    if (realNodes) {
      const { startKubeletBackend } = await import("./cluster/kubelet/index");
      if (!dp.netns || !cluster.local || !images)
        throw new Error("--nodes kubelet needs --cluster local and --datapath netns");
      const tag = dp.netns.topo.prefix.replace(/^ctb-/, "").replace(/-$/, "");
      const backend = await startKubeletBackend({
        kube: cluster.kube,
        dp: dp.netns,
        nodes: scenario.nodes.map((n, i) => ({ name: n.name, ip: n.ip ?? defaultNodeIp(i) })),
        clusterName: config.clusterName,
        portApiPort: (node) => Number(new URL(portApis.get(node)!).port),
        apiServerUrl: cluster.local.apiServerUrl,
        pki: cluster.local.pki,
        binDir: cluster.local.binDir,
        stateDir: opts.stateDir ?? resolve(workDir, `kubelet-${tag}`),
        tag,
        images,
        ...(opts.kubeletCniPlugin ? { cniPluginPath: opts.kubeletCniPlugin } : {}),
        signal: opts.signal,
        log,
      });
      closers.push(() => backend.close());
      nodes.push(...backend.nodes);
    }
    for (const [i, n] of (realNodes ? [] : scenario.nodes).entries()) {
      const node = await startNodeEmulator({
        kube,
        name: n.name,
        ip: n.ip ?? defaultNodeIp(i),
        plumber: dp.plumber,
        leaseRenewMs: opts.cluster.kind === "embedded" ? 0 : 10_000,
        log,
      });
      nodes.push(node);
    }

    const marker = async () => `${api.seq()}|${(await kube.list("namespaces")).resourceVersion}`;
    // a pod whose network is blocked on what no one in the cluster will create (an annotated network that does
    // not exist) is not waited for: the controller has reported it and keeps retrying in the background
    const blockedPod = (pod: string) => controller.blocked().has(`Pod/${pod}`);
    const settleTimeoutMs = settleTimeout(opts.cluster);
    /** What the barrier still waits for, one item per component that is not done. */
    const waitingFor = (stage: string): string => {
      const seq = api.seq();
      const items: string[] = [];
      const clusterWork = cluster.pending?.();
      if (clusterWork) items.push(clusterWork);
      if (!controller.isIdle()) {
        const st = controller.status();
        items.push(
          `controller (queue ${st.queueDepth}, in flight ${st.inflight}, failing ${st.failing}${st.lastError ? `, last error: ${st.lastError}` : ""})`,
        );
      }
      if (daemons.appliedSeq() < seq) items.push(`config daemons at seq ${daemons.appliedSeq()} < ${seq}`);
      if (agents.appliedSeq() < seq) items.push(`vrouter agents at seq ${agents.appliedSeq()} < ${seq}`);
      nodes.forEach((n, i) => {
        if (!n.busy(blockedPod)) return;
        // a pod whose network setup keeps failing is named with the failure, not just "busy"
        const failing = [...n.failing()].filter(([pod]) => !blockedPod(pod));
        const shown = failing.slice(0, 5).map(([pod, why]) => `${pod}: ${why}`);
        if (failing.length > 5) shown.push(`${failing.length - 5} more`);
        items.push(
          `${realNodes ? "kubelet node" : "node emulator"} ${scenario.nodes[i]!.name}${shown.length ? ` (network setup failing, retried: ${shown.join("; ")})` : ""}`,
        );
      });
      return items.length > 0 ? items.join(", ") : stage;
    };
    const settle = async () => {
      let stage = "the first round";
      const rounds = (async () => {
        for (let round = 0; round < 100; round++) {
          const before = await marker();
          stage = "the Kubernetes cluster to go quiet";
          await cluster.quiet();
          stage = "the controller to go idle";
          // what a blocked pod waits for may have been created meanwhile (a vnc step): look again now
          controller.retryBlocked();
          await controller.waitIdle();
          stage = "the config daemons";
          await daemons.whenCaughtUp(api.seq());
          stage = "the vrouter agents";
          await agents.whenCaughtUp(api.seq());
          stage = "the node emulators";
          await Promise.all(nodes.map((n) => n.idle(blockedPod)));
          const after = await marker();
          if (before === after && controller.isIdle() && !nodes.some((n) => n.busy(blockedPod))) return;
          stage = `changes to stop (still changing in round ${round + 1}: ${before} -> ${after})`;
        }
        throw new Error(`the testbed did not settle: still changing after 100 rounds (${await marker()})`);
      })();
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `settle: still waiting after ${Math.round(settleTimeoutMs / 1000)} s for: ${waitingFor(stage)} ` +
                  "(CTB_SETTLE_TIMEOUT_MS sets the limit)",
              ),
            ),
          settleTimeoutMs,
        );
      });
      rounds.catch(() => {}); // after a timeout, a later failure of the abandoned rounds is not news
      try {
        return await Promise.race([rounds, expired]);
      } finally {
        clearTimeout(timer);
      }
    };

    return {
      kube,
      vncUrl: apiUrl,
      userEndpoint: async (user, project) => {
        const base = api.url;
        // no-auth: nobody is asked for a token
        if (!auth || !api.keystone) return { base, headers: {} as Record<string, string> };
        const u = auth.identity.users.get(user);
        if (!u) throw new Error(`as: no user "${user}" in the scenario's auth.users`);
        // the project asked for when the user holds a role there, else one they do (or none: unscoped)
        const scope =
          project !== undefined && api.keystone.rolesOf(user, project).length
            ? project
            : api.keystone.projectsOf(user)[0];
        return {
          base,
          headers: { "x-auth-token": await passwordToken(api.keystoneUrl!, user, u.password, scope) },
        };
      },
      datapath: opts.datapath,
      // netns: the CoreDNS pods' servers answer from the cluster as it settled (CoreDNS watches the API)
      settle: dp.setDnsZone
        ? async () => {
            await settle();
            await dp.setDnsZone!(await zoneInputFrom(kube));
          }
        : settle,
      probe: async (req) => {
        try {
          return await dp.probe(req);
        } finally {
          flowsChanged(); // a probe makes flows and moves counters: the web view's vrouter pages follow
        }
      },
      resolve: async (req) => dp.resolve(req, await zoneInputFrom(kube)),
      setReadiness: async (pod, passing) => {
        const [namespace, podName] = pod.split("/") as [string, string];
        const obj = await kube.get("pods", podName, namespace);
        const node = nodes.find((n) => n.name === obj.spec?.nodeName);
        if (!node || !(await node.setReadiness(pod, passing)))
          throw new Error(
            `pod ${pod} does not run on any node of this testbed (node ${obj.spec?.nodeName ?? "none"})`,
          );
      },
      setHealth: async (pod, passing) => {
        const [namespace, podName] = pod.split("/") as [string, string];
        const obj = await kube.get("pods", podName, namespace);
        return agents.setHealthAnswer(obj.metadata.uid!, passing);
      },
      http: dp.http ? (req) => dp.http!(req) : undefined,
      reach: dp.reach ? (req) => dp.reach!(req) : undefined,
      reachOutcome: dp.reachOutcome
        ? (req, onArrival, window) => dp.reachOutcome!(req, onArrival, window)
        : undefined,
      reachMany: dp.reachMany ? (batch, progress) => dp.reachMany!(batch, progress) : undefined,
      dryRunImage: dp.dryRunImage ? () => dp.dryRunImage!() : undefined,
      takeEphemeral: dp.takeEphemeral ? (n) => dp.takeEphemeral!(n) : undefined,
      portCuts: (proto) => dp.portCuts(proto),
      ecmpPossible: dp.ecmpPossible ? (ip) => dp.ecmpPossible!(ip) : undefined,
      netnsEndpoint: (name) => dp.netnsEndpoint?.(name),
      metrics,
      capture: (target, file, limit) => dp.capture(target, file, limit),
      fabricHostIp: (name) => scenario.fabricHosts.find((h) => h.name === name)?.ip,
      externalHostIp: (name) => scenario.externalHosts.find((h) => h.name === name)?.ip,
      warnings: () => [...controller.warnings(), ...daemons.warnings()],
      vrouters: () => [...vrouters],
      vrouterView,
      onVrouterChange: (cb) => {
        vrouterListeners.add(cb);
        const off = agents.onTables((node) => cb(node, "tables"));
        return () => {
          vrouterListeners.delete(cb);
          off();
        };
      },
      vrouterTool: async (node, argv) => runTool(argv[0] ?? "", argv.slice(1), await vrouterView(node)),
      introspect,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** kube-manager's `[AUTH]` user: the identity's first user holding the admin role, on that project. */
function keystoneAdmin(identity: Identity, url: string) {
  for (const u of identity.users.values())
    for (const [project, roles] of u.roles)
      if (roles.includes("admin")) return { url, user: u.name, password: u.password, project };
  throw new Error("auth.users: no user holds the admin role"); // the scenario loader refuses such a file first
}

/** The datapath half of a testbed: how pods get their network, and how probes travel. */
interface DatapathHandle {
  plumber: PodPlumber;
  /** The netns datapath itself (real kubelet nodes hand it the pods containerd plumbed). */
  netns?: import("./netns-datapath").NetnsDatapath;
  probe(req: ProbeRequest): Promise<ProbeResult>;
  http?(req: HttpRequest): Promise<HttpResult>;
  /** One DNS query through the datapath, answered from the cluster state given (`cluster-dns`). */
  resolve(req: DnsRequest, zone: ZoneInput): Promise<DnsResult>;
  /** netns: hand the CoreDNS pods' servers the cluster state they answer from. */
  setDnsZone?(zone: ZoneInput): Promise<void>;
  /** The dry-run verdict of a new connection (sim only: `Testbed.reach`). */
  reach?(req: Omit<ProbeRequest, "count">): boolean;
  /** `Testbed.dryRunImage` (sim only). */
  dryRunImage?(): DryRunImage;
  /** `Testbed.takeEphemeral` (sim only). */
  takeEphemeral?(n: number): Uint16Array;
  /** Dry runs of a batch of cells (sim only: `Testbed.reachMany`). */
  reachMany?(batch: DryRunBatch, progress?: (done: number) => void): Promise<Uint8Array>;
  /** The dry run's full outcome (sim only: `Testbed.reachOutcome`). */
  reachOutcome?(
    req: Omit<ProbeRequest, "count">,
    onArrival?: (a: Arrival) => void,
    window?: PortWindow,
  ): ReachOutcome;
  /** `Testbed.portCuts`: the tables' port numbers and the listening ports of every endpoint. */
  portCuts(proto: "tcp" | "udp" | "sctp"): Promise<PortCuts>;
  /** `Testbed.ecmpPossible` (sim only). */
  ecmpPossible?(ip: string): boolean;
  /** netns only: where a pod or fabric host lives, for `ctb exec`. */
  netnsEndpoint?(name: string): NetnsEndpoint | undefined;
  /** A compute's forwarding counters, for its vrouter's /metrics. */
  stats(compute: string): Promise<DatapathStats | undefined>;
  /** A compute's flow table and counters, for the vrouter tools and introspect. */
  snapshot(compute: string): Promise<DatapathSnapshot | undefined>;
  capture(target: CaptureTarget, file: string, limit?: number): Promise<CaptureHandle>;
  close(): Promise<void>;
}

async function startDatapath(
  kind: EnvOptions["datapath"],
  scenario: Scenario,
  o: {
    agents: Agents;
    kube: KubeApi;
    clusterName: string;
    portApis: Map<string, string>;
    workDir: string;
    stateDir?: string;
    log: (m: string) => void;
  },
): Promise<DatapathHandle> {
  if (kind === "netns") {
    const { NetnsDatapath } = await import("./netns-datapath");
    const dp = await NetnsDatapath.start({
      agents: o.agents,
      computes: scenario.nodes.map((n, i) => ({ name: n.name, fabricIp: n.ip ?? defaultNodeIp(i) })),
      fabricHosts: scenario.fabricHosts,
      gateway: gatewayFor(scenario),
      externalHosts: scenario.externalHosts,
      clusterName: o.clusterName,
      portApiPort: (node) => Number(new URL(o.portApis.get(node)!).port),
      workDir: o.workDir,
      stateDir: o.stateDir,
      log: o.log,
      // kubelet's resolv.conf for each pod, naming the kube-dns Service when the cluster has one
      resolvConf: async (pod) => {
        const dns = await clusterDnsAddress(o.kube);
        return "ip" in dns ? kubeletResolvConf(pod, dns.ip) : undefined;
      },
    });
    return {
      plumber: dp.plumber,
      netns: dp,
      probe: (req) => dp.probe(req),
      resolve: async (req, zone) => {
        await dp.setDnsZone(zone);
        return dp.resolve(req);
      },
      setDnsZone: (zone) => dp.setDnsZone(zone),
      http: (req) => dp.http(req),
      // the vrouters' tables and the hosts' listening ports, and what each pod's process serves
      portCuts: async (proto) => {
        const cuts = dp.portCuts(proto);
        for (const pod of (await o.kube.list("pods")).items)
          for (const p of declaredPorts(pod))
            if (p.proto === proto) {
              // a listening port is a piece of its own
              cuts.dst.add(p.port);
              cuts.dst.add(p.port + 1);
            }
        return cuts;
      },
      netnsEndpoint: (name) => dp.endpoint(name),
      stats: (c) => dp.stats(c),
      snapshot: (c) => dp.snapshot(c),
      capture: (t, file, limit) => dp.capture(t, file, limit),
      close: () => dp.close(),
    };
  }
  const sim = new SimDatapath(
    o.agents,
    scenario.fabricHosts,
    scenario.nodes.map((n) => n.name),
    gatewayFor(scenario),
    scenario.externalHosts,
  );
  const plumber = new PortApiPlumber({
    clusterName: o.clusterName,
    portApiUrl: (node) => o.portApis.get(node)!,
    attach: (a) => sim.attach(a),
    detach: (node, endpoint) => sim.detach(node, endpoint),
    // woken only once the agent would answer what the pod waits for (one GET, not one per config step); so
    // precise a wake-up needs the plumber's fallback polls only as a rare safety net
    waitForChange: (keys, ms, signal, ask) =>
      o.agents.whenTouched(
        keys,
        ask ? Math.max(ms, 30_000) : ms,
        signal,
        ask &&
          (() => {
            const answer = o.agents.polledAnswer(ask.node, ask.path);
            return answer === undefined || (answer.body !== undefined && ask.ready(answer.body));
          }),
      ),
    preciseWait: true,
    // woken by the agent, a pod can wait as long as the controller needs to reach it (5,000 pods) without
    // failing and being retried, which would rewrite its status each time
    timeoutMs: 300_000,
  });
  return {
    plumber,
    probe: async (req) => sim.probe(req),
    resolve: async (req, zone) => sim.resolve(req, buildZone(zone)),
    http: async (req) => sim.http(req),
    reach: (req) => sim.reach(req),
    reachOutcome: (req, onArrival, window) => sim.reachOutcome(req, onArrival, window),
    reachMany: (batch, progress) => sim.reachMany(batch, progress),
    dryRunImage: () => sim.dryRunImage(),
    takeEphemeral: (n) => sim.takeEphemeral(n),
    portCuts: async (proto) => sim.portCuts(proto),
    ecmpPossible: (ip) => sim.ecmpPossible(ip),
    stats: async (c) => sim.stats(c),
    snapshot: async (c) => sim.snapshot(c),
    capture: async (t, file, limit) => sim.capture(t, file, limit),
    close: async () => sim.close(),
  };
}

interface ClusterHandle {
  kube: KubeApi;
  /** Resolves when the backend's own controllers have nothing pending (embedded); real clusters: no-op. */
  quiet(): Promise<void>;
  /** The backend's pending work in a line, for a settle that timed out (embedded only). */
  pending?(): string | undefined;
  /** The local control plane's address, CA and binaries (real kubelet nodes join it). */
  local?: { apiServerUrl: string; pki: import("./cluster/local/pki").Pki; binDir: string };
  close(): Promise<void>;
}

/**
 * How long one settle may take: $CTB_SETTLE_TIMEOUT_MS, else 60 s on the embedded cluster (which settles in
 * milliseconds) and 180 s on a real one (its own convergence check gives up after 90 s per pass).
 */
export function settleTimeout(choice: ClusterChoice, env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.CTB_SETTLE_TIMEOUT_MS);
  if (Number.isFinite(v) && v > 0) return v;
  return choice.kind === "embedded" ? 60_000 : 180_000;
}

async function startCluster(
  choice: ClusterChoice,
  config: ControllerConfig,
  workDir: string,
  o: Pick<EnvOptions, "stateDir" | "signal">,
  rbac = false,
  kubelets = false,
): Promise<ClusterHandle> {
  if (choice.kind === "embedded") {
    const cluster = createEmbeddedCluster({
      serviceSubnet: config.serviceSubnets[0],
      podSubnet: config.podSubnets[0],
    });
    // a scenario with users gets the stock ClusterRoles (cluster-admin, admin, edit, view) a real cluster has
    if (rbac) cluster.installBootstrapPolicy();
    return {
      kube: cluster,
      quiet: () => cluster.waitQuiet(),
      pending: () => cluster.pendingWork(),
      close: async () => cluster.close(),
    };
  }
  const { HttpKubeApi } = await import("../controller/kube/http");
  if (choice.kind === "kubeconfig") {
    const kube = HttpKubeApi.fromKubeconfig(choice.path);
    return { kube, quiet: () => realClusterQuiet(kube), close: async () => {} };
  }
  const { defaultBinDir, startLocalControlPlane } = await import("./cluster/local/index");
  const cp = await startLocalControlPlane({
    workDir,
    serviceSubnet: config.serviceSubnets[0],
    stateDir: o.stateDir,
    signal: o.signal,
    kubelets,
  });
  process.stderr.write(`ctb: local control plane up; kubeconfig: ${cp.kubeconfigPath}\n`);
  const kube = HttpKubeApi.fromKubeconfig(cp.kubeconfigPath);
  return {
    kube,
    quiet: () => realClusterQuiet(kube),
    local: { apiServerUrl: cp.apiServerUrl, pki: cp.pki, binDir: defaultBinDir() },
    close: () => cp.stop(),
  };
}

/** Controller warnings and errors go to the testbed log; its info chatter does not. */
function quietLogger(log: (m: string) => void): Logger {
  return {
    log(level, msg, fields) {
      if (level === "warn" || level === "error")
        log(`controller ${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ""}`);
    },
  };
}
