/**
 * The SDN gateway (the DC gateway router, an MX in most Contrail deployments) as the control node sees it: a
 * BGP peer that imports the routes of the public networks — every `router_external` VN, and every VN carrying
 * one of the route targets it is configured to import — and exports a default route into them. Towards the
 * computes it speaks the overlay's encapsulation (MPLSoUDP / MPLSoGRE, `encapsulation_priorities`): it
 * tunnels a packet for a floating IP to the compute of the member VMI with that VMI's label, ECMP over the
 * members, and the computes send replies (un-NATted in the public VRF) to its table label.
 *
 * `gatewayTables` gives the gateway's forwarding state as `VrouterTables`, so the same engine forwards its
 * packets on both datapaths: one routing table (VRF 0, its inet.0) with the fabric (the underlay subnet
 * on-link, every compute, every ip-fabric-forwarded port as the underlay knows it), the imported VNs' routes
 * (tunnels to the computes), and the external hosts behind it (one port each, no policy). Pure.
 *
 * Example: `gatewayTables(view, { name: "sdn-gw", fabricIp: "10.84.31.250", importRouteTargets: [], hosts })`
 */
import type { NextHop, ObjectRef, Route, Vif, Vrf, VrouterTables } from "../tables";
import { type ConfigObject, cmp, fqString } from "./config-model";
import { IP_FABRIC_VRF, hostPrefix, networkAddress } from "./config-views";
import type { ClusterView, Endpoint, RouteSpec } from "./compute-tables";
import { encapPriority, fabricMac } from "./compute-tables";

export interface SdnGateway {
  /** The gateway's name (its `bgp-router`), also its station name on the datapaths. */
  name: string;
  /** Its address on the fabric (underlay), where the computes tunnel to. */
  fabricIp: string;
  /** Route targets it imports besides those of `router_external` networks (`target:<asn>:<n>`). */
  importRouteTargets: string[];
  /** Hosts outside the cluster, behind the gateway. */
  hosts: { name: string; ip: string }[];
}

/**
 * The label the gateway exports its routes with: one label for its whole table (an MX's `vrf-table-label`),
 * above the range the computes give VMIs (ids.ts: 16 … 131087), so it never names a VMI.
 */
export const GATEWAY_TABLE_LABEL = 0x40000;

/** The label of the i-th external host's port on the gateway (a reply to it arrives for that port). */
export const externalHostLabel = (i: number) => GATEWAY_TABLE_LABEL + 2 * (i + 1);

/**
 * The routes the gateway exports into the VNs it imports: each external host with its port's label, and a
 * default route with its table label (what else lies beyond it, e.g. a fabric-SNAT'd pod's compute).
 */
export function gatewayExports(gw: SdnGateway): { prefix: string; label: number }[] {
  return [
    ...gw.hosts.map((h, i) => ({ prefix: `${h.ip}/32`, label: externalHostLabel(i) })),
    { prefix: "0.0.0.0/0", label: GATEWAY_TABLE_LABEL },
  ];
}

/** The port of an external host on the gateway. */
export const externalHostIfname = (i: number) => `ext${i}`;

/** A stable, locally administered MAC for an external host (its address in the last four bytes). */
export function externalHostMac(ip: string): string {
  return ["02", "e0", ...ip.split(".").map((o) => Number(o).toString(16).padStart(2, "0"))].join(":");
}

/** Does the gateway import this VN's routes? `router_external`, or a route target it is told to import. */
export function gatewayImports(vn: ConfigObject, gw: SdnGateway): boolean {
  if (vn.data.router_external === true) return true;
  const rts = (vn.data.route_target_list as { route_target?: unknown[] } | undefined)?.route_target ?? [];
  return rts.some((rt) => typeof rt === "string" && gw.importRouteTargets.includes(rt));
}

/** What gateway routes name as their origin: the gateway's `bgp-router` under the fabric routing instance. */
export function gatewayOrigin(gw: SdnGateway): ObjectRef {
  const fqName = [...IP_FABRIC_VRF.split(":"), gw.name];
  return { type: "bgp-router", uuid: `bgp-router ${fqName.join(":")}`, fqName };
}

const FABRIC_VRF = 0;

/** The gateway's forwarding tables, from the same cluster view every compute's tables come from. */
export function gatewayTables(view: ClusterView, gw: SdnGateway): VrouterTables {
  const nextHops = new Map<number, NextHop>([[0, { id: 0, type: "discard" }]]);
  const nhIds = new Map<string, number>();
  const nh = (key: string, make: (id: number) => NextHop): number => {
    let id = nhIds.get(key);
    if (id === undefined) {
      id = nhIds.size + 1;
      nhIds.set(key, id);
      nextHops.set(id, make(id));
    }
    return id;
  };
  const priority = encapPriority(view.gvc);
  const encap = (priority.find((e) => e !== "vxlan") as "mplsoudp" | "mplsogre") ?? "mplsoudp";
  const tunnel = (dstIp: string) =>
    nh(`tunnel:${dstIp}`, (id) => ({ id, type: "tunnel", encap, srcIp: gw.fabricIp, dstIp }));
  const fabric = (via: string) => nh(`fabric:${via}`, (id) => ({ id, type: "fabric", via }));
  const origin = gatewayOrigin(gw);
  const mac = fabricMac(gw.fabricIp);
  const none = { securityGroupIds: [], sgIngressAcls: [], sgEgressAcls: [], firewallPolicies: [], tags: [] };
  const vifs = new Map<number, Vif>([
    [
      0,
      {
        index: 0,
        type: "fabric",
        name: "fabric0",
        mac,
        vrf: 0,
        policyEnabled: false,
        ...none,
        floatingIps: [],
        fabricSnat: false,
      },
    ],
    [
      1,
      {
        index: 1,
        type: "host",
        name: "vhost0",
        mac,
        vrf: 0,
        ip: gw.fabricIp,
        policyEnabled: false,
        ...none,
        floatingIps: [],
        fabricSnat: false,
      },
    ],
  ]);
  const routes: Route[] = [];
  const seen = new Set<string>();
  const add = (r: Omit<Route, "sgIds" | "tags"> & Partial<Route>) => {
    if (seen.has(r.prefix)) return;
    seen.add(r.prefix);
    routes.push({ sgIds: [], tags: [], ...r });
  };
  const hostLabels: [number, number][] = [];
  const receive = nh("receive", (id) => ({ id, type: "receive", vrf: FABRIC_VRF }));
  add({ prefix: hostPrefix(gw.fabricIp), nh: receive, destVns: [], origin });
  for (const [i, h] of gw.hosts.entries()) {
    const index = 3 + i;
    vifs.set(index, {
      index,
      type: "virtual",
      name: externalHostIfname(i),
      mac: externalHostMac(h.ip),
      vrf: FABRIC_VRF,
      ip: h.ip,
      policyEnabled: false,
      vnName: `external:${h.name}`,
      ...none,
      floatingIps: [],
      fabricSnat: false,
    });
    const encapNh = nh(`encap:${index}`, (id) => ({ id, type: "encap", vif: index, policy: false }));
    add({ prefix: hostPrefix(h.ip), nh: encapNh, destVns: [], origin });
    hostLabels.push([externalHostLabel(i), encapNh]);
  }
  // the imported networks' routes: floating IPs (ECMP over the members) and ports, tunnelled to the computes
  const label = (ep: Endpoint) => (ep.policyEnabled ? ep.labels.policy : ep.labels.noPolicy);
  const imported = view.vns
    .filter((vn) => gatewayImports(vn, gw))
    .sort((a, b) => cmp(fqString(a.fqName), fqString(b.fqName)));
  for (const vn of imported)
    for (const spec of view.ownRoutes.get(vn.uuid) ?? []) {
      const r = importedRoute(spec);
      if (r) add(r);
    }
  function importedRoute(spec: RouteSpec): (Omit<Route, "sgIds" | "tags"> & Partial<Route>) | undefined {
    const base = { prefix: spec.prefix, destVns: [spec.destVn], origin: spec.origin };
    if (spec.kind === "endpoint")
      return { ...base, nh: tunnel(spec.ep.compute.fabricIp), label: label(spec.ep), tags: spec.ep.tags };
    if (spec.kind === "ecmp") {
      const members = spec.members.map((ep) => ({ nh: tunnel(ep.compute.fabricIp), label: label(ep) }));
      return { ...base, nh: nh(`composite:${spec.key}`, (id) => ({ id, type: "composite", members })) };
    }
    return undefined;
  }
  // the fabric as the gateway's routers know it: computes, ip-fabric-forwarded ports, the subnet on-link
  for (const c of [...view.computes.values()].sort((a, b) => cmp(a.name, b.name)))
    if (c.fabricIp)
      add({ prefix: hostPrefix(c.fabricIp), nh: fabric(c.fabricIp), destVns: [], origin: originOfVr(c.vr) });
  for (const ep of [...view.endpoints.values()].sort((a, b) => cmp(a.vmi.uuid, b.vmi.uuid)))
    if (ep.present && ep.fabricForwarded && ep.ip)
      add({
        prefix: hostPrefix(ep.ip),
        nh: fabric(ep.compute.fabricIp),
        destVns: [fqString(ep.vn.fqName)],
        origin,
      });
  const len = view.fabricPrefixLen;
  add({ prefix: `${networkAddress(gw.fabricIp, len)}/${len}`, nh: fabric("0.0.0.0"), destVns: [], origin });
  const table = nh("table", (id) => ({ id, type: "vrf-translate", vrf: FABRIC_VRF }));
  const vrf: Vrf = { id: FABRIC_VRF, name: `${gw.name}:inet.0`, vnName: `${gw.name}:inet.0`, routes };
  return {
    configVersion: view.model.appliedSeq(),
    compute: { name: gw.name, fabricIp: gw.fabricIp, fabricVif: 0, fabricVrf: FABRIC_VRF, transit: true },
    vifs,
    nextHops,
    vrfs: new Map([[FABRIC_VRF, vrf]]),
    labels: new Map([[GATEWAY_TABLE_LABEL, table], ...hostLabels]),
    acls: new Map(),
    firewallPolicies: new Map(),
    linkLocal: [],
    encapPriority: priority,
  };
}

function originOfVr(vr: ConfigObject): ObjectRef {
  return { type: vr.type, uuid: vr.uuid, fqName: vr.fqName };
}
