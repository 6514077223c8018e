/**
 * The agents against the real fake config API: objects created over REST become forwarding tables, updates
 * and deletes follow, and the CNI's view through the port API matches the config.
 */
import { afterEach, describe, expect, it } from "vitest";
import { VncClient } from "../../controller/vnc/client";
import { startConfigDaemons } from "../../fake-contrail-api/daemons/index";
import { startApiServer } from "../../fake-contrail-api/server";
import { type Agents, startAgents } from "../../fake-vrouter/agent/index";
import type { VrouterTables } from "../../fake-vrouter/tables";

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

const PROJ = ["default-domain", "demo"];
const VN = [...PROJ, "net"];
const VRF = [...VN, "net"].join(":");

async function setup() {
  const api = await startApiServer({ port: 0, quiet: true });
  cleanup.push(() => api.close());
  const vnc = new VncClient(api.url);
  await vnc.create("project", { fq_name: PROJ, parent_type: "domain" });
  const ipam = await vnc.create("network-ipam", { fq_name: [...PROJ, "ipam"], parent_type: "project" });
  const vn = await vnc.create("virtual-network", {
    fq_name: VN,
    parent_type: "project",
    network_ipam_refs: [
      {
        to: [...PROJ, "ipam"],
        uuid: ipam.uuid,
        attr: { ipam_subnets: [{ subnet: { ip_prefix: "10.10.0.0", ip_prefix_len: 24 } }] },
      },
    ],
  });
  const vrs = [];
  for (const [name, ip] of [
    ["node-1", "172.16.0.11"],
    ["node-2", "172.16.0.12"],
  ])
    vrs.push(
      await vnc.create("virtual-router", {
        fq_name: ["default-global-system-config", name],
        parent_type: "global-system-config",
        virtual_router_ip_address: ip,
      }),
    );
  const agents = await startAgents({ apiUrl: api.url });
  cleanup.push(() => agents.stop());
  return { api, vnc, vn, vrs, agents };
}

async function addPod(vnc: VncClient, name: string, vnUuid: string, vrUuid: string, vnFq = VN) {
  const vm = await vnc.create("virtual-machine", { fq_name: [`k8s__demo__${name}`] });
  const vmi = await vnc.create("virtual-machine-interface", {
    fq_name: [...PROJ, `${name}__vmi`],
    parent_type: "project",
    virtual_network_refs: [{ to: vnFq, uuid: vnUuid }],
    virtual_machine_refs: [{ to: vm.fq_name, uuid: vm.uuid }],
  });
  const iip = await vnc.create("instance-ip", {
    fq_name: [`${name}__iip`],
    virtual_network_refs: [{ to: vnFq, uuid: vnUuid }],
    virtual_machine_interface_refs: [{ to: vmi.fq_name, uuid: vmi.uuid }],
  });
  await vnc.refUpdate("virtual-router", vrUuid, "virtual-machine", vm.uuid, "ADD");
  return { vm: vm.uuid, vmi: vmi.uuid, iip: iip.uuid };
}

function routes(t: VrouterTables | undefined) {
  return [...(t?.vrfs.values() ?? [])].find((v) => v.name === VRF)?.routes ?? [];
}

async function settle(agents: Agents, api: { seq(): number }) {
  await agents.whenCaughtUp(api.seq());
}

describe("agents on the real config API", () => {
  it("turns VN / VM / VMI / instance-ip / virtual-router into routes on both computes", async () => {
    const { api, vnc, vn, vrs, agents } = await setup();
    const a = await addPod(vnc, "a", vn.uuid, vrs[0].uuid);
    const b = await addPod(vnc, "b", vn.uuid, vrs[1].uuid);
    agents.plugPort("node-1", { vmUuid: a.vm, vmiUuid: a.vmi, hostIfname: "tapa" });
    agents.plugPort("node-2", { vmUuid: b.vm, vmiUuid: b.vmi, hostIfname: "tapb" });
    await settle(agents, api);
    const t1 = agents.tables("node-1")!;
    const t2 = agents.tables("node-2")!;
    const aIp = (await vnc.read("instance-ip", a.iip)).instance_ip_address as string;
    const bIp = (await vnc.read("instance-ip", b.iip)).instance_ip_address as string;
    const toB = routes(t1).find((r) => r.prefix === `${bIp}/32`)!;
    expect(t1.nextHops.get(toB.nh)).toMatchObject({ type: "tunnel", dstIp: "172.16.0.12" });
    expect(t2.nextHops.get(t2.labels.get(toB.label!)!)).toMatchObject({ type: "encap" });
    expect(t1.nextHops.get(routes(t1).find((r) => r.prefix === `${aIp}/32`)!.nh)?.type).toBe("encap");
    // the API's gateway for the subnet is a receive route
    const gw = (await vnc.read("virtual-network", vn.uuid)).network_ipam_refs[0].attr.ipam_subnets[0]
      .default_gateway;
    expect(t1.nextHops.get(routes(t1).find((r) => r.prefix === `${gw}/32`)!.nh)?.type).toBe("receive");
    expect(t1.configVersion).toBe(api.seq());
  });

  it("withdraws a pod's route when its instance-ip is deleted", async () => {
    const { api, vnc, vn, vrs, agents } = await setup();
    const a = await addPod(vnc, "a", vn.uuid, vrs[0].uuid);
    const b = await addPod(vnc, "b", vn.uuid, vrs[1].uuid);
    agents.plugPort("node-1", { vmUuid: a.vm, vmiUuid: a.vmi, hostIfname: "tapa" });
    agents.plugPort("node-2", { vmUuid: b.vm, vmiUuid: b.vmi, hostIfname: "tapb" });
    await settle(agents, api);
    const bIp = (await vnc.read("instance-ip", b.iip)).instance_ip_address as string;
    expect(routes(agents.tables("node-1")).some((r) => r.prefix === `${bIp}/32`)).toBe(true);
    await vnc.delete("instance-ip", b.iip);
    await settle(agents, api);
    expect(routes(agents.tables("node-1")).some((r) => r.prefix === `${bIp}/32`)).toBe(false);
  });

  it("serves the CNI flow over the port API: vm-cfg, POST /vm, GET /vm address", async () => {
    const { api, vnc, vn, vrs, agents } = await setup();
    const portApi = await agents.startPortApi("node-1", { port: 0 });
    cleanup.push(() => portApi.close());
    const a = await addPod(vnc, "a", vn.uuid, vrs[0].uuid);
    await settle(agents, api);
    const cfg = (await (await fetch(`${portApi.url}/vm-cfg/k8s__demo__a`)).json()) as Record<
      string,
      unknown
    >[];
    expect(cfg[0]).toMatchObject({ id: a.vmi, "vm-uuid": a.vm, "vn-id": vn.uuid, "vn-name": VN.join(":") });
    const post = await fetch(`${portApi.url}/vm`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        time: new Date().toISOString(),
        "vm-id": "abc",
        "vm-uuid": a.vm,
        "vm-name": "k8s__demo__a",
        "host-ifname": "tapeth0-abc",
        "vm-ifname": "eth0",
        "vm-namespace": "/var/run/netns/x",
        "vn-uuid": vn.uuid,
        "vmi-uuid": a.vmi,
      }),
    });
    expect(post.status).toBe(200);
    const info = (await (await fetch(`${portApi.url}/vm/${a.vm}/${a.vmi}`)).json()) as Record<
      string,
      unknown
    >;
    const iip = (await vnc.read("instance-ip", a.iip)).instance_ip_address;
    expect(info).toMatchObject({ "ip-address": iip, plen: 24, "mac-address": cfg[0]["mac-address"] });
    await settle(agents, api);
    expect([...agents.tables("node-1")!.vifs.values()].find((v) => v.name === "tapeth0-abc")?.ip).toBe(iip);
  });

  it("reads what the schema transformer derives: the compiled VN ACL and the policy leak", async () => {
    const { api, vnc, vn, vrs, agents } = await setup();
    const daemons = await startConfigDaemons({ apiUrl: api.url });
    cleanup.push(() => daemons.stop());
    const svc = await svcNetwork(vnc);
    const a = await addPod(vnc, "a", vn.uuid, vrs[0].uuid);
    const s = await addPod(vnc, "s", svc.uuid, vrs[1].uuid, SVC);
    agents.plugPort("node-1", { vmUuid: a.vm, vmiUuid: a.vmi, hostIfname: "tapa" });
    agents.plugPort("node-2", { vmUuid: s.vm, vmiUuid: s.vmi, hostIfname: "taps" });
    await daemons.whenCaughtUp(api.seq());
    await settle(agents, api);
    const sIp = (await vnc.read("instance-ip", s.iip)).instance_ip_address as string;
    const t1 = agents.tables("node-1")!;
    const r = routes(t1).find((x) => x.prefix === `${sIp}/32`);
    expect(r?.leakedBy).toBe(`network-policy ${[...PROJ, "pod-svc-np"].join(":")}`);
    expect(t1.nextHops.get(r!.nh)).toMatchObject({ type: "tunnel", dstIp: "172.16.0.12" });
    const vrf = [...t1.vrfs.values()].find((v) => v.name === VRF)!;
    const acl = t1.acls.get(vrf.networkPolicyAcl!);
    expect(
      acl?.rules.some((x) => x.action === "pass" && x.dst.kind === "vn" && x.dst.name === SVC.join(":")),
    ).toBe(true);
  });

  it("answers the address of a pod on a flat-subnet IPAM (Kubernetes R5 pod network)", async () => {
    const { api, vnc, vrs, agents } = await setup();
    const portApi = await agents.startPortApi("node-1", { port: 0 });
    cleanup.push(() => portApi.close());
    const ipam = await vnc.create("network-ipam", {
      fq_name: [...PROJ, "pod-ipam"],
      parent_type: "project",
      ipam_subnet_method: "flat-subnet",
      ipam_subnets: { subnets: [{ subnet: { ip_prefix: "10.32.0.0", ip_prefix_len: 12 } }] },
    });
    const PODS = [...PROJ, "pods"];
    const pods = await vnc.create("virtual-network", {
      fq_name: PODS,
      parent_type: "project",
      address_allocation_mode: "flat-subnet-only",
      network_ipam_refs: [{ to: ipam.fq_name, uuid: ipam.uuid, attr: { ipam_subnets: [] } }],
    });
    const a = await addPod(vnc, "a", pods.uuid, vrs[0].uuid, PODS);
    await settle(agents, api);
    await fetch(`${portApi.url}/vm`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        "vm-uuid": a.vm,
        "vmi-uuid": a.vmi,
        "host-ifname": "tapa",
        "vm-ifname": "eth0",
      }),
    });
    const info = (await (await fetch(`${portApi.url}/vm/${a.vm}/${a.vmi}`)).json()) as Record<
      string,
      unknown
    >;
    expect(info).toMatchObject({ "ip-address": "10.47.255.252", plen: 12, gateway: "10.47.255.254" });
    await settle(agents, api);
    const t = agents.tables("node-1")!;
    const vrf = [...t.vrfs.values()].find((v) => v.name === [...PODS, "pods"].join(":"))!;
    expect(t.nextHops.get(vrf.routes.find((r) => r.prefix === "10.47.255.254/32")!.nh)?.type).toBe("receive");
  });

  it("reads svc-monitor's ECMP VIP floating IP as a composite route", async () => {
    const { api, vnc, vn, vrs, agents } = await setup();
    const daemons = await startConfigDaemons({ apiUrl: api.url });
    cleanup.push(() => daemons.stop());
    const svc = await svcNetwork(vnc);
    const a = await addPod(vnc, "a", vn.uuid, vrs[0].uuid);
    const b = await addPod(vnc, "b", vn.uuid, vrs[1].uuid);
    agents.plugPort("node-1", { vmUuid: a.vm, vmiUuid: a.vmi, hostIfname: "tapa" });
    agents.plugPort("node-2", { vmUuid: b.vm, vmiUuid: b.vmi, hostIfname: "tapb" });
    const vipVmi = await vnc.create("virtual-machine-interface", {
      fq_name: [...PROJ, "lb-vmi"],
      parent_type: "project",
      virtual_network_refs: [{ to: SVC, uuid: svc.uuid }],
      annotations: {
        key_value_pair: [
          { key: "kind", value: "Service" },
          { key: "namespace", value: "demo" },
          { key: "name", value: "web" },
        ],
      },
    });
    const vip = await vnc.create("instance-ip", {
      fq_name: ["lb-iip"],
      virtual_network_refs: [{ to: SVC, uuid: svc.uuid }],
      virtual_machine_interface_refs: [{ to: vipVmi.fq_name, uuid: vipVmi.uuid }],
    });
    const lb = await vnc.create("loadbalancer", {
      fq_name: [...PROJ, "web-lb"],
      parent_type: "project",
      loadbalancer_provider: "native",
      virtual_machine_interface_refs: [{ to: vipVmi.fq_name, uuid: vipVmi.uuid }],
    });
    const listener = await vnc.create("loadbalancer-listener", {
      fq_name: [...PROJ, "web-80"],
      parent_type: "project",
      loadbalancer_refs: [{ to: lb.fq_name, uuid: lb.uuid }],
      loadbalancer_listener_properties: { protocol: "TCP", protocol_port: 80 },
    });
    const pool = await vnc.create("loadbalancer-pool", {
      fq_name: [...PROJ, "web-pool"],
      parent_type: "project",
      loadbalancer_listener_refs: [{ to: listener.fq_name, uuid: listener.uuid }],
    });
    for (const [name, vmi] of [
      ["m-a", a.vmi],
      ["m-b", b.vmi],
    ])
      await vnc.create("loadbalancer-member", {
        fq_name: [...pool.fq_name, name],
        parent_type: "loadbalancer-pool",
        loadbalancer_member_properties: { protocol_port: 8080, address: "0.0.0.0" },
        annotations: { key_value_pair: [{ key: "vmi", value: vmi }] },
      });
    await daemons.whenCaughtUp(api.seq());
    await settle(agents, api);
    const vipIp = (await vnc.read("instance-ip", vip.uuid)).instance_ip_address as string;
    const t1 = agents.tables("node-1")!;
    const r = routes(t1).find((x) => x.prefix === `${vipIp}/32`);
    expect(r?.origin?.k8s).toEqual({ kind: "Service", namespace: "demo", name: "web" });
    const comp = t1.nextHops.get(r!.nh);
    expect(comp?.type === "composite" && comp.members.length).toBe(2);
    const vifA = [...t1.vifs.values()].find((v) => v.vmi?.uuid === a.vmi)!;
    expect(vifA.floatingIps[0]).toMatchObject({
      address: vipIp,
      portMappings: [{ protocol: 6, srcPort: 80, dstPort: 8080 }],
    });
  });
});

const SVC = [...PROJ, "svc"];

/** A second VN joined to the pod VN by a `<>` pass policy attached to both (sequence 0.0). */
async function svcNetwork(vnc: VncClient) {
  const ipam = await vnc.readByFqName("network-ipam", [...PROJ, "ipam"]);
  const svc = await vnc.create("virtual-network", {
    fq_name: SVC,
    parent_type: "project",
    network_ipam_refs: [
      {
        to: ipam.fq_name,
        uuid: ipam.uuid,
        attr: { ipam_subnets: [{ subnet: { ip_prefix: "10.96.0.0", ip_prefix_len: 24 } }] },
      },
    ],
  });
  const np = await vnc.create("network-policy", {
    fq_name: [...PROJ, "pod-svc-np"],
    parent_type: "project",
    network_policy_entries: {
      policy_rule: [
        {
          direction: "<>",
          protocol: "any",
          src_addresses: [{ virtual_network: VN.join(":") }],
          dst_addresses: [{ virtual_network: SVC.join(":") }],
          src_ports: [{ start_port: -1, end_port: -1 }],
          dst_ports: [{ start_port: -1, end_port: -1 }],
          action_list: { simple_action: "pass" },
        },
      ],
    },
  });
  const vnUuid = await vnc.fqNameToId("virtual-network", VN);
  for (const u of [vnUuid, svc.uuid])
    await vnc.refUpdate("virtual-network", u, "network-policy", np.uuid, "ADD", {
      sequence: { major: 0, minor: 0 },
    });
  return svc;
}

describe("ctb vrouter --dump", () => {
  it("prints the compute's tables as JSON once caught up with the API", async () => {
    const { api, vnc, vn, vrs } = await setup();
    await addPod(vnc, "a", vn.uuid, vrs[0].uuid);
    const { main } = await import("../../fake-vrouter/agent/cli");
    let out = "";
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => {
      out += chunk;
      return true;
    }) as typeof process.stdout.write;
    try {
      await main(["--api", api.url, "--compute", "node-1", "--dump"]);
    } finally {
      process.stdout.write = write;
    }
    const dumped = JSON.parse(out) as Record<
      string,
      { compute: { fabricIp: string }; configVersion: number }
    >;
    expect(dumped["node-1"].compute.fabricIp).toBe("172.16.0.11");
    expect(dumped["node-1"].configVersion).toBe(api.seq());
  });

  it("rejects a bad port number with a clear error", async () => {
    const { main, VrouterCliError } = await import("../../fake-vrouter/agent/cli");
    await expect(main(["--port-api-port", "http"])).rejects.toThrow(VrouterCliError);
    await expect(main(["--bogus"])).rejects.toThrow(/Unknown option/);
  });
});
