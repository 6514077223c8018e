/**
 * The identity the testbed's keystone serves: users with passwords and their role assignments on projects
 * (keystone's default domain, which the config API maps to Contrail's `default-domain`). Read from a YAML/JSON
 * file (`--identity users.yaml`) or a scenario's `identity:` block; every mistake is reported at its line.
 *
 * Example file:
 *   users:
 *     admin: { password: contrail123, roles: { admin: [admin] } }
 *     alice: { password: a-secret, roles: { team-a: [member] }, groups: [devs] }
 * → `identity.users.get("alice").roles.get("team-a")` is `["member"]`.
 */
import { readFileSync } from "node:fs";
import { isMap, isScalar, LineCounter, type Node, parseDocument } from "yaml";

export interface IdentityUser {
  name: string;
  password: string;
  /** Project name → role names assigned to the user on it (keystone role assignments). */
  roles: Map<string, string[]>;
  /** Keystone groups the user is a member of — and the groups Kubernetes knows them in (`--as-group`). */
  groups: string[];
}

export interface Identity {
  users: Map<string, IdentityUser>;
}

/** A mistake in an identity file or block: `file:line: problem`. */
export class IdentityError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${problem}`);
    this.name = "IdentityError";
  }
}

/** Keystone names: no colon (it separates fq_name parts in Contrail), no whitespace at the ends. */
const NAME = /^[^:\s][^:]*[^:\s]$|^[^:\s]$/;

/**
 * Validates a parsed identity document. `lineOf(path)` gives the line of a path inside it (for error messages);
 * `fail` builds the error (a scenario's loader passes its own so the message points into the scenario file).
 */
export function parseIdentity(
  doc: unknown,
  fail: (problem: string, path: (string | number)[]) => never,
  at: (string | number)[] = [],
): Identity {
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObj(doc)) fail("an identity is a map with a `users:` map", at);
  for (const k of Object.keys(doc))
    if (k !== "users") fail(`unknown key "${k}" (an identity has only users:)`, [...at, k]);
  const usersRaw = doc.users;
  if (!isObj(usersRaw)) fail("users: must be a map of user name → {password, roles}", [...at, "users"]);
  const users = new Map<string, IdentityUser>();
  for (const [name, u] of Object.entries(usersRaw)) {
    const here = [...at, "users", name];
    if (!NAME.test(name)) fail(`user name "${name}" is not a keystone name (no ':' allowed)`, here);
    if (!isObj(u)) fail(`user ${name}: expected {password, roles}`, here);
    for (const k of Object.keys(u))
      if (k !== "password" && k !== "roles" && k !== "groups")
        fail(`user ${name}: unknown key "${k}" (a user has password, roles and groups)`, [...here, k]);
    if (typeof u.password !== "string" || u.password === "")
      fail(`user ${name}: password must be a non-empty string`, [...here, "password"]);
    const roles = new Map<string, string[]>();
    if (u.roles !== undefined) {
      if (!isObj(u.roles))
        fail(`user ${name}: roles must map a project name to a list of role names`, [...here, "roles"]);
      for (const [project, list] of Object.entries(u.roles)) {
        const p = [...here, "roles", project];
        if (!NAME.test(project)) fail(`user ${name}: project name "${project}" is not a keystone name`, p);
        if (!Array.isArray(list) || list.length === 0 || !list.every((r) => typeof r === "string" && r))
          fail(`user ${name}: roles on ${project} must be a non-empty list of role names`, p);
        roles.set(project, [...new Set(list as string[])]);
      }
    }
    const groups = u.groups ?? [];
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string" && NAME.test(g)))
      fail(`user ${name}: groups must be a list of group names (no ':')`, [...here, "groups"]);
    users.set(name, { name, password: u.password, roles, groups: [...new Set(groups as string[])] });
  }
  return { users };
}

/** Loads an identity file (YAML or JSON); problems are `IdentityError`s at the offending line. */
export function loadIdentityFile(file: string): Identity {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new IdentityError(file, 0, `cannot read the identity file: ${(e as Error).message}`);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new IdentityError(file, e.linePos?.[0]?.line ?? 1, `not valid YAML: ${e.message.split("\n")[0]}`);
  }
  const lineOf = (path: (string | number)[]): number => {
    let node = doc.contents as Node | null;
    let line = node?.range ? lc.linePos(node.range[0]).line : 1;
    for (const k of path) {
      if (!isMap(node)) break;
      const pair = node.items.find((i) => isScalar(i.key) && String(i.key.value) === String(k));
      if (!pair) break;
      const keyNode = pair.key as Node;
      if (keyNode.range) line = lc.linePos(keyNode.range[0]).line;
      node = pair.value as Node | null;
    }
    return line;
  };
  return parseIdentity(doc.toJS(), (problem, path) => {
    throw new IdentityError(file, lineOf(path), problem);
  });
}
