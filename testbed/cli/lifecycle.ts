/**
 * How a `ctb` process ends: every verb that starts something registers its teardown here, and one set of
 * process-wide handlers runs the registered teardowns exactly once when the process is told to stop —
 * SIGINT (exit 130), SIGTERM (143), SIGHUP (129) — or when its output goes away (EPIPE on stdout or stderr,
 * e.g. `ctb run … | head`: exit 141 like a program killed by SIGPIPE, and no message, since nobody reads it).
 * `interrupted` is aborted first, so long work (the runner's steps, a starting testbed) stops where it is
 * instead of failing against components being torn down. A second Ctrl-C during the teardown only says it is
 * still tearing down; a third abandons it (`ctb down` removes what is left, from the run's record).
 *
 * Example:
 *   installProcessHandlers();
 *   const off = onTeardown(() => tb.close());   // LIFO: the last registered runs first
 *   try { … } finally { off(); await tb.close(); }
 */

export type StopReason = "SIGINT" | "SIGTERM" | "SIGHUP" | "EPIPE";

const EXIT_CODE: Record<StopReason, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, EPIPE: 141 };
/** A teardown that hangs (a process that ignores SIGTERM…) must not keep the process alive forever. */
const TEARDOWN_LIMIT_MS = 120_000;

interface Entry {
  what: string;
  fn: () => unknown;
}

const entries: Entry[] = [];
const abort = new AbortController();
let installed = false;
let stopping: StopReason | undefined;
let extraInterrupts = 0;
/** Set once output is gone or we are exiting: nothing more goes to stderr. */
let mute = false;

/** Aborted (with the StopReason) as soon as the process is told to stop. */
export const interrupted: AbortSignal = abort.signal;

/** Why the process is stopping, if it is. */
export function stopReason(): StopReason | undefined {
  return stopping;
}

/** Registers a teardown (run once, newest first, on a stop); returns a function that unregisters it. */
export function onTeardown(fn: () => unknown, what = "environment"): () => void {
  const e: Entry = { what, fn };
  entries.push(e);
  return () => {
    const i = entries.indexOf(e);
    if (i >= 0) entries.splice(i, 1);
  };
}

/** A message on stderr unless output is gone; never throws (stderr may be a closed pipe or a dead tty). */
export function say(msg: string): void {
  if (mute) return;
  try {
    process.stderr.write(`${msg}\n`);
  } catch {
    mute = true;
  }
}

/**
 * Installs the handlers once per process. `signals: false` leaves SIGINT/SIGTERM to a verb that handles them
 * itself (the standalone components flush their state on the way out), keeping only the EPIPE handling.
 */
export function installProcessHandlers(opts: { signals?: boolean } = {}): void {
  if (installed) return;
  installed = true;
  if (opts.signals !== false) {
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => void stop(sig));
  }
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      // without a listener a closed pipe crashes the process with an unhandled 'error' event
      if (e.code === "EPIPE" || e.code === "EIO" || stopping) void stop("EPIPE");
      else throw e;
    });
  }
}

/** Stops the process: aborts `interrupted`, runs the teardowns once, exits with the reason's code. */
export async function stop(reason: StopReason): Promise<void> {
  if (reason === "EPIPE") mute = true;
  if (stopping) {
    if (reason === "EPIPE") return;
    extraInterrupts++;
    if (extraInterrupts >= 2) {
      say("ctb: interrupted again: exiting before the teardown finished; `ctb down` removes what is left");
      process.exit(EXIT_CODE[stopping]);
    }
    say(
      `ctb: still tearing down the ${entries.map((e) => e.what).join(", ") || "environment"}; interrupt once more to abandon it`,
    );
    return;
  }
  stopping = reason;
  if (reason !== "EPIPE" && entries.length > 0)
    say(`ctb: ${reason}: tearing down the ${entries.map((e) => e.what).join(", ")}`);
  abort.abort(reason);
  const limit = setTimeout(() => {
    say(
      `ctb: the teardown did not finish within ${TEARDOWN_LIMIT_MS / 1000}s; \`ctb down\` removes what is left`,
    );
    process.exit(EXIT_CODE[reason]);
  }, TEARDOWN_LIMIT_MS);
  limit.unref();
  for (const e of entries.splice(0).reverse()) {
    try {
      await e.fn();
    } catch (err) {
      say(`ctb: tearing down the ${e.what}: ${(err as Error).message}`);
    }
  }
  process.exit(EXIT_CODE[reason]);
}

/** Rejects with `InterruptedError` once `interrupted` is aborted: race long waits against it. */
export class InterruptedError extends Error {
  override name = "InterruptedError";
}

export function throwIfInterrupted(signal: AbortSignal | undefined = interrupted): void {
  if (signal?.aborted) throw new InterruptedError(`interrupted (${String(signal.reason)})`);
}
