/**
 * "Why not" (`ctb why`): the changes that would turn a flow's fate, each verified in a copy of the environment
 * — found where they exist, refused where they do not work (R4 needs its namespace annotation, a deny policy
 * does not undo another policy's allow), and never a change that was not tried.
 */
import { describe, expect, it } from "vitest";
import { formatWhy, why } from "../../testbed/runner/why";
import { loadScenario, parseScenario } from "../../testbed/scenario/load";
import { ask, up, WORLD } from "./fixtures";

describe("ctb why", () => {
  const world = parseScenario(WORLD("upstream"), "world.yaml");

  it("a dropped flow: a label an existing rule admits, a rule added, a policy of its own — smallest first", async () => {
    const r = await ask(world, { from: "shop/other", to: "shop/web", proto: "tcp", port: 8080 });
    expect(r.through).toBe(false);
    expect(r.changes.map((c) => c.what)).toEqual([
      "label pod shop/other app=client (matches an ingress rule of NetworkPolicy shop/web)",
      'add to NetworkPolicy shop/web the ingress rule {"from":[{"podSelector":{"matchLabels":{"app":"other"}}}],"ports":[{"protocol":"TCP","port":8080}]}',
      "a new NetworkPolicy: shop/allow-other-tcp8080",
    ]);
    expect(r.changes[0]!.how).toBe("kubectl label pod -n shop other --overwrite app=client");
    expect(formatWhy(r)).toContain("the smallest changes that would let it through (each verified in a copy");
  }, 120_000);

  it("a flow that gets through: what blocks it, and what would not (a deny policy beside an allow)", async () => {
    const r = await ask(world, { from: "shop/client", to: "shop/web", proto: "tcp", port: 8080 });
    expect(r.through).toBe(true);
    expect(r.changes.map((c) => c.how)).toEqual(["kubectl label pod -n shop client app-"]);
    expect(r.notEnough.map((c) => c.what)).toContain(
      "a NetworkPolicy shop/deny-ingress-web isolating shop/web for ingress (no rule)",
    );
  }, 120_000);

  it("Contrail's namespace isolation (section 9, R4): its annotation, not a NetworkPolicy", async () => {
    const s9 = loadScenario("scenarios/section-9.yaml");
    const tb = await up(s9);
    try {
      const pods = (await tb.kube.list("pods")).items.map(
        (p) => `${p.metadata.namespace}/${p.metadata.name}`,
      );
      const from = pods.find((p) => p.startsWith("default/example1-"))!;
      const to = pods.find((p) => p.startsWith("test-isolated-ns/example3-"))!;
      const r = await why(tb, () => up(s9), { from, to, proto: "tcp", port: 80 });
      expect(r.through).toBe(false);
      expect(r.changes.map((c) => c.how)).toEqual([
        "kubectl annotate namespace test-isolated-ns opencontrail.kubernetes.isolated-",
      ]);
      // R4 builds NetworkPolicy as security groups only under its v1beta1 namespace annotation
      expect(r.notEnough.map((c) => c.what)[0]).toMatch(
        /^a new NetworkPolicy: test-isolated-ns\/allow-example1-/,
      );
    } finally {
      await tb.close();
    }
  }, 120_000);
});
