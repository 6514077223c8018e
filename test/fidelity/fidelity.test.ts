/**
 * The fidelity tier: each scenario in test/fidelity/ is one of the real kube-manager's own unit tests
 * (tf-controller src/container/kube-manager/kube_manager/tests/vnc/, named in the scenario's `upstream:` line)
 * replayed on the whole testbed — the test's options in the `controller:` block, what the test pre-creates in
 * `vnc` steps, its Kubernetes events as manifests — and every object, name, ref and tag the test asserts as a
 * `contrail` expectation. docs/fidelity.md lists what is covered and what is not. `ctb contrail get` is
 * checked on objects the scenarios assert.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";

const DIR = "test/fidelity";
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

async function run(file: string, after?: (vncUrl: string) => Promise<void>) {
  const scenario = loadScenario(`${DIR}/${file}`);
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    const report = await runScenario(scenario, tb);
    await after?.(tb.vncUrl);
    return report;
  } finally {
    await tb.close();
  }
}

describe("fidelity: upstream kube-manager unit tests replayed on the testbed", () => {
  it("every scenario names the upstream test it replays, and docs/fidelity.md lists it", () => {
    const doc = readFileSync("docs/fidelity.md", "utf8");
    for (const f of files) {
      expect(readFileSync(`${DIR}/${f}`, "utf8"), f).toMatch(/upstream: .*tests\/vnc\/test_vnc_\w+\.py/);
      expect(doc, `docs/fidelity.md names ${f}`).toContain(f);
    }
  });

  it.each(files)(
    "%s: every object, name, ref and tag upstream asserts",
    async (file) => {
      const report = await run(file);
      const failures = report.checks
        .filter((c) => c.verdict !== "pass")
        .map((c) => `${file}:${c.line} ${c.title ?? ""} ${c.name}\n${c.detail ?? ""}`);
      expect(failures).toEqual([]);
      expect(report.checks.filter((c) => c.kind === "contrail").length).toBeGreaterThan(1);
    },
    120_000,
  );

  it("ctb contrail get shows the objects upstream asserts (custom domain)", async () => {
    const got: Record<string, unknown>[] = [];
    // the testbed runs in this process: the CLI is run asynchronously so the config API can answer it
    const ctb = promisify(execFile);
    await run("test_vnc_kubernetes-custom-domain.yaml", async (vncUrl) => {
      for (const [type, fq] of [
        ["project", "admin_domain:cluster-default"],
        ["network-ipam", "admin_domain:cluster-default:cluster-pod-ipam"],
        ["virtual-network", "admin_domain:cluster-default:cluster-default-service-network"],
      ]) {
        const r = await ctb("node", ["bin/ctb", "contrail", "get", type!, fq!, "--api", vncUrl], {
          timeout: 60_000,
        });
        // the API's answer as GET /<type>/<uuid> gives it: {"<type>": {...}}
        got.push((JSON.parse(r.stdout) as Record<string, Record<string, unknown>>)[type!]!);
      }
    });
    expect(got.map((o) => (o.fq_name as string[]).join(":"))).toEqual([
      "admin_domain:cluster-default",
      "admin_domain:cluster-default:cluster-pod-ipam",
      "admin_domain:cluster-default:cluster-default-service-network",
    ]);
    expect(got[1]).toMatchObject({ ipam_subnet_method: "flat-subnet" });
  }, 180_000);
});
