/**
 * scenarios/rbac.yaml on the local control plane: the real kube-apiserver (--authorization-mode=RBAC) judges the
 * impersonated Kubernetes requests with its own RBAC and stock ClusterRoles, the config API judges the tokens;
 * every expectation holds and Kubernetes' own bindings bring no warning. Skipped (with the command to run) when
 * the control plane is not built.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultBinDir, missingBinaries } from "../../testbed/cluster/local";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";
import { requireTier } from "../support/tiers";

const missing = missingBinaries(defaultBinDir(), true);
requireTier(
  "K8S",
  missing.length === 0,
  `${missing.join(", ")} not built in ${defaultBinDir()}: run \`bash testbed/cluster/local/build.sh\``,
);

describe.skipIf(missing.length > 0)("rbac.yaml on the local control plane", () => {
  it("tenants are kept apart by both APIs and a binding change takes effect in both", async () => {
    const workDir = mkdtempSync(join(tmpdir(), "ctb-rbac-local-"));
    const scenario = loadScenario("scenarios/rbac.yaml");
    const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "local" }, workDir });
    try {
      const report = await runScenario(scenario, tb);
      const failures = report.checks
        .filter((c) => c.verdict !== "pass")
        .map((c) => `rbac.yaml:${c.line} ${c.title ?? ""} ${c.name}\n${c.detail ?? ""}`);
      expect(failures).toEqual([]);
      expect(report.checks.map((c) => c.name)).toContain("as bob: get Pod team-a/web refused");
      expect(report.warnings).toEqual([]);
    } finally {
      await tb.close();
      rmSync(workDir, { recursive: true, force: true });
    }
  }, 240_000);
});
