/**
 * Real nodes (`--nodes kubelet`, tier KUBELET): two kubelet v1.34 + containerd nodes on the local control plane
 * and the netns datapath. What a user relies on: the Nodes are real kubelets on containerd; pods become Ready
 * through kubelet; containerd (not the testbed) calls contrail-k8s-cni, with the sandbox kubelet asked for, and
 * calls it again (DEL) when the pod goes; ping and TCP cross the two vrouters; a NetworkPolicy is enforced and
 * lifted; and tearing the testbed down leaves the machine as it was (sysctls, iptables, mounts, cgroups, lo).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { ORIGINAL_IMAGES_ANNOTATION } from "../../testbed/cluster/kubelet";
import { recordPath } from "../../testbed/cluster/kubelet/node";
import { type EnvTestbed, startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";
import { type HostState, hostStateBetweenEnvironments, kubeletTier } from "../support/kubelet";

const usable = kubeletTier();

const pod = (name: string, node: string) => `
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: ${name}, namespace: k, labels: { app: ${name} } }
      spec: { nodeName: ${node}, containers: [{ name: web, image: nginx:1.27, ports: [{ containerPort: 80 }] }] }`;

const SCENARIO = `
name: kubelet-nodes
nodes: [node-1, node-2]
steps:
  - apply: |
      apiVersion: v1
      kind: Namespace
      metadata: { name: k }${pod("a", "node-1")}${pod("b", "node-2")}
  - pods:
      - { namespace: k, count: 2 }
`;

const work = mkdtempSync(join(tmpdir(), "ctb-kubelet-"));
const stateDir = join(work, "state");
let tb: EnvTestbed | undefined;
let before: HostState;
let record: { nodes: { name: string; containerdSocket: string }[] };

beforeAll(async () => {
  if (!usable) return;
  before = await hostStateBetweenEnvironments();
  const scenario = parseScenario(SCENARIO, "kubelet-nodes.yaml");
  tb = await startTestbed(scenario, {
    datapath: "netns",
    cluster: { kind: "local" },
    nodes: "kubelet",
    workDir: work,
    stateDir,
  });
  record = JSON.parse(readFileSync(recordPath(stateDir), "utf8"));
  const report = await runScenario(scenario, tb);
  expect(report.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
  // up to 20 min: another suite's kubelet environment may hold the machine's lock (one at a time)
}, 1_500_000);

afterAll(async () => {
  await tb?.close();
  rmSync(work, { recursive: true, force: true });
}, 180_000);

const ipOf = async (name: string) => (await tb!.kube.get("pods", name, "k")).status.podIP as string;

/** The plugin's state file of a pod's eth0 (written by CNI ADD, removed by CNI DEL). */
function cniState(name: string): Record<string, string> | undefined {
  const cniDir = readdirSync(stateDir).find((d) => d.startsWith("cni-ctb-"));
  const dir = join(stateDir, cniDir ?? "none", "ports", `k8s__k__${name}`);
  if (!existsSync(dir)) return undefined;
  for (const f of readdirSync(dir)) {
    const m = JSON.parse(readFileSync(join(dir, f), "utf8"));
    if (m["vm-ifname"] === "eth0") return m;
  }
  return undefined;
}

describe.skipIf(!usable)("kubelet nodes", () => {
  it("the Nodes are real kubelets on containerd, and the pods are Ready through them on the local image", async () => {
    const nodes = (await tb!.kube.list("nodes")).items;
    expect(nodes.map((n) => n.metadata.name).sort()).toEqual(["node-1", "node-2"]);
    for (const n of nodes) {
      expect(n.status.nodeInfo.kubeletVersion).toBe("v1.34.4");
      expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
      expect(n.status.conditions.find((c: { type: string }) => c.type === "Ready").status).toBe("True");
    }
    for (const name of ["a", "b"]) {
      const p: KubeObject = await tb!.kube.get("pods", name, "k");
      expect(p.status.conditions.find((c: { type: string }) => c.type === "Ready").status).toBe("True");
      expect(p.status.containerStatuses[0].image).toContain("ctb.local/echo");
      expect(p.status.containerStatuses[0].containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
      expect(p.metadata.annotations?.[ORIGINAL_IMAGES_ANNOTATION]).toBe("web=nginx:1.27");
    }
  });

  it("containerd called contrail-k8s-cni ADD with the pod's sandbox and a namespace of its own", async () => {
    for (const [name, node] of [
      ["a", "node-1"],
      ["b", "node-2"],
    ] as const) {
      const st = cniState(name)!;
      expect(st).toBeDefined();
      // the namespace containerd made under its state dir, not one the testbed created
      expect(st["vm-namespace"]).toMatch(/^\/run\/ctb-kubelet\/.+\/containerd\/.*netns\/cni-/);
      const sock = record.nodes.find((n) => n.name === node)!.containerdSocket;
      const sandboxes = spawnSync("ctr", ["-a", sock, "-n", "k8s.io", "containers", "ls", "-q"], {
        encoding: "utf8",
      }).stdout.split("\n");
      // CNI_CONTAINERID: the sandbox kubelet asked containerd for (K8S_POD_INFRA_CONTAINER_ID in CNI_ARGS)
      expect(sandboxes).toContain(st["vm-id"]);
      expect(st["vm-name"]).toBe(`k8s__k__${name}`);
    }
  });

  it("ping and TCP cross the two vrouters between pods on the two real nodes", async () => {
    const b = await ipOf("b");
    const ping = await tb!.probe({ from: "k/a", toIp: b, proto: "icmp", count: 2 });
    expect(ping.received).toBe(2);
    const tcp = await tb!.probe({ from: "k/a", toIp: b, proto: "tcp", port: 80, count: 2 });
    expect(tcp.received).toBe(2);
    expect(tcp.servedBy).toBe("k/b");
    // the flows are on both vrouters' tables: the packets went through them
    for (const node of ["node-1", "node-2"]) {
      const out = await tb!.vrouterTool!(node, ["flow", "-l"]);
      expect(out.stdout).toContain(b);
    }
  });

  it("a NetworkPolicy denying b's ingress drops a→b at a vrouter, and deleting it lets a through again", async () => {
    const b = await ipOf("b");
    await tb!.kube.create(
      "networkpolicies",
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "deny-b", namespace: "k" },
        spec: { podSelector: { matchLabels: { app: "b" } }, policyTypes: ["Ingress"] },
      },
      "k",
    );
    await tb!.settle();
    const denied = await tb!.probe({ from: "k/a", toIp: b, proto: "tcp", port: 80, count: 1 });
    expect(denied.received).toBe(0);
    expect(denied.drop?.where).toMatch(/^node-\d/);
    await tb!.kube.delete("networkpolicies", "deny-b", "k");
    await tb!.settle();
    const open = await tb!.probe({ from: "k/a", toIp: b, proto: "tcp", port: 80, count: 1 });
    expect(open.received).toBe(1);
  });

  it("deleting a pod makes containerd call CNI DEL: its attachment is gone", async () => {
    expect(cniState("b")).toBeDefined();
    await tb!.kube.delete("pods", "b", "k");
    for (let i = 0; i < 120; i++) {
      const left = (await tb!.kube.list("pods", { namespace: "k" })).items.map((p) => p.metadata.name);
      if (!left.includes("b")) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await tb!.settle();
    expect(cniState("b")).toBeUndefined();
    expect(tb!.netnsEndpoint("k/b")).toBeUndefined();
  });

  it("tearing the testbed down stops every node and leaves the host as it was", async () => {
    await tb!.close();
    tb = undefined;
    const after = await hostStateBetweenEnvironments();
    expect(after.sysctls).toEqual(before.sysctls);
    expect(after.iptables).toEqual(before.iptables);
    expect(after.ip6tables).toEqual(before.ip6tables);
    expect(after.lo).toEqual(before.lo);
    expect(after.paths).toEqual(before.paths);
    // other suites may mount or make cgroups meanwhile: nothing of this run's may be left
    expect(after.mounts.filter((m) => m.startsWith(work) || m.startsWith("/run/ctb-kubelet"))).toEqual([]);
    expect(after.cgroups.filter((c) => !before.cgroups.includes(c) && /\/ctb-/.test(c))).toEqual([]);
    expect(existsSync(recordPath(stateDir))).toBe(false);
  }, 1_300_000);
});
