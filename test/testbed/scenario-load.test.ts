import { mkdtempSync, writeFileSync } from "node:fs";
import { controllerConfigOf } from "../../testbed/scenario/controller";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadScenario, parseScenario } from "../../testbed/scenario/load";
import { formatTruthTable, parseTruthTable } from "../../testbed/scenario/matrix";
import { ScenarioError } from "../../testbed/scenario/types";

function errorOf(text: string, file = "s.yaml"): ScenarioError {
  try {
    parseScenario(text, file);
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error("expected a ScenarioError");
}

const POD = `apiVersion: v1
kind: Pod
metadata: { name: a, namespace: default }
spec: { containers: [{ name: c, image: i }] }`;

describe("scenario loading", () => {
  it("loads every shipped scenario", () => {
    const s = loadScenario("scenarios/section-9.yaml");
    expect(s.name).toBe("section-9");
    expect(s.controller.model).toBe("r4");
    expect(s.nodes.map((n) => n.name)).toEqual(["b3s37", "b3s38"]);
    const apply = s.steps[0]!;
    expect(apply.kind).toBe("apply");
    if (apply.kind === "apply") expect(apply.manifests.map((m) => m.kind)).toContain("Deployment");
    // every step knows the line it came from
    expect(s.steps.every((st) => st.line > 1)).toBe(true);
  });

  it("reads every kube-manager option of the controller block as ctb controller does, and points at a refused one", () => {
    const s = parseScenario(
      `name: x
controller:
  clusterName: cluster
  clusterDomain: admin_domain
  clusterProject: { project: test-project }
  secureProject: true
  clusterOwner: k8s-test
steps:
  - show: pods
`,
      "s.yaml",
    );
    expect(controllerConfigOf(s.controller)).toMatchObject({
      clusterName: "cluster",
      domain: "admin_domain",
      clusterProject: "test-project",
      secureProject: true,
      clusterOwner: "k8s-test",
    });
    const e = errorOf(`name: x
controller:
  clusterName: cluster
  nestedMode: true
steps:
  - show: pods
  - reach: { from: default/a, to: 10.0.0.1, proto: icmp, expect: allow }
`);
    expect(e.line).toBe(7);
    expect(e.message).toMatch(
      /^s\.yaml:7: reach: nested mode \(controller\.nestedMode\) is not carried by the emulated datapath/,
    );
    const h = errorOf(`name: x
controller:
  hostNetworkService: true
steps:
  - show: pods
`);
    expect(h.message).toMatch(
      /^s\.yaml:3: controller\.hostNetworkService \(host_network_service\): true is not supported yet/,
    );
    const bad = errorOf(`name: x
controller:
  clusterProject: "{'domain': 'd'}"
steps:
  - show: pods
`);
    expect(bad.message).toBe('s.yaml:3: controller.clusterProject (cluster_project): needs a "project" key');
  });

  it("points at the line of an unknown key, not its parent's", () => {
    const e = errorOf(`name: x
controller:
  clusterName: cluster
  clusterDomian: admin_domain
steps: []
`);
    expect(e.message).toBe('s.yaml:4: controller: unknown field "clusterDomian"');
  });

  it("points at the line of an unknown action", () => {
    const e = errorOf(`name: x
steps:
  - reach: { from: default/a, to: 10.0.0.1, expect: allow }
  - reech: { from: default/a, to: 10.0.0.1, expect: allow }
`);
    expect(e.line).toBe(4);
    expect(e.message).toMatch(/^s\.yaml:4: .*unknown field "reech"/);
  });

  it("rejects a bad enum with the allowed values", () => {
    const e = errorOf(`name: x
steps:
  - reach:
      from: default/a
      to: 10.0.0.1
      expect: maybe
`);
    expect(e.line).toBe(6);
    expect(e.message).toContain("allow, deny");
  });

  it("rejects a step with two actions", () => {
    const e = errorOf(`name: x
steps:
  - show: pods
    reach: { from: default/a, to: 10.0.0.1, expect: allow }
`);
    expect(e.line).toBe(3);
    expect(e.message).toContain("2 actions");
  });

  it("requires a port for tcp probes and none for icmp", () => {
    expect(
      errorOf(`name: x\nsteps:\n  - reach: { from: default/a, to: 10.0.0.1, proto: tcp, expect: allow }\n`)
        .message,
    ).toContain("needs a port");
    expect(
      errorOf(
        `name: x\nsteps:\n  - reach: { from: default/a, to: 10.0.0.1, proto: icmp, port: 80, expect: allow }\n`,
      ).message,
    ).toContain("icmp takes no port");
  });

  it("rejects malformed probe endpoints", () => {
    const e = errorOf(`name: x\nsteps:\n  - reach: { from: a, to: 10.0.0.1, expect: allow }\n`);
    expect(e.message).toContain('reach.from "a"');
  });

  it("reports invalid YAML with its line", () => {
    const e = errorOf(`name: x\nsteps:\n  - show: pods\n  - reach: { from: [\n`);
    expect(e.message).toMatch(/invalid YAML/);
    expect(e.line).toBeGreaterThanOrEqual(4);
  });

  it("parses inline multi-document manifests and rejects broken ones", () => {
    const s = parseScenario(
      `name: x\nsteps:\n  - apply: |\n${POD.replace(/^/gm, "      ")}\n      ---\n${POD.replace(/^/gm, "      ").replace("name: a", "name: b")}\n`,
      "s.yaml",
    );
    const step = s.steps[0]!;
    expect(step.kind === "apply" && step.manifests.map((m) => m.metadata.name)).toEqual(["a", "b"]);
    const e = errorOf(`name: x\nsteps:\n  - apply: |\n      kind: Pod\n      metadata: { name: a }\n`);
    expect(e.message).toContain("needs apiVersion, kind and metadata.name");
    expect(e.line).toBe(3);
  });

  it("reads manifests from a file relative to the scenario and names a missing one", () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-scn-"));
    writeFileSync(join(dir, "pod.yaml"), POD);
    writeFileSync(join(dir, "ok.yaml"), "name: x\nsteps:\n  - apply: { file: pod.yaml }\n");
    writeFileSync(join(dir, "bad.yaml"), "name: x\nsteps:\n  - show: pods\n  - apply: { file: nope.yaml }\n");
    const ok = loadScenario(join(dir, "ok.yaml"));
    expect(ok.steps[0]!.kind === "apply" && ok.steps[0]!.manifests[0]!.metadata.name).toBe("a");
    expect(() => loadScenario(join(dir, "bad.yaml"))).toThrow(/bad\.yaml:4: apply: cannot read nope\.yaml/);
    expect(() => loadScenario(join(dir, "missing.yaml"))).toThrow(/cannot read the file/);
  });
});

describe("netpol truth tables", () => {
  const table = `
        x/a  x/b  y/a
   x/a  .    X    .
   x/b  .    .    X
  `;

  it("parses the upstream notation", () => {
    const t = parseTruthTable(table);
    expect(t.targets).toEqual(["x/a", "x/b", "y/a"]);
    expect(t.rows[0]).toEqual({ from: "x/a", cells: [true, false, true] });
    expect(t.rows[1]!.cells).toEqual([true, true, false]);
  });

  it("takes DNS names as columns, never as rows", () => {
    expect(parseTruthTable("dns:web.default.svc.cluster.local x/b\nx/a . X").targets).toEqual([
      "dns:web.default.svc.cluster.local",
      "x/b",
    ]);
    expect(() => parseTruthTable("x/a\ndns:web .")).toThrow(/first cell "dns:web"/);
    expect(() => parseTruthTable("dns:a/b x/a\nx/b . .")).toThrow(/dns:<name>/);
  });

  it("rejects rows of the wrong width and unknown marks", () => {
    expect(() => parseTruthTable("x/a x/b\nx/a .")).toThrow(/1 cells for 2 targets/);
    expect(() => parseTruthTable("x/a x/b\nx/a . ?")).toThrow(/neither/);
  });

  it("marks cells that differ from the expectation and skips loopback", () => {
    const t = parseTruthTable(table);
    const out = formatTruthTable(
      t,
      (from, to) => !(from === "x/a" && to === "x/b") && !(from === "x/b" && to === "y/a") && to !== "y/a",
    );
    const lines = out.split("\n");
    expect(lines[1]).toMatch(/^x\/a\s+-\s+X\s+X\*/);
    expect(lines[2]).toMatch(/^x\/b\s+\.\s+-\s+X/);
  });
});
