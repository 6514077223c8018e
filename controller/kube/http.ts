/**
 * KubeApi over HTTP for a real API server (the local control plane, kind, any kubeconfig): credentials,
 * CA and agent come from @kubernetes/client-node's KubeConfig; requests are plain node:http(s) so list, watch
 * (newline-delimited JSON with ERROR/410 events), CRUD and the three patch content types map one to one onto
 * the REST paths. Failures come back as KubeApiError with the Status object's code, reason and message.
 * client-node refuses a plain `http://` server unless the kubeconfig cluster sets `insecure-skip-tls-verify`.
 *
 * Example:
 *   const api = HttpKubeApi.fromKubeconfig("/root/.kube/config");
 *   const { items, resourceVersion } = await api.list("pods", { namespace: "default" });
 */
import http from "node:http";
import https from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import {
  type KubeApi,
  KubeApiError,
  type KubeObject,
  type ListOptions,
  type PatchType,
  RESOURCES,
  type ResourceName,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
  type WriteOptions,
} from "./api";

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
};

export class HttpKubeApi implements KubeApi {
  private readonly server: URL;

  constructor(
    private readonly kc: KubeConfig,
    /** Impersonate-User / Impersonate-Group headers (kubectl --as/--as-group), when acting as another user. */
    private readonly as?: { name: string; groups?: string[] },
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig: no current cluster (set current-context)");
    this.server = new URL(cluster.server);
  }

  static fromKubeconfig(path: string): HttpKubeApi {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return new HttpKubeApi(kc);
  }

  /** The same server, every request made as `user` (the kubeconfig's user must be allowed to impersonate). */
  impersonate(user: { name: string; groups?: string[] }): HttpKubeApi {
    return new HttpKubeApi(this.kc, user);
  }

  /** `/api/v1/namespaces/ns/pods[/name][/sub]` for a resource. */
  path(resource: ResourceName, namespace?: string, name?: string, sub?: string): string {
    const r = RESOURCES[resource];
    const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    const nsPart = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
    return `${base}${nsPart}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ""}${sub ? `/${sub}` : ""}`;
  }

  async list(resource: ResourceName, opts: ListOptions = {}) {
    const q = query({ labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector });
    const body = (await this.json("GET", this.path(resource, opts.namespace) + q)) as {
      items?: KubeObject[];
      metadata?: { resourceVersion?: string };
    };
    const r = RESOURCES[resource];
    const apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
    // list items come without apiVersion/kind
    const items = (body.items ?? []).map((o) => ({ ...o, apiVersion, kind: r.kind }));
    return { items, resourceVersion: body.metadata?.resourceVersion ?? "" };
  }

  async watch(
    resource: ResourceName,
    opts: WatchOptions,
    onEvent: (ev: WatchEvent) => void,
    onDone: (err?: Error) => void,
  ): Promise<WatchHandle> {
    const q = query({
      watch: "1",
      resourceVersion: opts.resourceVersion,
      allowWatchBookmarks: opts.allowWatchBookmarks ? "true" : undefined,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
    });
    const req = await this.request("GET", this.path(resource, opts.namespace) + q);
    let finished = false;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      onDone(err);
    };
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.once("response", resolve);
      req.once("error", reject);
      req.end();
    });
    if ((res.statusCode ?? 0) >= 300) {
      const text = await readAll(res);
      throw statusError(res.statusCode ?? 0, text);
    }
    const r = RESOURCES[resource];
    const apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
    let buf = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line || finished) continue;
        let ev: { type: string; object: KubeObject & { code?: number; reason?: string; message?: string } };
        try {
          ev = JSON.parse(line);
        } catch {
          finish(
            new KubeApiError(
              500,
              "InternalError",
              `watch ${resource}: bad event line: ${line.slice(0, 100)}`,
            ),
          );
          req.destroy();
          return;
        }
        if (ev.type === "ERROR") {
          const s = ev.object;
          finish(new KubeApiError(s.code ?? 500, s.reason ?? "Unknown", s.message ?? "watch error"));
          req.destroy();
          return;
        }
        onEvent({
          type: ev.type as WatchEvent["type"],
          object: {
            ...ev.object,
            apiVersion: ev.object.apiVersion ?? apiVersion,
            kind: ev.object.kind ?? r.kind,
          },
        });
      }
    });
    res.on("end", () => finish());
    res.on("error", (e) => finish(e));
    req.on("error", (e) => finish(e));
    return {
      stop: () => {
        finished = true;
        req.destroy();
      },
    };
  }

  async get(resource: ResourceName, name: string, namespace?: string) {
    return (await this.json("GET", this.path(resource, namespace, name))) as KubeObject;
  }

  async create(resource: ResourceName, obj: KubeObject, namespace?: string, opts?: WriteOptions) {
    return (await this.json(
      "POST",
      this.path(resource, namespace ?? obj.metadata.namespace) + writeQuery(opts),
      obj,
      "application/json",
      opts?.onWarning,
    )) as KubeObject;
  }

  async replace(resource: ResourceName, obj: KubeObject, opts?: WriteOptions) {
    return (await this.json(
      "PUT",
      this.path(resource, obj.metadata.namespace, obj.metadata.name) + writeQuery(opts),
      obj,
      "application/json",
      opts?.onWarning,
    )) as KubeObject;
  }

  async patch(
    resource: ResourceName,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    type: PatchType = "merge",
    opts?: WriteOptions,
  ) {
    return (await this.json(
      "PATCH",
      this.path(resource, namespace, name) + writeQuery(opts),
      patch,
      PATCH_CONTENT_TYPE[type],
      opts?.onWarning,
    )) as KubeObject;
  }

  async patchStatus(resource: ResourceName, name: string, namespace: string | undefined, patch: unknown) {
    return (await this.json(
      "PATCH",
      this.path(resource, namespace, name, "status"),
      patch,
      PATCH_CONTENT_TYPE.merge,
    )) as KubeObject;
  }

  async delete(
    resource: ResourceName,
    name: string,
    namespace?: string,
    opts?: { gracePeriodSeconds?: number },
  ) {
    const q = opts?.gracePeriodSeconds !== undefined ? `?gracePeriodSeconds=${opts.gracePeriodSeconds}` : "";
    await this.json("DELETE", this.path(resource, namespace, name) + q);
  }

  private async request(method: string, path: string, contentType?: string): Promise<http.ClientRequest> {
    const opts: https.RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port || (this.server.protocol === "https:" ? 443 : 80),
      path: `${this.server.pathname.replace(/\/$/, "")}${path}`,
      headers: {
        accept: "application/json",
        ...(contentType ? { "content-type": contentType } : {}),
        ...(this.as ? { "impersonate-user": this.as.name } : {}),
      },
    };
    // one header per group, as kubectl sends them
    if (this.as?.groups?.length)
      (opts.headers as Record<string, string | string[]>)["impersonate-group"] = this.as.groups;
    await this.kc.applyToHTTPSOptions(opts);
    return this.server.protocol === "https:" ? https.request(opts) : http.request(opts);
  }

  private async json(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
    onWarning?: (message: string) => void,
  ): Promise<unknown> {
    const req = await this.request(method, path, contentType);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.once("response", resolve);
      req.once("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
    if (onWarning) for (const w of warnings(res.headers.warning)) onWarning(w);
    const text = await readAll(res);
    if ((res.statusCode ?? 0) >= 300) throw statusError(res.statusCode ?? 0, text);
    return text ? JSON.parse(text) : undefined;
  }
}

/** `?fieldValidation=Strict` when asked for (the server's default is Warn). */
function writeQuery(opts?: WriteOptions): string {
  return query({ fieldValidation: opts?.fieldValidation });
}

/** The texts of RFC 7234 Warning headers as kube-apiserver sends them: `299 - "unknown field \"spec.foo\""`. */
export function warnings(header: string | string[] | undefined): string[] {
  const out: string[] = [];
  for (const h of header === undefined ? [] : Array.isArray(header) ? header : [header]) {
    for (const m of h.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)) out.push(m[1].replace(/\\(.)/g, "$1"));
  }
  return out;
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => {
      text += c;
    });
    res.on("end", () => resolve(text));
    res.on("error", reject);
  });
}

/** A Status body (or any text) → KubeApiError. */
function statusError(code: number, text: string): KubeApiError {
  try {
    const s = JSON.parse(text) as { code?: number; reason?: string; message?: string };
    return new KubeApiError(s.code ?? code, s.reason ?? "Unknown", s.message ?? text);
  } catch {
    return new KubeApiError(code, "Unknown", text.trim() || `HTTP ${code}`);
  }
}
