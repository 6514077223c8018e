/**
 * `ctb diff A B`: the flows one environment lets through and the other does not, workload by workload, each
 * difference witnessed by one traced packet on both sides naming what decided; exit codes as diff(1).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ctbIn } from "../support/ctb";

const work = mkdtempSync(join(tmpdir(), "ctb-diff-"));
const ctb = ctbIn(work);

const manifests = (ports: string, extra = "") => `apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: Pod
metadata: { name: web, namespace: shop, labels: { app: web } }
spec: { containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: shop, labels: { app: client } }
spec: { containers: [{ name: c, image: agnhost }] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  podSelector: { matchLabels: { app: web } }
  ingress:
    - from: [{ podSelector: { matchLabels: { app: client } } }]
      ports: [${ports}]
${extra}`;

describe("ctb diff", () => {
  const a = join(work, "a.yaml");
  const b = join(work, "b.yaml");
  writeFileSync(a, manifests("{ port: 8080 }"));
  writeFileSync(b, manifests("{ port: 8080 }, { port: 9090 }, { port: 53, protocol: UDP }"));

  it("lists what only one side lets through, with the rule that decided on each side", () => {
    const r = ctb("diff", a, b);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toContain("shop/[app=client] => shop/[app=web]");
    expect(r.out).toContain(
      "  A: tcp 8080\n  B: tcp 8080,9090; udp 53\n  + allowed in B only: tcp 9090; udp 53",
    );
    // the witness: dropped by the isolation rule in A, let through by the policy's rule in B
    expect(r.out).toMatch(
      /tcp\/9090:\n +A: shop\/client → shop\/web: dropped \(FLOW_ACTION_DROP at [^)]+\); .*firewall-rule \S+denyall.* ← NetworkPolicy shop\/web/,
    );
    expect(r.out).toMatch(
      / +B: shop\/client → shop\/web: gets through; .*firewall-rule \S+ \(sequence \S+ of firewall-policy \S+:k8s-shop-web .*← NetworkPolicy shop\/web/,
    );
    expect(r.out).toMatch(/1 of 2 pairs of workloads differ/);
    const back = ctb("diff", b, a, "--json");
    expect(back.code).toBe(1);
    const d = JSON.parse(back.out);
    expect(d.differences).toHaveLength(1);
    expect(d.differences[0]).toMatchObject({ onlyA: "tcp 9090; udp 53", onlyB: "nothing" });
  }, 120_000);

  it("says nothing differs (exit 0) for the same world, and compares two steps of one scenario", () => {
    const same = ctb("diff", a, a);
    expect(same.code).toBe(0);
    expect(same.out).toContain("no difference in what gets through between 2 pairs of workloads");
    const steps = ctb("diff", "scenarios/churn.yaml@1", "scenarios/churn.yaml@4");
    expect(steps.code).toBe(0);
    expect(steps.out).toContain("--- A: scenarios/churn.yaml after step 1");
    expect(steps.out).toContain("workload only in B: team-a/[role=retired]");
  }, 120_000);

  it("refuses a bad command line or side without a stack trace", () => {
    const one = ctb("diff", a);
    expect(one.code).toBe(2);
    expect(one.err).toContain("two sides, <A> and <B>, are needed");
    const step = ctb("diff", "scenarios/churn.yaml@99", a);
    expect(step.code).toBe(2);
    expect(step.err).toMatch(/churn\.yaml@99: the scenario has steps 1 to \d+/);
    const missing = ctb("diff", join(work, "nope.yaml"), a);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("nope.yaml: no such file");
    for (const r of [one, step, missing]) expect(r.err).not.toMatch(/\n\s+at /);
  }, 60_000);
});
