/**
 * The load-balancer service instances a compute runs (what the vrouter agent's netns instance adapter starts):
 * a virtual-machine the compute's virtual-router references, holding a service-instance ref whose bindings carry
 * `haproxy_config` (svc-monitor's haproxy driver); its interface is the port the service listens on. Pure.
 *
 * Example: `serviceInstancesOn(model, "node-1")` → `[{ lbUuid, vmiUuid, config: "global\n\tdaemon…" }]`.
 */
import type { ConfigModel } from "../agent/config-model";

export interface ServiceInstanceRun {
  /** The load balancer the instance serves (the Ingress's uid for kube-manager's). */
  lbUuid: string;
  siFq: string[];
  vmUuid: string;
  /** The instance's interface on the VIP network (the agent plugs it; its vif carries the VIP). */
  vmiUuid: string;
  config: string;
}

type Kv = { key: string; value: string };

export function serviceInstancesOn(model: ConfigModel, compute: string): ServiceInstanceRun[] {
  const vr = model.list("virtual-router").find((r) => r.fqName[r.fqName.length - 1] === compute);
  if (!vr) return [];
  const out: ServiceInstanceRun[] = [];
  for (const { target: vm } of model.refs(vr, "virtual-machine")) {
    const si = model.refs(vm, "service-instance")[0]?.target;
    if (!si) continue;
    const kv = ((si.data.service_instance_bindings as { key_value_pair?: Kv[] } | undefined)
      ?.key_value_pair ?? []) as Kv[];
    const config = kv.find((p) => p.key === "haproxy_config")?.value;
    const lbUuid = kv.find((p) => p.key === "lb_uuid")?.value;
    const vmi = model.backRefs(vm.uuid, "virtual-machine-interface")[0];
    if (config && lbUuid && vmi)
      out.push({ lbUuid, siFq: si.fqName, vmUuid: vm.uuid, vmiUuid: vmi.uuid, config });
  }
  return out.sort((a, b) => a.lbUuid.localeCompare(b.lbUuid));
}
