/**
 * Pod start-to-reachable on the harness, netns datapath against the simulated one in the same run: a pod is
 * created in the embedded cluster (2 nodes, a peer pod already running) and the clock stops when the peer's
 * first ping to it is answered — controller → config API → agent → node emulator → (netns: CNI executable,
 * tap captured by the vrouter process, pod process started) → probe. Also the scenario wall time of
 * section-9 on both datapaths. Needs root for the netns half.
 *
 * Run: `node --import tsx bench/netns-harness.bench.ts [pods]` (default 5 pods created one after another).
 */
import { join, resolve } from "node:path";
import { startTestbed } from "../testbed/env";
import { runScenario } from "../testbed/runner/run";
import { loadScenario, parseScenario } from "../testbed/scenario/load";

const ROOT = resolve(import.meta.dirname, "..");
const N = Number(process.argv[2] ?? 5);
const WORK = join(ROOT, ".ctb", "bench-netns-harness");
const SCENARIO = `
name: bench
nodes: [node-1, node-2]
steps:
  - show: pods
`;

function pod(name: string, node: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default" },
    spec: { nodeName: node, containers: [{ name: "c", image: "agnhost", ports: [{ containerPort: 80 }] }] },
  };
}

async function startToReachable(datapath: "sim" | "netns"): Promise<number[]> {
  const tb = await startTestbed(parseScenario(SCENARIO, join(ROOT, "bench/inline.yaml")), {
    datapath,
    cluster: { kind: "embedded" },
    workDir: WORK,
  });
  try {
    await tb.kube.create("pods", pod("peer", "node-1"), "default");
    await tb.settle();
    const times: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      await tb.kube.create("pods", pod(`p${i}`, "node-2"), "default");
      for (;;) {
        const ip = (await tb.kube.get("pods", `p${i}`, "default")).status?.podIP as string | undefined;
        const r = ip
          ? await tb.probe({ from: "default/peer", toIp: ip, proto: "icmp", count: 1 }).catch(() => undefined)
          : undefined;
        if (r?.received) break;
        await new Promise((res) => setTimeout(res, 10));
      }
      times.push(performance.now() - t0);
    }
    return times;
  } finally {
    await tb.close();
  }
}

async function scenarioWall(
  datapath: "sim" | "netns",
): Promise<{ ms: number; passed: number; total: number }> {
  const t0 = performance.now();
  const sc = loadScenario(join(ROOT, "scenarios/section-9.yaml"));
  const tb = await startTestbed(sc, { datapath, cluster: { kind: "embedded" }, workDir: WORK });
  const r = await runScenario(sc, tb, {}).finally(() => tb.close());
  return { ms: performance.now() - t0, passed: r.passed, total: r.checks.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sim = await startToReachable("sim");
const netns = await startToReachable("netns");
console.log(
  `pod start-to-reachable (median of ${N}): sim ${median(sim).toFixed(0)} ms, netns ${median(netns).toFixed(0)} ms (×${(median(netns) / median(sim)).toFixed(1)})`,
);
console.log(`  sim   ${sim.map((t) => t.toFixed(0)).join(" ")} ms`);
console.log(`  netns ${netns.map((t) => t.toFixed(0)).join(" ")} ms`);
const ws = await scenarioWall("sim");
const wn = await scenarioWall("netns");
console.log(
  `section-9 wall (setup + run + teardown): sim ${ws.ms.toFixed(0)} ms (${ws.passed}/${ws.total}), netns ${wn.ms.toFixed(0)} ms (${wn.passed}/${wn.total}) (×${(wn.ms / ws.ms).toFixed(1)})`,
);
