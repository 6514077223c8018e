/**
 * Hand-built forwarding state for datapath tests: a tiny "agent" that turns a world description (computes,
 * VNs, pods, floating IPs, ECMP services, fabric hosts) into one `VrouterTables` per compute, the way the
 * real agent lays them out (vif 0 fabric, encap NH pairs with labels, tunnel NHs to remote computes, /32
 * receive routes for gateways, fabric NHs for ip-fabric-forwarded VNs).
 *
 * Example: `const net = simNetwork(twoComputes()); net.probe({ from: "a", to: "10.1.0.5", proto: "icmp" })`
 */
import { SimNetwork } from "../../fake-vrouter/datapath/sim-network";
import type { ListenPorts } from "../../fake-vrouter/datapath/host";
import type {
  Acl,
  FirewallPolicy,
  FloatingIpBinding,
  LinkLocalService,
  NextHop,
  ObjectRef,
  Route,
  Vif,
  Vrf,
  VrouterTables,
} from "../../fake-vrouter/tables";

export interface WorldPod {
  name: string;
  compute: string;
  vif: number;
  ip: string;
  vn: string;
  policy?: boolean;
  sgIds?: number[];
  sgIngress?: string[];
  sgEgress?: string[];
  fw?: string[];
  tags?: number[];
  fabricSnat?: boolean;
  listen?: ListenPorts;
}

export interface WorldVn {
  name: string;
  vrf: number;
  subnet: string;
  gateway: string;
  acl?: string;
  /** ip-fabric forwarding: ports of this VN forward in the fabric VRF. */
  fabricForwarded?: boolean;
  /** VNs whose pod routes are leaked into this VN's VRF (network-policy between them). */
  imports?: string[];
}

export interface WorldFip {
  address: string;
  pod: string;
  vn: string;
  direction?: FloatingIpBinding["direction"];
  portMappings?: FloatingIpBinding["portMappings"];
}

export interface World {
  computes: { name: string; fabricIp: string }[];
  vns: WorldVn[];
  pods: WorldPod[];
  acls?: Acl[];
  firewallPolicies?: FirewallPolicy[];
  fips?: WorldFip[];
  /** Service IPs: a composite NH over the member pods (each member also gets the IP as a floating IP). */
  services?: {
    vn: string;
    ip: string;
    members: string[];
    portMappings?: FloatingIpBinding["portMappings"];
    /** VNs whose forwarding VRF also gets the VIP route (a network-policy leak, e.g. into the fabric VRF). */
    exportTo?: string[];
  }[];
  fabricHosts?: { name: string; ip: string; listen?: ListenPorts }[];
  encap?: "mplsoudp" | "mplsogre" | "vxlan";
  linkLocal?: LinkLocalService[];
}

export const FABRIC_VRF = 0;

export function ref(type: string, name: string, k8s?: ObjectRef["k8s"]): ObjectRef {
  return k8s
    ? { type, uuid: `${type}-${name}`, fqName: ["default-domain", "k8s", name], k8s }
    : { type, uuid: `${type}-${name}`, fqName: ["default-domain", "k8s", name] };
}

export function podMac(pod: WorldPod | string): string {
  const name = typeof pod === "string" ? pod : pod.name;
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) & 0xffffff;
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `02:42:${hex((h >>> 16) & 255)}:${hex((h >>> 8) & 255)}:${hex(h & 255)}:01`;
}

export function fabricMac(ip: string): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `02:fa:${ip
    .split(".")
    .map((o) => hex(Number(o)))
    .join(":")}`;
}

export const vnName = (vn: string) => `default-domain:k8s:${vn}`;
export const policyLabel = (world: World, pod: string) =>
  16 + 2 * world.pods.findIndex((p) => p.name === pod);
// NH id ranges: receive 10+vrf, tunnel 500+, fabric 600+, composite 700+, encap 1000+ (two per vif).
export const encapNhId = (vif: number, policy: boolean) => 1000 + vif * 2 + (policy ? 0 : 1);
export const tunnelNhId = (world: World, compute: string) =>
  500 + world.computes.findIndex((c) => c.name === compute);

/** The tables compute `name` gets for `world`. */
export function tablesFor(world: World, name: string): VrouterTables {
  const self = world.computes.find((c) => c.name === name);
  if (!self) throw new Error(`no compute ${name}`);
  const nextHops = new Map<number, NextHop>([[0, { id: 0, type: "discard" }]]);
  const vifs = new Map<number, Vif>();
  const labels = new Map<number, number>();
  const vrfs = new Map<number, Vrf>();
  const platform = {
    policyEnabled: false,
    securityGroupIds: [],
    sgIngressAcls: [],
    sgEgressAcls: [],
    firewallPolicies: [],
    tags: [],
    floatingIps: [],
    fabricSnat: false,
  };
  vifs.set(0, {
    index: 0,
    type: "fabric",
    name: "fabric0",
    mac: fabricMac(self.fabricIp),
    vrf: FABRIC_VRF,
    ...platform,
  });
  const vnOf = (n: string) => world.vns.find((v) => v.name === n)!;
  const fwdVrf = (vn: WorldVn) => (vn.fabricForwarded ? FABRIC_VRF : vn.vrf);
  const receiveNh = (vrf: number) => {
    nextHops.set(10 + vrf, { id: 10 + vrf, type: "receive", vrf });
    return 10 + vrf;
  };
  const fabricNh = (via: string) => {
    const id = 600 + [...nextHops.values()].filter((n) => n.type === "fabric").length;
    for (const n of nextHops.values()) if (n.type === "fabric" && n.via === via) return n.id;
    nextHops.set(id, { id, type: "fabric", via });
    return id;
  };
  const fipsOf = (pod: WorldPod): FloatingIpBinding[] => {
    const out: FloatingIpBinding[] = [];
    for (const f of world.fips ?? []) {
      if (f.pod !== pod.name) continue;
      const b: FloatingIpBinding = {
        uuid: `fip-${f.address}`,
        address: f.address,
        fixedIp: pod.ip,
        vrf: fwdVrf(vnOf(f.vn)),
        vnName: vnName(f.vn),
        direction: f.direction ?? "both",
        origin: ref("floating-ip", f.address),
      };
      if (f.portMappings) b.portMappings = f.portMappings;
      out.push(b);
    }
    for (const s of world.services ?? []) {
      if (!s.members.includes(pod.name)) continue;
      const b: FloatingIpBinding = {
        uuid: `fip-${s.ip}-${pod.name}`,
        address: s.ip,
        fixedIp: pod.ip,
        vrf: fwdVrf(vnOf(s.vn)),
        vnName: vnName(s.vn),
        direction: "ingress",
        origin: ref("floating-ip", `${s.ip}-${pod.name}`, {
          kind: "Service",
          namespace: "default",
          name: `svc-${s.ip}`,
        }),
      };
      if (s.portMappings) b.portMappings = s.portMappings;
      out.push(b);
    }
    return out;
  };
  // Local pods: vifs, encap NH pairs, labels.
  for (const pod of world.pods.filter((p) => p.compute === name)) {
    const vn = vnOf(pod.vn);
    const policy = pod.policy ?? true;
    vifs.set(pod.vif, {
      index: pod.vif,
      type: "virtual",
      name: `tap-${pod.name}`,
      mac: podMac(pod),
      vrf: fwdVrf(vn),
      ip: pod.ip,
      policyEnabled: policy,
      vnName: vnName(pod.vn),
      vmi: ref("virtual-machine-interface", pod.name, { kind: "Pod", namespace: "default", name: pod.name }),
      securityGroupIds: pod.sgIds ?? [],
      sgIngressAcls: pod.sgIngress ?? [],
      sgEgressAcls: pod.sgEgress ?? [],
      firewallPolicies: pod.fw ?? [],
      tags: pod.tags ?? [],
      floatingIps: fipsOf(pod),
      fabricSnat: pod.fabricSnat ?? false,
    });
    for (const p of [true, false])
      nextHops.set(encapNhId(pod.vif, p), {
        id: encapNhId(pod.vif, p),
        type: "encap",
        vif: pod.vif,
        policy: p,
      });
    labels.set(policyLabel(world, pod.name), encapNhId(pod.vif, true));
    labels.set(policyLabel(world, pod.name) + 1, encapNhId(pod.vif, false));
  }
  /** `inVrf`: where the route goes; only the fabric VRF reaches an ip-fabric-forwarded pod unlabelled. */
  const hopTo = (pod: WorldPod, inVrf: number): { nh: number; label?: number } => {
    const vn = vnOf(pod.vn);
    const policy = pod.policy ?? true;
    const label = policyLabel(world, pod.name) + (policy ? 0 : 1);
    if (pod.compute === name) return { nh: encapNhId(pod.vif, policy), label };
    const remote = world.computes.find((c) => c.name === pod.compute)!;
    if (vn.fabricForwarded && inVrf === FABRIC_VRF) return { nh: fabricNh(remote.fabricIp) };
    const id = tunnelNhId(world, pod.compute);
    nextHops.set(id, {
      id,
      type: "tunnel",
      encap: world.encap ?? "mplsoudp",
      srcIp: self.fabricIp,
      dstIp: remote.fabricIp,
    });
    return { nh: id, label };
  };
  const podRoute = (pod: WorldPod, inVrf: number, leakedBy?: string): Route => {
    const hop = hopTo(pod, inVrf);
    const r: Route = {
      prefix: `${pod.ip}/32`,
      nh: hop.nh,
      destVns: [vnName(pod.vn)],
      sgIds: pod.sgIds ?? [],
      tags: pod.tags ?? [],
      origin: ref("virtual-machine-interface", pod.name, {
        kind: "Pod",
        namespace: "default",
        name: pod.name,
      }),
    };
    if (hop.label !== undefined) r.label = hop.label;
    if (leakedBy) r.leakedBy = leakedBy;
    return r;
  };
  // Fabric VRF: compute addresses, fabric hosts, ip-fabric-forwarded pods.
  const fabricRoutes: Route[] = [];
  for (const c of world.computes) {
    fabricRoutes.push({
      prefix: `${c.fabricIp}/32`,
      nh: c.name === name ? receiveNh(FABRIC_VRF) : fabricNh(c.fabricIp),
      destVns: ["default-domain:default-project:ip-fabric"],
      sgIds: [],
      tags: [],
    });
  }
  for (const h of world.fabricHosts ?? []) {
    fabricRoutes.push({
      prefix: `${h.ip}/32`,
      nh: fabricNh(h.ip),
      destVns: ["default-domain:default-project:ip-fabric"],
      sgIds: [],
      tags: [],
    });
  }
  vrfs.set(FABRIC_VRF, {
    id: FABRIC_VRF,
    name: "default-domain:default-project:ip-fabric:__default__",
    vnName: "default-domain:default-project:ip-fabric",
    routes: fabricRoutes,
  });
  for (const vn of world.vns) {
    const vrfId = fwdVrf(vn);
    const routes = vrfId === FABRIC_VRF ? fabricRoutes : [];
    routes.push({
      prefix: `${vn.gateway}/32`,
      nh: receiveNh(vrfId),
      destVns: [vnName(vn.name)],
      sgIds: [],
      tags: [],
      origin: ref("virtual-network", vn.name),
    });
    for (const pod of world.pods.filter((p) => p.vn === vn.name)) routes.push(podRoute(pod, vrfId));
    for (const other of vn.imports ?? [])
      for (const pod of world.pods.filter((p) => p.vn === other))
        routes.push(podRoute(pod, vrfId, `network-policy ${other}`));
    for (const f of (world.fips ?? []).filter((x) => x.vn === vn.name)) {
      const pod = world.pods.find((p) => p.name === f.pod)!;
      routes.push({
        ...podRoute(pod, vrfId),
        prefix: `${f.address}/32`,
        destVns: [vnName(vn.name)],
        origin: ref("floating-ip", f.address),
      });
    }
    const exported = (world.services ?? []).filter((x) => x.vn === vn.name || x.exportTo?.includes(vn.name));
    for (const s of exported) {
      const id = 700 + (world.services ?? []).indexOf(s);
      // The VIP belongs to the service VN: its members are reached as that VN's VRF reaches them (labelled
      // tunnels unless the service VN itself forwards in the fabric VRF), wherever the route is leaked.
      const members = s.members.map((m) => {
        const hop = hopTo(world.pods.find((p) => p.name === m)!, fwdVrf(vnOf(s.vn)));
        return { nh: hop.nh, label: hop.label ?? 0 };
      });
      nextHops.set(id, { id, type: "composite", members });
      routes.push({
        prefix: `${s.ip}/32`,
        nh: id,
        destVns: [vnName(s.vn)],
        sgIds: [],
        tags: [],
        ...(s.vn === vn.name ? {} : { leakedBy: `network-policy ${s.vn}` }),
        origin: ref("instance-ip", s.ip, { kind: "Service", namespace: "default", name: `svc-${s.ip}` }),
      });
    }
    if (vrfId !== FABRIC_VRF) {
      const vrf: Vrf = { id: vrfId, name: `${vnName(vn.name)}:${vn.name}`, vnName: vnName(vn.name), routes };
      if (vn.acl) vrf.networkPolicyAcl = vn.acl;
      vrfs.set(vrfId, vrf);
    } else if (vn.acl) {
      // An ip-fabric-forwarded VN keeps its own (empty) routing instance for its ACL.
      vrfs.set(vn.vrf, {
        id: vn.vrf,
        name: `${vnName(vn.name)}:${vn.name}`,
        vnName: vnName(vn.name),
        routes: [],
        networkPolicyAcl: vn.acl,
      });
    }
  }
  return {
    configVersion: 1,
    compute: { name, fabricIp: self.fabricIp, fabricVif: 0, fabricVrf: FABRIC_VRF },
    vifs,
    nextHops,
    vrfs,
    labels,
    acls: new Map((world.acls ?? []).map((a) => [a.id, a])),
    firewallPolicies: new Map((world.firewallPolicies ?? []).map((p) => [p.id, p])),
    linkLocal: world.linkLocal ?? [],
    encapPriority: [world.encap ?? "mplsoudp"],
  };
}

/** A simulated network with every compute's tables, every pod and every fabric host attached. */
export function simNetwork(
  world: World,
  opts: { flowLimit?: number; flowAgingMs?: number } = {},
): SimNetwork {
  const net = new SimNetwork(opts);
  for (const c of world.computes) net.setTables(c.name, tablesFor(world, c.name));
  for (const p of world.pods) {
    net.addEndpoint({
      name: p.name,
      kind: "pod",
      compute: p.compute,
      vif: p.vif,
      mac: podMac(p),
      ip: p.ip,
      ...(p.listen ? { listen: p.listen } : {}),
    });
  }
  for (const h of world.fabricHosts ?? []) {
    net.addEndpoint({
      name: h.name,
      kind: "fabric-host",
      mac: fabricMac(h.ip),
      ip: h.ip,
      ...(h.listen ? { listen: h.listen } : {}),
    });
  }
  return net;
}

/** Two computes, VN red on both (pods a, b on compute-1; c on compute-2), VN blue (d on compute-2). */
export function twoComputes(): World {
  const listen = { tcp: [80, 8080], udp: [53, 5353], sctp: [3868] };
  return {
    computes: [
      { name: "compute-1", fabricIp: "192.168.0.11" },
      { name: "compute-2", fabricIp: "192.168.0.12" },
    ],
    vns: [
      { name: "red", vrf: 1, subnet: "10.1.0.0/24", gateway: "10.1.0.1" },
      { name: "blue", vrf: 2, subnet: "10.2.0.0/24", gateway: "10.2.0.1" },
    ],
    pods: [
      { name: "a", compute: "compute-1", vif: 3, ip: "10.1.0.3", vn: "red", listen },
      { name: "b", compute: "compute-1", vif: 4, ip: "10.1.0.4", vn: "red", listen },
      { name: "c", compute: "compute-2", vif: 3, ip: "10.1.0.5", vn: "red", listen },
      { name: "d", compute: "compute-2", vif: 4, ip: "10.2.0.3", vn: "blue", listen },
    ],
  };
}

export const anyPorts = { start: 0, end: 65535 };
