/**
 * The few VNC REST calls the config daemons make (create, update, delete, change-stream position), over
 * plain HTTP like the real daemons' vnc_api client. Non-2xx answers become `VncHttpError` with the status
 * and the server's plain-text reason.
 * Example: `await new VncHttp(url).create("access-control-list", { fq_name, parent_type, ... })`.
 */

export class VncHttpError extends Error {
  override name = "VncHttpError";
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path} → ${status}: ${body.slice(0, 300)}`);
  }
}

/** A write a daemon wants applied; `why` says which object it derives from (for logs). */
export type VncWrite =
  | { op: "create"; type: string; body: Record<string, unknown>; why: string }
  | { op: "update"; type: string; uuid: string; body: Record<string, unknown>; why: string }
  | { op: "delete"; type: string; uuid: string; why: string };

export class VncHttp {
  constructor(private readonly apiUrl: string) {}

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(new URL(path, this.apiUrl), {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new VncHttpError(method, path, res.status, text);
    if (!text) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new VncHttpError(method, path, res.status, `answer is not JSON: ${text.slice(0, 100)}`);
    }
  }

  async create(type: string, body: Record<string, unknown>): Promise<string> {
    const out = (await this.call("POST", `/${type}s`, { [type]: body })) as Record<string, { uuid?: string }>;
    return out?.[type]?.uuid ?? "";
  }

  async update(type: string, uuid: string, body: Record<string, unknown>): Promise<void> {
    await this.call("PUT", `/${type}/${uuid}`, { [type]: body });
  }

  async delete(type: string, uuid: string): Promise<void> {
    await this.call("DELETE", `/${type}/${uuid}`);
  }

  async apply(w: VncWrite): Promise<void> {
    if (w.op === "create") await this.create(w.type, w.body);
    else if (w.op === "update") await this.update(w.type, w.uuid, w.body);
    else await this.delete(w.type, w.uuid);
  }

  /** Sequence number of the last committed change (`GET /watch-position`). */
  async watchPosition(): Promise<number> {
    const out = (await this.call("GET", "/watch-position")) as { seq?: unknown };
    if (typeof out?.seq !== "number") throw new VncHttpError("GET", "/watch-position", 200, "no numeric seq");
    return out.seq;
  }
}
