/**
 * Client of the config API's change stream `GET /watch` (Server-Sent Events, contract in
 * docs/architecture.md): connects, collects the snapshot and hands it over whole once `synced` arrives, then
 * passes live changes one by one, in order. On a dropped connection it reconnects with exponential backoff
 * and resumes with `Last-Event-ID`, skipping changes it already delivered; when the server answers a resume
 * with a fresh snapshot the consumer gets that snapshot (and should replace its state).
 * It lives beside the server it speaks to because its consumers are separate components: the config daemons
 * (`daemons/`) and the vrouter agents (`fake-vrouter/agent/`) both follow the stream through it.
 * Example: `const s = new ChangeStream({ apiUrl, onEvent: (e) => mirror.apply(e) }); s.start();
 *           await s.whenSynced();`
 */
import http from "node:http";

/** An object as the stream carries it: what `GET /<type>/<uuid>` returns, without back-refs and children. */
export interface WatchObject {
  uuid: string;
  fq_name: string[];
  parent_type?: string;
  parent_uuid?: string;
  name?: string;
  [field: string]: unknown;
}

export type WatchOp = "CREATE" | "UPDATE" | "DELETE";

export interface WatchChange {
  seq: number;
  op: WatchOp;
  type: string;
  uuid: string;
  fq_name: string[];
  /** The object without back-refs and children; absent for DELETE. */
  obj?: WatchObject;
}

export interface SnapshotEntry {
  type: string;
  uuid: string;
  fq_name: string[];
  obj: WatchObject;
}

export type StreamEvent =
  | { kind: "snapshot"; seq: number; objects: SnapshotEntry[] }
  | { kind: "change"; change: WatchChange };

/** The stream said something that breaks the contract (the connection is dropped and retried). */
export class ChangeStreamProtocolError extends Error {
  override name = "ChangeStreamProtocolError";
}

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/** Incremental SSE parser (WHATWG rules for the fields we need: event, data, id; `:` comments ignored). */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | undefined;

  feed(chunk: string): SseMessage[] {
    const buf = this.buffer + chunk;
    const out: SseMessage[] = [];
    // line ends found by indexOf from a cursor (one pass over the chunk, not a search per line)
    let pos = 0;
    let cr = buf.indexOf("\r");
    let lf = buf.indexOf("\n");
    for (;;) {
      if (cr !== -1 && cr < pos) cr = buf.indexOf("\r", pos);
      if (lf !== -1 && lf < pos) lf = buf.indexOf("\n", pos);
      const nl = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (nl < 0) break;
      const sep = nl === cr && buf[nl + 1] === "\n" ? 2 : 1;
      // a lone \r at the very end may be the first half of \r\n: wait for more input
      if (nl === cr && nl === buf.length - 1) break;
      const line = buf.slice(pos, nl);
      pos = nl + sep;
      if (line === "") {
        if (this.data.length > 0 || this.event) {
          out.push({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
        }
        this.event = "";
        this.data = [];
        this.id = undefined;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id") this.id = value;
    }
    this.buffer = buf.slice(pos);
    return out;
  }
}

export interface ChangeStreamOptions {
  /** Base URL of the config API, e.g. `http://127.0.0.1:8082`. */
  apiUrl: string;
  /** Called for every event, one at a time, in order; a returned promise is awaited before the next. */
  onEvent(event: StreamEvent): void | Promise<void>;
  /** Connection problems and handler failures (the stream keeps going). Default: ignored. */
  onError?(err: Error): void;
  /** Reconnect delay: starts at `initialDelayMs`, doubles per failed attempt up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

function parseJson(data: string, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(data) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the typed error
  }
  throw new ChangeStreamProtocolError(`${what}: data is not a JSON object: ${data.slice(0, 120)}`);
}

function toSnapshotEntry(d: Record<string, unknown>): SnapshotEntry {
  const obj = d.obj as WatchObject | undefined;
  const type = d.type;
  if (typeof type !== "string" || !obj || typeof obj !== "object")
    throw new ChangeStreamProtocolError(
      `snapshot entry without type/obj: ${JSON.stringify(d).slice(0, 120)}`,
    );
  const uuid = typeof d.uuid === "string" ? d.uuid : obj.uuid;
  const fq = Array.isArray(d.fq_name) ? (d.fq_name as string[]) : obj.fq_name;
  if (typeof uuid !== "string" || !Array.isArray(fq))
    throw new ChangeStreamProtocolError(`snapshot entry of ${type} without uuid/fq_name`);
  return { type, uuid, fq_name: fq, obj: { ...obj, uuid, fq_name: fq } };
}

function toChange(d: Record<string, unknown>, id: string | undefined): WatchChange {
  const seq = typeof d.seq === "number" ? d.seq : Number(id);
  const op = d.op;
  if (!Number.isFinite(seq)) throw new ChangeStreamProtocolError("change without seq");
  if (op !== "CREATE" && op !== "UPDATE" && op !== "DELETE")
    throw new ChangeStreamProtocolError(`bad op ${op}`);
  if (typeof d.type !== "string" || typeof d.uuid !== "string")
    throw new ChangeStreamProtocolError(`change ${seq} without type/uuid`);
  const obj = d.obj as WatchObject | undefined;
  if (op !== "DELETE" && (!obj || typeof obj !== "object"))
    throw new ChangeStreamProtocolError(`change ${seq} (${op}) without obj`);
  const fq = Array.isArray(d.fq_name) ? (d.fq_name as string[]) : (obj?.fq_name ?? []);
  return {
    seq,
    op,
    type: d.type,
    uuid: d.uuid,
    fq_name: fq,
    obj: obj ? { ...obj, uuid: d.uuid, fq_name: obj.fq_name ?? fq } : undefined,
  };
}

export class ChangeStream {
  private readonly opts: Required<Omit<ChangeStreamOptions, "onError">> &
    Pick<ChangeStreamOptions, "onError">;
  private req: http.ClientRequest | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private delay: number;
  private lastSeq: number | undefined;
  private snapshot: SnapshotEntry[] | undefined;
  private chain: Promise<void> = Promise.resolve();
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  /** Number of (re)connections made, for diagnostics. */
  connects = 0;

  constructor(opts: ChangeStreamOptions) {
    this.opts = { initialDelayMs: 50, maxDelayMs: 2000, ...opts };
    this.delay = this.opts.initialDelayMs;
  }

  /** Sequence number of the last change received (undefined before the first snapshot). */
  get seq(): number | undefined {
    return this.lastSeq;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Resolves once the first snapshot has been handed to (and handled by) onEvent. */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Closes the connection and waits for the handler to finish the events already received. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.req?.destroy();
    this.req = undefined;
    await this.chain;
  }

  private connect(): void {
    if (this.stopped) return;
    this.connects++;
    this.snapshot = undefined;
    const url = new URL("/watch", this.opts.apiUrl);
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (this.lastSeq !== undefined) {
      url.searchParams.set("since", String(this.lastSeq));
      headers["Last-Event-ID"] = String(this.lastSeq);
    }
    const req = http.get(url, { headers });
    this.req = req;
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.fail(req, new ChangeStreamProtocolError(`GET /watch answered ${res.statusCode}`));
        return;
      }
      res.setEncoding("utf8");
      const parser = new SseParser();
      res.on("data", (chunk: string) => {
        if (this.req !== req) return;
        try {
          for (const m of parser.feed(chunk)) this.onMessage(m);
        } catch (err) {
          this.fail(req, err as Error);
        }
      });
      res.on("end", () => this.fail(req, new Error("change stream closed by the server")));
      res.on("error", (err) => this.fail(req, err));
    });
    req.on("error", (err) => this.fail(req, err));
  }

  private fail(req: http.ClientRequest, err: Error): void {
    if (this.req !== req) return; // already handled
    this.req = undefined;
    req.destroy();
    if (this.stopped) return;
    this.opts.onError?.(err);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, this.opts.maxDelayMs);
  }

  private onMessage(m: SseMessage): void {
    this.delay = this.opts.initialDelayMs; // the connection works
    switch (m.event) {
      case "snapshot": {
        this.snapshot ??= [];
        this.snapshot.push(toSnapshotEntry(parseJson(m.data, "snapshot")));
        return;
      }
      case "synced": {
        const seq = parseJson(m.data, "synced").seq;
        if (typeof seq !== "number") throw new ChangeStreamProtocolError("synced without a numeric seq");
        const objects = this.snapshot ?? [];
        this.snapshot = undefined;
        this.lastSeq = seq;
        this.deliver({ kind: "snapshot", seq, objects }, true);
        return;
      }
      case "create":
      case "update":
      case "delete": {
        if (this.snapshot) throw new ChangeStreamProtocolError("live change before synced");
        if (this.lastSeq === undefined)
          throw new ChangeStreamProtocolError("live change before any snapshot");
        const change = toChange(parseJson(m.data, m.event), m.id);
        if (change.seq <= this.lastSeq) return; // replayed after a resume
        this.lastSeq = change.seq;
        this.deliver({ kind: "change", change }, false);
        return;
      }
      case "dropped": {
        // The server stopped sending (we fell too far behind); the stream ends next and we resume from lastSeq.
        const why = (parseJson(m.data, "dropped").reason as string | undefined) ?? "no reason given";
        if (this.req) this.fail(this.req, new Error(`change stream dropped by the server: ${why}`));
        return;
      }
      default:
        return; // unknown events are ignored, as EventSource does
    }
  }

  private deliver(event: StreamEvent, isSnapshot: boolean): void {
    this.chain = this.chain
      .then(() => this.opts.onEvent(event))
      .catch((err: unknown) => this.opts.onError?.(err instanceof Error ? err : new Error(String(err))))
      .then(() => {
        if (isSnapshot && !this.synced) {
          this.synced = true;
          for (const w of this.syncWaiters.splice(0)) w();
        }
      });
  }
}
