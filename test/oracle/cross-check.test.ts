/**
 * The Kubernetes NetworkPolicy oracle (testbed/oracle/kubernetes.ts) against an independent implementation,
 * network-config-analyzer (NCA, np-guard, PyPI; venv made by test/oracle/nca/setup.sh), on random worlds
 * (test/oracle/worlds.ts): for every connection of a small grid (pod→pod, pod↔external address, TCP/UDP/SCTP
 * ports and ICMP) both must give the same verdict. On a disagreement fast-check shrinks the world to a minimal
 * one and the failure lists each disagreeing cell with the oracle's reason; the world's manifests are printed
 * as JSON so `python test/oracle/nca/verdicts.py` can be run on it by hand.
 *
 * One NCA process serves the whole file (test/oracle/nca/verdicts.py --serve: one world a line), so its start-up
 * is paid once. Tier NETPOL_REF: skipped with a message without the venv, a failure when CTB_REQUIRE_ALL=1 (CI).
 * CTB_NETPOL_RUNS sets the number of worlds (default 250, about 10 s here).
 */
import { existsSync } from "node:fs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { kubernetesVerdict } from "../../testbed/oracle/kubernetes";
import { requireTier } from "../support/tiers";
import { Nca, NCA_PYTHON as PYTHON, NCA_VENV as VENV } from "./nca/client";
import { endpointName, type GeneratedWorld, grid, worldArb } from "./worlds";

const RUNS = Number(process.env.CTB_NETPOL_RUNS ?? 250);

const haveNca = requireTier(
  "NETPOL_REF",
  existsSync(PYTHON),
  `no network-config-analyzer venv at ${VENV} (create it: bash test/oracle/nca/setup.sh)`,
);

function resourcesOf({ world }: GeneratedWorld): KubeObject[] {
  return [...world.namespaces, ...world.pods, ...world.policies];
}

/** Cells compared and cells allowed, so a generator that drifts into all-allow or all-deny worlds shows. */
const seen = { cells: 0, allowed: 0 };

/** The cells where the oracle and NCA disagree, one line each. */
async function disagreements(nca: Nca, g: GeneratedWorld): Promise<string[]> {
  const cells = grid(g);
  const theirs = await nca.verdicts(resourcesOf(g), cells);
  const out: string[] = [];
  cells.forEach((c, i) => {
    const ours = kubernetesVerdict(g.world, c);
    seen.cells++;
    if (ours.allowed) seen.allowed++;
    if (ours.allowed !== theirs[i])
      out.push(
        `${endpointName(c.from)} -> ${endpointName(c.to)} ${c.proto}${c.port === undefined ? "" : `/${c.port}`}: ` +
          `oracle ${ours.allowed ? "allows" : "denies"} (${ours.reason}), NCA ${theirs[i] ? "allows" : "denies"}`,
      );
  });
  return out;
}

describe.skipIf(!haveNca)("Kubernetes oracle vs network-config-analyzer on random worlds", () => {
  let nca: Nca;
  beforeAll(() => {
    nca = new Nca();
  });
  afterAll(() => nca?.close());

  it("the driver answers a known world (NCA is really consulted)", async () => {
    const world: GeneratedWorld = {
      externals: ["192.168.1.5"],
      world: {
        namespaces: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } }],
        pods: ["x", "y"].map((n, i) => ({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: n, namespace: "a", labels: { app: n } },
          spec: { containers: [{ name: "c", image: "pause" }] },
          status: { phase: "Running", podIP: `10.1.0.${i + 1}` },
        })),
        policies: [
          {
            apiVersion: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: { name: "deny", namespace: "a" },
            spec: { podSelector: { matchLabels: { app: "y" } } },
          },
        ],
      },
    };
    const cells = grid(world);
    const verdicts = await nca.verdicts(resourcesOf(world), cells);
    // y is isolated for ingress with no rule: nothing reaches it; x is open
    cells.forEach((c, i) => {
      expect(verdicts[i], `${endpointName(c.from)} -> ${endpointName(c.to)}`).toBe(
        c.to.pod?.metadata.name !== "y",
      );
    });
  });

  it(
    `agrees with the oracle on every cell of ${RUNS} random worlds`,
    async () => {
      await fc.assert(
        fc.asyncProperty(worldArb, async (g) => {
          const diff = await disagreements(nca, g);
          if (diff.length)
            throw new Error(
              `${diff.length} disagreeing cell(s):\n  ${diff.slice(0, 12).join("\n  ")}\n` +
                `world: ${JSON.stringify({ resources: resourcesOf(g), externals: g.externals })}`,
            );
        }),
        { numRuns: RUNS },
      );
      // about 58% of cells are allowed with this generator: both verdicts must be well represented
      expect(seen.allowed / seen.cells).toBeGreaterThan(0.2);
      expect(seen.allowed / seen.cells).toBeLessThan(0.8);
    },
    Math.max(120_000, RUNS * 200),
  );
});
