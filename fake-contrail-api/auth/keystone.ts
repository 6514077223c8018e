/**
 * A keystone-compatible identity endpoint (v3, password method, default domain only), what the config API's
 * `auth = keystone` talks to and what `vnc_api` authenticates against:
 *   POST   /v3/auth/tokens   password credentials (+ project scope) → 201, token id in X-Subject-Token
 *   GET    /v3/auth/tokens   validate X-Subject-Token (caller's X-Auth-Token must be valid) → 200 / 404
 *   HEAD   /v3/auth/tokens   the same without a body;  DELETE revokes it (204)
 *   GET    /v3/users|projects|roles?name=…    look-ups (admin token)
 *   PUT|DELETE|HEAD /v3/projects/{p}/users/{u}/roles/{r}, GET …/roles   role grants (admin token)
 *   GET    /v3/role_assignments?user.id=&scope.project.id=
 * Errors are keystone's JSON `{"error": {"code", "title", "message"}}`. Project ids are the Contrail project's
 * uuid without dashes when one exists (as keystone-synced Contrail projects are), else derived from the name.
 *
 * Example: `const ks = new Keystone(identity, { projectId: (n) => contrailUuidOf(n) }); await startKeystone(ks)`.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Identity } from "./identity";

/** Keystone's default domain: id `default`, name `Default` (names compare case-insensitively, as in MySQL). */
export const DEFAULT_DOMAIN = { id: "default", name: "Default" } as const;

export interface TokenInfo {
  id: string;
  user: { id: string; name: string };
  /** Absent for an unscoped token. */
  project?: { id: string; name: string };
  roles: string[];
  issuedAt: Date;
  expiresAt: Date;
}

export interface KeystoneOptions {
  /** The Contrail project uuid (dashes or not) for a project name in the default domain, if there is one. */
  projectId?: (name: string) => string | undefined;
  /** The reverse: the name of the Contrail project (default domain) with this uuid (dashes or not). */
  projectNameOf?: (id: string) => string | undefined;
  /** Token lifetime (keystone's `[token] expiration`, default 3600 s). */
  tokenTtlSeconds?: number;
  /** Role that may manage grants and look up other users (keystone's admin policy). */
  adminRole?: string;
  now?: () => Date;
}

/** Stable keystone-style id (32 hex) for a name: the same user is the same id in every run. */
const idOf = (kind: string, name: string): string =>
  createHash("sha256").update(`${kind}:${name}`).digest("hex").slice(0, 32);

class KsError extends Error {
  constructor(
    readonly code: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}
const UNAUTHORIZED = () =>
  new KsError(401, "Unauthorized", "The request you have made requires authentication.");
const forbidden = (action: string) =>
  new KsError(403, "Forbidden", `You are not authorized to perform the requested action: ${action}.`);
const notFound = (what: string, id: string) =>
  new KsError(404, "Not Found", `Could not find ${what}: ${id}.`);
const badRequest = (m: string) => new KsError(400, "Bad Request", m);

const domainMatches = (d: unknown): boolean => {
  if (d === undefined) return true; // keystone requires it for names; vnc_api always sends one
  if (typeof d !== "object" || d === null) return false;
  const { id, name } = d as { id?: unknown; name?: unknown };
  if (id !== undefined) return id === DEFAULT_DOMAIN.id;
  return typeof name === "string" && name.toLowerCase() === DEFAULT_DOMAIN.name.toLowerCase();
};

export class Keystone {
  private identity: Identity;
  private readonly tokens = new Map<string, TokenInfo>();
  /** Grants made through the API (the controller's), on top of the identity's own. */
  private readonly grants = new Map<string, Set<string>>(); // `${user}\0${project}` → roles
  private readonly revokedGrants = new Map<string, Set<string>>();
  /** Grants to groups: `${group}\0${project}` → roles (a member holds them too). */
  private readonly groupGrants = new Map<string, Set<string>>();
  private readonly extraRoles = new Set<string>();
  readonly adminRole: string;
  private readonly ttlMs: number;
  private readonly now: () => Date;

  constructor(
    identity: Identity,
    private readonly opts: KeystoneOptions = {},
  ) {
    this.identity = identity;
    this.adminRole = opts.adminRole ?? "admin";
    this.ttlMs = (opts.tokenTtlSeconds ?? 3600) * 1000;
    this.now = opts.now ?? (() => new Date());
  }

  // ------------------------------------------------------------------ the model

  projectId(name: string): string {
    const contrail = this.opts.projectId?.(name);
    return contrail ? contrail.replace(/-/g, "") : idOf("project", name);
  }

  /** Project name for an id: the identity's projects, grants, and (via the resolver) Contrail's. */
  private projectName(id: string): string | undefined {
    for (const n of this.projectNames()) if (this.projectId(n) === id) return n;
    return undefined;
  }

  private projectNames(): Set<string> {
    const out = new Set<string>();
    for (const u of this.identity.users.values()) for (const p of u.roles.keys()) out.add(p);
    for (const k of [...this.grants.keys(), ...this.groupGrants.keys()]) out.add(k.split("\0")[1]!);
    return out;
  }

  private knownProject(name: string): boolean {
    return this.projectNames().has(name) || this.opts.projectId?.(name) !== undefined;
  }

  groupId(name: string): string {
    return idOf("group", name);
  }

  private groupNames(): Set<string> {
    const out = new Set<string>();
    for (const u of this.identity.users.values()) for (const g of u.groups) out.add(g);
    for (const k of this.groupGrants.keys()) out.add(k.split("\0")[0]!);
    return out;
  }

  /** The roles a group holds on a project. */
  groupRolesOf(group: string, project: string): string[] {
    return [...(this.groupGrants.get(`${group}\0${project}`) ?? [])];
  }

  grantGroup(group: string, project: string, role: string): void {
    const key = `${group}\0${project}`;
    if (!this.groupGrants.has(key)) this.groupGrants.set(key, new Set());
    this.groupGrants.get(key)!.add(role);
  }

  revokeGroup(group: string, project: string, role: string): void {
    this.groupGrants.get(`${group}\0${project}`)?.delete(role);
  }

  userId(name: string): string {
    return idOf("user", name);
  }

  roleId(name: string): string {
    return idOf("role", name);
  }

  private roleNames(): Set<string> {
    const out = new Set<string>([this.adminRole, "member", ...this.extraRoles]);
    for (const u of this.identity.users.values())
      for (const rs of u.roles.values()) for (const r of rs) out.add(r);
    for (const rs of [...this.grants.values(), ...this.groupGrants.values()]) for (const r of rs) out.add(r);
    return out;
  }

  private userById(id: string) {
    return [...this.identity.users.values()].find((u) => this.userId(u.name) === id);
  }

  private roleById(id: string): string | undefined {
    return [...this.roleNames()].find((r) => this.roleId(r) === id);
  }

  /**
   * The roles `user` holds on `project`: the identity's assignments plus grants, minus revoked ones, plus what
   * their groups hold there (keystone's effective assignments).
   */
  rolesOf(user: string, project: string): string[] {
    return [...new Set([...this.directRolesOf(user, project), ...this.inheritedRolesOf(user, project)])];
  }

  private directRolesOf(user: string, project: string): string[] {
    const key = `${user}\0${project}`;
    const base = this.identity.users.get(user)?.roles.get(project) ?? [];
    const revoked = this.revokedGrants.get(key) ?? new Set();
    return [...new Set([...base.filter((r) => !revoked.has(r)), ...(this.grants.get(key) ?? [])])];
  }

  private inheritedRolesOf(user: string, project: string): string[] {
    return (this.identity.users.get(user)?.groups ?? []).flatMap((g) => this.groupRolesOf(g, project));
  }

  /** The projects `user` holds a role on now, by name. */
  projectsOf(user: string): string[] {
    return [...this.projectNames()].filter((p) => this.rolesOf(user, p).length > 0).sort();
  }

  grant(user: string, project: string, role: string): void {
    const key = `${user}\0${project}`;
    this.revokedGrants.get(key)?.delete(role);
    if (!this.directRolesOf(user, project).includes(role)) {
      if (!this.grants.has(key)) this.grants.set(key, new Set());
      this.grants.get(key)!.add(role);
    }
  }

  revoke(user: string, project: string, role: string): void {
    const key = `${user}\0${project}`;
    this.grants.get(key)?.delete(role);
    if (this.identity.users.get(user)?.roles.get(project)?.includes(role)) {
      if (!this.revokedGrants.has(key)) this.revokedGrants.set(key, new Set());
      this.revokedGrants.get(key)!.add(role);
    }
  }

  hasUser(name: string): boolean {
    return this.identity.users.has(name);
  }

  // ------------------------------------------------------------------ tokens

  /** Password authentication, optionally project-scoped; throws keystone's 401 on any mismatch. */
  issue(user: string, password: string, project?: string): TokenInfo {
    const u = this.identity.users.get(user);
    if (!u || u.password !== password) throw UNAUTHORIZED();
    let scope: TokenInfo["project"];
    let roles: string[] = [];
    if (project !== undefined) {
      roles = this.rolesOf(user, project);
      // keystone refuses a scope the user has no role on (401, no detail: it does not say which part failed)
      if (roles.length === 0 || !this.knownProject(project)) throw UNAUTHORIZED();
      scope = { id: this.projectId(project), name: project };
    }
    const now = this.now();
    const info: TokenInfo = {
      id: randomBytes(48).toString("base64url"),
      user: { id: this.userId(user), name: user },
      ...(scope ? { project: scope } : {}),
      roles,
      issuedAt: now,
      expiresAt: new Date(now.getTime() + this.ttlMs),
    };
    this.tokens.set(info.id, info);
    return info;
  }

  /**
   * The token's current facts, or undefined when unknown, revoked or expired. Roles are re-read (a grant or
   * revoke shows at once), as keystone does after a role change invalidates the token cache.
   */
  validate(token: string | undefined): TokenInfo | undefined {
    if (!token) return undefined;
    const info = this.tokens.get(token);
    if (!info) return undefined;
    if (info.expiresAt.getTime() <= this.now().getTime()) {
      this.tokens.delete(token);
      return undefined;
    }
    if (info.project) {
      const roles = this.rolesOf(info.user.name, info.project.name);
      // a scope whose last role went away invalidates the token (keystone revokes it)
      if (roles.length === 0) {
        this.tokens.delete(token);
        return undefined;
      }
      return { ...info, roles };
    }
    return info;
  }

  /** Revokes one token (DELETE /v3/auth/tokens); true if it was valid. */
  revokeToken(token: string): boolean {
    return this.tokens.delete(token);
  }

  /** Ends every token of a user now (as if they all expired): the next request with one gets 401. */
  expireTokensOf(user: string): number {
    let n = 0;
    for (const [id, t] of this.tokens)
      if (t.user.name === user) {
        this.tokens.delete(id);
        n++;
      }
    return n;
  }

  /** keystone's v3 token body. */
  tokenBody(t: TokenInfo): Record<string, unknown> {
    const domain = { ...DEFAULT_DOMAIN };
    return {
      token: {
        methods: ["password"],
        user: { domain, id: t.user.id, name: t.user.name, password_expires_at: null },
        audit_ids: [createHash("sha256").update(t.id).digest("base64url").slice(0, 22)],
        expires_at: t.expiresAt.toISOString().replace(/Z$/, "000Z"),
        issued_at: t.issuedAt.toISOString().replace(/Z$/, "000Z"),
        ...(t.project
          ? {
              project: { domain, id: t.project.id, name: t.project.name },
              is_domain: false,
              roles: t.roles.map((r) => ({ id: this.roleId(r), name: r })),
              catalog: [],
            }
          : {}),
      },
    };
  }

  // ------------------------------------------------------------------ HTTP

  /** Serves the keystone paths; false for a path it does not know (the caller answers 404). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://keystone");
    try {
      const out = await this.route(req, url);
      const headers: Record<string, string> = { "Content-Type": "application/json", ...out.headers };
      const body = out.body === undefined || req.method === "HEAD" ? "" : JSON.stringify(out.body);
      res.writeHead(
        out.status,
        body ? { ...headers, "Content-Length": String(Buffer.byteLength(body)) } : headers,
      );
      res.end(body);
    } catch (e) {
      const err = e instanceof KsError ? e : new KsError(500, "Internal Server Error", String(e));
      const body = JSON.stringify({ error: { code: err.code, message: err.message, title: err.title } });
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      if (err.code === 401) headers["WWW-Authenticate"] = `Keystone uri="http://${req.headers.host ?? ""}"`;
      res.writeHead(err.code, headers);
      res.end(req.method === "HEAD" ? "" : body);
    }
  }

  private async route(
    req: IncomingMessage,
    url: URL,
  ): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const m = req.method ?? "GET";
    if (path === "/v3" && m === "GET")
      return {
        status: 200,
        body: { version: { id: "v3.14", status: "stable", links: [], "media-types": [] } },
      };
    if (path === "/v3/auth/tokens") {
      if (m === "POST") {
        const t = this.passwordAuth(await readJson(req));
        return { status: 201, body: this.tokenBody(t), headers: { "X-Subject-Token": t.id } };
      }
      const caller = this.validate(header(req, "x-auth-token"));
      if (!caller) throw UNAUTHORIZED();
      const subjectId = header(req, "x-subject-token");
      if (!subjectId) throw badRequest("Expecting to find X-Subject-Token in the request headers.");
      const subject = this.validate(subjectId);
      if (!subject) throw notFound("token", subjectId);
      if (m === "GET" || m === "HEAD") return { status: 200, body: this.tokenBody(subject) };
      if (m === "DELETE") {
        this.revokeToken(subjectId);
        return { status: 204 };
      }
    }
    // Everything else is an admin API.
    const caller = this.validate(header(req, "x-auth-token"));
    if (!caller) throw UNAUTHORIZED();
    const admin = caller.roles.includes(this.adminRole);
    const name = url.searchParams.get("name");
    const list = (kind: string, all: string[], idFn: (n: string) => string, extra = {}) => {
      if (!admin) throw forbidden(`identity:list_${kind}`);
      const names = name === null ? all : all.filter((n) => n === name);
      return { status: 200, body: { [kind]: names.map((n) => ({ id: idFn(n), name: n, ...extra })) } };
    };
    if (m === "GET" && path === "/v3/users")
      return list("users", [...this.identity.users.keys()], (n) => this.userId(n), { domain_id: "default" });
    if (m === "GET" && path === "/v3/roles")
      return list("roles", [...this.roleNames()], (n) => this.roleId(n));
    if (m === "GET" && path === "/v3/groups")
      return list("groups", [...this.groupNames()], (n) => this.groupId(n), { domain_id: "default" });
    if (m === "GET" && path === "/v3/projects") {
      const all = [...this.projectNames()];
      if (name !== null && !all.includes(name) && this.knownProject(name)) all.push(name);
      return list("projects", all, (n) => this.projectId(n), { domain_id: "default", is_domain: false });
    }
    if (m === "POST" && path === "/v3/roles") {
      if (!admin) throw forbidden("identity:create_role");
      const body = await readJson(req);
      const role = (body as { role?: { name?: unknown } }).role?.name;
      if (typeof role !== "string" || !role)
        throw badRequest("Invalid input for field 'role': 'name' is required");
      this.extraRoles.add(role);
      return { status: 201, body: { role: { id: this.roleId(role), name: role, domain_id: null } } };
    }
    if (m === "GET" && path === "/v3/role_assignments") {
      if (!admin) throw forbidden("identity:list_role_assignments");
      const uid = url.searchParams.get("user.id");
      const pid = url.searchParams.get("scope.project.id");
      const out: unknown[] = [];
      for (const u of this.identity.users.values()) {
        if (uid && this.userId(u.name) !== uid) continue;
        for (const p of this.projectNames()) {
          if (pid && this.projectId(p) !== pid) continue;
          for (const r of this.rolesOf(u.name, p))
            out.push({
              role: { id: this.roleId(r) },
              user: { id: this.userId(u.name) },
              scope: { project: { id: this.projectId(p) } },
            });
        }
      }
      return { status: 200, body: { role_assignments: out } };
    }
    const groupGrant = /^\/v3\/projects\/([^/]+)\/groups\/([^/]+)\/roles(?:\/([^/]+))?$/.exec(path);
    if (groupGrant) {
      const [, pid, gid, rid] = groupGrant as unknown as [string, string, string, string | undefined];
      if (!admin) throw forbidden(m === "GET" ? "identity:list_grants" : "identity:create_grant");
      const project = this.projectName(pid) ?? this.projectNameFromContrail(pid);
      if (!project) throw notFound("project", pid);
      const group = [...this.groupNames()].find((g) => this.groupId(g) === gid);
      if (!group) throw notFound("group", gid);
      const has = this.groupRolesOf(group, project);
      if (rid === undefined && m === "GET")
        return { status: 200, body: { roles: has.map((r) => ({ id: this.roleId(r), name: r })) } };
      const role = rid === undefined ? undefined : this.roleById(rid);
      if (!role) throw notFound("role", rid ?? "");
      if (m === "PUT") {
        this.grantGroup(group, project, role);
        return { status: 204 };
      }
      if (!has.includes(role)) throw notFound("role assignment", rid!);
      if (m === "DELETE") this.revokeGroup(group, project, role);
      return { status: 204 };
    }
    const grant = /^\/v3\/projects\/([^/]+)\/users\/([^/]+)\/roles(?:\/([^/]+))?$/.exec(path);
    if (grant) {
      const [, pid, uid, rid] = grant as unknown as [string, string, string, string | undefined];
      if (!admin) throw forbidden(m === "GET" ? "identity:list_grants" : "identity:create_grant");
      const project = this.projectName(pid) ?? this.projectNameFromContrail(pid);
      if (!project) throw notFound("project", pid);
      const user = this.userById(uid);
      if (!user) throw notFound("user", uid);
      if (rid === undefined && m === "GET")
        return {
          status: 200,
          body: {
            roles: this.directRolesOf(user.name, project).map((r) => ({ id: this.roleId(r), name: r })),
          },
        };
      const role = rid === undefined ? undefined : this.roleById(rid);
      if (!role) throw notFound("role", rid ?? "");
      if (m === "PUT") {
        this.grant(user.name, project, role);
        return { status: 204 };
      }
      if (m === "HEAD" || m === "GET") {
        if (!this.directRolesOf(user.name, project).includes(role)) throw notFound("role assignment", rid!);
        return { status: 204 };
      }
      if (m === "DELETE") {
        if (!this.directRolesOf(user.name, project).includes(role)) throw notFound("role assignment", rid!);
        this.revoke(user.name, project, role);
        return { status: 204 };
      }
    }
    throw new KsError(404, "Not Found", `The resource could not be found.`);
  }

  /** A project id the identity does not name: a Contrail project the resolver knows by uuid. */
  private projectNameFromContrail(pid: string): string | undefined {
    return this.opts.projectNameOf?.(pid);
  }

  private passwordAuth(body: unknown): TokenInfo {
    const auth = (body as { auth?: Record<string, unknown> } | undefined)?.auth;
    const identity = auth?.identity as { methods?: unknown; password?: { user?: Record<string, unknown> } };
    if (!identity || !Array.isArray(identity.methods))
      throw badRequest("Invalid input for field 'identity': 'methods' is a required property");
    if (!identity.methods.includes("password") || !identity.password?.user)
      throw new KsError(401, "Unauthorized", "Attempted to authenticate with an unsupported method.");
    const u = identity.password.user;
    if (typeof u.name !== "string" || typeof u.password !== "string" || !domainMatches(u.domain))
      throw UNAUTHORIZED();
    const scope = auth?.scope as { project?: { name?: unknown; id?: unknown; domain?: unknown } } | undefined;
    let project: string | undefined;
    if (scope?.project) {
      if (typeof scope.project.name === "string") {
        if (!domainMatches(scope.project.domain)) throw UNAUTHORIZED();
        project = scope.project.name;
      } else if (typeof scope.project.id === "string") {
        project = this.projectName(scope.project.id) ?? this.projectNameFromContrail(scope.project.id);
        if (!project) throw UNAUTHORIZED();
      } else throw badRequest("Invalid input for field 'scope/project': 'name' or 'id' is required");
    }
    return this.issue(u.name, u.password, project);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 1 << 20) throw new KsError(413, "Request Entity Too Large", "Request is too large.");
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw badRequest("The request body is not valid JSON.");
  }
}

export interface KeystoneServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `ks` on host:port (default 127.0.0.1, ephemeral port). */
export async function startKeystone(
  ks: Keystone,
  opts: { port?: number; host?: string } = {},
): Promise<KeystoneServer> {
  const host = opts.host ?? "127.0.0.1";
  const server: Server = await new Promise((resolve, reject) => {
    const s = createServer((req, res) => void ks.handle(req, res));
    s.once("error", reject);
    s.listen(opts.port ?? 0, host, () => resolve(s));
  });
  server.keepAliveTimeout = 5_000;
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
