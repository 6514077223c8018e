/**
 * The "local" cluster backend: a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler) built from the Go module proxy by build.sh and run as child processes on 127.0.0.1, the way
 * kwok does. Without kubelets the testbed's node emulators register Nodes, renew Leases and patch pod
 * status; with `kubelets` real ones join (testbed/cluster/kubelet). Everything it writes lives under
 * `workDir`: pki/, etcd/, logs/<component>.log, pids/<component>.pid and the admin `kubeconfig`.
 *
 * Example:
 *   const cp = await startLocalControlPlane({ workDir: ".ctb" });
 *   // kubectl --kubeconfig .ctb/kubeconfig get ns
 *   await cp.stop();
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { accessSync, constants, existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { forgetProcess, processStartTime, recordProcess } from "../../../fake-vrouter/netns/pidfiles";
import { type ClientName, type Pki, generatePki, pemData } from "./pki";

export { PkiError } from "./pki";

const HERE = dirname(fileURLToPath(import.meta.url));
const BUILD_SCRIPT = "testbed/cluster/local/build.sh";

/** The control-plane processes, in start order (stopped in reverse). */
export const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const;
export type Component = (typeof COMPONENTS)[number];

/** Matches the controller's and kind-config.yaml's default service CIDR. */
export const DEFAULT_SERVICE_SUBNET = "10.96.0.0/12";

export interface LocalControlPlaneOptions {
  /** Where pki/, etcd/, logs/, pids/ and kubeconfig go, e.g. `<cwd>/.ctb`. */
  workDir: string;
  serviceSubnet?: string;
  /** Directory with the binaries; default $CTB_K8S_BIN or the build.sh cache. */
  binDir?: string;
  /** How long to wait for every component to report healthy (default 120 s: a loaded 2-core machine is slow). */
  readyTimeoutMs?: number;
  /** The run's record (pids/): each component is recorded there with its start time and command line. */
  stateDir?: string;
  /** Aborting stops the start (what was started is stopped) and rejects. */
  signal?: AbortSignal;
  /**
   * Real kubelets join (`--nodes kubelet`): the apiserver authorizes them with the Node authorizer
   * (`--authorization-mode=Node,RBAC`) and reaches them with its kubelet client certificate (logs, exec).
   */
  kubelets?: boolean;
}

export interface LocalControlPlane {
  kubeconfigPath: string;
  apiServerUrl: string;
  /** The throwaway CA and certificates (kubelet nodes get theirs from the same CA). */
  pki: Pki;
  /** Stops the processes this call started (and only those), then removes their pid files. */
  stop(): Promise<void>;
  pids: number[];
}

export type LocalControlPlaneErrorCode = "binaries-missing" | "bad-option" | "exited" | "not-ready";

export class LocalControlPlaneError extends Error {
  constructor(
    readonly code: LocalControlPlaneErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "LocalControlPlaneError";
  }
}

/** The Kubernetes release the wrapper module pins (its go.mod is the single source of truth). */
export function k8sVersion(): string {
  const gomod = readFileSync(join(HERE, "go", "go.mod"), "utf8");
  const m = /^\s*k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+)\s*$/m.exec(gomod);
  if (!m)
    throw new LocalControlPlaneError(
      "bad-option",
      `no k8s.io/kubernetes version in ${join(HERE, "go", "go.mod")}`,
    );
  return m[1];
}

/** Where build.sh puts the binaries: $CTB_K8S_BIN, else ${CTB_CACHE:-~/.cache/ctb}/k8s-<version>/bin. */
export function defaultBinDir(): string {
  if (process.env.CTB_K8S_BIN) return process.env.CTB_K8S_BIN;
  const cache = process.env.CTB_CACHE || join(homedir(), ".cache", "ctb");
  return join(cache, `k8s-${k8sVersion()}`, "bin");
}

/** Names the binaries missing from `binDir` (empty when it is complete). kubectl is checked too when asked. */
export function missingBinaries(binDir: string, withKubectl = false): string[] {
  const names: string[] = [...COMPONENTS, ...(withKubectl ? ["kubectl"] : [])];
  return names.filter((n) => {
    try {
      accessSync(join(binDir, n), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}

export async function startLocalControlPlane(opts: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  const workDir = resolve(opts.workDir);
  const binDir = resolve(opts.binDir ?? defaultBinDir());
  const missing = missingBinaries(binDir);
  if (missing.length > 0) {
    throw new LocalControlPlaneError(
      "binaries-missing",
      `local control plane: ${missing.join(", ")} not found in ${binDir}; build them with \`bash ${BUILD_SCRIPT}\` ` +
        "(Go required; the first build takes a while, later runs reuse the cache)",
    );
  }
  const serviceSubnet = opts.serviceSubnet ?? DEFAULT_SERVICE_SUBNET;
  const serviceIP = firstServiceIP(serviceSubnet);

  const live = await livePidFiles(workDir);
  if (live.length > 0) {
    throw new LocalControlPlaneError(
      "bad-option",
      `a control plane from ${workDir} is still running (pids ${live.map((p) => p.pid).join(", ")}); stop it first ` +
        "(ctb down)",
    );
  }
  for (const sub of ["etcd", "pids", "logs"]) await rm(join(workDir, sub), { recursive: true, force: true });
  for (const sub of ["etcd", "pids", "logs"]) await mkdir(join(workDir, sub), { recursive: true });

  const pki = await generatePki(join(workDir, "pki"), { serviceIP });
  const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort] = await freePorts(5);
  const apiServerUrl = `https://127.0.0.1:${apiPort}`;
  const kubeconfigPath = join(workDir, "kubeconfig");
  await writeKubeconfig(kubeconfigPath, apiServerUrl, pki, "admin");
  const kcmKubeconfig = join(workDir, "pki", "kube-controller-manager.kubeconfig");
  const schedKubeconfig = join(workDir, "pki", "kube-scheduler.kubeconfig");
  await writeKubeconfig(kcmKubeconfig, apiServerUrl, pki, "kube-controller-manager");
  await writeKubeconfig(schedKubeconfig, apiServerUrl, pki, "kube-scheduler");

  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const etcdPeer = `http://127.0.0.1:${etcdPeerPort}`;
  const etcdArgs = [
    "--name=ctb",
    `--data-dir=${join(workDir, "etcd")}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${etcdPeer}`,
    `--initial-advertise-peer-urls=${etcdPeer}`,
    `--initial-cluster=ctb=${etcdPeer}`,
    "--log-level=warn",
  ];
  // Throwaway data: skipping fsync makes every write cheap (etcd 3.5+ only).
  if (await supportsFlag(join(binDir, "etcd"), "unsafe-no-fsync")) etcdArgs.push("--unsafe-no-fsync=true");

  const args: Record<Component, string[]> = {
    etcd: etcdArgs,
    "kube-apiserver": [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${pki.serving.cert}`,
      `--tls-private-key-file=${pki.serving.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      `--service-cluster-ip-range=${serviceSubnet}`,
      opts.kubelets ? "--authorization-mode=Node,RBAC" : "--authorization-mode=RBAC",
      ...(opts.kubelets
        ? [
            `--kubelet-client-certificate=${pki.clients.admin.cert}`,
            `--kubelet-client-key=${pki.clients.admin.key}`,
            `--kubelet-certificate-authority=${pki.ca.cert}`,
            "--kubelet-preferred-address-types=InternalIP",
          ]
        : []),
      "--allow-privileged=true",
      `--service-account-issuer=${apiServerUrl}/`,
      `--service-account-key-file=${pki.serviceAccount.publicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
      // No kubelet ever connects back, and the emulated nodes mount no tokens: without the ServiceAccount
      // admission plugin a pod created right after its namespace is not refused for a missing default account.
      "--disable-admission-plugins=ServiceAccount",
      // Nothing answers on the advertised address for the kubernetes Service, so don't publish endpoints for it.
      "--endpoint-reconciler-type=none",
      "--profiling=false",
    ],
    "kube-controller-manager": [
      `--kubeconfig=${kcmKubeconfig}`,
      `--authentication-kubeconfig=${kcmKubeconfig}`,
      `--authorization-kubeconfig=${kcmKubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${kcmPort}`,
      `--tls-cert-file=${pki.serving.cert}`,
      `--tls-private-key-file=${pki.serving.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      `--service-account-private-key-file=${pki.serviceAccount.privateKey}`,
      `--root-ca-file=${pki.ca.cert}`,
      `--cluster-signing-cert-file=${pki.ca.cert}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      `--service-cluster-ip-range=${serviceSubnet}`,
      "--controllers=*",
      "--use-service-account-credentials=true",
      "--leader-elect=false",
      "--profiling=false",
    ],
    "kube-scheduler": [
      `--kubeconfig=${schedKubeconfig}`,
      `--authentication-kubeconfig=${schedKubeconfig}`,
      `--authorization-kubeconfig=${schedKubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${schedPort}`,
      `--tls-cert-file=${pki.serving.cert}`,
      `--tls-private-key-file=${pki.serving.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      "--leader-elect=false",
      "--profiling=false",
    ],
  };
  const health: Record<Component, () => Promise<boolean>> = {
    etcd: async () =>
      (await (await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) })).text()).includes(
        '"health":"true"',
      ),
    "kube-apiserver": async () =>
      (await httpsOk(`${apiServerUrl}/readyz`, pki)) &&
      // The system namespaces appear shortly after readyz; node emulators need kube-node-lease for Leases.
      (await httpsOk(`${apiServerUrl}/api/v1/namespaces/kube-node-lease`, pki)) &&
      (await httpsOk(`${apiServerUrl}/api/v1/namespaces/default`, pki)),
    "kube-controller-manager": async () => httpsOk(`https://127.0.0.1:${kcmPort}/healthz`, pki),
    "kube-scheduler": async () => httpsOk(`https://127.0.0.1:${schedPort}/healthz`, pki),
  };

  const children: { name: Component; child: ChildProcess }[] = [];
  const reaper = startReaper();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const { name, child } of [...children].reverse()) {
        await terminate(child.pid, () => child.exitCode !== null || child.signalCode !== null);
        await rm(pidFile(workDir, name), { force: true });
        if (opts.stateDir) await forgetProcess(opts.stateDir, { pid: child.pid!, ns: "", role: name });
        reaper.forget(child.pid!);
      }
      reaper.close();
    })());
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  try {
    for (const name of COMPONENTS) {
      if (opts.signal?.aborted) throw new LocalControlPlaneError("not-ready", "start interrupted");
      const child = await launch(workDir, binDir, name, args[name]);
      children.push({ name, child });
      reaper.watch(child.pid!);
      if (opts.stateDir) await recordProcess(opts.stateDir, { pid: child.pid!, ns: "", role: name });
      await waitHealthy(workDir, name, child, health[name], deadline, opts.signal);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { kubeconfigPath, apiServerUrl, pki, stop, pids: children.map((c) => c.child.pid!) };
}

/**
 * The dead-man switch of reaper.mjs: a process holding a pipe from us that stops the registered components
 * when the pipe closes without them being forgotten first (this process was killed, even by SIGKILL).
 */
export function startReaper(): { watch(pid: number): void; forget(pid: number): void; close(): void } {
  const child = spawn(process.execPath, [join(HERE, "reaper.mjs")], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  child.on("error", () => {}); // no reaper: `ctb down` still finds the components from the run's record
  child.stdin!.on("error", () => {});
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  const send = (line: string) => {
    if (child.stdin!.writable) child.stdin!.write(`${line}\n`);
  };
  return {
    watch: (pid) => {
      const start = processStartTime(pid);
      if (start) send(`add ${pid} ${start}`);
    },
    forget: (pid) => send(`del ${pid}`),
    close: () => child.stdin!.end(),
  };
}

/**
 * Stops a control plane recorded in `<workDir>/pids` (e.g. after the process that started it crashed).
 * A pid is signalled only if /proc shows the same component running with this workDir on its command line,
 * so a recycled pid is never killed. Returns the pids it stopped.
 */
export async function stopFromPidFiles(workDir: string): Promise<number[]> {
  const stopped: number[] = [];
  const entries = await livePidFiles(resolve(workDir));
  // Reverse start order: the scheduler and controller-manager before the apiserver, etcd last.
  entries.sort((a, b) => COMPONENTS.indexOf(b.name) - COMPONENTS.indexOf(a.name));
  for (const { name, pid } of entries) {
    await terminate(pid, () => !isOurProcess(pid, name, resolve(workDir)));
    stopped.push(pid);
  }
  const dir = join(resolve(workDir), "pids");
  if (existsSync(dir))
    for (const f of await readdir(dir)) if (f.endsWith(".pid")) await rm(join(dir, f), { force: true });
  return stopped;
}

// ---------------------------------------------------------------------------------------------------------------

function pidFile(workDir: string, name: Component): string {
  return join(workDir, "pids", `${name}.pid`);
}

async function livePidFiles(workDir: string): Promise<{ name: Component; pid: number }[]> {
  const dir = join(workDir, "pids");
  if (!existsSync(dir)) return [];
  const out: { name: Component; pid: number }[] = [];
  for (const f of await readdir(dir)) {
    const name = f.replace(/\.pid$/, "") as Component;
    if (!f.endsWith(".pid") || !COMPONENTS.includes(name)) continue;
    const pid = Number.parseInt((await readFile(join(dir, f), "utf8")).trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && isOurProcess(pid, name, workDir)) out.push({ name, pid });
  }
  return out;
}

/** True when `pid` runs the `name` binary with a path under `workDir` among its arguments. */
function isOurProcess(pid: number, name: Component, workDir: string): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return false;
  }
  return basename(argv[0] ?? "") === name && argv.some((a) => a.includes(`${workDir}/`));
}

async function launch(
  workDir: string,
  binDir: string,
  name: Component,
  args: string[],
): Promise<ChildProcess> {
  const log = openSync(join(workDir, "logs", `${name}.log`), "a");
  // its own process group: a terminal's Ctrl-C reaches only ctb, which stops the components in order
  const child = spawn(join(binDir, name), args, { stdio: ["ignore", log, log], detached: true });
  closeSync(log);
  await new Promise<void>((ok, fail) => {
    child.once("spawn", ok);
    child.once("error", fail);
  });
  await writeFile(pidFile(workDir, name), `${child.pid}\n`);
  return child;
}

async function waitHealthy(
  workDir: string,
  name: Component,
  child: ChildProcess,
  healthy: () => Promise<boolean>,
  deadline: number,
  signal?: AbortSignal,
): Promise<void> {
  for (;;) {
    if (signal?.aborted)
      throw new LocalControlPlaneError("not-ready", `start interrupted while waiting for ${name}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new LocalControlPlaneError(
        "exited",
        `${name} exited (${child.exitCode ?? child.signalCode}) while starting; last log lines:\n${await logTail(workDir, name)}`,
      );
    }
    if (await healthy().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new LocalControlPlaneError(
        "not-ready",
        `${name} did not become healthy in time; last log lines of ${join(workDir, "logs", `${name}.log`)}:\n` +
          (await logTail(workDir, name)),
      );
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function logTail(workDir: string, name: Component, lines = 15): Promise<string> {
  try {
    return (await readFile(join(workDir, "logs", `${name}.log`), "utf8"))
      .trimEnd()
      .split("\n")
      .slice(-lines)
      .join("\n");
  } catch {
    return "(no log)";
  }
}

/** SIGTERM, then SIGKILL if the process is still there after a grace period. */
async function terminate(pid: number | undefined, gone: () => boolean): Promise<void> {
  if (pid === undefined || gone()) return;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  for (let i = 0; i < 100 && !gone() && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (!gone() && alive(pid)) signal("SIGKILL");
  for (let i = 0; i < 50 && !gone() && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is gone for our purposes.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function supportsFlag(bin: string, flag: string): Promise<boolean> {
  try {
    const { stdout, stderr } = await promisify(execFile)(bin, ["--help"], { maxBuffer: 8 << 20 });
    return (stdout + stderr).includes(`--${flag}`);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ""}${e.stderr ?? ""}`.includes(`--${flag}`);
  }
}

/** Picks `n` distinct free TCP ports on 127.0.0.1 (held open together so they cannot repeat). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((ok, fail) => {
          const s = createServer();
          s.once("error", fail);
          s.listen(0, "127.0.0.1", () => ok(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** The first usable address of the service CIDR: the apiserver gives it to the `kubernetes` Service. */
export function firstServiceIP(cidr: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const bits = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || bits < 8 || bits > 30) {
    throw new LocalControlPlaneError(
      "bad-option",
      `serviceSubnet "${cidr}" is not an IPv4 CIDR between /8 and /30`,
    );
  }
  const base = octets.reduce((a, o) => a * 256 + o, 0);
  const network = base - (base % 2 ** (32 - bits));
  const ip = network + 1;
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".");
}

/** A kubeconfig for `server` with the throwaway CA and one client certificate (any identity the CA signed). */
export async function writeKubeconfig(
  path: string,
  server: string,
  pki: Pki,
  user: ClientName | { name: string; cert: string; key: string },
): Promise<void> {
  const id = typeof user === "string" ? { name: user, ...pki.clients[user] } : user;
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "ctb-local", cluster: { server, "certificate-authority-data": await pemData(pki.ca.cert) } },
    ],
    users: [
      {
        name: id.name,
        user: {
          "client-certificate-data": await pemData(id.cert),
          "client-key-data": await pemData(id.key),
        },
      },
    ],
    contexts: [{ name: "ctb-local", context: { cluster: "ctb-local", user: id.name } }],
    "current-context": "ctb-local",
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
}

/** GET with the admin client certificate, verifying the server against the throwaway CA. */
function httpsOk(url: string, pki: Pki): Promise<boolean> {
  return new Promise((ok) => {
    const req = request(
      url,
      {
        ca: readFileSync(pki.ca.cert),
        cert: readFileSync(pki.clients.admin.cert),
        key: readFileSync(pki.clients.admin.key),
        timeout: 2000,
      },
      (res) => {
        res.resume();
        ok(res.statusCode === 200);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => ok(false));
    req.end();
  });
}
