/**
 * The all-packets analysis (issue 21) timed against an independent analyser on the same world (bench/world.ts:
 * namespaces × 10 pods, labels app/role/team, default-deny, pod and namespace selectors, ports, egress):
 * - all pairs, all ports: the testbed's `connectivity` (testbed/runner/connectivity.ts: every pair of pods,
 *   every protocol and port, by the engines' dry run per piece of the port space) in the `kubernetes` layout
 *   against network-config-analyzer's `--connectivity` (which also answers for every protocol and port);
 * - the single-port matrix: TCP/80 between every pair of pods by the dry run, asked as a matrix step asks it
 *   (one batch, `Testbed.reachMany`: worker threads from 250,000 cells), against the issue's target of 2 s at
 *   1,000 pods. Both use the machine's cores (the cores less one as workers; CTB_DRY_RUN_WORKERS=0: none).
 * The world is brought up once per size (not timed here: netpol-compare.bench.ts times YAML → verdicts). Printed:
 * both times, the ratio, dry runs, the load average before and after.
 *
 * Run: `npm run bench -- analysis` (shipped code) or `node --import tsx bench/analysis.bench.ts [pods[:policies]…]`
 * (default 100 300; the issue's world: 1000:500). `CTB_BENCH_SKIP_NCA=1` times the testbed alone.
 *
 * Measured 2026-12-06, session 6, quiet (nothing else running; `node build.mjs --bench`, load 1.0–1.6):
 * - `NCA_VENV=… node dist/bench/analysis.bench.js`: 100 pods all ports 0.22 s vs NCA 0.57 s (0.38), 5 dry runs
 *   a pair; 300 pods 1.35 s vs 2.57 s (0.53); single-port matrices 0.10 s and 0.30 s.
 * - `CTB_BENCH_LAYOUT=upstream … 1000:500`: all pairs, all ports 10.4 s (999,000 pairs, 4.9 M dry runs, 2
 *   threads) vs NCA 21.7 s: **0.48** (target < 1; session 5: 1.22); the single-port 1,000 × 1,000 matrix
 *   1.80 s (target 2 s; session 5: 3.8 s). The kubernetes layout is not used at this size: it writes a firewall
 *   rule per selected pod and peer (~100,000 objects) and does not settle in reasonable time.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestbed } from "../testbed/env";
import { connectivity } from "../testbed/runner/connectivity";
import { runScenario } from "../testbed/runner/run";
import { loadScenario } from "../testbed/scenario/load";
import { OUTCOME } from "../fake-vrouter/datapath/dry-run-pool";
import { load } from "./support";
import { writeWorld } from "./world";

/** `pods` or `pods:policies` per world (default policies: pods / 5; the issue's world is 1000:500). */
const SIZES: { pods: number; policies?: number }[] = process.argv.slice(2).map((a) => {
  const [pods, policies] = a.split(":");
  return { pods: Number(pods), policies: policies === undefined ? undefined : Number(policies) };
});
if (SIZES.length === 0) SIZES.push({ pods: 100, policies: undefined }, { pods: 300, policies: undefined });
const NCA = join(process.env.NCA_VENV ?? ".cache/nca-venv", "bin/nca");
const SKIP_NCA = !!process.env.CTB_BENCH_SKIP_NCA;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main() {
  if (!SKIP_NCA) {
    const r = spawnSync("bash", ["test/oracle/nca/setup.sh"], { stdio: ["ignore", "ignore", "inherit"] });
    if (r.status !== 0) throw new Error("test/oracle/nca/setup.sh failed");
  }
  console.log(
    `analysis: sizes ${SIZES.map((z) => (z.policies === undefined ? z.pods : `${z.pods}:${z.policies}`)).join(", ")}; load average ${load()}`,
  );
  for (const { pods, policies } of SIZES) {
    const dir = mkdtempSync(join(tmpdir(), "ctb-bench-analysis-"));
    try {
      const w = writeWorld(dir, { pods, policies });
      const scenario = loadScenario(join(dir, "scenario.yaml"));
      // the world without its matrix step, in the layout whose verdicts are Kubernetes' (so NCA's are comparable)
      scenario.steps = scenario.steps.filter((st) => st.kind !== "matrix");
      // (CTB_BENCH_LAYOUT=upstream: the real layout, which a large world reaches sooner — the kubernetes layout
      // writes a firewall rule per selected pod and peer, ~100,000 objects for 1,000 pods and 500 policies)
      scenario.controller = {
        ...scenario.controller,
        netpolLayout: process.env.CTB_BENCH_LAYOUT === "upstream" ? "upstream" : "kubernetes",
      };
      const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
      try {
        const run = await runScenario(scenario, tb);
        if (run.failed)
          console.log(
            `  ${pods} pods: the world did not come up cleanly (${run.failed} failed checks): ${run.checks
              .filter((c) => c.verdict !== "pass")
              .map((c) => `${c.name}: ${(c.detail ?? "").slice(0, 300)}`)
              .join("; ")}`,
          );
        const loadBefore = load();
        // the single-port matrix (TCP/80 by the dry run, every ordered pair) first, on a heap without the million
        // reach sets of the map below
        const names = (await tb.kube.list("pods")).items
          .filter((p) => p.status?.podIP && p.metadata.namespace !== "kube-system")
          .map((p) => ({
            name: `${p.metadata.namespace}/${p.metadata.name}`,
            ip: p.status!.podIP as string,
          }));
        // as a matrix step asks it: one batch of dry runs (worker threads from 250,000 cells)
        let t = performance.now();
        const from: number[] = [];
        const to: number[] = [];
        for (const i of names.keys())
          for (const j of names.keys())
            if (i !== j) {
              from.push(i);
              to.push(j);
            }
        const codes = await tb.reachMany!({
          proto: "tcp",
          port: 80,
          sources: names.map((n) => n.name),
          targets: names.map((n) => n.ip),
          from: Uint32Array.from(from),
          to: Uint32Array.from(to),
        });
        const allowed = codes.filter((c) => c === OUTCOME.answered).length;
        const matrix = performance.now() - t;
        t = performance.now();
        const m = await connectivity(tb);
        const allPorts = performance.now() - t;
        const line = [
          `${pods} pods / ${w.namespaces.length} ns / ${w.policies.length} policies:`,
          `all pairs, all ports ${s(allPorts)} (${m.pairs.length} pairs, ${m.evaluated} dry runs, ${(m.evaluated / m.pairs.length).toFixed(0)} a pair, ${m.threads} thread(s))`,
          `single-port matrix ${s(matrix)} (${names.length * (names.length - 1)} cells, ${allowed} allowed; target at 1,000 pods ≤ 2 s)`,
        ];
        console.log(line.join("; "));
        if (!SKIP_NCA) {
          t = performance.now();
          const r = spawnSync(
            NCA,
            ["--connectivity", "--resource_list", join(dir, "world.yaml"), "-o", "txt_no_fw_rules"],
            {
              encoding: "utf8",
              maxBuffer: 1 << 30,
            },
          );
          const nca = performance.now() - t;
          if (r.status !== 0 && r.status !== 1)
            console.log(`  nca failed (exit ${r.status}): ${r.stderr.slice(-300)}`);
          else
            console.log(
              `  nca --connectivity ${s(nca)}; all-ports ratio testbed/nca ${(allPorts / nca).toFixed(2)} (target < 1); load ${loadBefore} → ${load()}`,
            );
        } else console.log(`  load ${loadBefore} → ${load()}`);
      } finally {
        await tb.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

await main();
