/**
 * Harness benchmarks: wall time of the section 9 scenario on the embedded default, and a 100-pod, 20-service
 * scenario end to end (target ≤ 3 s). Baseline measured in the same run: creating the same Kubernetes objects
 * in the embedded cluster alone (no controller, config API, agents or datapath) — the ratio is what the
 * Contrail side costs on top of Kubernetes bookkeeping.
 *
 * Run: node --import tsx bench/testbed.bench.ts
 */
import { performance } from "node:perf_hooks";
import type { KubeObject } from "../controller/kube/api";
import { createEmbeddedCluster } from "../testbed/cluster/embedded/index";
import { startTestbed } from "../testbed/env";
import { runScenario } from "../testbed/runner/run";
import { loadScenario, parseScenario } from "../testbed/scenario/load";

function manyPodsScenario(pods: number, services: number): string {
  const docs: string[] = [];
  for (let s = 0; s < services; s++) {
    docs.push(`apiVersion: v1
kind: Service
metadata: { name: svc-${s}, namespace: default }
spec: { selector: { group: g${s} }, ports: [{ port: 80 }] }`);
  }
  for (let p = 0; p < pods; p++) {
    docs.push(`apiVersion: v1
kind: Pod
metadata: { name: pod-${p}, namespace: default, labels: { group: g${p % services} } }
spec: { containers: [{ name: c, image: agnhost, ports: [{ containerPort: 80 }] }] }`);
  }
  const inline = docs.join("\n---\n").replace(/^/gm, "      ");
  return `name: bench-${pods}-pods
controller: { model: r5 }
nodes: [node-1, node-2, node-3, node-4]
steps:
  - apply: |
${inline}
  - pods: [{ namespace: default, count: ${pods} }]
  - reach:
      - { from: default/pod-0, to: default/pod-${pods - 1}, proto: icmp, expect: allow }
      - { from: default/pod-1, to: "service:default/svc-0", proto: tcp, port: 80, expect: allow }
`;
}

async function timeScenario(text: string | undefined, file: string) {
  const scenario = text ? parseScenario(text, file) : loadScenario(file);
  const t0 = performance.now();
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  const t1 = performance.now();
  const report = await runScenario(scenario, tb);
  const t2 = performance.now();
  await tb.close();
  return {
    startMs: t1 - t0,
    runMs: t2 - t1,
    totalMs: t2 - t0,
    passed: report.passed,
    failed: report.failed,
    scenario,
  };
}

async function baseline(text: string, file: string): Promise<number> {
  const scenario = parseScenario(text, file);
  const cluster = createEmbeddedCluster();
  const t0 = performance.now();
  for (const step of scenario.steps) {
    if (step.kind !== "apply") continue;
    for (const m of step.manifests as KubeObject[])
      await cluster.create(m.kind === "Service" ? "services" : "pods", m, "default");
  }
  await cluster.waitQuiet();
  const ms = performance.now() - t0;
  cluster.close();
  return ms;
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const s9 = await timeScenario(undefined, "scenarios/section-9.yaml");
console.log(
  `section-9 (embedded, sim): start ${fmt(s9.startMs)}, run ${fmt(s9.runMs)}, total ${fmt(s9.totalMs)} — ${s9.passed} passed, ${s9.failed} failed`,
);
const text = manyPodsScenario(100, 20);
const big = await timeScenario(text, "bench-100-pods.yaml");
const base = await baseline(text, "bench-100-pods.yaml");
console.log(
  `100 pods + 20 services end to end: ${fmt(big.runMs)} (target ≤ 3 s; testbed start ${fmt(big.startMs)}) — ${big.passed} passed, ${big.failed} failed`,
);
console.log(
  `baseline, same objects in the embedded cluster alone: ${fmt(base)}; ratio ${(big.runMs / base).toFixed(1)}×`,
);
