/**
 * The `health` step on the simulated datapath: a pod failing svc-monitor's service-health-check leaves the
 * Service's ECMP next-hop while Kubernetes still lists it ready (the report says both), and a step for a pod
 * no check refers to is an error that says how to get one.
 */
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { type RunEvent, runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";

const world = (monitor: boolean, pool = "default/web:80") => `name: h
nodes: [node-1]
steps:
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: web-1, namespace: default, labels: { app: web } }
      spec: { containers: [{ name: web, image: nginx, ports: [{ containerPort: 80 }] }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: web-2, namespace: default, labels: { app: web } }
      spec: { containers: [{ name: web, image: nginx, ports: [{ containerPort: 80 }] }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec: { selector: { app: web }, ports: [{ port: 80 }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: client, namespace: default }
      spec: { containers: [{ name: c, image: agnhost }] }
  - pods: [{ namespace: default, count: 3 }]
${
  monitor
    ? `  - vnc:
      - create:
          type: loadbalancer-healthmonitor
          fqName: default-domain:k8s-default:mon
          fields: { loadbalancer_healthmonitor_properties: { monitor_type: PING, delay: 1, timeout: 1, max_retries: 1 } }
      - update: { type: loadbalancer-pool, fqName: "\${pool:${pool}}", refs: { loadbalancer-healthmonitor: [default-domain:k8s-default:mon] } }
`
    : ""
}  - health: { pod: default/web-2, check: fail }
  - reach:
      - { from: default/client, to: "service:default/web", proto: tcp, port: 80, expect: allow, spread: { flows: 16, minMembers: 1 } }
      - { from: default/client, to: default/web-2, proto: tcp, port: 80, expect: deny }
`;

async function run(monitor: boolean, pool?: string) {
  const scenario = parseScenario(world(monitor, pool), "h.yaml");
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  const out: string[] = [];
  try {
    const report = await runScenario(scenario, tb, {
      onEvent: (ev: RunEvent) => {
        if (ev.type === "output") out.push(ev.text);
      },
    });
    // step output (events) and the checks' own reports (flows per member)
    return { report, out: [...out, ...report.checks.map((c) => c.output ?? "")].join("\n") };
  } finally {
    await tb.close();
  }
}

describe("health step (sim)", () => {
  it("a failing PING check: web-2 serves no flow of the Service and has no route; Kubernetes still lists it", async () => {
    const { report, out } = await run(true);
    expect(report.checks.filter((c) => c.verdict !== "pass").map((c) => `${c.name}: ${c.detail}`)).toEqual(
      [],
    );
    expect(out).toMatch(/default\/web-2: health check default-domain:k8s-default:web__\S+ fails/);
    expect(out).toContain("Kubernetes disagrees: EndpointSlice default/web-");
    expect(out).toMatch(/default\/web-1: 16 flow\(s\)/);
    expect(out).not.toMatch(/default\/web-2: \d+ flow/);
  }, 60_000);

  it("a pod no check refers to: the step is an error saying how svc-monitor makes one", async () => {
    const { report } = await run(false);
    const err = report.checks.find((c) => c.verdict === "error");
    expect(err?.detail).toMatch(
      /no service-health-check refers to default\/web-2's interface.*loadbalancer-healthmonitor/,
    );
  }, 60_000);

  it("a pool template naming no Service port is the vnc entry's error, at its line", async () => {
    const { report } = await run(true, "default/web:81");
    const err = report.checks.find((c) => c.verdict === "error");
    const updateLine =
      world(true)
        .split("\n")
        .findIndex((l) => l.includes("- update:")) + 1;
    expect(err?.line).toBe(updateLine);
    expect(err?.detail).toContain(
      `\${pool:default/web:81}: service default/web's load balancer has no listener on port 81`,
    );
  }, 60_000);
});
