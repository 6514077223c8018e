/**
 * From a pod (PIPELINE.md steps 1–6, virtual vif): `proxyArp` answers every ARP request with the vrouter MAC
 * (not the pod's own address: duplicate-address probes); `fromPod` checks the frame — IPv4 only
 * (`INVALID_PROTOCOL`), addressed to the vrouter MAC (`NOWHERE_TO_GO`: no L2 bridging), `rpf`
 * (`INVALID_SOURCE`), `ttl` (`TTL_EXCEEDED`) — and hands the packet to L3. `receiveRoute` is step 5, run by the
 * flow stage on a miss: gateway/DNS addresses are answered by the vrouter (ping) or passed to the agent
 * (DNS) or host, except link-local service (ip, port) pairs, which are NATted.
 *
 * Example: `fromPod(vif, VROUTER_MAC, ip)` → `ip` (or a `Drop`)
 */
import type { Route, Vif } from "../../tables";
import { VROUTER_MAC } from "../../tables";
import { BROADCAST_MAC } from "../addr";
import { type CallContext, type Drop, drop, type Frames, step } from "../context";
import type { FlowTuple } from "../nat";
import {
  ARP_REPLY,
  ARP_REQUEST,
  type ArpPacket,
  type EthernetFrame,
  ETHERTYPE_ARP,
  encodeArp,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  type Ipv4Packet,
  icmpEcho,
  ipv4,
  ipv4Frame,
  wrapEthernet,
} from "../packet";
import type { TablesIndex } from "../tables-index";
import { linkLocalService } from "./source-nat";

/** Proxy ARP; the frames out are the answer (none when the request is not answered). */
export function proxyArp(ctx: CallContext, vif: Vif, arp: ArpPacket): Frames {
  if (arp.op !== ARP_REQUEST) {
    if (ctx.tracing) ctx.trace.push(step(ctx, "arp", `ARP op ${arp.op} from the pod absorbed`));
    return [];
  }
  if (arp.targetIp === vif.ip || arp.targetIp === arp.senderIp) {
    if (ctx.tracing)
      ctx.trace.push(
        step(ctx, "arp", `ARP for the pod's own address ${arp.targetIp} (address probe): not answered`),
      );
    return [];
  }
  const reply = encodeArp({
    kind: "arp",
    op: ARP_REPLY,
    senderMac: VROUTER_MAC,
    senderIp: arp.targetIp,
    targetMac: arp.senderMac,
    targetIp: arp.senderIp,
  });
  if (ctx.tracing)
    ctx.trace.push(
      step(ctx, "arp", `proxy ARP: ${arp.targetIp} is-at ${VROUTER_MAC}`, {
        action: "forward",
        vif: vif.index,
      }),
    );
  return [{ vif: vif.index, frame: wrapEthernet(arp.senderMac, VROUTER_MAC, ETHERTYPE_ARP, reply) }];
}

/** A non-ARP frame from a pod, checked up to the flow stage: the IPv4 packet to go on with, or the drop. */
export function fromPod(vif: Vif, dstMac: string, payload: EthernetFrame["payload"]): Ipv4Packet | Drop {
  if (payload.kind !== "ipv4")
    return drop("INVALID_PROTOCOL", "ingress", "only IPv4 and ARP are forwarded (IPv6 not implemented)");
  if (dstMac !== VROUTER_MAC && dstMac !== BROADCAST_MAC) {
    return drop(
      "NOWHERE_TO_GO",
      "ingress",
      `frame to ${dstMac}: L2 bridging is not modelled (pods reach the vrouter MAC through proxy ARP)`,
    );
  }
  const ip = payload;
  // a service instance's interface forwards the chain's packets: their sources are the clients'
  if (!vif.serviceInterface && (!vif.ip || ip.src !== vif.ip)) {
    return drop(
      "INVALID_SOURCE",
      "rpf",
      `source ${ip.src} is not the address of vif ${vif.index} (${vif.ip ?? "none"})`,
      {
        ref: vif.vmi,
      },
    );
  }
  if (ip.ttl <= 1) return drop("TTL_EXCEEDED", "ttl", `TTL ${ip.ttl} would expire`);
  return ip;
}

/** The receive route (gateway, DNS, compute address) a pod's new flow is addressed to, if any. */
export function receiveRouteOf(idx: TablesIndex, vif: Vif, tuple: FlowTuple): Route | undefined {
  if (linkLocalService(idx, tuple)) return undefined;
  const local = idx.lookup(vif.vrf, tuple.dip);
  return local && idx.nextHop(local.route.nh)?.type === "receive" ? local.route : undefined;
}

/** Gateway / DNS addresses: the vrouter answers pings itself; DNS goes to the agent regardless of policy. */
export function toReceiveRoute(
  ctx: CallContext,
  idx: TablesIndex,
  vif: Vif,
  ip: Ipv4Packet,
  route: Route,
): Frames {
  const l4 = ip.payload;
  const base = { vrf: vif.vrf, prefix: route.prefix, nh: route.nh, ref: route.origin };
  if (l4.kind === "icmp" && l4.type === ICMP_ECHO_REQUEST) {
    const reply = ipv4({
      src: ip.dst,
      dst: ip.src,
      payload: icmpEcho(ICMP_ECHO_REPLY, l4.id, l4.seq, l4.data),
    });
    if (ctx.tracing)
      ctx.trace.push(
        step(ctx, "receive", `ICMP echo to ${ip.dst} answered by the vrouter`, {
          ...base,
          action: "forward",
        }),
      );
    return [{ vif: vif.index, frame: ipv4Frame(vif.mac, VROUTER_MAC, reply) }];
  }
  const dns = (l4.kind === "udp" || l4.kind === "tcp") && l4.dport === 53;
  const target = dns ? idx.agentVif : idx.hostVif;
  const what = dns ? "DNS query passes to the agent (policy does not apply)" : "to the compute host";
  if (ctx.tracing) ctx.trace.push(step(ctx, "receive", `${ip.dst}: ${what}`, { ...base, action: "forward" }));
  if (!target) {
    if (ctx.tracing)
      ctx.trace.push(
        step(ctx, "host", `consumed: no ${dns ? "agent" : "host"} vif modelled on ${ctx.compute}`),
      );
    return [];
  }
  return [{ vif: target.index, frame: ipv4Frame(target.mac, VROUTER_MAC, ip) }];
}
