/**
 * Datapath engine throughput, measured against a baseline in the same run (decoding the same frame):
 * - new flows/s with 1,000 firewall rules in force (the matching rule is the last one),
 * - established-flow packets/s (flow hit, no policy), and the ratios established : new and : decode-only,
 * - a pods × pods reachability matrix on one TCP port (target: 1,000 × 1,000 in ≤ 10 s): with real probe
 *   packets (SYN, SYN-ACK, RST through every vrouter; 200 × 200, extrapolated) and with the engines' dry run
 *   (`matrix({ fast: true })`, held equal to the packet verdicts by test/datapath/conformance.test.ts),
 * - heap bytes per flow entry.
 *
 * Times are CPU time of this process (the machine's cores are shared), so figures are per core.
 *
 * Run: `node --import tsx bench/datapath.bench.ts [matrixPods]` (default 1000; e.g. 300 for a quick look).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { VrouterDatapath } from "../fake-vrouter/datapath/engine";
import { decodeEthernet, tcp } from "../fake-vrouter/datapath/packet";
import type { FirewallRule } from "../fake-vrouter/tables";
import { podFrame } from "../test/datapath/frames";
import { anyPorts, ref, simNetwork, tablesFor, twoComputes, type World } from "../test/datapath/world";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const matrixPods = Number(process.argv[2] ?? 1000);

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString("en-US")}/s`;
}

/** CPU milliseconds (user + system) spent in `fn`: robust when other processes share the cores. */
function time(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}

/** compute-1 with pods a, b; a carries one firewall policy of 1,000 rules, only the last matches. */
function firewallWorld(): World {
  const w = twoComputes();
  const rules: FirewallRule[] = [];
  for (let i = 0; i < 999; i++) {
    rules.push({
      origin: ref("firewall-rule", `r${i}`),
      sequence: String(i).padStart(5, "0") + ".0",
      action: "deny",
      direction: ">",
      endpoint1: { kind: "tags", tags: [0x00010000 + i + 10] },
      endpoint2: { kind: "any" },
      services: [{ protocol: 6, srcPorts: anyPorts, dstPorts: { start: 1000 + i, end: 1000 + i } }],
      matchTags: [],
    });
  }
  rules.push({
    origin: ref("firewall-rule", "last"),
    sequence: "01000.0",
    action: "pass",
    direction: ">",
    endpoint1: { kind: "any" },
    endpoint2: { kind: "any" },
    services: [],
    matchTags: [],
  });
  w.firewallPolicies = [{ id: "fp", origin: ref("firewall-policy", "fp"), rules }];
  w.pods[0].fw = ["fp"];
  return w;
}

function engineFigures(): void {
  const w = firewallWorld();
  const NEW = 20_000;
  const EST = 200_000;
  const frames = Array.from({ length: NEW }, (_, i) =>
    podFrame(w, "a", "10.1.0.4", tcp({ sport: 1024 + (i % 60000), dport: 80 + Math.floor(i / 60000) })),
  );
  const one = podFrame(w, "a", "10.1.0.4", tcp({ sport: 999, dport: 80 }));

  // Warm up the JIT on a throwaway engine.
  const warm = new VrouterDatapath(tablesFor(w, "compute-1"));
  for (let i = 0; i < 2000; i++) warm.receive(3, frames[i], 0);
  for (let i = 0; i < 20_000; i++) decodeEthernet(one);

  const baseMs = time(() => {
    for (let i = 0; i < EST; i++) decodeEthernet(one);
  });
  const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
  const newMs = time(() => {
    for (let i = 0; i < NEW; i++) dp.receive(3, frames[i], 0);
  });
  const drops = Object.values(dp.stats().drops).reduce((a, b) => a + b, 0);
  dp.receive(3, one, 0);
  const estMs = time(() => {
    for (let i = 0; i < EST; i++) dp.receive(3, one, 0);
  });
  const newRate = NEW / newMs;
  const estRate = EST / estMs;
  const baseRate = EST / baseMs;
  console.log(`decode only (baseline)            ${rate(EST, baseMs)}`);
  console.log(`new flows, 1,000 firewall rules   ${rate(NEW, newMs)}   (${drops} drops)`);
  console.log(`established flow packets          ${rate(EST, estMs)}`);
  console.log(`ratio established : new           ${(estRate / newRate).toFixed(1)} : 1`);
  console.log(
    `ratio established : decode-only   1 : ${(baseRate / estRate).toFixed(1)}  (an established packet costs ${(baseRate / estRate).toFixed(1)} decodes)`,
  );
}

function memoryPerFlow(): void {
  const w = twoComputes();
  const N = 100_000;
  const frames = Array.from({ length: N }, (_, i) =>
    podFrame(w, "a", "10.1.0.4", tcp({ sport: 1024 + (i % 60000), dport: 80 + Math.floor(i / 60000) })),
  );
  const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
  gc();
  const before = process.memoryUsage().heapUsed;
  for (const f of frames) dp.receive(3, f, 0);
  gc();
  const after = process.memoryUsage().heapUsed;
  const entries = dp.stats().flows;
  console.log(
    `memory per flow entry             ${Math.round((after - before) / entries)} bytes  (${entries.toLocaleString("en-US")} entries = ${N.toLocaleString("en-US")} forward+reverse pairs)`,
  );
}

function matrixWorld(n: number): World {
  const computes = 4;
  return {
    computes: Array.from({ length: computes }, (_, i) => ({
      name: `compute-${i + 1}`,
      fabricIp: `192.168.0.${11 + i}`,
    })),
    vns: [{ name: "cluster", vrf: 1, subnet: "10.32.0.0/12", gateway: "10.32.0.1" }],
    pods: Array.from({ length: n }, (_, i) => ({
      name: `p${i}`,
      compute: `compute-${(i % computes) + 1}`,
      vif: 3 + Math.floor(i / computes),
      ip: `10.32.${Math.floor((i + 2) / 250)}.${((i + 2) % 250) + 1}`,
      vn: "cluster",
      listen: { tcp: [80] },
    })),
  };
}

/** A pods × pods matrix on tcp/80: real probe packets, or the engines' dry run (`fast`). */
function matrix(n: number, fast: boolean): void {
  const w = matrixWorld(n);
  let net!: ReturnType<typeof simNetwork>;
  const buildMs = time(() => {
    net = simNetwork(w);
  });
  const names = w.pods.map((p) => p.name);
  let m!: ReturnType<typeof net.matrix>;
  const ms = time(() => {
    m = net.matrix({ from: names, to: names, proto: "tcp", port: 80, fast });
  });
  const cells = n * n;
  const allowed = m.allowed.reduce((s, row) => s + row.filter(Boolean).length, 0);
  const flowsLeft = w.computes.reduce((s, c) => s + net.datapath(c.name)!.stats().flows, 0);
  const extrapolated = n === 1000 ? "" : ` → 1,000 × 1,000 ≈ ${(((ms / cells) * 1e6) / 1000).toFixed(0)} s`;
  console.log(
    `matrix ${n} × ${n} tcp/80, ${fast ? "dry run (explain)" : "probe packets"}`.padEnd(46) +
      `${(ms / 1000).toFixed(1)} s CPU, ${rate(cells, ms)} cells${extrapolated}; ${allowed.toLocaleString("en-US")}/${cells.toLocaleString("en-US")} allowed; tables ${buildMs.toFixed(0)} ms; ${flowsLeft} flows left`,
  );
}

engineFigures();
memoryPerFlow();
matrix(Math.min(matrixPods, 200), false);
matrix(matrixPods, true);
