/**
 * The HTTP edge of authentication and authorisation: what keystonemiddleware and the API server's
 * AuthPostKeystone/VncRbac/VncPermissions do around every request, over the decisions of auth/perms.ts.
 *
 * - every request but the whitelisted root (`/`, `/documentation…`) needs a valid `X-Auth-Token`, else 401 with
 *   keystonemiddleware's JSON body and `WWW-Authenticate: Keystone uri=…` (vnc_api then re-authenticates once);
 * - `cloud-admin`: a token without the `admin` role gets 403 `403 Permission Denied`;
 * - `rbac`: the api-access-list rules must allow the method on the path's object type (vnc_rbac), then each
 *   object touched must allow the mode by its perms2 (read, write, link, delete — see the routes in app.ts);
 * - the admin port (upstream's LocalAuth: HTTP Basic with the admin user, loopback only) skips all checks —
 *   the testbed's own components (controller, daemons, agents) use it, as upstream's services use admin creds.
 *
 * Example: `const guard = new AuthGuard(cfg, store, (t) => keystone.validate(t), ks.url)`; `app.use(guard.authenticate)`.
 */
import type { NextFunction, Request, Response } from "express";
import { ApiError } from "../errors";
import { typeInfo } from "../schema";
import type { Store, StoredObject } from "../store";
import type { TokenInfo } from "./keystone";
import {
  AAA_MODES,
  type AaaMode,
  type AuthConfig,
  type AuthContext,
  DEFAULT_RBAC_RULES,
  isCloudAdmin,
  isGlobalReadOnly,
  mergeRules,
  PERMS,
  type Perms2,
  permsFor,
  type RbacRule,
  validateRequest,
} from "./perms";

/** Paths open without a token (upstream's _WHITE_LIST_URI). */
const WHITE_LIST = /^\/documentation|^\/$/;

export const GLOBAL_ACCESS_LIST = ["default-global-system-config", "default-api-access-list"];

type Json = Record<string, unknown>;

export class AuthGuard {
  constructor(
    readonly cfg: AuthConfig,
    private readonly store: Store,
    private readonly validate: (token: string | undefined) => TokenInfo | undefined,
    /** Where a refused client is sent for a token (the WWW-Authenticate header). */
    private readonly keystoneUrl: string,
  ) {}

  get enabled(): boolean {
    return this.cfg.aaaMode !== "no-auth";
  }

  /** The caller of this request; undefined when nothing is to be checked (no-auth, admin port, white list). */
  static ctx(res: Response): AuthContext | undefined {
    return res.locals.auth as AuthContext | undefined;
  }

  private rbac(res: Response): AuthContext | undefined {
    return this.cfg.aaaMode === "rbac" ? AuthGuard.ctx(res) : undefined;
  }

  readonly authenticate = (req: Request, res: Response, next: NextFunction): void => {
    if (!this.enabled || res.locals.localAuth || WHITE_LIST.test(req.path)) {
      next();
      return;
    }
    const raw = req.get("x-auth-token");
    const info = this.validate(raw);
    if (!info) {
      const body = JSON.stringify({
        error: {
          code: 401,
          title: "Unauthorized",
          message: "The request you have made requires authentication.",
        },
      });
      res
        .status(401)
        .set("WWW-Authenticate", `Keystone uri="${this.keystoneUrl}"`)
        .type("application/json; charset=UTF-8")
        .send(body);
      return;
    }
    const domain = this.store.byFqName("domain", ["default-domain"]);
    const ctx: AuthContext = {
      user: info.user.name,
      roles: info.roles,
      projectId: info.project?.id,
      projectName: info.project?.name,
      domainId: domain?.uuid.replace(/-/g, ""),
      domainName: "default-domain",
    };
    res.locals.auth = ctx;
    res.locals.token = info;
    if (this.cfg.aaaMode === "cloud-admin") {
      // AuthPostKeystone: without rbac only the admin role is let in (the literal `admin`, as upstream).
      if (!ctx.roles.some((r) => r.toLowerCase() === "admin")) {
        res.status(403).type("text/plain").send("403 Permission Denied");
        return;
      }
      next();
      return;
    }
    const d = validateRequest(
      this.cfg,
      ctx,
      { method: req.method, path: req.path, body: req.body },
      this.rulesFor(ctx),
      (t) => typeInfo(t) !== undefined,
    );
    next(d.ok ? undefined : new ApiError(d.status, d.message));
  };

  /** The api-access-list rules in force for the caller: global, its domain's, its project's (vnc_rbac). */
  rulesFor(ctx: AuthContext): RbacRule[] {
    const lists: RbacRule[][] = [];
    const of = (o: StoredObject | undefined) => {
      if (!o) return;
      for (const c of this.store.children(o.uuid)) {
        if (c.type !== "api-access-list") continue;
        const entries = c.props.api_access_list_entries as { rbac_rule?: RbacRule[] } | undefined;
        lists.push(entries?.rbac_rule ?? []);
      }
    };
    of(this.store.byFqName("global-system-config", ["default-global-system-config"]));
    if (ctx.domainId) of(this.store.get(dashed(ctx.domainId)));
    if (ctx.projectId) of(this.store.get(dashed(ctx.projectId)));
    return mergeRules(lists);
  }

  private decide(res: Response, o: StoredObject | undefined, mode: number, ownerForDelete?: string): void {
    const ctx = this.rbac(res);
    if (!ctx || !o) return;
    const d = permsFor(ctx, this.cfg, o.props.perms2 as Perms2 | undefined, mode, o.uuid, ownerForDelete);
    if (!d.ok) throw new ApiError(d.status, d.message);
  }

  read(res: Response, o: StoredObject | undefined): void {
    this.decide(res, o, PERMS.R);
  }

  write(res: Response, o: StoredObject | undefined): void {
    this.decide(res, o, PERMS.W);
  }

  link(res: Response, o: StoredObject | undefined): void {
    this.decide(res, o, PERMS.X);
  }

  /** check_perms_delete: write on the object and the caller's project owns it; parentless objects pass. */
  delete(res: Response, o: StoredObject): void {
    if (!o.parent_uuid) return;
    const owner = (o.props.perms2 as Perms2 | undefined)?.owner;
    this.decide(res, o, PERMS.W, owner ?? "");
  }

  /** Link permission on every ref a create/update body carries (resolved by uuid or fq_name). */
  refs(res: Response, type: string, body: unknown): void {
    if (!this.rbac(res) || !body || typeof body !== "object") return;
    const info = typeInfo(type);
    if (!info) return;
    for (const [field, target] of info.refFields) {
      const list = (body as Json)[field];
      if (!Array.isArray(list)) continue;
      for (const r of list) {
        if (!r || typeof r !== "object") continue;
        const { uuid, to } = r as { uuid?: unknown; to?: unknown };
        const t =
          typeof uuid === "string"
            ? this.store.get(uuid)
            : Array.isArray(to)
              ? this.store.byFqName(target, to as string[])
              : undefined;
        this.link(res, t);
      }
    }
  }

  /** LIST: which objects the caller may see (user_visible and readable), or undefined for all. */
  visible(res: Response): ((o: StoredObject) => boolean) | undefined {
    const ctx = this.rbac(res);
    if (!ctx || isCloudAdmin(this.cfg, ctx)) return undefined;
    return (o) =>
      (o.props.id_perms as Json | undefined)?.user_visible !== false &&
      permsFor(ctx, this.cfg, o.props.perms2 as Perms2 | undefined, PERMS.R, o.uuid).ok;
  }

  /** The project a new domain-level or top-level object is owned by (_ensure_perms2_present). */
  ownerProject(res: Response): string | undefined {
    return AuthGuard.ctx(res)?.projectId;
  }

  /** PUT /aaa-mode (aaa_mode_http_put): the cloud admin switches the mode at run time. */
  setAaaMode(res: Response, body: unknown, svc: Parameters<typeof ensureDefaultRbacRules>[0]): Json {
    const mode = (body as Json | undefined)?.["aaa-mode"];
    if (typeof mode !== "string" || !(AAA_MODES as readonly string[]).includes(mode))
      throw new ApiError(400, `Invalid aaa-mode ${String(mode)}`);
    const ctx = AuthGuard.ctx(res);
    if (!res.locals.localAuth && (!ctx || !isCloudAdmin(this.cfg, ctx)))
      throw new ApiError(403, " Permission denied");
    this.cfg.aaaMode = mode as AaaMode;
    if (mode === "rbac") ensureDefaultRbacRules(svc);
    return { "aaa-mode": mode };
  }

  /** GET /obj-perms as obj_perms_http_get answers it. */
  objPerms(res: Response, uuid: string | undefined): Json {
    const ctx = AuthGuard.ctx(res);
    if (!this.enabled || !ctx)
      return {
        token_info: null,
        is_cloud_admin_role: false,
        is_global_read_only_role: false,
        permissions: "RWX",
      };
    const token = res.locals.token as TokenInfo;
    const out: Json = {
      token_info: this.tokenInfo(token),
      is_cloud_admin_role: isCloudAdmin(this.cfg, ctx),
      is_global_read_only_role: isGlobalReadOnly(this.cfg, ctx),
    };
    if (uuid) out.permissions = this.permissions(res, uuid);
    return out;
  }

  /** vnc_perms.obj_perms: the modes granted on an object ('' when none), as chown/chmod check for 'RW'. */
  permissions(res: Response, uuid: string): string {
    const ctx = AuthGuard.ctx(res);
    if (!this.enabled || !ctx) return "RWX";
    if (this.cfg.aaaMode === "cloud-admin") return isCloudAdmin(this.cfg, ctx) ? "RWX" : "";
    const o = this.store.get(uuid);
    const d = permsFor(ctx, this.cfg, o?.props.perms2 as Perms2 | undefined, PERMS.RWX, uuid);
    return d.ok ? d.granted : "";
  }

  /** chown/chmod: the caller needs read and write on the object. */
  requireRW(res: Response, uuid: string): void {
    if (!this.permissions(res, uuid).includes("RW")) throw new ApiError(403, " Permission denied");
  }

  private tokenInfo(t: TokenInfo): Json {
    const domain = { id: "default", name: "Default" };
    return {
      token: {
        methods: ["password"],
        user: { domain, id: t.user.id, name: t.user.name },
        expires_at: t.expiresAt.toISOString(),
        issued_at: t.issuedAt.toISOString(),
        ...(t.project
          ? {
              // obj_perms_http_get rewrites the project's domain id to the Contrail domain uuid (no dashes)
              project: {
                domain: { ...domain, id: AuthGuard.ctxDomain(this.store) },
                id: t.project.id,
                name: t.project.name,
              },
              roles: t.roles.map((name) => ({ name })),
            }
          : {}),
      },
    };
  }

  private static ctxDomain(store: Store): string | undefined {
    return store.byFqName("domain", ["default-domain"])?.uuid.replace(/-/g, "");
  }
}

const dashed = (hex: string): string =>
  hex.includes("-")
    ? hex
    : `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

/**
 * _create_default_rbac_rule: in rbac mode the global api-access-list exists and holds at least the default
 * rules (missing ones are added back, as upstream does at every start).
 */
export function ensureDefaultRbacRules(svc: {
  store: Store;
  create(type: string, body: unknown): StoredObject;
  setProps(o: StoredObject, props: Json): StoredObject;
}): void {
  const o = svc.store.byFqName("api-access-list", GLOBAL_ACCESS_LIST);
  if (!o) {
    svc.create("api-access-list", {
      fq_name: GLOBAL_ACCESS_LIST,
      parent_type: "global-system-config",
      api_access_list_entries: { rbac_rule: DEFAULT_RBAC_RULES },
    });
    return;
  }
  const cur = (
    (o.props.api_access_list_entries as { rbac_rule?: RbacRule[] } | undefined)?.rbac_rule ?? []
  ).slice();
  const missing = DEFAULT_RBAC_RULES.filter((r) => !cur.some((c) => JSON.stringify(c) === JSON.stringify(r)));
  if (missing.length) svc.setProps(o, { api_access_list_entries: { rbac_rule: [...cur, ...missing] } });
}
