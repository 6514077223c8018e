/**
 * Authentication and authorisation of the fake config API, wired together: the keystone endpoint (its own
 * listener, as keystone is its own service), the guard every request passes, the default global
 * api-access-list (rbac), and upstream's admin port (LocalAuth: HTTP Basic with the admin user, loopback only,
 * no checks) for the testbed's own components.
 *
 * Example: `startApiServer({ auth: { aaaMode: "rbac", identity: loadIdentityFile("users.yaml") } })`
 *   → `api.keystoneUrl` for clients' `auth_host`/`auth_port`, `api.adminUrl` for the controller.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ConfigService } from "../service";
import { AuthGuard, ensureDefaultRbacRules } from "./guard";
import type { Identity } from "./identity";
import { Keystone, startKeystone } from "./keystone";
import { AAA_MODES, type AaaMode } from "./perms";

export { AAA_MODES, type AaaMode } from "./perms";
export { type Identity, IdentityError, loadIdentityFile, parseIdentity } from "./identity";
export { Keystone } from "./keystone";

export interface AuthOptions {
  aaaMode: AaaMode;
  /** Users, passwords, role assignments (required unless no-auth). */
  identity?: Identity;
  /** keystone's port (default: ephemeral; keystone's own is 5000). */
  keystonePort?: number;
  tokenTtlSeconds?: number;
  /** `cloud_admin_role` (default `admin`) and `global_read_only_role` (default none). */
  cloudAdminRole?: string;
  globalReadOnlyRole?: string;
  /** Upstream's `admin_port` (default: ephemeral; upstream's is 8095). */
  adminPort?: number;
  /** `admin_user`: default the first identity user holding the cloud admin role. */
  adminUser?: string;
}

/** A wrong `--aaa-mode` or an identity the mode cannot work with. */
export class AuthConfigError extends Error {}

export function parseAaaMode(v: string): AaaMode {
  if ((AAA_MODES as readonly string[]).includes(v)) return v as AaaMode;
  throw new AuthConfigError(`unknown aaa_mode "${v}" (one of: ${AAA_MODES.join(", ")})`);
}

export interface RunningAuth {
  guard: AuthGuard;
  keystone: Keystone;
  keystoneUrl: string;
  /** Serves `app` on the admin port; resolves to its URL with the admin's credentials in it. */
  listenAdmin(app: (req: IncomingMessage, res: ServerResponse) => void, host: string): Promise<string>;
  close(): Promise<void>;
}

export async function startAuth(opts: AuthOptions, svc: ConfigService): Promise<RunningAuth> {
  const mode = parseAaaMode(opts.aaaMode);
  if (!opts.identity)
    throw new AuthConfigError(
      `aaa_mode ${mode} needs an identity (users, passwords, roles): give --identity <file>`,
    );
  const cloudAdminRole = opts.cloudAdminRole ?? "admin";
  const adminName =
    opts.adminUser ??
    [...opts.identity.users.values()].find((u) =>
      [...u.roles.values()].some((rs) => rs.includes(cloudAdminRole)),
    )?.name;
  const admin = adminName === undefined ? undefined : opts.identity.users.get(adminName);
  if (!admin)
    throw new AuthConfigError(
      opts.adminUser
        ? `admin user "${opts.adminUser}" is not in the identity`
        : `the identity has no user with the cloud admin role "${cloudAdminRole}" on any project (upstream's admin_user: the API's own services need one)`,
    );
  const store = svc.store;
  const keystone = new Keystone(opts.identity, {
    adminRole: cloudAdminRole,
    tokenTtlSeconds: opts.tokenTtlSeconds,
    projectId: (name) => store.byFqName("project", ["default-domain", name])?.uuid,
    projectNameOf: (id) => {
      const hex = id.replace(/-/g, "");
      if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
      const o = store.get(
        `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
      );
      return o?.type === "project" && o.fq_name[0] === "default-domain" ? o.fq_name[1] : undefined;
    },
  });
  const ks = await startKeystone(keystone, { port: opts.keystonePort ?? 0 });
  if (mode === "rbac") ensureDefaultRbacRules(svc);
  const guard = new AuthGuard(
    { aaaMode: mode, cloudAdminRole, globalReadOnlyRole: opts.globalReadOnlyRole },
    store,
    (t) => keystone.validate(t),
    ks.url,
  );
  let adminServer: Server | undefined;
  const expected = `Basic ${Buffer.from(`${admin.name}:${admin.password}`).toString("base64")}`;
  return {
    guard,
    keystone,
    keystoneUrl: ks.url,
    async listenAdmin(app, host) {
      adminServer = await new Promise<Server>((resolve, reject) => {
        const s = createServer((req, res) => {
          // LocalAuth: 401 with upstream's words when the Basic credentials are missing or wrong
          const got = req.headers.authorization;
          if (got !== expected) {
            res.writeHead(401, { "Content-Type": "text/plain" });
            res.end(got ? "Authentication check failed" : "HTTP_AUTHORIZATION header missing");
            return;
          }
          (res as ServerResponse & { locals?: Record<string, unknown> }).locals = { localAuth: true };
          app(req, res);
        });
        s.once("error", reject);
        s.listen(opts.adminPort ?? 0, host, () => resolve(s));
      });
      adminServer.keepAliveTimeout = 5_000;
      const port = (adminServer.address() as AddressInfo).port;
      const h = host.includes(":") ? `[${host}]` : host;
      return `http://${encodeURIComponent(admin.name)}:${encodeURIComponent(admin.password)}@${h}:${port}`;
    },
    async close() {
      await Promise.all([
        ks.close(),
        adminServer &&
          new Promise<void>((resolve) => {
            adminServer!.close(() => resolve());
            adminServer!.closeAllConnections();
          }),
      ]);
    },
  };
}
