/**
 * The in-memory config database: objects by uuid (in creation order, so parents precede children), an
 * fq_name → uuid index per type, children and back-ref indexes, the user-agent key/value table, and the change
 * sequence. Mutations are synchronous and collected into the current transaction (the working state); `commit()`
 * makes them durable (journal) and only then applies them to the committed state that every read sees and
 * publishes them as numbered changes to watchers.
 * Example: `store.put(obj); await store.commit(); store.committed.byFqName("project", ["default-domain","p"])`.
 */
import { EventEmitter } from "node:events";
import { ApiError } from "./errors";
import { Journal, type SnapshotCapture, type SnapshotData } from "./journal";
import type { ResourceType } from "./schema";

export interface StoredRef {
  uuid: string;
  attr: unknown;
  /** Set by ref-relax-for-delete: this ref does not block deleting its target. */
  relaxed?: boolean;
}

/** One stored object. Treated as immutable: every update stores a new record. */
export interface StoredObject {
  type: ResourceType;
  uuid: string;
  fq_name: string[];
  parent_type: string;
  parent_uuid?: string;
  /** Properties, including id_perms, perms2, display_name and annotations. */
  props: Record<string, unknown>;
  /** Target type → refs. */
  refs: Record<string, StoredRef[]>;
}

export type ChangeOp = "CREATE" | "UPDATE" | "DELETE";

export interface Change {
  seq: number;
  op: ChangeOp;
  type: ResourceType;
  uuid: string;
  fq_name: string[];
  /** The object after the change; absent for DELETE. */
  obj?: StoredObject;
}

type KvChange = { key: string; value: string | null };

/** One journal line: a committed transaction. */
interface TxLine {
  c?: Change[];
  kv?: KvChange[];
}

/** How many committed changes /watch can replay by seq before a client must take a fresh snapshot. */
const HISTORY = 50_000;

const fqKey = (type: string, fq: readonly string[]): string => `${type}\u0000${fq.join("\u0000")}`;

/** The read side of a store state: what GET, LIST, actions, /watch and the renderer use. */
export interface StoreReader {
  get(uuid: string): StoredObject | undefined;
  byFqName(type: string, fq: readonly string[]): StoredObject | undefined;
  /** Objects of one type in creation order. */
  ofType(type: string): Iterable<StoredObject>;
  countOfType(type: string): number;
  /** Every object, parents before children. */
  all(): Iterable<StoredObject>;
  children(uuid: string): StoredObject[];
  /** Objects holding a ref to `uuid`. */
  referrers(uuid: string): StoredObject[];
  kvGet(key: string): string | undefined;
  kvAll(): [string, string][];
}

/**
 * One consistent set of objects and their indexes. The store keeps two: the working state writers validate
 * against (it includes changes still on their way to disk) and the committed state readers see (only changes
 * whose journal line is durable). Objects are immutable records shared by both, so the second costs only indexes.
 */
class StoreState implements StoreReader {
  readonly objects = new Map<string, StoredObject>();
  private readonly byType = new Map<string, Map<string, StoredObject>>();
  private readonly fqIndex = new Map<string, string>();
  private readonly childIndex = new Map<string, Set<string>>();
  private readonly backRefIndex = new Map<string, Set<string>>();
  readonly kv = new Map<string, string>();

  get(uuid: string): StoredObject | undefined {
    return this.objects.get(uuid);
  }

  byFqName(type: string, fq: readonly string[]): StoredObject | undefined {
    const u = this.fqIndex.get(fqKey(type, fq));
    return u === undefined ? undefined : this.objects.get(u);
  }

  ofType(type: string): Iterable<StoredObject> {
    return this.byType.get(type)?.values() ?? [];
  }

  countOfType(type: string): number {
    return this.byType.get(type)?.size ?? 0;
  }

  all(): Iterable<StoredObject> {
    return this.objects.values();
  }

  children(uuid: string): StoredObject[] {
    return [...(this.childIndex.get(uuid) ?? [])].map((u) => this.objects.get(u)!);
  }

  referrers(uuid: string): StoredObject[] {
    return [...(this.backRefIndex.get(uuid) ?? [])].map((u) => this.objects.get(u)!);
  }

  kvGet(key: string): string | undefined {
    return this.kv.get(key);
  }

  kvAll(): [string, string][] {
    return [...this.kv.entries()];
  }

  apply(c: Change): void {
    if (c.op === "DELETE") this.unindex(c.uuid);
    else if (c.obj) this.index(c.obj);
  }

  applyKv(k: KvChange): void {
    if (k.value === null) this.kv.delete(k.key);
    else this.kv.set(k.key, k.value);
  }

  index(obj: StoredObject): void {
    const prev = this.objects.get(obj.uuid);
    if (prev) this.dropRefs(prev);
    this.objects.set(obj.uuid, obj);
    let t = this.byType.get(obj.type);
    if (!t) {
      t = new Map();
      this.byType.set(obj.type, t);
    }
    t.set(obj.uuid, obj);
    this.fqIndex.set(fqKey(obj.type, obj.fq_name), obj.uuid);
    if (obj.parent_uuid) addTo(this.childIndex, obj.parent_uuid, obj.uuid);
    for (const refs of Object.values(obj.refs))
      for (const r of refs) addTo(this.backRefIndex, r.uuid, obj.uuid);
  }

  unindex(uuid: string): void {
    const o = this.objects.get(uuid);
    if (!o) return;
    this.dropRefs(o);
    this.objects.delete(uuid);
    this.byType.get(o.type)?.delete(uuid);
    this.fqIndex.delete(fqKey(o.type, o.fq_name));
    if (o.parent_uuid) removeFrom(this.childIndex, o.parent_uuid, uuid);
    this.childIndex.delete(uuid);
    this.backRefIndex.delete(uuid);
  }

  private dropRefs(o: StoredObject): void {
    for (const refs of Object.values(o.refs))
      for (const r of refs) removeFrom(this.backRefIndex, r.uuid, o.uuid);
  }
}

export class Store implements StoreReader {
  /** What writers see: committed state plus the changes of transactions not yet durable. */
  private readonly working = new StoreState();
  /** What readers see: only durable changes (a crash can never take back what a client read). */
  private readonly durable = new StoreState();
  /** Last seq handed out (may not be durable yet). */
  private lastSeq = 0;
  /** Last seq that is durable and published. */
  private durableSeq = 0;
  /** Journal lines made durable and applied to the committed state (compaction checks it covers them all). */
  private durableLines = 0;
  private txChanges: Change[] = [];
  private txKv: KvChange[] = [];
  private history: Change[] = [];
  private readonly events = new EventEmitter();
  private compacting = false;
  /** Set once a journal write failed: memory is then ahead of disk, so further writes are refused. */
  private failure: Error | undefined;

  private constructor(private readonly journal: Journal | undefined) {
    this.events.setMaxListeners(0);
  }

  /** Opens a store; with a path it is loaded from the snapshot + journal there and kept durable. */
  static async open(dbPath?: string): Promise<Store> {
    if (!dbPath) return new Store(undefined);
    const { journal, snapshot, lines } = await Journal.open(dbPath);
    const store = new Store(journal);
    store.load(snapshot, lines as TxLine[]);
    return store;
  }

  private load(snapshot: SnapshotData | null, lines: TxLine[]): void {
    const both = [this.working, this.durable];
    if (snapshot) {
      for (const o of snapshot.objects as StoredObject[]) for (const s of both) s.index(o);
      for (const [key, value] of Object.entries(snapshot.kv)) for (const s of both) s.applyKv({ key, value });
      this.lastSeq = snapshot.seq;
    }
    for (const line of lines) {
      for (const k of line.kv ?? []) for (const s of both) s.applyKv(k);
      for (const c of line.c ?? []) {
        if (c.seq <= this.lastSeq) continue;
        for (const s of both) s.apply(c);
        this.lastSeq = c.seq;
        this.history.push(c);
      }
    }
    this.durableSeq = this.lastSeq;
  }

  // ---- reads of the working state (writers validating a transaction) ----

  get(uuid: string): StoredObject | undefined {
    return this.working.get(uuid);
  }

  byFqName(type: string, fq: readonly string[]): StoredObject | undefined {
    return this.working.byFqName(type, fq);
  }

  ofType(type: string): Iterable<StoredObject> {
    return this.working.ofType(type);
  }

  countOfType(type: string): number {
    return this.working.countOfType(type);
  }

  all(): Iterable<StoredObject> {
    return this.working.all();
  }

  children(uuid: string): StoredObject[] {
    return this.working.children(uuid);
  }

  referrers(uuid: string): StoredObject[] {
    return this.working.referrers(uuid);
  }

  kvGet(key: string): string | undefined {
    return this.working.kvGet(key);
  }

  kvAll(): [string, string][] {
    return this.working.kvAll();
  }

  /** The committed state, for every read a client sees: it reflects exactly `seq()`. */
  get committed(): StoreReader {
    return this.durable;
  }

  /** Last committed (durable, published) change. */
  seq(): number {
    return this.durableSeq;
  }

  /** Committed changes after `since`, or undefined when history no longer reaches back that far. */
  changesSince(since: number): Change[] | undefined {
    if (since > this.durableSeq) return undefined;
    if (since === this.durableSeq) return [];
    const first = this.history[0];
    if (!first || first.seq > since + 1) return undefined;
    // history is sorted by seq: binary search the start.
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid].seq <= since) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo).filter((c) => c.seq <= this.durableSeq);
  }

  /** Subscribes to committed changes in seq order; returns the unsubscribe function. */
  onCommit(listener: (changes: Change[]) => void): () => void {
    this.events.on("commit", listener);
    return () => this.events.off("commit", listener);
  }

  // ---- writes (collected into the current transaction) ----

  put(obj: StoredObject): void {
    const op: ChangeOp = this.working.objects.has(obj.uuid) ? "UPDATE" : "CREATE";
    this.working.index(obj);
    this.txChanges.push({
      seq: ++this.lastSeq,
      op,
      type: obj.type,
      uuid: obj.uuid,
      fq_name: obj.fq_name,
      obj,
    });
  }

  remove(uuid: string): void {
    const o = this.working.get(uuid);
    if (!o) return;
    this.working.unindex(uuid);
    this.txChanges.push({ seq: ++this.lastSeq, op: "DELETE", type: o.type, uuid, fq_name: o.fq_name });
  }

  kvSet(key: string, value: string | null): void {
    const k = { key, value };
    this.working.applyKv(k);
    this.txKv.push(k);
  }

  /**
   * Makes the current transaction durable, then applies it to the committed state and publishes its changes.
   * Resolves when acknowledged; rejects (and refuses every later write) when the journal could not take it.
   */
  async commit(): Promise<void> {
    const changes = this.txChanges;
    const kv = this.txKv;
    this.txChanges = [];
    this.txKv = [];
    if (changes.length === 0 && kv.length === 0) return;
    if (this.failure) throw storeFailed(this.failure);
    if (this.journal) {
      const line: TxLine = {};
      if (changes.length) line.c = changes;
      if (kv.length) line.kv = kv;
      try {
        await this.journal.append(JSON.stringify(line));
      } catch (e) {
        // This transaction is in memory but not on disk; later ones may build on it: stop taking writes.
        this.failure ??= e instanceof Error ? e : new Error(String(e));
        throw storeFailed(this.failure);
      }
      this.durableLines++;
    }
    this.publish(changes, kv);
    if (this.journal?.shouldCompact() && !this.compacting) {
      this.compacting = true;
      this.journal
        .requestCompaction(() => this.capture())
        .catch((e) => {
          // The journal stays in place, so nothing is lost; say why, the next commit retries.
          process.stderr.write(`fake-contrail-api: compaction failed: ${(e as Error).message}\n`);
        })
        .finally(() => {
          this.compacting = false;
        });
    }
  }

  private publish(changes: Change[], kv: KvChange[]): void {
    for (const k of kv) this.durable.applyKv(k);
    if (changes.length === 0) return;
    for (const c of changes) this.durable.apply(c);
    this.durableSeq = Math.max(this.durableSeq, changes[changes.length - 1].seq);
    for (const c of changes) this.history.push(c);
    if (this.history.length > HISTORY * 2) this.history = this.history.slice(this.history.length - HISTORY);
    this.events.emit("commit", changes);
  }

  /** Forces a snapshot + journal truncation now (also used by tests and the benchmark). */
  async compact(): Promise<void> {
    if (!this.journal) return;
    await this.journal.requestCompaction(() => this.capture());
  }

  /**
   * The committed state as a snapshot: a list of the (immutable) object records, cheap to take; the journal
   * serialises it in slices while requests go on.
   */
  private capture(): SnapshotCapture {
    return {
      data: {
        seq: this.durableSeq,
        objects: [...this.durable.objects.values()],
        kv: Object.fromEntries(this.durable.kv),
      },
      lines: this.durableLines,
    };
  }

  async close(): Promise<void> {
    await this.journal?.close();
    this.events.removeAllListeners();
  }
}

function storeFailed(cause: Error): ApiError {
  return new ApiError(
    503,
    `Service Unavailable: the config database could not be written (${cause.message}); writes are refused until the API is restarted`,
  );
}

function addTo(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (!s) {
    s = new Set();
    m.set(k, s);
  }
  s.add(v);
}

function removeFrom(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
