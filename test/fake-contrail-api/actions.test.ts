/** Action endpoints over real HTTP: name/id lookups, ref-update, prop collections, set-tag, kv, perms. */
import { describe, expect, it } from "vitest";
import { useApiServer } from "../support/api";
import { client, FQ } from "./helpers";

const api = useApiServer();
const c = client(() => api.url);

describe("name and id lookups", () => {
  it("fqname-to-id and id-to-fqname round-trip; unknown → 404", async () => {
    const vn = await c.create("virtual-network", { fq_name: FQ("lookup") });
    expect((await c.post("/fqname-to-id", { type: "virtual-network", fq_name: FQ("lookup") })).json).toEqual({
      uuid: vn,
    });
    expect((await c.post("/id-to-fqname", { uuid: vn })).json).toEqual({
      fq_name: FQ("lookup"),
      type: "virtual-network",
    });
    expect((await c.post("/fqname-to-id", { type: "virtual-network", fq_name: FQ("nope") })).status).toBe(
      404,
    );
    expect((await c.post("/id-to-fqname", { uuid: "3b1e8a2c-0000-4000-8000-000000000001" })).status).toBe(
      404,
    );
    expect((await c.post("/fqname-to-id", { type: "no-such-type", fq_name: ["x"] })).status).toBe(400);
  });
});

describe("ref-update", () => {
  it("ADD appends, ADD again replaces the attr, DELETE removes; refs by fq_name; errors", async () => {
    const pol = await c.create("network-policy", { fq_name: FQ("ru-pol") });
    const vn = await c.create("virtual-network", { fq_name: FQ("ru-vn") });
    const add = (attr: unknown) =>
      c.post("/ref-update", {
        type: "virtual-network",
        uuid: vn,
        "ref-type": "network-policy",
        "ref-uuid": pol,
        operation: "ADD",
        attr,
      });
    expect((await add({ sequence: { major: 1, minor: 0 } })).json).toEqual({ uuid: vn });
    await add({ sequence: { major: 2, minor: 0 } });
    let refs = (await c.read("virtual-network", vn)).network_policy_refs as { attr: unknown }[];
    expect(refs).toHaveLength(1);
    expect(refs[0].attr).toEqual({ sequence: { major: 2, minor: 0 } });
    const del = await c.post("/ref-update", {
      type: "virtual-network",
      uuid: vn,
      "ref-type": "network_policy",
      "ref-fq-name": FQ("ru-pol"),
      operation: "DELETE",
    });
    expect(del.status).toBe(200);
    refs = (await c.read("virtual-network", vn)).network_policy_refs as { attr: unknown }[];
    expect(refs).toBeUndefined();

    const base = { type: "virtual-network", uuid: vn, "ref-type": "network-policy" };
    expect((await c.post("/ref-update", { ...base, "ref-uuid": pol, operation: "MERGE" })).status).toBe(400);
    const missing = "3b1e8a2c-0000-4000-8000-00000000000a";
    expect((await c.post("/ref-update", { ...base, "ref-uuid": missing, operation: "ADD" })).status).toBe(
      404,
    );
    expect(
      (await c.post("/ref-update", { ...base, "ref-fq-name": FQ("nope"), operation: "ADD" })).status,
    ).toBe(404);
    expect(
      (await c.post("/ref-update", { ...base, "ref-uuid": pol, operation: "ADD", attr: { sequence: "x" } }))
        .status,
    ).toBe(400);
  });

  it("ref-update of a VN's IPAM ref completes the subnet like a create does", async () => {
    const ipam = await c.create("network-ipam", { fq_name: FQ("ru-ipam") });
    const vn = await c.create("virtual-network", { fq_name: FQ("ru-vn2") });
    await c.post("/ref-update", {
      type: "virtual-network",
      uuid: vn,
      "ref-type": "network-ipam",
      "ref-uuid": ipam,
      operation: "ADD",
      attr: { ipam_subnets: [{ subnet: { ip_prefix: "10.9.0.0", ip_prefix_len: 16 } }] },
    });
    const ref = (
      (await c.read("virtual-network", vn)).network_ipam_refs as {
        attr: { ipam_subnets: Record<string, unknown>[] };
      }[]
    )[0];
    expect(ref.attr.ipam_subnets[0]).toMatchObject({
      default_gateway: "10.9.255.254",
      dns_server_address: "10.9.255.253",
      subnet_uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });
});

describe("prop collections", () => {
  it("gets and updates map and list properties with positions", async () => {
    const vn = await c.create("virtual-network", { fq_name: FQ("pc-vn") });
    const vmi = await c.create("virtual-machine-interface", {
      fq_name: FQ("pc-vmi"),
      virtual_network_refs: [{ uuid: vn }],
      virtual_machine_interface_bindings: { key_value_pair: [{ key: "host_id", value: "node-1" }] },
    });
    const upd = await c.post("/prop-collection-update", {
      uuid: vmi,
      updates: [
        {
          field: "virtual_machine_interface_bindings",
          operation: "set",
          value: { key: "vnic_type", value: "direct" },
        },
        {
          field: "virtual_machine_interface_bindings",
          operation: "set",
          value: { key: "host_id", value: "node-2" },
        },
        {
          field: "virtual_machine_interface_fat_flow_protocols",
          operation: "add",
          value: { protocol: "tcp", port: 80 },
        },
        {
          field: "virtual_machine_interface_fat_flow_protocols",
          operation: "add",
          value: { protocol: "udp", port: 53 },
        },
        { field: "virtual_machine_interface_fat_flow_protocols", operation: "delete", position: 0 },
      ],
    });
    expect(upd.status).toBe(200);
    const got = await c.get(
      `/prop-collection-get?uuid=${vmi}&fields=virtual_machine_interface_bindings,virtual_machine_interface_fat_flow_protocols`,
    );
    expect(got.json.virtual_machine_interface_bindings).toEqual([
      [{ key: "host_id", value: "node-2" }, "host_id"],
      [{ key: "vnic_type", value: "direct" }, "vnic_type"],
    ]);
    expect(got.json.virtual_machine_interface_fat_flow_protocols).toEqual([
      [{ protocol: "udp", port: 53 }, "0"],
    ]);
    const one = await c.get(
      `/prop-collection-get?uuid=${vmi}&fields=virtual_machine_interface_bindings&position=vnic_type`,
    );
    expect(one.json.virtual_machine_interface_bindings).toEqual([
      [{ key: "vnic_type", value: "direct" }, "vnic_type"],
    ]);
    expect((await c.get(`/prop-collection-get?uuid=${vmi}&fields=display_name`)).status).toBe(400);
    expect((await c.get(`/prop-collection-get?uuid=${vmi}`)).status).toBe(400);
    const badOp = await c.post("/prop-collection-update", {
      uuid: vmi,
      updates: [
        { field: "virtual_machine_interface_bindings", operation: "add", value: { key: "a", value: "b" } },
      ],
    });
    expect(badOp.status).toBe(400);
    const badValue = await c.post("/prop-collection-update", {
      uuid: vmi,
      updates: [
        { field: "virtual_machine_interface_fat_flow_protocols", operation: "add", value: { protocol: 6 } },
      ],
    });
    expect(badValue.status).toBe(400);
  });
});

describe("tags", () => {
  it("names tags type=value, gives 0xTTTTVVVV ids, and set-tag swaps/clears/labels", async () => {
    const app = await c.create("tag", {
      fq_name: ["application=web"],
      tag_type_name: "application",
      tag_value: "web",
    });
    const tag = await c.read("tag", app);
    expect(tag.tag_id).toMatch(/^0x0001[0-9a-f]{4}$/);
    const created = await c.post("/tags", {
      tag: { fq_name: ["x"], tag_type_name: "Tier", tag_value: "db" },
    });
    expect(created.json.tag.fq_name).toEqual(["tier=db"]);
    const custom = await c.read(
      "tag",
      await c.create("tag", { fq_name: ["y"], tag_type_name: "color", tag_value: "red" }),
    );
    expect((custom.tag_type_refs as { to: string[] }[])[0].to).toEqual(["color"]);
    expect(custom.tag_id).toMatch(/^0x0[1-9a-f][0-9a-f]{2}[0-9a-f]{4}$/);
    await c.create("tag", { fq_name: ["application=db"], tag_type_name: "application", tag_value: "db" });
    await c.create("tag", { fq_name: ["label=x"], tag_type_name: "label", tag_value: "x" });
    await c.create("tag", { fq_name: ["label=y"], tag_type_name: "label", tag_value: "y" });

    const vn = await c.create("virtual-network", { fq_name: FQ("tagged") });
    const tagNames = async () =>
      (((await c.read("virtual-network", vn)).tag_refs ?? []) as { to: string[] }[])
        .map((r) => r.to.join(":"))
        .sort();
    const set = (body: Record<string, unknown>) =>
      c.post("/set-tag", { obj_type: "virtual-network", obj_uuid: vn, ...body });
    expect((await set({ application: { value: "web", is_global: true } })).status).toBe(200);
    expect(await tagNames()).toEqual(["application=web"]);
    await set({
      application: { value: "db", is_global: true },
      label: { add_values: ["x", "y"], is_global: true },
    });
    expect(await tagNames()).toEqual(["application=db", "label=x", "label=y"]);
    await set({ label: { delete_values: ["x"], is_global: true } });
    expect(await tagNames()).toEqual(["application=db", "label=y"]);
    await set({ application: null });
    expect(await tagNames()).toEqual(["label=y"]);
    expect((await set({ application: { value: "nope", is_global: true } })).status).toBe(404);
  });
});

describe("kv, perms", () => {
  it("useragent-kv stores, retrieves, deletes; unknown op 404", async () => {
    expect((await c.post("/useragent-kv", { operation: "STORE", key: "k1", value: "v1" })).status).toBe(200);
    expect((await c.post("/useragent-kv", { operation: "RETRIEVE", key: "k1" })).json).toEqual({
      value: "v1",
    });
    expect((await c.post("/useragent-kv", { operation: "RETRIEVE" })).json.value).toContainEqual({
      key: "k1",
      value: "v1",
    });
    await c.post("/useragent-kv", { operation: "DELETE", key: "k1" });
    expect((await c.post("/useragent-kv", { operation: "RETRIEVE", key: "k1" })).status).toBe(404);
    expect((await c.post("/useragent-kv", { operation: "FROB", key: "k1" })).status).toBe(404);
  });

  it("obj-perms answers for a known uuid; chown and chmod change perms2", async () => {
    const vn = await c.create("virtual-network", { fq_name: FQ("perms") });
    expect((await c.get(`/obj-perms?uuid=${vn}`)).json.permissions).toBe("RWX");
    expect((await c.get("/obj-perms?uuid=3b1e8a2c-0000-4000-8000-0000000000ff")).status).toBe(404);
    const owner = "5b1e8a2c-0000-4000-8000-0000000000aa";
    expect((await c.post("/chown", { uuid: vn, owner })).status).toBe(200);
    expect(((await c.read("virtual-network", vn)).perms2 as { owner: string }).owner).toBe(
      owner.replace(/-/g, ""),
    );
    const r = await c.post("/chmod", {
      uuid: vn,
      global_access: 5,
      share: [{ tenant: "t1", tenant_access: 4 }],
    });
    expect(r.status).toBe(200);
    const after = await c.read("virtual-network", vn);
    expect(after.perms2).toMatchObject({ global_access: 5, share: [{ tenant: "t1", tenant_access: 4 }] });
    expect(after.is_shared).toBe(true);
    expect((await c.post("/chmod", { uuid: vn, owner_access: 9 })).status).toBe(400);
  });
});
