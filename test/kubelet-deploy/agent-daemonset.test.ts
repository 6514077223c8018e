/**
 * deploy/'s vrouter agent DaemonSet on real kubelet nodes (tiers KUBELET, K8S, NETNS): the testbed's nodes
 * import deploy/'s image, deployAgents applies the overlay, and on every node the init container installs the
 * Node.js runtime and the CNI bundle (what deploy/contrail-k8s-cni runs) and the agent serves its port API on
 * the node's own address, following the testbed's config API; deleting it leaves nothing on the host.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { netnsUsable } from "../../fake-vrouter/netns/ns";
import { type DeployedAgents, deployAgents } from "../../testbed/cluster/kubelet/deploy";
import { defaultBinDir, freePorts } from "../../testbed/cluster/local";
import type { EnvTestbed } from "../../testbed/env";
import { kubeletTier, startKubeletNodes } from "../support/kubelet";
import { requireTier } from "../support/tiers";

// kubelet nodes (tier KUBELET: the built control plane and kubelet, containerd, runc) in netns compute namespaces
const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns`") && kubeletTier();

const ROOT = join(import.meta.dirname, "..", "..");
const NODES = ["node-1", "node-2"];
// node addresses of this test's own (they go on the root namespace's lo while it runs), apart from the defaults
const IPS = ["10.84.77.11", "10.84.77.12"];
const workDir = mkdtempSync(join(tmpdir(), "ctb-agents-"));
const hostDir = join(workDir, "agents");
const kubectl = join(defaultBinDir(), "kubectl");
let tb: EnvTestbed | undefined;
let agents: DeployedAgents | undefined;
let port = 0;

const k = (args: string[]) =>
  spawnSync(kubectl, ["--kubeconfig", join(workDir, "kubeconfig"), ...args], { encoding: "utf8" });

beforeAll(async () => {
  if (!usable) return;
  tb = await startKubeletNodes(
    "agents",
    NODES.map((n, i) => ({ name: n, ip: IPS[i]! })),
    workDir,
  );
  [port] = await freePorts(1);
  agents = await deployAgents({
    kubectl,
    kubeconfig: join(workDir, "kubeconfig"),
    apiUrl: tb.vncUrl,
    portApiPort: port,
    hostDir,
    nodes: NODES.map((name, i) => ({ name, ip: IPS[i]! })),
    readyTimeoutMs: 240_000,
  });
}, 600_000);

afterAll(async () => {
  await agents?.close().catch(() => {});
  await tb?.close();
  rmSync(workDir, { recursive: true, force: true });
}, 300_000);

describe.runIf(usable)("deploy/'s vrouter agent DaemonSet on real kubelet nodes", () => {
  it("runs one privileged host-network agent pod per node, from deploy/'s image", () => {
    const pods = JSON.parse(k(["-n", "contrail", "get", "pods", "-o", "json"]).stdout).items;
    expect(pods.map((p: { spec: { nodeName: string } }) => p.spec.nodeName).sort()).toEqual(NODES);
    for (const p of pods) {
      expect(p.status.phase).toBe("Running");
      expect(p.spec.hostNetwork).toBe(true);
      expect(p.status.containerStatuses[0].image).toBe("docker.io/library/contrail-k8s-testbed:dev");
      expect(p.status.initContainerStatuses[0].state.terminated.exitCode).toBe(0);
    }
  });

  it("serves each node's port API on that node's address, following the testbed's config API", async () => {
    for (const [i, node] of NODES.entries()) {
      const url = agents!.portApi(node);
      expect(url).toBe(`http://${IPS[i]}:${port}`);
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      // a VM the config API does not have: the agent answers as for any unknown VM (the CNI polls again)
      const vm = await fetch(`${url}/vm-cfg/k8s__default__nobody`);
      expect(vm.status).toBe(404);
    }
  });

  it("installs the CNI runtime where deploy/contrail-k8s-cni runs it", () => {
    const r = spawnSync(join(ROOT, "deploy", "contrail-k8s-cni"), [], {
      encoding: "utf8",
      env: { CNI_COMMAND: "VERSION", CONTRAIL_PREFIX: agents!.cniPrefix },
      input: JSON.stringify({ cniVersion: "1.0.0", name: "contrail-k8s-cni", type: "contrail-k8s-cni" }),
    });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).supportedVersions).toContain("1.0.0");
  });

  it("goes away with everything it wrote on the host", async () => {
    await agents!.close();
    agents = undefined;
    expect(k(["-n", "contrail", "get", "daemonset,pods", "-o", "name"]).stdout.trim()).toBe("");
    expect(existsSync(hostDir)).toBe(false);
  }, 180_000);
});
