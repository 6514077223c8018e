/**
 * Many dry runs at once — a matrix's million cells — spread over the machine's cores: each worker thread builds
 * a copy of the network from its image (`SimNetwork.fromImage`: the same tables, engines and endpoints) and
 * answers a slice of the cells while this thread answers its own. The answers are exactly those of asking
 * this network cell by cell: the copies decide with the same code over the same tables, and every cell
 * carries the source port this network gave it (`takeEphemeral`), so even an ECMP member picked by the flow
 * hash is the same.
 *
 * Workers need a JavaScript entry (dry-run-worker.js beside the bundle, as `node build.mjs` writes it), so
 * they run in the shipped code (`ctb`, `npm run bench`); from the sources (tsx, vitest) every cell is answered
 * on this thread unless `CTB_WORKER_DIR` names a built bundle. `CTB_DRY_RUN_WORKERS=<n>` sets the number of
 * workers (0: none). `ctb connectivity` shares its pairs out the same way (`onWorkers`).
 *
 * Example: `await reachBatch(net, { proto: "tcp", port: 80, sources, targets, from, to })` → Uint8Array of
 *          OUTCOME codes, one per cell.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
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

/** What a worker is handed: the image, its slice of the cells and their source ports. */
export interface WorkerJob {
  image: DryRunImage;
  batch: DryRunBatch;
  sports: Uint16Array;
}

/**
 * Below this many cells copying the tables to a worker and warming it up (~0.3 s for a 1,000-pod world)
 * costs more than it saves (measured: 89,700 cells at 300 pods were slower with a worker).
 */
const MIN_CELLS_FOR_WORKERS = 250_000;
/** The event loop gets a turn this often while this thread answers its slice (progress, Ctrl-C). */
const YIELD_EVERY = 20_000;

/**
 * Where the worker entries are: beside the running bundle; from the sources, only where `CTB_WORKER_DIR` names
 * a built bundle's directory (tests of the worker path).
 */
function workerDir(): string | undefined {
  return typeof __ctbBundleDir === "string" ? __ctbBundleDir : process.env.CTB_WORKER_DIR || undefined;
}

function bundledEntry(): string | undefined {
  const dir = workerDir();
  return dir === undefined ? undefined : join(dir, "dry-run-worker.js");
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

/**
 * Runs a worker entry of the bundle (`<name>.js` beside it) on each job, handing it the network's image with
 * the job; resolves to each worker's answer. Rejects when there is no bundle or a worker fails.
 */
export function onWorkers<J, R>(name: string, image: DryRunImage, jobs: J[]): Promise<R[]> {
  const dir = workerDir();
  if (dir === undefined) return Promise.reject(new Error("worker threads run from the bundle only"));
  return Promise.all(jobs.map((job) => runWorker<R>(join(dir, `${name}.js`), { image, job })));
}

/** Answers the cells `lo..hi-1` of a batch on `net` (the outcome codes go to `out` at the same indexes). */
export function answerSlice(
  net: SimNetwork,
  batch: DryRunBatch,
  sports: Uint16Array,
  lo: number,
  hi: number,
  out: Uint8Array,
  sportOffset = lo,
): void {
  for (let k = lo; k < hi; k++) {
    const o = net.reachOutcome(
      batch.sources[batch.from[k]!]!,
      batch.targets[batch.to[k]!]!,
      batch.proto,
      batch.port,
      sports[k - sportOffset]!,
    );
    out[k] = OUTCOME[o];
  }
}

/** The outcome of every cell of the batch, as `net.reachOutcome` would give it asked cell by cell in order. */
export async function reachBatch(
  net: SimNetwork,
  batch: DryRunBatch,
  progress?: (done: number) => void,
  /** Tests: this many workers, started from this entry (an absolute path to a built dry-run-worker.js). */
  use?: { workers: number; entry: string },
): Promise<Uint8Array> {
  const n = batch.from.length;
  const sports = net.takeEphemeral(n);
  const out = new Uint8Array(n);
  const entry = use?.entry ?? bundledEntry();
  const workers = use?.workers ?? workerCount(n);
  // this thread takes the first slice; each worker one of the rest
  const slice = Math.ceil(n / (workers + 1));
  const jobs: Promise<void>[] = [];
  if (workers > 0) {
    const image = net.dryRunImage();
    for (let w = 1; w <= workers; w++) {
      const lo = w * slice;
      const hi = Math.min(n, lo + slice);
      if (lo >= hi) break;
      const job: WorkerJob = {
        image,
        batch: { ...batch, from: batch.from.slice(lo, hi), to: batch.to.slice(lo, hi) },
        sports: sports.slice(lo, hi),
      };
      jobs.push(
        runWorker<Uint8Array>(entry!, job).then(
          (codes) => out.set(codes, lo),
          // a worker that cannot start or dies: its slice is answered here instead (a test asking for
          // workers by name wants to know)
          (e) => {
            if (use) throw e;
            answerSlice(net, batch, sports, lo, hi, out, 0);
          },
        ),
      );
    }
  }
  const mine = workers > 0 ? Math.min(n, slice) : n;
  for (let lo = 0; lo < mine; lo += YIELD_EVERY) {
    const hi = Math.min(mine, lo + YIELD_EVERY);
    answerSlice(net, batch, sports, lo, hi, out, 0);
    progress?.(hi);
    if (hi < mine) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(jobs);
  progress?.(n);
  return out;
}

function runWorker<R>(entry: string, data: unknown): Promise<R> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(entry, { workerData: data });
    let answered = false;
    worker.once("message", (answer: R) => {
      answered = true;
      resolve(answer);
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (!answered) reject(new Error(`dry-run worker exited with code ${code} before answering`));
    });
  });
}

/** An outcome code as the name `reachOutcome` gives it. */
export function outcomeName(code: number): (typeof CODES)[number] {
  return CODES[code] ?? "dropped";
}
