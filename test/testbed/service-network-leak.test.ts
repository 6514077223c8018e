/**
 * Seed 001 keeps the service network in the overlay: a host on the fabric (no vrouter) must not reach a
 * ClusterIP, however many endpoints the Service has. The VIP's route is leaked into the fabric VRF by
 * `<c>-default-ip-fabric-np`; with one endpoint it is a plain route to the member's interface (with two, an
 * ECMP composite), and the underlay once took that single-member route for an ip-fabric-forwarded pod.
 * The pods themselves (ip-fabric-forwarded) stay reachable from the host.
 */
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { type RunReport, runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";

async function run(text: string): Promise<RunReport> {
  const scenario = parseScenario(text, "leak.yaml");
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    return await runScenario(scenario, tb);
  } finally {
    await tb.close();
  }
}

const scenario = (replicas: number) => `name: leak
controller: { model: r5 }
nodes: [n1, n2]
fabricHosts:
  - { name: ops, ip: 10.84.31.100 }
steps:
  - apply: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: web, namespace: default }
      spec:
        replicas: ${replicas}
        selector: { matchLabels: { app: web } }
        template:
          metadata: { labels: { app: web } }
          spec: { containers: [{ name: web, image: agnhost, ports: [{ containerPort: 80 }] }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec:
        selector: { app: web }
        ports: [{ port: 8080, targetPort: 80 }]
  - pods: [{ namespace: default, name: web-*, count: ${replicas} }]
  - reach:
      - { from: "host:ops", to: "service:default/web", proto: tcp, port: 8080, expect: deny }
      - { from: "host:ops", to: "default/web-*", proto: tcp, port: 80, expect: allow }
`;

describe("the service network stays in the overlay (fabric host → ClusterIP)", () => {
  it.each([1, 2])("denied with %i endpoint(s); the ip-fabric pods stay reachable", async (n) => {
    const r = await run(scenario(n));
    const bad = r.checks.filter((c) => c.verdict !== "pass").map((c) => `${c.name}\n${c.detail ?? ""}`);
    expect(bad).toEqual([]);
    expect(r.checks.filter((c) => c.kind === "reach")).toHaveLength(2);
  });
});
