/**
 * A LoadBalancer Service's external address from outside the cluster (simulated datapath, embedded cluster):
 * the SDN gateway picks a member per flow by the flow hash, so one 5-tuple always lands on the same member
 * (as the vrouter's ECMP), different flows spread; after a member goes, new flows land on those left.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import type { Testbed } from "../../testbed/runner/testbed";
import { parseScenario } from "../../testbed/scenario/load";
import { PUBLIC_FIP_POOL, PUBLIC_NETWORK_STEP } from "../support/public-network";

const SCENARIO = `name: lb-flows
controller:
  model: r5
  publicFipPool: ${PUBLIC_FIP_POOL}
nodes: [n1, n2]
externalHosts: [{ name: client, ip: 198.51.100.10 }]
steps:
${PUBLIC_NETWORK_STEP}
  - apply: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: web, namespace: default }
      spec:
        replicas: 3
        selector: { matchLabels: { app: web } }
        template:
          metadata: { labels: { app: web } }
          spec: { containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec: { type: LoadBalancer, selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
  - pods: [{ namespace: default, name: web-*, count: 3 }]
`;

let tb: Testbed;
let lbIp: string;
beforeAll(async () => {
  const scenario = parseScenario(SCENARIO, "lb-flows.yaml");
  tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  const report = await runScenario(scenario, tb);
  expect(report.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
  const svc = await tb.kube.get("services", "web", "default");
  lbIp = svc.status.loadBalancer.ingress[0].ip;
}, 60_000);
afterAll(async () => tb?.close());

const probe = (sport?: number, count = 12) =>
  tb.probe({
    from: "external:client",
    toIp: lbIp,
    proto: "tcp",
    port: 80,
    count,
    ...(sport ? { sport } : {}),
  });

describe("the external address of a LoadBalancer Service, from outside", () => {
  it("keeps one 5-tuple on one member and spreads different flows", async () => {
    for (const sport of [40001, 40002, 40003]) {
      const r = await probe(sport);
      expect(r.received).toBe(12);
      expect(Object.keys(r.servedByCounts)).toHaveLength(1);
    }
    const spread = await probe(undefined, 30);
    expect(spread.received).toBe(30);
    expect(Object.keys(spread.servedByCounts).length).toBe(3);
  });

  it("survives a change to the Service: kube-manager leaves svc-monitor's member refs alone", async () => {
    await tb.kube.patch("services", "web", "default", { metadata: { labels: { tier: "front" } } });
    await tb.settle();
    const fips = (await (await fetch(`${tb.vncUrl}/floating-ips?detail=true`)).json()) as {
      "floating-ips": {
        "floating-ip": { floating_ip_address: string; virtual_machine_interface_refs?: unknown[] };
      }[];
    };
    const ext = fips["floating-ips"]
      .map((w) => w["floating-ip"])
      .find((f) => f.floating_ip_address === lbIp)!;
    expect(ext.virtual_machine_interface_refs).toHaveLength(4); // the load balancer VMI and three members
    const r = await probe(undefined, 10);
    expect(r.received).toBe(10);
  });

  it("follows a member change: new flows land on the members left", async () => {
    await tb.kube.patch("deployments", "web", "default", { spec: { replicas: 1 } });
    await tb.settle();
    const pods = (await tb.kube.list("pods", { namespace: "default" })).items.map(
      (p) => `default/${p.metadata.name}`,
    );
    expect(pods).toHaveLength(1);
    const r = await probe(undefined, 10);
    expect(r.received).toBe(10);
    expect(Object.keys(r.servedByCounts)).toEqual(pods);
  });
});
