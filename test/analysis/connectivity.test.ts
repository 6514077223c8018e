/**
 * Whole-cluster connectivity (`ctb connectivity`): every pair of pods with the set that gets through, grouped by
 * workload, Kubernetes' answer beside it where they differ, and its exports. Independent check: on random worlds
 * (namespaces, pods, labels, policies with ports, port ranges, named ports, ipBlocks; test/oracle/worlds.ts) the
 * map the testbed computes in the `kubernetes` NetworkPolicy layout agrees with network-config-analyzer (NCA,
 * tier NETPOL_REF) on every pair, at every edge of every interval and at the grid's ports.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { PORTED, parseProtoPorts, portInSet } from "../../fake-vrouter/datapath/port-space";
import { type EnvTestbed, startTestbed } from "../../testbed/env";
import { connectivity, formatConnectivity } from "../../testbed/runner/connectivity";
import { runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { Nca, NCA_PYTHON, NCA_VENV } from "../oracle/nca/client";
import { type GeneratedWorld, type GridCell, PROBES, worldArb } from "../oracle/worlds";
import { requireTier } from "../support/tiers";
import { sample, WORLD } from "./fixtures";

describe("connectivity map of a small world", () => {
  let tb: EnvTestbed;
  beforeAll(async () => {
    const scenario = parseScenario(WORLD("upstream"), "reach-set.yaml");
    tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    await runScenario(scenario, tb);
  }, 60_000);
  afterAll(() => tb?.close());

  it("lists what gets through, with Kubernetes' answer where the real layout differs, in every format", async () => {
    const m = await connectivity(tb, { netpol: { layout: "upstream", clusterName: "k8s" } });
    expect(m.pairs).toHaveLength(6);
    const web = m.pairs.find((p) => p.from === "shop/client" && p.to === "shop/web")!;
    // the real (upstream) layout: endPort dropped (9000 only), and client's egress allow of 80 and 8000 admits
    // them at web too (one APS, first match); Kubernetes wants both ends' policies: the range, cut at 9060
    expect(web.allows).toBe("tcp 80,8000,8080,9000; udp 53");
    expect(web.kubernetes).toBe("tcp 8080,9000-9060; udp 53");
    const text = formatConnectivity(m, "text");
    expect(text).toContain(
      "shop/client => shop/web : tcp 80,8000,8080,9000; udp 53   (Kubernetes: tcp 8080,9000-9060; udp 53)",
    );
    expect(text).toMatch(/pairs of pods: Contrail and Kubernetes NetworkPolicy semantics differ/);
    const csv = formatConnectivity(m, "csv").trim().split("\n");
    expect(csv[0]).toBe("from,to,allows,kubernetes");
    expect(csv).toContain(
      'shop/client,shop/web,"tcp 80,8000,8080,9000; udp 53","tcp 8080,9000-9060; udp 53"',
    );
    const dot = formatConnectivity(m, "dot");
    expect(dot).toMatch(/^digraph connectivity \{/);
    expect(dot).toContain(
      '"shop/client" -> "shop/web" [label="tcp 80,8000,8080,9000; udp 53\\n(Kubernetes: tcp 8080,9000-9060; udp 53)", color=red];',
    );
    expect(JSON.parse(formatConnectivity(m, "json")).pairs).toHaveLength(6);
  });

  it("gives the same map when worker threads answer shares of the pairs (copies of the network)", async () => {
    const one = await connectivity(tb);
    expect(one.threads).toBe(1);
    // the worker entries as `npm run build` ships them (npm test builds before it tests)
    const dir = resolve("dist/ctb");
    expect(existsSync(join(dir, "connectivity-worker.js")), `${dir} has no workers: run npm run build`).toBe(
      true,
    );
    process.env.CTB_WORKER_DIR = dir;
    process.env.CTB_DRY_RUN_WORKERS = "2";
    try {
      const shared = await connectivity(tb);
      expect(shared.threads).toBe(3);
      expect({ ...shared, threads: 1 }).toEqual(one);
    } finally {
      delete process.env.CTB_WORKER_DIR;
      delete process.env.CTB_DRY_RUN_WORKERS;
    }
  });
});

const haveNca = requireTier(
  "NETPOL_REF",
  existsSync(NCA_PYTHON),
  `no network-config-analyzer venv at ${NCA_VENV} (create it: bash test/oracle/nca/setup.sh)`,
);
const RUNS = Number(process.env.CTB_CONNECTIVITY_RUNS ?? 25);

/** The generated world as a scenario: its namespaces, pods (spread over two nodes) and policies, applied. */
function scenarioOf(g: GeneratedWorld): string {
  const objects = [
    ...g.world.namespaces,
    ...g.world.pods.map((p, i) => ({
      ...p,
      status: undefined,
      spec: { ...p.spec, nodeName: `n${(i % 2) + 1}` },
    })),
    ...g.world.policies,
  ].map((o) => JSON.parse(JSON.stringify(o)) as KubeObject);
  return JSON.stringify({
    name: "random-world",
    controller: { model: "r5", netpolLayout: "kubernetes" },
    nodes: ["n1", "n2"],
    steps: [{ apply: objects }, { pods: [{ count: g.world.pods.length, phase: "Running" }] }],
  });
}

describe.skipIf(!haveNca)("connectivity in the kubernetes layout vs network-config-analyzer", () => {
  let nca: Nca;
  beforeAll(() => {
    nca = new Nca();
  });
  afterAll(() => nca?.close());

  it(
    `agrees on every pair of ${RUNS} random worlds, at the edges of every interval`,
    async () => {
      await fc.assert(
        fc.asyncProperty(worldArb, async (g) => {
          const scenario = parseScenario(scenarioOf(g), "random-world.yaml");
          const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
          try {
            const run = await runScenario(scenario, tb);
            expect(run.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
            const m = await connectivity(tb, { namespaces: g.world.namespaces.map((n) => n.metadata.name!) });
            const byName = new Map(
              g.world.pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]),
            );
            const cells: (GridCell & { ours: boolean })[] = [];
            for (const pair of m.pairs) {
              const from = { pod: byName.get(pair.from)!, ip: "" };
              const to = { pod: byName.get(pair.to)!, ip: "" };
              const set = parseProtoPorts(pair.allows);
              cells.push({ from, to, proto: "icmp", ours: set.icmp });
              for (const proto of PORTED) {
                const ports = new Set([
                  ...sample(set[proto]),
                  ...PROBES.filter((p) => p.proto === proto && p.port !== undefined).map((p) => p.port!),
                ]);
                for (const port of ports)
                  cells.push({ from, to, proto, port, ours: portInSet(port, set[proto]) });
              }
            }
            const theirs = await nca.verdicts(
              [...g.world.namespaces, ...g.world.pods, ...g.world.policies],
              cells,
            );
            const wrong = cells
              .map((c, i) => ({ c, nca: theirs[i] }))
              .filter(({ c, nca: v }) => c.ours !== v)
              .map(
                ({ c, nca: v }) =>
                  `${c.from.pod!.metadata.namespace}/${c.from.pod!.metadata.name} -> ${c.to.pod!.metadata.namespace}/${c.to.pod!.metadata.name} ${c.proto}${c.port === undefined ? "" : `/${c.port}`}: testbed ${c.ours ? "allows" : "denies"}, NCA ${v ? "allows" : "denies"}`,
              );
            if (wrong.length)
              throw new Error(
                `${wrong.length} disagreeing cell(s):\n  ${wrong.slice(0, 12).join("\n  ")}\nworld: ${scenarioOf(g)}`,
              );
          } finally {
            await tb.close();
          }
        }),
        { numRuns: RUNS },
      );
    },
    Math.max(180_000, RUNS * 20_000),
  );
});
