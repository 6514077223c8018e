/**
 * A stand-in for the config API's `GET /watch` (docs/architecture.md contract) for agent tests that must not
 * depend on the real server: snapshot + synced on first connect (or when `since` is older than the retained
 * history), replay of changes after `since` otherwise, then live events. `dropClients()` cuts every stream
 * to exercise resume. Example: `const w = await startStubWatch(); new Cluster(w.push); w.url`.
 */
import http from "node:http";
import type { ChangeEvent, VncData } from "../../fake-vrouter/agent/config-model";

export interface StubWatch {
  url: string;
  push(ev: ChangeEvent): void;
  seq(): number;
  /** Forget history up to the current position: a resume then gets a fresh snapshot. */
  truncateHistory(): void;
  dropClients(): void;
  /** `since` values clients connected with (undefined = fresh). */
  connects: (number | undefined)[];
  close(): Promise<void>;
}

export async function startStubWatch(): Promise<StubWatch> {
  const objects = new Map<string, { type: string; fq_name: string[]; obj: VncData }>();
  const history: ChangeEvent[] = [];
  let firstRetained = 1;
  let seq = 0;
  const clients = new Set<http.ServerResponse>();
  const connects: (number | undefined)[] = [];

  const live = (ev: ChangeEvent) =>
    `id: ${ev.seq}\nevent: ${ev.op.toLowerCase()}\ndata: ${JSON.stringify(ev)}\n\n`;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname !== "/watch") {
      res.writeHead(404).end();
      return;
    }
    const sinceRaw = url.searchParams.get("since") ?? req.headers["last-event-id"];
    const since = sinceRaw ? Number(sinceRaw) : undefined;
    connects.push(since);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    if (!since || since < firstRetained - 1) {
      for (const [uuid, o] of objects)
        res.write(
          `event: snapshot\ndata: ${JSON.stringify({ type: o.type, uuid, fq_name: o.fq_name, obj: o.obj })}\n\n`,
        );
      res.write(`event: synced\ndata: ${JSON.stringify({ seq })}\n\n`);
    } else for (const ev of history) if (ev.seq > since) res.write(live(ev));
    clients.add(res);
    req.on("close", () => clients.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${addr.port}`,
    connects,
    push(ev) {
      seq = ev.seq;
      if (ev.op === "DELETE") objects.delete(ev.uuid);
      else objects.set(ev.uuid, { type: ev.type, fq_name: ev.fq_name, obj: ev.obj! });
      history.push(ev);
      for (const c of clients) c.write(live(ev));
    },
    seq: () => seq,
    truncateHistory() {
      history.length = 0;
      firstRetained = seq + 1;
    },
    dropClients() {
      for (const c of clients) c.destroy();
      clients.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
