/**
 * The question users bring — "what does this set of manifests do" — timed against an independent analyzer on
 * the same world (issue 16): the bench world of bench/world.ts (namespaces × 10 pods, 2 NetworkPolicies per
 * namespace) is written as YAML once, then
 * - the testbed: `ctb run` (the shipped bundle, dist/ctb) applies it to the embedded cluster, the controller
 *   translates it, agents compute tables, every pod starts, and the TCP/80 matrix is probed through the
 *   simulated datapath and judged against Kubernetes — wall time, the matrix step's own time, peak RSS;
 * - network-config-analyzer (NCA, PyPI `network-config-analyzer`, the venv of test/oracle/nca/setup.sh, built
 *   once and cached): `nca --connectivity` over the same resource list — wall time.
 * Printed: both times, the ratios (same run), the memory per pod, and the cells where they disagree: NCA
 * against the testbed's Kubernetes verdicts (its oracle), and NCA against the Contrail datapath (which differs
 * from Kubernetes where the upstream layout does, as the matrix step lists).
 *
 * policy-assistant (sigs.k8s.io/network-policy-api/policy-assistant), the peer the issue names, is not served
 * by the Go module proxy (its module path answers 404 there; only sigs.k8s.io/network-policy-api itself is),
 * so NCA is the baseline.
 *
 * Run: `node --import tsx bench/netpol-compare.bench.ts [pods[:policies]…]` (default 1000, policies pods / 5;
 * e.g. `100 1000 5000`, or `1000:100 1000:200 1000:400` for growth in policies).
 * `CTB_BENCH_SKIP_NCA=1` times the testbed alone; `CTB_BENCH_NO_MATRIX=1` also leaves out the matrix step, so
 * the testbed's CPU time is its start-up and apply + settle alone (YAML → every pod Running, settled).
 *
 * Measured 2026-12-06 on the shared 2-core machine (other sessions running; load average 2.9–3.9):
 * - 100 pods / 10 ns / 20 policies: testbed 2.2 s, NCA 0.7 s (3.2×; the testbed's fixed start-up dominates).
 * - 1,000 pods / 100 ns / 200 policies: testbed 19.9 s end to end (every pod Running; matrix of 999,000 cells
 *   6.9 s), NCA 25.0 s: ratio 0.79, matrix/NCA 0.28; 0 cells where NCA and the testbed's Kubernetes verdicts
 *   disagree (280,040 where the Contrail datapath differs, the upstream layout's divergences); 0.66 MB/pod.
 *   Before this work (same machine, load 0.8–2): the settle barrier reported settled with pods Pending after
 *   107 s, and the matrix died after 104 s (3.5 GB) with a stack overflow.
 * - 5,000 pods / 500 ns / 1,000 policies: testbed 102 s end to end (every pod Running; the matrix probes 1,000
 *   pods spread over the world, 11.0 s), 2.6 GB peak = 0.52 MB/pod; NCA had not finished after 11 minutes of
 *   CPU (2 GB) and was stopped.
 *
 * Measured 2026-12-06, session 5 (issue 16: port-API waits, incremental agent tables, queue ranks), bundled
 * (`node build.mjs --bench`), on the shared 2-core machine with three other sessions working, load average
 * 4.9–6.6 throughout (no quiet window came), so wall times swing 2× run to run; CPU time is the steadier figure.
 * Before = the same bench run in a checkout of 0b70b93 (cwd there), after = this one, alternating:
 * - `CTB_BENCH_NO_MATRIX=1 node dist/bench/netpol-compare.bench.js N` (start-up + apply + settle, CPU time of
 *   the whole ctb run): 500 pods 9.5 → 7.2 s, 1,000 pods 15.6 → 12.2 s, 2,000 pods 29.6 → 21.2 s (0.72–0.78×;
 *   growth 500 → 1,000 → 2,000: 1.69×, 1.74× after, 1.64×, 1.90× before); peak RSS at 1,000 517 → 352 MB.
 *   Apply + settle wall: 15.5 → 8.2 s, 21.0 → 15.9 s, 29.1 → 20.9 s. Every pod Running in every run.
 * - The apply + settle CPU alone (process.cpuUsage at the apply step's start and after its settle, a temporary
 *   probe not kept in the tree; load 3.5–6.3): 7.9 → 6.5 s, 15.5 → 11.0 s, 31.4 → 20.7 s (500, 1,000, 2,000).
 * - Policies at 1,000 pods (`CTB_BENCH_SKIP_NCA=1 … 1000:100 1000:200 1000:400`, load 3.8–5.9): apply + settle
 *   11.1 / 7.9 / 8.6 s wall, ctb CPU 17.1 / 17.8 / 19.3 s with the matrix: flat in policies.
 * - With NCA (`NCA_VENV=… node dist/bench/netpol-compare.bench.js 1000`, load 5.9–6.3): testbed 32.7 s (start-up
 *   3.2 s, apply + settle 21.9 s, matrix 7.6 s; CPU 20.8 s), NCA 24.1 s: 1.36× end to end at this load (0.87× on
 *   the quiet machine of session 4), matrix/NCA 0.31; 0 cells where NCA and the Kubernetes verdicts disagree.
 * - Quiet, after that work and the matrix's batch of dry runs on worker threads (nothing else running, load
 *   1.01 → 1.15): 1,000 pods testbed 11.6 s (start-up 1.3 s, apply + settle 7.0 s, matrix 3.3 s on 2 threads;
 *   CPU 16.5 s; 0.61 MB/pod), NCA 19.4 s: 0.60× end to end (target 0.5×), matrix/NCA 0.17 (target ≤ 0.2).
 *
 * Measured 2026-12-06, session 6 (start-up + apply + settle: VNC creates/ref-updates and the port API's three
 * pod requests served without express routing, manifest YAML read by js-yaml under yaml's core schema, one
 * change-stream write per watcher per event-loop turn, JSON-shaped copies in the embedded cluster), bundled,
 * shared 2-core machine (two other sessions working). Before = a checkout of 740ffe5, after = this one,
 * alternating:
 * - `CTB_BENCH_NO_MATRIX=1 node dist/bench/netpol-compare.bench.js 1000` (load 2.75–3.18): before 8.5 / 8.2 /
 *   8.3 s (start-up 0.9 s, apply + settle 7.3–7.6 s, CPU 11.0–11.5 s), after 5.9 / 5.7 / 5.7 s (start-up
 *   0.6–0.7 s, apply + settle 5.0–5.3 s, CPU 8.0–8.2 s): 0.69× wall, 0.72× CPU.
 * - Growth (`… 500 2000 1000:100 1000:400`, load 2.6–2.9), CPU before → after: 500 pods 6.8 → 5.1 s, 2,000 pods
 *   19.4 → 14.7 s (1,000: 8.1; growth 1.6×, 1.8×), peak RSS at 2,000 788 → 548 MB; 1000:100 / 200 / 400 policies
 *   10.8 / 11.2 / 12.1 → 7.8 / 8.1 / 8.7 s (flat in policies).
 * - With NCA and the matrix (`NCA_VENV=… node dist/bench/netpol-compare.bench.js 1000`, load 2.7–2.9): after:
 *   testbed 9.6 s (start-up 0.9 s, apply + settle 5.1 s, matrix 3.7 s; CPU 14.1 s; 0.52 MB/pod), NCA 19.9 s:
 *   0.48× end to end (target ≤ 0.5×), matrix/NCA 0.19; before, the next run: 12.3 s vs NCA 20.0 s, 0.62×.
 *   0 cells where NCA and the testbed's Kubernetes verdicts disagree (280,040 where the Contrail datapath does).
 * - Quiet, with the session's dry-run work too (one shape per kind of table object, chunks claimed by every
 *   thread, side-filed firewall index; nothing else running, load 0.80 → 0.88): 1,000 pods testbed 8.2 s
 *   (start-up 0.8 s, apply + settle 4.9 s, matrix 2.5 s; CPU 12.1 s; 0.52 MB/pod), NCA 20.4 s: **0.40×** end to
 *   end (target ≤ 0.5×), matrix/NCA 0.12 (target ≤ 0.2). `CTB_BENCH_SKIP_NCA=1 … 5000` (load 1.59 → 1.77):
 *   5,000 pods / 500 ns / 1,000 policies 42.0 s (start-up 2.4 s, apply + settle 32.8 s, matrix 6.8 s), every
 *   pod Running, 0.59 MB/pod (session 4: 102 s).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load } from "./support";
import { writeWorld } from "./world";

/** `pods` or `pods:policies` per world (default policies: pods / 5). */
const SIZES: { pods: number; policies?: number }[] = process.argv.slice(2).map((a) => {
  const [pods, policies] = a.split(":");
  return { pods: Number(pods), policies: policies === undefined ? undefined : Number(policies) };
});
if (SIZES.length === 0) SIZES.push({ pods: 1000 });
const NCA = join(process.env.NCA_VENV ?? ".cache/nca-venv", "bin/nca");
const NO_MATRIX = !!process.env.CTB_BENCH_NO_MATRIX;
const SKIP_NCA = !!process.env.CTB_BENCH_SKIP_NCA || NO_MATRIX;

interface Timed {
  ms: number;
  status: number | null;
  stdout: string;
  stderr: string;
  maxRssKb?: number;
  /** user + system CPU seconds of the process and its children (GNU time): steadier than wall time on a shared machine */
  cpuS?: number;
}

/** Runs a command, timing it; peak RSS and CPU time from GNU time when the machine has it. */
function timed(cmd: string, args: string[]): Promise<Timed> {
  const gnuTime = existsSync("/usr/bin/time");
  const [c, a] = gnuTime
    ? ["/usr/bin/time", ["-f", "CTB_MAXRSS_KB=%M CTB_CPU_S=%U+%S", cmd, ...args]]
    : [cmd, args];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(c, a, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.once("error", reject);
    child.once("close", (status) => {
      const stderr = Buffer.concat(err).toString();
      const m = /CTB_MAXRSS_KB=(\d+)/.exec(stderr);
      const cpu = /CTB_CPU_S=([\d.]+)\+([\d.]+)/.exec(stderr);
      resolve({
        ms: performance.now() - started,
        status,
        stdout: Buffer.concat(out).toString(),
        stderr,
        maxRssKb: m ? Number(m[1]) : undefined,
        cpuS: cpu ? Number(cpu[1]) + Number(cpu[2]) : undefined,
      });
    });
  });
}

/** The matrix step's table: per "from>to", the datapath's verdict and Kubernetes' (a `*` marks a difference). */
function parseTable(text: string): Map<string, { contrail: boolean; kubernetes: boolean }> {
  const lines = text.split("\n");
  const targets = lines[0]!.trim().split(/\s+/);
  const cells = new Map<string, { contrail: boolean; kubernetes: boolean }>();
  for (const line of lines.slice(1)) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== targets.length + 1) break; // the divergence list follows the table
    const from = parts[0]!;
    parts.slice(1).forEach((c, j) => {
      if (c === "-") return;
      const contrail = c.startsWith(".");
      cells.set(`${from}>${targets[j]}`, { contrail, kubernetes: c.endsWith("*") ? !contrail : contrail });
    });
  }
  return cells;
}

/** Whether an NCA connection set (`All connections`, `{protocols:TCP,dst_ports:80-90},…`) holds TCP to `port`. */
export function ncaAllows(conns: string, port: number): boolean | undefined {
  if (conns === "All connections") return true;
  if (conns === "No connections") return false;
  const groups = [...conns.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!);
  if (groups.length === 0) return undefined;
  return groups.some((g) => {
    const [protoPart, portPart] = g.split(/,?dst_ports:/);
    const protos = /protocols:(.*)/.exec(protoPart ?? "")?.[1]?.split(",") ?? ["TCP"];
    if (!protos.includes("TCP")) return false;
    if (portPart === undefined) return true;
    return portPart
      .split(",")
      .map((r) => r.split("-").map(Number))
      .some(([a, b]) => port >= a! && port <= (b ?? a)!);
  });
}

/** NCA's connectivity listing as allowed "from>to" pod pairs for TCP/80 (pairs it does not list have nothing). */
function parseNca(text: string): { allowed: Set<string>; unparsed: number } {
  const allowed = new Set<string>();
  let unparsed = 0;
  for (const line of text.split("\n")) {
    const m = /^(\S+)\[Pod\] => (\S+)\[Pod\] : (.*)$/.exec(line);
    if (!m) continue;
    const ok = ncaAllows(m[3]!.trim(), 80);
    if (ok === undefined) unparsed++;
    else if (ok) allowed.add(`${m[1]}>${m[2]}`);
  }
  return { allowed, unparsed };
}

function ensureBuilt(): void {
  const r = spawnSync(process.execPath, ["build.mjs"], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("npm run build failed");
}

function ensureNca(): void {
  const r = spawnSync("bash", ["test/oracle/nca/setup.sh"], { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error("test/oracle/nca/setup.sh failed");
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main() {
  ensureBuilt();
  if (!SKIP_NCA) ensureNca();
  console.log(
    `netpol-compare: sizes ${SIZES.map((z) => (z.policies === undefined ? z.pods : `${z.pods}:${z.policies}`)).join(", ")}; load average ${load()}`,
  );
  for (const { pods, policies } of SIZES) {
    const dir = mkdtempSync(join(tmpdir(), "ctb-bench-world-"));
    try {
      const w = writeWorld(dir, { pods, policies, ...(NO_MATRIX ? { matrix: false } : {}) });
      const loadBefore = load();
      const ctb = await timed(process.execPath, ["bin/ctb", "run", join(dir, "scenario.yaml"), "--json"]);
      let report: {
        scenarios: {
          durationMs: number;
          checks: {
            kind: string;
            verdict: string;
            name: string;
            output?: string;
            detail?: string;
            durationMs: number;
          }[];
        }[];
      };
      try {
        report = JSON.parse(ctb.stdout);
      } catch {
        console.log(`${pods} pods: ctb run failed (exit ${ctb.status}): ${ctb.stderr.slice(-2000)}`);
        continue;
      }
      const checks = report.scenarios[0].checks;
      const podsCheck = checks.find((c) => c.kind === "pods");
      const matrix = checks.find((c) => c.kind === "matrix");
      const table = matrix?.output ? parseTable(matrix.output) : new Map();
      // the scenario's time less its checks' steps is the apply step: YAML → cluster → controller → config
      // daemons → agents → every pod Running, to the settle barrier; the rest of ctb's time is start-up
      const steps = report.scenarios[0].durationMs;
      const applySettle = steps - (podsCheck?.durationMs ?? 0) - (matrix?.durationMs ?? 0);
      const line = [
        `${pods} pods / ${w.namespaces.length} ns / ${w.policies.length} policies`,
        `testbed ${s(ctb.ms)} (start-up ${s(ctb.ms - steps)}, apply + settle ${s(applySettle)}, matrix ${matrix ? s(matrix.durationMs) : "none"}, ${table.size} cells)`,
        podsCheck?.verdict === "pass"
          ? "every pod Running"
          : `PODS NOT RUNNING: ${podsCheck?.detail?.slice(0, 300)}`,
      ];
      if (ctb.cpuS !== undefined) line.push(`CPU ${ctb.cpuS.toFixed(1)} s`);
      if (ctb.maxRssKb)
        line.push(
          `peak RSS ${(ctb.maxRssKb / 1024).toFixed(0)} MB = ${(ctb.maxRssKb / 1024 / pods).toFixed(2)} MB/pod`,
        );
      console.log(line.join("; "));
      if (SKIP_NCA) continue;
      const nca = await timed(NCA, [
        "--connectivity",
        "--resource_list",
        join(dir, "world.yaml"),
        "-o",
        "txt_no_fw_rules",
      ]);
      if (nca.status !== 0 && nca.status !== 1) {
        console.log(`  nca failed (exit ${nca.status}): ${nca.stderr.slice(-500)}`);
        continue;
      }
      const { allowed, unparsed } = parseNca(nca.stdout);
      let vsOracle = 0;
      let vsDatapath = 0;
      for (const [k, v] of table) {
        const n = allowed.has(k);
        if (n !== v.kubernetes) vsOracle++;
        if (n !== v.contrail) vsDatapath++;
      }
      console.log(
        `  nca ${s(nca.ms)}; ratio testbed/nca ${(ctb.ms / nca.ms).toFixed(2)} (end to end), matrix/nca ${matrix ? (matrix.durationMs / nca.ms).toFixed(2) : "-"};` +
          ` cells where NCA disagrees: with the testbed's Kubernetes verdicts ${vsOracle}, with the Contrail datapath ${vsDatapath}` +
          `${unparsed ? ` (${unparsed} NCA lines not understood)` : ""}; load ${loadBefore} → ${load()}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

await main();
