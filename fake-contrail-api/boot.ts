/**
 * The objects a freshly installed Contrail config API already holds: global system/vrouter config, default
 * domain/project/VN/IPAM, the default policy-management with the global application-policy-set (all_applications,
 * linked to the global vrouter config), the ip-fabric and __link_local__ VNs with their routing instances, the
 * `__no_rule__` security group and the predefined tag types. Idempotent: on restart only what is missing is created.
 * Example: `ensureBootObjects(svc); await store.commit()`.
 */
import type { ConfigService } from "./service";

export const GLOBAL_APS = ["default-policy-management", "global-application-policy-set"];

const PREDEFINED_TAG_TYPES = [
  "label",
  "application",
  "tier",
  "deployment",
  "site",
  "neutron_fwaas",
  "neutron_tag",
];

export function ensureBootObjects(svc: ConfigService): void {
  const have = (type: string, fq: string[]) => svc.store.byFqName(type, fq) !== undefined;
  const make = (type: string, body: Record<string, unknown>) => {
    if (!have(type, body.fq_name as string[])) svc.create(type, body);
  };
  PREDEFINED_TAG_TYPES.forEach((name, id) => {
    make("tag-type", { fq_name: [name], tag_type_id: `0x${id.toString(16).padStart(4, "0")}` });
  });
  make("policy-management", { fq_name: ["default-policy-management"] });
  const gsc = ["default-global-system-config"];
  make("global-system-config", { fq_name: gsc, autonomous_system: 64512 });
  const gvc = [...gsc, "default-global-vrouter-config"];
  make("global-vrouter-config", { fq_name: gvc, parent_type: "global-system-config" });
  // The global APS ties firewall policies to every vrouter; it is linked to the global vrouter config.
  make("application-policy-set", {
    fq_name: GLOBAL_APS,
    parent_type: "policy-management",
    all_applications: true,
    global_vrouter_config_refs: [{ to: gvc }],
  });
  make("domain", { fq_name: ["default-domain"] });
  const proj = ["default-domain", "default-project"];
  make("project", { fq_name: proj, parent_type: "domain" });
  make("network-ipam", { fq_name: [...proj, "default-network-ipam"], parent_type: "project" });
  make("virtual-network", { fq_name: [...proj, "default-virtual-network"], parent_type: "project" });
  make("virtual-network", {
    fq_name: [...proj, "ip-fabric"],
    parent_type: "project",
    is_provider_network: true,
    virtual_network_properties: { forwarding_mode: "l3", rpf: "enable", allow_transit: false },
  });
  make("routing-instance", {
    fq_name: [...proj, "ip-fabric", "__default__"],
    parent_type: "virtual-network",
    routing_instance_is_default: false,
  });
  make("virtual-network", { fq_name: [...proj, "__link_local__"], parent_type: "project" });
  make("security-group", { fq_name: [...proj, "__no_rule__"], parent_type: "project" });
}
