/** CRUD over real HTTP: boot objects, create defaults and refusals, GET shaping/ETag, partial PUT, delete rules. */
import { describe, expect, it } from "vitest";
import { useApiServer } from "../support/api";
import { client, FQ } from "./helpers";

const api = useApiServer();
const c = client(() => api.url);

const idOf = async (type: string, fq: string[]) =>
  (await c.post("/fqname-to-id", { type, fq_name: fq })).json.uuid;

describe("root and boot objects", () => {
  it("GET / lists collections, resource bases and the actions vnc_api looks up", async () => {
    const r = await c.get("/");
    expect(r.status).toBe(200);
    const links = r.json.links.map((l: { link: { name: string; rel: string; href: string } }) => l.link);
    expect(links).toContainEqual({
      href: `${api.url}/virtual-networks`,
      name: "virtual-network",
      rel: "collection",
    });
    expect(links).toContainEqual({ href: `${api.url}/virtual-DNSs`, name: "virtual-DNS", rel: "collection" });
    expect(links).toContainEqual({
      href: `${api.url}/network-policy`,
      name: "network-policy",
      rel: "resource-base",
    });
    expect(links).toContainEqual({ href: `${api.url}/fqname-to-id`, name: "name-to-id", rel: "action" });
    expect(links).toContainEqual({
      href: `${api.url}/useragent-kv`,
      name: "useragent-keyvalue",
      rel: "action",
    });
    expect(links.filter((l: { rel: string }) => l.rel === "root")).toHaveLength(1);
  });

  it("has the global config, default domain/project/VN/IPAM, fabric VNs and tag types", async () => {
    const gsc = await c.read(
      "global-system-config",
      await idOf("global-system-config", ["default-global-system-config"]),
    );
    expect(gsc.autonomous_system).toBe(64512);
    const gvc = await c.read(
      "global-vrouter-config",
      await idOf("global-vrouter-config", ["default-global-system-config", "default-global-vrouter-config"]),
    );
    const aps = (gvc.application_policy_set_back_refs as { to: string[] }[])[0];
    expect(aps.to).toEqual(["default-policy-management", "global-application-policy-set"]);
    const apsUuid = await idOf("application-policy-set", aps.to);
    expect((await c.read("application-policy-set", apsUuid)).all_applications).toBe(true);
    expect((await c.del(`/application-policy-set/${apsUuid}`)).status).toBe(400);
    for (const fq of [FQ("default-virtual-network"), FQ("ip-fabric"), FQ("__link_local__")])
      expect(await idOf("virtual-network", fq)).toBeTruthy();
    expect(await idOf("network-ipam", FQ("default-network-ipam"))).toBeTruthy();
    expect(await idOf("security-group", FQ("__no_rule__"))).toBeTruthy();
    const fabric = await c.read("virtual-network", await idOf("virtual-network", FQ("ip-fabric")));
    expect(fabric.is_provider_network).toBe(true);
    const ris = (fabric.routing_instances as { to: string[] }[]).map((r) => r.to.at(-1)).sort();
    expect(ris).toEqual(["__default__", "ip-fabric"]);
    const tagTypes = (await c.get("/tag-types?detail=true")).json["tag-types"].map(
      (t: { "tag-type": { name: string; tag_type_id: string } }) => [
        t["tag-type"].name,
        t["tag-type"].tag_type_id,
      ],
    );
    expect(tagTypes).toEqual(
      expect.arrayContaining([
        ["label", "0x0000"],
        ["application", "0x0001"],
        ["tier", "0x0002"],
        ["deployment", "0x0003"],
        ["site", "0x0004"],
        ["neutron_fwaas", "0x0005"],
        ["neutron_tag", "0x0006"],
      ]),
    );
    const proj = await c.read("project", await idOf("project", ["default-domain", "default-project"]));
    expect((proj.application_policy_sets as { to: string[] }[]).map((x) => x.to.at(-1))).toContain(
      "default-application-policy-set",
    );
  });
});

describe("create", () => {
  it("fills uuid, id_perms, perms2, display_name, default RI and network id", async () => {
    const projUuid = await c.create("project", { fq_name: ["default-domain", "tenant-a"] });
    const project = await c.read("project", projUuid);
    expect((project.perms2 as { owner: string }).owner).toBe(projUuid.replace(/-/g, ""));
    const apsList = (project.application_policy_set_refs as { to: string[] }[]).map((r) => r.to);
    expect(apsList).toEqual([["default-domain", "tenant-a", "default-application-policy-set"]]);

    const r = await c.post("/virtual-networks", {
      "virtual-network": { fq_name: ["default-domain", "tenant-a", "blue"], parent_type: "project" },
    });
    expect(r.status).toBe(200);
    const created = r.json["virtual-network"];
    expect(created).toMatchObject({
      name: "blue",
      fq_name: ["default-domain", "tenant-a", "blue"],
      parent_type: "project",
      parent_uuid: projUuid,
      href: `${api.url}/virtual-network/${created.uuid}`,
      parent_href: `${api.url}/project/${projUuid}`,
    });
    const vn = await c.read("virtual-network", created.uuid);
    expect(vn.display_name).toBe("blue");
    const idPerms = vn.id_perms as Record<string, unknown>;
    expect(idPerms).toMatchObject({
      enable: true,
      user_visible: true,
      permissions: {
        owner: "cloud-admin",
        owner_access: 7,
        group: "cloud-admin-group",
        group_access: 7,
        other_access: 7,
      },
    });
    const hex = created.uuid.replace(/-/g, "");
    expect((idPerms.uuid as { uuid_mslong: number }).uuid_mslong).toBe(
      Number(BigInt(`0x${hex.slice(0, 16)}`)),
    );
    expect(vn.perms2).toEqual({
      owner: projUuid.replace(/-/g, ""),
      owner_access: 7,
      global_access: 0,
      share: [],
    });
    expect((vn.routing_instances as { to: string[] }[])[0].to).toEqual([
      "default-domain",
      "tenant-a",
      "blue",
      "blue",
    ]);
    expect(typeof vn.virtual_network_network_id).toBe("number");
    const other = await c.read(
      "virtual-network",
      await c.create("virtual-network", { fq_name: FQ("net-id-2") }),
    );
    expect(other.virtual_network_network_id).not.toBe(vn.virtual_network_network_id);
  });

  it("accepts name + parent_uuid instead of fq_name, and a top-level object by name", async () => {
    const proj = await idOf("project", ["default-domain", "default-project"]);
    const r = await c.post("/network-policys", {
      "network-policy": { name: "np-by-parent", parent_uuid: proj },
    });
    expect(r.status).toBe(200);
    expect(r.json["network-policy"].fq_name).toEqual(FQ("np-by-parent"));
    const vm = await c.post("/virtual-machines", { "virtual-machine": { name: "vm-by-name" } });
    expect(vm.json["virtual-machine"].fq_name).toEqual(["vm-by-name"]);
  });

  it("refuses bad creates with the documented statuses and plain-text reasons", async () => {
    const cases: Array<[unknown, number, RegExp]> = [
      [{ display_name: "x" }, 400, /no fq_name in POST body/],
      [{ fq_name: FQ("a:b") }, 400, /':'/],
      [{ fq_name: ["default-domain", "nope", "x"] }, 400, /not found/i],
      [{ fq_name: ["x"] }, 400, /parent/],
      [{ fq_name: FQ("x"), parent_type: "domain" }, 400, /parent type/i],
      [{ fq_name: FQ("x"), uuid: "NOT-A-UUID" }, 400, /UUID/],
      [{ fq_name: FQ("x"), bogus_field: 1 }, 400, /bogus_field/],
      [{ fq_name: FQ("x"), is_shared: "yes" }, 400, /is_shared: expected boolean/],
      [{ fq_name: FQ("x"), virtual_network_properties: { forwarding_mode: "l9" } }, 400, /forwarding_mode/],
      [{ fq_name: FQ("x"), virtual_network_properties: { nope: 1 } }, 400, /unknown field "nope"/],
      [
        { fq_name: FQ("x"), network_policy_refs: [{ to: FQ("missing-policy") }] },
        400,
        /Unknown network-policy/,
      ],
      [
        { fq_name: FQ("x"), network_policy_refs: [{ uuid: "5f3b6a7c-0000-4000-8000-000000000000" }] },
        400,
        /Unknown/,
      ],
      [{ fq_name: FQ("default-virtual-network") }, 409, /already exists with uuid: [0-9a-f-]{36}/],
    ];
    for (const [body, status, msg] of cases) {
      const r = await c.post("/virtual-networks", { "virtual-network": body });
      expect([JSON.stringify(body), r.status]).toEqual([JSON.stringify(body), status]);
      expect(r.headers.get("content-type")).toMatch(/text\/plain/);
      expect(r.text).toMatch(msg);
    }
    const vmiNoVn = await c.post("/virtual-machine-interfaces", {
      "virtual-machine-interface": { fq_name: FQ("v") },
    });
    expect(vmiNoVn.status).toBe(400);
    expect(vmiNoVn.text).toMatch(/virtual_network_refs is required/);
  });

  it("honours a client uuid once and refuses it twice", async () => {
    const uuid = "0b0c0d0e-1111-4222-8333-444455556666";
    expect(await c.create("virtual-network", { fq_name: FQ("given-uuid"), uuid })).toBe(uuid);
    const again = await c.post("/virtual-networks", {
      "virtual-network": { fq_name: FQ("given-uuid-2"), uuid },
    });
    expect(again.status).toBe(409);
  });
});

describe("read and update", () => {
  it("GET returns refs, children and back-refs; fields/exclude_* trim them; ETag gives 304", async () => {
    const pol = await c.create("network-policy", { fq_name: FQ("pol-read") });
    const vn = await c.create("virtual-network", {
      fq_name: FQ("vn-read"),
      network_policy_refs: [{ to: FQ("pol-read"), attr: { sequence: { major: 0, minor: 0 } } }],
    });
    const full = await c.read("virtual-network", vn);
    expect(full.network_policy_refs).toEqual([
      {
        to: FQ("pol-read"),
        uuid: pol,
        href: `${api.url}/network-policy/${pol}`,
        attr: { sequence: { major: 0, minor: 0 } },
      },
    ]);
    const p = await c.read("network-policy", pol);
    expect((p.virtual_network_back_refs as { uuid: string }[])[0].uuid).toBe(vn);

    const some = await c.read("virtual-network", vn, "?fields=network_policy_refs");
    expect(Object.keys(some)).toEqual(
      expect.arrayContaining(["uuid", "fq_name", "network_policy_refs", "id_perms", "perms2"]),
    );
    expect(some.routing_instances).toBeUndefined();
    expect(some.is_shared).toBeUndefined();
    const noKids = await c.read("virtual-network", vn, "?exclude_children=true&exclude_hrefs=true");
    expect(noKids.routing_instances).toBeUndefined();
    expect(noKids.href).toBeUndefined();
    const noBack = await c.read("network-policy", pol, "?exclude_back_refs=true");
    expect(noBack.virtual_network_back_refs).toBeUndefined();

    const first = await c.get(`/virtual-network/${vn}`);
    const etag = first.headers.get("etag");
    expect(etag).toMatch(/^".+"$/);
    expect((await c.get(`/virtual-network/${vn}`, { "if-none-match": etag! })).status).toBe(304);
    await c.put(`/virtual-network/${vn}`, { "virtual-network": { display_name: "changed" } });
    expect((await c.get(`/virtual-network/${vn}`, { "if-none-match": etag! })).status).toBe(200);
  });

  it("404s for an unknown uuid, a non-uuid and the wrong type", async () => {
    const vn = await c.create("virtual-network", { fq_name: FQ("vn-404") });
    expect((await c.get("/virtual-network/6d0c1f52-1111-4111-8111-111111111111")).status).toBe(404);
    expect((await c.get("/virtual-network/not-a-uuid")).status).toBe(404);
    expect((await c.get(`/network-policy/${vn}`)).status).toBe(404);
    expect((await c.get(`/no-such-type/${vn}`)).status).toBe(404);
  });

  it("PUT is partial: untouched props stay, a ref field replaces the whole list, refs by `to`", async () => {
    await c.create("network-policy", { fq_name: FQ("pol-a") });
    await c.create("network-policy", { fq_name: FQ("pol-b") });
    const vn = await c.create("virtual-network", {
      fq_name: FQ("vn-put"),
      is_shared: true,
      network_policy_refs: [{ to: FQ("pol-a"), attr: { sequence: { major: 0, minor: 0 } } }],
    });
    const r = await c.put(`/virtual-network/${vn}`, {
      "virtual-network": { router_external: true, network_policy_refs: [{ to: FQ("pol-b") }] },
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ "virtual-network": { uuid: vn, href: `${api.url}/virtual-network/${vn}` } });
    const after = await c.read("virtual-network", vn);
    expect(after.is_shared).toBe(true);
    expect(after.router_external).toBe(true);
    expect((after.network_policy_refs as { to: string[] }[]).map((x) => x.to)).toEqual([FQ("pol-b")]);
    const bad = await c.put(`/virtual-network/${vn}`, { "virtual-network": { fq_name: FQ("renamed") } });
    expect(bad.status).toBe(400);
    const unwrapped = await c.put(`/virtual-network/${vn}`, { is_shared: false });
    expect(unwrapped.status).toBe(400);
    const cleared = await c.put(`/virtual-network/${vn}`, { "virtual-network": { network_policy_refs: [] } });
    expect(cleared.status).toBe(200);
    expect((await c.read("virtual-network", vn)).network_policy_refs).toBeUndefined();
  });
});

describe("delete", () => {
  it("refuses while children or referrers exist, cascades owned children, relaxes refs on request", async () => {
    const proj = await c.create("project", { fq_name: ["default-domain", "del-proj"] });
    const vn = await c.create("virtual-network", { fq_name: ["default-domain", "del-proj", "vn"] });
    const r1 = await c.del(`/project/${proj}`);
    expect(r1.status).toBe(409);
    expect(r1.text).toMatch(/children/);

    const vmi = await c.create("virtual-machine-interface", {
      fq_name: ["default-domain", "del-proj", "port"],
      virtual_network_refs: [{ uuid: vn }],
    });
    const r2 = await c.del(`/virtual-network/${vn}`);
    expect(r2.status).toBe(409);
    expect(r2.text).toMatch(/still referred/);

    expect((await c.post("/ref-relax-for-delete", { uuid: vmi, "ref-uuid": vn })).status).toBe(200);
    const ri = ((await c.read("virtual-network", vn)).routing_instances as { uuid: string }[])[0].uuid;
    expect((await c.del(`/virtual-network/${vn}`)).status).toBe(200);
    expect((await c.get(`/virtual-network/${vn}`)).status).toBe(404);
    expect((await c.get(`/routing-instance/${ri}`)).status).toBe(404);
    expect((await c.read("virtual-machine-interface", vmi)).virtual_network_refs).toBeUndefined();

    expect((await c.del(`/virtual-machine-interface/${vmi}`)).status).toBe(200);
    // The project's default-application-policy-set goes with it.
    expect((await c.del(`/project/${proj}`)).status).toBe(200);
    expect(
      (
        await c.post("/fqname-to-id", {
          type: "application-policy-set",
          fq_name: ["default-domain", "del-proj", "default-application-policy-set"],
        })
      ).status,
    ).toBe(404);
    expect((await c.del(`/project/${proj}`)).status).toBe(404);
  });

  it("keeps ip-fabric and __link_local__", async () => {
    for (const name of ["ip-fabric", "__link_local__"]) {
      const r = await c.del(`/virtual-network/${await idOf("virtual-network", FQ(name))}`);
      expect(r.status).toBe(409);
    }
  });
});
