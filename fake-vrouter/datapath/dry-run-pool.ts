/**
 * Many dry runs at once — a matrix's million cells — spread over the machine's cores: each worker thread builds
 * a copy of the network from its image (`SimNetwork.fromImage`: the same tables, engines and endpoints) and
 * answers chunks of the cells, claimed from a counter shared with this thread, which answers chunks too. The answers are exactly those of asking
 * this network cell by cell: the copies decide with the same code over the same tables, and every cell
 * carries the source port this network gave it (`takeEphemeral`), so even an ECMP member picked by the flow
 * hash is the same.
 *
 * Workers need a JavaScript entry (dry-run-worker.js beside the bundle, as `node build.mjs` writes it), so
 * they run in the shipped code (`ctb`, `npm run bench`); from the sources (tsx, vitest) every cell is answered
 * on this thread unless `CTB_WORKER_DIR` names a built bundle. `CTB_DRY_RUN_WORKERS=<n>` sets the number of
 * workers (0: none). `ctb connectivity` shares its pairs out the same way (`shareChunks`).
 *
 * Example: `await reachBatch(net, { proto: "tcp", port: 80, sources, targets, from, to })` → Uint8Array of
 *          OUTCOME codes, one per cell.
 */
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { Worker } from "node:worker_threads";
import type { ProbeProto } from "./host";
import type { DryRunImage, SimNetwork } from "./sim-network";

/** Set by the bundle's banner (build.mjs): the directory of the running bundle. */
declare const __ctbBundleDir: string | undefined;

export const OUTCOME = { dropped: 0, refused: 1, answered: 2 } as const;
const CODES = ["dropped", "refused", "answered"] as const;

/** Cells of one protocol and port: cell k goes from endpoint `sources[from[k]]` to address `targets[to[k]]`. */
export interface DryRunBatch {
  proto: ProbeProto;
  port: number;
  sources: string[];
  targets: string[];
  from: Uint32Array;
  to: Uint32Array;
}

/** What a dry-run worker is handed besides the image and its queue: the batch and every cell's source port. */
export interface WorkerJob {
  batch: DryRunBatch;
  sports: Uint16Array;
}

/**
 * Below this many cells copying the tables to a worker and warming it up (~0.3 s for a 1,000-pod world)
 * costs more than it saves (measured: 89,700 cells at 300 pods were slower with a worker).
 */
const MIN_CELLS_FOR_WORKERS = 250_000;
/** Cells per claimed chunk (~30 ms of dry runs): small enough that no thread waits long for the last one. */
const CELLS_PER_CHUNK = 8_192;

/**
 * Where the worker entries are: beside the running bundle; from the sources, only where `CTB_WORKER_DIR` names
 * a built bundle's directory (tests of the worker path).
 */
function workerDir(): string | undefined {
  return typeof __ctbBundleDir === "string" ? __ctbBundleDir : process.env.CTB_WORKER_DIR || undefined;
}

/**
 * How many workers a job of `work` units is worth: none below `minimum` units, else the cores less this
 * thread; `CTB_DRY_RUN_WORKERS=<n>` asks for exactly n, whatever the size.
 */
export function workerCount(work: number, minimum = MIN_CELLS_FOR_WORKERS): number {
  if (workerDir() === undefined) return 0;
  const asked = process.env.CTB_DRY_RUN_WORKERS;
  if (asked !== undefined && /^\d+$/.test(asked)) return Math.min(Number(asked), 16);
  if (work < minimum) return 0;
  return Math.max(0, Math.min(availableParallelism() - 1, 7));
}

/** The chunks of a shared job, as a worker sees them: chunk `w` is its own to start with, then it claims more. */
export interface ChunkQueue {
  /** One Int32: the next chunk anyone may claim. */
  next: SharedArrayBuffer;
  items: number;
  chunk: number;
  /** The worker's first chunk (reserved for it, so every worker started answers some). */
  first: number;
}

/** What a worker entry receives: the network's image, the job, its queue. */
export interface WorkerData<J> {
  image: DryRunImage;
  job: J;
  queue: ChunkQueue;
}

/** A worker's messages: one answer per chunk (`lo`: its first item), then `end`. */
export type WorkerMessage<R> = { lo: number; answer: R } | { end: true };

/**
 * A worker's loop (the entries call it): answers its reserved chunk, then claims chunks until none is left,
 * posting each answer as it goes.
 */
export async function answerChunks<R>(
  queue: ChunkQueue,
  answer: (lo: number, hi: number) => R | Promise<R>,
  post: (m: WorkerMessage<R>) => void,
): Promise<void> {
  const next = new Int32Array(queue.next);
  const chunks = Math.ceil(queue.items / queue.chunk);
  for (let c = queue.first; c < chunks; c = Atomics.add(next, 0, 1)) {
    const lo = c * queue.chunk;
    post({ lo, answer: await answer(lo, Math.min(queue.items, lo + queue.chunk)) });
  }
  post({ end: true });
}

/**
 * Items 0..n-1 answered in chunks by this thread and `workers` worker threads (the entry `<name>.js` beside the
 * bundle, each with a copy of the network from `image`): chunks are claimed from a counter all threads share,
 * so a worker that starts late (copying the tables, warming up) takes fewer and no thread idles while another
 * still has a share. `here` answers a chunk on this thread; `take` receives a worker's. Chunks a worker
 * claimed but never answered (it could not start, or died) are answered here at the end — or, with `strict`
 * (tests naming their workers), the failure is thrown. Resolves to the number of threads that answered.
 */
export async function shareChunks<J, R>(opts: {
  name: string;
  items: number;
  chunk: number;
  workers: number;
  image: () => DryRunImage;
  job: J;
  here: (lo: number, hi: number) => void | Promise<void>;
  take: (lo: number, answer: R) => void;
  strict?: boolean;
  /** The directory of the worker entries (tests); else beside the bundle. */
  dir?: string;
}): Promise<number> {
  const { items, workers } = opts;
  // small jobs: a chunk per thread at most, so each worker started still answers one
  const chunk = Math.max(1, Math.min(opts.chunk, Math.ceil(items / (workers + 1))));
  const chunks = Math.ceil(items / chunk);
  const done = new Uint8Array(chunks);
  const dir = opts.dir ?? workerDir();
  const started = dir === undefined ? 0 : Math.min(workers, chunks - 1);
  // chunk 0 is this thread's, chunk w worker w's; the counter hands out the rest
  const next = new SharedArrayBuffer(4);
  new Int32Array(next)[0] = started + 1;
  let answered = 0;
  let failure: unknown;
  const running: Promise<void>[] = [];
  if (started > 0) {
    const image = opts.image();
    for (let w = 1; w <= started; w++) {
      const data: WorkerData<J> = { image, job: opts.job, queue: { next, items, chunk, first: w } };
      let gave = false;
      running.push(
        runWorker<R>(join(dir!, `${opts.name}.js`), data, (lo, answer) => {
          opts.take(lo, answer);
          done[lo / chunk] = 1;
          if (!gave) answered++;
          gave = true;
        }).catch((e) => {
          failure ??= e;
        }),
      );
    }
  }
  const claim = new Int32Array(next);
  for (let c = 0; c < chunks; c = Atomics.add(claim, 0, 1)) {
    const lo = c * chunk;
    await opts.here(lo, Math.min(items, lo + chunk));
    done[c] = 1;
    // the workers' answers (and Ctrl-C) get their turn
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(running);
  if (failure !== undefined && opts.strict) throw failure;
  for (let c = 0; c < chunks; c++)
    if (!done[c]) {
      const lo = c * chunk;
      await opts.here(lo, Math.min(items, lo + chunk));
    }
  return 1 + answered;
}

/** Answers the cells `lo..hi-1` of a batch on `net` (cell k's outcome code goes to `out[k - base]`). */
export function answerSlice(
  net: SimNetwork,
  batch: DryRunBatch,
  sports: Uint16Array,
  lo: number,
  hi: number,
  out: Uint8Array,
  base = 0,
): void {
  for (let k = lo; k < hi; k++) {
    const o = net.reachOutcome(
      batch.sources[batch.from[k]!]!,
      batch.targets[batch.to[k]!]!,
      batch.proto,
      batch.port,
      sports[k]!,
    );
    out[k - base] = OUTCOME[o];
  }
}

/** The outcome of every cell of the batch, as `net.reachOutcome` would give it asked cell by cell in order. */
export async function reachBatch(
  net: SimNetwork,
  batch: DryRunBatch,
  progress?: (done: number) => void,
  /** Tests: this many workers, started from this entry (a built dry-run-worker.js), failing loudly. */
  use?: { workers: number; entry: string },
): Promise<Uint8Array> {
  const n = batch.from.length;
  const sports = net.takeEphemeral(n);
  const out = new Uint8Array(n);
  let counted = 0;
  await shareChunks<WorkerJob, Uint8Array>({
    name: "dry-run-worker",
    items: n,
    chunk: CELLS_PER_CHUNK,
    workers: use?.workers ?? workerCount(n),
    image: () => net.dryRunImage(),
    job: { batch, sports },
    here: (lo, hi) => {
      answerSlice(net, batch, sports, lo, hi, out);
      counted += hi - lo;
      progress?.(counted);
    },
    take: (lo, codes) => {
      out.set(codes, lo);
      counted += codes.length;
      progress?.(counted);
    },
    strict: use !== undefined,
    dir: use && dirname(use.entry),
  });
  return out;
}

function runWorker<R>(
  entry: string,
  data: unknown,
  onAnswer: (lo: number, answer: R) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(entry, { workerData: data });
    let ended = false;
    worker.on("message", (m: WorkerMessage<R>) => {
      if ("end" in m) {
        ended = true;
        resolve();
        void worker.terminate();
      } else onAnswer(m.lo, m.answer);
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (!ended) reject(new Error(`${entry} exited with code ${code} before answering`));
    });
  });
}

/** An outcome code as the name `reachOutcome` gives it. */
export function outcomeName(code: number): (typeof CODES)[number] {
  return CODES[code] ?? "dropped";
}
