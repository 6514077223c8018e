/**
 * Bad manifests through the scenario runner: every rejection the real API server would give (wrong types,
 * unknown fields under kubectl's strict field validation, unsupported enum values) is an error of that step at
 * its file:line with the server's message — and the run goes on, finishing in seconds. A settle that cannot
 * finish ends at its deadline saying what it waited for. `replicas: "two"` used to hang `ctb run` for ever:
 * the embedded cluster stored it, the Deployment controller computed NaN replicas and rewrote the status on
 * every pass (NaN never equals itself), so the settle barrier never returned.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ControllerRuntime } from "../../testbed/cluster/embedded/controllers/runtime";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";

const BAD = `name: bad-manifests
controller:
  model: r5
nodes: [node-1]
steps:
  - title: "replicas is a string"
    apply: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: web, namespace: default }
      spec:
        replicas: "two"
        selector: { matchLabels: { app: web } }
        template:
          metadata: { labels: { app: web } }
          spec:
            containers: [{ name: web, image: agnhost }]
  - title: "a misspelt field"
    apply: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: web2, namespace: default }
      spec:
        replicaz: 2
        selector: { matchLabels: { app: web2 } }
        template:
          metadata: { labels: { app: web2 } }
          spec:
            containers: [{ name: web, image: agnhost }]
  - title: "a Service of type Foo"
    apply: |
      apiVersion: v1
      kind: Service
      metadata: { name: s, namespace: default }
      spec: { type: Foo, ports: [{ port: 80 }] }
  - title: "a pod with bad enums"
    apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: p, namespace: default }
      spec:
        restartPolicy: Sometimes
        containers: [{ name: c, image: agnhost, imagePullPolicy: Maybe, ports: [{ containerPort: 80, protocol: XTCP }] }]
  - title: "a NetworkPolicy going sideways"
    apply: |
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: np, namespace: default }
      spec: { podSelector: {}, policyTypes: [Sideways] }
  - title: "a good pod still runs"
    apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: ok, namespace: default }
      spec:
        containers: [{ name: c, image: agnhost }]
  - pods:
      - { namespace: default, name: ok }
`;

const saved = { ...process.env };
afterEach(() => {
  for (const k of ["CTB_SETTLE_TIMEOUT_MS", "CTB_WAIT_TIMEOUT_MS"]) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe("bad manifests in a scenario", () => {
  it("each is an error of its step with the API server's message; the run goes on and ends in seconds", async () => {
    const scenario = parseScenario(BAD, "bad.yaml");
    const started = Date.now();
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    try {
      const report = await runScenario(scenario, tb);
      const lines = report.checks.map((c) => `bad.yaml:${c.line} ${c.verdict} ${c.detail ?? c.name}`);
      expect(lines).toEqual([
        'bad.yaml:6 error apply Deployment default/web: Error from server (BadRequest): Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32',
        'bad.yaml:18 error apply Deployment default/web2: Error from server (BadRequest): Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz"',
        'bad.yaml:30 error apply Service default/s: Error from server (Invalid): Service "s" is invalid: spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
        'bad.yaml:36 error apply Pod default/p: Error from server (Invalid): Pod "p" is invalid: [spec.containers[0].ports[0].protocol: Unsupported value: "XTCP": supported values: "SCTP", "TCP", "UDP", spec.containers[0].imagePullPolicy: Unsupported value: "Maybe": supported values: "Always", "IfNotPresent", "Never", spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"]',
        'bad.yaml:44 error apply NetworkPolicy default/np: Error from server (Invalid): NetworkPolicy.networking.k8s.io "np" is invalid: spec.policyTypes[0]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
        "bad.yaml:57 pass pods in default, named ok, Running",
      ]);
      expect((await tb.kube.list("deployments")).items).toEqual([]);
    } finally {
      await tb.close();
    }
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);

  it('`ctb run` with replicas: "two" ends at once, naming the field and the file:line', () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-bad-"));
    try {
      const file = join(dir, "two.yaml");
      writeFileSync(file, BAD.split('  - title: "a misspelt field"')[0]!);
      const started = Date.now();
      const r = spawnSync(process.execPath, ["bin/ctb", "run", file], { encoding: "utf8", timeout: 60_000 });
      expect(r.signal).toBeNull();
      expect(r.status).toBe(1);
      const out = `${r.stdout}${r.stderr}`;
      expect(out).toContain(
        "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
      );
      expect(out).toContain(`${file}:6`);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 70_000);
});

describe("deadlines", () => {
  const ONE_POD = `name: one-pod
nodes: [node-1]
steps:
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: a, namespace: default }
      spec: { containers: [{ name: c, image: agnhost }] }
  - pods:
      - { namespace: default, name: a }
`;

  it("a settle that cannot finish fails at CTB_SETTLE_TIMEOUT_MS, saying what it waited for", async () => {
    process.env.CTB_SETTLE_TIMEOUT_MS = "1500";
    const scenario = parseScenario(ONE_POD, "one-pod.yaml");
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    try {
      await tb.settle();
      // a controller that never converges (what replicas: "two" used to cause): its key is always queued again
      const { runtime } = tb.kube as unknown as { runtime: ControllerRuntime };
      runtime.register({
        name: "runaway",
        onChange: () => {},
        reconcile: (key) => runtime.enqueue("runaway", key),
      });
      runtime.enqueue("runaway", "deployments/default/web");
      const started = Date.now();
      const err = await tb.settle().then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toBe(
        "settle: still waiting after 2 s for: embedded cluster controllers (1 unit: runaway deployments/default/web) (CTB_SETTLE_TIMEOUT_MS sets the limit)",
      );
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await tb.close();
    }
  }, 30_000);

  it("the runner bounds every wait of a step and names it (CTB_WAIT_TIMEOUT_MS)", async () => {
    process.env.CTB_WAIT_TIMEOUT_MS = "300";
    const scenario = parseScenario(ONE_POD, "one-pod.yaml");
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
    try {
      const stuck = { ...tb, settle: () => new Promise<void>(() => {}) };
      const report = await runScenario(scenario, stuck);
      expect(report.checks.map((c) => `${c.line} ${c.verdict} ${c.detail}`)).toEqual([
        "4 error still waiting after 0 s for the testbed to settle (CTB_WAIT_TIMEOUT_MS sets the limit)",
        "9 error still waiting after 0 s for the testbed to settle (CTB_WAIT_TIMEOUT_MS sets the limit)",
      ]);
    } finally {
      await tb.close();
    }
  }, 30_000);
});
