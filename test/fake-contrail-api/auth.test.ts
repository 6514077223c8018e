/**
 * aaa_mode on the fake config API, as a tenant would meet it: keystone v3 tokens (POST/GET /v3/auth/tokens),
 * 401 without a valid token, cloud-admin's admin-only door, and rbac's perms2 + api-access-list decisions on
 * read, list, update, delete, ref-update, chown/chmod and obj-perms, with upstream's 403 texts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseIdentity } from "../../fake-contrail-api/auth/identity";
import { type ApiServer, startApiServer } from "../../fake-contrail-api/server";
import { ChangeStream } from "../../fake-contrail-api/watch-client";
import { VncClient } from "../../controller/vnc/client";

const identity = parseIdentity(
  {
    users: {
      admin: { password: "adm", roles: { admin: ["admin"] } },
      alice: { password: "a", roles: { "team-a": ["member"] } },
      bob: { password: "b", roles: { "team-b": ["member"] } },
      reader: { password: "r", roles: { "team-b": ["reader"] } },
    },
  },
  (p) => {
    throw new Error(p);
  },
);

type Json = Record<string, unknown>;

async function token(ks: string, user: string, password: string, project?: string): Promise<Response> {
  return fetch(`${ks}/v3/auth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: user, domain: { name: "default" }, password } },
        },
        ...(project ? { scope: { project: { name: project, domain: { name: "default" } } } } : {}),
      },
    }),
  });
}

function as(api: ApiServer, tok: string | undefined) {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(api.url + path, {
      method,
      headers: { "content-type": "application/json", ...(tok ? { "x-auth-token": tok } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: Json | undefined;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, text, json, headers: res.headers };
  };
  return {
    get: (p: string) => call("GET", p),
    post: (p: string, b: unknown) => call("POST", p, b),
    put: (p: string, b: unknown) => call("PUT", p, b),
    del: (p: string) => call("DELETE", p),
  };
}

async function login(api: ApiServer, user: string, pw: string, project: string) {
  const r = await token(api.keystoneUrl!, user, pw, project);
  expect(r.status).toBe(201);
  return as(api, r.headers.get("x-subject-token")!);
}

describe("aaa_mode rbac", () => {
  let api: ApiServer;
  let admin: ReturnType<typeof as>;
  let projA: string;
  let projB: string;
  let vnA: string;

  beforeAll(async () => {
    api = await startApiServer({ port: 0, quiet: true, auth: { aaaMode: "rbac", identity } });
    admin = await login(api, "admin", "adm", "admin");
    for (const name of ["team-a", "team-b"]) {
      const r = await admin.post("/projects", { project: { fq_name: ["default-domain", name] } });
      expect(r.status).toBe(200);
    }
    projA = (await admin.post("/fqname-to-id", { type: "project", fq_name: ["default-domain", "team-a"] }))
      .json!.uuid as string;
    projB = (await admin.post("/fqname-to-id", { type: "project", fq_name: ["default-domain", "team-b"] }))
      .json!.uuid as string;
    // members may CRUD everything in their own projects (a rule on the global list, as operators add)
    const gl = (
      await admin.post("/fqname-to-id", {
        type: "api-access-list",
        fq_name: ["default-global-system-config", "default-api-access-list"],
      })
    ).json!.uuid as string;
    const cur = (await admin.get(`/api-access-list/${gl}`)).json!["api-access-list"] as Json;
    const rules = (cur.api_access_list_entries as { rbac_rule: unknown[] }).rbac_rule;
    const put = await admin.put(`/api-access-list/${gl}`, {
      "api-access-list": {
        api_access_list_entries: {
          rbac_rule: [
            ...rules,
            { rule_object: "*", rule_field: null, rule_perms: [{ role_name: "member", role_crud: "CRUD" }] },
          ],
        },
      },
    });
    expect(put.status).toBe(200);
    const alice = await login(api, "alice", "a", "team-a");
    const r = await alice.post("/virtual-networks", {
      "virtual-network": { fq_name: ["default-domain", "team-a", "red"], parent_type: "project" },
    });
    expect(r.status, r.text).toBe(200);
    vnA = (r.json!["virtual-network"] as Json).uuid as string;
  });
  afterAll(async () => {
    await api?.close();
  });

  it("keystone issues v3 tokens and validates them; bad passwords and unassigned projects get 401", async () => {
    const r = await token(api.keystoneUrl!, "alice", "a", "team-a");
    expect(r.status).toBe(201);
    const body = (await r.json()) as {
      token: { project: { id: string; name: string }; roles: { name: string }[] };
    };
    // the token's project id is the Contrail project's uuid (as keystone-synced projects have)
    expect(body.token.project).toMatchObject({ id: projA.replace(/-/g, ""), name: "team-a" });
    expect(body.token.roles.map((x) => x.name)).toEqual(["member"]);
    const tok = r.headers.get("x-subject-token")!;
    const adminTok = (await token(api.keystoneUrl!, "admin", "adm", "admin")).headers.get("x-subject-token")!;
    const v = await fetch(`${api.keystoneUrl}/v3/auth/tokens`, {
      headers: { "x-auth-token": adminTok, "x-subject-token": tok },
    });
    expect(v.status).toBe(200);
    const bad = await token(api.keystoneUrl!, "alice", "wrong", "team-a");
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({
      error: {
        code: 401,
        title: "Unauthorized",
        message: "The request you have made requires authentication.",
      },
    });
    expect((await token(api.keystoneUrl!, "alice", "a", "team-b")).status).toBe(401);
  });

  it("answers 401 with keystonemiddleware's body without a token or with a revoked one; / stays open", async () => {
    const none = await as(api, undefined).get("/virtual-networks");
    expect(none.status).toBe(401);
    expect(none.json).toEqual({
      error: {
        code: 401,
        title: "Unauthorized",
        message: "The request you have made requires authentication.",
      },
    });
    expect(none.headers.get("www-authenticate")).toBe(`Keystone uri="${api.keystoneUrl}"`);
    expect((await as(api, "garbage").get("/virtual-networks")).status).toBe(401);
    expect((await as(api, undefined).get("/")).status).toBe(200);
    const r = await token(api.keystoneUrl!, "alice", "a", "team-a");
    const tok = r.headers.get("x-subject-token")!;
    expect((await as(api, tok).get(`/virtual-network/${vnA}`)).status).toBe(200);
    api.keystone!.revokeToken(tok);
    expect((await as(api, tok).get(`/virtual-network/${vnA}`)).status).toBe(401);
  });

  it("tenant objects are owned by the tenant's project; another tenant cannot read, list, change or delete them", async () => {
    const alice = await login(api, "alice", "a", "team-a");
    const bob = await login(api, "bob", "b", "team-b");
    const vn = (await alice.get(`/virtual-network/${vnA}`)).json!["virtual-network"] as Json;
    expect((vn.perms2 as Json).owner).toBe(projA.replace(/-/g, ""));

    const read = await bob.get(`/virtual-network/${vnA}`);
    expect(read.status).toBe(403);
    expect(read.text).toBe(
      `Permission Denied for ['member'] to read operation in domain 'default-domain' and project 'team-b' RBAC: bob doesn't have read permission in project '${projA.replace(/-/g, "")}'`,
    );
    const list = await bob.get("/virtual-networks");
    expect(list.status).toBe(200);
    expect((list.json!["virtual-networks"] as Json[]).map((x) => x.uuid)).not.toContain(vnA);
    expect(
      ((await alice.get("/virtual-networks")).json!["virtual-networks"] as Json[]).map((x) => x.uuid),
    ).toContain(vnA);
    expect(
      (await bob.put(`/virtual-network/${vnA}`, { "virtual-network": { display_name: "x" } })).status,
    ).toBe(403);
    expect((await bob.del(`/virtual-network/${vnA}`)).status).toBe(403);
    expect((await bob.post("/chown", { uuid: vnA, owner: projB })).status).toBe(403);
    expect((await bob.post("/chmod", { uuid: vnA, global_access: 7 })).text).toBe(" Permission denied");
    expect(
      (await bob.post("/fqname-to-id", { type: "project", fq_name: ["default-domain", "team-a"] })).status,
    ).toBe(403);
    // bob's network may not refer to alice's policy, nor may bob add a ref to it (link permission)
    const pol = await alice.post("/network-policys", {
      "network-policy": { fq_name: ["default-domain", "team-a", "pol"], parent_type: "project" },
    });
    expect(pol.status).toBe(200);
    const polUuid = (pol.json!["network-policy"] as Json).uuid as string;
    const bobVn = await bob.post("/virtual-networks", {
      "virtual-network": {
        fq_name: ["default-domain", "team-b", "blue"],
        parent_type: "project",
        network_policy_refs: [{ uuid: polUuid, attr: { sequence: { major: 0, minor: 0 } } }],
      },
    });
    expect(bobVn.status).toBe(403);
    expect(bobVn.text).toContain("to link operation");
    // nor create inside alice's project
    const intrude = await bob.post("/virtual-networks", {
      "virtual-network": { fq_name: ["default-domain", "team-a", "evil"], parent_type: "project" },
    });
    expect(intrude.status).toBe(403);
    expect((await bob.del(`/project/${projA}`)).status).toBe(403);
    // obj-perms tells the truth
    const op = (await bob.get(`/obj-perms?uuid=${vnA}`)).json!;
    expect(op).toMatchObject({
      permissions: "",
      is_cloud_admin_role: false,
      is_global_read_only_role: false,
    });
    expect(((op.token_info as Json).token as Json).user).toMatchObject({ name: "bob" });
    expect((await alice.get(`/obj-perms?uuid=${vnA}`)).json!.permissions).toBe("RWX");
    expect((await admin.get(`/obj-perms?uuid=${vnA}`)).json).toMatchObject({
      permissions: "RWX",
      is_cloud_admin_role: true,
    });
  });

  it("sharing (chmod by the owner) grants the share's access; global_access grants everyone", async () => {
    const alice = await login(api, "alice", "a", "team-a");
    const bob = await login(api, "bob", "b", "team-b");
    const vn = await alice.post("/virtual-networks", {
      "virtual-network": { fq_name: ["default-domain", "team-a", "shared"], parent_type: "project" },
    });
    const uuid = (vn.json!["virtual-network"] as Json).uuid as string;
    expect((await bob.get(`/virtual-network/${uuid}`)).status).toBe(403);
    const chmod = await alice.post("/chmod", {
      uuid,
      share: [{ tenant: `tenant:${projB}`, tenant_access: 4 }],
    });
    expect(chmod.status, chmod.text).toBe(200);
    expect((await bob.get(`/virtual-network/${uuid}`)).status).toBe(200);
    expect((await bob.get(`/obj-perms?uuid=${uuid}`)).json!.permissions).toBe("R");
    expect(
      (await bob.put(`/virtual-network/${uuid}`, { "virtual-network": { display_name: "y" } })).status,
    ).toBe(403);
    // delete needs ownership even with write shared
    await alice.post("/chmod", { uuid, share: [{ tenant: `tenant:${projB}`, tenant_access: 6 }] });
    expect(
      (await bob.put(`/virtual-network/${uuid}`, { "virtual-network": { display_name: "y" } })).status,
    ).toBe(200);
    expect((await bob.del(`/virtual-network/${uuid}`)).status).toBe(403);
    expect((await alice.del(`/virtual-network/${uuid}`)).status).toBe(200);
  });

  it("api-access-list rules: a role without a rule is refused with vnc_rbac's text; a project rule grants it", async () => {
    const reader = await login(api, "reader", "r", "team-b");
    const r = await reader.get("/virtual-networks");
    expect(r.status).toBe(403);
    expect(r.text).toBe("Permission Denied for reader as ['reader'] to R virtual-network in team-b");
    const acl = await admin.post("/api-access-lists", {
      "api-access-list": {
        fq_name: ["default-domain", "team-b", "default-api-access-list"],
        parent_type: "project",
        api_access_list_entries: {
          rbac_rule: [
            {
              rule_object: "virtual-network",
              rule_field: null,
              rule_perms: [{ role_name: "reader", role_crud: "R" }],
            },
          ],
        },
      },
    });
    expect(acl.status, acl.text).toBe(200);
    expect((await reader.get("/virtual-networks")).status).toBe(200);
    const c = await reader.post("/virtual-networks", {
      "virtual-network": { fq_name: ["default-domain", "team-b", "nope"], parent_type: "project" },
    });
    expect(c.status).toBe(403);
    expect(c.text).toBe("Permission Denied for reader as ['reader'] to C virtual-network in team-b");
  });

  it("GET /aaa-mode reports the mode; only the cloud admin may PUT it", async () => {
    expect((await admin.get("/aaa-mode")).json).toEqual({ "aaa-mode": "rbac" });
    const alice = await login(api, "alice", "a", "team-a");
    const r = await alice.put("/aaa-mode", { "aaa-mode": "no-auth" });
    expect(r.status).toBe(403);
    expect((await admin.put("/aaa-mode", { "aaa-mode": "bogus" })).status).toBe(400);
    expect((await admin.put("/aaa-mode", { "aaa-mode": "rbac" })).json).toEqual({ "aaa-mode": "rbac" });
  });

  it("the testbed's components reach it through the admin URL's credentials, as deploy/ runs them", async () => {
    // the controller's VNC client and the agents' change stream, given http://admin:<password>@host:<admin port>
    const vnc = new VncClient(api.adminUrl!, { retries: 0 });
    const made = await vnc.create("network-policy", {
      fq_name: ["default-domain", "default-project", "via-admin"],
    });
    expect(made.uuid).toMatch(/^[0-9a-f-]{36}$/);
    vnc.close();
    const errors: string[] = [];
    const stream = new ChangeStream({
      apiUrl: api.adminUrl!,
      onEvent: () => {},
      onError: (e) => errors.push(e.message),
    });
    stream.start();
    await stream.whenSynced();
    await stream.stop();
    expect(errors).toEqual([]);
    // the same client without the credentials is refused
    const u = new URL(api.adminUrl!);
    const bare = new VncClient(`${u.protocol}//${u.host}`, { retries: 0 });
    await expect(
      bare.create("network-policy", { fq_name: ["default-domain", "default-project", "x"] }),
    ).rejects.toThrow(/401|HTTP_AUTHORIZATION/);
    bare.close();
  });

  it("the admin port (LocalAuth) lets the admin's Basic credentials through unchecked and refuses others", async () => {
    const u = new URL(api.adminUrl!);
    const basic = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString("base64")}`;
    const plain = `${u.protocol}//${u.host}`;
    expect(
      (await fetch(`${plain}/virtual-network/${vnA}`, { headers: { authorization: basic } })).status,
    ).toBe(200);
    const no = await fetch(`${plain}/virtual-network/${vnA}`);
    expect(no.status).toBe(401);
    expect(await no.text()).toBe("HTTP_AUTHORIZATION header missing");
  });
});

describe("aaa_mode cloud-admin", () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer({ port: 0, quiet: true, auth: { aaaMode: "cloud-admin", identity } });
  });
  afterAll(async () => {
    await api?.close();
  });

  it("lets only the admin role in; others get 403 Permission Denied", async () => {
    const admin = await login(api, "admin", "adm", "admin");
    expect((await admin.get("/virtual-networks")).status).toBe(200);
    await admin.post("/projects", { project: { fq_name: ["default-domain", "team-a"] } });
    const alice = await login(api, "alice", "a", "team-a");
    const r = await alice.get("/virtual-networks");
    expect(r.status).toBe(403);
    expect(r.text).toBe("403 Permission Denied");
    expect((await as(api, undefined).get("/virtual-networks")).status).toBe(401);
  });
});

describe("aaa_mode configuration errors", () => {
  it("refuses an unknown mode and an identity without an admin, in words", async () => {
    await expect(
      startApiServer({ port: 0, quiet: true, auth: { aaaMode: "rbca" as "rbac", identity } }),
    ).rejects.toThrow('unknown aaa_mode "rbca" (one of: no-auth, cloud-admin, rbac)');
    const noAdmin = parseIdentity({ users: { alice: { password: "a", roles: { x: ["member"] } } } }, (p) => {
      throw new Error(p);
    });
    await expect(
      startApiServer({ port: 0, quiet: true, auth: { aaaMode: "rbac", identity: noAdmin } }),
    ).rejects.toThrow(/no user with the cloud admin role "admin"/);
  });
});

describe("ctb api's auth flags", () => {
  it("names the flag or the identity file's line that is wrong", async () => {
    const { main } = await import("../../fake-contrail-api/cli");
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    await expect(main(["--port", "0", "--aaa-mode", "rbca"])).rejects.toThrow(
      '--aaa-mode: unknown aaa_mode "rbca" (one of: no-auth, cloud-admin, rbac)',
    );
    await expect(main(["--port", "0", "--aaa-mode", "rbac"])).rejects.toThrow(
      /^--identity: aaa_mode rbac needs/,
    );
    const dir = mkdtempSync(join(tmpdir(), "ctb-auth-"));
    const file = join(dir, "users.yaml");
    writeFileSync(
      file,
      "users:\n  admin:\n    password: x\n    roles: { admin: [admin] }\n  alice:\n    pasword: y\n",
    );
    await expect(main(["--port", "0", "--aaa-mode", "rbac", "--identity", file])).rejects.toThrow(
      `${file}:6: user alice: unknown key "pasword" (a user has password, roles and groups)`,
    );
    writeFileSync(file, "users:\n  alice: { password: a, roles: { team-a: [member] } }\n");
    await expect(
      main([
        "--port",
        "0",
        "--keystone-port",
        "0",
        "--admin-port",
        "0",
        "--aaa-mode",
        "rbac",
        "--identity",
        file,
      ]),
    ).rejects.toThrow(/^--identity: the identity has no user with the cloud admin role "admin"/);
  });
});

describe("the controller's VNC client with kube-manager's [AUTH] user", () => {
  it("gets a keystone token on the first 401 and goes on with it", async () => {
    const { VncClient } = await import("../../controller/vnc/client");
    const api = await startApiServer({ port: 0, quiet: true, auth: { aaaMode: "rbac", identity } });
    try {
      const bare = new VncClient(api.url, { retries: 0 });
      await expect(bare.list("project")).rejects.toThrow(/401|requires authentication/);
      bare.close();
      const vnc = new VncClient(api.url, {
        keystone: { url: api.keystoneUrl!, user: "admin", password: "adm", project: "admin" },
      });
      expect((await vnc.list("project")).length).toBeGreaterThan(0);
      vnc.close();
    } finally {
      await api.close();
    }
  });
});
