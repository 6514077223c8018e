/**
 * Flow setup, stage 1 (PIPELINE.md step 8, first part): the source end of a new flow and the NAT that
 * changes where it is routed, tried in the agent's order — the first that applies wins:
 *   `link-local`  (169.254.x.y, port) of a link-local service → the fabric service, source → fabric IP + pool port;
 *   `floating-ip` SNAT: an egress FIP whose VRF has a longer match for the destination than the vif's VRF;
 *   `fabric-snat`: an overlay vif with `fabricSnat` whose packet would leave onto the underlay.
 * Only pod traffic is source-NATted; fabric and label ingress keep their source.
 *
 * Example: pod 10.1.0.3 → 169.254.169.254:80 with a metadata service →
 *          `{ nat: { sip: fabricIp, dip, dport }, natPool: "tcp", vrf: fabricVrf, ... }`
 */
import type { FloatingIpBinding, LinkLocalService, Vif } from "../../tables";
import { type CallContext, step } from "../context";
import type { FlowTuple } from "../nat";
import { IPPROTO_TCP, IPPROTO_UDP } from "../packet";
import { endOfVif } from "../policy";
import type { RouteMatch, TablesIndex } from "../tables-index";
import type { FlowSetup, SourceSide } from "./flow-setup";
import { portWindow } from "../port-window";

const EGRESS: FloatingIpBinding["direction"][] = ["egress", "both"];

export function sourceNat(ctx: CallContext, idx: TablesIndex, setup: FlowSetup): SourceSide {
  const { ingress, tuple } = setup;
  if (ingress.kind !== "vif") {
    // From the fabric: routed in the ingress VRF (a label's flow needs none: the label names the vif).
    const vrf = ingress.kind === "fabric" ? ingress.vrf : 0;
    return { end: { ip: tuple.sip, vns: [], sgIds: [], tags: [] }, nat: {}, vrf };
  }
  const vif = ingress.vif;
  const service = linkLocalService(idx, tuple);
  if (service) return linkLocal(ctx, idx, tuple, vif, service);
  const own = idx.lookup(vif.vrf, tuple.dip);
  return (
    floatingIpSnat(ctx, idx, tuple, vif, own) ??
    fabricSnat(ctx, idx, tuple, vif, own) ?? {
      end: endOfVif(vif, tuple.sip),
      vif,
      vn: vif.vnName,
      nat: {},
      vrf: vif.vrf,
    }
  );
}

/** The link-local service a TCP/UDP (address, port) names; such traffic skips the receive route. */
export function linkLocalService(idx: TablesIndex, t: FlowTuple): LinkLocalService | undefined {
  if (t.proto !== IPPROTO_TCP && t.proto !== IPPROTO_UDP) return undefined;
  // (most packets are for no link-local address: no service's port is compared for them)
  if (!idx.linkLocalIps.has(t.dip)) return undefined;
  const w = portWindow();
  return idx.tables.linkLocal.find(
    (s) => s.ip === t.dip && (w ? w.equals(t.dport, s.port) : s.port === t.dport),
  );
}

function linkLocal(
  ctx: CallContext,
  idx: TablesIndex,
  tuple: FlowTuple,
  vif: Vif,
  ll: LinkLocalService,
): SourceSide {
  const { fabricVrf, fabricIp } = idx.tables.compute;
  if (ctx.tracing)
    ctx.trace.push(
      step(
        ctx,
        "link-local",
        `link-local service ${ll.name}: ${tuple.dip}:${tuple.dport} → ${ll.fabricIp}:${ll.fabricPort}, source → ${fabricIp}`,
        { action: "nat", vrf: fabricVrf },
      ),
    );
  return {
    end: endOfVif(vif, tuple.sip),
    vif,
    vn: vif.vnName,
    nat: { sip: fabricIp, dip: ll.fabricIp, dport: ll.fabricPort },
    natPool: tuple.proto === IPPROTO_TCP ? "tcp" : "udp",
    vrf: fabricVrf,
  };
}

/** SNAT to the egress FIP whose VN has the longest route to the destination, if longer than the vif's own. */
function floatingIpSnat(
  ctx: CallContext,
  idx: TablesIndex,
  tuple: FlowTuple,
  vif: Vif,
  own: RouteMatch | undefined,
): SourceSide | undefined {
  let best: { fip: FloatingIpBinding; length: number } | undefined;
  for (const fip of vif.floatingIps) {
    if (!EGRESS.includes(fip.direction)) continue;
    const m = idx.lookup(fip.vrf, tuple.dip);
    if (m && m.length > (best?.length ?? own?.length ?? -1)) best = { fip, length: m.length };
  }
  if (!best) return undefined;
  const vrf = best.fip.vrf;
  if (ctx.tracing)
    ctx.trace.push(
      step(
        ctx,
        "floating-ip",
        `SNAT ${tuple.sip} → floating IP ${best.fip.address}: its VN has the longer route (/${best.length} vs ${own ? `/${own.length}` : "none"}); forwarding continues in VRF ${vrf}`,
        { action: "nat", vrf, ref: best.fip.origin },
      ),
    );
  return { end: endOfVif(vif, tuple.sip), vif, vn: best.fip.vnName, nat: { sip: best.fip.address }, vrf };
}

/** An overlay address leaving onto the underlay would get no answer: the fabric has no route back to it. */
function fabricSnat(
  ctx: CallContext,
  idx: TablesIndex,
  tuple: FlowTuple,
  vif: Vif,
  own: RouteMatch | undefined,
): SourceSide | undefined {
  const { fabricVrf, fabricIp } = idx.tables.compute;
  if (!vif.fabricSnat || vif.vrf === fabricVrf) return undefined;
  const leaves = own ? idx.nextHop(own.route.nh)?.type === "fabric" : idx.lookup(fabricVrf, tuple.dip);
  if (!leaves) return undefined;
  const natPool = tuple.proto === IPPROTO_TCP ? "tcp" : "udp";
  if (ctx.tracing)
    ctx.trace.push(
      step(
        ctx,
        "fabric-snat",
        `${own ? "the pod's route leaves the overlay to the fabric" : "no route in the pod's VRF"}; fabric SNAT to ${fabricIp} with a ${natPool} pool port`,
        { action: "nat", vrf: fabricVrf },
      ),
    );
  return {
    end: endOfVif(vif, tuple.sip),
    vif,
    vn: vif.vnName,
    nat: { sip: fabricIp },
    natPool,
    vrf: fabricVrf,
  };
}
