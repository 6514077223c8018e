/**
 * Typed client for the Contrail (VNC) config REST API, speaking the wire format the real `vnc_api` client
 * speaks: JSON bodies wrapped in the type name, hyphenated types with naive plurals (`/network-policys`),
 * action endpoints (`/fqname-to-id`, `/ref-update`, `/set-tag`, ...) and plain-text error bodies mapped to
 * typed errors (404 NoIdError, 409 RefsExistError, 400 BadRequest, 403 PermissionDenied). 502/503 and
 * connection failures are retried with backoff.
 *
 * Example:
 *   const vnc = new VncClient("http://127.0.0.1:8082");
 *   const { uuid } = await vnc.create("project", { fq_name: ["default-domain", "k8s-default"], parent_type: "domain" });
 *   const vns = await vnc.list("virtual-network", { parentId: uuid, detail: true });
 */
import { type KeystoneCredentials, KeystoneClient } from "./keystone";
import http from "node:http";
import https from "node:https";

/** A reference as the API returns it (`to` is the target's fq_name; `attr` depends on the ref type). */
export interface VncRef {
  to: string[];
  uuid?: string;
  href?: string;
  attr?: unknown;
}

/** An object as the API returns it: identity fields plus type-specific properties, refs and children. */
export interface VncObject {
  uuid: string;
  fq_name: string[];
  name?: string;
  href?: string;
  parent_type?: string;
  parent_uuid?: string;
  display_name?: string;
  annotations?: { key_value_pair: { key: string; value: string }[] };
  // biome-ignore lint/suspicious/noExplicitAny: properties differ per resource type; callers hold typed views
  [field: string]: any;
}

/** Identity of a newly created object, as the POST response carries it. */
export interface VncCreated {
  uuid: string;
  fq_name: string[];
  name: string;
  href?: string;
  parent_type?: string;
  parent_uuid?: string;
}

export interface ReadOptions {
  /** Only these fields (id_perms and perms2 are always added by the server). */
  fields?: string[];
  excludeBackRefs?: boolean;
  excludeChildren?: boolean;
}

export interface ListOptions {
  parentId?: string | string[];
  parentFqName?: string[];
  parentType?: string;
  backRefId?: string | string[];
  objUuids?: string[];
  fqNames?: string[][];
  detail?: boolean;
  fields?: string[];
  /** Property equality filters: `{ "display_name": "x" }` → `filters=display_name=="x"`. */
  filters?: Record<string, unknown>;
  shared?: boolean;
}

export type RefOperation = "ADD" | "DELETE";

/**
 * One object write as a planner hands it to be applied (the config daemons' planners, the controller's
 * reconcile planner); `why` says what it derives from (an object, a unit), for logs.
 */
export type VncWrite =
  | { op: "create"; type: string; body: Record<string, unknown>; why: string }
  | { op: "update"; type: string; uuid: string; body: Record<string, unknown>; why: string }
  | { op: "delete"; type: string; uuid: string; why: string }
  /** POST /ref-update of one ref (a daemon adding its ref to an object another writer owns). */
  | {
      op: "ref";
      type: string;
      uuid: string;
      refType: string;
      refUuid: string;
      operation: RefOperation;
      why: string;
    };

/** A tag assignment for `setTag`: `null` removes the tag of that type. */
export type TagUpdate = {
  value?: string;
  is_global?: boolean;
  add_values?: string[];
  delete_values?: string[];
} | null;

/** What every call reports to an observer (metrics): method, resource type or action, HTTP status, duration. */
export interface VncCallInfo {
  method: string;
  what: string;
  status: number;
  ms: number;
}

export interface VncClientOptions {
  /** Attempts after the first for 502/503 and connection errors (default 5). */
  retries?: number;
  /** First backoff delay in ms, doubled per attempt (default 50). */
  backoffMs?: number;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
  onCall?: (info: VncCallInfo) => void;
  /** Extra headers (e.g. X-Auth-Token). */
  headers?: Record<string, string>;
  /** Parallel connections to the API server (default 32). */
  maxSockets?: number;
  /**
   * A keystone user: on a 401 the client gets a token for it and sends the request again once with
   * X-Auth-Token, as vnc_api does (the config API's aaa_mode cloud-admin or rbac).
   */
  keystone?: KeystoneCredentials;
}

/** An error response of the config API (plain-text body) or a transport failure (status 0). */
export class VncError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly method = "",
    readonly path = "",
  ) {
    super(message);
    this.name = "VncError";
  }
}
/** 404: unknown uuid / fq_name / wrong type. */
export class NoIdError extends VncError {
  override name = "NoIdError";
}
/** 409: duplicate fq_name or uuid, delete with children or back-refs, taken address. */
export class RefsExistError extends VncError {
  override name = "RefsExistError";
}
/** 400: malformed body, schema violation, unknown ref target. */
export class BadRequest extends VncError {
  override name = "BadRequest";
}
/** 403. */
export class PermissionDenied extends VncError {
  override name = "PermissionDenied";
}
/** 502/503 after all retries, or the server unreachable (status 0). */
export class ServiceUnavailable extends VncError {
  override name = "ServiceUnavailable";
}

/** Map an HTTP status and plain-text body to the typed error the real client would raise. */
export function errorFor(status: number, body: string, method = "", path = ""): VncError {
  const msg = body.trim() || `HTTP ${status}`;
  switch (status) {
    case 404:
      return new NoIdError(status, msg, method, path);
    case 409:
      return new RefsExistError(status, msg, method, path);
    case 400:
      return new BadRequest(status, msg, method, path);
    case 403:
      return new PermissionDenied(status, msg, method, path);
    case 0:
    case 502:
    case 503:
      return new ServiceUnavailable(status, msg, method, path);
    default:
      return new VncError(status, msg, method, path);
  }
}

/** `virtual-network` → `virtual-networks` (the API's naive plural). */
export function plural(type: string): string {
  return `${type}s`;
}

const RETRYABLE = new Set([502, 503]);

export class VncClient {
  readonly baseUrl: string;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private readonly onCall?: (info: VncCallInfo) => void;
  private readonly headers: Record<string, string>;
  private readonly keystone?: KeystoneClient;
  private readonly url: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;

  constructor(baseUrl: string, opts: VncClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.url = new URL(this.baseUrl);
    this.transport = this.url.protocol === "https:" ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 32 });
    this.retries = opts.retries ?? 5;
    this.backoffMs = opts.backoffMs ?? 50;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.onCall = opts.onCall;
    this.headers = { ...opts.headers };
    this.keystone = opts.keystone ? new KeystoneClient(opts.keystone) : undefined;
    // `http://user:password@host:port`: the API's admin port (Basic auth, as upstream's LocalAuth wants it)
    if (this.url.username)
      this.headers.authorization ??= `Basic ${Buffer.from(`${decodeURIComponent(this.url.username)}:${decodeURIComponent(this.url.password)}`).toString("base64")}`;
  }

  /** Close idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** POST /<type>s; returns the new object's identity (uuid, fq_name, parent). */
  async create(type: string, body: Partial<VncObject> & { fq_name: string[] }): Promise<VncCreated> {
    const res = await this.request("POST", `/${plural(type)}`, { [type]: body }, type);
    return unwrap<VncCreated>(res, type);
  }

  /** GET /<type>/<uuid>. */
  async read(type: string, uuid: string, opts: ReadOptions = {}): Promise<VncObject> {
    const q = new URLSearchParams();
    if (opts.fields?.length) q.set("fields", opts.fields.join(","));
    if (opts.excludeBackRefs) q.set("exclude_back_refs", "true");
    if (opts.excludeChildren) q.set("exclude_children", "true");
    const qs = q.toString();
    const res = await this.request(
      "GET",
      `/${type}/${encodeURIComponent(uuid)}${qs ? `?${qs}` : ""}`,
      undefined,
      type,
    );
    return unwrap<VncObject>(res, type);
  }

  async readByFqName(type: string, fqName: string[], opts: ReadOptions = {}): Promise<VncObject> {
    return this.read(type, await this.fqNameToId(type, fqName), opts);
  }

  /** PUT /<type>/<uuid> with a partial body (a ref field present replaces that whole ref list). */
  async update(type: string, uuid: string, body: Partial<VncObject>): Promise<void> {
    await this.request("PUT", `/${type}/${encodeURIComponent(uuid)}`, { [type]: body }, type);
  }

  async delete(type: string, uuid: string): Promise<void> {
    await this.request("DELETE", `/${type}/${encodeURIComponent(uuid)}`, undefined, type);
  }

  /**
   * GET /<type>s with scopes. Returns the objects (full with `detail`, else `{uuid, fq_name, href}`).
   * Long uuid lists are split into several requests.
   */
  async list(type: string, opts: ListOptions = {}): Promise<VncObject[]> {
    if (opts.objUuids && opts.objUuids.length > 100) {
      const out: VncObject[] = [];
      for (let i = 0; i < opts.objUuids.length; i += 100) {
        out.push(...(await this.list(type, { ...opts, objUuids: opts.objUuids.slice(i, i + 100) })));
      }
      return out;
    }
    if (opts.objUuids && opts.objUuids.length === 0) return [];
    const q = new URLSearchParams();
    const csv = (v: string | string[]) => (Array.isArray(v) ? v.join(",") : v);
    if (opts.parentId !== undefined) q.set("parent_id", csv(opts.parentId));
    if (opts.parentFqName) q.set("parent_fq_name_str", opts.parentFqName.join(":"));
    if (opts.parentType) q.set("parent_type", opts.parentType);
    if (opts.backRefId !== undefined) q.set("back_ref_id", csv(opts.backRefId));
    if (opts.objUuids) q.set("obj_uuids", opts.objUuids.join(","));
    if (opts.fqNames) q.set("fq_names", opts.fqNames.map((f) => f.join(":")).join(","));
    if (opts.detail) q.set("detail", "true");
    if (opts.fields?.length) q.set("fields", opts.fields.join(","));
    if (opts.shared) q.set("shared", "true");
    if (opts.filters) {
      q.set(
        "filters",
        Object.entries(opts.filters)
          .map(([k, v]) => `${k}==${JSON.stringify(v)}`)
          .join(","),
      );
    }
    const qs = q.toString();
    const res = (await this.request(
      "GET",
      `/${plural(type)}${qs ? `?${qs}` : ""}`,
      undefined,
      type,
    )) as Record<string, unknown>;
    const items = res?.[plural(type)];
    if (!Array.isArray(items))
      throw new VncError(500, `list ${type}: response without "${plural(type)}" array`);
    return items.map(
      (it) => (opts.detail && it && typeof it === "object" && type in it ? it[type] : it) as VncObject,
    );
  }

  /** Apply one planned write. */
  async apply(w: VncWrite): Promise<void> {
    if (w.op === "create") await this.create(w.type, w.body as VncObject);
    else if (w.op === "update") await this.update(w.type, w.uuid, w.body);
    else if (w.op === "ref") await this.refUpdate(w.type, w.uuid, w.refType, w.refUuid, w.operation);
    else await this.delete(w.type, w.uuid);
  }

  /** GET /watch-position: the sequence number of the last committed change. */
  async watchPosition(): Promise<number> {
    const res = (await this.request("GET", "/watch-position", undefined, "watch-position")) as {
      seq?: unknown;
    };
    if (typeof res?.seq !== "number") throw new VncError(500, "watch-position: answer without a numeric seq");
    return res.seq;
  }

  /** POST /fqname-to-id; NoIdError when no such object. */
  async fqNameToId(type: string, fqName: string[]): Promise<string> {
    const res = (await this.request("POST", "/fqname-to-id", { type, fq_name: fqName }, "fqname-to-id")) as {
      uuid: string;
    };
    return res.uuid;
  }

  /** POST /id-to-fqname. */
  async idToFqName(uuid: string): Promise<{ fq_name: string[]; type: string }> {
    return (await this.request("POST", "/id-to-fqname", { uuid }, "id-to-fqname")) as {
      fq_name: string[];
      type: string;
    };
  }

  /**
   * POST /ref-update: add (or re-attribute) / remove one ref of `type`/`uuid` to a `refType` object given by
   * uuid or fq_name.
   */
  async refUpdate(
    type: string,
    uuid: string,
    refType: string,
    ref: string | string[],
    op: RefOperation,
    attr?: unknown,
  ): Promise<void> {
    const body: Record<string, unknown> = { type, uuid, "ref-type": refType, operation: op };
    if (Array.isArray(ref)) body["ref-fq-name"] = ref;
    else body["ref-uuid"] = ref;
    if (attr !== undefined) body.attr = attr;
    await this.request("POST", "/ref-update", body, "ref-update");
  }

  /** POST /ref-relax-for-delete: the ref from `uuid` to `refUuid` no longer blocks deleting `refUuid`. */
  async refRelaxForDelete(uuid: string, refUuid: string): Promise<void> {
    await this.request(
      "POST",
      "/ref-relax-for-delete",
      { uuid, "ref-uuid": refUuid },
      "ref-relax-for-delete",
    );
  }

  /** POST /set-tag: `{ application: { value: "k8s" }, label: null }`. */
  async setTag(objType: string, objUuid: string, tags: Record<string, TagUpdate>): Promise<void> {
    await this.request("POST", "/set-tag", { obj_type: objType, obj_uuid: objUuid, ...tags }, "set-tag");
  }

  /** One HTTP exchange with retries on 502/503 and transport errors; returns the parsed JSON body. */
  private async request(method: string, path: string, body: unknown, what: string): Promise<unknown> {
    const payload = body !== undefined ? JSON.stringify(body) : undefined;
    let attempt = 0;
    let authenticated = false;
    for (;;) {
      const t0 = performance.now();
      let status = 0;
      let text = "";
      try {
        ({ status, text } = await this.exchange(method, path, payload));
      } catch (e) {
        text = `${method} ${path}: ${(e as Error).message}`;
      }
      this.onCall?.({ method, what, status, ms: performance.now() - t0 });
      if (status >= 200 && status < 300) {
        if (!text) return undefined;
        try {
          return JSON.parse(text);
        } catch {
          throw new VncError(
            status,
            `${method} ${path}: response is not JSON: ${text.slice(0, 200)}`,
            method,
            path,
          );
        }
      }
      if (status === 401 && this.keystone && !authenticated) {
        authenticated = true;
        this.headers["x-auth-token"] = await this.keystone.newToken();
        continue;
      }
      if ((status === 0 || RETRYABLE.has(status)) && attempt < this.retries) {
        await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** attempt));
        attempt++;
        continue;
      }
      throw errorFor(status, text, method, path);
    }
  }

  /** node:http over a keep-alive agent (much cheaper per call than fetch at thousands of calls). */
  private exchange(
    method: string,
    path: string,
    payload: string | undefined,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...this.headers, accept: "application/json" };
      if (payload !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = Buffer.byteLength(payload);
      }
      const req = this.transport.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname.replace(/\/$/, "") + path,
          // http://<user>:<password>@host: Basic credentials, as the API's admin port (LocalAuth) takes them
          ...(this.url.username
            ? { auth: `${decodeURIComponent(this.url.username)}:${decodeURIComponent(this.url.password)}` }
            : {}),
          method,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        },
      );
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on("error", reject);
      req.end(payload);
    });
  }
}

function unwrap<T>(res: unknown, type: string): T {
  const inner = (res as Record<string, unknown> | undefined)?.[type];
  if (!inner || typeof inner !== "object") throw new VncError(500, `response without "${type}" object`);
  return inner as T;
}
