/**
 * The HTTP routing decision haproxy makes with the configuration svc-monitor's haproxy driver writes (pure):
 * parse the config's frontends (bind, `acl <name> hdr(host) -i <host>`, `acl <name> path <path>`,
 * `use_backend <pool> if <acls>`, `default_backend <pool>`) and backends (`server <member> <ip>:<port>`), then
 * for a request (port, Host header, path) take the first `use_backend` whose ACLs all match, else the
 * `default_backend`, else none (haproxy answers 503). haproxy's matching, as configured upstream:
 * `hdr(host) -i` compares the whole Host header case-insensitively (a `:port` in it does not match a bare host);
 * `path` is an exact match of the path (no prefix, query string excluded).
 * The simulated datapath decides with it; the netns datapath runs haproxy on the same text and uses it to name
 * the rule that chose.
 *
 * Example: `routeHttp(parseHaproxyConfig(text), { port: 80, host: "shop.example", path: "/cart" })`
 *   → `{ backend: "<pool uuid>", servers: [{ name: "<member uuid>", ip: "10.96.0.20", port: 80 }], rule: … }`.
 */

export interface HaproxyAcl {
  name: string;
  kind: "host" | "path";
  value: string;
}

export interface HaproxyFrontend {
  name: string;
  bind: { ip: string; port: number };
  acls: Map<string, HaproxyAcl>;
  /** `use_backend` rules in order; `acls` all have to match. */
  rules: { backend: string; acls: string[] }[];
  defaultBackend?: string;
}

export interface HaproxyServer {
  name: string;
  ip: string;
  port: number;
}

export interface HaproxyConfig {
  frontends: HaproxyFrontend[];
  backends: Map<string, HaproxyServer[]>;
}

export function parseHaproxyConfig(text: string): HaproxyConfig {
  const frontends: HaproxyFrontend[] = [];
  const backends = new Map<string, HaproxyServer[]>();
  let fe: HaproxyFrontend | undefined;
  let be: HaproxyServer[] | undefined;
  for (const raw of text.split("\n")) {
    const w = raw.trim().split(/\s+/).filter(Boolean);
    if (!w.length) continue;
    if (/^\S/.test(raw)) {
      fe = undefined;
      be = undefined;
      if (w[0] === "frontend") {
        fe = { name: w[1], bind: { ip: "", port: 0 }, acls: new Map(), rules: [] };
        frontends.push(fe);
      } else if (w[0] === "backend") {
        be = [];
        backends.set(w[1], be);
      }
      continue;
    }
    if (fe) {
      if (w[0] === "bind") {
        const [ip, port] = w[1].split(/:(?=\d+$)/);
        fe.bind = { ip, port: Number(port) };
      } else if (w[0] === "acl" && w[2] === "hdr(host)" && w[3] === "-i")
        fe.acls.set(w[1], { name: w[1], kind: "host", value: w[4] });
      else if (w[0] === "acl" && w[2] === "path")
        fe.acls.set(w[1], { name: w[1], kind: "path", value: w[3] });
      else if (w[0] === "use_backend" && w[2] === "if") fe.rules.push({ backend: w[1], acls: w.slice(3) });
      else if (w[0] === "default_backend") fe.defaultBackend = w[1];
    } else if (be && w[0] === "server") {
      const [ip, port] = w[2].split(/:(?=\d+$)/);
      be.push({ name: w[1], ip, port: Number(port) });
    }
  }
  return { frontends, backends };
}

export interface HttpRequestLine {
  port: number;
  /** The Host header as sent (undefined: none). */
  host?: string;
  /** The request target's path (a query string is cut off). */
  path: string;
}

export interface RouteDecision {
  /** The frontend that took the connection; undefined when nothing listens on the port. */
  frontend?: string;
  /** The pool (backend) chosen; undefined: no rule matched and there is no default backend (haproxy: 503). */
  backend?: string;
  servers: HaproxyServer[];
  /** How it was chosen: `use_backend` with the ACLs that matched, or `default_backend`. */
  how?: "rule" | "default";
  matched: HaproxyAcl[];
  /** Why the rules before did not match, one line each (for the report). */
  passedOver: string[];
}

function aclMatches(acl: HaproxyAcl, req: HttpRequestLine): boolean {
  if (acl.kind === "host")
    return req.host !== undefined && req.host.toLowerCase() === acl.value.toLowerCase();
  return req.path.split("?")[0] === acl.value;
}

/** Why an ACL did not match, in haproxy's terms. */
function describeMiss(acl: HaproxyAcl): string {
  return acl.kind === "host" ? `Host is not ${acl.value}` : `path is not exactly ${acl.value}`;
}

export function routeHttp(cfg: HaproxyConfig, req: HttpRequestLine): RouteDecision {
  const fe = cfg.frontends.find((f) => f.bind.port === req.port);
  if (!fe) return { servers: [], matched: [], passedOver: [`no frontend binds port ${req.port}`] };
  const passedOver: string[] = [];
  for (const rule of fe.rules) {
    const acls = rule.acls.map((a) => fe.acls.get(a)).filter((a): a is HaproxyAcl => a !== undefined);
    const failed = acls.filter((a) => !aclMatches(a, req));
    if (!failed.length)
      return {
        frontend: fe.name,
        backend: rule.backend,
        servers: cfg.backends.get(rule.backend) ?? [],
        how: "rule",
        matched: acls,
        passedOver,
      };
    passedOver.push(`${rule.backend}: ${failed.map(describeMiss).join(", ")}`);
  }
  if (fe.defaultBackend)
    return {
      frontend: fe.name,
      backend: fe.defaultBackend,
      servers: cfg.backends.get(fe.defaultBackend) ?? [],
      how: "default",
      matched: [],
      passedOver,
    };
  return { frontend: fe.name, servers: [], matched: [], passedOver };
}
