import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ChangeStream, SseParser, type StreamEvent } from "../../fake-contrail-api/watch-client";
import { ConfigMirror } from "../../fake-contrail-api/daemons/config-mirror";

describe("SseParser", () => {
  it("assembles events split across chunks, with CRLF, comments and multi-line data", () => {
    const p = new SseParser();
    const got = [
      ...p.feed(": ping\r\n\r\nid: 7\r\nevent: upd"),
      ...p.feed('ate\r\ndata: {"a":\r'),
      ...p.feed("\ndata: 1}\r\n\r\n"),
      ...p.feed('event: synced\ndata: {"seq":3}\n\n'),
    ];
    expect(got).toEqual([
      { event: "update", data: '{"a":\n1}', id: "7" },
      { event: "synced", data: '{"seq":3}', id: undefined },
    ]);
  });
});

/** A scripted /watch server: each connection gets the next script entry (status, frames) and is then closed. */
function scriptedServer(script: { status?: number; frames: string[]; keepOpen?: boolean }[]) {
  const seen: { url: string; lastEventId?: string }[] = [];
  const open: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? "", lastEventId: req.headers["last-event-id"] as string | undefined });
    const step = script.shift();
    if (!step) {
      res.writeHead(503).end("no more");
      return;
    }
    res.writeHead(step.status ?? 200, { "Content-Type": "text/event-stream" });
    for (const f of step.frames) res.write(f);
    if (step.keepOpen) open.push(res);
    else res.end();
  });
  return {
    seen,
    listen: () =>
      new Promise<string>((resolve) =>
        server.listen(0, "127.0.0.1", () =>
          resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
        ),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of open) r.end();
        server.close(() => resolve());
      }),
  };
}

const frame = (event: string, data: unknown, id?: number) =>
  `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const vn = (uuid: string, name: string) => ({
  uuid,
  fq_name: ["default-domain", "p", name],
  parent_type: "project",
});
const snap = (uuid: string, name: string) =>
  frame("snapshot", { type: "virtual-network", uuid, fq_name: vn(uuid, name).fq_name, obj: vn(uuid, name) });
const change = (seq: number, op: string, uuid: string, name: string) =>
  frame(
    op.toLowerCase(),
    {
      seq,
      op,
      type: "virtual-network",
      uuid,
      fq_name: vn(uuid, name).fq_name,
      obj: op === "DELETE" ? undefined : vn(uuid, name),
    },
    seq,
  );

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function collect(apiUrl: string, until: (events: StreamEvent[]) => boolean) {
  const events: StreamEvent[] = [];
  const mirror = new ConfigMirror();
  let done!: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const stream = new ChangeStream({
    apiUrl,
    initialDelayMs: 1,
    maxDelayMs: 4,
    onEvent: (e) => {
      events.push(e);
      mirror.apply(e);
      if (until(events)) done();
    },
  });
  cleanup.push(() => stream.stop());
  stream.start();
  return { events, mirror, finished, stream };
}

describe("ChangeStream", () => {
  it("hands over the snapshot whole at synced, then live changes; resumes after a drop without repeats", async () => {
    const srv = scriptedServer([
      {
        frames: [
          snap("u1", "a"),
          snap("u2", "b"),
          frame("synced", { seq: 10 }),
          change(11, "CREATE", "u3", "c"),
        ],
      },
      // the resumed connection replays 11 (already delivered) and goes on
      { frames: [change(11, "CREATE", "u3", "c"), change(12, "DELETE", "u1", "a")], keepOpen: true },
    ]);
    const url = await srv.listen();
    cleanup.push(srv.close);
    const { events, mirror, finished, stream } = collect(url, (ev) => ev.length === 3);
    await stream.whenSynced();
    await finished;
    expect(
      events.map((e) =>
        e.kind === "snapshot" ? `snapshot@${e.seq}:${e.objects.length}` : `${e.change.op}@${e.change.seq}`,
      ),
    ).toEqual(["snapshot@10:2", "CREATE@11", "DELETE@12"]);
    expect(srv.seen[0]).toEqual({ url: "/watch", lastEventId: undefined });
    expect(srv.seen[1]).toEqual({ url: "/watch?since=11", lastEventId: "11" });
    expect(
      mirror
        .list("virtual-network")
        .map((o) => o.uuid)
        .sort(),
    ).toEqual(["u2", "u3"]);
    expect(mirror.seq).toBe(12);
  });

  it("replaces state when a resume is answered with a fresh snapshot, and retries after an error status", async () => {
    const srv = scriptedServer([
      { status: 503, frames: [] },
      { frames: [snap("u1", "a"), frame("synced", { seq: 5 })] },
      {
        frames: [": history gone, full resync\n\n", snap("u9", "z"), frame("synced", { seq: 40 })],
        keepOpen: true,
      },
    ]);
    const url = await srv.listen();
    cleanup.push(srv.close);
    const { events, mirror, finished } = collect(url, (ev) => ev.length === 2);
    await finished;
    expect(events.map((e) => e.kind)).toEqual(["snapshot", "snapshot"]);
    expect(srv.seen.map((s) => s.lastEventId)).toEqual([undefined, undefined, "5"]);
    expect(mirror.list("virtual-network").map((o) => o.uuid)).toEqual(["u9"]);
    expect(mirror.seq).toBe(40);
  });

  it("after a 'dropped' event (it fell behind) reports the reason and resumes from its last seq", async () => {
    const srv = scriptedServer([
      {
        frames: [
          snap("u1", "a"),
          frame("synced", { seq: 10 }),
          change(11, "CREATE", "u2", "b"),
          frame("dropped", { reason: "more than 8388608 bytes of changes unread", seq: 11 }),
        ],
        keepOpen: true,
      },
      { frames: [change(12, "DELETE", "u1", "a")], keepOpen: true },
    ]);
    const url = await srv.listen();
    cleanup.push(srv.close);
    const errors: string[] = [];
    const events: StreamEvent[] = [];
    const mirror = new ConfigMirror();
    let done!: () => void;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const stream = new ChangeStream({
      apiUrl: url,
      initialDelayMs: 1,
      maxDelayMs: 4,
      onError: (e) => errors.push(e.message),
      onEvent: (e) => {
        events.push(e);
        mirror.apply(e);
        if (events.length === 3) done();
      },
    });
    cleanup.push(() => stream.stop());
    stream.start();
    await finished;
    // The first connection is kept open by the server: the client left it on the dropped event by itself.
    expect(errors[0]).toBe("change stream dropped by the server: more than 8388608 bytes of changes unread");
    expect(srv.seen[1]).toEqual({ url: "/watch?since=11", lastEventId: "11" });
    expect(mirror.list("virtual-network").map((o) => o.uuid)).toEqual(["u2"]);
    expect(mirror.seq).toBe(12);
  });
});
