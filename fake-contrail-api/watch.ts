/**
 * The config change stream (docs/architecture.md, "Config API change stream"): `GET /watch?since=<seq>` as
 * Server-Sent Events. A client that is new (since 0/absent) or too far behind first gets one `snapshot` event per
 * object (parents first) and a `synced` event with the seq the snapshot reflects; then, like a resuming client,
 * every committed change with a larger seq (`id: <seq>`, `event: create|update|delete`). `Last-Event-ID` works
 * like `since`; `: ping` comments keep idle connections open.
 * Example: `curl -N 'http://127.0.0.1:8082/watch?since=42'`.
 */
import type { Request, Response } from "express";
import { badRequest } from "./errors";
import { renderObject } from "./render";
import type { Change, Store, StoredObject } from "./store";

const PING_MS = 15_000;
const MAX_BUFFERED = 64 * 1024 * 1024;

function eventObject(store: Store, o: StoredObject, base: string): Record<string, unknown> {
  return renderObject(store, o, { base, excludeBackRefs: true, excludeChildren: true });
}

function changeEvent(store: Store, c: Change, base: string): string {
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

function renderBatch(store: Store, changes: Change[], base: string): string {
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
    const backlog = since > 0 ? store.changesSince(since) : undefined;
    if (backlog) {
      for (const c of backlog) res.write(changeEvent(store, c, base));
      from = backlog.length ? backlog[backlog.length - 1].seq : since;
    } else {
      // The snapshot is read from memory, which may be a little ahead of what is durable: it reflects memorySeq.
      from = store.memorySeq();
      const chunks: string[] = [];
      for (const o of store.all()) {
        const data = {
          seq: from,
          type: o.type,
          uuid: o.uuid,
          fq_name: o.fq_name,
          obj: eventObject(store, o, base),
        };
        chunks.push(`event: snapshot\ndata: ${JSON.stringify(data)}\n\n`);
        if (chunks.length >= 512) res.write(chunks.splice(0).join(""));
      }
      chunks.push(`id: ${from}\nevent: synced\ndata: ${JSON.stringify({ seq: from })}\n\n`);
      res.write(chunks.join(""));
    }
    const unsubscribe = store.onCommit((changes) => {
      const fresh = changes[0].seq > from ? changes : changes.filter((c) => c.seq > from);
      if (fresh.length) res.write(renderBatch(store, fresh, base));
      // A consumer that stopped reading is cut off; it resumes with Last-Event-ID instead of costing us memory.
      if (res.writableLength > MAX_BUFFERED) res.destroy();
    });
    const ping = setInterval(() => res.write(": ping\n\n"), PING_MS);
    const stop = () => {
      clearInterval(ping);
      unsubscribe();
    };
    res.on("close", stop);
    res.on("error", stop);
  };
}
