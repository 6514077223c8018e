/**
 * A passing `deny` still says why: the report of a lost connection or DNS query names where it was dropped and
 * the trace line of the decision (the rule that denied it), as a user reading the report needs to see it.
 */
import { expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { loadScenario } from "../../testbed/scenario/load";

it("dns.yaml: the query a NetworkPolicy keeps from CoreDNS names the firewall rule that dropped it", async () => {
  const scenario = loadScenario("scenarios/dns.yaml");
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    const r = await runScenario(scenario, tb);
    expect(r.checks.filter((c) => c.verdict !== "pass").map((c) => c.name)).toEqual([]);
    // the last such probe: after the NetworkPolicy that keeps namespace locked from CoreDNS
    const locked = r.checks.findLast(
      (c) => c.kind === "reach" && c.name.startsWith("locked/client → dns:web.default"),
    )!;
    expect(locked.output).toMatch(
      /→ the query was dropped at node-\d firewall-policy: FLOW_ACTION_DROP\n {4}node-\d firewall-policy\(drop\): .*\[firewall-rule default-policy-management:kube-system-ingress-dns-from-allowed-denyall/,
    );
  } finally {
    await tb.close();
  }
}, 60_000);
