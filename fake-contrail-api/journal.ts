/**
 * Durable storage for the config store: an append-only journal of committed transactions (one JSON line
 * each, fdatasync'd, group-committed: a write is acknowledged only once its line is on disk) plus a lowdb
 * snapshot that periodically absorbs the journal (compaction), so no request ever rewrites the whole file.
 * Restart = snapshot + replay of the journal lines newer than it; a torn final line (crash mid-write) is cut off.
 * Example: `const { journal, snapshot, lines } = await Journal.open("/tmp/api.json"); await journal.append(line)`.
 */
import { existsSync } from "node:fs";
import { type FileHandle, open, readFile, rename, truncate, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { Low } from "lowdb";
import { DataFile } from "lowdb/node";

export class JournalError extends Error {}

/** What the snapshot file holds: everything up to and including `seq`. */
export interface SnapshotData {
  seq: number;
  objects: unknown[];
  kv: Record<string, string>;
}

interface Pending {
  data: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** Journal size after which the next idle moment compacts it into the snapshot. */
const COMPACT_BYTES = 64 * 1024 * 1024;

export class Journal {
  private pending: Pending[] = [];
  private flushing = false;
  private closed = false;
  private bytes: number;
  private compactWanted: { capture: () => SnapshotData; done: Array<(e?: Error) => void> } | undefined;

  private constructor(
    private readonly snapshotPath: string,
    private handle: FileHandle,
    bytes: number,
  ) {
    this.bytes = bytes;
  }

  /** Opens (creating if needed) the database at `path`; returns the snapshot and the journal lines to replay. */
  static async open(
    path: string,
  ): Promise<{ journal: Journal; snapshot: SnapshotData | null; lines: unknown[] }> {
    if (!existsSync(dirname(path))) throw new JournalError(`directory of ${path} does not exist`);
    const db = new Low<SnapshotData | null>(snapshotFile(path), null);
    await db.read();
    const snapshot = db.data;
    const lines: unknown[] = [];
    // The ".old" journal exists only if a compaction was interrupted before its snapshot landed.
    for (const p of [`${path}.journal.old`, `${path}.journal`]) {
      if (existsSync(p)) lines.push(...(await readLines(p)));
    }
    const handle = await open(`${path}.journal`, "a");
    const size = (await handle.stat()).size;
    return { journal: new Journal(path, handle, size), snapshot, lines };
  }

  /** Appends one transaction line; resolves once it is durable. */
  append(line: string): Promise<void> {
    if (this.closed) return Promise.reject(new JournalError("journal closed"));
    return new Promise((resolve, reject) => {
      this.pending.push({ data: `${line}\n`, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Let concurrent requests of this tick join the same write + fsync.
        setImmediate(() => void this.flushLoop());
      }
    });
  }

  /**
   * Compacts at the next point between two journal writes; `capture` returns the in-memory state at that point.
   * Resolves when the snapshot is durable and the old journal is gone.
   */
  requestCompaction(capture: () => SnapshotData): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (e?: Error) => (e ? reject(e) : resolve());
      if (this.compactWanted) this.compactWanted.done.push(done);
      else this.compactWanted = { capture, done: [done] };
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flushLoop());
      }
    });
  }

  get size(): number {
    return this.bytes;
  }

  shouldCompact(): boolean {
    return this.bytes > COMPACT_BYTES;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0 || this.compactWanted) {
        if (this.pending.length > 0) {
          const batch = this.pending;
          this.pending = [];
          try {
            const buf = Buffer.from(batch.map((p) => p.data).join(""));
            await this.handle.write(buf);
            await this.handle.datasync();
            this.bytes += buf.length;
            for (const p of batch) p.resolve();
          } catch (e) {
            const err = e instanceof Error ? e : new Error(String(e));
            for (const p of batch) p.reject(err);
          }
        } else if (this.compactWanted) {
          const { capture, done } = this.compactWanted;
          this.compactWanted = undefined;
          try {
            await this.compact(capture);
            for (const d of done) d();
          } catch (e) {
            for (const d of done) d(e instanceof Error ? e : new Error(String(e)));
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Moves the journal aside, writes the snapshot (which covers everything in the moved journal), then drops it.
   * Runs inside the flush loop, so no line is being written meanwhile; new lines queue up and go to the new file.
   */
  private async compact(capture: () => SnapshotData): Promise<void> {
    const data = capture();
    const jpath = `${this.snapshotPath}.journal`;
    // A leftover ".old" (earlier compaction failed) still holds lines the snapshot lacks: keep both files then.
    if (!existsSync(`${jpath}.old`)) {
      await this.handle.close();
      await rename(jpath, `${jpath}.old`);
      this.handle = await open(jpath, "a");
      this.bytes = 0;
    }
    const db = new Low<SnapshotData | null>(snapshotFile(this.snapshotPath), null);
    db.data = data;
    await db.write();
    const fh = await open(this.snapshotPath, "r");
    await fh.sync();
    await fh.close();
    await unlink(`${jpath}.old`);
  }

  /** Waits for queued writes, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((r) => setTimeout(r, 2));
    await this.handle.close();
  }
}

function snapshotFile(path: string): DataFile<SnapshotData | null> {
  return new DataFile<SnapshotData | null>(path, { parse: JSON.parse, stringify: (d) => JSON.stringify(d) });
}

/** Parses a journal file; a torn last line (crash mid-append) is cut off the file; earlier garbage is an error. */
async function readLines(path: string): Promise<unknown[]> {
  const text = await readFile(path, "utf8");
  const out: unknown[] = [];
  let offset = 0;
  while (offset < text.length) {
    const nl = text.indexOf("\n", offset);
    const end = nl === -1 ? text.length : nl;
    const raw = text.slice(offset, end);
    let parsed: unknown;
    let ok = nl !== -1;
    if (ok && raw.length > 0) {
      try {
        parsed = JSON.parse(raw);
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      if (text.indexOf("\n", end + 1) !== -1 && nl !== -1)
        throw new JournalError(`${path}: corrupt line at byte ${Buffer.byteLength(text.slice(0, offset))}`);
      // Torn tail: never acknowledged, so dropping it loses nothing.
      await truncate(path, Buffer.byteLength(text.slice(0, offset)));
      break;
    }
    if (raw.length > 0) out.push(parsed);
    offset = end + 1;
  }
  return out;
}
