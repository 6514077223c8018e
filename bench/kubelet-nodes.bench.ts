/**
 * Real kubelet nodes against the node emulator, in one run (local control plane, netns datapath, two nodes):
 * - pod create → Ready (the pod's Ready condition) and → reachable (a TCP probe from a client pod answered
 *   on the pod's port), one pod at a time;
 * - CNI ADD (and DEL) latency of the same plugin with the same conf and agent: called by containerd on the kubelet
 *   nodes against called directly by the node emulator's CNI plumber (both timed by one wrapper in front of the
 *   plugin, CTB_CNI_PLUGIN). ADD includes the plugin's polling of the agent until it knows the pod, so when each
 *   caller calls relative to the controller is part of it; DEL waits on nothing.
 * Prints p50 and max per backend, the kubelet/emulated ratios and the load average before and after. Needs root,
 * containerd, runc and the built control plane with kubelet; says what is missing otherwise.
 *
 * Run: node --import tsx bench/kubelet-nodes.bench.ts [pods]   (default 5 pods per backend)
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import type { KubeObject } from "../controller/kube/api";
import type { EnvOptions } from "../testbed/env";
import { load, pct } from "./support";

const N = Number(process.argv[2] ?? 5);
const ROOT = resolve(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "ctb-bkubelet-"));
const timings = join(dir, "cni-times.log");

/** The plugin behind a wrapper that appends "<command> <ms>" per call (stdin, stdout and exit code pass through). */
function timingWrapper(): string {
  const wrapper = join(dir, "contrail-k8s-cni");
  writeFileSync(
    wrapper,
    [
      "#!/bin/sh",
      "t0=$(date +%s%N)",
      `"${join(ROOT, "bin", "contrail-k8s-cni")}" "$@"`,
      "rc=$?",
      `echo "$CNI_COMMAND $(( ($(date +%s%N) - t0) / 1000 ))" >>"${timings}"`,
      "exit $rc",
      "",
    ].join("\n"),
  );
  chmodSync(wrapper, 0o755);
  return wrapper;
}

// the wrapper is read when the testbed's modules load (CNI_BINARY): set it first, import them after
process.env.CTB_CNI_PLUGIN = timingWrapper();
const { netnsUsable } = await import("../fake-vrouter/netns/ns");
const { kubeletNodesMissing } = await import("../testbed/cluster/kubelet/index");
const { ensureImages } = await import("../testbed/cluster/kubelet/images");
const { defaultBinDir, missingBinaries } = await import("../testbed/cluster/local");
const { startTestbed } = await import("../testbed/env");
const { parseScenario } = await import("../testbed/scenario/load");

const SCENARIO = parseScenario(
  'name: bench-kubelet-nodes\nnodes: [node-1, node-2]\n# startTestbed runs no step; the schema wants one\nsteps:\n  - apply: "{ apiVersion: v1, kind: Namespace, metadata: { name: spare } }"\n',
  "bench.yaml",
);

const pod = (name: string, ports: number[]): KubeObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", labels: { bench: "kubelet" } },
  spec: {
    containers: [
      { name: "c", image: "agnhost", ports: ports.map((p) => ({ containerPort: p, protocol: "TCP" })) },
    ],
  },
});

const ready = (p: KubeObject | undefined) =>
  (p?.status?.conditions ?? []).some(
    (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
  );

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Figures {
  up: number;
  ready: number[];
  reachable: number[];
  cniAdd: number[];
  cniDel: number[];
}

async function measure(nodes: "emulated" | "kubelet"): Promise<Figures> {
  writeFileSync(timings, "");
  const env: EnvOptions = { datapath: "netns", cluster: { kind: "local" }, nodes, workDir: join(dir, nodes) };
  const t0 = performance.now();
  const tb = await startTestbed(SCENARIO, env);
  const up = performance.now() - t0;
  const f: Figures = { up, ready: [], reachable: [], cniAdd: [], cniDel: [] };
  try {
    const get = (name: string) => tb.kube.get("pods", name, "default");
    await tb.kube.create("pods", pod("client", []), "default");
    await until("client pod Ready", async () => (ready(await get("client")) ? true : undefined));
    for (let i = 0; i < N; i++) {
      const name = `web-${i}`;
      const start = performance.now();
      await tb.kube.create("pods", pod(name, [80]), "default");
      const ip = await until(`${name} Ready`, async () => {
        const p = await get(name);
        return ready(p) ? (p!.status.podIP as string) : undefined;
      });
      f.ready.push(performance.now() - start);
      await until(`${name} reachable`, async () => {
        const r = await tb.probe({ from: "default/client", toIp: ip, proto: "tcp", port: 80, count: 1 });
        return r.received > 0 ? true : undefined;
      });
      f.reachable.push(performance.now() - start);
    }
    // deleting them makes each caller run CNI DEL: the same call with no wait for the control plane in it
    for (let i = 0; i < N; i++) {
      await tb.kube.delete("pods", `web-${i}`, "default");
      await until(`web-${i} gone`, async () =>
        (await get(`web-${i}`).catch(() => undefined)) ? undefined : true,
      );
    }
    // read before teardown, whose own DELs (the emulator's) would count too
    const calls = (cmd: string) =>
      readFileSync(timings, "utf8")
        .split("\n")
        .filter((l) => l.startsWith(`${cmd} `))
        .map((l) => Number(l.split(" ")[1]) / 1000);
    f.cniAdd = calls("ADD");
    f.cniDel = calls("DEL");
  } finally {
    await tb.close();
  }

  return f;
}

const fmt = (xs: number[]) =>
  xs.length
    ? `p50 ${pct(xs, 50).toFixed(0)} ms  max ${Math.max(...xs).toFixed(0)} ms  (n=${xs.length})`
    : "(none)";

async function main(): Promise<void> {
  const missing = [
    ...missingBinaries(defaultBinDir(), true),
    ...kubeletNodesMissing(defaultBinDir()),
    ...((await netnsUsable()) ? [] : ["root and `ip netns` (the netns datapath)"]),
  ];
  if (missing.length) {
    console.log(`kubelet-nodes bench: cannot run here: ${missing.join("; ")}`);
    process.exitCode = 1;
    return;
  }
  await ensureImages({ names: ["pause", "echo"] });
  console.log(`load average before: ${load()}`);
  const emulated = await measure("emulated");
  console.log(`emulated nodes measured; load average ${load()}`);
  const kubelet = await measure("kubelet");
  console.log(`load average after:  ${load()}`);
  const row = (what: string, e: number[], k: number[]) => {
    console.log(`${what.padEnd(26)} emulated ${fmt(e)}`);
    console.log(`${"".padEnd(26)} kubelet  ${fmt(k)}`);
    if (e.length && k.length)
      console.log(`${"".padEnd(26)} ratio kubelet/emulated p50 ${(pct(k, 50) / pct(e, 50)).toFixed(2)}`);
  };
  console.log(
    `testbed up (2 nodes)       emulated ${emulated.up.toFixed(0)} ms  kubelet ${kubelet.up.toFixed(0)} ms`,
  );
  row("pod create → Ready", emulated.ready, kubelet.ready);
  row("pod create → reachable", emulated.reachable, kubelet.reachable);
  // ADD includes the plugin's wait for the agent to know the pod (it polls the port API): each caller's timing
  // relative to the controller is in it; DEL waits on nothing
  row("CNI ADD (direct | by containerd)", emulated.cniAdd, kubelet.cniAdd);
  row("CNI DEL (direct | by containerd)", emulated.cniDel, kubelet.cniDel);
}

try {
  await main();
} catch (e) {
  // a figure-less run says why in a line (the backends' errors name the log to read)
  console.log(`kubelet-nodes bench: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
