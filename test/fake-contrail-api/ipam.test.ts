/** Address management: the pure allocator, and allocation through the API (user-defined and flat subnets, FIPs). */
import { beforeAll, describe, expect, it } from "vitest";
import {
  allocate,
  checkRequested,
  completeSubnet,
  type IpamError,
  macFromUuid,
  planSubnet,
} from "../../fake-contrail-api/ipam";
import { useApiServer } from "../support/api";
import { client, FQ } from "./helpers";

describe("pure allocator", () => {
  const s24 = { subnet: { ip_prefix: "10.0.0.0", ip_prefix_len: 24 } };

  it("defaults gateway to broadcast−1 and DNS to broadcast−2, or .1/.2 with addr_from_start", () => {
    expect(completeSubnet(s24, () => "u")).toMatchObject({
      default_gateway: "10.0.0.254",
      dns_server_address: "10.0.0.253",
      subnet_uuid: "u",
    });
    expect(completeSubnet({ ...s24, addr_from_start: true }, () => "u")).toMatchObject({
      default_gateway: "10.0.0.1",
      dns_server_address: "10.0.0.2",
    });
  });

  it("allocates top-down skipping reserved and taken addresses, upward with addr_from_start", () => {
    const plan = planSubnet(
      completeSubnet(s24, () => "u"),
      "u",
    );
    expect(allocate(plan, new Set())).toBe("10.0.0.252");
    expect(allocate(plan, new Set(["10.0.0.252"]))).toBe("10.0.0.251");
    const up = planSubnet(
      completeSubnet({ ...s24, addr_from_start: true }, () => "u"),
      "u",
    );
    expect(allocate(up, new Set())).toBe("10.0.0.3");
    const pool = planSubnet(
      completeSubnet({ ...s24, allocation_pools: [{ start: "10.0.0.10", end: "10.0.0.11" }] }, () => "u"),
      "u",
    );
    expect(allocate(pool, new Set(["10.0.0.11"]))).toBe("10.0.0.10");
    expect(allocate(pool, new Set(["10.0.0.11", "10.0.0.10"]))).toBeUndefined();
  });

  it("uses the hint only to start searching: freed addresses above it are found again", () => {
    const plan = planSubnet(
      completeSubnet(s24, () => "u"),
      "u",
    );
    const taken = new Set<string>();
    for (let i = 0; i < 5; i++) taken.add(allocate(plan, taken, [...taken].at(-1))!);
    taken.delete("10.0.0.252");
    expect(allocate(plan, taken, "10.0.0.248")).toBe("10.0.0.247");
    const full = new Set(
      Array.from({ length: 251 }, (_, i) => `10.0.0.${i + 1}`).filter((a) => a !== "10.0.0.252"),
    );
    expect(allocate(plan, full, "10.0.0.2")).toBe("10.0.0.252");
  });

  it("works for IPv6", () => {
    const plan = planSubnet(
      completeSubnet({ subnet: { ip_prefix: "fd00::", ip_prefix_len: 120 } }, () => "u"),
      "u",
    );
    expect(allocate(plan, new Set())).toBe("fd00::fc");
  });

  it("checks requested addresses: 400 gateway/outside, 409 taken", () => {
    const plan = planSubnet(
      completeSubnet(s24, () => "u"),
      "u",
    );
    expect(checkRequested(plan, "10.0.0.7", new Set())).toBe("10.0.0.7");
    const status = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as IpamError).status;
      }
      return 0;
    };
    expect(status(() => checkRequested(plan, "10.0.0.254", new Set()))).toBe(400);
    expect(status(() => checkRequested(plan, "10.0.1.1", new Set()))).toBe(400);
    expect(status(() => checkRequested(plan, "10.0.0.7", new Set(["10.0.0.7"])))).toBe(409);
    expect(status(() => planSubnet({ subnet: { ip_prefix: "10.0.0.0", ip_prefix_len: 33 } }, "u"))).toBe(400);
    expect(status(() => planSubnet({ subnet: { ip_prefix: "10.0.0", ip_prefix_len: 8 } }, "u"))).toBe(400);
  });

  it("derives the VMI MAC from the uuid", () => {
    expect(macFromUuid("de305d54-75b4-431b-adb2-eb6b9e546014")).toBe("02:de:30:5d:54:75");
  });
});

describe("allocation through the API", () => {
  const api = useApiServer();
  const c = client(() => api.url);
  let vn: string;
  let vmi: string;

  beforeAll(async () => {
    await c.create("network-ipam", { fq_name: FQ("ipam-user") });
    vn = await c.create("virtual-network", {
      fq_name: FQ("ipam-vn"),
      network_ipam_refs: [
        {
          to: FQ("ipam-user"),
          attr: {
            ipam_subnets: [
              { subnet: { ip_prefix: "10.10.0.0", ip_prefix_len: 24 } },
              { subnet: { ip_prefix: "10.20.0.0", ip_prefix_len: 24 }, addr_from_start: true },
            ],
          },
        },
      ],
    });
    vmi = await c.create("virtual-machine-interface", {
      fq_name: FQ("ipam-vmi"),
      virtual_network_refs: [{ uuid: vn }],
    });
  });

  const iip = (name: string, extra: Record<string, unknown> = {}) =>
    c.post("/instance-ips", {
      "instance-ip": {
        fq_name: [name],
        virtual_network_refs: [{ uuid: vn }],
        virtual_machine_interface_refs: [{ uuid: vmi }],
        ...extra,
      },
    });
  const addressOf = async (uuid: string) => (await c.read("instance-ip", uuid)).instance_ip_address;

  it("writes subnet uuid, gateway and DNS into the VN's IPAM ref, and gives the VMI its MAC", async () => {
    const ref = (
      (await c.read("virtual-network", vn)).network_ipam_refs as {
        attr: { ipam_subnets: Record<string, unknown>[] };
      }[]
    )[0];
    expect(ref.attr.ipam_subnets.map((s) => [s.default_gateway, s.dns_server_address])).toEqual([
      ["10.10.0.254", "10.10.0.253"],
      ["10.20.0.1", "10.20.0.2"],
    ]);
    const v = await c.read("virtual-machine-interface", vmi);
    expect(v.virtual_machine_interface_mac_addresses).toEqual({ mac_address: [macFromUuid(vmi)] });
  });

  it("allocates top-down from the first subnet, honours subnet_uuid, 409 taken, 400 gateway, releases on delete", async () => {
    const a = await iip("ip-a");
    expect(a.status).toBe(200);
    expect(await addressOf(a.json["instance-ip"].uuid)).toBe("10.10.0.252");
    const b = await iip("ip-b");
    expect(await addressOf(b.json["instance-ip"].uuid)).toBe("10.10.0.251");
    const second = (
      (await c.read("virtual-network", vn)).network_ipam_refs as {
        attr: { ipam_subnets: { subnet_uuid: string }[] };
      }[]
    )[0].attr.ipam_subnets[1].subnet_uuid;
    const s = await iip("ip-s", { subnet_uuid: second });
    expect(await addressOf(s.json["instance-ip"].uuid)).toBe("10.20.0.3");

    const taken = await iip("ip-taken", { instance_ip_address: "10.10.0.252" });
    expect(taken.status).toBe(409);
    expect((await iip("ip-gw", { instance_ip_address: "10.10.0.254" })).status).toBe(400);
    expect((await iip("ip-out", { instance_ip_address: "192.168.0.1" })).status).toBe(400);
    expect((await iip("ip-junk", { instance_ip_address: "not-an-ip" })).status).toBe(400);
    const fixed = await iip("ip-fixed", { instance_ip_address: "10.10.0.100" });
    expect(await addressOf(fixed.json["instance-ip"].uuid)).toBe("10.10.0.100");
    expect(
      (
        await c.put(`/instance-ip/${fixed.json["instance-ip"].uuid}`, {
          "instance-ip": { instance_ip_address: "10.10.0.101" },
        })
      ).status,
    ).toBe(400);

    expect((await c.del(`/instance-ip/${a.json["instance-ip"].uuid}`)).status).toBe(200);
    const again = await iip("ip-again", { instance_ip_address: "10.10.0.252" });
    expect(again.status).toBe(200);
  });

  it("refuses to drop a subnet that still has addresses", async () => {
    const r = await c.put(`/virtual-network/${vn}`, { "virtual-network": { network_ipam_refs: [] } });
    expect(r.status).toBe(409);
  });

  it("allocates from flat-subnet IPAMs shared by several VNs", async () => {
    const ipam = await c.create("network-ipam", {
      fq_name: FQ("pod-ipam"),
      ipam_subnet_method: "flat-subnet",
      ipam_subnets: { subnets: [{ subnet: { ip_prefix: "10.32.0.0", ip_prefix_len: 12 } }] },
    });
    const ipamObj = await c.read("network-ipam", ipam);
    const subnet = (ipamObj.ipam_subnets as { subnets: Record<string, string>[] }).subnets[0];
    expect(subnet.default_gateway).toBe("10.47.255.254");
    const mk = (name: string) =>
      c.create("virtual-network", {
        fq_name: FQ(name),
        address_allocation_mode: "flat-subnet-only",
        network_ipam_refs: [{ uuid: ipam, attr: { ipam_subnets: [] } }],
      });
    const v1 = await mk("flat-1");
    const v2 = await mk("flat-2");
    const attr = ((await c.read("virtual-network", v1)).network_ipam_refs as { attr: unknown }[])[0].attr;
    expect(attr).toEqual({ ipam_subnets: [{ subnet_uuid: subnet.subnet_uuid }] });
    const addrs: string[] = [];
    for (const [i, v] of [v1, v2].entries()) {
      const port = await c.create("virtual-machine-interface", {
        fq_name: FQ(`flat-port-${i}`),
        virtual_network_refs: [{ uuid: v }],
      });
      const ip = await c.create("instance-ip", {
        fq_name: [`flat-ip-${i}`],
        virtual_network_refs: [{ uuid: v }],
        virtual_machine_interface_refs: [{ uuid: port }],
      });
      addrs.push((await c.read("instance-ip", ip)).instance_ip_address as string);
    }
    expect(addrs).toEqual(["10.47.255.252", "10.47.255.251"]);
  });

  it("allocates floating IPs from the pool's VN and frees them on delete", async () => {
    await c.create("network-ipam", { fq_name: FQ("pub-ipam") });
    const pub = await c.create("virtual-network", {
      fq_name: FQ("public"),
      network_ipam_refs: [
        {
          to: FQ("pub-ipam"),
          attr: { ipam_subnets: [{ subnet: { ip_prefix: "203.0.113.0", ip_prefix_len: 28 } }] },
        },
      ],
    });
    const pool = await c.create("floating-ip-pool", { fq_name: [...FQ("public"), "pool"] });
    const fip = await c.create("floating-ip", {
      fq_name: [...FQ("public"), "pool", "f1"],
      project_refs: [{ to: ["default-domain", "default-project"] }],
    });
    expect((await c.read("floating-ip", fip)).floating_ip_address).toBe("203.0.113.12");
    const port = await c.create("virtual-machine-interface", {
      fq_name: FQ("pub-port"),
      virtual_network_refs: [{ uuid: pub }],
    });
    const ip = await c.create("instance-ip", {
      fq_name: ["pub-ip"],
      virtual_network_refs: [{ uuid: pub }],
      virtual_machine_interface_refs: [{ uuid: port }],
    });
    expect((await c.read("instance-ip", ip)).instance_ip_address).toBe("203.0.113.11");
    const dup = await c.post("/floating-ips", {
      "floating-ip": { fq_name: [...FQ("public"), "pool", "f2"], floating_ip_address: "203.0.113.11" },
    });
    expect(dup.status).toBe(409);
    expect((await c.del(`/floating-ip/${fip}`)).status).toBe(200);
    const again = await c.create("floating-ip", {
      fq_name: [...FQ("public"), "pool", "f3"],
      floating_ip_address: "203.0.113.12",
    });
    expect(again).toBeTruthy();
    expect(pool).toBeTruthy();
  });
});
