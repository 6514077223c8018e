import { describe, expect, it } from "vitest";
import { ConfigMirror } from "../../fake-contrail-api/daemons/config-mirror";
import { planSchemaTransformer } from "../../fake-contrail-api/daemons/schema-transformer";
import { planNativeLoadbalancers } from "../../fake-contrail-api/daemons/svc-monitor";
import type { VncWrite } from "../../fake-contrail-api/daemons/vnc-http";
import type { VncObject } from "../../fake-contrail-api/daemons/vnc-objects";

const P = ["default-domain", "k8s-default"];
const o = (type: string, obj: VncObject) => ({ type, obj });
const project = o("project", { uuid: "proj", fq_name: P, parent_type: "domain" });

/** Applies create/update/delete writes to a mirror the way the API would (enough for the planners). */
function applyWrites(m: ConfigMirror, writes: VncWrite[]): void {
  let n = 0;
  for (const w of writes) {
    if (w.op === "delete") m.remove(w.uuid);
    else if (w.op === "update") {
      const type = m.typeOf(w.uuid)!;
      m.put(type, { ...m.get(type, w.uuid)!, ...w.body });
    } else if (w.op === "create") {
      const body = w.body as VncObject;
      m.put(w.type, { ...body, uuid: body.uuid ?? `new-${n++}` });
    }
  }
}

const bodyOf = (w: VncWrite): Record<string, unknown> => (w.op === "delete" || w.op === "ref" ? {} : w.body);

/** The API fills in parent_uuid on create; the planners' follow-up plans rely on it. */
const withParent = (writes: VncWrite[], parent_uuid: string): VncWrite[] =>
  writes.map((w) => (w.op === "create" ? { ...w, body: { ...w.body, parent_uuid } } : w));

describe("schema-transformer planner", () => {
  const pods = o("virtual-network", {
    uuid: "vn-pods",
    fq_name: [...P, "pods"],
    parent_type: "project",
    parent_uuid: "proj",
    network_policy_refs: [{ to: [...P, "np"], uuid: "np", attr: { sequence: { major: 0, minor: 0 } } }],
  });
  const np = o("network-policy", {
    uuid: "np",
    fq_name: [...P, "np"],
    parent_type: "project",
    parent_uuid: "proj",
    network_policy_entries: {
      policy_rule: [
        {
          direction: "<>",
          protocol: "any",
          src_addresses: [{ virtual_network: "local" }],
          dst_addresses: [{ virtual_network: "default-domain:default-project:ip-fabric" }],
          src_ports: [{ start_port: -1, end_port: -1 }],
          dst_ports: [{ start_port: -1, end_port: -1 }],
          action_list: { simple_action: "pass" },
        },
      ],
    },
  });

  it("creates the VN's ACL as a child named like the VN, and then stays quiet", () => {
    const m = ConfigMirror.of([project, pods, np]);
    const { writes } = planSchemaTransformer(m);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({
      op: "create",
      type: "access-control-list",
      body: { fq_name: [...P, "pods", "pods"], parent_type: "virtual-network" },
    });
    expect(bodyOf(writes[0]).access_control_list_entries).toMatchObject({ acl_rule: { length: 4 } });
    // The echo of our own write must not cause another write.
    applyWrites(m, withParent(writes, "vn-pods"));
    expect(planSchemaTransformer(m).writes).toEqual([]);
  });

  it("updates the ACL when the policy changes and deletes it when the policy is detached", () => {
    const m = ConfigMirror.of([project, pods, np]);
    applyWrites(m, withParent(planSchemaTransformer(m).writes, "vn-pods"));
    const acl = m.list("access-control-list")[0];
    const changed = structuredClone(np.obj) as VncObject & {
      network_policy_entries: { policy_rule: { protocol: string }[] };
    };
    changed.network_policy_entries.policy_rule[0].protocol = "udp";
    m.put("network-policy", changed);
    const upd = planSchemaTransformer(m).writes;
    expect(upd).toEqual([
      expect.objectContaining({ op: "update", uuid: acl.uuid, type: "access-control-list" }),
    ]);
    m.put("virtual-network", { ...pods.obj, network_policy_refs: [] });
    expect(planSchemaTransformer(m).writes).toEqual([
      expect.objectContaining({ op: "delete", uuid: acl.uuid, type: "access-control-list" }),
    ]);
  });

  it("recompiles a VN's ACL when another VN joins a policy it names as an address", () => {
    const mesh = o("network-policy", {
      uuid: "mesh",
      fq_name: [...P, "mesh"],
      parent_type: "project",
      parent_uuid: "proj",
      network_policy_entries: {
        policy_rule: [
          {
            direction: ">",
            protocol: "any",
            src_addresses: [{ virtual_network: "local" }],
            dst_addresses: [{ network_policy: [...P, "mesh"].join(":") }],
            action_list: { simple_action: "pass" },
          },
        ],
      },
    });
    const member = (name: string) =>
      o("virtual-network", {
        uuid: `vn-${name}`,
        fq_name: [...P, name],
        parent_type: "project",
        parent_uuid: "proj",
        network_policy_refs: [
          { to: [...P, "mesh"], uuid: "mesh", attr: { sequence: { major: 0, minor: 0 } } },
        ],
      });
    const m = ConfigMirror.of([project, mesh, member("a")]);
    applyWrites(m, withParent(planSchemaTransformer(m).writes, "vn-a"));
    expect(planSchemaTransformer(m).writes).toEqual([]);
    m.put("virtual-network", member("b").obj); // a's own object is unchanged, but its ACL must now name b
    const writes = planSchemaTransformer(m).writes;
    const forA = writes.find((w) => w.op === "update");
    expect(forA).toBeDefined();
    const rules = (
      bodyOf(forA!).access_control_list_entries as {
        acl_rule: { match_condition: { dst_address: unknown } }[];
      }
    ).acl_rule;
    expect(rules.map((r) => r.match_condition.dst_address)).toContainEqual({
      virtual_network: [...P, "b"].join(":"),
    });
  });

  it("allocates security_group_id from 8000000 upward for SGs without one, then compiles their ACLs", () => {
    const sg = (uuid: string, name: string, id?: number) =>
      o("security-group", {
        uuid,
        fq_name: [...P, name],
        parent_type: "project",
        parent_uuid: "proj",
        ...(id ? { security_group_id: id } : {}),
        security_group_entries: {
          policy_rule: [
            {
              direction: ">",
              protocol: "any",
              ethertype: "IPv4",
              src_addresses: [{ security_group: "local" }],
              dst_addresses: [{ subnet: { ip_prefix: "0.0.0.0", ip_prefix_len: 0 } }],
            },
          ],
        },
      });
    const m = ConfigMirror.of([project, sg("b", "sg-b"), sg("a", "sg-a"), sg("c", "sg-c", 8000004)]);
    const first = planSchemaTransformer(m).writes;
    expect(first.filter((w) => w.type === "security-group")).toEqual([
      expect.objectContaining({ op: "update", uuid: "a", body: { security_group_id: 8000005 } }),
      expect.objectContaining({ op: "update", uuid: "b", body: { security_group_id: 8000006 } }),
    ]);
    // sg-c already has an id: its two ACLs are created now.
    expect(first.filter((w) => w.op === "create").map((w) => bodyOf(w).fq_name)).toEqual([
      [...P, "sg-c", "ingress-access-control-list"],
      [...P, "sg-c", "egress-access-control-list"],
    ]);
    applyWrites(m, withParent(first, "c"));
    const second = planSchemaTransformer(m).writes;
    expect(second.map((w) => [w.op, w.type])).toEqual([
      ["create", "access-control-list"],
      ["create", "access-control-list"],
      ["create", "access-control-list"],
      ["create", "access-control-list"],
    ]);
  });
});

describe("svc-monitor native LB planner", () => {
  const vmi = (uuid: string) =>
    o("virtual-machine-interface", {
      uuid,
      fq_name: [...P, uuid],
      parent_type: "project",
      parent_uuid: "proj",
    });
  const lb = (provider = "native") =>
    o("loadbalancer", {
      uuid: "lb",
      fq_name: [...P, "web__lb"],
      parent_type: "project",
      parent_uuid: "proj",
      loadbalancer_provider: provider,
      loadbalancer_properties: { vip_address: "10.96.0.10" },
      virtual_machine_interface_refs: [{ to: [...P, "vip-vmi"], uuid: "vip-vmi" }],
    });
  const iip = o("instance-ip", {
    uuid: "vip-iip",
    fq_name: ["vip-iip"],
    instance_ip_address: "10.96.0.10",
    virtual_machine_interface_refs: [{ to: [...P, "vip-vmi"], uuid: "vip-vmi" }],
  });
  const listener = (uuid: string, port: number, protocol = "TCP") =>
    o("loadbalancer-listener", {
      uuid,
      fq_name: [...P, uuid],
      parent_type: "project",
      parent_uuid: "proj",
      loadbalancer_listener_properties: { protocol, protocol_port: port },
      loadbalancer_refs: [{ to: [...P, "web__lb"], uuid: "lb" }],
    });
  const pool = (uuid: string, listenerUuid: string) =>
    o("loadbalancer-pool", {
      uuid,
      fq_name: [...P, uuid],
      parent_type: "project",
      parent_uuid: "proj",
      loadbalancer_listener_refs: [{ to: [...P, listenerUuid], uuid: listenerUuid }],
    });
  const member = (uuid: string, poolUuid: string, vmiUuid: string, port: number) =>
    o("loadbalancer-member", {
      uuid,
      fq_name: [...P, poolUuid, uuid],
      parent_type: "loadbalancer-pool",
      parent_uuid: poolUuid,
      loadbalancer_member_properties: { protocol_port: port, weight: 1, admin_state: true },
      annotations: {
        key_value_pair: [
          { key: "vmi", value: vmiUuid },
          { key: "vm", value: `vm-${vmiUuid}` },
        ],
      },
    });
  const base = () => [
    project,
    vmi("vip-vmi"),
    vmi("pod-a"),
    vmi("pod-b"),
    lb(),
    iip,
    listener("l80", 80),
    listener("l53", 53, "UDP"),
    pool("p80", "l80"),
    pool("p53", "l53"),
    member("m1", "p80", "pod-a", 8080),
    member("m2", "p80", "pod-b", 8080),
    member("m3", "p53", "pod-a", 5353),
  ];

  it("creates one ingress floating IP under the VIP instance-ip, referencing every member VMI", () => {
    const { writes } = planNativeLoadbalancers(ConfigMirror.of(base()), () => "fip-1");
    expect(writes).toEqual([
      {
        op: "create",
        type: "floating-ip",
        why: expect.any(String),
        body: {
          uuid: "fip-1",
          fq_name: ["vip-iip", "fip-1"],
          parent_type: "instance-ip",
          floating_ip_address: "10.96.0.10",
          floating_ip_traffic_direction: "ingress",
          floating_ip_port_mappings_enable: true,
          floating_ip_port_mappings: {
            port_mappings: [
              { protocol: "UDP", src_port: 53, dst_port: 5353 },
              { protocol: "TCP", src_port: 80, dst_port: 8080 },
            ],
          },
          virtual_machine_interface_refs: [
            { to: [...P, "pod-a"], uuid: "pod-a" },
            { to: [...P, "pod-b"], uuid: "pod-b" },
          ],
          project_refs: [{ to: P, uuid: "proj" }],
        },
      },
    ]);
  });

  it("is quiet once the floating IP matches, and follows member removal", () => {
    const m = ConfigMirror.of(base());
    applyWrites(m, withParent(planNativeLoadbalancers(m, () => "fip-1").writes, "vip-iip"));
    expect(planNativeLoadbalancers(m).writes).toEqual([]);
    m.remove("m2");
    const { writes } = planNativeLoadbalancers(m);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({
      op: "update",
      uuid: "fip-1",
      body: { virtual_machine_interface_refs: [{ uuid: "pod-a" }] },
    });
  });

  it("deletes the floating IP when the last member goes and when the load balancer is deleted", () => {
    const m = ConfigMirror.of(base());
    applyWrites(m, withParent(planNativeLoadbalancers(m, () => "fip-1").writes, "vip-iip"));
    for (const id of ["m1", "m2", "m3"]) m.remove(id);
    expect(planNativeLoadbalancers(m).writes).toEqual([
      expect.objectContaining({ op: "delete", uuid: "fip-1" }),
    ]);

    const m2 = ConfigMirror.of(base());
    applyWrites(m2, withParent(planNativeLoadbalancers(m2, () => "fip-1").writes, "vip-iip"));
    m2.remove("lb");
    expect(planNativeLoadbalancers(m2).writes).toEqual([
      expect.objectContaining({ op: "delete", uuid: "fip-1" }),
    ]);
  });

  // kube-manager's external address: a floating IP from a pool on the load balancer VMI
  const extObj = {
    uuid: "ext",
    fq_name: ["default-domain", "admin", "public", "pool", "web__lbNone-externalIP"],
    parent_type: "floating-ip-pool",
    floating_ip_address: "203.0.113.252",
    floating_ip_traffic_direction: "both",
    virtual_machine_interface_refs: [{ to: [...P, "vip-vmi"], uuid: "vip-vmi" }],
  };
  const extFip = o("floating-ip", extObj);

  it("extends the load balancer VMI's pool floating IP to the members, as the native driver does", () => {
    const m = ConfigMirror.of([...base(), extFip]);
    const ext = planNativeLoadbalancers(m, () => "fip-1").writes.filter(
      (w) => w.type === "floating-ip" && w.op === "update",
    );
    expect(ext).toEqual([
      expect.objectContaining({
        op: "update",
        uuid: "ext",
        body: {
          floating_ip_traffic_direction: "ingress",
          floating_ip_fixed_ip_address: null,
          floating_ip_port_mappings_enable: true,
          floating_ip_port_mappings: {
            port_mappings: [
              { protocol: "UDP", src_port: 53, dst_port: 5353 },
              { protocol: "TCP", src_port: 80, dst_port: 8080 },
            ],
          },
          virtual_machine_interface_refs: [
            { to: [...P, "vip-vmi"], uuid: "vip-vmi" },
            { to: [...P, "pod-a"], uuid: "pod-a" },
            { to: [...P, "pod-b"], uuid: "pod-b" },
          ],
        },
      }),
    ]);
    applyWrites(m, withParent(planNativeLoadbalancers(m, () => "fip-1").writes, "vip-iip"));
    expect(planNativeLoadbalancers(m).writes).toEqual([]);
    // a member goes: its VMI leaves the external floating IP too
    m.remove("m2");
    const after = planNativeLoadbalancers(m).writes.find((w) => w.op === "update" && w.uuid === "ext");
    expect(bodyOf(after!).virtual_machine_interface_refs).toEqual([
      { to: [...P, "vip-vmi"], uuid: "vip-vmi" },
      { to: [...P, "pod-a"], uuid: "pod-a" },
    ]);
  });

  it("puts the external floating IP back on the load balancer VMI alone once no load balancer holds it; leaves other providers' alone", () => {
    const extended = o("floating-ip", {
      ...extObj,
      floating_ip_traffic_direction: "ingress",
      floating_ip_port_mappings_enable: true,
      floating_ip_port_mappings: { port_mappings: [{ protocol: "TCP", src_port: 80, dst_port: 8080 }] },
      virtual_machine_interface_refs: [
        { to: [...P, "vip-vmi"], uuid: "vip-vmi" },
        { to: [...P, "pod-a"], uuid: "pod-a" },
      ],
    });
    const world = (withLb: "none" | "opencontrail") =>
      ConfigMirror.of([
        ...base()
          .filter((x) => withLb !== "none" || x.type !== "loadbalancer")
          .map((x) =>
            x.type === "loadbalancer"
              ? lb(withLb)
              : x.obj.uuid === "vip-vmi"
                ? o(x.type, { ...x.obj, virtual_machine_interface_device_owner: "K8S:LOADBALANCER" })
                : x,
          ),
        extended,
      ]);
    expect(planNativeLoadbalancers(world("none")).writes).toEqual([
      expect.objectContaining({
        op: "update",
        uuid: "ext",
        body: expect.objectContaining({
          floating_ip_traffic_direction: "both",
          floating_ip_port_mappings_enable: false,
          virtual_machine_interface_refs: [{ to: [...P, "vip-vmi"], uuid: "vip-vmi" }],
        }),
      }),
    ]);
    expect(planNativeLoadbalancers(world("opencontrail")).writes).toEqual([]);
  });

  it("ignores load balancers of other providers and members whose VMI is unknown", () => {
    expect(
      planNativeLoadbalancers(
        ConfigMirror.of(base().map((x) => (x.type === "loadbalancer" ? lb("opencontrail") : x))),
      ).writes,
    ).toEqual([]);
    const onlyGhost = [
      ...base().filter((x) => x.type !== "loadbalancer-member"),
      member("m9", "p80", "ghost", 80),
    ];
    const plan = planNativeLoadbalancers(ConfigMirror.of(onlyGhost));
    expect(plan.writes).toEqual([]);
    expect(plan.notes.join()).toMatch(/m9 has no known "vmi"/);
  });

  describe("health monitors (native driver: service-health-check per monitored pool)", () => {
    const monitor = (type: string) =>
      o("loadbalancer-healthmonitor", {
        uuid: "hm",
        fq_name: [...P, "hm"],
        parent_type: "project",
        parent_uuid: "proj",
        loadbalancer_healthmonitor_properties: {
          monitor_type: type,
          delay: 3,
          timeout: 2,
          max_retries: 2,
          url_path: "/status",
        },
      });
    const monitored = (type = "HTTP") => {
      const objs = base().map((x) =>
        x.obj.uuid === "p80"
          ? { ...x, obj: { ...x.obj, loadbalancer_healthmonitor_refs: [{ to: [...P, "hm"], uuid: "hm" }] } }
          : x,
      );
      return [...objs, monitor(type)];
    };
    const shcWrites = (writes: VncWrite[]) =>
      writes.filter(
        (w) => w.type === "service-health-check" || (w.op === "ref" && w.refType === "service-health-check"),
      );

    it("makes a link-local check named after the pool in the monitor's project, and refers every member VMI to it", () => {
      const writes = shcWrites(planNativeLoadbalancers(ConfigMirror.of(monitored()), () => "shc-1").writes);
      expect(writes).toEqual([
        {
          op: "create",
          type: "service-health-check",
          why: expect.any(String),
          body: {
            uuid: "shc-1",
            fq_name: [...P, "p80-shc-1"],
            parent_type: "project",
            service_health_check_properties: {
              health_check_type: "link-local",
              enabled: true,
              monitor_type: "HTTP",
              delay: 3,
              timeout: 2,
              max_retries: 2,
              url_path: "/status",
            },
          },
        },
        expect.objectContaining({ op: "ref", uuid: "pod-a", refUuid: "shc-1", operation: "ADD" }),
        expect.objectContaining({ op: "ref", uuid: "pod-b", refUuid: "shc-1", operation: "ADD" }),
      ]);
    });

    it("maps PING and TCP monitors to PING on the interface's own address (url_path local-ip)", () => {
      const uuid = "0b6f3c1e-1111-4222-8333-944455556666";
      const [create] = shcWrites(
        planNativeLoadbalancers(ConfigMirror.of(monitored("TCP")), () => uuid).writes,
      );
      expect(bodyOf(create!).service_health_check_properties).toMatchObject({
        monitor_type: "PING",
        url_path: "local-ip",
      });
    });

    it("drops a member's ref when it leaves the pool, and the check when the pool's monitor goes", () => {
      const uuid = "0b6f3c1e-1111-4222-8333-944455556666";
      const m = ConfigMirror.of(monitored());
      const first = planNativeLoadbalancers(m, () => uuid).writes;
      applyWrites(m, withParent(first, "proj"));
      for (const w of first)
        if (w.op === "ref") {
          const v = m.get("virtual-machine-interface", w.uuid)!;
          m.put("virtual-machine-interface", {
            ...v,
            service_health_check_refs: [{ to: [...P, `p80-${uuid}`], uuid }],
          });
        }
      expect(shcWrites(planNativeLoadbalancers(m).writes)).toEqual([]);
      m.remove("m2");
      expect(shcWrites(planNativeLoadbalancers(m).writes)).toEqual([
        expect.objectContaining({ op: "ref", uuid: "pod-b", refUuid: uuid, operation: "DELETE" }),
      ]);
      m.put("loadbalancer-pool", {
        ...m.get("loadbalancer-pool", "p80")!,
        loadbalancer_healthmonitor_refs: [],
      });
      expect(shcWrites(planNativeLoadbalancers(m).writes)).toEqual([
        expect.objectContaining({ op: "ref", uuid: "pod-a", refUuid: uuid, operation: "DELETE" }),
        expect.objectContaining({ op: "ref", uuid: "pod-b", refUuid: uuid, operation: "DELETE" }),
        { op: "delete", type: "service-health-check", uuid, why: expect.any(String) },
      ]);
    });

    it("leaves a load balancer of another provider alone", () => {
      const objs = monitored().map((x) => (x.obj.uuid === "lb" ? lb("opencontrail") : x));
      expect(shcWrites(planNativeLoadbalancers(ConfigMirror.of(objs), () => "shc-1").writes)).toEqual([]);
    });
  });
});
