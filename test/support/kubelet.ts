/**
 * Tier KUBELET for the real-node tests: root, Debian's containerd + runc (+ the loopback CNI plugin), the built
 * kubelet and the rest of the control plane — and a host-state reading, taken independently of what the
 * backend itself snapshots, that tests compare before and after (sysctls, iptables and ip6tables, mounts, cgroup
 * directories, lo's addresses, the fixed paths kubelet and containerd create).
 *
 * Example: `const before = await hostStateBetweenEnvironments(); …; expect(await hostStateBetweenEnvironments()).toEqual(before)`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { acquireNodesLock, kubeletNodesMissing } from "../../testbed/cluster/kubelet/node";
import { defaultBinDir, missingBinaries } from "../../testbed/cluster/local";
import { type EnvTestbed, startTestbed } from "../../testbed/env";
import { parseScenario } from "../../testbed/scenario/load";
import { requireTier } from "./tiers";

/** Why the tier is missing (empty: usable). */
export function kubeletTierMissing(): string[] {
  const bins = missingBinaries(defaultBinDir(), true);
  return [
    ...kubeletNodesMissing(defaultBinDir()),
    ...(bins.length ? [`${bins.join(", ")} not built: run \`bash testbed/cluster/local/build.sh\``] : []),
  ];
}

/** requireTier("KUBELET", …) with the reasons. */
export function kubeletTier(): boolean {
  const missing = kubeletTierMissing();
  return requireTier("KUBELET", missing.length === 0, missing.join("; "));
}

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8" }).stdout ?? "";

export interface HostState {
  sysctls: string[];
  iptables: string[];
  ip6tables: string[];
  mounts: string[];
  cgroups: string[];
  lo: string[];
  paths: string[];
}

/** The machine state a kubelet node could change; mount and cgroup lists can be narrowed to exclude others' work. */
export function hostState(): HostState {
  const save = (cmd: string) =>
    run(cmd, [])
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.replace(/\s*\[\d+:\d+\]$/, ""));
  const sysctls = run("sysctl", ["-a"])
    .split("\n")
    .filter((l) => /^(vm\.(overcommit|panic)|kernel\.(panic|keys\.root)|net\.ipv4\.ip_forward )/.test(l));
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter(Boolean)
    .sort();
  const cgroups: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const p = line.split(" ");
    const sep = p.indexOf("-");
    if (sep > 0 && (p[sep + 1] === "cgroup" || p[sep + 1] === "cgroup2"))
      for (const e of readdirSync(p[4]!, { withFileTypes: true }))
        if (e.isDirectory()) cgroups.push(join(p[4]!, e.name));
  }
  const lo = run("ip", ["-o", "addr", "show", "dev", "lo"])
    .split("\n")
    .map((l) => l.split(/\s+/)[3] ?? "")
    .filter(Boolean);
  const paths = [
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/containerd",
    "/run/containerd",
    "/opt/containerd",
    "/etc/cni",
    "/run/ctb-kubelet",
    "/run/ctb-kubelet.lock",
    "/run/mount",
  ].filter((p) => existsSync(p));
  return {
    sysctls,
    iptables: save("iptables-save"),
    ip6tables: save("ip6tables-save"),
    mounts,
    cgroups: cgroups.sort(),
    lo,
    paths,
  };
}

/**
 * The host state while no `--nodes kubelet` environment runs: taken under the machine's lock (waiting for one
 * that runs, which restores the host before it lets go), so another suite's nodes never show in the reading.
 */
export async function hostStateBetweenEnvironments(): Promise<HostState> {
  const release = await acquireNodesLock({ stateDir: "(a test's host reading)" });
  try {
    return hostState();
  } finally {
    release();
  }
}

/**
 * A testbed of real kubelet nodes with nothing on them yet (the deploy/ tests apply their own), its nodes at the
 * given addresses (a test's own, apart from the defaults) and deploy/'s image imported into them.
 */
export function startKubeletNodes(
  name: string,
  nodes: { name: string; ip: string }[],
  workDir: string,
): Promise<EnvTestbed> {
  const scenario = parseScenario(
    `name: ${name}\nnodes: [${nodes.map((n) => `{ name: ${n.name}, ip: ${n.ip} }`).join(", ")}]\n` +
      // startTestbed runs no step; the schema wants one
      'steps:\n  - apply: "{ apiVersion: v1, kind: Namespace, metadata: { name: spare } }"\n',
    `${name}.yaml`,
  );
  return startTestbed(scenario, {
    datapath: "netns",
    cluster: { kind: "local" },
    nodes: "kubelet",
    kubeletDeployImage: true,
    workDir,
  });
}
