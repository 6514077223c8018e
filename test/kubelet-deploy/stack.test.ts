/**
 * All of deploy/ on real kubelet nodes (tiers KUBELET, K8S, NETNS): the config API, the controller and the vrouter
 * agent DaemonSet from deploy/'s image, through deploy/overlays/kubelet-stack, beside the testbed's own. deploy/'s
 * controller (in-cluster config, its ServiceAccount's bound token) translates the cluster into deploy/'s config
 * API — a namespace's project, a pod's virtual machine — and each node's agent serves the pod's interface from it.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { netnsUsable } from "../../fake-vrouter/netns/ns";
import { type DeployedStack, deployStack } from "../../testbed/cluster/kubelet/deploy";
import { defaultBinDir, freePorts } from "../../testbed/cluster/local";
import type { EnvTestbed } from "../../testbed/env";
import { kubeletTier, startKubeletNodes } from "../support/kubelet";
import { requireTier } from "../support/tiers";

// kubelet nodes (tier KUBELET: the built control plane and kubelet, containerd, runc) in netns compute namespaces
const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns`") && kubeletTier();

const NODES = ["node-1", "node-2"];
// node addresses of this test's own (on the root namespace's lo while it runs), apart from the defaults
const IPS = ["10.84.78.11", "10.84.78.12"];
const workDir = mkdtempSync(join(tmpdir(), "ctb-stack-"));
const kubeconfig = join(workDir, "kubeconfig");
let tb: EnvTestbed | undefined;
let stack: DeployedStack | undefined;

const k = (args: string[], input?: string) =>
  spawnSync(join(defaultBinDir(), "kubectl"), ["--kubeconfig", kubeconfig, ...args], {
    encoding: "utf8",
    input,
  });

/** GET on deploy/'s config API (admin port, Basic credentials as its clients send them). */
async function vnc(path: string): Promise<Record<string, unknown>> {
  const url = new URL(path, stack!.apiAdminUrl);
  const auth = Buffer.from(`${url.username}:${decodeURIComponent(url.password)}`).toString("base64");
  url.username = "";
  url.password = "";
  const res = await fetch(url, { headers: { authorization: `Basic ${auth}` } });
  expect(res.status, `GET ${path}`).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  if (!usable) return;
  tb = await startKubeletNodes(
    "stack",
    NODES.map((n, i) => ({ name: n, ip: IPS[i]! })),
    workDir,
  );
  const [vnc, admin, keystone, portApi] = (await freePorts(4)) as [number, number, number, number];
  stack = await deployStack({
    kubectl: join(defaultBinDir(), "kubectl"),
    kubeconfig,
    apiServerUrl: parse(readFileSync(kubeconfig, "utf8")).clusters[0].cluster.server,
    ports: { vnc, admin, keystone, portApi },
    hostDir: join(workDir, "deploy"),
    nodes: NODES.map((name, i) => ({ name, ip: IPS[i]! })),
    readyTimeoutMs: 240_000,
  });
}, 600_000);

afterAll(async () => {
  await stack?.close().catch(() => {});
  await tb?.close();
  rmSync(workDir, { recursive: true, force: true });
}, 300_000);

describe.runIf(usable)("all of deploy/ on real kubelet nodes", () => {
  it("runs the config API, the controller and one agent per node, from deploy/'s image", async () => {
    const pods = await eventually("deploy/'s pods running", async () => {
      const items = JSON.parse(k(["-n", "contrail", "get", "pods", "-o", "json"]).stdout).items as {
        metadata: { labels: { app: string } };
        status: { phase: string; containerStatuses?: { ready: boolean }[] };
      }[];
      const running = items.filter(
        (p) => p.status.phase === "Running" && p.status.containerStatuses?.[0]?.ready,
      );
      return running.length === 4 ? running.map((p) => p.metadata.labels.app).sort() : undefined;
    });
    expect(pods).toEqual([
      "contrail-api",
      "contrail-kube-manager",
      "contrail-vrouter-agent",
      "contrail-vrouter-agent",
    ]);
  });

  it("translates the cluster into deploy/'s config API with its ServiceAccount", async () => {
    // kube-manager's project per namespace, as on any cluster
    const projects = await eventually("project k8s-default in deploy/'s API", async () => {
      const list = (await vnc("/projects")).projects as { fq_name: string[] }[];
      return list.some((p) => p.fq_name.join(":") === "default-domain:k8s-default") ? list : undefined;
    });
    expect(projects.length).toBeGreaterThan(0);
  });

  it("gives a pod its virtual machine there, and the pod's node's agent serves it", async () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web", namespace: "default" },
      spec: {
        nodeName: "node-1",
        automountServiceAccountToken: false,
        containers: [{ name: "c", image: "ctb.local/echo:v1", imagePullPolicy: "Never", args: ["tcp:80"] }],
      },
    };
    expect(k(["apply", "-f", "-"], JSON.stringify(pod)).status).toBe(0);
    const vm = await eventually("virtual machine k8s__default__web in deploy/'s API", async () => {
      const vms = (await vnc("/virtual-machines"))["virtual-machines"] as {
        fq_name: string[];
        uuid: string;
      }[];
      return vms.find((v) => v.fq_name[0] === "k8s__default__web");
    });
    const cfg = await eventually("the agent of node-1 serving web", async () => {
      const res = await fetch(`${stack!.portApi("node-1")}/vm-cfg/k8s__default__web`);
      return res.status === 200 ? ((await res.json()) as Record<string, unknown>[]) : undefined;
    });
    // its one interface, on the cluster's pod network, of the virtual machine deploy/'s controller made
    expect(cfg).toHaveLength(1);
    expect(cfg[0]).toMatchObject({
      "vm-uuid": vm.uuid,
      "vn-name": "default-domain:k8s-default:k8s-default-pod-network",
    });
    // the other node's agent has no interface of it
    expect((await fetch(`${stack!.portApi("node-2")}/vm-cfg/k8s__default__web`)).status).toBe(404);
  }, 180_000);
});
