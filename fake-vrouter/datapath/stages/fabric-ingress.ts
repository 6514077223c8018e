/**
 * From the fabric (PIPELINE.md "From the fabric", fabric vif): ARP for the compute's fabric IP is answered
 * with the fabric port's MAC (the engine learns senders' MACs first); `decap` MPLSoUDP / MPLSoGRE (bottom
 * label) / VXLAN addressed to the compute; `label` → NH (`INVALID_LABEL`, `INVALID_NH`, `INVALID_VNID`): an
 * encap NH (or an ECMP member of a composite) goes to the flow stage as label ingress, a VNI naming a VRF or a
 * `vrf-translate` NH routes there locally. Anything else unencapsulated is routed in the fabric VRF.
 *
 * Example: MPLSoUDP from 192.168.0.12, label 17 → `{ ingress: { kind: "label", label: 17, nh }, ip: inner }`
 */
import { MPLS_UDP_PORT, VXLAN_UDP_PORT, type Vif } from "../../tables";
import { type CallContext, type Drop, drop, type Frames, step, type ToL3 } from "../context";
import { flowHash } from "../flows";
import { tupleOf } from "../nat";
import {
  ARP_REPLY,
  ARP_REQUEST,
  decodeEthernet,
  decodeIpv4,
  decodeMplsStack,
  decodeVxlan,
  type EthernetFrame,
  ETHERTYPE_ARP,
  ETHERTYPE_MPLS,
  encodeArp,
  type Ipv4Packet,
  wrapEthernet,
} from "../packet";
import type { TablesIndex } from "../tables-index";
import { toHostStack } from "./output";

export function fromFabric(
  ctx: CallContext,
  idx: TablesIndex,
  fabric: Vif,
  payload: EthernetFrame["payload"],
): ToL3 | Frames | Drop {
  const myIp = idx.tables.compute.fabricIp;
  if (payload.kind === "arp") {
    if (payload.op === ARP_REQUEST && payload.targetIp === myIp) {
      const reply = encodeArp({
        kind: "arp",
        op: ARP_REPLY,
        senderMac: fabric.mac,
        senderIp: myIp,
        targetMac: payload.senderMac,
        targetIp: payload.senderIp,
      });
      if (ctx.tracing)
        ctx.trace.push(step(ctx, "arp", `${myIp} is-at ${fabric.mac} (fabric port)`, { action: "forward" }));
      return [
        { vif: fabric.index, frame: wrapEthernet(payload.senderMac, fabric.mac, ETHERTYPE_ARP, reply) },
      ];
    }
    if (ctx.tracing) ctx.trace.push(step(ctx, "arp", `ARP on the fabric for ${payload.targetIp} ignored`));
    return [];
  }
  if (payload.kind !== "ipv4") return drop("INVALID_PROTOCOL", "ingress", "only IPv4 and ARP on the fabric");
  const outer = payload;
  if (outer.dst === myIp) {
    const l4 = outer.payload;
    if (l4.kind === "udp" && l4.dport === MPLS_UDP_PORT)
      return fromMpls(ctx, idx, outer, l4.data, "MPLSoUDP");
    if (l4.kind === "gre" && l4.protocolType === ETHERTYPE_MPLS)
      return fromMpls(ctx, idx, outer, l4.data, "MPLSoGRE");
    if (l4.kind === "udp" && l4.dport === VXLAN_UDP_PORT) return fromVxlan(ctx, idx, outer, l4.data);
    if (l4.kind === "gre")
      return drop("INVALID_PROTOCOL", "decap", `GRE protocol 0x${l4.protocolType.toString(16)}`);
  }
  const fabricVrf = idx.tables.compute.fabricVrf;
  if (ctx.tracing)
    ctx.trace.push(
      step(ctx, "decap", `unencapsulated ${outer.src} → ${outer.dst}: routed in the fabric VRF`, {
        vrf: fabricVrf,
      }),
    );
  if (outer.ttl <= 1 && outer.dst !== myIp)
    return drop("TTL_EXCEEDED", "ttl", `TTL ${outer.ttl} would expire`);
  return { ingress: { kind: "fabric", vrf: fabricVrf }, ip: outer };
}

function fromMpls(
  ctx: CallContext,
  idx: TablesIndex,
  outer: Ipv4Packet,
  data: Uint8Array,
  encap: string,
): ToL3 | Frames | Drop {
  const mpls = decodeMplsStack(data);
  if (!mpls.ok) return drop("INVALID_PACKET", "decap", mpls.error.message);
  const label = mpls.value.labels[mpls.value.labels.length - 1].label;
  const inner = decodeIpv4(mpls.value.payload);
  if (!inner.ok) return drop("INVALID_PACKET", "decap", `inner packet: ${inner.error.message}`);
  if (ctx.tracing)
    ctx.trace.push(step(ctx, "decap", `${encap} from ${outer.src}, label ${label}`, { label }));
  return byLabel(ctx, idx, label, inner.value, outer.src);
}

function fromVxlan(
  ctx: CallContext,
  idx: TablesIndex,
  outer: Ipv4Packet,
  data: Uint8Array,
): ToL3 | Frames | Drop {
  const vx = decodeVxlan(data);
  if (!vx.ok) return drop("INVALID_PACKET", "decap", vx.error.message);
  const inner = decodeEthernet(vx.value.inner);
  if (!inner.ok) return drop("INVALID_PACKET", "decap", `inner frame: ${inner.error.message}`);
  if (inner.value.payload.kind !== "ipv4")
    return drop("INVALID_PROTOCOL", "decap", "VXLAN inner frame is not IPv4");
  const vni = vx.value.vni;
  if (ctx.tracing) ctx.trace.push(step(ctx, "decap", `VXLAN from ${outer.src}, VNI ${vni}`, { label: vni }));
  if (!idx.tables.labels.has(vni)) {
    // An L3 VNI names a VRF (vxlan_network_identifier): route the inner packet there, locally only.
    const vrf = idx.vrfByVni(vni);
    if (vrf === undefined) return drop("INVALID_VNID", "label", `VNI ${vni} names no NH and no VRF`);
    if (ctx.tracing) ctx.trace.push(step(ctx, "label", `VNI ${vni} → VRF ${vrf}`, { vrf }));
    return { ingress: { kind: "fabric", vrf }, ip: inner.value.payload };
  }
  return byLabel(ctx, idx, vni, inner.value.payload, outer.src);
}

function byLabel(
  ctx: CallContext,
  idx: TablesIndex,
  label: number,
  inner: Ipv4Packet,
  from: string,
): ToL3 | Frames | Drop {
  const nhId = idx.tables.labels.get(label);
  if (nhId === undefined)
    return drop("INVALID_LABEL", "label", `label ${label} is not in the MPLS table`, { label });
  const nh = idx.nextHop(nhId);
  if (!nh) return drop("INVALID_NH", "label", `label ${label} → missing NH ${nhId}`, { label, nh: nhId });
  if (ctx.tracing)
    ctx.trace.push(step(ctx, "label", `label ${label} → NH ${nh.id} (${nh.type})`, { label, nh: nh.id }));
  switch (nh.type) {
    case "encap":
      return { ingress: { kind: "label", label, nh, from }, ip: inner };
    case "vrf-translate":
      return { ingress: { kind: "fabric", vrf: nh.vrf }, ip: inner };
    case "composite": {
      const tuple = tupleOf(inner);
      const member =
        nh.members[
          flowHash(`${tuple.proto}:${inner.src}:${tuple.sport}>${inner.dst}:${tuple.dport}`) %
            Math.max(1, nh.members.length)
        ];
      const mnh = member ? idx.nextHop(member.nh) : undefined;
      if (mnh?.type !== "encap")
        return drop("INVALID_NH", "ecmp", `composite NH ${nh.id} from the fabric has no local member`);
      if (ctx.tracing)
        ctx.trace.push(step(ctx, "ecmp", `member NH ${mnh.id} of composite ${nh.id}`, { nh: mnh.id }));
      return { ingress: { kind: "label", label, nh: mnh, from }, ip: inner };
    }
    case "receive":
      return toHostStack(ctx, idx, inner);
    case "discard":
      return drop("DISCARD", "label", `label ${label} → discard NH`);
    default:
      return drop(
        "INVALID_NH",
        "label",
        `label ${label} → ${nh.type} NH ${nh.id} cannot take fabric traffic`,
      );
  }
}
