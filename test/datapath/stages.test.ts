/**
 * The engine's stages on their own (PIPELINE.md names the module of each): the one route walk and its
 * translation limit, flow-setup stages as pure functions of their inputs, and calls that leave no state on
 * the engine (a dry run or a config install between two packets changes neither's trace).
 */
import { describe, expect, it } from "vitest";
import { callContext, Drop } from "../../fake-vrouter/datapath/context";
import { VrouterDatapath } from "../../fake-vrouter/datapath/engine";
import { tcp, udp } from "../../fake-vrouter/datapath/packet";
import { MAX_VRF_TRANSLATIONS, walkRoute } from "../../fake-vrouter/datapath/stages/destination";
import { decide } from "../../fake-vrouter/datapath/stages/flow-setup";
import { TablesIndex } from "../../fake-vrouter/datapath/tables-index";
import type { VrouterTables } from "../../fake-vrouter/tables";
import { podFrame } from "./frames";
import { tablesFor, twoComputes } from "./world";

const NOW = 1_000;

/** compute-1 with `hops` VRFs 100.. chained by vrf-translate from VRF 1 for 10.77.0.0/16, ending in a discard. */
function translationChain(hops: number, loop = false): VrouterTables {
  const t = tablesFor(twoComputes(), "compute-1");
  const route = (nh: number) => ({ prefix: "10.77.0.0/16", nh, destVns: [], sgIds: [], tags: [] });
  for (let i = 0; i < hops; i++) {
    const vrf = 100 + i;
    t.nextHops.set(900 + i, { id: 900 + i, type: "vrf-translate", vrf: loop && i === hops - 1 ? 100 : vrf });
    t.vrfs.set(vrf, { id: vrf, name: `chain-${i}`, vnName: `chain-${i}`, routes: [] });
  }
  t.vrfs.get(1)!.routes.push(route(900));
  for (let i = 0; i < hops; i++) t.vrfs.get(100 + i)!.routes.push(route(i + 1 < hops ? 901 + i : 0));
  if (loop) t.vrfs.get(100 + hops - 1)!.routes[0] = route(900 + hops - 1);
  return t;
}

const ctx = () => callContext("compute-1", { tracing: true, now: NOW, frameBytes: 0 });

describe("walkRoute: the one route walk", () => {
  it(`follows up to ${MAX_VRF_TRANSLATIONS} translations, tracing every lookup`, () => {
    const c = ctx();
    const hit = walkRoute(c, new TablesIndex(translationChain(MAX_VRF_TRANSLATIONS)), 1, "10.77.0.1", true);
    expect(hit instanceof Drop ? hit : hit.nh.type).toBe("discard");
    expect(c.trace.map((s) => s.vrf)).toEqual([1, 100, 101, 102, 103]);
  });

  it("a longer chain or a cycle is a translation loop (INVALID_NH)", () => {
    for (const t of [translationChain(MAX_VRF_TRANSLATIONS + 1), translationChain(2, true)]) {
      const hit = walkRoute(ctx(), new TablesIndex(t), 1, "10.77.0.1", true);
      expect(hit).toMatchObject({ reason: "INVALID_NH", stage: "nexthop" });
    }
  });

  it("receive and explain agree on a loop, and no flow is written for it", () => {
    const w = twoComputes();
    const dp = new VrouterDatapath(translationChain(2, true));
    const res = dp.receive(3, podFrame(w, "a", "10.77.0.1", udp(1000, 53)), NOW);
    expect(res.drop).toBe("INVALID_NH");
    expect(dp.flows()).toEqual([]);
    const e = dp.explain(
      { vif: 3 },
      { proto: 17, sip: "10.1.0.3", sport: 1000, dip: "10.77.0.1", dport: 53 },
    );
    expect(e).toMatchObject({ verdict: "drop", reason: "INVALID_NH" });
  });
});

describe("flow setup stages are pure", () => {
  it("decide gives the same decision twice and writes nothing but its context's trace", () => {
    const tables = tablesFor(twoComputes(), "compute-1");
    const idx = new TablesIndex(tables);
    const vif = tables.vifs.get(3)!;
    const setup = {
      ingress: { kind: "vif" as const, vif },
      tuple: { proto: 6, sip: "10.1.0.3", sport: 40000, dip: "10.1.0.4", dport: 80 },
      keyText: "k",
    };
    const [c1, c2] = [ctx(), ctx()];
    expect(decide(c1, idx, setup)).toEqual(decide(c2, idx, setup));
    expect(c1.trace).toEqual(c2.trace);
    expect(c1.trace.map((s) => s.stage)).toEqual(["route"]);
  });
});

describe("no call leaves state on the engine", () => {
  it("a traced packet after an untraced one, a dry run and an install is traced in full", () => {
    const w = twoComputes();
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
    const first = dp.receive(3, podFrame(w, "a", "10.1.0.4", tcp({ sport: 40000, dport: 80 })), NOW, {
      trace: false,
    });
    expect(first.trace).toEqual([]);
    dp.explain({ vif: 3 }, { proto: 6, sip: "10.1.0.3", sport: 40001, dip: "10.1.0.4", dport: 80 });
    dp.install(tablesFor(w, "compute-1"));
    const next = dp.receive(3, podFrame(w, "a", "10.1.0.4", tcp({ sport: 40000, dport: 80 })), NOW + 1);
    expect(next.trace.map((s) => s.stage)).toEqual(["ingress", "flow", "deliver"]);
    const fwd = dp.flows().find((f) => f.direction === "forward");
    expect(fwd?.bytes).toBe(2 * podFrame(w, "a", "10.1.0.4", tcp({ sport: 40000, dport: 80 })).length);
  });
});
