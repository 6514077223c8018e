/**
 * Real nodes for `--nodes kubelet`: per compute, a containerd (Debian's, with its own config, root, state and
 * socket) and the real kubelet v1.34 built with the control plane, joined to the local control plane with a
 * `system:node:<name>` certificate from its CA. containerd runs the pods with runc and calls the CNI plugin the
 * testbed puts in the node's CNI bin dir (our `contrail-k8s-cni`) with the conf the testbed writes (host-netns =
 * the compute's `ctb-` namespace, vrouter-port = its agent port API), exactly as on kind.
 *
 * Several nodes share one machine: each has its own containerd socket and root, runc root, kubelet root dir,
 * ports, cgroup root (`/ctb-<tag>-<i>` in every hierarchy, so one kubelet never reaps another's pods) and node
 * address (the compute's fabric address, put as a /32 on the root namespace's `lo`: kubelet refuses a loopback
 * node IP and wants it on an interface). What they change outside those directories is listed by host.ts.
 *
 * Everything is recorded in the run's record (`<stateDir>/kubelet/record.json`, processes in `pids/`) before it
 * is started; `stop()` and, after a crash, `cleanupKubeletRecord(stateDir)` (`ctb down`) undo it: processes by
 * pid (the recorded ones, containerd's shims by their `-address`, the containers by our cgroups), mounts under
 * our directories, our cgroups, the node addresses and what host.ts finds changed.
 *
 * Example: `const nodes = await startKubeletNodes({ nodes: [{ name: "node-1", ip: "10.84.31.11" }], … })`.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { stringify } from "yaml";
import { exec } from "../../../fake-vrouter/netns/ns";
import { forgetProcess, processStartTime, recordProcess } from "../../../fake-vrouter/netns/pidfiles";
import { createServer } from "node:net";
import { startReaper, writeKubeconfig } from "../local/index";
import { issue, type Pki } from "../local/pki";
import { applyRestore, type HostSnapshot, planRestore, snapshotHost } from "./host";

export class KubeletNodeError extends Error {
  override name = "KubeletNodeError";
}

/** An image the nodes get imported into containerd (no registry is reachable): a docker-save tarball. */
export interface LocalImage {
  ref: string;
  tarball: string;
}

export interface KubeletNodesOptions {
  nodes: { name: string; ip: string }[];
  apiServerUrl: string;
  pki: Pki;
  /** The run's record: record.json, pids/ and every node's directory go under `<stateDir>/kubelet/`. */
  stateDir: string;
  /** Short and unique per run: names the cgroup roots and the socket directory under /run/ctb-kubelet. */
  tag: string;
  binDir: string;
  /** The sandbox ("pause") image, and the others pods use (imported into every node). */
  sandboxImage: LocalImage;
  images: LocalImage[];
  /** The CNI network configuration for a node's conf dir (the node's `contrail` section). */
  cniConf: (node: string) => Record<string, unknown>;
  /** The CNI plugin executable put in each node's CNI bin dir. */
  cniPlugin: { name: string; path: string };
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  log?: (m: string) => void;
}

export interface KubeletNode {
  name: string;
  ip: string;
  dir: string;
  containerdSocket: string;
  kubeletPort: number;
}

export interface KubeletNodes {
  nodes: KubeletNode[];
  /** Stops everything the nodes started and restores the host; resolves with what could not be undone. */
  stop(): Promise<string[]>;
}

/** What the record holds: enough for `ctb down` to undo a run whose owner is gone. */
interface NodeRecord {
  name: string;
  ip: string;
  dir: string;
  runDir: string;
  cgroupRoot: string;
  containerdSocket: string;
}
interface Record_ {
  hostBefore: HostSnapshot;
  nodes: NodeRecord[];
}

const RUN_ROOT = "/run/ctb-kubelet";
/** kubelet's usual API and healthz ports, each node on its own address. */
export const KUBELET_PORT = 10250;
export const KUBELET_HEALTHZ_PORT = 10248;
/** Debian's containernetworking-plugins. */
const LOOPBACK_PLUGIN = "/usr/lib/cni/loopback";

export function recordPath(stateDir: string): string {
  return join(stateDir, "kubelet", "record.json");
}

/** Whether a run's record lists kubelet nodes still to be undone. */
export function hasNodeRecord(stateDir: string): boolean {
  return existsSync(recordPath(stateDir));
}

/** What the prerequisite check reads off the machine (tests hand in another machine). */
export interface MachineProbe {
  uid: number;
  onPath(cmd: string): boolean;
  exists(path: string): boolean;
  /** /proc/filesystems */
  filesystems: string;
  /** `iptables` is the nf_tables variant */
  iptablesNft: boolean;
}

export function thisMachine(): MachineProbe {
  let filesystems = "";
  try {
    filesystems = readFileSync("/proc/filesystems", "utf8");
  } catch {}
  const v = spawnSync("iptables", ["-V"], { encoding: "utf8" });
  const iptablesNft = (v.stdout ?? "").includes("nf_tables");
  return { uid: process.getuid?.() ?? 0, onPath, exists: existsSync, filesystems, iptablesNft };
}

/** The machine's prerequisites of real nodes, one line each naming the fix (empty when all is there). */
export function kubeletNodesMissing(binDir: string, m: MachineProbe = thisMachine()): string[] {
  const missing: string[] = [];
  if (m.uid !== 0)
    missing.push("--nodes kubelet needs root (containerd, runc, cgroups, mounts): run as root");
  for (const [cmd, pkg] of [
    ["containerd", "containerd"],
    ["ctr", "containerd"],
    ["containerd-shim-runc-v2", "containerd"],
    ["runc", "runc"],
    ["iptables", "iptables"],
  ] as const)
    if (!m.onPath(cmd))
      missing.push(`${cmd} is not installed: apt-get install ${pkg} (or \`bash .ci/setup.sh\`)`);
  // iptables-nft registers tables for kubelet's chains; only nft can remove them once they are empty again
  if (m.iptablesNft && !m.onPath("nft"))
    missing.push(
      "nft is not installed (the teardown removes the nf_tables tables kubelet's iptables calls register with it): apt-get install nftables",
    );
  if (!m.exists(LOOPBACK_PLUGIN))
    missing.push(
      `${LOOPBACK_PLUGIN} is missing (containerd sets up each pod's lo with it): apt-get install containernetworking-plugins`,
    );
  if (!m.exists(join(binDir, "kubelet")))
    missing.push(
      `kubelet is not built (missing in ${binDir}): run \`bash testbed/cluster/local/build.sh\` (it builds kubelet with the control plane)`,
    );
  if (!/\toverlay$/m.test(m.filesystems))
    missing.push("the kernel has no overlayfs (containerd's snapshotter needs it): `modprobe overlay`");
  if (!m.exists("/sys/fs/cgroup/cpu") && !m.exists("/sys/fs/cgroup/cgroup.controllers"))
    missing.push("no cgroup hierarchy is mounted under /sys/fs/cgroup (kubelet and runc need one)");
  return missing;
}

/** Machine-wide: which process runs kubelet nodes now (one `--nodes kubelet` environment at a time). */
export const NODES_LOCK = "/run/ctb-kubelet.lock";

/**
 * Takes the machine's kubelet-nodes lock, waiting while another live environment holds it (its nodes share the
 * host's sysctls and KUBE- chains, and by default the same node addresses); a holder that is gone (killed) is
 * taken over — its leftovers are `ctb down`'s, and a node address it left on lo is refused below. Resolves with
 * the release.
 */
export async function acquireNodesLock(o: {
  stateDir: string;
  /** default lock */
  path?: string;
  waitMs?: number;
  signal?: AbortSignal;
  log?: (m: string) => void;
}): Promise<() => void> {
  const lock = o.path ?? NODES_LOCK;
  const me = { pid: process.pid, startTime: processStartTime(process.pid) ?? "", stateDir: o.stateDir };
  const deadline = Date.now() + (o.waitMs ?? 20 * 60_000);
  let said = false;
  for (;;) {
    try {
      writeFileSync(lock, JSON.stringify(me), { flag: "wx" });
      return () => {
        try {
          const held = JSON.parse(readFileSync(lock, "utf8")) as typeof me;
          if (held.pid === me.pid && held.startTime === me.startTime) rmSync(lock, { force: true });
        } catch {}
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder: typeof me | undefined;
    try {
      holder = JSON.parse(readFileSync(lock, "utf8")) as typeof me;
    } catch {
      holder = undefined; // being written: look again
    }
    if (holder && processStartTime(holder.pid) !== holder.startTime) {
      rmSync(lock, { force: true }); // its owner is gone
      continue;
    }
    if (holder && !said) {
      o.log?.(
        `waiting for the --nodes kubelet environment of pid ${holder.pid} (${holder.stateDir}) to end: one runs at a time on a machine`,
      );
      said = true;
    }
    if (o.signal?.aborted)
      throw new KubeletNodeError("interrupted while waiting for the machine's kubelet-nodes lock");
    if (Date.now() > deadline)
      throw new KubeletNodeError(
        `another --nodes kubelet environment (pid ${holder?.pid ?? "?"}, ${holder?.stateDir ?? "?"}) still runs: ` +
          "one runs at a time on a machine; stop it (`ctb down`) or try again when it ends",
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The nodes' addresses must not be on lo already (another `--nodes kubelet` run, or the machine's own): the
 * teardown removes them. Checked before anything starts.
 */
export async function nodeAddressesTaken(ips: string[]): Promise<string[]> {
  const lo = (await snapshotHost()).loAddrs;
  return ips
    .filter((ip) => lo.includes(`${ip}/32`))
    .map(
      (ip) =>
        `node address ${ip} is already on lo (another \`--nodes kubelet\` run with the same node IPs?): ` +
        "give the scenario's nodes other `ip:`s, or stop that run (`ctb down`)",
    );
}

export async function startKubeletNodes(o: KubeletNodesOptions): Promise<KubeletNodes> {
  const log = o.log ?? (() => {});
  const base = join(o.stateDir, "kubelet");
  const runBase = join(RUN_ROOT, o.tag);
  const before = await snapshotHost();
  const taken = await nodeAddressesTaken(o.nodes.map((n) => n.ip));
  if (taken.length) throw new KubeletNodeError(taken.join("; "));
  const recs: NodeRecord[] = o.nodes.map((n, i) => ({
    name: n.name,
    ip: n.ip,
    dir: join(base, n.name),
    runDir: join(runBase, String(i)),
    cgroupRoot: `/ctb-${o.tag}-${i}`,
    containerdSocket: join(runBase, String(i), "containerd.sock"),
  }));
  mkdirSync(base, { recursive: true });
  writeFileSync(
    recordPath(o.stateDir),
    `${JSON.stringify({ hostBefore: before, nodes: recs } satisfies Record_, null, 2)}\n`,
  );

  const children: { role: string; child: ChildProcess }[] = [];
  const reaper = startReaper();
  let stopping: Promise<string[]> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const { role, child } of [...children].reverse()) {
        await terminate(child);
        await forgetProcess(o.stateDir, { pid: child.pid!, ns: "", role });
        reaper.forget(child.pid!);
      }
      reaper.close();
      return undoNodes(o.stateDir);
    })());

  const nodes: KubeletNode[] = [];
  const deadline = Date.now() + (o.readyTimeoutMs ?? 180_000);
  try {
    for (const [i, rec] of recs.entries()) {
      if (o.signal?.aborted) throw new KubeletNodeError("start interrupted");
      const n = await prepareNode(rec, o);
      const launch = async (role: string, cmd: string, args: string[]) => {
        const out = openSync(join(rec.dir, "logs", `${role.split(" ")[0]}.log`), "a");
        const child = spawn(cmd, args, { stdio: ["ignore", out, out], detached: true });
        closeSync(out);
        await new Promise<void>((ok, fail) => {
          child.once("spawn", ok);
          child.once("error", fail);
        });
        children.push({ role, child });
        reaper.watch(child.pid!);
        await recordProcess(o.stateDir, { pid: child.pid!, ns: "", role });
        return child;
      };
      const ctd = await launch(`containerd ${rec.name}`, "containerd", ["--config", n.containerdConfig]);
      await waitFor(
        `containerd of ${rec.name}`,
        async () => (await ctr(rec, ["version"])).code === 0,
        ctd,
        join(rec.dir, "logs", "containerd.log"),
        deadline,
        o.signal,
      );
      for (const img of [o.sandboxImage, ...o.images]) {
        const r = await ctr(rec, ["images", "import", "--all-platforms", img.tarball], 120_000);
        if (r.code !== 0)
          throw new KubeletNodeError(
            `importing ${img.tarball} into ${rec.name}'s containerd: ${r.stderr.trim()}`,
          );
      }
      const kubelet = await launch(`kubelet ${rec.name}`, join(o.binDir, "kubelet"), n.kubeletArgs);
      await waitFor(
        `kubelet of ${rec.name}`,
        () => httpOk(`http://${rec.ip}:${KUBELET_HEALTHZ_PORT}/healthz`),
        kubelet,
        join(rec.dir, "logs", "kubelet.log"),
        deadline,
        o.signal,
      );
      nodes.push({
        name: rec.name,
        ip: rec.ip,
        dir: rec.dir,
        containerdSocket: rec.containerdSocket,
        kubeletPort: n.kubeletPort,
      });
      log(`kubelet node ${rec.name} (${i + 1}/${recs.length}) up: ${rec.dir}`);
    }
  } catch (e) {
    const left = await stop();
    if (left.length) log(`kubelet nodes: not undone: ${left.join("; ")}`);
    throw e;
  }
  return { nodes, stop };
}

/** Writes one node's directories, certificates, kubeconfig, CNI files and configs; adds its address to lo. */
async function prepareNode(rec: NodeRecord, o: KubeletNodesOptions) {
  for (const d of ["logs", "pki", "cni/bin", "cni/net.d", "containerd-root", "pod-logs", "volume-plugins"])
    mkdirSync(join(rec.dir, d), { recursive: true });
  mkdirSync(rec.runDir, { recursive: true });
  for (const h of cgroupHierarchies()) mkdirSync(join(h, rec.cgroupRoot), { recursive: true });
  const add = await exec("ip", ["addr", "add", `${rec.ip}/32`, "dev", "lo"]);
  if (add.code !== 0) throw new KubeletNodeError(`ip addr add ${rec.ip}/32 dev lo: ${add.stderr.trim()}`);

  const pkiDir = join(rec.dir, "pki");
  const client = await issue(
    pkiDir,
    o.pki.ca,
    "kubelet-client",
    `/O=system:nodes/CN=system:node:${rec.name}`,
    ["extendedKeyUsage=clientAuth"],
  );
  const serving = await issue(pkiDir, o.pki.ca, "kubelet-serving", `/CN=${rec.name}`, [
    "extendedKeyUsage=serverAuth",
    `subjectAltName=IP:${rec.ip},DNS:${rec.name}`,
  ]);
  const kubeconfig = join(rec.dir, "kubeconfig");
  await writeKubeconfig(kubeconfig, o.apiServerUrl, o.pki, { name: `system:node:${rec.name}`, ...client });

  const binDir = join(rec.dir, "cni", "bin");
  rmSync(join(binDir, o.cniPlugin.name), { force: true });
  // a symlink: the plugin script finds its bundle next to its real path
  await exec("ln", ["-s", o.cniPlugin.path, join(binDir, o.cniPlugin.name)]);
  // containerd 1.6's CRI brings up every pod's lo with the reference `loopback` plugin before the network's own
  await exec("ln", ["-sf", LOOPBACK_PLUGIN, join(binDir, "loopback")]);
  writeFileSync(
    join(rec.dir, "cni", "net.d", "10-contrail.conf"),
    `${JSON.stringify(o.cniConf(rec.name), null, 2)}\n`,
  );

  const containerdConfig = join(rec.dir, "containerd.toml");
  writeFileSync(containerdConfig, containerdToml(rec, o.sandboxImage.ref));
  // kubelet's own ports, on the node's own address: no other node shares it, so nothing can take them between
  // a check and the bind (the one lock-holding environment owns the addresses); a listener on the wildcard
  // address (a kubelet of the machine's own) is found here
  for (const port of [KUBELET_PORT, KUBELET_HEALTHZ_PORT]) {
    const busy = await portInUse(rec.ip, port);
    if (busy)
      throw new KubeletNodeError(
        `port ${port} on ${rec.ip} is in use (${busy}): kubelet of ${rec.name} needs it; is another kubelet listening on all addresses?`,
      );
  }
  const kubeletConfig = join(rec.dir, "kubelet.yaml");
  writeFileSync(
    kubeletConfig,
    stringify({
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      address: rec.ip,
      port: KUBELET_PORT,
      readOnlyPort: 0,
      healthzBindAddress: rec.ip,
      healthzPort: KUBELET_HEALTHZ_PORT,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: o.pki.ca.cert },
      },
      authorization: { mode: "Webhook" },
      tlsCertFile: serving.cert,
      tlsPrivateKeyFile: serving.key,
      // cgroup v1 with cgroupfs, as this machine has; each kubelet owns its own cgroup root
      cgroupDriver: "cgroupfs",
      cgroupRoot: rec.cgroupRoot,
      failCgroupV1: false,
      failSwapOn: false,
      containerRuntimeEndpoint: `unix://${rec.containerdSocket}`,
      podLogsDir: join(rec.dir, "pod-logs"),
      volumePluginDir: join(rec.dir, "volume-plugins"),
      // a testbed machine is small and shared: never evict or garbage-collect the local-only images
      evictionHard: { "memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      registerNode: true,
    }),
  );
  const kubeletArgs = [
    `--config=${kubeletConfig}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${join(rec.runDir, "kubelet")}`,
    `--hostname-override=${rec.name}`,
    `--node-ip=${rec.ip}`,
    "--v=1",
  ];
  return { containerdConfig, kubeletArgs, kubeletPort: KUBELET_PORT };
}

/**
 * containerd's config: everything under the node's own directories. `restrict_oom_score_adj` is required here
 * (the VM withholds CAP_SYS_RESOURCE, and runc fails with "can't get final child's PID from pipe"); network
 * namespaces go under the state dir (not /var/run/netns); the CRI stream server takes a free port.
 */
export function containerdToml(
  rec: Pick<NodeRecord, "dir" | "runDir" | "containerdSocket">,
  sandboxImage: string,
): string {
  const q = (s: string) => JSON.stringify(s);
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    "version = 2",
    `root = ${q(join(rec.dir, "containerd-root"))}`,
    `state = ${q(join(rec.runDir, "containerd"))}`,
    'disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    "[grpc]",
    `  address = ${q(rec.containerdSocket)}`,
    "[ttrpc]",
    `  address = ${q(`${rec.containerdSocket}.ttrpc`)}`,
    "[debug]",
    '  level = "warn"',
    "[metrics]",
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(join(rec.dir, "containerd-root", "opt"))}`,
    `[${cri}]`,
    `  sandbox_image = ${q(sandboxImage)}`,
    "  restrict_oom_score_adj = true",
    "  netns_mounts_under_state_dir = true",
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    "  SystemdCgroup = false",
    `  Root = ${q(join(rec.runDir, "runc"))}`,
    `[${cri}.cni]`,
    `  bin_dir = ${q(join(rec.dir, "cni", "bin"))}`,
    `  conf_dir = ${q(join(rec.dir, "cni", "net.d"))}`,
    "  max_conf_num = 1",
    "",
  ].join("\n");
}

/**
 * Undoes a run's nodes from its record (the processes in pids/ are stopped first by the caller): containerd's
 * shims, the containers in our cgroups, mounts under our directories, the cgroups, the node addresses, and what
 * host.ts finds changed since the snapshot. Returns what could not be undone (empty: all restored).
 */
export async function undoNodes(stateDir: string): Promise<string[]> {
  let rec: Record_;
  try {
    rec = JSON.parse(readFileSync(recordPath(stateDir), "utf8")) as Record_;
  } catch {
    return [];
  }
  const problems: string[] = [];
  // containerd's shims outlive it (they are reparented): ours name our socket as their -address
  for (const pid of listPids()) {
    const argv = cmdline(pid);
    if (!argv[0]?.includes("containerd-shim")) continue;
    const a = argv.indexOf("-address");
    if (a >= 0 && rec.nodes.some((n) => argv[a + 1] === n.containerdSocket)) signal(pid, "SIGKILL");
  }
  // the containers' processes: everything in our cgroup roots
  for (const n of rec.nodes)
    for (const h of cgroupHierarchies())
      for (const pid of pidsUnder(join(h, n.cgroupRoot))) signal(pid, "SIGKILL");
  await new Promise((r) => setTimeout(r, 200));
  // mounts under our directories (rootfs overlays, shm, network namespaces, volumes, the root dir's bind mount)
  const ours = rec.nodes.flatMap((n) => [n.dir, n.runDir]);
  for (const m of mountsUnder(ours)) {
    const r = await exec("umount", [m]);
    if (r.code !== 0) {
      const lazy = await exec("umount", ["-l", m]);
      if (lazy.code !== 0) problems.push(`umount ${m}: ${lazy.stderr.trim()}`);
    }
  }
  for (const n of rec.nodes)
    for (const h of cgroupHierarchies()) {
      const left = removeCgroupTree(join(h, n.cgroupRoot));
      if (left) problems.push(left);
    }
  for (const n of rec.nodes) rmSync(n.runDir, { recursive: true, force: true });
  const runBase = rec.nodes[0] ? join(rec.nodes[0].runDir, "..") : undefined;
  if (runBase) rmSync(runBase, { recursive: true, force: true });
  try {
    if (existsSync(RUN_ROOT) && readdirSync(RUN_ROOT).length === 0) rmSync(RUN_ROOT, { recursive: true });
  } catch {}
  // the host: sysctls, KUBE- chains, fixed paths, the node addresses on lo
  const steps = planRestore(rec.hostBefore, await snapshotHost(), {
    ownAddrs: rec.nodes.map((n) => `${n.ip}/32`),
    othersRunning: otherKubelets(ours).length > 0,
    nft: (await exec("iptables", ["-V"]).catch(() => ({ stdout: "" }))).stdout.includes("nf_tables"),
  });
  problems.push(...(await applyRestore(steps)));
  // the machine's lock, when its holder is gone (a killed run): nothing waits on a dead process's lock
  try {
    const held = JSON.parse(readFileSync(NODES_LOCK, "utf8")) as { pid: number; startTime: string };
    if (processStartTime(held.pid) !== held.startTime) rmSync(NODES_LOCK, { force: true });
  } catch {}
  if (problems.length === 0) rmSync(recordPath(stateDir), { force: true });
  return problems;
}

/** kubelets running on this machine that are not this run's (their --config is not under `ours`). */
export function otherKubelets(ours: string[]): number[] {
  return listPids().filter((pid) => {
    const argv = cmdline(pid);
    if (!argv[0]?.endsWith("/kubelet") && argv[0] !== "kubelet") return false;
    const config = argv.find((a) => a.startsWith("--config="))?.slice("--config=".length) ?? "";
    return !ours.some((d) => config.startsWith(`${d}/`));
  });
}

// ---------------------------------------------------------------------------------------------------------------

function ctr(rec: Pick<NodeRecord, "containerdSocket">, args: string[], timeoutMs = 10_000) {
  return exec("ctr", ["--address", rec.containerdSocket, "--namespace", "k8s.io", ...args], { timeoutMs });
}

/** Mount points of every cgroup v1 hierarchy and of cgroup2 (hybrid or unified). */
export function cgroupHierarchies(): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const parts = line.split(" ");
    const sep = parts.indexOf("-");
    if (sep < 0) continue;
    const fstype = parts[sep + 1];
    if (fstype === "cgroup" || fstype === "cgroup2") out.push(parts[4]!);
  }
  return out;
}

function pidsUnder(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const out: number[] = [];
  const walk = (d: string) => {
    try {
      for (const l of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n")) if (l) out.push(Number(l));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {}
  };
  walk(dir);
  return out;
}

/** rmdir deepest first (cgroup directories are removed with rmdir, never rm -r); the problem if any. */
function removeCgroupTree(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const dirs: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    dirs.push(d);
  };
  try {
    walk(dir);
  } catch (e) {
    return `cgroup ${dir}: ${(e as Error).message}`;
  }
  for (const d of dirs) {
    for (let i = 0; i < 20; i++) {
      try {
        rmdirSync(d);
        break;
      } catch {
        // a process still leaving it: try again shortly
        const until = Date.now() + 100;
        while (Date.now() < until) {}
      }
    }
  }
  return existsSync(dir) ? `cgroup ${dir} could not be removed` : undefined;
}

/** Mount points under any of `dirs`, deepest first. */
function mountsUnder(dirs: string[]): string[] {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\040/g, " "))
    .filter((p) => dirs.some((d) => p === d || p.startsWith(`${d}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function listPids(): number[] {
  return readdirSync("/proc")
    .filter((x) => /^\d+$/.test(x))
    .map(Number);
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {}
}

async function terminate(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const start = processStartTime(pid);
  const gone = () => child.exitCode !== null || child.signalCode !== null || processStartTime(pid) !== start;
  if (gone()) return;
  signal(pid, "SIGTERM");
  for (let i = 0; i < 100 && !gone(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!gone()) signal(pid, "SIGKILL");
  for (let i = 0; i < 50 && !gone(); i++) await new Promise((r) => setTimeout(r, 100));
}

async function waitFor(
  what: string,
  ready: () => Promise<boolean>,
  child: ChildProcess,
  logFile: string,
  deadline: number,
  signal?: AbortSignal,
): Promise<void> {
  for (;;) {
    if (signal?.aborted) throw new KubeletNodeError(`start interrupted while waiting for ${what}`);
    if (child.exitCode !== null || child.signalCode !== null)
      throw new KubeletNodeError(
        `${what} exited (${child.exitCode ?? child.signalCode}) while starting; last lines of ${logFile}:\n${tail(logFile)}`,
      );
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new KubeletNodeError(
        `${what} did not become ready in time; last lines of ${logFile}:\n${tail(logFile)}`,
      );
    await new Promise((r) => setTimeout(r, 300));
  }
}

function tail(file: string, lines = 12): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((ok) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      ok(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => ok(false));
    req.end();
  });
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin")
    .split(":")
    .some((d) => d && existsSync(join(d, cmd)));
}

/** Why `ip:port` cannot be bound (undefined: free), found by binding it once. */
function portInUse(ip: string, port: number): Promise<string | undefined> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once("error", (e: NodeJS.ErrnoException) => ok(e.code ?? e.message));
    srv.listen(port, ip, () => srv.close(() => ok(undefined)));
  });
}
