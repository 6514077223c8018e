/**
 * The two datapaths must agree: every shipped scenario runs end to end on the simulated datapath and on the
 * netns datapath (real namespaces, vrouter processes, pods plumbed by the real CNI executable), and every
 * reachability check (reach, matrix) must get the same verdict on both. A difference prints the check with
 * the probes and traces of both sides. Needs root (network namespaces); skipped otherwise.
 */
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listNetns, netnsUsable } from "../../fake-vrouter/netns/index";
import { exec } from "../../fake-vrouter/netns/ns";
import { startTestbed } from "../../testbed/env";
import { type CheckResult, runScenario } from "../../testbed/runner/run";
import type { ProbeRequest, ProbeResult } from "../../testbed/runner/testbed";
import { loadScenario } from "../../testbed/scenario/load";
import { requireTier } from "../support/tiers";

const ROOT = resolve(import.meta.dirname, "../..");
const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");
/**
 * Every shipped scenario but netpol-upstream-cases: its ~1,700 probes include ~500 blocked ones, each waiting
 * out the netns probe timeout (minutes of CI time); the upstream NetworkPolicy layout is covered here by
 * netpol-conformance (the default layout), and the engine both datapaths share by the sim runs of that file.
 */
const SLOW_ON_NETNS = new Set(["netpol-upstream-cases.yaml"]);
/** Scenarios that cannot have traffic checks: nested mode refuses them (no datapath carries VLAN sub-interfaces). */
const NO_TRAFFIC = new Set(["nested-mode.yaml"]);
const SCENARIOS = readdirSync(join(ROOT, "scenarios"))
  .filter((f) => f.endsWith(".yaml") && !SLOW_ON_NETNS.has(f) && !NO_TRAFFIC.has(f))
  .sort();
/** The prefix NetnsDatapath gives this process's namespaces. */
const OURS = `ctb-${process.pid.toString(36)}-`;

interface Observed {
  key: string; // "<line> <name>"
  verdict: CheckResult["verdict"];
  probes: { req: ProbeRequest; res?: ProbeResult; error?: string }[];
  detail?: string;
}

async function observe(file: string, datapath: "sim" | "netns"): Promise<Observed[]> {
  const scenario = loadScenario(join(ROOT, "scenarios", file));
  const tb = await startTestbed(scenario, {
    datapath,
    cluster: { kind: "embedded" },
    workDir: join(ROOT, ".ctb", "conformance"),
  });
  const out: Observed[] = [];
  let probes: Observed["probes"] = [];
  try {
    const recording = {
      ...tb,
      probe: async (req: ProbeRequest) => {
        const entry: Observed["probes"][number] = { req };
        probes.push(entry);
        try {
          entry.res = await tb.probe(req);
          return entry.res;
        } catch (e) {
          entry.error = (e as Error).message;
          throw e;
        }
      },
    };
    await runScenario(scenario, recording, {
      onEvent: (ev) => {
        if (ev.type !== "check") return;
        const c = ev.result;
        if (c.kind === "reach" || c.kind === "matrix") {
          out.push({ key: `${c.line} ${c.name}`, verdict: c.verdict, probes, detail: c.detail });
        }
        probes = [];
      },
    });
  } finally {
    await tb.close();
  }
  return out;
}

function describeSide(name: string, o: Observed | undefined): string {
  if (!o) return `  ${name}: (check absent)`;
  const lines = [`  ${name}: ${o.verdict}${o.detail ? ` — ${o.detail.split("\n")[0]}` : ""}`];
  for (const p of o.probes) {
    const r = p.res;
    lines.push(
      `    probe ${p.req.from} → ${p.req.toIp} ${p.req.proto}${p.req.port ? `/${p.req.port}` : ""} ×${p.req.count}: ` +
        (r
          ? `${r.received}/${r.sent} answered, ${r.refused} refused${r.drop ? `, drop ${r.drop.reason} at ${r.drop.where}` : ""}`
          : `error ${p.error}`),
    );
    for (const t of r?.trace ?? []) lines.push(`      ${t}`);
  }
  return lines.join("\n");
}

describe.skipIf(!usable)("sim and netns datapaths give the same verdicts", () => {
  beforeAll(async () => {
    // the netns datapath runs the bundled CNI plugin
    const b = await exec("node", [join(ROOT, "build.mjs")]);
    if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
  });

  afterAll(async () => {
    expect(await listNetns(OURS)).toEqual([]);
  });

  for (const file of SCENARIOS) {
    it(`${file}: every reach/matrix check has the same verdict on both datapaths`, async () => {
      const sim = await observe(file, "sim");
      const netns = await observe(file, "netns");
      expect(await listNetns(OURS), "the netns testbed left namespaces behind").toEqual([]);
      const keys = [...new Set([...sim.map((o) => o.key), ...netns.map((o) => o.key)])];
      const differing = keys.filter(
        (k) => sim.find((o) => o.key === k)?.verdict !== netns.find((o) => o.key === k)?.verdict,
      );
      const report = differing.map((k) =>
        [
          `${file}:${k}`,
          describeSide(
            "sim",
            sim.find((o) => o.key === k),
          ),
          describeSide(
            "netns",
            netns.find((o) => o.key === k),
          ),
        ].join("\n"),
      );
      if (report.length) console.error(`sim and netns disagree:\n${report.join("\n\n")}`);
      expect(sim.length, `${file} has no reach/matrix checks`).toBeGreaterThan(0);
      expect(
        netns.map((o) => `${o.key}: ${o.verdict}`),
        report.join("\n\n"),
      ).toEqual(sim.map((o) => `${o.key}: ${o.verdict}`));
    }, 300_000);
  }
});
