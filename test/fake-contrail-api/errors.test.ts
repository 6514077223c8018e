/** Hard input over real HTTP: malformed/huge bodies, wrong types, bad uuids and fq_names get 4xx, never 5xx. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { useApiServer } from "../support/api";
import { client, FQ } from "./helpers";

const api = useApiServer();
const c = client(() => api.url);

describe("malformed requests", () => {
  it("rejects malformed JSON with 400 and a reason", async () => {
    for (const body of ["{", '{"virtual-network": ', "nul", '{"virtual-network": {"fq_name": [1,]}}']) {
      const r = await c.post("/virtual-networks", body);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/JSON/);
    }
  });

  it("rejects a huge body with 413", async () => {
    const r = await c.post("/virtual-networks", {
      "virtual-network": { fq_name: FQ("big"), display_name: "x".repeat(5_000_000) },
    });
    expect(r.status).toBe(413);
  });

  it("rejects non-object bodies and wrong wrappers with 400", async () => {
    for (const body of ["[]", '"str"', "42", "null", '{"network-policy": {}}', '{"virtual-network": []}']) {
      const r = await c.post("/virtual-networks", body);
      expect([body, r.status]).toEqual([body, 400]);
    }
  });

  it("rejects bad fq_names, uuids and ref shapes with 400", async () => {
    const bad: unknown[] = [
      { fq_name: "default-domain:default-project:x" },
      { fq_name: [] },
      { fq_name: ["default-domain", "", "x"] },
      { fq_name: ["default-domain", 7, "x"] },
      { fq_name: FQ("x"), uuid: 12 },
      { fq_name: FQ("x"), uuid: "6D0C1F52-1111-4111-8111-111111111111" },
      { fq_name: FQ("x"), network_policy_refs: "nope" },
      { fq_name: FQ("x"), network_policy_refs: [{}] },
      { fq_name: FQ("x"), network_policy_refs: [{ uuid: "zzz" }] },
      { fq_name: FQ("x"), network_policy_refs: [{ to: [1, 2] }] },
      { fq_name: FQ("x"), parent_type: 5 },
      { fq_name: FQ("x"), virtual_network_network_id: "12" },
      { fq_name: FQ("x"), route_target_list: { route_target: "target:1:1" } },
    ];
    for (const body of bad) {
      const r = await c.post("/virtual-networks", { "virtual-network": body });
      expect([JSON.stringify(body), r.status]).toEqual([JSON.stringify(body), 400]);
      expect(r.text.length).toBeGreaterThan(0);
    }
  });

  it("refuses field names that are built-in object properties with 400 naming the field", async () => {
    for (const k of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
      const top = await c.post(
        "/virtual-networks",
        `{"virtual-network": {"fq_name": ${JSON.stringify(FQ(`b-${k}`))}, "${k}": 1}}`,
      );
      expect([k, top.status, top.text]).toEqual([k, 400, `Unknown field "${k}" for virtual-network`]);
      const inner = await c.post("/virtual-networks", {
        "virtual-network": { fq_name: FQ(`n-${k}`), virtual_network_properties: { [k]: 1 } },
      });
      expect([k, inner.status]).toEqual([k, 400]);
      expect(inner.text).toContain(`unknown field "${k}"`);
      expect((await c.get(`/virtual-networks?filters=${k}==1`)).status).toBe(400);
    }
    const proto = await c.post(
      "/virtual-networks",
      `{"virtual-network": {"fq_name": ${JSON.stringify(FQ("p"))}, "__proto__": {"x": 1}}}`,
    );
    expect(proto.status).toBe(400);
    expect(proto.text).toContain('field name "__proto__" is not allowed');
    expect((await c.get(`/virtual-networks?fq_names=${FQ("p").join(":")}&count=true`)).json).toEqual({
      "virtual-networks": { count: 0 },
    });
  });

  it("refuses deeply nested values with 400, also inside free-form properties", async () => {
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    for (const body of [
      `{"global-system-config": {"fq_name": ["deep-gsc"], "plugin_tuning": ${deep}}}`,
      `{"virtual-network": {"fq_name": ${JSON.stringify(FQ("deep"))}, "annotations": ${deep}}}`,
    ]) {
      const type = Object.keys(JSON.parse(body.replace(deep, "1")))[0];
      const r = await c.post(`/${type}s`, body);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/nested deeper than 64 levels/);
    }
  });

  it("answers unknown routes and methods with 404, and bad watch positions with 400", async () => {
    expect((await c.get("/no/such/path/here")).status).toBe(404);
    expect((await c.put("/virtual-networks", {})).status).toBe(404);
    expect((await c.get("/watch?since=-4")).status).toBe(400);
  });

  it("never answers 5xx to random bodies, queries and ids (property test)", async () => {
    const jsonish = fc.jsonValue({ maxDepth: 3 });
    const fields = fc.constantFrom(
      "fq_name",
      "uuid",
      "parent_type",
      "parent_uuid",
      "name",
      "display_name",
      "network_ipam_refs",
      "virtual_network_properties",
      "id_perms",
      "perms2",
      "annotations",
      "is_shared",
    );
    const body = fc.dictionary(fields, jsonish, { maxKeys: 4 });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("virtual-network", "instance-ip", "network-ipam", "tag", "firewall-rule"),
        body,
        fc.string({ maxLength: 40 }),
        async (type, obj, junk) => {
          const create = await c.post(`/${type}s`, {
            [type]: { fq_name: FQ(`fuzz-${junk.length}`), ...obj },
          });
          expect(create.status).toBeLessThan(500);
          const q = await c.get(
            `/${type}s?${new URLSearchParams({ filters: junk, parent_id: junk, fields: junk })}`,
          );
          expect(q.status).toBeLessThan(500);
          const g = await c.get(`/${type}/${encodeURIComponent(junk)}`);
          expect(g.status).toBeLessThan(500);
          const a = await c.post("/ref-update", {
            type,
            uuid: junk,
            "ref-type": junk,
            operation: junk,
            ...obj,
          });
          expect(a.status).toBeLessThan(500);
        },
      ),
      { numRuns: 60 },
    );
    // 240 requests: well under a second alone, but the suite runs beside kill -9 and fuzz tests on 2 cores.
  }, 30_000);
});
