/**
 * A controller warning about an object points at where that object is written — its document in the step's
 * inline manifests, or the line of the manifests file the step names — not at the `apply:` step.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { summaryText } from "../../testbed/runner/report";
import { loadScenario } from "../../testbed/scenario/load";

async function warningsOf(file: string) {
  const scenario = loadScenario(file);
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    return await runScenario(scenario, tb, { allowNoExpectations: true });
  } finally {
    await tb.close();
  }
}

const POD = (name: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { opencontrail.org/name: ${name} } }
spec: { containers: [{ name: c, image: agnhost }] }`;

describe("warning lines", () => {
  it("inline manifests: the object's own document", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-warn-"));
    const file = join(dir, "s.yaml");
    const docs = [POD("one"), POD("two")].join("\n---\n").replaceAll("\n", "\n      ");
    writeFileSync(file, `name: w\nnodes: [n1]\nsteps:\n  - apply: |\n      ${docs}\n`);
    const r = await warningsOf(file);
    const by = (name: string) => r.warnings.find((w) => w.text.startsWith(`pod default/${name}:`));
    // line 5 is the first document's apiVersion, line 10 the second's (after 4 lines and the ---)
    expect(by("one")?.line).toBe(5);
    expect(by("two")?.line).toBe(10);
    expect(by("two")?.file).toBeUndefined();
  }, 60_000);

  it("a manifests file: its own line, and the report names that file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-warn-"));
    writeFileSync(join(dir, "pods.yaml"), `# two pods\n${POD("one")}\n---\n${POD("two")}\n`);
    const file = join(dir, "s.yaml");
    writeFileSync(file, "name: w\nnodes: [n1]\nsteps:\n  - apply: { file: pods.yaml }\n");
    const r = await warningsOf(file);
    const two = r.warnings.find((w) => w.text.startsWith("pod default/two:"));
    expect(two).toMatchObject({ file: "pods.yaml", line: 7 });
    expect(summaryText([r])).toContain(`${join(dir, "pods.yaml")}:7 pod default/two:`);
  }, 60_000);
});
