/**
 * Plumbs a pod on the netns datapath exactly as kubelet does on a real node: create the pod's network
 * namespace, run the real `bin/contrail-k8s-cni` executable with CNI_COMMAND=ADD (CNI_* environment, network
 * config on stdin, `contrail.host-netns` = the compute's namespace, `vrouter-port` = that compute's agent port
 * API), read the pod IP from the CNI result, wait until the compute's vrouter process captures the new tap,
 * and start the pod's process (echo servers on its declared TCP/UDP container ports). Pod deletion runs
 * CNI DEL and removes the namespace.
 *
 * Example: `new CniPlumber({ topo, clusterName: "k8s", portApiPort: (n) => ports[n], stateDir, onUp, onDown })`.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { KubeObject } from "../../controller/kube/api";
import { hostIfname } from "../../cni/result";
import type { NetnsTopology, ServedPort } from "../../fake-vrouter/netns/index";
import type { PodAddress, PodPlumber } from "./emulator";
import { declaredPorts } from "./port-api-plumber";
import { podAttachments, podForwarding } from "./attachments";
import { exec, execIn } from "../../fake-vrouter/netns/ns";
import { isDnsPod } from "../../cluster-dns/cluster";

const REPO_ROOT = resolve(import.meta.dirname, "../..");
/**
 * The plugin the node emulator calls and real nodes' runtimes find in their CNI bin dir. CTB_CNI_PLUGIN puts
 * something in front of it (bench/kubelet-nodes.bench.ts times both callers with one wrapper).
 */
export const CNI_BINARY = process.env.CTB_CNI_PLUGIN || join(REPO_ROOT, "bin/contrail-k8s-cni");
/** How long a plumbed tap may take to be captured by its vrouter before the pod counts as failed. */
const PORT_WAIT_MS = 15_000;

/** A pod the CNI plugged: where it lives on the netns datapath. */
export interface NetnsPod {
  endpoint: string; // "<ns>/<pod>"
  node: string;
  /** Name of the pod in the topology (`topo.podNs(key)` is its namespace). */
  key: string;
  netns: string;
  ip: string;
  mac?: string;
  tap: string;
  /** A CoreDNS pod: its process serves cluster DNS on port 53. */
  dns?: boolean;
  /** The container interface (eth0, or a secondary interface's name). */
  ifname?: string;
  /** The pod forwards between its interfaces; its FORWARD drop rules (iptables in its namespace). */
  forwardDrop?: { proto: "tcp" | "udp"; port: number }[];
}

export class CniError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(output ? `${message}: ${output.trim()}` : message);
  }
}

export interface CniPlumberOptions {
  topo: NetnsTopology;
  clusterName: string;
  /** TCP port of the compute's agent port API on 127.0.0.1 (the plugin's `vrouter-port`). */
  portApiPort: (node: string) => number;
  /** Directory for the plugin's state files (`config-dir`) and its conf dir (no *contrail.conf there). */
  stateDir: string;
  onUp: (p: NetnsPod) => void;
  onDown: (endpoint: string) => void;
  cniBinary?: string;
  /** The pod's resolv.conf as kubelet writes it (undefined: none, programs read the host's). */
  resolvConf?: (pod: KubeObject) => Promise<string | undefined>;
}

/** Topology name for a pod: readable, unique per namespace/name, short enough for a netns name (≤ 64). */
export function podKey(namespace: string, name: string): string {
  const key = `${namespace}.${name}`;
  if (key.length <= 40) return key;
  return `${key.slice(0, 31)}-${createHash("sha1").update(key).digest("hex").slice(0, 8)}`;
}

export class CniPlumber implements PodPlumber {
  /** "<ns>/<pod>" → the endpoints of its interfaces (the default network's first) */
  private readonly endpoints = new Map<string, string[]>();
  constructor(private readonly o: CniPlumberOptions) {
    mkdirSync(join(o.stateDir, "ports"), { recursive: true });
  }

  async add(pod: KubeObject, node: string): Promise<PodAddress> {
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    const key = podKey(ns, name);
    const { topo } = this.o;
    const { ns: netns } = await topo.createPodNamespace(key, await this.o.resolvConf?.(pod));
    try {
      const r = await this.cni("ADD", pod, node, netns);
      if (r.code !== 0)
        throw new CniError(`CNI ADD for ${ns}/${name} failed (exit ${r.code})`, r.stdout || r.stderr);
      const result = parseResult(r.stdout);
      const vmUuid = await this.vmUuid(node, `${this.o.clusterName}__${ns}__${name}`);
      // every interface of the result, matched to the pod's attachments by name (eth0 first)
      const attachments = podAttachments(pod);
      const plugged = result.interfaces.map((i) => {
        const att = attachments.find((a) => a.ifname === i.ifname);
        if (!att)
          throw new CniError(
            `the CNI result has interface ${i.ifname}, which ${ns}/${name} does not ask for`,
            "",
          );
        // a CNI 1.0.0 result lists only the container side; the tap is named after the VM, as the plugin names it
        return { ...i, att, tap: hostIfname(i.ifname, vmUuid) };
      });
      await withTimeout(
        topo.vrouter(node).waitForPorts(plugged.map((p) => p.tap)),
        PORT_WAIT_MS,
        `the vrouter of ${node} did not open tap(s) ${plugged.map((p) => p.tap).join(", ")} of ${ns}/${name}`,
      );
      const forwarding = podForwarding(pod);
      await configurePodRouting(netns, plugged, forwarding);
      await topo.startPod(key, servedPorts(pod));
      for (const p of plugged)
        this.o.onUp({
          endpoint: p.att.endpoint,
          node,
          key,
          netns,
          ip: p.ip,
          mac: p.mac,
          tap: p.tap,
          ifname: p.ifname,
          ...(isDnsPod(pod) && !p.att.network ? { dns: true } : {}),
          ...(forwarding && typeof forwarding !== "string" && !p.att.network
            ? { forwardDrop: forwarding.drop }
            : {}),
        });
      this.endpoints.set(
        `${ns}/${name}`,
        plugged.map((p) => p.att.endpoint),
      );
      const primary = plugged.find((p) => !p.att.network);
      if (!primary) throw new CniError(`the CNI result for ${ns}/${name} has no eth0`, r.stdout);
      return {
        ip: primary.ip,
        mac: primary.mac,
        gateway: primary.gateway,
        interfaces: plugged.map((p) => ({
          ifname: p.ifname,
          ...(p.att.network ? { network: p.att.network } : {}),
          ip: p.ip,
          ...(p.mac ? { mac: p.mac } : {}),
        })),
      };
    } catch (e) {
      // like kubelet: a failed ADD is followed by DEL, so nothing half-plumbed stays behind
      await this.teardown(pod, node, key).catch(() => {});
      throw e;
    }
  }

  async remove(pod: KubeObject, node: string): Promise<void> {
    const endpoint = `${pod.metadata.namespace}/${pod.metadata.name}`;
    for (const e of this.endpoints.get(endpoint) ?? [endpoint]) this.o.onDown(e);
    this.endpoints.delete(endpoint);
    await this.teardown(pod, node, podKey(pod.metadata.namespace!, pod.metadata.name!));
  }

  private async teardown(pod: KubeObject, node: string, key: string): Promise<void> {
    await this.o.topo.stopPod(key);
    const r = await this.cni("DEL", pod, node, this.o.topo.podNs(key));
    await this.o.topo.deletePodNamespace(key);
    if (r.code !== 0)
      throw new CniError(
        `CNI DEL for ${pod.metadata.namespace}/${pod.metadata.name} failed (exit ${r.code})`,
        r.stdout || r.stderr,
      );
  }

  /** The VM uuid the agent knows the pod by (`GET /vm-cfg/<vm-name>` of the port API). */
  private async vmUuid(node: string, vmName: string): Promise<string> {
    const url = `http://127.0.0.1:${this.o.portApiPort(node)}/vm-cfg/${encodeURIComponent(vmName)}`;
    const res = await fetch(url);
    const body = res.ok ? ((await res.json()) as { "vm-uuid"?: string }[]) : [];
    const uuid = body[0]?.["vm-uuid"];
    if (!uuid)
      throw new CniError(`port API GET ${url} has no vm-uuid after a successful CNI ADD`, `${res.status}`);
    return uuid;
  }

  private cni(
    command: "ADD" | "DEL",
    pod: KubeObject,
    node: string,
    netns: string,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const containerId = `ctb-${pod.metadata.uid}`;
    const conf = {
      cniVersion: "1.1.0",
      name: "contrail-k8s-cni",
      type: "contrail-k8s-cni",
      contrail: {
        "cluster-name": this.o.clusterName,
        "vrouter-ip": "127.0.0.1",
        "vrouter-port": this.o.portApiPort(node),
        "config-dir": join(this.o.stateDir, "ports"),
        "conf-dir": this.o.stateDir,
        "host-netns": this.o.topo.computeNs(node),
        "poll-timeout": 0.1,
        "poll-retries": 300,
      },
    };
    const env = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: `/var/run/netns/${netns}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: join(REPO_ROOT, "bin"),
      CNI_ARGS: [
        "IgnoreUnknown=1",
        `K8S_POD_NAMESPACE=${pod.metadata.namespace}`,
        `K8S_POD_NAME=${pod.metadata.name}`,
        `K8S_POD_UID=${pod.metadata.uid}`,
        `K8S_POD_INFRA_CONTAINER_ID=${containerId}`,
      ].join(";"),
    };
    return new Promise((res, rej) => {
      const child = spawn(this.o.cniBinary ?? CNI_BINARY, [], { env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
      });
      child.stderr.on("data", (c: Buffer) => {
        stderr = (stderr + c.toString()).slice(-4000);
      });
      child.on("error", (e) =>
        rej(new CniError(`cannot run ${this.o.cniBinary ?? CNI_BINARY} (npm run build?)`, e.message)),
      );
      child.on("close", (code) => res({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(JSON.stringify(conf));
    });
  }
}

interface AddResult {
  ip: string;
  mac?: string;
  gateway?: string;
}

/** Every container interface of a CNI ADD result (1.0.0/1.1.0: kubelet runs the plugin as 1.1.0) with its address, in the result's order. */
export function parseResult(
  stdout: string,
): { interfaces: (AddResult & { ifname: string; cidr: string })[] } & AddResult {
  let r: {
    interfaces?: { name: string; mac?: string; sandbox?: string }[];
    ips?: { address: string; gateway?: string; interface?: number }[];
  };
  try {
    r = JSON.parse(stdout);
  } catch {
    throw new CniError("the CNI plugin printed no JSON result", stdout);
  }
  const ip = r.ips?.[0];
  if (!ip?.address) throw new CniError("the CNI result has no IP", stdout);
  const interfaces = (r.ips ?? []).flatMap((x) => {
    const i = x.interface !== undefined ? r.interfaces?.[x.interface] : r.interfaces?.find((y) => y.sandbox);
    return i
      ? [{ ifname: i.name, ip: x.address.split("/")[0]!, cidr: x.address, gateway: x.gateway, mac: i.mac }]
      : [];
  });
  if (interfaces.length === 0) throw new CniError("the CNI result names no container interface", stdout);
  const first = interfaces[0]!;
  return { ip: first.ip, gateway: first.gateway, mac: first.mac, interfaces };
}

/**
 * The pod's own network configuration beyond what the CNI sets (what its image or an init container would do):
 * each secondary interface gets a routing table of its own chosen by source address (`ip rule from <ip>`), so
 * what the pod sends from that address leaves by that interface — answers to a peer on another network too;
 * a pod asking for net.ipv4.ip_forward=1 forwards between its interfaces, with its FORWARD drop rules.
 */
async function configurePodRouting(
  netns: string,
  plugged: { ifname: string; ip: string; cidr: string; gateway?: string; att: { network?: string } }[],
  forwarding: ReturnType<typeof podForwarding>,
): Promise<void> {
  if (typeof forwarding === "string") throw new CniError(forwarding, "");
  const lines: string[] = [];
  plugged.forEach((p, i) => {
    if (!p.att.network) return;
    const table = String(100 + i);
    lines.push(`route replace ${networkOf(p.cidr)} dev ${p.ifname} table ${table}`);
    if (p.gateway) lines.push(`route replace default via ${p.gateway} dev ${p.ifname} table ${table}`);
    lines.push(`rule add from ${p.ip}/32 table ${table} priority ${table}`);
  });
  if (lines.length) {
    const r = await exec("ip", ["-n", netns, "-batch", "-"], { input: `${lines.join("\n")}\n` });
    if (r.code !== 0) throw new CniError(`source routing in ${netns}`, r.stderr);
  }
  if (!forwarding) return;
  const run = async (cmd: string, args: string[]) => {
    const r = await execIn(netns, cmd, args);
    if (r.code !== 0) throw new CniError(`${cmd} ${args.join(" ")} in ${netns}`, r.stderr);
  };
  await run("sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
  for (const d of forwarding.drop)
    await run("iptables", ["-A", "FORWARD", "-p", d.proto, "--dport", String(d.port), "-j", "DROP"]);
}

/** "10.10.1.5/24" → "10.10.1.0/24". */
function networkOf(cidr: string): string {
  const [ip, len] = cidr.split("/");
  const plen = Number(len);
  const n = ip!.split(".").reduce((a, b) => a * 256 + Number(b), 0);
  const net = (n & (plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0)) >>> 0;
  return `${[net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join(".")}/${plen}`;
}

/**
 * The pod's TCP/UDP container ports (SCTP has no echo server on the netns datapath); a CoreDNS pod serves DNS
 * (UDP and TCP) on its port 53 instead of echoing.
 */
function servedPorts(pod: KubeObject): ServedPort[] {
  const seen = new Set<string>();
  const dns = isDnsPod(pod);
  return declaredPorts(pod).flatMap((p): ServedPort[] => {
    const proto = dns && p.port === 53 ? "dns" : p.proto;
    const k = `${proto}:${p.port}`;
    const keep = (proto === "tcp" || proto === "udp" || proto === "dns") && !seen.has(k);
    seen.add(k);
    return keep ? [{ proto, port: p.port }] : [];
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]);
}
