/**
 * The dry run (PIPELINE.md "Dry run"): what the first packet of a new flow would meet on one compute, decided
 * by the same stages as `receive` — flow setup (`decide`) and output's `nextHop` — without bytes, flows or
 * counters. Returns the next hop of the (NATted) packet or the drop, and checks that the reply can be routed
 * back (`NOWHERE_TO_GO` otherwise). Existing flows are ignored: it answers "would a new connection work".
 * `test/datapath/conformance.test.ts` holds it to the packet verdicts.
 *
 * Example: `explain(idx, { vif: 3 }, { proto: 6, sip: "10.1.0.3", sport: 40000, dip: "10.1.0.4", dport: 80 })`
 *          → `{ verdict: "forward", hop: { kind: "deliver", vif: 4 }, packet }`
 */
import type { DropReason } from "../tables";
import { FABRIC_SNAT_POOLS } from "../tables";
import { callContext, Drop, type Ingress, keyNhOf } from "./context";
import { flowHash, flowKeyText } from "./flows";
import type { FlowTuple } from "./nat";
import { IPPROTO_ICMP } from "./packet";
import { decide } from "./stages/flow-setup";
import { nextHop } from "./stages/output";
import { receiveRouteOf } from "./stages/pod-ingress";
import type { TablesIndex } from "./tables-index";
import type { TraceStep } from "./trace";
import { portWindow } from "./port-window";

/** The dry-run result of `explain`: where the first packet goes next, or why it dies. */
export type Explanation =
  | {
      verdict: "forward";
      hop:
        | { kind: "deliver"; vif: number }
        | { kind: "tunnel"; dstIp: string; label: number }
        | { kind: "fabric"; via: string }
        /** Taken by the compute host (receive route). */
        | { kind: "host" }
        /** An ICMP echo to a receive address, answered by the vrouter itself. */
        | { kind: "vrouter" };
      /** The packet as it leaves (after NAT). */
      packet: FlowTuple;
    }
  | { verdict: "drop"; reason: DropReason; step: TraceStep };

export type ExplainFrom = { vif: number } | { label: number } | { fabric: true };

/**
 * `describe` false: only the outcome is read (a matrix's cells) — a policy denial is not described (its step
 * says so), every other drop is as always.
 */
export function explain(
  idx: TablesIndex,
  from: ExplainFrom,
  packet: FlowTuple,
  describe = true,
): Explanation {
  const compute = idx.tables.compute.name;
  let ingress: Ingress;
  if ("vif" in from) {
    const vif = idx.vif(from.vif);
    if (vif?.type !== "virtual")
      return explained(compute, {
        reason: "INVALID_IF",
        stage: "ingress",
        detail: `no virtual vif ${from.vif}`,
      });
    // a service instance's interface forwards others' packets (as `fromPod`)
    if (!vif.serviceInterface && vif.ip !== packet.sip)
      return explained(compute, {
        reason: "INVALID_SOURCE",
        stage: "rpf",
        detail: `source ${packet.sip} is not vif ${from.vif}'s`,
      });
    // Gateway / DNS / compute addresses: the vrouter answers pings itself, the rest goes to the host.
    if (receiveRouteOf(idx, vif, packet))
      return {
        verdict: "forward",
        hop: { kind: packet.proto === IPPROTO_ICMP ? "vrouter" : "host" },
        packet,
      };
    ingress = { kind: "vif", vif };
  } else if ("label" in from) {
    const nhId = idx.tables.labels.get(from.label);
    const nh = nhId === undefined ? undefined : idx.nextHop(nhId);
    if (nh?.type !== "encap")
      return explained(compute, {
        reason: "INVALID_LABEL",
        stage: "label",
        detail: `label ${from.label} names no interface NH`,
      });
    ingress = { kind: "label", label: from.label, nh };
  } else ingress = { kind: "fabric", vrf: idx.tables.compute.fabricVrf };

  // nothing reads the steps of what the dry run allows: only its outcome leaves this function
  const ctx = callContext(compute, {
    tracing: false,
    now: 0,
    frameBytes: 0,
    verdictOnly: true,
    outcomeOnly: !describe,
  });
  const { proto, sip, sport, dip, dport } = packet;
  // the flow key's text is for the flow hash, which only an ECMP choice asks for
  let keyText: string | undefined;
  const keyOf = () => (keyText ??= flowKeyText({ proto, sport, dport, nh: keyNhOf(idx, ingress), sip, dip }));
  const d = decide(ctx, idx, { ingress, tuple: packet, keyText: "", keyOf });
  if (d instanceof Drop) {
    if (d.reason === "PULL") return { verdict: "forward", hop: { kind: "host" }, packet };
    return explained(compute, d);
  }
  const nat = d.nat;
  // from here on the destination port is the mapping's, whatever port was asked about (port-window.ts)
  const w = portWindow();
  if (w && nat.dport !== undefined) w.symbolic = false;
  const out: FlowTuple = {
    proto: packet.proto,
    sip: nat.sip ?? packet.sip,
    sport: (d.natPool ? FABRIC_SNAT_POOLS[d.natPool][0] : nat.sport) ?? packet.sport,
    dip: nat.dip ?? packet.dip,
    dport: nat.dport ?? packet.dport,
  };
  const hop = nextHop(ctx, idx, ingress, { direction: "forward", vrf: d.vrf, ecmp: d.ecmp }, out.dip, () =>
    flowHash(keyOf()),
  );
  if (hop instanceof Drop) return explained(compute, hop);
  // The reply is routed in the reverse entry's VRF unless it comes back labelled for the source vif.
  if (ingress.kind !== "vif" || hop.kind === "deliver") {
    const back = idx.lookup(d.reverseVrf, packet.sip);
    const nh = back && idx.nextHop(back.route.nh);
    if (!nh || nh.type === "discard")
      return explained(compute, {
        reason: "NOWHERE_TO_GO",
        stage: "route",
        detail: `no route back to ${packet.sip} in VRF ${d.reverseVrf}`,
      });
  }
  switch (hop.kind) {
    case "deliver":
      return { verdict: "forward", hop: { kind: "deliver", vif: hop.vif }, packet: out };
    case "tunnel":
      return {
        verdict: "forward",
        hop: { kind: "tunnel", dstIp: hop.nh.dstIp, label: hop.label },
        packet: out,
      };
    case "fabric":
      return { verdict: "forward", hop: { kind: "fabric", via: hop.via }, packet: out };
    case "host":
      return { verdict: "forward", hop: { kind: "host" }, packet: out };
  }
}

function explained(compute: string, d: Pick<Drop, "reason" | "stage" | "detail">): Explanation {
  return {
    verdict: "drop",
    reason: d.reason,
    step: { compute, stage: d.stage, detail: d.detail, action: "drop", reason: d.reason },
  };
}
