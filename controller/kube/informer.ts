/**
 * A generic informer over KubeApi: list, then watch from the list's resourceVersion; a watch that ends is
 * resumed from the last seen version, a 410 Gone (version too old) triggers a relist that diffs against the
 * cache, and failures reconnect with exponential backoff. Handlers see add / update / delete with the cached
 * object; the cache is the source of truth for the controller's translation.
 *
 * Example:
 *   const pods = new Informer(api, "pods", { onChange: (type, obj) => queue(obj) });
 *   await pods.start();           // resolves once the first list is in the cache
 *   pods.cache.get("default/web");
 */
import { type KubeApi, KubeApiError, type KubeObject, type ResourceName, type WatchHandle } from "./api";

export type ChangeType = "add" | "update" | "delete";

export interface InformerOptions {
  onChange?: (type: ChangeType, obj: KubeObject, old?: KubeObject) => void;
  /** Reported when list/watch fails (the informer keeps retrying). */
  onError?: (err: Error) => void;
  /** First reconnect delay, doubled up to maxBackoffMs (defaults 100 ms, 10 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Only objects matching this field selector (a kubelet watches `spec.nodeName=<itself>`). */
  fieldSelector?: string;
  /**
   * A resource the server may not serve (a CRD that is not installed): a 404 on the first list resolves
   * `start()` with an empty cache, and the informer keeps trying in the background (the CRD may come later).
   */
  optional?: boolean;
}

export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata.name}` : `${obj.metadata.name}`;
}

export class Informer {
  readonly cache = new Map<string, KubeObject>();
  private rv = "";
  private handle?: WatchHandle;
  private stopped = false;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  /** Bumped on every (re)list / watch start so callbacks of a superseded watch are ignored. */
  private generation = 0;

  constructor(
    readonly api: KubeApi,
    readonly resource: ResourceName,
    private readonly opts: InformerOptions = {},
  ) {}

  /**
   * List into the cache and start watching; resolves after the first successful list (an `optional` resource:
   * or after the first 404, the informer then trying again in the background).
   */
  start(): Promise<void> {
    this.stopped = false;
    return new Promise((resolve) => {
      const loop = async () => {
        let notServed = false;
        for (;;) {
          try {
            await this.relist();
            resolve();
            return;
          } catch (err) {
            if (this.stopped) return resolve();
            const missing = this.opts.optional && err instanceof KubeApiError && err.status === 404;
            // a resource that is not served is said once, not at every retry
            if (!(missing && notServed)) this.opts.onError?.(err as Error);
            if (missing) {
              notServed = true;
              resolve();
            }
            await new Promise((r) => setTimeout(r, this.nextDelay()));
          }
        }
      };
      void loop();
    });
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.timer);
    this.handle?.stop();
    this.handle = undefined;
  }

  private nextDelay(): number {
    const base = this.opts.backoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 10_000;
    return Math.min(max, base * 2 ** this.failures++);
  }

  private async relist(): Promise<void> {
    const gen = ++this.generation;
    this.handle?.stop();
    const { items, resourceVersion } = await this.api.list(
      this.resource,
      this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : undefined,
    );
    if (this.stopped || gen !== this.generation) return;
    const seen = new Set<string>();
    for (const obj of items) {
      const k = objectKey(obj);
      seen.add(k);
      this.upsert(k, obj);
    }
    for (const [k, old] of this.cache) {
      if (seen.has(k)) continue;
      this.cache.delete(k);
      this.opts.onChange?.("delete", old);
    }
    this.rv = resourceVersion;
    await this.watch(gen);
  }

  private upsert(k: string, obj: KubeObject) {
    const old = this.cache.get(k);
    this.cache.set(k, obj);
    if (!old) this.opts.onChange?.("add", obj);
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion)
      this.opts.onChange?.("update", obj, old);
  }

  private async watch(gen: number): Promise<void> {
    const handle = await this.api.watch(
      this.resource,
      {
        resourceVersion: this.rv,
        allowWatchBookmarks: true,
        ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
      },
      (ev) => {
        if (gen !== this.generation) return;
        this.failures = 0;
        const rv = ev.object?.metadata?.resourceVersion;
        if (rv) this.rv = rv;
        if (ev.type === "BOOKMARK") return;
        const k = objectKey(ev.object);
        if (ev.type === "DELETED") {
          const old = this.cache.get(k);
          this.cache.delete(k);
          this.opts.onChange?.("delete", old ?? ev.object);
        } else {
          this.upsert(k, ev.object);
        }
      },
      (err) => {
        if (gen !== this.generation || this.stopped) return;
        this.generation++;
        const next = this.generation;
        if (err) this.opts.onError?.(err);
        const gone = err instanceof KubeApiError && err.status === 410;
        const delay = err ? this.nextDelay() : 0;
        this.timer = setTimeout(() => {
          if (this.stopped || next !== this.generation) return;
          const resume = gone ? this.relist() : this.watch(next);
          resume.catch((e: Error) => {
            if (this.stopped) return;
            this.opts.onError?.(e);
            // a failed resume falls back to a full relist after a delay
            this.timer = setTimeout(() => void this.retryRelist(), this.nextDelay());
          });
        }, delay);
      },
    );
    if (gen !== this.generation || this.stopped) handle.stop();
    else this.handle = handle;
  }

  private async retryRelist(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.relist();
    } catch (e) {
      if (this.stopped) return;
      this.opts.onError?.(e as Error);
      this.timer = setTimeout(() => void this.retryRelist(), this.nextDelay());
    }
  }
}
