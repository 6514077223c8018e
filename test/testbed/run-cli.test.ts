/**
 * `ctb run` and `ctb up` as a user drives them: several files of which one is broken, the NetworkPolicy layout
 * chosen on the command line, the comparison with Kubernetes, and `up` not reporting success when the
 * scenario's expectations failed.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { type AddressInfo, createServer } from "node:net";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const tmp = mkdtempSync(join(tmpdir(), "ctb-run-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function ctb(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(ROOT, "bin/ctb"), ...args], {
    encoding: "utf8",
    cwd: ROOT,
    env: { ...process.env, CTB_WORKDIR: join(tmp, "wd"), NO_COLOR: "1", ...env },
    timeout: 120_000,
  });
}

const DIVERGENT = `name: divergent
controller: { model: r5 }
nodes: [node-1]
steps:
  - apply: |
      apiVersion: v1
      kind: Namespace
      metadata: { name: x }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: a, namespace: x, labels: { pod: a } }
      spec: { containers: [ { name: c, image: agnhost, ports: [ { containerPort: 80 } ] } ] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: b, namespace: x, labels: { pod: b } }
      spec: { containers: [ { name: c, image: agnhost, ports: [ { containerPort: 80 } ] } ] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: c, namespace: x, labels: { pod: c } }
      spec: { containers: [ { name: c, image: agnhost, ports: [ { containerPort: 80 } ] } ] }
  - pods: [ { namespace: x, count: 3 } ]
  - apply: |
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: a-egress-to-c, namespace: x }
      spec:
        podSelector: { matchLabels: { pod: a } }
        policyTypes: [Egress]
        egress: [ { to: [ { podSelector: { matchLabels: { pod: c } } } ] } ]
      ---
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: b-from-a, namespace: x }
      spec:
        podSelector: { matchLabels: { pod: b } }
        policyTypes: [Ingress]
        ingress: [ { from: [ { podSelector: { matchLabels: { pod: a } } } ] } ]
  - title: a admits only c on egress, b admits a on ingress
    matrix:
      proto: tcp
      port: 80
      expect: |2
              x/a  x/b  x/c
        x/a   .    X    .
        x/b   .    .    .
        x/c   .    X    .
`;

describe("ctb run: batches, layouts, comparison with Kubernetes", () => {
  const good = join(tmp, "divergent.yaml");
  const bad = join(tmp, "broken.yaml");
  writeFileSync(good, DIVERGENT);
  writeFileSync(bad, "name: broken\nsteps:\n  - bogus: 1\n");

  it("a broken file among several is one error in JSON and JUnit; the others still run", () => {
    const junit = join(tmp, "out.xml");
    const r = ctb(["run", join(ROOT, "scenarios/section-9.yaml"), bad, "--json", "--junit", junit]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/broken\.yaml:3: steps\.0: unknown field "bogus"/);
    const j = JSON.parse(r.stdout);
    expect(j.scenarios.map((s: { file: string; failed: number }) => s.failed)).toEqual([0, 1]);
    expect(j.scenarios[1].checks[0]).toMatchObject({ verdict: "error", line: 3 });
    const xml = readFileSync(junit, "utf8");
    expect(xml).toMatch(/<testsuite name="section-9"/);
    expect(xml).toMatch(/<error message="load the scenario file">/);
    // kept for the web view's Scenario report page: the same JSON report
    const last = JSON.parse(readFileSync(join(tmp, "wd", "last-run.json"), "utf8"));
    expect(last.scenarios.map((s: { scenario: string }) => s.scenario)).toEqual(
      j.scenarios.map((s: { scenario: string }) => s.scenario),
    );
  });

  it("a single broken file is a usage error and starts nothing", () => {
    const r = ctb(["run", bad]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("the upstream layout (default) lets a→b through where Kubernetes blocks it; --compare names the rule", () => {
    const r = ctb(["run", good, "--compare", "kubernetes"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/x\/a → x\/b: expected X, got \./);
    expect(r.stdout).toMatch(
      /x\/a → x\/b: Contrail allows, Kubernetes denies \(egress isolated by x\/a-egress-to-c.*firewall-rule default-policy-management:x-ingress-b-from-a-0-podSelector-0-0 \(sequence 00000\.0 of firewall-policy default-policy-management:k8s-x-b-from-a in application-policy-set k8s\) ← NetworkPolicy x\/b-from-a/,
    );
  });

  it("--netpol-layout kubernetes gives Kubernetes' table", () => {
    const r = ctb(["run", good, "--netpol-layout", "kubernetes", "--compare", "kubernetes"]);
    expect(r.stdout).toMatch(/Contrail \(kubernetes layout\) agrees with Kubernetes on every cell/);
    expect(r.status).toBe(0);
  });

  it("bad values of the new flags are usage errors", () => {
    expect(ctb(["run", good, "--netpol-layout", "calico"]).stderr).toMatch(
      /--netpol-layout must be upstream or kubernetes/,
    );
    expect(ctb(["run", good, "--compare", "calico"]).status).toBe(2);
    expect(ctb(["run", good, "--ui-listen", "0.0.0.0:8080"]).stderr).toMatch(
      /--ui-listen is a flag of ctb up/,
    );
    expect(ctb(["up", good, "--ui-listen", "127.0.0.1:99999"]).stderr).toMatch(
      /--ui-listen takes <address>\[:<port>\]/,
    );
  });

  it("ctb up exits 1, saying why, when its web view cannot listen where --ui-listen says", async () => {
    const busy = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => busy.once("listening", r));
    try {
      const port = (busy.address() as AddressInfo).port;
      const up = ctb(["up", good, "--ui-listen", `127.0.0.1:${port}`]);
      expect(up.status).toBe(1);
      expect(up.stdout + up.stderr).toContain(`the web view cannot listen on 127.0.0.1:${port}`);
      expect(up.stderr).toMatch(/the environment did not come up/);
    } finally {
      busy.close();
    }
  });

  it("ctb up exits 1 when the scenario's expectations did not hold, and the environment stays up for a look", () => {
    const up = ctb(["up", good]);
    try {
      expect(up.status).toBe(1);
      expect(up.stderr).toMatch(/1 expectation\(s\) of .*divergent\.yaml did not hold/);
      const get = ctb(["get", "pods", "-n", "x"]);
      expect(get.status).toBe(0);
      expect(get.stdout).toMatch(/^a\s+1\/1\s+Running/m);
    } finally {
      ctb(["down"]);
    }
  });
});
