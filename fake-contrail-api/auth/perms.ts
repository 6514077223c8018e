/**
 * The config API's authorisation decisions, as upstream makes them (vnc_cfg_api_server/vnc_rbac.py and
 * vnc_perms.py), kept pure: who the caller is comes in as an `AuthContext`, objects as their perms2, rules as
 * api-access-list entries. The edge (auth/guard.ts) reads the store and turns a refusal into the HTTP answer.
 *
 * - `aaa_mode`: `no-auth` (nothing checked), `cloud-admin` (only the cloud admin role gets in), `rbac` (the
 *   api-access-list rules decide which role may C/R/U/D which object type or field, then perms2 decides which
 *   project may read/write/link which object).
 * - perms2: owner (a project uuid without dashes) gets `owner_access`; a project or domain in `share` gets its
 *   `tenant_access`; everyone gets `global_access`. Delete also needs the caller's project to own the object.
 * - rules: global (default-global-system-config:default-api-access-list), then the request's domain, then its
 *   project; rules for the same object.field are merged role by role (CRUD letters united). A field rule
 *   decides the fields it names; the rest of the body falls to the object rule, else the `*` rule.
 *
 * Example: `permsFor(ctx, cfg, vn.props.perms2, PERMS.W)` → `{ ok: false, status: 403, message: "Permission Denied for ['member'] to write operation in domain 'default-domain' and project 'b' RBAC: bob doesn't have write permission in project '4c1…'" }`.
 */

export const AAA_MODES = ["no-auth", "cloud-admin", "rbac"] as const;
export type AaaMode = (typeof AAA_MODES)[number];

export interface AuthConfig {
  aaaMode: AaaMode;
  /** `cloud_admin_role` (default `admin`): bypasses every check. */
  cloudAdminRole: string;
  /** `global_read_only_role` (default none): may read everything. */
  globalReadOnlyRole?: string;
}

/** Who is asking, as keystonemiddleware's headers describe it (X-User, X-Role, X-Project-Id, X-Domain-Id…). */
export interface AuthContext {
  user: string;
  roles: string[];
  /** Token scope, uuid without dashes (undefined for an unscoped token). */
  projectId?: string;
  projectName?: string;
  /** Contrail domain uuid without dashes and name (keystone's `default` → Contrail `default-domain`). */
  domainId?: string;
  domainName?: string;
  /** keystone's v3 token body, shown by /obj-perms as token_info. */
  tokenInfo?: unknown;
}

export const PERMS = { X: 1, W: 2, WX: 3, R: 4, RX: 5, RW: 6, RWX: 7 } as const;
const MODE_STR: Record<number, string> = { 1: "X", 2: "W", 3: "WX", 4: "R", 5: "RX", 6: "RW", 7: "RWX" };
const MODE_STR2: Record<number, string> = {
  1: "link",
  2: "write",
  3: "write,link",
  4: "read",
  5: "read,link",
  6: "read,write",
  7: "read,write,link",
};

export type Decision = { ok: true; granted: string } | { ok: false; status: number; message: string };

/** Python's repr of a list of strings, as upstream's messages print roles: `['member', 'reader']`. */
export const pyList = (xs: string[]): string => `[${xs.map((x) => `'${x}'`).join(", ")}]`;

const hasRole = (role: string | undefined, roles: string[]): boolean =>
  role !== undefined && roles.some((r) => r.toLowerCase() === role.toLowerCase());

export const isCloudAdmin = (cfg: AuthConfig, ctx: AuthContext): boolean =>
  hasRole(cfg.cloudAdminRole, ctx.roles);
export const isGlobalReadOnly = (cfg: AuthConfig, ctx: AuthContext): boolean =>
  hasRole(cfg.globalReadOnlyRole, ctx.roles);

export interface Perms2 {
  owner?: string | null;
  owner_access?: number;
  global_access?: number;
  share?: { tenant: string; tenant_access: number }[] | null;
}

/** `tenant:<uuid>`, `domain:<uuid>` or a bare uuid (a tenant) → [type, uuid without dashes]. */
export function shareInfo(tenant: string): [string, string] {
  const i = tenant.indexOf(":");
  const [type, id] = i < 0 ? ["tenant", tenant] : [tenant.slice(0, i), tenant.slice(i + 1)];
  return [type, id.replace(/-/g, "")];
}

/**
 * vnc_perms.validate_perms_rbac: may `ctx` use an object with `perms2` in `mode` (R/W/X or their union)?
 * `ownerForDelete`: a delete also needs the caller's project to be the owner.
 */
export function permsFor(
  ctx: AuthContext,
  cfg: AuthConfig,
  perms2: Perms2 | undefined,
  mode: number,
  what: string,
  ownerForDelete?: string,
): Decision {
  if (isCloudAdmin(cfg, ctx)) return { ok: true, granted: "RWX" };
  if (isGlobalReadOnly(cfg, ctx) && mode === PERMS.R) return { ok: true, granted: "R" };
  const errMsg = `Permission Denied for ${pyList(ctx.roles)} to ${MODE_STR2[mode]} operation in domain '${ctx.domainName}' and project '${ctx.projectName}' `;
  if (!perms2) return { ok: true, granted: "" }; // upstream: an object it cannot find is not refused here
  if (!perms2.owner)
    return { ok: false, status: 403, message: `${errMsg}RBAC: ${what} doesn't have  perms2 owner set ` };
  const owner = perms2.owner.replace(/-/g, "");
  let perms = ((perms2.owner_access ?? 0) << 6) | (perms2.global_access ?? 0);
  let mask = 0o7;
  if (ctx.projectId === owner) mask |= 0o700;
  for (const item of perms2.share ?? []) {
    const [type, id] = shareInfo(item.tenant);
    if ((type === "tenant" && ctx.projectId === id) || (type === "domain" && ctx.domainId === id)) {
      perms |= item.tenant_access << 3;
      mask |= 0o070;
      break;
    }
  }
  const modeMask = mode | (mode << 3) | (mode << 6);
  let ok = mask & perms & modeMask;
  if (ok && ownerForDelete !== undefined) ok = ctx.projectId === ownerForDelete.replace(/-/g, "") ? ok : 0;
  const granted = (ok & 0o7) | ((ok >> 3) & 0o7) | ((ok >> 6) & 0o7);
  if (ok) return { ok: true, granted: MODE_STR[granted]! };
  return {
    ok: false,
    status: 403,
    message: `${errMsg}RBAC: ${ctx.user} doesn't have ${MODE_STR2[mode]} permission in project '${owner}'`,
  };
}

export interface RbacPerm {
  role_name: string;
  role_crud: string;
}
export interface RbacRule {
  rule_object: string;
  rule_field?: string | null;
  rule_perms: RbacPerm[];
}

/** What a freshly started API in rbac mode puts in default-global-system-config:default-api-access-list. */
export const DEFAULT_RBAC_RULES: RbacRule[] = [
  { rule_object: "fqname-to-id", rule_field: "", rule_perms: [{ role_name: "*", role_crud: "CRUD" }] },
  { rule_object: "id-to-fqname", rule_field: "", rule_perms: [{ role_name: "*", role_crud: "CRUD" }] },
  { rule_object: "useragent-kv", rule_field: "", rule_perms: [{ role_name: "*", role_crud: "CRUD" }] },
  { rule_object: "documentation", rule_field: "", rule_perms: [{ role_name: "*", role_crud: "R" }] },
  { rule_object: "/", rule_field: "", rule_perms: [{ role_name: "*", role_crud: "R" }] },
  { rule_object: "watch", rule_field: "", rule_perms: [{ role_name: "*", role_crud: "R" }] },
  {
    rule_object: "logical-router",
    rule_field: "logical_router_gateway_external",
    rule_perms: [{ role_name: "*", role_crud: "R" }],
  },
];

/** vnc_rbac.get_rbac_rules: global, domain and project lists in that order, same object.field merged. */
export function mergeRules(lists: RbacRule[][]): RbacRule[] {
  const byKey = new Map<string, RbacRule>();
  for (const list of lists)
    for (const raw of list) {
      const field = raw.rule_field ? raw.rule_field : "*";
      const key = `${raw.rule_object}.${field}`;
      const prev = byKey.get(key);
      if (!prev) {
        byKey.set(key, {
          rule_object: raw.rule_object,
          rule_field: field,
          rule_perms: raw.rule_perms.map((p) => ({ ...p })),
        });
        continue;
      }
      const crud = new Map(prev.rule_perms.map((p) => [p.role_name, p.role_crud]));
      for (const p of raw.rule_perms) {
        const had = crud.get(p.role_name);
        crud.set(
          p.role_name,
          had === undefined ? p.role_crud : [...new Set([...had, ...p.role_crud])].join(""),
        );
      }
      prev.rule_perms = [...crud].map(([role_name, role_crud]) => ({ role_name, role_crud }));
    }
  return [...byKey.values()];
}

const OP: Record<string, string> = { GET: "R", HEAD: "R", POST: "C", PUT: "U", DELETE: "D" };

/**
 * vnc_rbac.validate_request: may this request's method act on the object type its path names, for the fields
 * its body carries? `knownType(t)` says whether `t` is a resource type (to turn `virtual-networks` into
 * `virtual-network`). Cloud admin and global read-only (GET) pass without rules.
 */
export function validateRequest(
  cfg: AuthConfig,
  ctx: AuthContext,
  req: { method: string; path: string; body: unknown },
  rules: RbacRule[],
  knownType: (t: string) => boolean,
): Decision {
  if (ctx.roles.length === 0) return { ok: false, status: 401, message: "roles empty!!" };
  if (isCloudAdmin(cfg, ctx)) return { ok: true, granted: "" };
  if (isGlobalReadOnly(cfg, ctx) && (req.method === "GET" || req.method === "HEAD"))
    return { ok: true, granted: "" };
  if (rules.length === 0)
    return { ok: false, status: 403, message: "Permission Denied RBAC rule list empty" };
  const objType = req.path === "/" ? "/" : (req.path.split("/")[1] ?? "");
  const op = OP[req.method] ?? "R";
  const objKey =
    objType.endsWith("s") && !knownType(objType) && knownType(objType.slice(0, -1))
      ? objType.slice(0, -1)
      : objType;
  const denied: Decision = {
    ok: false,
    status: 403,
    message: `Permission Denied for ${ctx.user} as ${pyList(ctx.roles)} to ${op} ${objKey} in ${ctx.projectName}`,
  };
  // Only the first level of the body counts: the wrapped object's fields, or the action's own keys.
  const body =
    req.body && typeof req.body === "object" && !Array.isArray(req.body)
      ? (req.body as Record<string, unknown>)
      : {};
  const inner = body[objKey];
  const fields = new Set(
    Object.keys(inner && typeof inner === "object" && !Array.isArray(inner) ? inner : body),
  );
  fields.delete("uuid");
  fields.delete("fq_name");
  const match = (rule: RbacRule): Decision =>
    rule.rule_perms.some(
      (p) => (p.role_name === "*" || ctx.roles.includes(p.role_name)) && p.role_crud.includes(op),
    )
      ? { ok: true, granted: "" }
      : denied;
  let wildcard: RbacRule | undefined;
  let objRule: RbacRule | undefined;
  const fieldRules: RbacRule[] = [];
  for (const r of rules) {
    if (r.rule_object === "*") wildcard = r;
    else if (r.rule_object === objKey) {
      if (r.rule_field !== "*") fieldRules.push(r);
      else objRule = r;
    }
  }
  if (fieldRules.length && fields.size) {
    for (const r of fieldRules) {
      if (!fields.has(r.rule_field!)) continue;
      if (!match(r).ok) return denied;
      fields.delete(r.rule_field!);
    }
    if (fields.size === 0) return { ok: true, granted: "" };
    if (objRule) return match(objRule);
    if (wildcard) return match(wildcard);
    return denied;
  }
  if (objRule) return match(objRule);
  if (wildcard) return match(wildcard);
  return denied;
}
