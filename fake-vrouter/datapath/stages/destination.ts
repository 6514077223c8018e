/**
 * Where a packet goes in a VRF: `walkRoute`, the one route walk of the engine — longest-prefix match,
 * `vrf-translate` next-hops followed into their VRF — used by flow setup, by output for every packet and by
 * the dry run. At most `MAX_VRF_TRANSLATIONS` translations per walk; a chain that needs more is a translation
 * loop (`INVALID_NH`), however it is built. ECMP member choice (`ecmpMember`) is shared the same way.
 *
 * Flow setup, stage 2 (PIPELINE.md step 8, `route`/`ecmp`): `destination` resolves the (source-NATted)
 * destination to a local vif or a remote end (tunnel / fabric) and picks the flow's ECMP member.
 *
 * Example: `walkRoute(ctx, idx, 1, "10.2.0.9", true)` → `{ vrf: 2, route, nh }` after a translation into VRF 2
 */
import type { NextHop, Route } from "../../tables";
import { type CallContext, Drop, drop, routeStep, step } from "../context";
import { type FlowEntry, flowHash } from "../flows";
import type { TablesIndex } from "../tables-index";
import type { DestinationSide, FlowSetup, SourceSide } from "./flow-setup";

/** Translations one walk may follow; one more is a loop. */
export const MAX_VRF_TRANSLATIONS = 4;

export type TerminalNextHop = Exclude<NextHop, { type: "vrf-translate" }>;
export type Composite = Extract<NextHop, { type: "composite" }>;
export type EcmpMember = Composite["members"][number];

/** The route that decides, the VRF it is in and its next-hop (never a translation). */
export interface RouteHit {
  vrf: number;
  route: Route;
  nh: TerminalNextHop;
}

/**
 * LPM for `dst` in `vrf`, following VRF translations. Each lookup is traced (when tracing) from the first,
 * or from the second when `traceFirst` is false (output of a flow whose setup already traced that lookup).
 */
export function walkRoute(
  ctx: CallContext,
  idx: TablesIndex,
  vrf: number,
  dst: string,
  traceFirst: boolean,
): RouteHit | Drop {
  for (let depth = 0; depth <= MAX_VRF_TRANSLATIONS; depth++) {
    const m = idx.lookup(vrf, dst);
    if (!m)
      return drop(
        "NOWHERE_TO_GO",
        "route",
        `no route to ${dst} in VRF ${vrf} (${idx.tables.vrfs.get(vrf)?.name ?? "unknown"})`,
      );
    if (ctx.tracing && (traceFirst || depth > 0)) ctx.trace.push(routeStep(ctx, vrf, m.route, dst));
    const nh = idx.nextHop(m.route.nh);
    if (!nh) return drop("INVALID_NH", "nexthop", `route ${m.route.prefix} → missing NH ${m.route.nh}`);
    if (nh.type !== "vrf-translate") return { vrf, route: m.route, nh };
    vrf = nh.vrf;
  }
  return drop(
    "INVALID_NH",
    "nexthop",
    `VRF translation loop (more than ${MAX_VRF_TRANSLATIONS} translations)`,
  );
}

/**
 * The flow's member of a composite: the one it has while that is still a member (stickiness), else the
 * member its hash picks (`chosen` true). `hash` is called only when needed.
 */
export function ecmpMember(
  nh: Composite,
  sticky: FlowEntry["ecmp"] | undefined,
  hash: () => number,
): { member: EcmpMember; chosen: boolean } | undefined {
  if (sticky?.composite === nh.id) {
    const kept = nh.members.find((x) => x.nh === sticky.nh && x.label === sticky.label);
    if (kept) return { member: kept, chosen: false };
  }
  const member = nh.members[hash() % Math.max(1, nh.members.length)];
  return member ? { member, chosen: true } : undefined;
}

export function destination(
  ctx: CallContext,
  idx: TablesIndex,
  setup: FlowSetup,
  src: SourceSide,
): DestinationSide | Drop {
  const { ingress } = setup;
  if (ingress.kind === "label") {
    const vif = idx.vif(ingress.nh.vif);
    if (!vif) return drop("INVALID_NH", "label", `NH ${ingress.nh.id} names missing vif ${ingress.nh.vif}`);
    if (!ingress.nh.policy && ctx.tracing)
      ctx.trace.push(
        step(ctx, "label", `no-policy NH ${ingress.nh.id}: destination policy skipped`, {
          nh: ingress.nh.id,
        }),
      );
    return { vif };
  }
  const dip = src.nat.dip ?? setup.tuple.dip;
  const hit = walkRoute(ctx, idx, src.vrf, dip, true);
  if (hit instanceof Drop) return hit;
  const { route, nh } = hit;
  if (nh.type === "discard")
    return drop("DISCARD", "nexthop", `route ${route.prefix} → discard`, { ref: route.origin });
  // The compute itself (its fabric IP, a gateway reached through NAT): no flow, straight to the host.
  if (nh.type === "receive")
    return drop("PULL", "receive", `${dip} is a receive route: to the host`, { ref: route.origin });
  let vif: DestinationSide["vif"];
  let remoteVia: DestinationSide["remoteVia"];
  let ecmp: DestinationSide["ecmp"];
  if (nh.type === "encap") vif = idx.vif(nh.vif);
  else if (nh.type === "composite") {
    // Revalidation keeps a flow on its member while that member exists (stickiness).
    const pick = ecmpMember(nh, setup.sticky, () => flowHash(setup.keyOf?.() ?? setup.keyText));
    if (!pick) return drop("INVALID_NH", "ecmp", `composite NH ${nh.id} has no members`);
    const { member } = pick;
    ecmp = { composite: nh.id, nh: member.nh, label: member.label };
    if (ctx.tracing)
      ctx.trace.push(
        step(
          ctx,
          "ecmp",
          `member ${nh.members.indexOf(member) + 1}/${nh.members.length}: NH ${member.nh} label ${member.label}`,
          { nh: member.nh, label: member.label },
        ),
      );
    const mnh = idx.nextHop(member.nh);
    if (mnh?.type === "encap") vif = idx.vif(mnh.vif);
    else remoteVia = mnh?.type === "fabric" ? "fabric" : "tunnel";
  } else remoteVia = nh.type;
  if (ingress.kind === "fabric" && !vif && idx.tables.compute.transit !== true)
    return drop(
      "NOWHERE_TO_GO",
      "route",
      `${dip} is not local: fabric traffic is not forwarded back to the fabric`,
    );
  return { vif, route, remoteVia, ecmp };
}
