/** Readiness probes and `readiness` steps are refused at load time, at their line, when they could not both fail and pass. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadScenario, parseScenario } from "../../testbed/scenario/load";

const scenario = (probe: string, step = "readiness: { pod: default/web, probe: fail }") => `name: x
steps:
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: web, namespace: default }
      spec:
        containers:
          - name: c
            image: i
            ports: [{ name: http, containerPort: 80 }]
${probe ? `            readinessProbe: ${probe}\n` : ""}  - ${step}
  - pods: [{ namespace: default }]
`;

describe("readiness probes in scenarios", () => {
  it("takes a probe on a declared port and a step that fails it", () => {
    const s = parseScenario(scenario("{ tcpSocket: { port: http } }"), "s.yaml");
    expect(s.steps[1]).toMatchObject({ kind: "readiness", pod: "default/web", passing: false });
    expect(() => parseScenario(scenario("{ exec: { command: [true] } }"), "s.yaml")).not.toThrow();
  });

  it("refuses a probe that could never pass, naming its line", () => {
    expect(() => parseScenario(scenario("{ tcpSocket: { port: 8080 } }"), "s.yaml")).toThrow(
      /^s\.yaml:12: Pod default\/web container c: readinessProbe: tcpSocket port 8080 is not one of the container's ports \(http\)/,
    );
    expect(() => parseScenario(scenario("{ httpGet: { path: /, port: metrics } }"), "s.yaml")).toThrow(
      /httpGet port metrics is not one of the container's ports/,
    );
  });

  it("refuses a probe with no handler or two", () => {
    expect(() => parseScenario(scenario("{ periodSeconds: 5 }"), "s.yaml")).toThrow(/has no handler/);
    expect(() =>
      parseScenario(scenario("{ exec: { command: [true] }, tcpSocket: { port: 80 } }"), "s.yaml"),
    ).toThrow(/has 2 handlers \(exec, tcpSocket\)/);
  });

  it("refuses a readiness step for a pod without a probe, or one the file does not apply", () => {
    expect(() => parseScenario(scenario(""), "s.yaml")).toThrow(
      /^s\.yaml:12: readiness: Pod default\/web declares no readinessProbe/,
    );
    expect(() =>
      parseScenario(
        scenario("{ tcpSocket: { port: 80 } }", "readiness: { pod: default/other, probe: fail }"),
        "s.yaml",
      ),
    ).toThrow(/no pod or workload default\/other is applied before this step/);
  });

  it("points into a manifest file at the probe's own line", () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-probe-"));
    writeFileSync(
      join(dir, "web.yaml"),
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: i\n          readinessProbe: { tcpSocket: { port: 8080 } }\n",
    );
    writeFileSync(join(dir, "s.yaml"), "name: x\nsteps:\n  - apply: { file: web.yaml }\n  - pods: [{}]\n");
    expect(() => loadScenario(join(dir, "s.yaml"))).toThrow(
      /web\.yaml:10: Deployment default\/web container c: readinessProbe: tcpSocket port 8080 is not one of the container's ports \(none declared\)/,
    );
  });
});

describe("health steps in scenarios", () => {
  it("takes a health step for a pod the file applies, probe or not (the agent's check is not kubelet's)", () => {
    const s = parseScenario(scenario("", "health: { pod: default/web, check: fail }"), "s.yaml");
    expect(s.steps[1]).toMatchObject({ kind: "health", pod: "default/web", passing: false });
  });

  it("refuses a health step for a pod the file does not apply, and a check other than fail or pass, at its line", () => {
    expect(() =>
      parseScenario(scenario("", "health: { pod: default/other, check: fail }"), "s.yaml"),
    ).toThrow(/^s\.yaml:12: health: no pod or workload default\/other is applied before this step/);
    expect(() => parseScenario(scenario("", "health: { pod: default/web, check: down }"), "s.yaml")).toThrow(
      /^s\.yaml:12:.*check/,
    );
  });
});
