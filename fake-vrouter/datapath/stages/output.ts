/**
 * Output (PIPELINE.md step 10): where a flow's (NATted) packet goes and the frame it leaves as. `nextHop`
 * walks the route in the flow's VRF (`walkRoute`, so routes changed by `install` apply to existing flows)
 * and resolves the terminal next-hop, the ECMP member the flow sticks to included; `receive` (the engine)
 * and `explain` (the dry run) share it. `emit` builds the frame: `deliver` (L2 rewritten to the vif's MAC),
 * `tunnel` (MPLSoUDP / MPLSoGRE / VXLAN, outer source port from the flow hash), `fabric` (unencapsulated
 * towards `via`), `host` (the receive NH).
 *
 * Example: `nextHop(ctx, idx, { kind: "vif", vif }, flow, "10.1.0.4", hash)` → `{ kind: "tunnel", nh, label: 17 }`
 */
import type { NextHop } from "../../tables";
import { VROUTER_MAC } from "../../tables";
import { type CallContext, Drop, drop, type Frames, type Ingress, step } from "../context";
import type { FlowEntry } from "../flows";
import { type Ipv4Packet, ipv4Frame, tunnelFrame } from "../packet";
import type { TablesIndex } from "../tables-index";
import { ecmpMember, walkRoute } from "./destination";

/** A fabric next-hop `via` meaning "the destination itself is on the fabric subnet". */
export const ON_LINK = "0.0.0.0";

export type Hop =
  /** `routed`: reached by routing (TTL decremented), not by a label naming the vif. */
  | { kind: "deliver"; vif: number; routed: boolean }
  | { kind: "tunnel"; nh: Extract<NextHop, { type: "tunnel" }>; label: number }
  | { kind: "fabric"; via: string }
  | { kind: "host" };

/**
 * A next hop (or a drop past the ECMP choice), and the ECMP member the flow now uses when it had none or
 * lost its own: the flow keeps it even when the packet then dies.
 */
export type Resolved = Hop & { ecmp?: FlowEntry["ecmp"] };

export function nextHop(
  ctx: CallContext,
  idx: TablesIndex,
  ingress: Ingress,
  flow: Pick<FlowEntry, "direction" | "vrf" | "ecmp">,
  dst: string,
  hash: () => number,
): Resolved | (Drop & { ecmp?: FlowEntry["ecmp"] }) {
  // A label names its vif: the forward packet is delivered without a route lookup.
  if (ingress.kind === "label" && flow.direction === "forward")
    return { kind: "deliver", vif: ingress.nh.vif, routed: false };
  const fromFabric = ingress.kind !== "vif";
  // a vrouter never sends fabric traffic back to the fabric; a router between the fabric and its tunnels
  // (the SDN gateway, `compute.transit`) does
  const noTransit = fromFabric && idx.tables.compute.transit !== true;
  const routed = ingress.kind !== "label";
  // Flow setup traced the forward lookup from a pod already.
  const hit = walkRoute(ctx, idx, flow.vrf, dst, flow.direction === "reverse" || fromFabric);
  if (hit instanceof Drop) return hit;
  const { route, nh } = hit;
  switch (nh.type) {
    case "discard":
      return drop("DISCARD", "nexthop", `route ${route.prefix} → discard NH ${nh.id}`, { ref: route.origin });
    case "receive":
      return { kind: "host" };
    case "encap":
      return { kind: "deliver", vif: nh.vif, routed };
    case "composite": {
      const pick = ecmpMember(nh, flow.ecmp, hash);
      if (!pick) return drop("INVALID_NH", "ecmp", `composite NH ${nh.id} has no members`);
      const { member, chosen } = pick;
      if (ctx.tracing)
        ctx.trace.push(
          step(
            ctx,
            "ecmp",
            chosen
              ? `member NH ${member.nh} label ${member.label} chosen for the flow`
              : `flow sticks to member NH ${member.nh} label ${member.label}`,
            { nh: member.nh, label: member.label },
          ),
        );
      const ecmp = chosen ? { composite: nh.id, nh: member.nh, label: member.label } : undefined;
      const mnh = idx.nextHop(member.nh);
      if (mnh?.type === "encap") return { kind: "deliver", vif: mnh.vif, routed, ecmp };
      if (noTransit)
        return Object.assign(
          drop("NOWHERE_TO_GO", "ecmp", "fabric traffic is not forwarded back to the fabric"),
          {
            ecmp,
          },
        );
      if (mnh?.type === "tunnel") return { kind: "tunnel", nh: mnh, label: member.label, ecmp };
      if (mnh?.type === "fabric") return { kind: "fabric", via: mnh.via, ecmp };
      return Object.assign(
        drop("INVALID_NH", "ecmp", `member NH ${member.nh} is ${mnh?.type ?? "missing"}`),
        { ecmp },
      );
    }
    case "tunnel":
      if (noTransit)
        return drop("NOWHERE_TO_GO", "route", "fabric traffic is not forwarded back to the fabric");
      if (route.label === undefined)
        return drop("INVALID_LABEL", "tunnel", `route ${route.prefix} has no label`);
      return { kind: "tunnel", nh, label: route.label };
    case "fabric":
      if (noTransit)
        return drop("NOWHERE_TO_GO", "route", "fabric traffic is not forwarded back to the fabric");
      return { kind: "fabric", via: nh.via };
  }
}

/** The frame `pkt` leaves as on `hop`; `macFor` resolves underlay neighbours. */
export function emit(
  ctx: CallContext,
  idx: TablesIndex,
  hop: Hop,
  pkt: Ipv4Packet,
  hash: number,
  macFor: (ip: string) => string,
): Frames | Drop {
  switch (hop.kind) {
    case "deliver":
      return deliver(ctx, idx, hop.vif, pkt, hop.routed);
    case "tunnel":
      return tunnel(ctx, idx, hop.nh, hop.label, pkt, hash, macFor);
    case "fabric":
      return fabricOut(ctx, idx, hop.via, pkt, macFor);
    case "host":
      return toHostStack(ctx, idx, pkt);
  }
}

function deliver(
  ctx: CallContext,
  idx: TablesIndex,
  vifIndex: number,
  pkt: Ipv4Packet,
  routed: boolean,
): Frames | Drop {
  const vif = idx.vif(vifIndex);
  if (!vif) return drop("INVALID_IF", "deliver", `NH names missing vif ${vifIndex}`);
  const out = routed ? { ...pkt, ttl: pkt.ttl - 1 } : pkt;
  if (ctx.tracing)
    ctx.trace.push(
      step(ctx, "deliver", `to vif ${vif.index} (${vif.name}) ${vif.mac}`, {
        action: "forward",
        vif: vif.index,
        ref: vif.vmi,
      }),
    );
  return [{ vif: vif.index, frame: ipv4Frame(vif.mac, VROUTER_MAC, out) }];
}

function tunnel(
  ctx: CallContext,
  idx: TablesIndex,
  nh: Extract<NextHop, { type: "tunnel" }>,
  label: number,
  pkt: Ipv4Packet,
  hash: number,
  macFor: (ip: string) => string,
): Frames | Drop {
  const fabric = idx.fabricVif;
  if (!fabric) return drop("INVALID_IF", "tunnel", "no fabric vif");
  const header = {
    dstMac: macFor(nh.dstIp),
    srcMac: fabric.mac,
    srcIp: nh.srcIp,
    dstIp: nh.dstIp,
    encap: nh.encap,
    label,
    sport: 49152 + (hash % 16384),
    innerDstMac: VROUTER_MAC,
    innerSrcMac: VROUTER_MAC,
  };
  if (ctx.tracing)
    ctx.trace.push(
      step(
        ctx,
        "tunnel",
        `${nh.encap} ${nh.srcIp} → ${nh.dstIp} ${nh.encap === "vxlan" ? "VNI" : "label"} ${label}`,
        { action: "forward", nh: nh.id, label, vif: fabric.index },
      ),
    );
  return [{ vif: fabric.index, frame: tunnelFrame(header, { ...pkt, ttl: pkt.ttl - 1 }) }];
}

function fabricOut(
  ctx: CallContext,
  idx: TablesIndex,
  via: string,
  pkt: Ipv4Packet,
  macFor: (ip: string) => string,
): Frames | Drop {
  const fabric = idx.fabricVif;
  if (!fabric) return drop("INVALID_IF", "fabric", "no fabric vif");
  // via 0.0.0.0: the destination is on the fabric subnet, so the frame goes to its own MAC
  const nextHop = via === ON_LINK ? pkt.dst : via;
  if (ctx.tracing)
    ctx.trace.push(
      step(
        ctx,
        "fabric",
        `unencapsulated out of the fabric towards ${nextHop}${via === ON_LINK ? " (on-link)" : ""}`,
        { action: "forward", vif: fabric.index },
      ),
    );
  return [{ vif: fabric.index, frame: ipv4Frame(macFor(nextHop), fabric.mac, { ...pkt, ttl: pkt.ttl - 1 }) }];
}

/** The compute host's stack (receive NH); consumed when no host vif is modelled. */
export function toHostStack(ctx: CallContext, idx: TablesIndex, pkt: Ipv4Packet): Frames {
  const host = idx.hostVif;
  if (ctx.tracing)
    ctx.trace.push(
      step(
        ctx,
        "host",
        `${pkt.dst}: to the compute host${host ? ` (vif ${host.index})` : " (not modelled: consumed)"}`,
      ),
    );
  if (!host) return [];
  return [{ vif: host.index, frame: ipv4Frame(host.mac, VROUTER_MAC, pkt) }];
}
