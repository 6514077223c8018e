/**
 * The HTTP edge of the fake config API (express): URL forms, wrapped JSON bodies, plain-text errors, ETags,
 * the root links, LIST/CRUD/action routes and the change stream. Write routes answer only after the store has
 * made the request's changes durable; reads (GET, LIST, lookups) see only such committed changes, so nothing a
 * client read can be taken back by a crash.
 * Example: `const app = createApp(store); app.listen(8082, "127.0.0.1")`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import { Actions } from "./actions";
import type { AuthGuard } from "./auth/guard";
import { ApiError, badRequest, isUuid, notFound } from "./errors";
import { listObjects, parseListParams } from "./list";
import { hrefOf, renderObject } from "./render";
import { BY_PLURAL, SCHEMA, typeInfo } from "./schema";
import { bodyShapeProblem } from "./schema-types";
import { ConfigService, isJsonObject } from "./service";
import type { Store, StoredObject } from "./store";
import { watchHandler } from "./watch";

/** Largest accepted request body; larger ones get 413. */
export const BODY_LIMIT = "4mb";

/** Action endpoints as the root page advertises them (link names are what vnc_api looks up). */
const ACTION_LINKS: Array<[name: string, uri: string]> = [
  ["name-to-id", "/fqname-to-id"],
  ["id-to-name", "/id-to-fqname"],
  ["ref-update", "/ref-update"],
  ["ref-relax-for-delete", "/ref-relax-for-delete"],
  ["prop-collection-get", "/prop-collection-get"],
  ["prop-collection-update", "/prop-collection-update"],
  ["list-bulk-collection", "/list-bulk-collection"],
  ["set-tag", "/set-tag"],
  ["useragent-keyvalue", "/useragent-kv"],
  ["obj-perms", "/obj-perms"],
  ["chown", "/chown"],
  ["chmod", "/chmod"],
  ["watch", "/watch"],
  ["watch-position", "/watch-position"],
  ["aaa-mode", "/aaa-mode"],
];

const baseOf = (req: Request): string => `${req.protocol}://${req.get("host") ?? "127.0.0.1"}`;

function flag(v: unknown): boolean {
  return typeof v === "string" && /^(true|1)$/i.test(v);
}

function queryString(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw badRequest(`query parameter ${name} given more than once`);
  return v;
}

/** The wrapped object of a POST/PUT body: `{"virtual-network": {...}}`. */
function unwrap(body: unknown, type: string): Record<string, unknown> {
  if (!isJsonObject(body)) throw badRequest(`Body must be a JSON object {"${type}": {...}}`);
  const keys = Object.keys(body);
  if (!(type in body))
    throw badRequest(`Body must be wrapped as {"${type}": {...}}, got keys ${keys.join(", ")}`);
  if (keys.length !== 1) throw badRequest(`Unexpected top-level keys besides "${type}": ${keys.join(", ")}`);
  const inner = body[type];
  if (!isJsonObject(inner)) throw badRequest(`"${type}" must be a JSON object`);
  return inner;
}

/**
 * The hot read — `GET /<type>/<uuid>`, what agents and clients do most — served without express routing (which
 * alone costs more than rendering the object). Same rendering, ETag and query options as the express route;
 * anything unusual (unknown type or object, repeated query parameters) returns false and express answers it,
 * errors included.
 */
export function createFastGet(store: Store, svc: ConfigService) {
  const PATH = /^\/([A-Za-z-]+)\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:\?(.*))?$/;
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== "GET" || !req.url) return false;
    const m = PATH.exec(req.url);
    if (!m) return false;
    const [, type, uuid, rawQuery] = m as unknown as [string, string, string, string | undefined];
    if (!typeInfo(type)) return false;
    const q = new URLSearchParams(rawQuery ?? "");
    for (const k of new Set(q.keys())) if (q.getAll(k).length > 1) return false;
    let o: ReturnType<ConfigService["getTyped"]>;
    try {
      o = svc.getTyped(type, uuid, store.committed);
    } catch {
      return false;
    }
    const etag = `"${String((o.props.id_perms as Record<string, unknown>).last_modified)}"`;
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, { ETag: etag }).end();
      return true;
    }
    const fields = q.get("fields");
    const out = renderObject(store.committed, o, {
      base: `http://${req.headers.host ?? "127.0.0.1"}`,
      fields: fields ? new Set(fields.split(",")) : undefined,
      excludeBackRefs: flag(q.get("exclude_back_refs") ?? undefined),
      excludeChildren: flag(q.get("exclude_children") ?? undefined),
      excludeHrefs: flag(q.get("exclude_hrefs") ?? undefined),
    });
    const body = JSON.stringify({ [type]: out });
    res.writeHead(200, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(body),
      ETag: etag,
    });
    res.end(body);
    return true;
  };
}

/** Every route's body parser: JSON of any content type, at most BODY_LIMIT (413 beyond). */
const jsonBody = express.json({ limit: BODY_LIMIT, type: () => true });

/** What `POST /<plural>` answers once the object is created (vnc_api reads uuid, fq_name and the hrefs). */
function createdAnswer(o: StoredObject, type: string, base: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: o.fq_name[o.fq_name.length - 1],
    fq_name: o.fq_name,
    uuid: o.uuid,
    href: hrefOf(base, o.type, o.uuid),
    parent_type: o.parent_type,
  };
  if (o.parent_uuid) {
    out.parent_uuid = o.parent_uuid;
    out.parent_href = hrefOf(base, o.parent_type, o.parent_uuid);
  }
  return { [type]: out };
}

/** An error as the API answers it: its status and a plain-text message (500s are also logged). */
function sendError(res: ServerResponse, err: unknown): void {
  const { status, message } = describeError(err);
  if (status >= 500)
    process.stderr.write(`fake-contrail-api: ${err instanceof Error ? err.stack : String(err)}\n`);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(message),
  });
  res.end(message);
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * The hot writes — `POST /<plural>` (create) and `POST /ref-update`, four per pod from the controller — served
 * without express routing, like the hot read. The same body parser (limits, charsets, malformed JSON), shape
 * check, service calls, commit-before-answer and error answers as the express routes; any other URL form
 * (trailing slash, query, unknown collection) returns false and express answers it. Only without auth.
 */
export function createFastWrite(store: Store, svc: ConfigService) {
  const actions = new Actions(svc);
  const PATH = /^\/([a-z-]+)$/;
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== "POST" || !req.url) return false;
    const name = PATH.exec(req.url)?.[1];
    if (name === undefined) return false;
    const info = name === "ref-update" ? undefined : BY_PLURAL.get(name);
    if (name !== "ref-update" && !info) return false;
    const base = `http://${req.headers.host ?? "127.0.0.1"}`;
    jsonBody(req as Request, res as Response, (parseError?: unknown) => {
      const body = (req as Request).body as unknown;
      const why = parseError === undefined ? bodyShapeProblem(body) : undefined;
      if (parseError !== undefined || why) {
        sendError(res, parseError ?? badRequest(`Bad request: ${why}`));
        return;
      }
      let result: unknown;
      let failure: unknown;
      try {
        result = info
          ? createdAnswer(svc.create(info.type, unwrap(body, info.type)), info.type, base)
          : actions.refUpdate(body);
      } catch (e) {
        failure = e;
      }
      // Even a failed request may have written: memory and disk must agree before the answer.
      store.commit().then(
        () => (failure ? sendError(res, failure) : sendJson(res, result)),
        (e) => sendError(res, failure ?? e),
      );
    });
    return true;
  };
}

/** `guard`: authentication and authorisation (auth/guard.ts); absent = aaa_mode no-auth. */
export function createApp(store: Store, svc = new ConfigService(store), guard?: AuthGuard): express.Express {
  const actions = new Actions(svc);
  // Each check is a no-op without a guard (no-auth) and for callers it lets through unchecked.
  const may = {
    read: (res: Response, uuid: unknown) =>
      guard?.read(res, typeof uuid === "string" ? store.get(uuid) : undefined),
    write: (res: Response, uuid: unknown) =>
      guard?.write(res, typeof uuid === "string" ? store.get(uuid) : undefined),
  };
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");
  app.use(jsonBody);
  // Hostile shapes (very deep nesting, `__proto__` keys) are refused before any handler walks the body.
  app.use((req, _res, next) => {
    const why = bodyShapeProblem(req.body);
    next(why ? badRequest(`Bad request: ${why}`) : undefined);
  });
  if (guard) app.use(guard.authenticate);

  /** Runs a synchronous mutation, commits (durably) whatever it wrote, then answers. */
  const write =
    (
      fn: (req: Request, res: Response) => unknown,
      respond = (res: Response, result: unknown) => void res.json(result),
    ) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      let result: unknown;
      let failure: unknown;
      try {
        result = fn(req, res);
      } catch (e) {
        failure = e;
      }
      try {
        // Even a failed request may have written (e.g. a follow-up object): memory and disk must agree.
        await store.commit();
      } catch (e) {
        failure ??= e;
      }
      if (failure) next(failure);
      else respond(res, result);
    };

  app.get("/", (req, res) => {
    const base = baseOf(req);
    const links: unknown[] = [{ link: { href: `${base}/config-root`, name: "config-root", rel: "root" } }];
    for (const info of SCHEMA.values()) {
      links.push({ link: { href: `${base}/${info.plural}`, name: info.type, rel: "collection" } });
      links.push({ link: { href: `${base}/${info.type}`, name: info.type, rel: "resource-base" } });
    }
    for (const [name, uri] of ACTION_LINKS)
      links.push({ link: { href: `${base}${uri}`, name, rel: "action" } });
    res.json({ href: base, links });
  });

  app.post("/fqname-to-id", (req, res) => {
    const out = actions.fqNameToId(req.body);
    may.read(res, out.uuid);
    res.json(out);
  });
  app.post("/id-to-fqname", (req, res) => {
    may.read(res, isJsonObject(req.body) ? req.body.uuid : undefined);
    res.json(actions.idToFqName(req.body));
  });
  app.post(
    "/ref-update",
    write((req, res) => {
      if (guard && isJsonObject(req.body)) {
        may.write(res, req.body.uuid);
        if (typeof req.body["ref-uuid"] === "string") guard.link(res, store.get(req.body["ref-uuid"]));
        else if (Array.isArray(req.body["ref-fq-name"]) && typeof req.body["ref-type"] === "string")
          guard.link(
            res,
            store.byFqName(req.body["ref-type"].replace(/_/g, "-"), req.body["ref-fq-name"] as string[]),
          );
      }
      return actions.refUpdate(req.body);
    }),
  );
  app.post(
    "/ref-relax-for-delete",
    write((req, res) => {
      may.write(res, isJsonObject(req.body) ? req.body.uuid : undefined);
      return actions.refRelaxForDelete(req.body);
    }),
  );
  app.get("/prop-collection-get", (req, res) => {
    may.read(res, req.query.uuid);
    res.json(actions.propCollectionGet(req.query));
  });
  app.post(
    "/prop-collection-update",
    write((req, res) => {
      may.write(res, isJsonObject(req.body) ? req.body.uuid : undefined);
      return actions.propCollectionUpdate(req.body);
    }),
  );
  app.post(
    "/set-tag",
    write((req, res) => {
      may.write(res, isJsonObject(req.body) ? req.body.obj_uuid : undefined);
      return actions.setTag(req.body);
    }),
  );
  app.post(
    "/useragent-kv",
    write((req) => actions.useragentKv(req.body)),
  );
  app.get("/obj-perms", (req, res) => {
    if (!guard?.enabled) return void res.json(actions.objPerms(req.query));
    const uuid = queryString(req.query.uuid, "uuid");
    res.json(guard.objPerms(res, uuid));
  });
  app.get("/aaa-mode", (_req, res) => void res.json({ "aaa-mode": guard?.cfg.aaaMode ?? "no-auth" }));
  app.put(
    "/aaa-mode",
    write((req, res) => {
      if (!guard) throw new ApiError(403, " Permission denied"); // no keystone to validate a token with
      return guard.setAaaMode(res, req.body, svc);
    }),
  );
  app.post(
    "/chown",
    write((req, res) => {
      if (guard && isJsonObject(req.body) && typeof req.body.uuid === "string" && store.get(req.body.uuid))
        guard.requireRW(res, req.body.uuid);
      return actions.chown(req.body);
    }),
  );
  app.post(
    "/chmod",
    write((req, res) => {
      if (guard && isJsonObject(req.body) && typeof req.body.uuid === "string" && store.get(req.body.uuid))
        guard.requireRW(res, req.body.uuid);
      return actions.chmod(req.body);
    }),
  );
  app.post("/list-bulk-collection", (req, res) => {
    if (!isJsonObject(req.body)) throw badRequest("list-bulk-collection: body must be a JSON object");
    const type = typeof req.body.type === "string" ? req.body.type.replace(/_/g, "-") : undefined;
    if (!type || !typeInfo(type))
      throw badRequest(`list-bulk-collection: invalid type ${JSON.stringify(req.body.type)}`);
    res.json(listObjects(store.committed, type, parseListParams(req.body), baseOf(req), guard?.visible(res)));
  });
  app.get("/watch", watchHandler(store, baseOf));
  app.get("/watch-position", (_req, res) => void res.json({ seq: store.seq() }));

  app.post(
    "/:plural",
    write((req, res) => {
      const info = BY_PLURAL.get(String(req.params.plural));
      if (!info) throw notFound(`Unknown collection /${req.params.plural}`);
      const inner = unwrap(req.body, info.type);
      if (guard) {
        // the parent must be writable (check_perms_write on it); which one it is, the service decides below
        const fq = Array.isArray(inner.fq_name) ? (inner.fq_name as string[]).slice(0, -1) : [];
        const types = typeof inner.parent_type === "string" ? [inner.parent_type] : info.parents;
        const parent = isUuid(inner.parent_uuid)
          ? store.get(inner.parent_uuid)
          : fq.length
            ? types.map((t) => store.byFqName(t, fq)).find((p) => p !== undefined)
            : undefined;
        guard.write(res, parent);
        guard.refs(res, info.type, inner);
      }
      return createdAnswer(svc.create(info.type, inner, guard?.ownerProject(res)), info.type, baseOf(req));
    }),
  );
  app.get("/:plural", (req, res) => {
    const info = BY_PLURAL.get(String(req.params.plural));
    if (!info) throw notFound(`Unknown collection /${req.params.plural}`);
    res.json(
      listObjects(
        store.committed,
        info.type,
        parseListParams(req.query as Record<string, unknown>),
        baseOf(req),
        guard?.visible(res),
      ),
    );
  });

  app.get("/:type/:uuid", (req, res) => {
    const type = String(req.params.type);
    const info = typeInfo(type);
    if (!info) throw notFound(`Unknown resource type ${type}`);
    const o = svc.getTyped(type, String(req.params.uuid), store.committed);
    guard?.read(res, o);
    const etag = `"${String((o.props.id_perms as Record<string, unknown>).last_modified)}"`;
    res.set("ETag", etag);
    if (req.get("if-none-match") === etag) {
      res.status(304).end();
      return;
    }
    const fieldsRaw = queryString(req.query.fields, "fields");
    const out = renderObject(store.committed, o, {
      base: baseOf(req),
      fields: fieldsRaw ? new Set(fieldsRaw.split(",")) : undefined,
      excludeBackRefs: flag(req.query.exclude_back_refs),
      excludeChildren: flag(req.query.exclude_children),
      excludeHrefs: flag(req.query.exclude_hrefs),
    });
    res.json({ [type]: out });
  });
  app.put(
    "/:type/:uuid",
    write((req, res) => {
      const type = String(req.params.type);
      if (!typeInfo(type)) throw notFound(`Unknown resource type ${type}`);
      const inner = unwrap(req.body, type);
      if (guard) {
        guard.write(res, svc.getTyped(type, String(req.params.uuid)));
        guard.refs(res, type, inner);
      }
      const o = svc.update(type, String(req.params.uuid), inner);
      return { [type]: { uuid: o.uuid, href: hrefOf(baseOf(req), type, o.uuid) } };
    }),
  );
  app.delete(
    "/:type/:uuid",
    write(
      (req, res) => {
        const type = String(req.params.type);
        if (!typeInfo(type)) throw notFound(`Unknown resource type ${type}`);
        if (guard) guard.delete(res, svc.getTyped(type, String(req.params.uuid)));
        svc.delete(type, String(req.params.uuid));
      },
      (res) => void res.status(200).end(),
    ),
  );

  app.use((req, _res, next) => next(notFound(`No route for ${req.method} ${req.path}`)));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => sendError(res, err));
  return app;
}

function describeError(err: unknown): { status: number; message: string } {
  if (err instanceof ApiError) return { status: err.status, message: err.message };
  const e = err as { type?: string; status?: number; message?: string };
  if (e?.type === "entity.too.large")
    return { status: 413, message: `Request body larger than ${BODY_LIMIT}` };
  if (e?.type === "entity.parse.failed") return { status: 400, message: `Malformed JSON body: ${e.message}` };
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500)
    return { status: e.status, message: e.message ?? "Bad Request" };
  return { status: 500, message: `Internal error: ${e?.message ?? String(err)}` };
}
