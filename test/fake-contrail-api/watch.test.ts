/** The /watch change stream and /watch-position, as the agents and config daemons consume them. */
import net from "node:net";
import { describe, expect, it } from "vitest";
import { useApiServer } from "../support/api";
import { client, FQ, readEvents, type SseEvent } from "./helpers";

const api = useApiServer();
const c = client(() => api.url);

const position = async () => (await c.get("/watch-position")).json.seq as number;
const data = (e: SseEvent) => JSON.parse(e.data);

describe("watch", () => {
  it("starts with a parents-first snapshot and a synced event at the current position", async () => {
    await c.create("virtual-network", { fq_name: FQ("w-snap") });
    const pos = await position();
    const events = await readEvents(`${api.url}/watch`, (ev) => ev.some((e) => e.event === "synced"));
    const snaps = events.filter((e) => e.event === "snapshot").map(data);
    const synced = events.find((e) => e.event === "synced")!;
    expect(data(synced)).toEqual({ seq: pos });
    expect(events.at(-1)).toBe(synced);
    const listed = (await c.get("/virtual-networks")).json["virtual-networks"].length;
    expect(snaps.filter((s) => s.type === "virtual-network")).toHaveLength(listed);
    const seen = new Set<string>();
    for (const s of snaps) {
      if (s.obj.parent_uuid) expect(seen.has(s.obj.parent_uuid)).toBe(true);
      seen.add(s.uuid);
      expect(s.obj.routing_instances).toBeUndefined();
    }
    expect(snaps.find((s) => s.fq_name.join(":") === FQ("w-snap").join(":")).obj.uuid).toBeTruthy();
  });

  it("streams live create/update/delete events with seq ids after the snapshot", async () => {
    let onSynced = () => {};
    const synced = new Promise<void>((resolve) => {
      onSynced = resolve;
    });
    const got = readEvents(`${api.url}/watch`, (ev) => {
      if (ev.at(-1)?.event === "synced") onSynced();
      return ev.some((e) => e.event === "delete");
    });
    await synced;
    const pol = await c.create("network-policy", { fq_name: FQ("w-live") });
    await c.put(`/network-policy/${pol}`, { "network-policy": { display_name: "renamed" } });
    await c.del(`/network-policy/${pol}`);
    const events = (await got).filter((e) => e.event !== "snapshot" && e.event !== "synced");
    const mine = events.map(data).filter((d) => d.uuid === pol);
    expect(mine.map((d) => d.op)).toEqual(["CREATE", "UPDATE", "DELETE"]);
    expect(mine[0]).toMatchObject({ type: "network-policy", fq_name: FQ("w-live"), obj: { uuid: pol } });
    expect(mine[1].obj.display_name).toBe("renamed");
    expect(mine[2].obj).toBeUndefined();
    for (const e of events) expect(Number(e.id)).toBe(data(e).seq);
    const seqs = events.map((e) => Number(e.id));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(await position()).toBe(seqs.at(-1));
  });

  it("resumes from since / Last-Event-ID with exactly the later changes, in order", async () => {
    const from = await position();
    const vn = await c.create("virtual-network", { fq_name: FQ("w-resume") });
    await c.put(`/virtual-network/${vn}`, { "virtual-network": { is_shared: true } });
    const to = await position();
    const stop = (ev: SseEvent[]) => ev.some((e) => Number(e.id) === to);
    const bySince = await readEvents(`${api.url}/watch?since=${from}`, stop);
    expect(bySince.some((e) => e.event === "snapshot")).toBe(false);
    const ds = bySince.map(data);
    expect(ds.map((d) => d.seq)).toEqual(Array.from({ length: to - from }, (_, i) => from + 1 + i));
    // A VN create is also the create of its default routing instance.
    expect(ds.map((d) => `${d.op} ${d.type}`)).toEqual([
      "CREATE virtual-network",
      "CREATE routing-instance",
      "UPDATE virtual-network",
    ]);
    const byHeader = await readEvents(`${api.url}/watch`, stop, { "last-event-id": String(from) });
    expect(byHeader.map((e) => e.id)).toEqual(bySince.map((e) => e.id));
  });

  it("gives a fresh snapshot to a client that is ahead of the server (e.g. after a memory-only restart)", async () => {
    const pos = await position();
    const events = await readEvents(`${api.url}/watch?since=${pos + 1000}`, (ev) =>
      ev.some((e) => e.event === "synced"),
    );
    expect(events.some((e) => e.event === "snapshot")).toBe(true);
    expect(data(events.at(-1)!)).toEqual({ seq: pos });
  });

  it("drops a client that never reads once it holds too much unread, with a reason, and keeps serving", async () => {
    // A raw client that sends the request and then reads nothing.
    const { port, hostname } = new URL(api.url);
    const sock = net.connect(Number(port), hostname);
    await new Promise((r) => sock.once("connect", r));
    sock.pause();
    sock.write(`GET /watch HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 50));
    // ~40 MB of change events (1 MB display names), several times the per-client bound plus socket buffers.
    const big = "y".repeat(1_000_000);
    for (let i = 0; i < 40; i++)
      await c.create("network-policy", { fq_name: FQ(`w-big-${i}`), display_name: big });
    // Reading now: the queued events, then the reason, then the end of the stream.
    const text = await new Promise<string>((resolve) => {
      let got = "";
      sock.setEncoding("utf8");
      sock.on("data", (d) => {
        got += d;
      });
      sock.on("end", () => resolve(got));
      sock.on("close", () => resolve(got));
      sock.resume();
    });
    const dropped = /event: dropped\ndata: (.*)\n/.exec(text);
    expect(dropped).not.toBeNull();
    const info = JSON.parse(dropped![1]);
    expect(info.reason).toMatch(/bytes of changes unread; resume with Last-Event-ID/);
    // Everything before the drop arrived, up to the seq the reason names; nothing after it.
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids.at(-1)).toBe(info.seq);
    expect(info.seq).toBeLessThan(await position());
    // Resuming from there gets the rest.
    const rest = await readEvents(`${api.url}/watch?since=${info.seq}`, (ev) =>
      ev.some((e) => e.data.includes("w-big-39")),
    );
    expect(rest.some((e) => e.data.includes("w-big-39"))).toBe(true);
  });
});
