/**
 * `--nodes kubelet` as a user meets it when something is wrong: a flag combination it cannot run, a machine
 * without containerd, runc, the loopback plugin, kubelet, overlayfs or root, a node address another run holds —
 * one clear message each, before anything starts and with nothing left behind; and after a SIGKILL of `ctb`,
 * `ctb down` stops what the nodes started and puts the host back (the KUBELET tier's cases).
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireNodesLock, kubeletNodesMissing, type MachineProbe } from "../../testbed/cluster/kubelet/node";
import { processStartTime } from "../../fake-vrouter/netns/pidfiles";
import { defaultBinDir } from "../../testbed/cluster/local";
import { hostStateBetweenEnvironments, kubeletTier } from "../support/kubelet";

const CTB = resolve("bin/ctb");
const work = mkdtempSync(join(tmpdir(), "ctb-kubelet-life-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SCENARIO = join(work, "two-nodes.yaml");
writeFileSync(
  SCENARIO,
  `name: two-nodes
nodes: [{ name: node-1, ip: 10.84.79.11 }, { name: node-2, ip: 10.84.79.12 }]
steps:
  - title: two pods
    apply: |
      apiVersion: v1
      kind: Namespace
      metadata: { name: k }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: a, namespace: k }
      spec: { nodeName: node-1, containers: [{ name: c, image: nginx, ports: [{ containerPort: 80 }] }] }
  - pods:
      - { namespace: k, count: 1 }
`,
);

function ctb(workDir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CTB, ...args], {
    encoding: "utf8",
    env: { ...process.env, CTB_WORKDIR: workDir, NO_COLOR: "1", ...env },
    timeout: 1_200_000, // a kubelet environment of another suite may hold the machine's lock meanwhile
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const runDirs = (wd: string) => (existsSync(join(wd, "runs")) ? readdirSync(join(wd, "runs")) : []);
const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("--nodes kubelet: bad input", () => {
  it("needs the local cluster and the netns datapath, and names the two node kinds", () => {
    const wd = join(work, "flags");
    const r = ctb(wd, ["run", SCENARIO, "--nodes", "kubelet"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      "--nodes kubelet runs real kubelet + containerd nodes: it needs --cluster local and --datapath netns",
    );
    const bad = ctb(wd, ["run", SCENARIO, "--nodes", "kind"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--nodes must be emulated or kubelet, not "kind"');
    expect(runDirs(wd)).toEqual([]);
  });

  it("names each missing prerequisite with its fix", () => {
    const none: MachineProbe = {
      uid: 1000,
      onPath: () => false,
      exists: () => false,
      filesystems: "nodev\tproc\n",
      iptablesNft: true,
    };
    const lines = kubeletNodesMissing("/nowhere", none);
    expect(lines).toEqual([
      "--nodes kubelet needs root (containerd, runc, cgroups, mounts): run as root",
      "containerd is not installed: apt-get install containerd (or `bash .ci/setup.sh`)",
      "ctr is not installed: apt-get install containerd (or `bash .ci/setup.sh`)",
      "containerd-shim-runc-v2 is not installed: apt-get install containerd (or `bash .ci/setup.sh`)",
      "runc is not installed: apt-get install runc (or `bash .ci/setup.sh`)",
      "iptables is not installed: apt-get install iptables (or `bash .ci/setup.sh`)",
      "nft is not installed (the teardown removes the nf_tables tables kubelet's iptables calls register with it): apt-get install nftables",
      "/usr/lib/cni/loopback is missing (containerd sets up each pod's lo with it): apt-get install containernetworking-plugins",
      "kubelet is not built (missing in /nowhere): run `bash testbed/cluster/local/build.sh` (it builds kubelet with the control plane)",
      "the kernel has no overlayfs (containerd's snapshotter needs it): `modprobe overlay`",
      "no cgroup hierarchy is mounted under /sys/fs/cgroup (kubelet and runc need one)",
    ]);
    const all: MachineProbe = {
      uid: 0,
      onPath: () => true,
      exists: () => true,
      filesystems: "nodev\toverlay\n",
      iptablesNft: true,
    };
    expect(kubeletNodesMissing("/k8s/bin", all)).toEqual([]);
  });
});

describe("--nodes kubelet: one environment at a time on a machine", () => {
  it("a live holder of the lock is waited for and named; a gone one is taken over", async () => {
    const path = join(work, "nodes.lock");
    writeFileSync(
      path,
      JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid), stateDir: "/x/run-a" }),
    );
    const said: string[] = [];
    await expect(
      acquireNodesLock({ stateDir: "/x/run-b", path, waitMs: 700, log: (m) => said.push(m) }),
    ).rejects.toThrow(
      `another --nodes kubelet environment (pid ${process.pid}, /x/run-a) still runs: one runs at a time on a machine`,
    );
    expect(said).toEqual([
      `waiting for the --nodes kubelet environment of pid ${process.pid} (/x/run-a) to end: one runs at a time on a machine`,
    ]);
    // killed without a teardown: its lock no longer holds anyone back
    writeFileSync(path, JSON.stringify({ pid: 4_000_000, startTime: "1", stateDir: "/x/run-a" }));
    const release = await acquireNodesLock({ stateDir: "/x/run-b", path, waitMs: 700 });
    expect(JSON.parse(readFileSync(path, "utf8")).stateDir).toBe("/x/run-b");
    release();
    expect(existsSync(path)).toBe(false);
  });
});

const usable = kubeletTier();

describe.skipIf(!usable)("--nodes kubelet: nothing left behind", () => {
  it("without a kubelet binary `ctb run` says so and starts nothing", () => {
    const wd = join(work, "no-kubelet");
    const bin = join(work, "bin-without-kubelet");
    mkdirSync(bin, { recursive: true });
    for (const c of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"])
      symlinkSync(join(defaultBinDir(), c), join(bin, c));
    const r = ctb(wd, ["run", SCENARIO, "--cluster", "local", "--datapath", "netns", "--nodes", "kubelet"], {
      CTB_K8S_BIN: bin,
    });
    expect(r.code).toBe(2); // a prerequisite to fix, like a bad flag
    expect(r.err).toContain(`kubelet is not built (missing in ${bin})`);
    expect(runDirs(wd)).toEqual([]);
  });

  it("a node address already on lo (another run's) is refused before anything starts", () => {
    const wd = join(work, "addr-taken");
    expect(spawnSync("ip", ["addr", "add", "10.84.79.12/32", "dev", "lo"]).status).toBe(0);
    try {
      const r = ctb(wd, ["run", SCENARIO, "--cluster", "local", "--datapath", "netns", "--nodes", "kubelet"]);
      expect(r.code).toBe(2);
      expect(r.err).toContain("node address 10.84.79.12 is already on lo");
      expect(r.err).not.toContain("10.84.79.11");
      expect(runDirs(wd)).toEqual([]);
      expect(r.err).not.toMatch(/local control plane up/);
    } finally {
      spawnSync("ip", ["addr", "del", "10.84.79.12/32", "dev", "lo"]);
    }
  }, 1_300_000);

  it("after a SIGKILL of the environment `ctb up` left, `ctb down` stops the nodes and restores the host", async () => {
    const wd = join(work, "sigkill");
    const before = await hostStateBetweenEnvironments();
    const upped = ctb(wd, [
      "up",
      SCENARIO,
      "--cluster",
      "local",
      "--datapath",
      "netns",
      "--nodes",
      "kubelet",
    ]);
    expect(upped.code).toBe(0);
    const pid = Number(/Environment up \(pid (\d+)\)/.exec(upped.out)?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 100 && running(pid); i++) await new Promise((r) => setTimeout(r, 100));
    const d = ctb(wd, ["down"]);
    expect(d.code).toBe(0);
    expect(d.out).toContain(`restored the host (ctb up pid ${pid})`);
    expect(d.out).toContain(`removed the record of ctb up pid ${pid}`);
    const kubelets = spawnSync("pgrep", ["-f", `${wd}/`], { encoding: "utf8" }).stdout.trim();
    expect(kubelets.split("\n").filter(Boolean).map(Number).filter(running)).toEqual([]);
    const after = await hostStateBetweenEnvironments();
    expect(after.sysctls).toEqual(before.sysctls);
    expect(after.iptables).toEqual(before.iptables);
    expect(after.ip6tables).toEqual(before.ip6tables);
    expect(after.lo).toEqual(before.lo);
    expect(after.paths).toEqual(before.paths);
    expect(after.mounts.filter((m) => m.startsWith(wd) || m.startsWith("/run/ctb-kubelet"))).toEqual([]);
    expect(after.cgroups.filter((c) => !before.cgroups.includes(c) && /\/ctb-/.test(c))).toEqual([]);
  }, 1_500_000);
});
