/**
 * The controller under load, against the real fake Contrail API over HTTP (same process) and an in-memory
 * KubeApi: cold start with P pods in N namespaces (every 4th isolated) and S services with EndpointSlices
 * until every object exists (target ≤ 15 s for 5,000 / 100 / 500), then single-pod events → config applied
 * latency (p50/p99, target p99 ≤ 50 ms), VNC calls per pod, and the controller's heap growth. The fake API
 * runs in its own process, as `ctb api` does (CTB_BENCH_SAME_PROCESS=1 keeps it in this one).
 * Baseline in the same run: sequential virtual-machine creates straight through the VNC client, i.e. the
 * floor cost of one API write; the cold-start ratio reads "the whole start costs R × (its writes done one by
 * one at that floor)" (below 1 thanks to parallel units).
 *
 * Run: `node --import tsx bench/controller.bench.ts [pods] [namespaces] [services] [model]` (default 5000 100 500 r5).
 *
 * Measured 2026-12-06 (bundled, `node dist/bench/controller.bench.js`, shared machine): load 3.6–3.8: cold start
 * 15.1 s, new pod p50 7.0 ms / p99 55.6 ms, 4.00 VNC calls per pod; load 5.5–5.8: cold start 30.9 s, p99 78.3 ms.
 * The p99 follows the machine's load (session 3, quiet: 15.7 ms); the queue now asks a unit's rank once per key.
 */
import { defaultConfig } from "../controller/config";
import { startController } from "../controller/index";
import type { KubeObject } from "../controller/kube/api";
import { VncClient } from "../controller/vnc/client";
import { startApiServer } from "../fake-contrail-api/server";
import { FakeKube, node, ns, pod, service, slice } from "../test/controller/fake-kube";
import { callsTotal, pct, startApiProcess } from "./support";

const P = Number(process.argv[2] ?? 5000);
const N = Number(process.argv[3] ?? 100);
const S = Number(process.argv[4] ?? 500);
const MODEL = (process.argv[5] ?? "r5") as "r4" | "r5";
/** `CTB_BENCH_SAME_PROCESS=1`: run the fake API inside this process (one core for both). */
const SAME_PROCESS = !!process.env.CTB_BENCH_SAME_PROCESS;
const NODES = 20;
const EVENTS = 200;

async function main() {
  const api = SAME_PROCESS ? await startApiServer({ port: 0, quiet: true }) : await startApiProcess();
  const kube = new FakeKube();
  for (let i = 0; i < NODES; i++)
    await kube.create("nodes", node(`compute-${i}`, `192.168.${i >> 8}.${(i & 255) + 1}`));
  const nsNames = Array.from({ length: N }, (_, i) => (i === 0 ? "default" : `ns-${i}`));
  for (const [i, n] of nsNames.entries())
    await kube.create(
      "namespaces",
      ns(n, i % 4 === 3 ? { "opencontrail.org/isolation": "true" } : undefined),
    );
  const podsByNs = new Map<string, KubeObject[]>(nsNames.map((n) => [n, []]));
  for (let i = 0; i < P; i++) {
    const n = nsNames[i % N];
    podsByNs
      .get(n)!
      .push(await kube.create("pods", pod(n, `p-${i}`, `compute-${i % NODES}`, { app: `a${i % 7}` })));
  }
  for (let i = 0; i < S; i++) {
    const n = nsNames[i % N];
    const members = podsByNs.get(n)!;
    const per = Math.max(1, Math.floor(members.length / Math.max(1, Math.floor(S / N))));
    const j = Math.floor(i / N);
    const ip = 10 + i; // 10.96.0.10 upwards
    await kube.create("services", service(n, `svc-${i}`, `10.96.${ip >> 8}.${ip & 255}`));
    await kube.create("endpointslices", slice(n, `svc-${i}`, members.slice(j * per, j * per + per)));
  }

  // baseline: sequential single writes through the client (same server, same run)
  const vnc = new VncClient(api.url);
  const B = 300;
  const tb = performance.now();
  for (let i = 0; i < B; i++) await vnc.create("virtual-machine", { fq_name: [`baseline-${i}`] });
  const perWrite = (performance.now() - tb) / B;
  for (const vm of await vnc.list("virtual-machine"))
    if (vm.fq_name[0].startsWith("baseline-")) await vnc.delete("virtual-machine", vm.uuid);

  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const c = await startController({
    kube,
    vncUrl: api.url,
    config: defaultConfig(MODEL),
    statusPort: 0,
    log: { log: (level, msg) => (level === "error" ? console.error(msg) : undefined) },
  });
  await c.waitIdle();
  const cold = (performance.now() - t0) / 1000;
  const calls = await callsTotal(c.statusUrl!);
  const vms = (await vnc.list("virtual-machine")).length;
  const lbs = (await vnc.list("loadbalancer")).length;
  const heapMb = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const st = c.status();

  // event → applied latency, one pod at a time
  const lat: number[] = [];
  const callsBefore = await callsTotal(c.statusUrl!);
  for (let i = 0; i < EVENTS; i++) {
    const n = nsNames[i % N];
    const t = performance.now();
    await kube.create("pods", pod(n, `late-${i}`, `compute-${i % NODES}`));
    await c.waitIdle();
    lat.push(performance.now() - t);
  }
  const callsPerPod = ((await callsTotal(c.statusUrl!)) - callsBefore) / EVENTS;
  await c.stop();
  await api.close();

  const floor = (calls * perWrite) / 1000;
  console.log(
    `controller bench (${MODEL}): ${P} pods, ${N} namespaces (every 4th isolated), ${S} services, ${NODES} nodes`,
  );
  console.log(`  baseline: one sequential VNC create            ${perWrite.toFixed(2)} ms`);
  console.log(
    `  cold start until idle                           ${cold.toFixed(2)} s   (target <= 15 s; ${vms} VMs, ${lbs} loadbalancers, failing units ${st.failing})`,
  );
  console.log(
    `  VNC calls during cold start                     ${calls} (${(calls / P).toFixed(2)} per pod incl. services)`,
  );
  console.log(
    `  ratio cold start / (calls x baseline write)     ${(cold / floor).toFixed(2)}  (${floor.toFixed(2)} s if done one by one)`,
  );
  console.log(
    `  event -> applied, new pod: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms (target p99 <= 50 ms; ${(pct(lat, 99) / perWrite).toFixed(1)} x baseline write)`,
  );
  console.log(`  VNC calls per new pod                           ${callsPerPod.toFixed(2)}`);
  console.log(
    `  heap growth of this process                   ${heapMb.toFixed(0)} MiB (fake API ${SAME_PROCESS ? "included" : "in its own process"})`,
  );
  if (vms < P) process.exitCode = 1;
}

await main();
