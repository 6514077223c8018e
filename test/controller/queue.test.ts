/**
 * The work queue on its own: ranks and dependencies decide what runs next; idle means nothing queued, in
 * flight, failing within its first attempts or deferred with writes since (what the settle barrier relies on);
 * backoff; a unit enqueued while it runs runs again.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Outcome, retryDelay, WorkQueue, type WorkQueueOptions } from "../../controller/queue";

const RANK: Record<string, number> = { Tags: 0, Cluster: 1, Node: 1, Namespace: 2, Pod: 3, Service: 4 };
const rank = (k: string) => RANK[k.split("/")[0]];

/** A queue whose units wait for `deps[k]`, counting wake-ups. */
function queue(deps: Record<string, string[]> = {}, extra: Partial<WorkQueueOptions> = {}) {
  const wakes = { n: 0 };
  const q = new WorkQueue({ rank, waitsFor: (k) => deps[k] ?? [], wake: () => wakes.n++, ...extra });
  return { q, wakes };
}

const ok: Outcome = { ok: true, writes: 1 };
const fail: Outcome = { ok: false, message: "boom", blocked: false };
const blocked: Outcome = { ok: false, message: "no vrouter", blocked: true };

/** Take until nothing is ready. */
const takeAll = (q: WorkQueue) => {
  const out: string[] = [];
  for (let k = q.take(); k; k = q.take()) out.push(k);
  return out;
};

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("order", () => {
  it("hands out lower ranks first, each rank in the order queued", () => {
    const { q } = queue();
    for (const k of ["Pod/a/2", "Service/a/s", "Pod/a/1", "Namespace/a", "Tags"]) q.enqueue(k);
    expect(takeAll(q)).toEqual(["Tags", "Namespace/a", "Pod/a/2", "Pod/a/1", "Service/a/s"]);
  });

  it("holds a unit while a unit it waits for is queued or in flight", () => {
    const { q } = queue({ "Pod/a/p": ["Namespace/a"] });
    q.enqueue("Pod/a/p");
    q.enqueue("Namespace/a");
    expect(takeAll(q)).toEqual(["Namespace/a"]);
    q.finish("Namespace/a", ok);
    expect(takeAll(q)).toEqual(["Pod/a/p"]);
  });

  it("deletion ordering: a deleted namespace waits for its pods' units, though they rank after it", () => {
    // what the controller passes as waitsFor for a namespace that is gone: its pods' and services' units
    const { q } = queue({ "Namespace/a": ["Pod/a/p", "Service/a/s"] });
    for (const k of ["Namespace/a", "Pod/a/p", "Service/a/s"]) q.enqueue(k);
    expect(takeAll(q)).toEqual(["Pod/a/p", "Service/a/s"]);
    q.finish("Pod/a/p", ok);
    expect(q.take()).toBeUndefined();
    q.finish("Service/a/s", ok);
    expect(takeAll(q)).toEqual(["Namespace/a"]);
  });

  it("queuing a unit twice runs it once", () => {
    const { q } = queue();
    q.enqueue("Pod/a/p");
    q.enqueue("Pod/a/p");
    expect(q.depth()).toBe(1);
    expect(takeAll(q)).toEqual(["Pod/a/p"]);
  });

  it("a unit enqueued while in flight runs again after it finishes, not at the same time", () => {
    const { q } = queue();
    q.enqueue("Pod/a/p");
    expect(q.take()).toBe("Pod/a/p");
    q.enqueue("Pod/a/p");
    expect(q.take()).toBeUndefined();
    expect(q.isIdle()).toBe(false);
    q.finish("Pod/a/p", ok);
    expect(q.take()).toBe("Pod/a/p");
    q.finish("Pod/a/p", ok);
    expect(q.isIdle()).toBe(true);
  });
});

describe("idle", () => {
  it("is idle only when nothing is queued or in flight", async () => {
    const { q } = queue();
    expect(q.isIdle()).toBe(true);
    q.enqueue("Pod/a/p");
    expect(q.isIdle()).toBe(false);
    let resolved = false;
    void q.waitIdle().then(() => {
      resolved = true;
    });
    q.take();
    q.notifyIdle();
    await Promise.resolve();
    expect(resolved).toBe(false);
    q.finish("Pod/a/p", ok);
    q.notifyIdle();
    await Promise.resolve();
    expect(resolved).toBe(true);
  });

  it("is not idle while the owner holds it (not started, resync pending)", () => {
    let holding = true;
    const { q } = queue({}, { holds: () => holding });
    expect(q.isIdle()).toBe(false);
    holding = false;
    expect(q.isIdle()).toBe(true);
  });

  it("a failing unit keeps it busy for its first attempts, then no longer", async () => {
    const { q } = queue({}, { busyAttempts: 3 });
    q.enqueue("Pod/a/p");
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(q.take()).toBe("Pod/a/p");
      q.finish("Pod/a/p", fail);
      expect(q.isIdle()).toBe(attempt >= 3);
      await vi.advanceTimersByTimeAsync(retryDelay(attempt, false));
    }
    expect(q.failing()).toBe(1);
  });

  it("a blocked unit does not keep it busy, and does not hold up the units waiting for it", () => {
    const { q } = queue({ "Pod/a/p": ["Node/n"] });
    q.enqueue("Node/n");
    q.finish(q.take()!, blocked);
    expect(q.isIdle()).toBe(true);
    q.enqueue("Pod/a/p");
    expect(q.take()).toBe("Pod/a/p");
  });

  it("a deferred unit keeps it busy until it ran again after others wrote", () => {
    const { q } = queue();
    q.enqueue("Tags");
    q.finish(q.take()!, { ok: true, writes: 0, deferred: "tag a=b still in use" });
    // nobody wrote since: trying again now would be refused again
    expect(q.isIdle()).toBe(true);
    expect(q.take()).toBeUndefined();

    q.enqueue("Pod/a/p");
    q.finish(q.take()!, { ok: true, writes: 1 }); // the pod lets go of the tag
    expect(q.isIdle()).toBe(false);
    expect(q.take()).toBe("Tags"); // queued again as soon as the queue drained
    q.finish("Tags", { ok: true, writes: 1 });
    expect(q.isIdle()).toBe(true);
    expect(q.failing()).toBe(0);
  });

  it("a deferred unit is not retried while others are still queued", () => {
    const { q } = queue();
    q.enqueue("Tags");
    q.finish(q.take()!, { ok: true, writes: 0, deferred: "in use" });
    q.enqueue("Pod/a/1");
    q.enqueue("Pod/a/2");
    q.finish(q.take()!, ok);
    expect(q.take()).toBe("Pod/a/2");
    q.finish("Pod/a/2", ok);
    expect(q.take()).toBe("Tags");
  });

  it("a failed unit counts as a write (it may have written part of its objects)", () => {
    const { q } = queue();
    q.enqueue("Tags");
    q.finish(q.take()!, { ok: true, writes: 0, deferred: "in use" });
    q.enqueue("Pod/a/p");
    q.finish(q.take()!, fail);
    // the pod's retry is busy; once it is no longer, the deferred tags unit is due
    expect(q.isIdle()).toBe(false);
  });
});

describe("retries", () => {
  it("backs off exponentially: failures from 100 ms, blocked units from 1 s, both up to 30 s", () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n, false))).toEqual([100, 200, 400, 800]);
    expect([1, 2, 3].map((n) => retryDelay(n, true))).toEqual([1000, 2000, 4000]);
    expect(retryDelay(20, false)).toBe(30_000);
  });

  it("queues a failed unit again when its backoff expires and wakes the owner", async () => {
    const { q, wakes } = queue();
    q.enqueue("Pod/a/p");
    q.finish(q.take()!, fail);
    q.enqueue("Pod/a/p");
    q.finish(q.take()!, fail); // second attempt: retried after 200 ms
    await vi.advanceTimersByTimeAsync(199);
    expect(wakes.n).toBe(0);
    expect(q.depth()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(wakes.n).toBe(1);
    expect(q.take()).toBe("Pod/a/p");
  });

  it("an event for a failing unit runs it now and cancels the pending retry", async () => {
    const { q, wakes } = queue();
    q.enqueue("Pod/a/p");
    q.finish(q.take()!, fail);
    q.enqueue("Pod/a/p");
    expect(q.take()).toBe("Pod/a/p");
    await vi.advanceTimersByTimeAsync(1000);
    expect(wakes.n).toBe(0);
  });

  it("success after failures reports the recovery and clears the retry", () => {
    const { q } = queue();
    q.enqueue("Pod/a/p");
    expect(q.finish(q.take()!, fail)).toEqual({ recovered: false, previousMessage: undefined });
    q.enqueue("Pod/a/p");
    expect(q.finish(q.take()!, fail)).toEqual({ recovered: false, previousMessage: "boom" });
    q.enqueue("Pod/a/p");
    expect(q.finish(q.take()!, ok)).toEqual({ recovered: true });
    expect(q.failing()).toBe(0);
  });

  it("a failing unit within its first attempts holds up the units waiting for it", () => {
    const { q } = queue({ "Pod/a/p": ["Namespace/a"] });
    q.enqueue("Namespace/a");
    q.finish(q.take()!, fail);
    q.enqueue("Pod/a/p");
    expect(q.take()).toBeUndefined();
  });
});

describe("stop", () => {
  it("waits for the units in flight, hands out nothing more and releases waiters", async () => {
    const { q } = queue();
    q.enqueue("Pod/a/1");
    q.enqueue("Pod/a/2");
    q.take();
    const idle = q.waitIdle();
    let stopped = false;
    const stopping = q.stop().then(() => {
      stopped = true;
    });
    await Promise.resolve();
    expect(stopped).toBe(false);
    expect(q.take()).toBeUndefined();
    q.finish("Pod/a/1", ok);
    await stopping;
    await idle;
    q.enqueue("Pod/a/3");
    expect(q.depth()).toBe(1); // Pod/a/2 left queued; Pod/a/3 ignored
  });
});
