/**
 * The keystone v3 calls the controller makes for the Kubernetes RBAC mapping (controller/rbac-sync.ts): an admin
 * token (password, project-scoped, renewed on 401), role assignments read, granted and revoked, and the look-ups
 * by name that need. As kube-manager's `[AUTH]` section configures its keystone user.
 *
 * Example: `const ks = new KeystoneClient({ url, user: "admin", password, project: "admin" });
 *   await ks.grant({ kind: "users", name: "alice", project: "team-a", role: "k8s-role-dev" })`.
 */

export interface KeystoneCredentials {
  /** `http://host:port` of keystone (auth_host/auth_port). */
  url: string;
  user: string;
  password: string;
  project: string;
}

/** A role assignment on a project, to a user or (keystone v3) a group. */
export interface Assignment {
  kind: "users" | "groups";
  /** The user's or group's name. */
  name: string;
  project: string;
  role: string;
}

export class KeystoneError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

/**
 * A keystone v3 password login, as any client makes it (project-scoped when a project is given): the token id
 * from X-Subject-Token. A refusal is a KeystoneError with keystone's status and answer.
 */
export async function passwordToken(
  url: string,
  user: string,
  password: string,
  project?: string,
): Promise<string> {
  const res = await fetch(`${url}/v3/auth/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: user, domain: { id: "default" }, password } },
        },
        ...(project ? { scope: { project: { name: project, domain: { id: "default" } } } } : {}),
      },
    }),
  });
  const token = res.headers.get("x-subject-token");
  if (res.status !== 201 || !token)
    throw new KeystoneError(res.status, `keystone: cannot log in as ${user}: ${(await res.text()).trim()}`);
  return token;
}

export class KeystoneClient {
  private token?: string;
  private readonly ids = new Map<string, string>(); // `${kind}:${name}` → id

  constructor(private readonly creds: KeystoneCredentials) {}

  /** A fresh token for the configured user (what vnc_api does on a 401). */
  async newToken(): Promise<string> {
    return this.login();
  }

  private async login(): Promise<string> {
    this.token = await passwordToken(
      this.creds.url,
      this.creds.user,
      this.creds.password,
      this.creds.project,
    );
    return this.token;
  }

  private async call(
    method: string,
    path: string,
    body?: unknown,
    retried = false,
  ): Promise<Json | undefined> {
    const token = this.token ?? (await this.login());
    const res = await fetch(`${this.creds.url}${path}`, {
      method,
      headers: { "x-auth-token": token, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 401 && !retried) {
      this.token = undefined;
      return this.call(method, path, body, true);
    }
    const text = await res.text();
    if (!res.ok)
      throw new KeystoneError(res.status, `keystone: ${method} ${path} → ${res.status}: ${text.trim()}`);
    return text ? (JSON.parse(text) as Json) : undefined;
  }

  /** The id of a user, project or role by name; undefined when keystone has none. */
  async idOf(kind: "users" | "groups" | "projects" | "roles", name: string): Promise<string | undefined> {
    const k = `${kind}:${name}`;
    if (this.ids.has(k)) return this.ids.get(k);
    const list = ((await this.call("GET", `/v3/${kind}?name=${encodeURIComponent(name)}`))?.[kind] ?? []) as {
      id: string;
      name: string;
    }[];
    const hit = list.find((x) => x.name === name);
    // project ids follow Contrail's uuids, which a re-created namespace changes: do not cache those
    if (hit && kind !== "projects") {
      this.ids.set(k, hit.id);
    }
    return hit?.id;
  }

  private async roleId(role: string): Promise<string> {
    const id = await this.idOf("roles", role);
    if (id) return id;
    const made = (await this.call("POST", "/v3/roles", { role: { name: role } }))?.role as { id: string };
    this.ids.set(`roles:${role}`, made.id);
    return made.id;
  }

  /** The direct assignments on `projects` of these users and groups, by name. */
  async assignments(
    projects: string[],
    holders: { users: string[]; groups: string[] },
  ): Promise<Assignment[]> {
    const out: Assignment[] = [];
    const roles = ((await this.call("GET", "/v3/roles"))?.roles ?? []) as { id: string; name: string }[];
    const roleName = new Map(roles.map((r) => [r.id, r.name]));
    for (const project of projects) {
      const pid = await this.idOf("projects", project);
      if (!pid) continue;
      for (const kind of ["users", "groups"] as const)
        for (const name of holders[kind]) {
          const id = await this.idOf(kind, name);
          if (!id) continue;
          const got = ((await this.call("GET", `/v3/projects/${pid}/${kind}/${id}/roles`))?.roles ?? []) as {
            id: string;
          }[];
          for (const r of got) out.push({ kind, name, project, role: roleName.get(r.id) ?? r.id });
        }
    }
    return out;
  }

  async grant(a: Assignment): Promise<void> {
    const [id, pid] = await Promise.all([this.idOf(a.kind, a.name), this.idOf("projects", a.project)]);
    if (!id || !pid)
      throw new KeystoneError(
        404,
        `keystone: no ${!id ? `${a.kind.slice(0, -1)} ${a.name}` : `project ${a.project}`}`,
      );
    await this.call("PUT", `/v3/projects/${pid}/${a.kind}/${id}/roles/${await this.roleId(a.role)}`);
  }

  async revoke(a: Assignment): Promise<void> {
    const [id, pid, rid] = await Promise.all([
      this.idOf(a.kind, a.name),
      this.idOf("projects", a.project),
      this.idOf("roles", a.role),
    ]);
    if (!id || !pid || !rid) return;
    try {
      await this.call("DELETE", `/v3/projects/${pid}/${a.kind}/${id}/roles/${rid}`);
    } catch (e) {
      if (!(e instanceof KeystoneError && e.status === 404)) throw e;
    }
  }

  /** Keystone's user or group names (GET /v3/users, /v3/groups). */
  async names(kind: "users" | "groups"): Promise<string[]> {
    return (((await this.call("GET", `/v3/${kind}`))?.[kind] ?? []) as { name: string }[]).map((u) => u.name);
  }
}
