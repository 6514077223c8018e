/**
 * scenarios/service-chain.yaml on the netns datapath (real namespaces, vrouter processes, the firewall pod a
 * Linux router with an iptables FORWARD rule): what the probe result says of the chain — the route that sent
 * the packet to the service instance (with its port tuples), which firewall pod's kernel forwarded it, and, for
 * the dropped port, the firewall's rule read from its iptables counters.
 */
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { listNetns, netnsUsable } from "../../fake-vrouter/netns/index";
import { exec } from "../../fake-vrouter/netns/ns";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";
import { requireTier } from "../support/tiers";

const ROOT = resolve(import.meta.dirname, "../..");
const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");
const OURS = `ctb-${process.pid.toString(36)}-`;

describe.skipIf(!usable)("service chain through a firewall pod (netns)", () => {
  it("names the instance's route and the forwarding pod, and the firewall's own drop", async () => {
    const b = await exec("node", [join(ROOT, "build.mjs")]);
    expect(b.code, b.stderr).toBe(0);
    const scenario = loadScenario(join(ROOT, "scenarios", "service-chain.yaml"));
    const cut = scenario.steps.findIndex((s) => s.title?.startsWith("A second firewall pod"));
    const tb = await startTestbed(
      { ...scenario, steps: scenario.steps.slice(0, cut) },
      { datapath: "netns", cluster: { kind: "embedded" }, workDir: join(ROOT, ".ctb", "test-chain-netns") },
    );
    try {
      const report = await runScenario({ ...scenario, steps: scenario.steps.slice(0, cut) }, tb);
      expect(report.checks.filter((c) => c.verdict !== "pass").map((c) => `${c.name}: ${c.detail}`)).toEqual(
        [],
      );
      const server = await tb.kube.get("pods", "server", "default");
      const status = JSON.parse(server.metadata.annotations!["k8s.v1.cni.cncf.io/network-status"]!);
      const ip: string = status.find((s: { name: string }) => s.name === "default/right").ips[0];
      const ok = await tb.probe({ from: "default/client@left", toIp: ip, proto: "tcp", port: 80, count: 1 });
      expect(ok.received).toBe(1);
      const text = ok.trace.join("\n");
      expect(text).toMatch(
        /matches 10\.10\.2\.\d+\/32 in VRF \d+ from service-instance default-domain:k8s-default:firewall, leaked by service-instance default-domain:k8s-default:firewall \(left interface of port-tuple fw-1;/,
      );
      expect(text).toMatch(/forwarded by default\/fw-1 \(IP ForwDatagrams/);
      const dropped = await tb.probe({
        from: "default/client@left",
        toIp: ip,
        proto: "tcp",
        port: 8080,
        count: 1,
      });
      expect(dropped.received).toBe(0);
      expect(dropped.drop).toEqual({ where: "default/fw-1 FORWARD", reason: "-p tcp --dport 8080 -j DROP" });
      expect(dropped.trace.join("\n")).toMatch(
        /dropped by default\/fw-1: its FORWARD rule -p tcp --dport 8080 -j DROP \(iptables: \+\d+ packets\)/,
      );
    } finally {
      await tb.close();
    }
    expect(await listNetns(OURS)).toEqual([]);
  });
});
