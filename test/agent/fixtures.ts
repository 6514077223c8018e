/**
 * Hand-built Contrail config for the agent tests: objects shaped like the config API serves them, applied
 * to a ConfigModel through change events. Example: `const c = new Cluster(); c.vn("red", "10.1.0.0/24");`
 */
import { randomUUID } from "node:crypto";
import { type ChangeEvent, ConfigModel, type VncData } from "../../fake-vrouter/agent/config-model";

export const PROJECT = ["default-domain", "p"];

type Ref = { to: string[]; uuid: string; attr?: unknown };

export class Cluster {
  readonly model = new ConfigModel();
  private seq = 0;
  private readonly objs = new Map<string, { type: string; data: VncData }>();

  /** `sink` also receives every change (a stub change stream serves them to agents). */
  constructor(private readonly sink?: (ev: ChangeEvent) => void) {
    this.put("domain", ["default-domain"], {});
    this.put("project", PROJECT, { parent_type: "domain" });
    this.put("project", ["default-domain", "default-project"], { parent_type: "domain" });
    this.put("global-system-config", ["default-global-system-config"], {});
    this.put("virtual-network", ["default-domain", "default-project", "ip-fabric"], {
      parent_type: "project",
    });
  }

  put(type: string, fq: string[], data: Record<string, unknown>, uuid = randomUUID()): string {
    const obj: VncData = { uuid, fq_name: fq, ...data };
    if (fq.length > 1 && !obj.parent_uuid && obj.parent_type) {
      const parent = this.model.byFqName(String(obj.parent_type), fq.slice(0, -1));
      if (parent) obj.parent_uuid = parent.uuid;
    }
    this.objs.set(uuid, { type, data: obj });
    this.emit({ seq: ++this.seq, op: "CREATE", type, uuid, fq_name: fq, obj });
    return uuid;
  }

  update(uuid: string, patch: Record<string, unknown>): void {
    const o = this.objs.get(uuid)!;
    o.data = { ...o.data, ...patch };
    this.emit({
      seq: ++this.seq,
      op: "UPDATE",
      type: o.type,
      uuid,
      fq_name: o.data.fq_name!,
      obj: o.data,
    });
  }

  delete(uuid: string): void {
    const o = this.objs.get(uuid)!;
    this.emit({ seq: ++this.seq, op: "DELETE", type: o.type, uuid, fq_name: o.data.fq_name! });
    this.objs.delete(uuid);
  }

  private emit(ev: ChangeEvent): void {
    this.model.apply(ev);
    this.sink?.(ev);
  }

  ref(uuid: string, attr?: unknown): Ref {
    const o = this.objs.get(uuid)!;
    return { to: o.data.fq_name!, uuid, ...(attr !== undefined ? { attr } : {}) };
  }

  data(uuid: string): VncData {
    return this.objs.get(uuid)!.data;
  }

  ipam(name = "ipam"): string {
    return this.put("network-ipam", [...PROJECT, name], { parent_type: "project" });
  }

  vn(name: string, cidr: string, extra: Record<string, unknown> = {}): string {
    const [prefix, len] = cidr.split("/");
    const ipam =
      this.model.byFqName("network-ipam", [...PROJECT, `${name}-ipam`])?.uuid ?? this.ipam(`${name}-ipam`);
    const vn = this.put("virtual-network", [...PROJECT, name], {
      parent_type: "project",
      network_ipam_refs: [
        this.ref(ipam, { ipam_subnets: [{ subnet: { ip_prefix: prefix, ip_prefix_len: Number(len) } }] }),
      ],
      ...extra,
    });
    this.put("routing-instance", [...PROJECT, name, name], { parent_type: "virtual-network" });
    return vn;
  }

  vrouter(name: string, ip: string): string {
    return this.put("virtual-router", ["default-global-system-config", name], {
      parent_type: "global-system-config",
      virtual_router_ip_address: ip,
      virtual_machine_refs: [],
    });
  }

  /** A pod: VM + VMI + instance-ip, placed on a vrouter. Returns the VMI uuid. */
  pod(
    name: string,
    vn: string,
    ip: string,
    vrouter: string,
    opts: { sgs?: string[]; tags?: string[]; k8s?: boolean; vmiExtra?: Record<string, unknown> } = {},
  ): { vmi: string; vm: string } {
    const vm = this.put("virtual-machine", [`k8s__ns__${name}`], { server_type: "container" });
    const annotations = opts.k8s
      ? {
          annotations: {
            key_value_pair: [
              { key: "kind", value: "Pod" },
              { key: "namespace", value: "ns" },
              { key: "name", value: name },
              { key: "index", value: "0/1" },
              { key: "network", value: "default" },
            ],
          },
        }
      : {};
    const vmi = this.put("virtual-machine-interface", [...PROJECT, `${name}__vmi`], {
      parent_type: "project",
      virtual_network_refs: [this.ref(vn)],
      virtual_machine_refs: [this.ref(vm)],
      security_group_refs: (opts.sgs ?? []).map((s) => this.ref(s)),
      tag_refs: (opts.tags ?? []).map((t) => this.ref(t)),
      ...annotations,
      ...opts.vmiExtra,
    });
    this.put("instance-ip", [`${name}__iip`], {
      instance_ip_address: ip,
      virtual_network_refs: [this.ref(vn)],
      virtual_machine_interface_refs: [this.ref(vmi)],
    });
    const vr = this.data(vrouter);
    this.update(vrouter, {
      virtual_machine_refs: [...((vr.virtual_machine_refs as Ref[]) ?? []), this.ref(vm)],
    });
    return { vmi, vm };
  }

  /** A network-policy with one pass rule between two VNs (by fq_name string), attached to `attach`. */
  policy(name: string, src: string, dst: string, direction: ">" | "<>", attach: string[]): string {
    const np = this.put("network-policy", [...PROJECT, name], {
      parent_type: "project",
      network_policy_entries: {
        policy_rule: [
          {
            direction,
            protocol: "any",
            src_addresses: [{ virtual_network: src }],
            dst_addresses: [{ virtual_network: dst }],
            src_ports: [{ start_port: -1, end_port: -1 }],
            dst_ports: [{ start_port: -1, end_port: -1 }],
            action_list: { simple_action: "pass" },
          },
        ],
      },
    });
    for (const vn of attach) {
      const refs = (this.data(vn).network_policy_refs as Ref[]) ?? [];
      this.update(vn, { network_policy_refs: [...refs, this.ref(np, { sequence: { major: 0, minor: 0 } })] });
    }
    return np;
  }

  fqs(uuid: string): string {
    return this.data(uuid).fq_name!.join(":");
  }
}
