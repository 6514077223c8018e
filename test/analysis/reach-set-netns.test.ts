/**
 * All-packets reachability on the netns datapath: one real packet per piece of the port space (real namespaces,
 * vrouter processes, pods plumbed by the real CNI), and the same sets as the simulated datapath's dry run for
 * TCP, UDP and ICMP (the netns prober sends no SCTP: said, and left out). Packets sampled inside and outside the
 * intervals agree. Needs root (tier NETNS).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatProtoPorts, portInSet } from "../../fake-vrouter/datapath/port-space";
import { netnsUsable } from "../../fake-vrouter/netns/index";
import { type EnvTestbed, startTestbed } from "../../testbed/env";
import { reachSet } from "../../testbed/runner/reach-set";
import { resolveTarget, runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";
import { requireTier } from "../support/tiers";
import { sample, WORLD } from "./fixtures";

const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");

describe.runIf(usable)("all-packets reachability on both datapaths", () => {
  const tbs: Partial<Record<"sim" | "netns", EnvTestbed>> = {};
  beforeAll(async () => {
    for (const datapath of ["sim", "netns"] as const) {
      const scenario = parseScenario(WORLD("kubernetes"), "reach-set.yaml");
      const tb = await startTestbed(scenario, { datapath, cluster: { kind: "embedded" } });
      tbs[datapath] = tb;
      const r = await runScenario(scenario, tb);
      expect(r.checks.filter((c) => c.verdict !== "pass")).toEqual([]);
    }
  }, 240_000);
  afterAll(async () => {
    await tbs.netns?.close();
    await tbs.sim?.close();
  });

  it.each([
    ["shop/client", "shop/web"],
    ["shop/other", "shop/web"],
    ["shop/client", "service:shop/web"],
  ])(
    "%s → %s: the same set, and packets agree with it",
    async (from, to) => {
      const sets = [];
      for (const dp of ["sim", "netns"] as const) {
        const tb = tbs[dp]!;
        const dst = await resolveTarget(tb, to);
        sets.push(await reachSet(tb, from, dst.ip));
      }
      const [sim, netns] = sets as [
        Awaited<ReturnType<typeof reachSet>>,
        Awaited<ReturnType<typeof reachSet>>,
      ];
      expect(netns.unprobed).toEqual(["sctp"]);
      expect(netns.method).toBe("one packet per piece");
      const noSctp = (s: typeof sim) => formatProtoPorts({ ...s.delivered, sctp: [] });
      expect(noSctp(netns)).toBe(noSctp(sim));
      expect(formatProtoPorts({ ...netns.answered, sctp: [] })).toBe(
        formatProtoPorts({ ...sim.answered, sctp: [] }),
      );
      // a few packets around the intervals, on the real datapath
      const tb = tbs.netns!;
      const dst = await resolveTarget(tb, to);
      const ports = sample(netns.delivered.tcp).slice(0, 8);
      for (const port of ports) {
        const r = await tb.probe({ from, toIp: dst.ip, proto: "tcp", port, count: 1 });
        expect(r.received > 0 || r.refused > 0, `tcp/${port}: ${formatProtoPorts(netns.delivered)}`).toBe(
          portInSet(port, netns.delivered.tcp),
        );
      }
    },
    240_000,
  );
});
