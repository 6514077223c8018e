/**
 * The Topology page's graph, as cytoscape.js elements: computes (compound nodes holding the pods they run),
 * virtual networks, pods with their VMIs, addresses and floating IPs, Services with their members, and the
 * network policies between networks. Pure: built from the config index and the Kubernetes objects; every node
 * carries the uuid of the Contrail object it opens on the Configuration page.
 *
 * Example: `topology(idx, { pods, services, slices, namespaces })` → `{ nodes: [...], edges: [...] }`.
 */
import type { KubeObject } from "../../controller/kube/api";
import { ISOLATION_ANNOTATIONS } from "../../controller/translate/layout";
import type { WatchObject } from "../../fake-contrail-api/watch-client";
import { type ConfigIndex, kubeOwner } from "./config-index";

export type TopoKind = "compute" | "network" | "pod" | "service" | "policy";

export interface TopoNode {
  id: string;
  kind: TopoKind;
  label: string;
  /** The compute a pod runs on (cytoscape's compound parent). */
  parent?: string;
  /** The Contrail object the node opens (a VN, a VMI, a virtual-router, a network-policy). */
  uuid?: string;
  /** Details shown beside the graph when the node is selected. */
  details: string[];
  isolated?: boolean;
}

export interface TopoEdge {
  id: string;
  source: string;
  target: string;
  kind: "attached" | "member" | "policy";
  label?: string;
}

export interface Topology {
  nodes: TopoNode[];
  edges: TopoEdge[];
}

export interface KubeState {
  pods: KubeObject[];
  services: KubeObject[];
  slices: KubeObject[];
  namespaces: KubeObject[];
}

/** Networks every Contrail install has that no pod is on: left out unless something attaches to them. */
const PLUMBING = new Set(["default-virtual-network", "__link_local__"]);

const refUuids = (o: WatchObject, field: string) =>
  ((o[field] as { uuid?: string }[] | undefined) ?? []).map((r) => r.uuid).filter((u): u is string => !!u);

export function topology(idx: ConfigIndex, kube: KubeState): Topology {
  const nodes: TopoNode[] = [];
  const edges: TopoEdge[] = [];
  // namespace → the annotation that isolates it (either spelling kube-manager reads)
  const isolatedNs = new Map<string, string>();
  for (const n of kube.namespaces)
    for (const key of ISOLATION_ANNOTATIONS)
      if (String(n.metadata.annotations?.[key] ?? "").toLowerCase() === "true")
        isolatedNs.set(n.metadata.name!, key);

  for (const vr of idx.all("virtual-router")) {
    const name = vr.fq_name.at(-1)!;
    nodes.push({
      id: `compute:${name}`,
      kind: "compute",
      label: `${name} ${String(vr.virtual_router_ip_address ?? "")}`.trim(),
      uuid: vr.uuid,
      details: [
        `virtual-router ${vr.fq_name.join(":")}`,
        `fabric address ${vr.virtual_router_ip_address ?? "?"}`,
      ],
    });
  }
  const computes = new Set(nodes.map((n) => n.id));

  // virtual networks: drawn when a pod, a Service or a policy touches them, or Kubernetes owns them
  const vnNodes = new Map<string, TopoNode>();
  for (const vn of idx.all("virtual-network")) {
    const name = vn.fq_name.at(-1)!;
    const owner = kubeOwner(vn);
    const ns = owner?.kind === "Namespace" ? owner.name : undefined;
    const isolated = ns !== undefined && isolatedNs.has(ns);
    const subnets = (
      (vn.network_ipam_refs as {
        attr?: { ipam_subnets?: { subnet?: { ip_prefix: string; ip_prefix_len: number } }[] };
      }[]) ?? []
    )
      .flatMap((r) => r.attr?.ipam_subnets ?? [])
      .map((s) => (s.subnet ? `${s.subnet.ip_prefix}/${s.subnet.ip_prefix_len}` : ""))
      .filter(Boolean);
    vnNodes.set(vn.uuid, {
      id: `vn:${vn.uuid}`,
      kind: "network",
      label: isolated ? `${name} (isolated)` : name,
      uuid: vn.uuid,
      isolated,
      details: [
        `virtual-network ${vn.fq_name.join(":")}`,
        ...(subnets.length ? [`subnets ${subnets.join(", ")}`] : []),
        ...(owner
          ? [`stands for ${owner.kind} ${owner.namespace ? `${owner.namespace}/` : ""}${owner.name}`]
          : []),
        ...(isolated ? [`namespace ${ns} is isolated (${isolatedNs.get(ns!)}: "true")`] : []),
      ],
    });
  }
  const usedVns = new Set<string>();

  // pods: their VMIs (by the VMI's owner annotation), each VMI's instance IPs and floating IPs
  const iipsByVmi = new Map<string, string[]>();
  for (const iip of idx.all("instance-ip"))
    for (const u of refUuids(iip, "virtual_machine_interface_refs"))
      iipsByVmi.set(u, [...(iipsByVmi.get(u) ?? []), String(iip.instance_ip_address ?? "")]);
  const fipsByVmi = new Map<string, string[]>();
  for (const fip of idx.all("floating-ip"))
    for (const u of refUuids(fip, "virtual_machine_interface_refs"))
      fipsByVmi.set(u, [...(fipsByVmi.get(u) ?? []), String(fip.floating_ip_address ?? "")]);
  const vmisByPod = new Map<string, WatchObject[]>();
  for (const vmi of idx.all("virtual-machine-interface")) {
    const o = kubeOwner(vmi);
    if (o?.kind !== "Pod") continue;
    const key = `${o.namespace}/${o.name}`;
    vmisByPod.set(key, [...(vmisByPod.get(key) ?? []), vmi]);
  }
  for (const pod of kube.pods) {
    if (pod.spec?.hostNetwork) continue;
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const vmis = vmisByPod.get(key) ?? [];
    const node = pod.spec?.nodeName ? `compute:${pod.spec.nodeName}` : undefined;
    const details = [`Pod ${key}`, `phase ${pod.status?.phase ?? "?"}, node ${pod.spec?.nodeName ?? "-"}`];
    for (const vmi of vmis) {
      const ips = iipsByVmi.get(vmi.uuid) ?? [];
      const fips = fipsByVmi.get(vmi.uuid) ?? [];
      details.push(
        `VMI ${vmi.fq_name.at(-1)}: ${ips.join(", ") || "no address"}${fips.length ? `; floating IP ${fips.join(", ")}` : ""}`,
      );
    }
    const id = `pod:${key}`;
    nodes.push({
      id,
      kind: "pod",
      label: `${key}\n${pod.status?.podIP ?? ""}`,
      ...(node && computes.has(node) ? { parent: node } : {}),
      ...(vmis[0] ? { uuid: vmis[0].uuid } : {}),
      details,
    });
    for (const vmi of vmis)
      for (const vnUuid of refUuids(vmi, "virtual_network_refs")) {
        usedVns.add(vnUuid);
        const fips = fipsByVmi.get(vmi.uuid) ?? [];
        edges.push({
          id: `att:${vmi.uuid}:${vnUuid}`,
          source: id,
          target: `vn:${vnUuid}`,
          kind: "attached",
          label: [...(iipsByVmi.get(vmi.uuid) ?? []), ...fips.map((f) => `fip ${f}`)].join(" "),
        });
      }
  }

  // Services and their members (the EndpointSlices' pods); the VIP's network through its load balancer's VMI
  const lbByService = new Map<string, WatchObject>();
  for (const lb of idx.all("loadbalancer")) {
    const o = kubeOwner(lb);
    if (o?.kind === "Service") lbByService.set(`${o.namespace}/${o.name}`, lb);
  }
  for (const svc of kube.services) {
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const lb = lbByService.get(key);
    const id = `svc:${key}`;
    const ports = (svc.spec?.ports ?? []).map(
      (p: { port: number; protocol?: string }) => `${p.port}/${(p.protocol ?? "TCP").toLowerCase()}`,
    );
    nodes.push({
      id,
      kind: "service",
      label: `${svc.metadata.name}\n${svc.spec?.clusterIP ?? ""}`,
      ...(lb ? { uuid: lb.uuid } : {}),
      details: [
        `Service ${key} (${svc.spec?.type ?? "ClusterIP"})`,
        `cluster IP ${svc.spec?.clusterIP ?? "-"} ports ${ports.join(", ") || "-"}`,
        ...(lb ? [`loadbalancer ${lb.fq_name.join(":")}`] : []),
      ],
    });
    const members = new Set<string>();
    for (const s of kube.slices) {
      if (s.metadata.namespace !== svc.metadata.namespace) continue;
      if (s.metadata.labels?.["kubernetes.io/service-name"] !== svc.metadata.name) continue;
      for (const ep of s.endpoints ?? [])
        if (ep.targetRef?.kind === "Pod") members.add(`${s.metadata.namespace}/${ep.targetRef.name}`);
    }
    for (const m of members)
      edges.push({ id: `mem:${key}:${m}`, source: id, target: `pod:${m}`, kind: "member" });
    for (const vmiUuid of lb ? refUuids(lb, "virtual_machine_interface_refs") : []) {
      const vmi = idx.get(vmiUuid)?.obj;
      for (const vnUuid of vmi ? refUuids(vmi, "virtual_network_refs") : []) {
        usedVns.add(vnUuid);
        edges.push({
          id: `vip:${key}:${vnUuid}`,
          source: id,
          target: `vn:${vnUuid}`,
          kind: "attached",
          label: "VIP",
        });
      }
    }
  }

  // network policies: a node per policy, joined to the networks it is attached to
  for (const np of idx.all("network-policy")) {
    const attached = idx
      .list("virtual-network")
      .filter((vn) => refUuids(idx.get(vn.uuid)!.obj, "network_policy_refs").includes(np.uuid));
    if (!attached.length) continue;
    const id = `np:${np.uuid}`;
    const rules = ((np.network_policy_entries as { policy_rule?: unknown[] } | undefined)?.policy_rule ?? [])
      .length;
    nodes.push({
      id,
      kind: "policy",
      label: np.fq_name.at(-1)!,
      uuid: np.uuid,
      details: [
        `network-policy ${np.fq_name.join(":")}`,
        `${rules} rule(s), attached to ${attached.map((a) => a.name).join(", ")}`,
      ],
    });
    for (const vn of attached) {
      usedVns.add(vn.uuid);
      edges.push({ id: `pol:${np.uuid}:${vn.uuid}`, source: id, target: `vn:${vn.uuid}`, kind: "policy" });
    }
  }

  for (const [uuid, n] of vnNodes) {
    const name = idx.get(uuid)!.obj.fq_name.at(-1)!;
    if (usedVns.has(uuid) || (!PLUMBING.has(name) && kubeOwner(idx.get(uuid)!.obj))) nodes.push(n);
  }
  const ids = new Set(nodes.map((n) => n.id));
  return { nodes, edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
}
