/**
 * The config change stream (docs/architecture.md, "Config API change stream"): `GET /watch?since=<seq>` as
 * Server-Sent Events. A client that is new (since 0/absent) or too far behind first gets one `snapshot` event per
 * object (parents first) and a `synced` event with the seq the snapshot reflects; then, like a resuming client,
 * every committed change with a larger seq (`id: <seq>`, `event: create|update|delete`). `Last-Event-ID` works
 * like `since`; `: ping` comments keep idle connections open. A client that leaves more than WATCH_BUFFER_BYTES of
 * live events unread (beyond its snapshot) is dropped: it gets no more changes, a final `dropped` event with the
 * reason and the last seq sent, then the end of the stream (cut after DROP_GRACE_MS if it still does not read);
 * it resumes with `Last-Event-ID` like after any disconnect.
 * Example: `curl -N 'http://127.0.0.1:8082/watch?since=42'`.
 */
import type { Request, Response } from "express";
import { badRequest } from "./errors";
import { renderObject } from "./render";
import type { Change, Store, StoredObject, StoreReader } from "./store";

const PING_MS = 15_000;
/** Unread live-event bytes a watcher may hold (beyond its snapshot) before it is dropped: bounds our memory. */
export const WATCH_BUFFER_BYTES = 8 * 1024 * 1024;
/** Time a dropped watcher gets to read what was queued (and the reason) before its socket is cut. */
const DROP_GRACE_MS = 10_000;

function eventObject(store: StoreReader, o: StoredObject, base: string): Record<string, unknown> {
  return renderObject(store, o, { base, excludeBackRefs: true, excludeChildren: true });
}

function changeEvent(store: StoreReader, c: Change, base: string): string {
  const data: Record<string, unknown> = {
    seq: c.seq,
    op: c.op,
    type: c.type,
    uuid: c.uuid,
    fq_name: c.fq_name,
  };
  if (c.obj) data.obj = eventObject(store, c.obj, base);
  return `id: ${c.seq}\nevent: ${c.op.toLowerCase()}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The last committed batch as text: every live watcher with the same base URL shares one rendering. */
let lastBatch: { changes: Change[]; base: string; text: string } | undefined;

function renderBatch(store: StoreReader, changes: Change[], base: string): string {
  if (lastBatch && lastBatch.changes === changes && lastBatch.base === base) return lastBatch.text;
  const text = changes.map((c) => changeEvent(store, c, base)).join("");
  lastBatch = { changes, base, text };
  return text;
}

function parseSince(req: Request): number {
  const raw = req.query.since ?? req.get("last-event-id");
  if (raw === undefined || raw === "") return 0;
  const n = Number(raw);
  if (typeof raw !== "string" || !Number.isInteger(n) || n < 0)
    throw badRequest(`since must be a seq number ≥ 0`);
  return n;
}

export function watchHandler(store: Store, baseOf: (req: Request) => string) {
  return (req: Request, res: Response): void => {
    const since = parseSince(req);
    const base = baseOf(req);
    res.status(200);
    res.set({ "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
    res.flushHeaders();
    let from: number;
    const view = store.committed;
    const backlog = since > 0 ? store.changesSince(since) : undefined;
    if (backlog) {
      for (const c of backlog) res.write(changeEvent(view, c, base));
      from = backlog.length ? backlog[backlog.length - 1].seq : since;
    } else {
      // The snapshot is the committed state: it reflects exactly store.seq().
      from = store.seq();
      const chunks: string[] = [];
      for (const o of view.all()) {
        const data = {
          seq: from,
          type: o.type,
          uuid: o.uuid,
          fq_name: o.fq_name,
          obj: eventObject(view, o, base),
        };
        chunks.push(`event: snapshot\ndata: ${JSON.stringify(data)}\n\n`);
        if (chunks.length >= 512) res.write(chunks.splice(0).join(""));
      }
      chunks.push(`id: ${from}\nevent: synced\ndata: ${JSON.stringify({ seq: from })}\n\n`);
      res.write(chunks.join(""));
    }
    // What the snapshot or backlog queued is this client's own allowance on top of the live-event bound.
    const allowance = res.writableLength + WATCH_BUFFER_BYTES;
    let sent = from;
    let dropped = false;
    // Commits are rendered as they happen (the view moves on) but written once per turn of the event loop: a
    // burst of requests answered in one turn costs one socket write per watcher, not one per commit.
    let pending: string[] = [];
    let pendingSeq = sent;
    let flushing: NodeJS.Immediate | undefined;
    const flush = () => {
      flushing = undefined;
      if (dropped || pending.length === 0) return;
      res.write(pending.length === 1 ? pending[0] : pending.join(""));
      pending = [];
      sent = pendingSeq;
      // A consumer that stopped reading is dropped rather than costing us memory without bound.
      if (res.writableLength > allowance)
        drop(`more than ${WATCH_BUFFER_BYTES} bytes of changes unread; resume with Last-Event-ID`);
    };
    const unsubscribe = store.onCommit((changes) => {
      const fresh = changes[0].seq > from ? changes : changes.filter((c) => c.seq > from);
      if (fresh.length === 0) return;
      pending.push(renderBatch(view, fresh, base));
      pendingSeq = fresh[fresh.length - 1].seq;
      flushing ??= setImmediate(flush);
    });
    const ping = setInterval(() => res.write(": ping\n\n"), PING_MS);
    const stop = () => {
      clearInterval(ping);
      if (flushing) clearImmediate(flushing);
      pending = [];
      unsubscribe();
    };
    const drop = (reason: string) => {
      if (dropped) return;
      dropped = true;
      stop();
      const who = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`;
      process.stderr.write(`fake-contrail-api: dropped /watch client ${who} at seq ${sent}: ${reason}\n`);
      res.end(`event: dropped\ndata: ${JSON.stringify({ reason, seq: sent })}\n\n`);
      const cut = setTimeout(() => res.destroy(), DROP_GRACE_MS);
      cut.unref();
      res.on("close", () => clearTimeout(cut));
    };
    res.on("close", stop);
    res.on("error", stop);
  };
}
