/** LIST over real HTTP: every scope, output form, filters, paging and POST /list-bulk-collection. */
import { beforeAll, describe, expect, it } from "vitest";
import { useApiServer } from "../support/api";
import { client } from "./helpers";

const api = useApiServer();
const c = client(() => api.url);
const P1 = ["default-domain", "list-p1"];
const P2 = ["default-domain", "list-p2"];
let p1: string;
let p2: string;
const vns: Record<string, string> = {};
let policy: string;

beforeAll(async () => {
  p1 = await c.create("project", { fq_name: P1 });
  p2 = await c.create("project", { fq_name: P2 });
  policy = await c.create("network-policy", { fq_name: [...P1, "pol"] });
  for (const [name, proj, shared] of [
    ["a", P1, true],
    ["b", P1, false],
    ["c", P2, true],
  ] as const) {
    vns[name] = await c.create("virtual-network", {
      fq_name: [...proj, name],
      is_shared: shared,
      ...(name !== "c"
        ? { network_policy_refs: [{ uuid: policy, attr: { sequence: { major: 0, minor: 0 } } }] }
        : {}),
    });
  }
});

const names = (items: { fq_name: string[] }[]) => items.map((i) => i.fq_name.join(":")).sort();

describe("list scopes", () => {
  it("lists everything of a type as {uuid, href, fq_name}", async () => {
    const r = await c.get("/virtual-networks");
    expect(r.status).toBe(200);
    const item = r.json["virtual-networks"].find((i: { uuid: string }) => i.uuid === vns.a);
    expect(item).toEqual({ uuid: vns.a, fq_name: [...P1, "a"], href: `${api.url}/virtual-network/${vns.a}` });
  });

  it("scopes by parent_id, parent_fq_name_str(+parent_type), back_ref_id, obj_uuids, fq_names", async () => {
    expect(names((await c.get(`/virtual-networks?parent_id=${p1}`)).json["virtual-networks"])).toEqual([
      "default-domain:list-p1:a",
      "default-domain:list-p1:b",
    ]);
    expect(
      names((await c.get(`/virtual-networks?parent_id=${p1},${p2}`)).json["virtual-networks"]),
    ).toHaveLength(3);
    // present but empty scopes match nothing (upstream splits them to [""])
    expect((await c.get("/virtual-networks?parent_id=")).json["virtual-networks"]).toEqual([]);
    expect((await c.get("/virtual-networks?obj_uuids=")).json["virtual-networks"]).toEqual([]);
    const byFq = await c.get(`/virtual-networks?parent_fq_name_str=${P2.join(":")}&parent_type=project`);
    expect(names(byFq.json["virtual-networks"])).toEqual(["default-domain:list-p2:c"]);
    expect((await c.get("/virtual-networks?parent_fq_name_str=default-domain:nope")).status).toBe(404);
    const back = await c.get(`/virtual-networks?back_ref_id=${policy}`);
    expect(names(back.json["virtual-networks"])).toEqual([
      "default-domain:list-p1:a",
      "default-domain:list-p1:b",
    ]);
    const some = await c.get(`/virtual-networks?obj_uuids=${vns.a},${vns.c}`);
    expect(names(some.json["virtual-networks"])).toEqual([
      "default-domain:list-p1:a",
      "default-domain:list-p2:c",
    ]);
    const both = await c.get(`/virtual-networks?obj_uuids=${vns.a},${vns.c}&parent_id=${p1}`);
    expect(names(both.json["virtual-networks"])).toEqual(["default-domain:list-p1:a"]);
    const fq = await c.get(`/virtual-networks?fq_names=${[...P1, "b"].join(":")},${[...P2, "c"].join(":")}`);
    expect(names(fq.json["virtual-networks"])).toEqual([
      "default-domain:list-p1:b",
      "default-domain:list-p2:c",
    ]);
  });
});

describe("list output", () => {
  it("detail=true wraps full objects; fields adds fields to the short form; count counts", async () => {
    const d = await c.get(`/virtual-networks?parent_id=${p1}&detail=true`);
    const objs = d.json["virtual-networks"].map(
      (x: Record<string, Record<string, unknown>>) => x["virtual-network"],
    );
    expect(objs).toHaveLength(2);
    expect(objs[0]).toMatchObject({
      parent_uuid: p1,
      is_shared: expect.any(Boolean),
      id_perms: expect.any(Object),
    });
    expect(objs[0].network_policy_refs[0].uuid).toBe(policy);

    const f = await c.get(`/virtual-networks?parent_id=${p1}&fields=is_shared,routing_instances`);
    const short = f.json["virtual-networks"].find((x: { uuid: string }) => x.uuid === vns.a);
    expect(short.is_shared).toBe(true);
    expect(short.routing_instances[0].to).toEqual([...P1, "a", "a"]);
    expect(short.id_perms).toBeUndefined();

    expect((await c.get(`/virtual-networks?parent_id=${p1}&count=true`)).json).toEqual({
      "virtual-networks": { count: 2 },
    });
    const noHref = await c.get(`/virtual-networks?parent_id=${p1}&exclude_hrefs=true`);
    expect(noHref.json["virtual-networks"][0].href).toBeUndefined();
  });

  it("filters by property value (JSON or plain), OR within a key", async () => {
    const shared = await c.get(`/virtual-networks?filters=is_shared==true&parent_id=${p1},${p2}`);
    expect(names(shared.json["virtual-networks"])).toEqual([
      "default-domain:list-p1:a",
      "default-domain:list-p2:c",
    ]);
    const byName = await c.get(
      `/virtual-networks?filters=display_name==b,display_name==c&parent_id=${p1},${p2}`,
    );
    expect(names(byName.json["virtual-networks"])).toEqual([
      "default-domain:list-p1:b",
      "default-domain:list-p2:c",
    ]);
    const json = encodeURIComponent(
      'virtual_network_properties=={"forwarding_mode":"l2_l3","rpf":"enable","allow_transit":false}',
    );
    expect(
      (await c.get(`/virtual-networks?filters=${json}&parent_id=${p1}`)).json["virtual-networks"],
    ).toHaveLength(2);
    expect((await c.get("/virtual-networks?filters=nonsense==1")).status).toBe(400);
  });

  it("pages with page_limit/page_marker and returns a marker until the end", async () => {
    const seen: string[] = [];
    let marker: string | null = null;
    let pages = 0;
    do {
      const q: string = `/virtual-networks?page_limit=2${marker ? `&page_marker=${marker}` : ""}`;
      const r = await c.get(q);
      expect(r.status).toBe(200);
      seen.push(...r.json["virtual-networks"].map((x: { uuid: string }) => x.uuid));
      marker = r.json.marker;
      pages++;
    } while (marker && pages < 20);
    const all = (await c.get("/virtual-networks")).json["virtual-networks"].map(
      (x: { uuid: string }) => x.uuid,
    );
    expect(seen.sort()).toEqual(all.sort());
    expect(pages).toBe(Math.ceil(all.length / 2));
    expect((await c.get("/virtual-networks?page_limit=0")).status).toBe(400);
    expect((await c.get("/virtual-networks?page_marker=xyz")).status).toBe(400);
  });

  it("POST /list-bulk-collection takes the same keys as comma strings or lists", async () => {
    const r = await c.post("/list-bulk-collection", {
      type: "virtual-network",
      obj_uuids: `${vns.a},${vns.b},${vns.c}`,
      parent_id: [p1],
      detail: true,
    });
    expect(r.status).toBe(200);
    expect(
      r.json["virtual-networks"]
        .map((x: Record<string, { name: string }>) => x["virtual-network"].name)
        .sort(),
    ).toEqual(["a", "b"]);
    const n = await c.post("/list-bulk-collection", {
      type: "virtual_network",
      back_ref_id: policy,
      count: true,
    });
    expect(n.json).toEqual({ "virtual-networks": { count: 2 } });
    expect((await c.post("/list-bulk-collection", { type: "nope" })).status).toBe(400);
  });

  it("404s an unknown collection", async () => {
    expect((await c.get("/virtual-netwerks")).status).toBe(404);
  });
});
