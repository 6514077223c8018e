/**
 * The pure authorisation decisions (fake-contrail-api/auth/perms.ts) against vnc_rbac.py / vnc_perms.py:
 * rule precedence (field rule, object rule, `*`), merging of global/domain/project lists, perms2 masks.
 */
import { describe, expect, it } from "vitest";
import {
  type AuthConfig,
  type AuthContext,
  mergeRules,
  PERMS,
  permsFor,
  type RbacRule,
  validateRequest,
} from "../../fake-contrail-api/auth/perms";

const cfg: AuthConfig = { aaaMode: "rbac", cloudAdminRole: "admin", globalReadOnlyRole: "auditor" };
const ctx = (roles: string[], projectId = "aa"): AuthContext => ({
  user: "u",
  roles,
  projectId,
  projectName: "p",
  domainId: "dd",
  domainName: "default-domain",
});
const rule = (o: string, f: string | null, perms: [string, string][]): RbacRule => ({
  rule_object: o,
  rule_field: f,
  rule_perms: perms.map(([role_name, role_crud]) => ({ role_name, role_crud })),
});
const known = (t: string) => ["virtual-network", "project"].includes(t);
const req = (method: string, path: string, body?: unknown) => ({ method, path, body });

describe("api-access-list rules (vnc_rbac.validate_request)", () => {
  it("merges the same object.field across global, domain and project lists, CRUD letters united per role", () => {
    const merged = mergeRules([
      [rule("virtual-network", null, [["member", "R"]])],
      [
        rule("virtual-network", "", [
          ["member", "C"],
          ["dev", "R"],
        ]),
      ],
      [rule("virtual-network", null, [["member", "RU"]])],
    ]);
    expect(merged).toHaveLength(1);
    const perms = Object.fromEntries(
      merged[0]!.rule_perms.map((p) => [p.role_name, [...p.role_crud].sort().join("")]),
    );
    expect(perms).toEqual({ member: "CRU", dev: "R" });
  });

  it("a field rule decides the fields it names; the rest of the body falls to the object rule, else *", () => {
    const rules = mergeRules([
      [
        rule("*", null, [["member", "CRUD"]]),
        rule("virtual-network", "router_external", [["netadmin", "CRUD"]]),
        rule("virtual-network", null, [["member", "CRUD"]]),
      ],
    ]);
    const put = (body: unknown) =>
      validateRequest(cfg, ctx(["member"]), req("PUT", "/virtual-network/x", body), rules, known);
    expect(put({ "virtual-network": { display_name: "a" } }).ok).toBe(true);
    const d = put({ "virtual-network": { router_external: true } });
    expect(d).toEqual({
      ok: false,
      status: 403,
      message: "Permission Denied for u as ['member'] to U virtual-network in p",
    });
    expect(
      validateRequest(
        cfg,
        ctx(["member", "netadmin"]),
        req("PUT", "/virtual-network/x", { "virtual-network": { router_external: true } }),
        rules,
        known,
      ).ok,
    ).toBe(true);
    // the collection path names the type: virtual-networks → virtual-network
    expect(validateRequest(cfg, ctx(["member"]), req("GET", "/virtual-networks"), rules, known).ok).toBe(
      true,
    );
    expect(validateRequest(cfg, ctx(["guest"]), req("GET", "/virtual-networks"), rules, known).ok).toBe(
      false,
    );
  });

  it("empty roles are 401, an empty rule list is 403, the admin and (for reads) the read-only role pass", () => {
    expect(
      validateRequest(cfg, ctx([]), req("GET", "/projects"), [rule("*", null, [["*", "CRUD"]])], known),
    ).toEqual({
      ok: false,
      status: 401,
      message: "roles empty!!",
    });
    expect(validateRequest(cfg, ctx(["member"]), req("GET", "/projects"), [], known)).toMatchObject({
      status: 403,
      message: "Permission Denied RBAC rule list empty",
    });
    expect(validateRequest(cfg, ctx(["Admin"]), req("DELETE", "/project/x"), [], known).ok).toBe(true);
    expect(validateRequest(cfg, ctx(["auditor"]), req("GET", "/projects"), [], known).ok).toBe(true);
    expect(validateRequest(cfg, ctx(["auditor"]), req("POST", "/projects"), [], known).ok).toBe(false);
  });
});

describe("perms2 (vnc_perms.validate_perms_rbac)", () => {
  const p2 = {
    owner: "aa",
    owner_access: 7,
    global_access: 0,
    share: [{ tenant: "domain:dd", tenant_access: 4 }],
  };
  it("owner gets owner_access, a shared domain its tenant_access, others global_access; delete needs the owner", () => {
    expect(permsFor(ctx(["member"], "aa"), cfg, p2, PERMS.RWX, "o")).toEqual({ ok: true, granted: "RWX" });
    expect(permsFor(ctx(["member"], "bb"), cfg, p2, PERMS.RWX, "o")).toEqual({ ok: true, granted: "R" });
    expect(permsFor(ctx(["member"], "bb"), cfg, p2, PERMS.W, "o").ok).toBe(false);
    const other = { ...ctx(["member"], "bb"), domainId: "zz" };
    const d = permsFor(other, cfg, p2, PERMS.R, "o");
    expect(d).toEqual({
      ok: false,
      status: 403,
      message:
        "Permission Denied for ['member'] to read operation in domain 'default-domain' and project 'p' RBAC: u doesn't have read permission in project 'aa'",
    });
    const shared = { ...p2, share: [{ tenant: "tenant:bb", tenant_access: 6 }] };
    expect(permsFor(ctx(["member"], "bb"), cfg, shared, PERMS.W, "o").ok).toBe(true);
    expect(permsFor(ctx(["member"], "bb"), cfg, shared, PERMS.W, "o", "aa").ok).toBe(false);
    expect(permsFor(ctx(["member"], "bb"), cfg, { ...p2, owner: null }, PERMS.R, "o")).toMatchObject({
      ok: false,
      message: expect.stringContaining("RBAC: o doesn't have  perms2 owner set"),
    });
  });
});
