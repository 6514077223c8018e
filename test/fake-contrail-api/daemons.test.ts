/**
 * The config daemons against the real fake config API over HTTP: network policies and security groups
 * compile into ACLs, native load balancers get their ECMP floating IP, and the daemons settle (no feedback
 * loop with their own writes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConfigDaemons, startConfigDaemons } from "../../fake-contrail-api/daemons";
import type { AclEntriesType } from "../../fake-contrail-api/daemons/vnc-objects";
import { startApiServer } from "../../fake-contrail-api/server";

type Obj = Record<string, unknown> & { uuid: string; fq_name: string[] };

let api: Awaited<ReturnType<typeof startApiServer>>;
let daemons: ConfigDaemons;
const logs: string[] = [];

async function call(method: string, path: string, body?: unknown, base = api.url): Promise<unknown> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
const create = async (type: string, body: Record<string, unknown>): Promise<Obj> => {
  const out = (await call("POST", `/${type}s`, { [type]: body })) as Record<string, Obj>;
  return read(type, out[type].uuid);
};
const read = async (type: string, uuid: string): Promise<Obj> =>
  ((await call("GET", `/${type}/${uuid}`)) as Record<string, Obj>)[type];
const update = (type: string, uuid: string, body: Record<string, unknown>) =>
  call("PUT", `/${type}/${uuid}`, { [type]: body });
const remove = (type: string, uuid: string) => call("DELETE", `/${type}/${uuid}`);
const list = async (type: string, query: string): Promise<Obj[]> =>
  ((await call("GET", `/${type}s?detail=true&${query}`)) as Record<string, Record<string, Obj>[]>)[
    `${type}s`
  ].map((x) => x[type]);
const ref = (o: Obj, attr?: unknown) => ({ to: o.fq_name, uuid: o.uuid, ...(attr ? { attr } : {}) });

/** Waits until the daemons have applied everything, including what their own writes caused. */
async function settle(): Promise<number> {
  for (;;) {
    const { seq } = (await call("GET", "/watch-position")) as { seq: number };
    await daemons.whenCaughtUp(seq);
    const after = ((await call("GET", "/watch-position")) as { seq: number }).seq;
    if (after === seq) return seq;
  }
}

const P = ["default-domain", "ctb-daemons"];
const vn = async (name: string, cidr: string) => {
  const ipam = await read(
    "network-ipam",
    (
      (await call("POST", "/fqname-to-id", {
        type: "network-ipam",
        fq_name: ["default-domain", "default-project", "default-network-ipam"],
      })) as { uuid: string }
    ).uuid,
  );
  const [prefix, len] = cidr.split("/");
  return create("virtual-network", {
    fq_name: [...P, name],
    parent_type: "project",
    network_ipam_refs: [
      ref(ipam, { ipam_subnets: [{ subnet: { ip_prefix: prefix, ip_prefix_len: Number(len) } }] }),
    ],
  });
};

beforeAll(async () => {
  api = await startApiServer({ port: 0, quiet: true });
  daemons = await startConfigDaemons({ apiUrl: api.url, log: (d, m) => logs.push(`[${d}] ${m}`) });
  await create("project", { fq_name: P, parent_type: "domain" });
});

afterAll(async () => {
  await daemons?.stop();
  await api?.close();
});

describe("schema-transformer", () => {
  it("compiles an attached network policy into the VN's ACL and removes it when detached", async () => {
    const pods = await vn("pods", "10.32.0.0/24");
    const svc = await vn("services", "10.96.0.0/24");
    const np = await create("network-policy", {
      fq_name: [...P, "pods-to-services"],
      parent_type: "project",
      network_policy_entries: {
        policy_rule: [
          {
            direction: "<>",
            protocol: "tcp",
            src_addresses: [{ virtual_network: "local" }],
            dst_addresses: [{ virtual_network: svc.fq_name.join(":") }],
            src_ports: [{ start_port: 0, end_port: 65535 }],
            dst_ports: [{ start_port: 80, end_port: 80 }],
            action_list: { simple_action: "pass" },
          },
        ],
      },
    });
    await update("virtual-network", pods.uuid, {
      network_policy_refs: [ref(np, { sequence: { major: 0, minor: 0 } })],
    });
    await settle();

    const acls = await list("access-control-list", `parent_id=${pods.uuid}`);
    expect(acls.map((a) => a.fq_name)).toEqual([[...pods.fq_name, "pods"]]);
    const rules = (acls[0].access_control_list_entries as AclEntriesType).acl_rule;
    expect(
      rules.map((r) => [
        r.match_condition.src_address.virtual_network,
        r.match_condition.dst_address.virtual_network,
        r.match_condition.protocol,
        r.action_list.simple_action,
      ]),
    ).toEqual([
      [pods.fq_name.join(":"), svc.fq_name.join(":"), "6", "pass"],
      [svc.fq_name.join(":"), pods.fq_name.join(":"), "6", "pass"], // the <> rule's reverse
      [pods.fq_name.join(":"), pods.fq_name.join(":"), "any", "pass"],
      ["any", "any", "any", "deny"],
    ]);
    expect(rules[0].match_condition.dst_port).toEqual({ start_port: 80, end_port: 80 });
    expect(rules[1].match_condition.src_port).toEqual({ start_port: 80, end_port: 80 });
    // the services VN has no policy attached: no ACL
    expect(await list("access-control-list", `parent_id=${svc.uuid}`)).toEqual([]);

    await update("virtual-network", pods.uuid, { network_policy_refs: [] });
    await settle();
    expect(await list("access-control-list", `parent_id=${pods.uuid}`)).toEqual([]);
  });

  it("compiles security-group rules into ingress and egress ACLs, peers by security_group_id", async () => {
    const web = await create("security-group", { fq_name: [...P, "web-sg"], parent_type: "project" });
    const db = await create("security-group", {
      fq_name: [...P, "db-sg"],
      parent_type: "project",
      security_group_entries: {
        policy_rule: [
          {
            direction: ">",
            protocol: "tcp",
            ethertype: "IPv4",
            src_addresses: [{ security_group: web.fq_name.join(":") }],
            dst_addresses: [{ security_group: "local" }],
            dst_ports: [{ start_port: 5432, end_port: 5432 }],
          },
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
    await settle();
    const webId = Number((await read("security-group", web.uuid)).security_group_id);
    expect(webId).toBeGreaterThanOrEqual(8_000_000);
    const acls = await list("access-control-list", `parent_id=${db.uuid}`);
    const byName = new Map(
      acls.map((a) => [a.fq_name.at(-1), (a.access_control_list_entries as AclEntriesType).acl_rule]),
    );
    expect([...byName.keys()].sort()).toEqual(["egress-access-control-list", "ingress-access-control-list"]);
    expect(
      byName
        .get("ingress-access-control-list")
        ?.map((r) => [
          r.match_condition.src_address,
          r.match_condition.protocol,
          r.match_condition.dst_port.start_port,
        ]),
    ).toEqual([[{ security_group: String(webId) }, "6", 5432]]);
    expect(byName.get("egress-access-control-list")?.map((r) => r.match_condition.dst_address)).toEqual([
      { subnet: { ip_prefix: "0.0.0.0", ip_prefix_len: 0 } },
    ]);
  });
});

describe("svc-monitor native load balancer", () => {
  it("keeps one ECMP floating IP on the VIP in step with the members, and removes it with the LB", async () => {
    const net = await vn("svc-net", "10.97.0.0/24");
    const vmi = (name: string) =>
      create("virtual-machine-interface", {
        fq_name: [...P, name],
        parent_type: "project",
        virtual_network_refs: [ref(net)],
      });
    const vip = await vmi("vip-vmi");
    const podA = await vmi("pod-a");
    const podB = await vmi("pod-b");
    const iip = await create("instance-ip", {
      fq_name: ["vip-iip"],
      instance_ip_address: "10.97.0.10",
      virtual_network_refs: [ref(net)],
      virtual_machine_interface_refs: [ref(vip)],
    });
    const lb = await create("loadbalancer", {
      fq_name: [...P, "web__lb"],
      parent_type: "project",
      loadbalancer_provider: "native",
      loadbalancer_properties: { vip_address: "10.97.0.10" },
      virtual_machine_interface_refs: [ref(vip)],
    });
    const listener = await create("loadbalancer-listener", {
      fq_name: [...P, "web-TCP-80"],
      parent_type: "project",
      loadbalancer_listener_properties: { protocol: "TCP", protocol_port: 80 },
      loadbalancer_refs: [ref(lb)],
    });
    const pool = await create("loadbalancer-pool", {
      fq_name: [...P, "web-pool"],
      parent_type: "project",
      loadbalancer_pool_properties: { protocol: "TCP", loadbalancer_method: "ROUND_ROBIN" },
      loadbalancer_listener_refs: [ref(listener)],
    });
    const member = (name: string, vmiObj: Obj) =>
      create("loadbalancer-member", {
        fq_name: [...pool.fq_name, name],
        parent_type: "loadbalancer-pool",
        loadbalancer_member_properties: { protocol_port: 8080, weight: 1, admin_state: true },
        annotations: {
          key_value_pair: [
            { key: "vmi", value: vmiObj.uuid },
            { key: "vm", value: "vm" },
          ],
        },
      });
    await member("m-a", podA);
    const mB = await member("m-b", podB);
    await settle();

    let fips = await list("floating-ip", `parent_id=${iip.uuid}`);
    expect(fips).toHaveLength(1);
    expect(fips[0]).toMatchObject({
      floating_ip_address: "10.97.0.10",
      floating_ip_traffic_direction: "ingress",
      floating_ip_port_mappings_enable: true,
      floating_ip_port_mappings: { port_mappings: [{ protocol: "TCP", src_port: 80, dst_port: 8080 }] },
    });
    const refUuids = (f: Obj) =>
      ((f.virtual_machine_interface_refs as { uuid: string }[]) ?? []).map((r) => r.uuid).sort();
    expect(refUuids(fips[0])).toEqual([podA.uuid, podB.uuid].sort());

    await remove("loadbalancer-member", mB.uuid);
    await settle();
    fips = await list("floating-ip", `parent_id=${iip.uuid}`);
    expect(fips.map(refUuids)).toEqual([[podA.uuid]]);

    for (const [t, o] of [
      ["loadbalancer-member", null],
      ["loadbalancer-pool", pool],
      ["loadbalancer-listener", listener],
      ["loadbalancer", lb],
    ] as const) {
      if (o) await remove(t, o.uuid);
      else
        for (const m of await list("loadbalancer-member", `parent_id=${pool.uuid}`)) await remove(t, m.uuid);
    }
    await settle();
    expect(await list("floating-ip", `parent_id=${iip.uuid}`)).toEqual([]);
  });

  it("reports every daemon caught up with the stream and no write failures", async () => {
    const seq = await settle();
    expect(daemons.appliedSeq()).toBeGreaterThanOrEqual(seq);
    expect(logs.filter((l) => /failed|does not converge/.test(l))).toEqual([]);
  });
});

describe("config daemons across an API server restart", () => {
  it("reconnect, resume from their last position and keep deriving", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-daemons-"));
    const dbPath = join(dir, "api.json");
    let server = await startApiServer({ port: 0, quiet: true, dbPath });
    const restartLogs: string[] = [];
    const d = await startConfigDaemons({
      apiUrl: server.url,
      log: (n, m) => restartLogs.push(`[${n}] ${m}`),
    });
    try {
      const post = async (type: string, body: Record<string, unknown>) =>
        ((await call("POST", `/${type}s`, { [type]: body }, server.url)) as Record<string, Obj>)[type];
      const putRefs = (uuid: string, refs: unknown[]) =>
        call(
          "PUT",
          `/virtual-network/${uuid}`,
          { "virtual-network": { network_policy_refs: refs } },
          server.url,
        );
      const position = async () =>
        ((await call("GET", "/watch-position", undefined, server.url)) as { seq: number }).seq;
      const settleHere = async () => {
        for (;;) {
          const seq = await position();
          await d.whenCaughtUp(seq);
          if ((await position()) === seq) return;
        }
      };
      const Q = ["default-domain", "ctb-restart"];
      await post("project", { fq_name: Q, parent_type: "domain" });
      const np = await post("network-policy", {
        fq_name: [...Q, "np"],
        parent_type: "project",
        network_policy_entries: {
          policy_rule: [
            {
              direction: ">",
              protocol: "any",
              src_addresses: [{ virtual_network: "local" }],
              dst_addresses: [{ virtual_network: "any" }],
              action_list: { simple_action: "pass" },
            },
          ],
        },
      });
      const net = await post("virtual-network", { fq_name: [...Q, "vn"], parent_type: "project" });
      const aclCount = async () =>
        (
          (await call(
            "GET",
            `/access-control-lists?parent_id=${net.uuid}&count=true`,
            undefined,
            server.url,
          )) as {
            "access-control-lists": { count: number };
          }
        )["access-control-lists"].count;
      await putRefs(net.uuid, [ref(np, { sequence: { major: 0, minor: 0 } })]);
      await settleHere();
      expect(await aclCount()).toBe(1);

      await server.close();
      server = await startApiServer({ port: server.port, quiet: true, dbPath });
      await putRefs(net.uuid, []);
      await settleHere();
      expect(await aclCount()).toBe(0);
      // the stream did drop and come back (logged), and no write failed
      expect(restartLogs.some((l) => l.includes("change stream"))).toBe(true);
      expect(restartLogs.filter((l) => l.includes("failed:"))).toEqual([]);
    } finally {
      await d.stop();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
