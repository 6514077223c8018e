/**
 * The netns datapath: real packets between real network namespaces, forwarded by one vrouter process per
 * compute through the same `VrouterDatapath` engine the simulation uses.
 *
 *   pod ns ──veth── compute ns (`<prefix><compute>`, vrouter process, taps + fabric0) ──veth── underlay ns
 *   (`<prefix>underlay`, bridge br0) ──veth── other computes and fabric hosts (plain namespaces with an IP).
 *
 * Computes carry no addresses: the vrouter answers ARP for the fabric IP and terminates MPLSoUDP itself.
 * Every namespace carries the prefix, every veth is born inside such namespaces, nothing touches the root
 * namespace, and `cleanupAll(prefix)` removes processes (by recorded pid) and namespaces after a crash.
 *
 * Example:
 *   const topo = await NetnsTopology.create({ computes: [{ name: "compute-1", fabricIp: "10.0.0.11" }] });
 *   await topo.startVrouters(); attachAgents(topo, agents); … ; await topo.destroy();
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fabricMacFor } from "../datapath/engine";
import type { VrouterTables } from "../tables";
import {
  addNetns,
  addVethBetween,
  assertTestbedName,
  delNetns,
  exec,
  execIn,
  ipBatch,
  ipIn,
  listNetns,
  NETNS_ETC,
  NetnsError,
  PREFIX,
  removeNetnsEtc,
  writeNetnsResolvConf,
} from "./ns";
import {
  DEFAULT_STATE_DIR,
  forgetNamespace,
  forgetProcess,
  listNamespaceRecords,
  listProcesses,
  type ProcessRecord,
  processStartTime,
  recordNamespace,
  stillRunning,
  stopProcess,
} from "./pidfiles";
import { PodProcess, type ServedPort } from "./pod-process";
import { VrouterProcess } from "./vrouter-process";

export { VrouterProcess } from "./vrouter-process";
export { PodProcess, type ServedPort } from "./pod-process";
export { CaptureProcess } from "./capture-process";
export type { PodProbe, ProbeOutcome } from "./protocol";
export type { VrouterStatus, RecentDrop } from "./protocol";
export { listNetns, execIn, netnsUsable, ownedPrefix, ownerPid } from "./ns";

/** Name of the compute's underlay-facing interface: the vif the agent calls "fabric0". */
export const FABRIC_IFNAME = "fabric0";
const BRIDGE = "br0";

export interface ComputeSpec {
  name: string;
  fabricIp: string;
}

export interface FabricHostSpec {
  name: string;
  ip: string;
  /** Extra routes on the host, e.g. a pod subnet via a compute's fabric IP (ip-fabric forwarding). */
  routes?: { dst: string; via: string }[];
}

export interface TopologySpec {
  /** Namespace prefix; must start with "ctb-". Default "ctb-". */
  prefix?: string;
  computes: ComputeSpec[];
  fabricHosts?: FabricHostSpec[];
  fabricPrefixLen?: number;
  /** Where pid files and namespace markers go (default /run/ctb, or $CTB_STATE_DIR): the run's record. */
  stateDir?: string;
  /** Log sink for the vrouter processes' messages. */
  log?: (msg: string) => void;
}

/** A pod plumbed without the CNI (the CNI plugin does the same with `host-netns` = the compute's namespace). */
export interface PodAttachment {
  compute: string;
  /** Host end, in the compute namespace: the vif name in the tables. */
  hostIfname: string;
  ifname?: string;
  mac: string;
  ip: string;
  plen: number;
  gateway: string;
}

async function quietIpv6(ns: string): Promise<void> {
  // The engine forwards IPv4 only; without this every interface would chatter router solicitations.
  const r = await execIn(ns, "sysctl", [
    "-q",
    "-w",
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
  ]);
  if (r.code !== 0) throw new NetnsError(`sysctl in ${ns} failed`, r.stderr);
}

export class NetnsTopology {
  readonly prefix: string;
  readonly stateDir: string;
  private readonly created: string[] = [];
  private readonly vrouters = new Map<string, VrouterProcess>();
  private readonly pods = new Map<string, PodProcess>();

  private constructor(readonly spec: TopologySpec) {
    this.prefix = spec.prefix ?? PREFIX;
    this.stateDir = spec.stateDir ?? DEFAULT_STATE_DIR;
  }

  /** Builds underlay, computes and fabric hosts; on any failure removes what it had built. */
  static async create(spec: TopologySpec): Promise<NetnsTopology> {
    const topo = new NetnsTopology(spec);
    assertTestbedName(`${topo.prefix}x`);
    try {
      await topo.build();
    } catch (err) {
      await topo.destroy();
      throw err;
    }
    return topo;
  }

  underlayNs(): string {
    return `${this.prefix}underlay`;
  }
  computeNs(compute: string): string {
    return `${this.prefix}${compute}`;
  }
  hostNs(host: string): string {
    return `${this.prefix}${host}`;
  }
  podNs(pod: string): string {
    return `${this.prefix}pod-${pod}`;
  }
  externalNs(host: string): string {
    return `${this.prefix}ext-${host}`;
  }

  /**
   * A host outside the cluster: its own namespace, eth0 (`mac`, `ip`/32, default route on-link) wired to a
   * port `ifname` in the namespace of the router it sits behind (the SDN gateway, a "compute" of this
   * topology whose vrouter process forwards for it). Nothing else: no address, route or link reaches the
   * machine's own interfaces.
   */
  async addExternalHost(h: { name: string; router: string; ifname: string; mac: string; ip: string }) {
    const ns = this.externalNs(h.name);
    await this.addNs(ns);
    await addVethBetween({ ns: this.computeNs(h.router), name: h.ifname }, { ns, name: "eth0", mac: h.mac });
    // any next hop will do: the router answers every ARP but the host's own (proxy ARP)
    const last = Number(h.ip.split(".")[3]);
    const via = `${h.ip.split(".").slice(0, 3).join(".")}.${last === 1 ? 254 : 1}`;
    await ipBatch(ns, [`addr add ${h.ip}/32 dev eth0`, `route add default via ${via} dev eth0 onlink`]);
    return ns;
  }

  serviceNs(name: string): string {
    return `${this.prefix}svc-${name}`;
  }

  /**
   * A service instance's namespace (an Ingress's haproxy, as the agent's netns instance adapter makes it):
   * eth0 (`mac`, `ip`/32, default route on-link) wired to the port `ifname` the compute's vrouter serves.
   */
  async addServiceNamespace(s: { name: string; compute: string; ifname: string; mac: string; ip: string }) {
    const ns = this.serviceNs(s.name);
    await this.addNs(ns);
    await addVethBetween({ ns: this.computeNs(s.compute), name: s.ifname }, { ns, name: "eth0", mac: s.mac });
    const last = Number(s.ip.split(".")[3]);
    const via = `${s.ip.split(".").slice(0, 3).join(".")}.${last === 1 ? 254 : 1}`;
    await ipBatch(ns, [`addr add ${s.ip}/32 dev eth0`, `route add default via ${via} dev eth0 onlink`]);
    return ns;
  }

  async hasNamespace(ns: string): Promise<boolean> {
    return this.created.includes(ns);
  }

  async removeServiceNamespace(name: string): Promise<void> {
    const ns = this.serviceNs(name);
    const i = this.created.indexOf(ns);
    if (i < 0) return;
    this.created.splice(i, 1);
    await this.removeNs(ns);
  }

  private async addNs(ns: string): Promise<void> {
    recordNamespace(this.stateDir, ns);
    try {
      await addNetns(ns);
    } catch (e) {
      forgetNamespace(this.stateDir, ns);
      throw e;
    }
    this.created.push(ns);
    await quietIpv6(ns);
  }

  private async removeNs(ns: string): Promise<void> {
    await delNetns(ns);
    forgetNamespace(this.stateDir, ns);
  }

  private async build(): Promise<void> {
    const len = this.spec.fabricPrefixLen ?? 24;
    const u = this.underlayNs();
    await this.addNs(u);
    await ipBatch(u, [`link add ${BRIDGE} type bridge stp_state 0 forward_delay 0`, `link set ${BRIDGE} up`]);
    for (const [i, c] of this.spec.computes.entries()) {
      const ns = this.computeNs(c.name);
      await this.addNs(ns);
      const port = `uc${i}`;
      await addVethBetween({ ns, name: FABRIC_IFNAME, mac: fabricMacFor(c.fabricIp) }, { ns: u, name: port });
      await ipIn(u, ["link", "set", port, "master", BRIDGE]);
    }
    for (const [i, h] of (this.spec.fabricHosts ?? []).entries()) {
      const ns = this.hostNs(h.name);
      await this.addNs(ns);
      const port = `uh${i}`;
      await addVethBetween({ ns, name: "eth0", mac: fabricMacFor(h.ip) }, { ns: u, name: port });
      await ipIn(u, ["link", "set", port, "master", BRIDGE]);
      await ipBatch(ns, [
        `addr add ${h.ip}/${len} dev eth0`,
        ...(h.routes ?? []).map((r) => `route add ${r.dst} via ${r.via} dev eth0`),
      ]);
    }
  }

  /** Start one vrouter process per compute, each inside its namespace. */
  async startVrouters(): Promise<void> {
    for (const c of this.spec.computes) {
      if (this.vrouters.has(c.name)) continue;
      this.vrouters.set(
        c.name,
        await VrouterProcess.start({
          ns: this.computeNs(c.name),
          compute: c.name,
          stateDir: this.stateDir,
          log: this.spec.log,
        }),
      );
    }
  }

  vrouter(compute: string): VrouterProcess {
    const v = this.vrouters.get(compute);
    if (!v) throw new NetnsError(`no vrouter running for compute "${compute}"`);
    return v;
  }

  async stopVrouters(): Promise<void> {
    for (const v of this.vrouters.values()) await v.stop();
    this.vrouters.clear();
  }

  /**
   * Creates a pod's namespace (no interfaces but lo); the CNI plugin or `plugPod` adds eth0. `resolvConf`:
   * the pod's /etc/resolv.conf as kubelet writes it (programs run by `ip netns exec` read it).
   */
  async createPodNamespace(pod: string, resolvConf?: string): Promise<{ ns: string; path: string }> {
    const ns = this.podNs(pod);
    await this.addNs(ns);
    if (resolvConf !== undefined) writeNetnsResolvConf(ns, resolvConf);
    return { ns, path: `/var/run/netns/${ns}` };
  }

  /**
   * Gives a network namespace another runtime made (containerd's, for a pod of a real kubelet) this testbed's
   * name for the pod: a bind mount of it at /var/run/netns/<prefix>pod-<pod>, recorded and removed like any
   * testbed namespace — removing it drops only the name; the namespace stays the runtime's to remove.
   */
  async adoptPodNamespace(pod: string, path: string): Promise<string> {
    const ns = this.podNs(pod);
    assertTestbedName(ns);
    recordNamespace(this.stateDir, ns);
    try {
      mkdirSync("/var/run/netns", { recursive: true });
      writeFileSync(`/var/run/netns/${ns}`, "", { flag: "wx" });
      const r = await exec("mount", ["--bind", path, `/var/run/netns/${ns}`]);
      if (r.code !== 0) {
        rmSync(`/var/run/netns/${ns}`, { force: true });
        throw new NetnsError(`cannot name ${path} ${ns}`, r.stderr);
      }
    } catch (e) {
      forgetNamespace(this.stateDir, ns);
      throw e;
    }
    this.created.push(ns);
    return ns;
  }

  /** Stop the pod's process and delete its namespace (its veth goes with it). */
  async deletePodNamespace(pod: string): Promise<void> {
    await this.stopPod(pod);
    const ns = this.podNs(pod);
    await this.removeNs(ns);
    const i = this.created.indexOf(ns);
    if (i >= 0) this.created.splice(i, 1);
  }

  /** Plumb a pod the way the CNI does: tap in the compute namespace, eth0 with MAC, address, default route. */
  async plugPod(pod: string, a: PodAttachment): Promise<void> {
    const ns = this.podNs(pod);
    const ifname = a.ifname ?? "eth0";
    await addVethBetween(
      { ns: this.computeNs(a.compute), name: a.hostIfname },
      { ns, name: ifname, mac: a.mac },
    );
    await ipBatch(ns, [
      `addr add ${a.ip}/${a.plen} dev ${ifname}`,
      `route add default via ${a.gateway} dev ${ifname} onlink`,
    ]);
  }

  /** The pod's process inside its namespace: echo servers on its container ports, and its prober. */
  async startPod(pod: string, ports: ServedPort[]): Promise<PodProcess> {
    if (this.pods.has(pod)) throw new NetnsError(`pod "${pod}" already runs`);
    const p = await PodProcess.start({ ns: this.podNs(pod), ports, stateDir: this.stateDir });
    this.pods.set(pod, p);
    return p;
  }

  pod(pod: string): PodProcess {
    const p = this.pods.get(pod);
    if (!p) throw new NetnsError(`no process running for pod "${pod}"`);
    return p;
  }

  /** Stop the pod's process (before its namespace goes, e.g. on pod deletion). */
  async stopPod(pod: string): Promise<void> {
    await this.pods.get(pod)?.stop();
    this.pods.delete(pod);
  }

  /** Stop every process, remove every namespace this topology created. */
  async destroy(): Promise<void> {
    for (const p of this.pods.values()) await p.stop();
    this.pods.clear();
    await this.stopVrouters();
    for (const ns of this.created.splice(0).reverse()) await this.removeNs(ns);
  }

  /** The underlay bridge's ports and the MAC of the station behind each (a compute's fabric0, a host's eth0). */
  underlayPorts(): { name: string; peerMac: string }[] {
    return [
      ...this.spec.computes.map((c, i) => ({ name: `uc${i}`, peerMac: fabricMacFor(c.fabricIp) })),
      ...(this.spec.fabricHosts ?? []).map((h, i) => ({ name: `uh${i}`, peerMac: fabricMacFor(h.ip) })),
    ];
  }

  /** Every namespace this topology has created and not yet removed. */
  namespaces(): string[] {
    return [...this.created];
  }
}

/**
 * Build (once, cached) the assertion-free libpcap addon the vrouter processes prefer (tools/build-cap.sh).
 * Resolves "stock" when it cannot be built: forwarding works, but deleting a captured tap kills the vrouter.
 */
export async function ensureCaptureAddon(): Promise<{ addon: "ndebug" | "stock"; detail: string }> {
  const r = await exec("bash", [join(import.meta.dirname, "tools/build-cap.sh")], { timeoutMs: 300_000 });
  return r.code === 0
    ? { addon: "ndebug", detail: r.stdout.trim() }
    : { addon: "stock", detail: r.stderr.trim() };
}

/** Feed each compute's vrouter the agent's tables, now and on every change. Returns the unsubscribe. */
export function attachAgents(
  topo: NetnsTopology,
  agents: {
    tables(compute: string): VrouterTables | undefined;
    onTables(cb: (compute: string, t: VrouterTables) => void): () => void;
  },
): () => void {
  const computes = topo.spec.computes.map((c) => c.name);
  for (const c of computes) {
    const t = agents.tables(c);
    if (t) topo.vrouter(c).install(t);
  }
  return agents.onTables((c, t) => {
    if (computes.includes(c)) topo.vrouter(c).install(t);
  });
}

/**
 * Remove everything a (crashed) testbed left under `prefix`: recorded processes (by pid, only if still the
 * same process), any process still inside a prefixed namespace, then the namespaces.
 */
export async function cleanupAll(
  prefix = PREFIX,
  stateDir = DEFAULT_STATE_DIR,
  opts: { killUnrecorded?: boolean } = {},
): Promise<{ processes: number; namespaces: string[]; leftAlone: number[] }> {
  assertTestbedName(`${prefix}x`);
  let processes = 0;
  for (const r of await listProcesses(stateDir, prefix)) {
    await stopProcess(r);
    await forgetProcess(stateDir, r);
    processes++;
  }
  const namespaces = await listNetns(prefix);
  const leftAlone: number[] = [];
  for (const ns of namespaces) {
    // Processes inside a testbed namespace were started by the testbed (its pid file may be lost), unless
    // the caller ends only recorded processes (`ctb down`): then they are reported, not signalled.
    for (const pid of await pidsIn(ns)) {
      if (opts.killUnrecorded === false) {
        leftAlone.push(pid);
        continue;
      }
      await stopProcess({
        pid,
        ns,
        role: "leftover",
        startTime: processStartTime(pid) ?? "",
      });
      processes++;
    }
    await delNetns(ns);
  }
  // /etc/netns/<ns> of a namespace already gone (a crash between the two)
  for (const ns of etcNetnsEntries(prefix)) if (!namespaces.includes(ns)) removeNetnsEtc(ns);
  return { processes, namespaces, leftAlone };
}

/** Names under /etc/netns starting with `prefix` (none when the directory is absent). */
function etcNetnsEntries(prefix: string): string[] {
  try {
    return readdirSync(NETNS_ETC).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

async function pidsIn(ns: string): Promise<number[]> {
  const r = await exec("ip", ["netns", "pids", ns]);
  return r.stdout
    .split(/\s+/)
    .filter((x) => /^\d+$/.test(x))
    .map(Number);
}

export interface RecordCleanup {
  /** Recorded processes that were still the same process, and were stopped. */
  stopped: ProcessRecord[];
  /** Recorded namespaces that existed, and were removed. */
  namespaces: string[];
  /** Processes found inside a removed namespace that no record names: reported, never signalled. */
  leftAlone: { ns: string; pid: number }[];
}

/**
 * Undo what a run recorded in `stateDir` (pids/, netns/): stop each recorded process whose pid, start time
 * and command line still match (nothing else is ever signalled), then remove each recorded namespace.
 */
export async function cleanupRecorded(stateDir: string): Promise<RecordCleanup> {
  const out: RecordCleanup = { stopped: [], namespaces: [], leftAlone: [] };
  const procs = await listProcesses(stateDir, "");
  // pods and vrouters first, the control plane (root namespace) after them, in reverse start order
  procs.sort(
    (a, b) => Number(a.ns === "") - Number(b.ns === "") || Number(b.startTime) - Number(a.startTime),
  );
  for (const r of procs) {
    if (stillRunning(r)) {
      await stopProcess(r, 5000);
      out.stopped.push(r);
    }
    await forgetProcess(stateDir, r);
  }
  const existing = new Set(await listNetns(PREFIX));
  for (const ns of listNamespaceRecords(stateDir)) {
    try {
      assertTestbedName(ns);
    } catch {
      forgetNamespace(stateDir, ns); // not a name we would ever create: never act on it
      continue;
    }
    if (existing.has(ns)) {
      for (const pid of await pidsIn(ns)) out.leftAlone.push({ ns, pid });
      await delNetns(ns);
      out.namespaces.push(ns);
    } else removeNetnsEtc(ns);
    forgetNamespace(stateDir, ns);
  }
  return out;
}

/**
 * Undo one namespace whose recorded owner is gone (`ctb down`, for namespaces outside any run record): stop the
 * processes the state dir records in it (pid, start time and command line must still match), report any other
 * process inside it, then remove the namespace, its /etc/netns entry and its marker.
 */
export async function cleanupOrphanNamespace(
  ns: string,
  stateDir = DEFAULT_STATE_DIR,
): Promise<{ stopped: ProcessRecord[]; leftAlone: number[]; removed: boolean }> {
  assertTestbedName(ns);
  const out = { stopped: [] as ProcessRecord[], leftAlone: [] as number[], removed: false };
  for (const r of (await listProcesses(stateDir, ns)).filter((p) => p.ns === ns)) {
    if (stillRunning(r)) {
      await stopProcess(r, 5000);
      out.stopped.push(r);
    }
    await forgetProcess(stateDir, r);
  }
  if ((await listNetns(ns)).includes(ns)) {
    out.leftAlone.push(...(await pidsIn(ns)));
    await delNetns(ns);
    out.removed = true;
  } else removeNetnsEtc(ns);
  forgetNamespace(stateDir, ns);
  return out;
}
