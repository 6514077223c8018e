/**
 * How the in-process controllers run: each sees every store change synchronously (and only enqueues keys),
 * then reconciles keys from one shared, deduplicating work queue drained off the caller's stack on later
 * macrotasks. waitQuiet() resolves once the queue is empty, which is what the settle barrier needs.
 *
 * Example: runtime.register({ name: "scheduler", onChange: (c, q) => q("ns/pod"), reconcile: (key) => ... })
 */
import type { Change } from "../store";

export interface Controller {
  readonly name: string;
  /** Map a store change to the keys this controller must look at again. */
  onChange(change: Change, enqueue: (key: string) => void): void;
  reconcile(key: string): void;
}

export interface ControllerFailure {
  controller: string;
  key: string;
  error: unknown;
}

/** Work items processed per macrotask before yielding to I/O. */
const BATCH = 200;

export class ControllerRuntime {
  private readonly controllers = new Map<string, Controller>();
  /** Insertion-ordered set of "controller\0key". */
  private readonly queue = new Set<string>();
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  readonly failures: ControllerFailure[] = [];

  constructor(private readonly onFailure: (f: ControllerFailure) => void) {}

  register(c: Controller): void {
    this.controllers.set(c.name, c);
  }

  /** Fan a change out to every controller (called synchronously by the store). */
  dispatch(change: Change): void {
    if (this.closed) return;
    for (const c of this.controllers.values()) c.onChange(change, (key) => this.enqueue(c.name, key));
  }

  enqueue(controller: string, key: string): void {
    if (this.closed) return;
    this.queue.add(`${controller}\0${key}`);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    let n = 0;
    for (const item of this.queue) {
      if (this.closed || n++ >= BATCH) break;
      this.queue.delete(item);
      const sep = item.indexOf("\0");
      const name = item.slice(0, sep);
      const key = item.slice(sep + 1);
      try {
        this.controllers.get(name)?.reconcile(key);
      } catch (error) {
        const f = { controller: name, key, error };
        this.failures.push(f);
        this.onFailure(f);
      }
    }
    if (this.queue.size > 0 && !this.closed) this.schedule();
    else this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  get idle(): boolean {
    return this.queue.size === 0;
  }

  /** What is queued, for a stuck settle's message: `3 units: workloads deployments/default/web, …`. */
  describe(max = 5): string {
    const items = [...this.queue].slice(0, max).map((i) => i.replace("\0", " "));
    const more = this.queue.size > max ? ", …" : "";
    return `${this.queue.size} unit${this.queue.size === 1 ? "" : "s"}${items.length ? `: ${items.join(", ")}${more}` : ""}`;
  }

  /** Resolves when every queued key (including keys queued meanwhile) has been reconciled. */
  waitQuiet(): Promise<void> {
    if (this.queue.size === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    this.queue.clear();
    this.notifyIdle();
  }
}
