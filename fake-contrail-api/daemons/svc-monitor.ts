/**
 * svc-monitor's native load-balancer driver: for every loadbalancer with provider `native`, one floating-ip
 * per instance-ip of its VIP VMI, child of that instance-ip, carrying the VIP address, direction `ingress`,
 * a ref to every member VMI (the members' `vmi` annotation) and port mappings listener port → member port —
 * the ECMP entry point the vrouters load-balance on. Kept in step as listeners, pools and members change;
 * deleted when the load balancer has no members left or is gone.
 * The load balancer VMI's own floating IPs (a LoadBalancer Service's or an externalIP's address from a pool,
 * which kube-manager attaches to that VMI) are extended the same way, as the upstream driver's
 * `_update_loadbalancer_props` / `_update_member_props` do: direction `ingress`, no fixed address, a ref to
 * every member VMI besides the load balancer VMI, the same port mappings; when the load balancer is gone they
 * are put back (`_clear_loadbalancer_props`: direction `both`, no mappings, only the load balancer VMI).
 * `planNativeLoadbalancers` is pure.
 * Example: `planNativeLoadbalancers(ConfigMirror.of(objs), randomUUID).writes`.
 */
import { randomUUID } from "node:crypto";
import type { ConfigView } from "./config-mirror";
import type { Plan, Reconciler } from "./daemon-loop";
import type { VncWrite } from "../../controller/vnc/client";
import { planHealthChecks } from "./health-check";
import {
  type FloatingIp,
  fqString,
  type InstanceIp,
  type Loadbalancer,
  type LoadbalancerListener,
  type LoadbalancerMember,
  type LoadbalancerPool,
  type PortMap,
  type Ref,
  type VirtualMachineInterface,
  type VncObject,
} from "./vnc-objects";

/** What the driver wants the VIP floating IP of one instance-ip to be. */
export interface DesiredVipFip {
  iip: InstanceIp;
  address: string;
  memberVmis: VirtualMachineInterface[];
  portMappings: PortMap[];
  project?: VncObject;
}

const annotation = (m: LoadbalancerMember, key: string) =>
  m.annotations?.key_value_pair?.find((kv) => kv.key === key)?.value;

const refTo = (o: VncObject): Ref => ({ to: [...o.fq_name], uuid: o.uuid });

/** A native load balancer's VIP VMI, member VMIs (by uuid) and port mappings listener port → member port. */
interface LbMembers {
  vipVmi: VirtualMachineInterface;
  memberVmis: VirtualMachineInterface[];
  portMappings: PortMap[];
}

function lbMembers(view: ConfigView, lb: Loadbalancer, notes: string[]): LbMembers | undefined {
  const lbName = fqString(lb.fq_name);
  const vipVmiRef = lb.virtual_machine_interface_refs?.[0];
  const vipVmi = vipVmiRef && view.get<VirtualMachineInterface>("virtual-machine-interface", vipVmiRef.uuid);
  if (!vipVmi) {
    notes.push(`loadbalancer ${lbName}: VIP VMI not found yet`);
    return undefined;
  }
  const listeners = view
    .referrers<LoadbalancerListener>("loadbalancer-listener", "loadbalancer", lb)
    .map((l) => ({
      l,
      port: l.loadbalancer_listener_properties?.protocol_port,
      protocol: l.loadbalancer_listener_properties?.protocol === "UDP" ? "UDP" : "TCP",
    }))
    .filter((x): x is typeof x & { port: number } => typeof x.port === "number")
    .sort(
      (a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol) || a.l.uuid.localeCompare(b.l.uuid),
    );

  const memberVmis = new Map<string, VirtualMachineInterface>();
  const portMappings: PortMap[] = [];
  for (const { l, port, protocol } of listeners) {
    const pools = view.referrers<LoadbalancerPool>("loadbalancer-pool", "loadbalancer-listener", l);
    const members = pools
      .flatMap((p) => view.children<LoadbalancerMember>(p, "loadbalancer-member"))
      .sort((a, b) => a.uuid.localeCompare(b.uuid));
    for (const m of members) {
      const vmiUuid = annotation(m, "vmi");
      const vmi = vmiUuid
        ? view.get<VirtualMachineInterface>("virtual-machine-interface", vmiUuid)
        : undefined;
      if (!vmi) {
        notes.push(`loadbalancer ${lbName}: member ${fqString(m.fq_name)} has no known "vmi" annotation`);
        continue;
      }
      memberVmis.set(vmi.uuid, vmi);
      const dst = m.loadbalancer_member_properties?.protocol_port;
      // One mapping per (protocol, listener port): the first member's port wins, as upstream.
      if (
        typeof dst === "number" &&
        !portMappings.some((pm) => pm.protocol === protocol && pm.src_port === port)
      )
        portMappings.push({ protocol, src_port: port, dst_port: dst });
    }
  }
  const vmis = [...memberVmis.values()].sort((a, b) => a.uuid.localeCompare(b.uuid));
  return { vipVmi, memberVmis: vmis, portMappings };
}

/** The VIP floating IPs one native load balancer needs (empty when it has no usable member). */
export function desiredVipFips(view: ConfigView, lb: Loadbalancer, notes: string[] = []): DesiredVipFip[] {
  const m = lbMembers(view, lb, notes);
  if (!m || m.memberVmis.length === 0) return [];
  const { vipVmi, memberVmis: vmis, portMappings } = m;
  const project =
    vipVmi.parent_type === "project" && vipVmi.parent_uuid
      ? view.get("project", vipVmi.parent_uuid)
      : undefined;
  return view
    .referrers<InstanceIp>("instance-ip", "virtual-machine-interface", vipVmi)
    .filter((iip): iip is InstanceIp & { instance_ip_address: string } => Boolean(iip.instance_ip_address))
    .sort((a, b) => a.uuid.localeCompare(b.uuid))
    .map((iip) => ({ iip, address: iip.instance_ip_address, memberVmis: vmis, portMappings, project }));
}

function fipBody(d: DesiredVipFip): Record<string, unknown> {
  return {
    floating_ip_address: d.address,
    floating_ip_traffic_direction: "ingress",
    floating_ip_port_mappings_enable: true,
    floating_ip_port_mappings: { port_mappings: d.portMappings },
    virtual_machine_interface_refs: d.memberVmis.map(refTo),
    ...(d.project ? { project_refs: [refTo(d.project)] } : {}),
  };
}

const refUuids = (refs: Ref[] | undefined) =>
  (refs ?? [])
    .map((r) => r.uuid)
    .sort()
    .join(",");

function fipDiffers(fip: FloatingIp, d: DesiredVipFip): boolean {
  const pm = (fip.floating_ip_port_mappings?.port_mappings ?? []).map(
    (m) => `${m.protocol}/${m.src_port}/${m.dst_port}`,
  );
  const want = d.portMappings.map((m) => `${m.protocol}/${m.src_port}/${m.dst_port}`);
  return (
    fip.floating_ip_address !== d.address ||
    fip.floating_ip_traffic_direction !== "ingress" ||
    fip.floating_ip_port_mappings_enable !== true ||
    pm.join(" ") !== want.join(" ") ||
    refUuids(fip.virtual_machine_interface_refs) !== refUuids(d.memberVmis.map(refTo)) ||
    (d.project !== undefined && refUuids(fip.project_refs) !== d.project.uuid)
  );
}

/**
 * Writes that bring the VIP floating IPs in line with the native load balancers. `newUuid` names new
 * floating IPs (upstream uses a fresh uuid4 as both name and uuid).
 */
export function planNativeLoadbalancers(view: ConfigView, newUuid: () => string = randomUUID): Plan {
  const writes: VncWrite[] = [];
  const notes: string[] = [];
  const wanted = new Map<string, DesiredVipFip>(); // by instance-ip uuid
  for (const lb of view.list<Loadbalancer>("loadbalancer")) {
    if (lb.loadbalancer_provider !== "native") continue;
    for (const d of desiredVipFips(view, lb, notes)) wanted.set(d.iip.uuid, d);
  }
  for (const d of wanted.values()) {
    const [fip, ...extra] = view
      .children<FloatingIp>(d.iip, "floating-ip")
      .sort((a, b) => a.uuid.localeCompare(b.uuid));
    const why = `VIP ${d.address} (instance-ip ${fqString(d.iip.fq_name)})`;
    for (const x of extra) writes.push({ op: "delete", type: "floating-ip", uuid: x.uuid, why });
    if (!fip) {
      const uuid = newUuid();
      writes.push({
        op: "create",
        type: "floating-ip",
        body: { uuid, fq_name: [...d.iip.fq_name, uuid], parent_type: "instance-ip", ...fipBody(d) },
        why,
      });
    } else if (fipDiffers(fip, d)) {
      writes.push({ op: "update", type: "floating-ip", uuid: fip.uuid, body: fipBody(d), why });
    }
  }
  writes.push(...planLbVmiFips(view, notes));
  writes.push(...planHealthChecks(view, newUuid));
  // Floating IPs under an instance-ip are this driver's alone; any not wanted any more goes.
  for (const fip of view.list<FloatingIp>("floating-ip")) {
    if (fip.parent_type !== "instance-ip") continue;
    const iipUuid =
      fip.parent_uuid ?? view.list("instance-ip").find((i) => fqString(i.fq_name) === fip.fq_name[0])?.uuid;
    if (iipUuid && wanted.has(iipUuid)) continue;
    writes.push({
      op: "delete",
      type: "floating-ip",
      uuid: fip.uuid,
      why: `stale VIP floating-ip ${fqString(fip.fq_name)}`,
    });
  }
  return { writes, notes };
}

/** What one floating IP from a pool on a load balancer VMI should carry. */
interface LbVmiFipWant {
  direction: "ingress" | "both";
  vmis: VncObject[];
  portMappings: PortMap[];
}

function lbVmiFipBody(w: LbVmiFipWant): Record<string, unknown> {
  return {
    floating_ip_traffic_direction: w.direction,
    floating_ip_fixed_ip_address: null,
    floating_ip_port_mappings_enable: w.portMappings.length > 0,
    floating_ip_port_mappings: { port_mappings: w.portMappings },
    virtual_machine_interface_refs: w.vmis.map(refTo),
  };
}

function lbVmiFipDiffers(fip: FloatingIp & { floating_ip_fixed_ip_address?: unknown }, w: LbVmiFipWant) {
  const pm = (fip.floating_ip_port_mappings?.port_mappings ?? []).map(
    (m) => `${m.protocol}/${m.src_port}/${m.dst_port}`,
  );
  return (
    fip.floating_ip_traffic_direction !== w.direction ||
    Boolean(fip.floating_ip_fixed_ip_address) ||
    (fip.floating_ip_port_mappings_enable === true) !== w.portMappings.length > 0 ||
    pm.join(" ") !== w.portMappings.map((m) => `${m.protocol}/${m.src_port}/${m.dst_port}`).join(" ") ||
    refUuids(fip.virtual_machine_interface_refs) !== refUuids(w.vmis.map(refTo))
  );
}

/**
 * The load balancer VMI's floating IPs from pools (a LoadBalancer Service's external address, an
 * externalIP): extended to the members while a native load balancer holds the VMI; put back to the load
 * balancer VMI alone (direction `both`, no mappings) on a load-balancer VMI no load balancer holds any more.
 * A load balancer of another provider (an Ingress's `opencontrail` haproxy) is that driver's business.
 */
function planLbVmiFips(view: ConfigView, notes: string[]): VncWrite[] {
  const writes: VncWrite[] = [];
  const byVmi = new Map<string, Loadbalancer>();
  for (const lb of view.list<Loadbalancer>("loadbalancer")) {
    const vmiUuid = lb.virtual_machine_interface_refs?.[0]?.uuid;
    if (vmiUuid) byVmi.set(vmiUuid, lb);
  }
  for (const fip of view.list<FloatingIp>("floating-ip")) {
    if (fip.parent_type === "instance-ip") continue;
    const refs = fip.virtual_machine_interface_refs ?? [];
    // extended to a haproxy service instance's interface: the haproxy driver's (haproxy-driver.ts)
    if (
      refs.some(
        (r) =>
          (
            view.get("virtual-machine-interface", r.uuid) as
              | { virtual_machine_interface_properties?: { service_interface_type?: string } }
              | undefined
          )?.virtual_machine_interface_properties?.service_interface_type,
      )
    )
      continue;
    const lbVmi = refs
      .map((r) => view.get<VirtualMachineInterface>("virtual-machine-interface", r.uuid))
      .find(
        (v) =>
          v &&
          (byVmi.has(v.uuid) ||
            (v as { virtual_machine_interface_device_owner?: string })
              .virtual_machine_interface_device_owner === "K8S:LOADBALANCER"),
      );
    if (!lbVmi) continue;
    const lb = byVmi.get(lbVmi.uuid);
    if (lb && lb.loadbalancer_provider !== "native") continue;
    const m = lb && lbMembers(view, lb, notes);
    const want: LbVmiFipWant = m
      ? { direction: "ingress", vmis: [lbVmi, ...m.memberVmis], portMappings: m.portMappings }
      : { direction: "both", vmis: [lbVmi], portMappings: [] };
    if (lbVmiFipDiffers(fip, want))
      writes.push({
        op: "update",
        type: "floating-ip",
        uuid: fip.uuid,
        body: lbVmiFipBody(want),
        why: lb
          ? `extend ${fip.floating_ip_address ?? fqString(fip.fq_name)} of loadbalancer ${fqString(lb.fq_name)} to its members`
          : `floating-ip ${fqString(fip.fq_name)}: no loadbalancer on its VMI any more`,
      });
  }
  return writes;
}

export const svcMonitor: Reconciler = {
  name: "svc-monitor",
  watches: new Set([
    "loadbalancer",
    "loadbalancer-listener",
    "loadbalancer-pool",
    "loadbalancer-member",
    "virtual-machine-interface",
    "instance-ip",
    "floating-ip",
    "loadbalancer-healthmonitor",
    "service-health-check",
  ]),
  plan: (view) => planNativeLoadbalancers(view),
};
