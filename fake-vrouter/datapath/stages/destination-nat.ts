/**
 * Flow setup, stage 3 (PIPELINE.md step 8, `floating-ip` DNAT): a packet whose destination is a floating IP
 * (ingress/both) of the local vif it reached is DNATed to the vif's fixed IP — port-mapped when the FIP has
 * `portMappings`, and dropped (`FLOW_ACTION_DROP`, a DROP flow) when no mapping covers the port — and
 * forwarded in the vif's VRF. With the NAT settled, this stage fixes the rest of the flow pair (the VRFs,
 * the reply's next-hop) and the two ends policy judges.
 *
 * Example: fabric client → FIP 10.9.0.5:80 mapped to 8080 on vif 4 (10.1.0.4) →
 *          `{ nat: { dip: "10.1.0.4", dport: 8080 }, vrf: 1, reverseVrf: <the FIP's VRF>, ... }`
 */
import type { FloatingIpBinding, Vif } from "../../tables";
import { type CallContext, type Drop, drop, step } from "../context";
import type { PolicyEnd } from "../policy";
import { FABRIC_KEY_NH, type TablesIndex } from "../tables-index";
import type { DestinationSide, FlowEnds, FlowSetup, SourceSide } from "./flow-setup";
import { portWindow } from "../port-window";

const INGRESS: FloatingIpBinding["direction"][] = ["ingress", "both"];

export function destinationNat(
  ctx: CallContext,
  idx: TablesIndex,
  setup: FlowSetup,
  src: SourceSide,
  dst: DestinationSide,
): FlowEnds | Drop {
  // The reply is routed where the source lives: its vif's VRF, or the VRF the packet came in on.
  const reverseVrf = src.vif ? src.vif.vrf : src.vrf;
  const dip = src.nat.dip ?? setup.tuple.dip;
  if (dst.vif) return toLocalVif(ctx, idx, setup, src, dst.vif, reverseVrf);
  const route = dst.route!;
  return {
    nat: src.nat,
    vrf: src.vrf,
    reverseVrf,
    // The reply comes back labelled for the source vif (tunnel) or unencapsulated (fabric NH, fabric SNAT);
    // a transit router's flow from the fabric (the SDN gateway) sees it come back from the fabric too.
    reverseNh:
      dst.remoteVia === "fabric" || src.natPool || !src.vif ? FABRIC_KEY_NH : idx.vifNh(src.vif.index),
    src: src.end,
    dst: { ip: dip, vns: route.destVns, sgIds: route.sgIds, tags: route.tags },
  };
}

function toLocalVif(
  ctx: CallContext,
  idx: TablesIndex,
  setup: FlowSetup,
  src: SourceSide,
  vif: Vif,
  reverseVrf: number,
): FlowEnds | Drop {
  const { ingress, tuple } = setup;
  const dip = src.nat.dip ?? tuple.dip;
  let nat = src.nat;
  let vrf = src.vrf;
  let fip: FloatingIpBinding | undefined;
  for (const f of vif.floatingIps)
    if (f.address === dip && INGRESS.includes(f.direction)) {
      fip = f;
      break;
    }
  if (fip) {
    let dport: number | undefined;
    if (fip.portMappings) {
      const w = portWindow();
      const map = fip.portMappings.find(
        (p) =>
          p.protocol === tuple.proto && (w ? w.equals(tuple.dport, p.srcPort) : p.srcPort === tuple.dport),
      );
      if (!map) {
        return drop(
          "FLOW_ACTION_DROP",
          "floating-ip",
          `floating IP ${fip.address} has port mappings, none for ${tuple.proto}/${tuple.dport}`,
          { ref: fip.origin, installFlow: true },
        );
      }
      dport = map.dstPort;
    }
    nat = dport === undefined ? { ...nat, dip: fip.fixedIp } : { ...nat, dip: fip.fixedIp, dport };
    vrf = vif.vrf;
    if (ctx.tracing)
      ctx.trace.push(
        step(
          ctx,
          "floating-ip",
          `DNAT floating IP ${fip.address}${nat.dport !== undefined ? `:${tuple.dport}` : ""} → ${fip.fixedIp}${nat.dport !== undefined ? `:${nat.dport}` : ""} (vif ${vif.index})`,
          { action: "nat", ref: fip.origin },
        ),
      );
  }
  // A floating-IP flow's destination is the floating IP's VN for network policy, on both sides: the
  // sender's VN ACL sees the VN it reached (the service network for a VIP), and so does the out-policy,
  // which is that VN's ACL. SGs and tags stay the member's own.
  const dstVn = fip ? fip.vnName : vif.vnName;
  const dst: PolicyEnd = {
    ip: nat.dip ?? dip,
    vns: dstVn ? [dstVn] : [],
    sgIds: vif.securityGroupIds,
    tags: vif.tags,
    vif,
  };
  let srcEnd = src.end;
  if (ingress.kind !== "vif") {
    // The reply of a floating-IP flow is un-NATted and routed in the floating IP's VRF (the VN the
    // sender reached the FIP through), not in the member's own VRF, which may not know the sender.
    reverseVrf = fip ? fip.vrf : vif.vrf;
    const srcRoute = idx.lookup(reverseVrf, tuple.sip)?.route;
    if (srcRoute)
      srcEnd = { ip: tuple.sip, vns: srcRoute.destVns, sgIds: srcRoute.sgIds, tags: srcRoute.tags };
  }
  return { nat, vrf, reverseVrf, reverseNh: idx.vifNh(vif.index), src: srcEnd, dst, dstVn };
}
