/**
 * Bad input around traffic from outside the cluster: an external host inside the cluster's address space, a
 * reference to an external host the scenario does not declare, a gateway named like a node — each a
 * ScenarioError at its line before anything starts; a probe to a LoadBalancer Service that got no address (no
 * pool) says why in the report, and the Service's other objects stay as kube-manager builds them.
 */
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";
import { ScenarioError } from "../../testbed/scenario/types";

function errorOf(text: string): ScenarioError {
  try {
    parseScenario(text, "ns.yaml");
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error("expected a ScenarioError");
}

const withHosts = (hosts: string, reach = "{ from: default/a, to: 10.0.0.1, expect: allow }", extra = "") =>
  `name: x
controller: { model: r5${extra} }
nodes: [n1]
externalHosts:
${hosts}
steps:
  - reach:
      - ${reach}
`;

describe("external hosts: bad input", () => {
  it.each([
    ["10.40.0.9", "pod subnet 10.32.0.0/12"],
    ["10.96.3.3", "service subnet 10.96.0.0/12"],
    ["10.64.1.1", "ip-fabric subnet 10.64.0.0/12"],
    ["10.84.31.77", "fabric of node n1 10.84.31.0/24"],
  ])("an external host at %s is inside the %s: refused at its line", (ip, what) => {
    const e = errorOf(withHosts(`  - { name: ok, ip: 198.51.100.1 }\n  - { name: bad, ip: ${ip} }`));
    expect(e.line).toBe(6);
    expect(e.message).toContain(`external host bad: ${ip} is inside the ${what}`);
  });

  it("follows the controller's own subnets", () => {
    const text = withHosts("  - { name: h, ip: 192.168.9.9 }", undefined, ", podSubnet: 192.168.0.0/16");
    expect(errorOf(text).message).toContain("inside the pod subnet 192.168.0.0/16");
  });

  it("an unknown external host in reach is refused at the probe's line, naming the declared ones", () => {
    const e = errorOf(
      withHosts(
        "  - { name: client, ip: 198.51.100.1 }",
        '{ from: "external:nobody", to: 10.0.0.1, expect: allow }',
      ),
    );
    expect(e.line).toBe(8);
    expect(e.message).toBe(
      'ns.yaml:8: reach.from "external:nobody": no external host nobody (externalHosts: client)',
    );
    expect(
      errorOf(
        withHosts(
          "  - { name: client, ip: 198.51.100.1 }",
          '{ from: default/a, to: "external:x", expect: allow }',
        ),
      ).message,
    ).toContain('reach.to "external:x": no external host x');
  });

  it("two hosts with one name or one address, and a gateway named like a node, are refused", () => {
    expect(
      errorOf(withHosts("  - { name: a, ip: 198.51.100.1 }\n  - { name: a, ip: 198.51.100.2 }")).message,
    ).toContain("two hosts named a");
    expect(
      errorOf(withHosts("  - { name: a, ip: 198.51.100.1 }\n  - { name: b, ip: 198.51.100.1 }")).message,
    ).toContain("198.51.100.1 is given to two hosts");
    expect(
      errorOf(`name: x\nnodes: [n1]\ngateway: { name: n1 }\nsteps: [{ show: pods }]\n`).message,
    ).toContain('gateway.name "n1" is also a node\'s name');
  });
});

describe("a LoadBalancer Service without a pool", () => {
  it("reports why it has no external address; nothing is half-built", async () => {
    const scenario = parseScenario(
      `name: no-pool
controller: { model: r5 }
nodes: [n1]
externalHosts: [{ name: client, ip: 198.51.100.10 }]
steps:
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: web, namespace: default, labels: { app: web } }
      spec: { containers: [{ name: web, image: agnhost, ports: [{ containerPort: 80 }] }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec: { type: LoadBalancer, selector: { app: web }, ports: [{ port: 80 }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: ext, namespace: default }
      spec: { selector: { app: web }, externalIPs: [203.0.113.7], ports: [{ port: 80 }] }
  - pods: [{ namespace: default, name: web }]
  - reach:
      - { from: "external:client", to: "lb:default/web", proto: tcp, port: 80, expect: allow }
      - { from: "external:client", to: "lb:default/ext", proto: tcp, port: 80, expect: allow }
  - contrail:
      - { type: loadbalancer, of: service default/web, count: 1 }
      - { type: floating-ip, of: service default/web, fqName: "*:*:*:*:*externalIP", exists: false }
`,
      "no-pool.yaml",
    );
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    try {
      const report = await runScenario(scenario, tb);
      const probe = report.checks.find((c) => c.kind === "reach")!;
      expect(probe.verdict).toBe("error");
      expect(probe.detail).toContain("service default/web has no load-balancer ingress address");
      expect(probe.detail).toContain("type LoadBalancer but no floating-ip pool");
      // lb: on a ClusterIP Service with externalIPs says why it has none and which address to probe
      const ext = report.checks.filter((c) => c.kind === "reach")[1]!;
      expect(ext.verdict).toBe("error");
      expect(ext.detail).toContain(
        "it is type ClusterIP, and only a LoadBalancer Service gets one; its externalIPs (203.0.113.7) are reached as addresses: to: 203.0.113.7",
      );
      expect(report.checks.filter((c) => c.kind === "contrail").every((c) => c.verdict === "pass")).toBe(
        true,
      );
    } finally {
      await tb.close();
    }
  });
});
