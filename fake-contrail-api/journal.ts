/**
 * Durable storage for the config store: an append-only journal of committed transactions (one JSON line
 * each, fdatasync'd, group-committed: a write is acknowledged only once its line is on disk) plus a lowdb
 * snapshot (`{seq, objects, kv}`) that periodically absorbs the journal (compaction), so no request ever
 * rewrites the whole file. lowdb holds the snapshot through an adapter of ours (`SnapshotFile`): its stock
 * DataFile follows symlinks and serialises the whole document in one go, blocking every write behind it.
 *
 * Compaction rotates the journal to `<db>.journal.old` between two writes, then streams the snapshot to
 * `<db>.tmp` in slices while requests go on writing to the new journal; the snapshot is renamed into place and
 * only then is the old journal dropped. Every file is opened without following symlinks and every create,
 * rename and unlink is followed by an fsync of the directory. Restart = snapshot + replay of the journal lines
 * newer than it; a torn last line (crash mid-write) is cut off with a note on stderr, any other damage refuses
 * to start with the file and byte offset.
 * Example: `const { journal, snapshot, lines } = await Journal.open("/tmp/api.json"); await journal.append(line)`.
 */
import { constants as C } from "node:fs";
import { type FileHandle, lstat, open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import { type Adapter, Low } from "lowdb";

export class JournalError extends Error {}

/** What the snapshot file holds: everything up to and including `seq`. */
export interface SnapshotData {
  seq: number;
  objects: unknown[];
  kv: Record<string, string>;
}

/** A snapshot to write plus how many journal lines it covers (checked against what the journal wrote). */
export interface SnapshotCapture {
  data: SnapshotData;
  lines: number;
}

interface Pending {
  data: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** Journal size after which the next commit starts a compaction ($CTB_API_COMPACT_BYTES: tests and benches). */
const COMPACT_BYTES = Number(process.env.CTB_API_COMPACT_BYTES) || 64 * 1024 * 1024;
/** Snapshot text written per slice; between slices the event loop serves requests. */
const SLICE_BYTES = 1024 * 1024;
/** First line of every journal this server creates: proof the file is ours before we ever cut it. */
const HEADER = '{"journal":"fake-contrail-api","version":1}';

/** Opened without following a symlink in the last component: the store writes only files it owns. */
const NOFOLLOW = C.O_NOFOLLOW;

export class Journal {
  private pending: Pending[] = [];
  private flushing = false;
  private closed = false;
  private bytes: number;
  /** Lines made durable by this process (a snapshot must cover all of them before the old journal goes). */
  private linesWritten = 0;
  /** Set after a failed write: a torn line may sit at the end, so nothing more is appended behind it. */
  private broken: Error | undefined;
  private rotateWanted: { resolve: (rotated: boolean) => void; reject: (e: Error) => void } | undefined;
  /** Compactions run one after another. */
  private compactions: Promise<unknown> = Promise.resolve();

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
    const dir = dirname(path);
    const dirStat = await lstat(dir).catch(() => undefined);
    if (!dirStat?.isDirectory()) throw new JournalError(`directory of ${path} does not exist`);
    const jpath = `${path}.journal`;
    for (const p of [path, jpath, `${jpath}.old`, `${path}.tmp`]) await refuseForeign(p);
    const db = new Low<SnapshotData | null>(new SnapshotFile(path), null);
    await db.read();
    const snapshot = db.data;
    const lines: unknown[] = [];
    // The ".old" journal exists only if a compaction was interrupted before its snapshot landed.
    for (const p of [`${jpath}.old`, jpath]) lines.push(...(await readJournal(p)));
    const { handle, size } = await openJournalForAppend(jpath);
    return { journal: new Journal(path, handle, size), snapshot, lines };
  }

  /** Appends one transaction line; resolves once it is durable. */
  append(line: string): Promise<void> {
    if (this.closed) return Promise.reject(new JournalError("journal closed"));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.pending.push({ data: `${line}\n`, resolve, reject });
      this.kick();
    });
  }

  /**
   * Folds everything written so far into a new snapshot. `capture` is called right after the journal was
   * rotated and must return the committed state, which then covers exactly the rotated journal. Writes go on
   * meanwhile. Resolves when the snapshot is durable and the old journal is gone.
   */
  requestCompaction(capture: () => SnapshotCapture): Promise<void> {
    const run = this.compactions.then(() => this.compact(capture));
    this.compactions = run.catch(() => undefined);
    return run;
  }

  get size(): number {
    return this.bytes;
  }

  shouldCompact(): boolean {
    return this.bytes > COMPACT_BYTES;
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = true;
    // Let concurrent requests of this tick join the same write + fsync.
    setImmediate(() => void this.flushLoop());
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0 || this.rotateWanted) {
        if (this.rotateWanted) {
          // Between two writes: lines queued meanwhile go to the new file.
          const { resolve, reject } = this.rotateWanted;
          this.rotateWanted = undefined;
          await this.rotate().then(resolve, reject);
          continue;
        }
        const batch = this.pending;
        this.pending = [];
        if (this.broken) {
          for (const p of batch) p.reject(this.broken);
          continue;
        }
        try {
          const buf = Buffer.from(batch.map((p) => p.data).join(""));
          await this.handle.write(buf);
          await this.handle.datasync();
          this.bytes += buf.length;
          this.linesWritten += batch.length;
          for (const p of batch) p.resolve();
        } catch (e) {
          this.broken = new JournalError(
            `journal ${this.snapshotPath}.journal: write failed: ${e instanceof Error ? e.message : String(e)}`,
          );
          for (const p of batch) p.reject(this.broken);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Moves the journal aside and starts a fresh one. Returns false when an earlier compaction left its ".old"
   * behind: that file still holds lines no snapshot has, so the current journal keeps growing instead (the
   * next snapshot then covers both files, and a later compaction rotates).
   */
  private async rotate(): Promise<boolean> {
    const jpath = `${this.snapshotPath}.journal`;
    if (await exists(`${jpath}.old`)) return false;
    await this.handle.close();
    await rename(jpath, `${jpath}.old`);
    const { handle, size } = await openJournalForAppend(jpath);
    this.handle = handle;
    this.bytes = size;
    return true;
  }

  private async compact(capture: () => SnapshotCapture): Promise<void> {
    if (this.closed) return;
    await new Promise<boolean>((resolve, reject) => {
      this.rotateWanted = { resolve, reject };
      this.kick();
    });
    // Acknowledged lines are applied to the committed state in the commit's continuation: let those run.
    let cap = capture();
    for (let i = 0; i < 10 && cap.lines < this.linesWritten; i++) {
      await tick();
      cap = capture();
    }
    if (cap.lines < this.linesWritten)
      throw new JournalError(
        `compaction: committed state covers ${cap.lines} of ${this.linesWritten} journal lines; kept the journal`,
      );
    const db = new Low<SnapshotData | null>(new SnapshotFile(this.snapshotPath), cap.data);
    await db.write();
    const old = `${this.snapshotPath}.journal.old`;
    if (await exists(old)) {
      await unlink(old);
      await syncDir(this.snapshotPath);
    }
  }

  /** Waits for queued writes and a running compaction, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.compactions;
    while (this.flushing) await new Promise((r) => setTimeout(r, 2));
    await this.handle.close();
  }
}

async function exists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined)) !== undefined;
}

/** A database file that is a symlink or not a regular file is not ours to read, cut or replace. */
async function refuseForeign(p: string): Promise<void> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return;
  if (st.isSymbolicLink())
    throw new JournalError(
      `${p} is a symbolic link; the config database only uses files it owns (give --db the real path)`,
    );
  if (!st.isFile()) throw new JournalError(`${p} exists and is not a regular file`);
}

/** fsync of the directory: makes a create, rename or unlink in it durable. */
async function syncDir(path: string): Promise<void> {
  const d = await open(dirname(path), C.O_RDONLY | C.O_DIRECTORY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

async function openJournalForAppend(jpath: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(jpath, C.O_WRONLY | C.O_APPEND | NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    handle = await open(jpath, C.O_WRONLY | C.O_APPEND | C.O_CREAT | C.O_EXCL | NOFOLLOW, 0o644);
  }
  let size = (await handle.stat()).size;
  if (size === 0) {
    await handle.write(`${HEADER}\n`);
    await handle.datasync();
    await syncDir(jpath);
    size = HEADER.length + 1;
  }
  return { handle, size };
}

/**
 * lowdb's adapter for the snapshot file: reading refuses a file that is not ours (naming what is wrong), writing
 * streams it in slices to a fresh temp file and renames it into place (`writeSnapshot`).
 */
class SnapshotFile implements Adapter<SnapshotData | null> {
  constructor(private readonly path: string) {}

  read(): Promise<SnapshotData | null> {
    return readSnapshot(this.path);
  }

  write(data: SnapshotData | null): Promise<void> {
    return data === null ? Promise.resolve() : writeSnapshot(this.path, data);
  }
}

async function readSnapshot(path: string): Promise<SnapshotData | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, C.O_RDONLY | NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new JournalError(`${path}: cannot open the snapshot: ${(e as Error).message}`);
  }
  let text: string;
  try {
    text = await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
  if (text.length === 0) return null;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    // V8 names a position for a bad token but not for a cut-off file: then the offset is the file's end.
    const msg = (e as Error).message;
    const where = /position \d+/.test(msg) ? "" : ` at byte ${Buffer.byteLength(text)}`;
    throw new JournalError(
      `${path}: the snapshot is not valid JSON (${msg}${where}); refusing to start (restore it or move it aside)`,
    );
  }
  const d = data as Partial<SnapshotData> | null;
  if (
    typeof d !== "object" ||
    d === null ||
    !Number.isInteger(d.seq) ||
    !Array.isArray(d.objects) ||
    typeof d.kv !== "object" ||
    d.kv === null
  )
    throw new JournalError(
      `${path}: not a config API snapshot (expected {"seq", "objects", "kv"}); refusing to start rather than overwrite it`,
    );
  return d as SnapshotData;
}

/** Why a parsed journal line is not a transaction record, or undefined when it is one. */
function badRecord(x: unknown): string | undefined {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return "not a JSON object";
  const r = x as { c?: unknown; kv?: unknown };
  if (r.c !== undefined) {
    if (!Array.isArray(r.c)) return '"c" is not a list';
    for (const c of r.c as Array<Record<string, unknown>>) {
      if (typeof c !== "object" || c === null) return "a change is not an object";
      if (!Number.isInteger(c.seq)) return "a change has no integer seq";
      if (c.op !== "CREATE" && c.op !== "UPDATE" && c.op !== "DELETE") return `unknown op ${String(c.op)}`;
      if (typeof c.uuid !== "string") return "a change has no uuid";
      if (c.op !== "DELETE" && (typeof c.obj !== "object" || c.obj === null)) return "a change has no object";
    }
  }
  if (r.kv !== undefined) {
    if (!Array.isArray(r.kv)) return '"kv" is not a list';
    for (const k of r.kv as Array<Record<string, unknown>>)
      if (typeof k?.key !== "string" || (k.value !== null && typeof k.value !== "string"))
        return "a kv entry is not {key, value}";
  }
  return undefined;
}

/**
 * Reads a journal. A damaged last line (a crash cut the write short: it was never acknowledged) is cut off the
 * file, saying so on stderr; damage anywhere else, or a file that is not one of our journals, refuses to start
 * with the file and byte offset. The file is opened without following symlinks and cut through that handle.
 */
async function readJournal(path: string): Promise<unknown[]> {
  let fh: FileHandle;
  try {
    fh = await open(path, C.O_RDWR | NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new JournalError(`${path}: cannot open the journal: ${(e as Error).message}`);
  }
  try {
    const buf = await fh.readFile();
    const out: unknown[] = [];
    let offset = 0;
    let lineNo = 0;
    let ours = false;
    while (offset < buf.length) {
      const nl = buf.indexOf(10, offset);
      const end = nl === -1 ? buf.length : nl;
      lineNo++;
      const raw = buf.toString("utf8", offset, end);
      let parsed: unknown;
      let parseError: string | undefined;
      try {
        parsed = JSON.parse(raw);
      } catch (e) {
        parseError = (e as Error).message;
      }
      if (lineNo === 1 && parseError === undefined && raw === HEADER) {
        ours = true;
        offset = end + 1;
        continue;
      }
      // A header cut short (a crash while a fresh journal was being started): ours, and nothing in it yet.
      if (lineNo === 1 && nl === -1 && HEADER.startsWith(raw)) ours = true;
      const shape = parseError === undefined ? badRecord(parsed) : undefined;
      if (shape !== undefined)
        throw new JournalError(
          `${path}: line ${lineNo} at byte ${offset} is not a journal record (${shape}); refusing to start`,
        );
      if (parseError !== undefined || nl === -1) {
        const last = nl === -1 || nl === buf.length - 1;
        // Headerless journals from before the header existed are ours once a valid record came first.
        if (!last || !(ours || out.length > 0))
          throw new JournalError(
            `${path}: line ${lineNo} at byte ${offset} is damaged (${parseError ?? "no line end"})${last ? " and the file is not a journal of this API" : "; later lines follow, so this is not a torn write"}; refusing to start (restore the file or move it aside)`,
          );
        await fh.truncate(offset);
        await fh.sync();
        process.stderr.write(
          `fake-contrail-api: ${path}: cut a torn last line at byte ${offset} (${buf.length - offset} bytes; a write cut short by a crash, never acknowledged)\n`,
        );
        break;
      }
      if (lineNo === 1) ours = true;
      out.push(parsed);
      offset = end + 1;
    }
    return out;
  } finally {
    await fh.close();
  }
}

/**
 * Writes the snapshot to `<path>.tmp` (created fresh, never through a symlink) in slices, yielding to the
 * event loop between them so requests go on, then fsyncs it, renames it over the snapshot and fsyncs the dir.
 */
async function writeSnapshot(path: string, data: SnapshotData): Promise<void> {
  const tmp = `${path}.tmp`;
  const st = await lstat(tmp).catch(() => undefined);
  // A leftover from an interrupted compaction; unlink removes a symlink itself, never its target.
  if (st) {
    if (st.isDirectory()) throw new JournalError(`${tmp} is a directory`);
    await unlink(tmp);
  }
  const fh = await open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | NOFOLLOW, 0o644);
  try {
    let chunk = `{"seq":${data.seq},"kv":${JSON.stringify(data.kv)},"objects":[`;
    const objects = data.objects;
    for (let i = 0; i < objects.length; i++) {
      chunk += (i > 0 ? "," : "") + JSON.stringify(objects[i]);
      if (chunk.length >= SLICE_BYTES) {
        await fh.write(chunk);
        chunk = "";
        await tick();
      }
    }
    await fh.write(`${chunk}]}`);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await syncDir(path);
}
