/**
 * svc-monitor's haproxy (`opencontrail` provider) load-balancer driver, with the part of its netns instance
 * manager that places the service instance. For every `opencontrail` load balancer (a Kubernetes Ingress):
 * - a service-instance named after the load balancer's uuid in its project (driver.py
 *   `_update_loadbalancer_instance_v2`): right interface on the VIP's network at the VIP address,
 *   `active-standby`, at most 2 instances; a ref from the load balancer to it;
 * - its bindings `lb_version v2`, `lb_uuid`, `haproxy_config` (haproxy-config.ts, as `set_config_v2`) and
 *   `orchestrator kubernetes`, rewritten whenever the listeners, pools or members change;
 * - the instance's virtual machine `<si fq_name joined by __>__1` on one compute (the first virtual-router by
 *   name: upstream's scheduler picks one among the running vrouters) and its right interface on the VIP network;
 *   the VIP instance-ip and the load balancer's floating IPs are extended to that interface, so the VIP and the
 *   public address lead to the namespace where the vrouter agent runs haproxy with this config. Only the active
 *   instance is built (no standby).
 * When the load balancer goes, all of it goes. `planHaproxyLoadbalancers` is pure.
 * Example: `planHaproxyLoadbalancers(ConfigMirror.of(objs)).writes`.
 */
import type { VncWrite } from "../../controller/vnc/client";
import type { ConfigView } from "./config-mirror";
import type { Plan, Reconciler } from "./daemon-loop";
import { haproxyConfigV2 } from "./haproxy-config";
import {
  type FloatingIp,
  fqString,
  type InstanceIp,
  type Loadbalancer,
  type Ref,
  type VncObject,
} from "./vnc-objects";
import { uuid5 } from "../../controller/translate/names";

export const HAPROXY_BINDING = "haproxy_config";
/** The interface type the agent's netns manager gives the haproxy instance's port towards the VIP network. */
const RIGHT = "right";

type Obj = VncObject & Record<string, unknown>;
const refs = (o: object, field: string) => ((o as Record<string, Ref[] | undefined>)[field] ?? []) as Ref[];
const refTo = (o: VncObject): Ref => ({ to: [...o.fq_name], uuid: o.uuid });

/** Deterministic uuids of what the driver creates for a load balancer (a restart finds them again). */
export const siUuid = (lbUuid: string) => uuid5(lbUuid, "haproxy/service-instance");
const vmUuid = (lbUuid: string) => uuid5(lbUuid, "haproxy/virtual-machine/1");
export const siVmiUuid = (lbUuid: string) => uuid5(lbUuid, "haproxy/vmi/1/right");

/** The MAC of the instance's port: locally administered, from its uuid. */
function macOf(uuid: string): string {
  const h = uuid.replace(/-/g, "");
  return `02:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}:${h.slice(6, 8)}:${h.slice(8, 10)}`;
}

function bindings(lb: Loadbalancer, conf: string) {
  return {
    key_value_pair: [
      { key: "lb_version", value: "v2" },
      { key: "lb_uuid", value: lb.uuid },
      { key: HAPROXY_BINDING, value: conf },
      { key: "orchestrator", value: "kubernetes" },
    ],
  };
}

export function planHaproxyLoadbalancers(view: ConfigView): Plan {
  const writes: VncWrite[] = [];
  const notes: string[] = [];
  const wantedSi = new Set<string>();
  const routers = view
    .list("virtual-router")
    .sort((a, b) => a.fq_name.join(":").localeCompare(b.fq_name.join(":")));
  for (const lb of view.list<Loadbalancer>("loadbalancer")) {
    if (lb.loadbalancer_provider !== "opencontrail") continue;
    const name = fqString(lb.fq_name);
    const vipVmi = view.get<Obj>(
      "virtual-machine-interface",
      lb.virtual_machine_interface_refs?.[0]?.uuid ?? "",
    );
    const vn = vipVmi && view.get("virtual-network", refs(vipVmi, "virtual_network_refs")[0]?.uuid ?? "");
    const vip = vipVmi && view.referrers<InstanceIp>("instance-ip", "virtual-machine-interface", vipVmi)[0];
    const vipAddr = vip?.instance_ip_address;
    if (!vipVmi || !vn || !vip || !vipAddr) {
      notes.push(`loadbalancer ${name}: VIP interface or address not known yet`);
      continue;
    }
    const project = lb.fq_name.slice(0, -1);
    const siFq = [...project, lb.uuid];
    const sUuid = siUuid(lb.uuid);
    wantedSi.add(sUuid);
    // the VIP as the load balancer sees it: haproxy binds it
    const lbWithVip = {
      ...lb,
      loadbalancer_properties: { ...(lb.loadbalancer_properties ?? {}), vip_address: vipAddr },
    } as Loadbalancer;
    const conf = haproxyConfigV2(view, lbWithVip);
    const props = {
      interface_list: [{ virtual_network: vn.fq_name.join(":"), ip_address: vipAddr }],
      ha_mode: "active-standby",
      scale_out: { max_instances: 2, auto_scale: false },
    };
    const si = view.get<Obj>("service-instance", sUuid);
    const why = `haproxy of loadbalancer ${name}`;
    if (!si) {
      writes.push({
        op: "create",
        type: "service-instance",
        body: {
          uuid: sUuid,
          fq_name: siFq,
          parent_type: "project",
          service_instance_properties: props,
          service_instance_bindings: bindings(lb, conf),
        },
        why,
      });
    } else {
      const cur = (
        si.service_instance_bindings as { key_value_pair?: { key: string; value: string }[] }
      )?.key_value_pair?.find((kv) => kv.key === HAPROXY_BINDING)?.value;
      if (cur !== conf || JSON.stringify(si.service_instance_properties) !== JSON.stringify(props))
        writes.push({
          op: "update",
          type: "service-instance",
          uuid: sUuid,
          body: { service_instance_properties: props, service_instance_bindings: bindings(lb, conf) },
          why: `${why}: config`,
        });
    }
    if (!refs(lb, "service_instance_refs").some((r) => r.uuid === sUuid))
      writes.push({
        op: "ref",
        type: "loadbalancer",
        uuid: lb.uuid,
        refType: "service-instance",
        refUuid: sUuid,
        operation: "ADD",
        why,
      });
    // the netns instance: one VM on a compute, its right interface on the VIP network
    const router = routers[0];
    if (!router) {
      notes.push(`loadbalancer ${name}: no virtual-router to run haproxy on yet`);
      continue;
    }
    const vmName = [...siFq, "1"].join("__");
    const vm = view.get<Obj>("virtual-machine", vmUuid(lb.uuid));
    if (!vm)
      writes.push({
        op: "create",
        type: "virtual-machine",
        body: {
          uuid: vmUuid(lb.uuid),
          fq_name: [vmName],
          service_instance_refs: [{ to: siFq, uuid: sUuid }],
        },
        why,
      });
    if (
      !view
        .list<Obj>("virtual-router")
        .some((vr) => refs(vr, "virtual_machine_refs").some((r) => r.uuid === vmUuid(lb.uuid)))
    )
      writes.push({
        op: "ref",
        type: "virtual-router",
        uuid: router.uuid,
        refType: "virtual-machine",
        refUuid: vmUuid(lb.uuid),
        operation: "ADD",
        why: `${why}: placed on ${router.fq_name.at(-1)}`,
      });
    const vmiUuid = siVmiUuid(lb.uuid);
    if (!view.get("virtual-machine-interface", vmiUuid))
      writes.push({
        op: "create",
        type: "virtual-machine-interface",
        body: {
          uuid: vmiUuid,
          fq_name: [...project, `${vmName}__${RIGHT}`],
          parent_type: "project",
          virtual_machine_interface_properties: { service_interface_type: RIGHT },
          virtual_machine_interface_mac_addresses: { mac_address: [macOf(vmiUuid)] },
          virtual_network_refs: [refTo(vn)],
          virtual_machine_refs: [{ to: [vmName], uuid: vmUuid(lb.uuid) }],
          security_group_refs: refs(vipVmi, "security_group_refs").map((r) => ({ to: r.to, uuid: r.uuid })),
          // the labels kube-manager gives the Ingress go to the interfaces serving it (vnc_ingress.py
          // remove_ingress_labels: its tags sit on VMIs kube-manager does not manage)
          tag_refs: refs(vipVmi, "tag_refs").map((r) => ({ to: r.to, uuid: r.uuid })),
        },
        why,
      });
    // the VIP and the floating IPs on the load balancer's VMI lead to the instance's interface
    const extend = (type: string, o: VncObject) => {
      if (!refs(o, "virtual_machine_interface_refs").some((r) => r.uuid === vmiUuid))
        writes.push({
          op: "ref",
          type,
          uuid: o.uuid,
          refType: "virtual-machine-interface",
          refUuid: vmiUuid,
          operation: "ADD",
          why: `${why}: ${type} leads to haproxy`,
        });
    };
    extend("instance-ip", vip);
    for (const fip of view.referrers<FloatingIp>("floating-ip", "virtual-machine-interface", vipVmi))
      extend("floating-ip", fip);
  }
  // what a load balancer no longer holds goes: refs to the instance's interface, the interface, VM, instance
  for (const si of view.list<Obj>("service-instance")) {
    const lbUuid = (
      si.service_instance_bindings as { key_value_pair?: { key: string; value: string }[] }
    )?.key_value_pair?.find((kv) => kv.key === "lb_uuid")?.value;
    if (!lbUuid || wantedSi.has(si.uuid) || siUuid(lbUuid) !== si.uuid) continue;
    const why = `loadbalancer ${lbUuid} is gone`;
    const vmi = view.get("virtual-machine-interface", siVmiUuid(lbUuid));
    if (vmi) {
      for (const type of ["instance-ip", "floating-ip"])
        for (const o of view.referrers(type, "virtual-machine-interface", vmi))
          writes.push({
            op: "ref",
            type,
            uuid: o.uuid,
            refType: "virtual-machine-interface",
            refUuid: vmi.uuid,
            operation: "DELETE",
            why,
          });
      writes.push({ op: "delete", type: "virtual-machine-interface", uuid: vmi.uuid, why });
    }
    const vm = view.get("virtual-machine", vmUuid(lbUuid));
    if (vm) {
      for (const vr of view.referrers("virtual-router", "virtual-machine", vm))
        writes.push({
          op: "ref",
          type: "virtual-router",
          uuid: vr.uuid,
          refType: "virtual-machine",
          refUuid: vm.uuid,
          operation: "DELETE",
          why,
        });
      writes.push({ op: "delete", type: "virtual-machine", uuid: vm.uuid, why });
    }
    writes.push({ op: "delete", type: "service-instance", uuid: si.uuid, why });
  }
  return { writes, notes };
}

export const haproxyDriver: Reconciler = {
  name: "svc-monitor-haproxy",
  watches: new Set([
    "loadbalancer",
    "loadbalancer-listener",
    "loadbalancer-pool",
    "loadbalancer-member",
    "virtual-machine-interface",
    "instance-ip",
    "floating-ip",
    "service-instance",
    "virtual-machine",
    "virtual-router",
  ]),
  plan: (view) => planHaproxyLoadbalancers(view),
};
