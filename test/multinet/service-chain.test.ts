/**
 * scenarios/service-chain.yaml on the simulated datapath up to the point where two firewall pods hold port
 * tuples of the instance; then what a user sees of the chain: each packet's trace names the service instance
 * and its port tuples at the route that sends it to the firewall, and names the firewall pod that forwarded it;
 * flows spread over both firewalls and every answer comes back through the firewall its request took; the
 * instance without a port tuple was reported while it had none.
 */
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";

const ROOT = resolve(import.meta.dirname, "../..");

describe("service chain through firewall pods (sim)", () => {
  it("routes through the instance's port tuples, names them, and spreads flows over both firewalls", async () => {
    const scenario = loadScenario(join(ROOT, "scenarios", "service-chain.yaml"));
    const cut = scenario.steps.findIndex((s) => s.title?.startsWith("The first firewall goes away"));
    expect(cut).toBeGreaterThan(0);
    const noTuple = scenario.steps.findIndex((s) => s.title?.startsWith("A port tuple holding"));
    const tb = await startTestbed(scenario, {
      datapath: "sim",
      cluster: { kind: "embedded" },
      workDir: join(ROOT, ".ctb", "test-service-chain"),
    });
    try {
      // while the instance has no port tuple, the report says the chain carries nothing
      const before = await runScenario({ ...scenario, steps: scenario.steps.slice(0, noTuple) }, tb);
      expect(before.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
      expect(tb.warnings?.().join("\n")).toMatch(
        /applies service-instance default-domain:k8s-default:firewall, which has no port-tuple/,
      );
      const report = await runScenario({ ...scenario, steps: scenario.steps.slice(noTuple, cut) }, tb);
      expect(report.checks.filter((c) => c.verdict !== "pass").map((c) => c.name)).toEqual([]);
      expect(tb.warnings?.().join("\n")).not.toMatch(/no port-tuple/);

      const server = await tb.kube.get("pods", "server", "default");
      const status = JSON.parse(server.metadata.annotations!["k8s.v1.cni.cncf.io/network-status"]!);
      const serverIp: string = status.find((s: { name: string }) => s.name === "default/right").ips[0];
      const via = new Set<string>();
      for (let i = 0; i < 16; i++) {
        const r = await tb.probe({
          from: "default/client@left",
          toIp: serverIp,
          proto: "tcp",
          port: 80,
          count: 1,
        });
        expect(r.received, r.trace.join("\n")).toBe(1);
        const text = r.trace.join("\n");
        expect(text).toMatch(
          /from service-instance default-domain:k8s-default:firewall, leaked by service-instance default-domain:k8s-default:firewall \(left interface of port-tuple fw-1, fw-2/,
        );
        const fws = [...text.matchAll(/default\/(fw-\d) forwards/g)].map((m) => m[1]);
        // the answer comes back through the firewall its request went through
        expect(new Set(fws).size, text).toBe(1);
        via.add(fws[0]!);
      }
      expect([...via].sort()).toEqual(["fw-1", "fw-2"]);
      // the firewall's own FORWARD rule decides port 8080, inside the pod
      const dropped = await tb.probe({
        from: "default/client@left",
        toIp: serverIp,
        proto: "tcp",
        port: 8080,
        count: 1,
      });
      expect(dropped.received).toBe(0);
      expect(dropped.drop).toEqual({
        where: expect.stringMatching(/^default\/fw-\d FORWARD$/),
        reason: "-p tcp --dport 8080 -j DROP",
      });
      expect(dropped.trace.join("\n")).toMatch(
        /default\/fw-\d forwards 10\.10\.1\.\d+ → 10\.10\.2\.\d+ and drops it: its FORWARD rule -p tcp --dport 8080 -j DROP/,
      );
    } finally {
      await tb.close();
    }
  });
});
