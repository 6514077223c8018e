/**
 * The controller's work queue of units. Units wait in rank buckets (tags and cluster before namespaces before
 * pods, …) and are handed out only when none of the units they wait for is queued, running or about to be
 * retried. A unit enqueued while it runs runs again afterwards. Failures are retried with exponential
 * backoff; units blocked on something nobody will create, and units whose deletes were refused because others
 * still referenced the objects ("deferred"), are retried slowly without holding anyone up.
 *
 * Idle — what the settle barrier waits for — means: nothing queued, nothing running, no failing unit within
 * its first `busyAttempts` attempts, and no deferred unit that others have written since its refused attempt
 * (such a unit is queued again as soon as the queue drains: `take()` does it).
 *
 * Example:
 *   const q = new WorkQueue({ rank, waitsFor: (k) => deps(k), wake: pump });
 *   q.enqueue("Pod/default/web");
 *   const k = q.take();                     // "Pod/default/web", now in flight
 *   q.finish(k, { ok: true, writes: 4 });
 *   await q.waitIdle();
 */

export interface WorkQueueOptions {
  /** Bucket of a unit: lower ranks are handed out first. */
  rank: (key: string) => number;
  /** Units that must not be busy (queued, running, retrying soon) when `key` starts. */
  waitsFor: (key: string) => string[];
  /** A retry came due and was queued: the owner should take work again. */
  wake: () => void;
  /** Something outside the queue is still to do (not started yet, a resync pending): not idle. */
  holds?: () => boolean;
  /** Attempts during which a failing unit still counts as work in progress (default 5). */
  busyAttempts?: number;
}

/** How one run of a unit ended. */
export type Outcome =
  | {
      ok: true;
      writes: number /** deletes refused because others still use the objects */;
      deferred?: string;
    }
  | {
      ok: false;
      message: string /** waits for something nobody will create: retried slowly */;
      blocked: boolean;
    };

/** What `finish` tells the owner for its logs. */
export interface Finished {
  /** The unit had been failing and now succeeded. */
  recovered: boolean;
  /** The message of the previous failed attempt, if any (so a repeated error is logged once). */
  previousMessage?: string;
}

interface RetryState {
  attempts: number;
  timer?: NodeJS.Timeout;
  busy: boolean;
  message: string;
}

/** Backoff of a unit's n-th retry (n ≥ 1): failures soon, blocked and deferred units slowly. */
export function retryDelay(attempt: number, blocked: boolean): number {
  return Math.min(30_000, (blocked ? 1000 : 100) * 2 ** (attempt - 1));
}

export class WorkQueue {
  private readonly buckets: Set<string>[] = [];
  private readonly inflight = new Set<string>();
  private readonly again = new Set<string>();
  /**
   * A queued unit found waiting → the busy unit it waited for. While that one stays busy the unit is skipped
   * without asking `waitsFor` again (a thousand pods queued behind their namespace were each re-examined on
   * every take). Forgotten when the unit is queued again, since an event may have changed what it waits for.
   */
  private readonly blockedOn = new Map<string, string>();
  private readonly retries = new Map<string, RetryState>();
  /** Write count when each running unit started. */
  private readonly startedAt = new Map<string, number>();
  /**
   * Units whose deletes the API refused because others still referenced the objects (a tag on an interface),
   * with the write count when that attempt began. Other units' writes since then may have let go of the
   * references, so such a unit runs again as soon as the queue drains, and the queue is not idle until it
   * has: a refusal caused by ordering within one burst of events is work known to be pending.
   */
  private readonly deferredSince = new Map<string, number>();
  /** Writes to the config API so far (failed units count as one: they may have written part of their objects). */
  private writeCount = 0;
  private idleWaiters: (() => void)[] = [];
  private inflightWaiters: (() => void)[] = [];
  private stopped = false;
  private readonly busyAttempts: number;
  /** unit key → its rank (a function of the key) */
  private readonly ranks = new Map<string, number>();

  constructor(private readonly opts: WorkQueueOptions) {
    this.busyAttempts = opts.busyAttempts ?? 5;
  }

  enqueue(k: string): void {
    if (this.stopped) return;
    this.blockedOn.delete(k);
    if (this.inflight.has(k)) {
      this.again.add(k);
      return;
    }
    const r = this.retries.get(k);
    if (r?.timer) {
      clearTimeout(r.timer);
      r.timer = undefined;
    }
    this.bucket(k).add(k);
  }

  /**
   * The next unit ready to run (lowest rank first, in the order queued; none of the units it waits for busy),
   * now in flight; undefined when none is ready. When the queue has drained, deferred units others have
   * written since are queued again first.
   */
  take(): string | undefined {
    if (this.stopped) return undefined;
    if (this.drained()) for (const k of this.retryable()) this.enqueue(k);
    for (const b of this.buckets) {
      for (const k of b ?? []) {
        const known = this.blockedOn.get(k);
        if (known !== undefined && this.busy(known)) continue;
        const blocker = this.opts.waitsFor(k).find((d) => this.busy(d));
        if (blocker !== undefined) this.blockedOn.set(k, blocker);
        else {
          this.blockedOn.delete(k);
          b.delete(k);
          this.inflight.add(k);
          this.startedAt.set(k, this.writeCount);
          return k;
        }
      }
    }
    return undefined;
  }

  /** Record how a unit taken with `take()` ended; queues it again if it was enqueued meanwhile. */
  finish(k: string, outcome: Outcome): Finished {
    const since = this.startedAt.get(k) ?? this.writeCount;
    this.startedAt.delete(k);
    const prev = this.retries.get(k);
    const previousMessage = prev?.message;
    let recovered = false;
    if (outcome.ok) {
      this.writeCount += outcome.writes;
      if (outcome.deferred) {
        // objects still in use by others: look again once the queue drains (if anyone wrote meanwhile),
        // and slowly after that, without holding anyone up
        this.deferredSince.set(k, since);
        this.scheduleRetry(k, outcome.deferred, true);
      } else {
        this.deferredSince.delete(k);
        if (prev) {
          clearTimeout(prev.timer);
          this.retries.delete(k);
          recovered = true;
        }
      }
    } else {
      this.deferredSince.delete(k);
      if (!outcome.blocked) this.writeCount++;
      this.scheduleRetry(k, outcome.message, outcome.blocked);
    }
    this.inflight.delete(k);
    if (this.again.delete(k)) this.enqueue(k);
    if (this.inflight.size === 0) for (const f of this.inflightWaiters.splice(0)) f();
    return recovered ? { recovered } : { recovered, previousMessage };
  }

  /** Queued and not yet taken. */
  depth(): number {
    return this.buckets.reduce((n, b) => n + (b?.size ?? 0), 0);
  }

  inFlight(): number {
    return this.inflight.size;
  }

  /** Units whose last attempt failed, was blocked or deferred (retried later). */
  failing(): number {
    return this.retries.size;
  }

  /** Nothing queued, running or retrying soon (deferred units aside). */
  drained(): boolean {
    if (this.opts.holds?.() || this.inflight.size || this.depth()) return false;
    for (const r of this.retries.values()) if (r.busy) return false;
    return true;
  }

  isIdle(): boolean {
    return this.drained() && this.retryable().length === 0;
  }

  /** Resolves once the queue is idle (checked whenever the owner calls `notifyIdle`), or stopped. */
  waitIdle(): Promise<void> {
    return new Promise((resolve) => {
      if (this.isIdle()) resolve();
      else this.idleWaiters.push(resolve);
    });
  }

  /** Release the `waitIdle` callers if the queue is idle now. */
  notifyIdle(): void {
    if (!this.isIdle()) return;
    for (const f of this.idleWaiters.splice(0)) f();
  }

  /** Stop handing out work and cancel retries; resolves once the units in flight have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.retries.values()) clearTimeout(r.timer);
    if (this.inflight.size) await new Promise<void>((r) => this.inflightWaiters.push(r));
    for (const f of this.idleWaiters.splice(0)) f();
  }

  private bucket(k: string): Set<string> {
    const rank = this.rankOf(k);
    this.buckets[rank] ??= new Set();
    return this.buckets[rank];
  }

  private queued(k: string): boolean {
    return this.buckets[this.rankOf(k)]?.has(k) === true;
  }

  /**
   * A unit's rank, asked of the owner once per key: `take` asks whether the units others wait for are queued
   * on every pass over the queue (1,000 pods starting: a quarter of the controller's own time was parsing keys).
   */
  private rankOf(k: string): number {
    let r = this.ranks.get(k);
    if (r === undefined) {
      r = this.opts.rank(k);
      // a cache: keys of units long gone are dropped with the rest now and then
      if (this.ranks.size >= 100_000) this.ranks.clear();
      this.ranks.set(k, r);
    }
    return r;
  }

  private busy(k: string): boolean {
    return this.queued(k) || this.inflight.has(k) || this.retries.get(k)?.busy === true;
  }

  /** Deferred units that others have written since their last attempt: worth another try. */
  private retryable(): string[] {
    return [...this.deferredSince].filter(([, since]) => since < this.writeCount).map(([k]) => k);
  }

  private scheduleRetry(k: string, message: string, blocked: boolean) {
    const r = this.retries.get(k) ?? { attempts: 0, busy: false, message };
    r.attempts++;
    r.message = message;
    // blocked units wait for an event (node, namespace, network appears); failures are retried soon
    r.busy = !blocked && r.attempts < this.busyAttempts;
    clearTimeout(r.timer);
    r.timer = setTimeout(
      () => {
        r.timer = undefined;
        this.enqueue(k);
        this.opts.wake();
      },
      retryDelay(r.attempts, blocked),
    );
    r.timer.unref?.();
    this.retries.set(k, r);
  }
}
