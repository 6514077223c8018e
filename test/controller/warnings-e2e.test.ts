/**
 * What the controller could not do as asked reaches the run report, and does not hold the testbed up: the
 * shipped scenarios pod-missing-network (a pod annotated with a network nobody created: blocked, reported at
 * once, the settle barrier does not wait for it) and service-missing-fip-pool (public_fip_pool configured but
 * missing: only the floating IP is left out, with a warning; the ClusterIP answers), on the embedded cluster.
 */
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";

async function run(file: string) {
  const scenario = loadScenario(file);
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    const report = await runScenario(scenario, tb);
    return report;
  } finally {
    await tb.close();
  }
}

describe("controller warnings in the run report", () => {
  it("a pod on a network that does not exist: reported at once, nothing waits for it", async () => {
    const t0 = Date.now();
    const report = await run("scenarios/pod-missing-network.yaml");
    expect(report.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
    expect(report.warnings.map((w) => [w.step, w.text])).toEqual([
      [
        1,
        "pod default/lost: virtual-network default-domain:k8s-default:nowhere does not exist; waiting for it (retried in the background)",
      ],
    ]);
    // the CNI of the blocked pod polls for 30 s and is retried after that: neither a step nor the teardown waits
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);

  it("a configured floating-ip pool that does not exist: only the floating IP is left out, with a warning", async () => {
    const report = await run("scenarios/service-missing-fip-pool.yaml");
    expect(report.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
    expect(report.warnings.map((w) => w.text)).toEqual([
      "service default/web: no floating IP from pool default-domain:admin:public:public-pool: floating-ip-pool default-domain:admin:public:public-pool does not exist",
    ]);
  }, 60_000);

  it("a write the config API refuses (no subnet to allocate from): reported at once, nothing waits for it", async () => {
    const t0 = Date.now();
    const report = await run("test/controller/scenarios/network-without-subnets.yaml");
    expect(report.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
    expect(report.warnings.map((w) => w.text)).toEqual([
      "pod setup/test-pod: the config API refuses it: virtual-network default-domain:cluster-default:test-network has no subnets to allocate from; retried in the background",
    ]);
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);
});
