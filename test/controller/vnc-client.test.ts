/**
 * VncClient against a tiny express stub: wire format (wrapping, plurals, query strings, action bodies) and
 * the mapping of plain-text error bodies to typed errors, including retries on 502/503.
 */
import type { AddressInfo } from "node:net";
import express from "express";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BadRequest,
  NoIdError,
  PermissionDenied,
  RefsExistError,
  ServiceUnavailable,
  VncClient,
  VncError,
} from "../../controller/vnc/client";

let server: Server;
let url: string;
const seen: { method: string; url: string; body: unknown }[] = [];
let flaky = 0;

beforeAll(async () => {
  const app = express();
  app.use(express.json());
  app.use((req, _res, next) => {
    seen.push({ method: req.method, url: req.url, body: req.body });
    next();
  });
  app.post("/virtual-networks", (req, res) => {
    const vn = req.body["virtual-network"];
    if (!vn?.fq_name) return void res.status(400).type("text").send("no fq_name in POST body");
    if (vn.fq_name.at(-1) === "dup")
      return void res
        .status(409)
        .type("text")
        .send(`${vn.fq_name.join(":")} already exists with uuid: u-1`);
    res.json({ "virtual-network": { uuid: "u-2", fq_name: vn.fq_name, name: vn.fq_name.at(-1) } });
  });
  app.get("/virtual-network/:id", (req, res) => {
    if (req.params.id === "flaky" && flaky-- > 0) return void res.status(503).type("text").send("busy");
    if (req.params.id !== "u-2" && req.params.id !== "flaky")
      return void res.status(404).type("text").send(`virtual-network ${req.params.id} not found`);
    res.json({ "virtual-network": { uuid: req.params.id, fq_name: ["a", "b", "c"] } });
  });
  app.get("/network-policys", (_req, res) => {
    res.json({ "network-policys": [{ "network-policy": { uuid: "p1", fq_name: ["a", "b", "np"] } }] });
  });
  app.get("/projects", (_req, res) => {
    res.json({ projects: [{ uuid: "p", fq_name: ["default-domain", "x"], href: "h" }] });
  });
  app.delete(
    "/project/:id",
    (_req, res) => void res.status(409).type("text").send("Delete when children still present"),
  );
  app.put("/project/:id", (_req, res) => void res.status(403).type("text").send("denied"));
  app.post("/fqname-to-id", (req, res) => {
    if (req.body.fq_name.at(-1) === "k8s-default") return void res.json({ uuid: "p-uuid" });
    res
      .status(404)
      .type("text")
      .send(`Name ${req.body.fq_name.join(":")} not found`);
  });
  app.post("/ref-update", (_req, res) => void res.json({ uuid: "x" }));
  app.post("/set-tag", (_req, res) => void res.json({}));
  app.get("/always-down/:id", (_req, res) => void res.status(502).type("text").send("bad gateway"));
  await new Promise<void>((r) => {
    server = app.listen(0, "127.0.0.1", () => r());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("VncClient wire format", () => {
  it("wraps create bodies in the type name and unwraps the response", async () => {
    const vnc = new VncClient(url);
    const created = await vnc.create("virtual-network", {
      fq_name: ["d", "p", "vn"],
      parent_type: "project",
    });
    expect(created).toMatchObject({ uuid: "u-2", fq_name: ["d", "p", "vn"] });
    expect(seen.at(-1)).toMatchObject({
      method: "POST",
      url: "/virtual-networks",
      body: { "virtual-network": { fq_name: ["d", "p", "vn"] } },
    });
  });

  it("lists with the naive plural, unwraps detail items and encodes scopes and filters", async () => {
    const vnc = new VncClient(url);
    const items = await vnc.list("network-policy", {
      detail: true,
      parentId: ["a", "b"],
      filters: { display_name: "np" },
      fields: ["network_policy_entries"],
    });
    expect(items).toEqual([{ uuid: "p1", fq_name: ["a", "b", "np"] }]);
    const u = new URL(`http://x${seen.at(-1)!.url}`);
    expect(u.pathname).toBe("/network-policys");
    expect(u.searchParams.get("parent_id")).toBe("a,b");
    expect(u.searchParams.get("detail")).toBe("true");
    expect(u.searchParams.get("filters")).toBe('display_name=="np"');
    expect(u.searchParams.get("fields")).toBe("network_policy_entries");
    const plain = await vnc.list("project", { parentFqName: ["default-domain"] });
    expect(plain[0].fq_name).toEqual(["default-domain", "x"]);
    expect(seen.at(-1)!.url).toContain("parent_fq_name_str=default-domain");
  });

  it("sends ref-update and set-tag bodies with the real field names", async () => {
    const vnc = new VncClient(url);
    await vnc.refUpdate("virtual-router", "vr", "virtual-machine", "vm", "ADD");
    expect(seen.at(-1)!.body).toEqual({
      type: "virtual-router",
      uuid: "vr",
      "ref-type": "virtual-machine",
      "ref-uuid": "vm",
      operation: "ADD",
    });
    await vnc.refUpdate("virtual-network", "vn", "network-policy", ["d", "p", "np"], "ADD", {
      sequence: { major: 0, minor: 0 },
    });
    expect(seen.at(-1)!.body).toMatchObject({
      "ref-fq-name": ["d", "p", "np"],
      attr: { sequence: { major: 0 } },
    });
    await vnc.setTag("virtual-network", "vn", { application: { value: "k8s" } });
    expect(seen.at(-1)!.body).toEqual({
      obj_type: "virtual-network",
      obj_uuid: "vn",
      application: { value: "k8s" },
    });
  });

  it("resolves an fq_name to a uuid", async () => {
    const vnc = new VncClient(url);
    expect(await vnc.fqNameToId("project", ["default-domain", "k8s-default"])).toBe("p-uuid");
  });
});

describe("VncClient error mapping", () => {
  let vnc: VncClient;
  beforeAll(() => {
    vnc = new VncClient(url, { retries: 2, backoffMs: 1 });
  });
  const cases: [string, () => Promise<unknown>, new (...a: never[]) => VncError, number, string][] = [
    [
      "404 → NoIdError",
      () => vnc.read("virtual-network", "nope"),
      NoIdError,
      404,
      "virtual-network nope not found",
    ],
    [
      "409 → RefsExistError",
      () => vnc.create("virtual-network", { fq_name: ["d", "p", "dup"] }),
      RefsExistError,
      409,
      "d:p:dup already exists with uuid: u-1",
    ],
    [
      "400 → BadRequest",
      () => vnc.create("virtual-network", {} as never),
      BadRequest,
      400,
      "no fq_name in POST body",
    ],
    ["403 → PermissionDenied", () => vnc.update("project", "p", {}), PermissionDenied, 403, "denied"],
    [
      "fqname-to-id 404 → NoIdError",
      () => vnc.fqNameToId("project", ["x"]),
      NoIdError,
      404,
      "Name x not found",
    ],
    [
      "delete 409 → RefsExistError",
      () => vnc.delete("project", "p"),
      RefsExistError,
      409,
      "Delete when children still present",
    ],
  ];
  for (const [name, call, cls, status, message] of cases) {
    it(name, async () => {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(cls);
      expect(err).toBeInstanceOf(VncError);
      expect(err).toMatchObject({ status, message });
    });
  }

  it("retries 503 and then succeeds", async () => {
    flaky = 2;
    const n = seen.length;
    const obj = await vnc.read("virtual-network", "flaky");
    expect(obj.uuid).toBe("flaky");
    expect(seen.length - n).toBe(3);
  });

  it("gives up after the retry budget with ServiceUnavailable", async () => {
    const c = new VncClient(url, { retries: 1, backoffMs: 1 });
    const n = seen.length;
    // a type whose GET route answers 502 every time
    const err = await c.read("always-down", "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailable);
    expect((err as VncError).status).toBe(502);
    expect(seen.length - n).toBe(2);
  });

  it("reports an unreachable server as ServiceUnavailable with status 0", async () => {
    const c = new VncClient("http://127.0.0.1:1", { retries: 0 });
    const err = await c.read("project", "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnavailable);
    expect((err as VncError).status).toBe(0);
  });
});
