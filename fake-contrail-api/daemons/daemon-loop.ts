/**
 * The run loop every config daemon shares: follow `/watch` into a ConfigMirror, and whenever a change of a
 * type the daemon cares about arrives, ask its pure planner what to write, write it, then wait until the
 * stream has echoed the writes back before planning again (so a daemon never acts on its own stale view,
 * and stops once a plan comes back empty: no feedback loop). `appliedSeq()` is the stream position up to
 * which the daemon's derived objects are up to date — what the settle barrier waits for.
 * Example: `const d = new DaemonLoop({ apiUrl, reconciler }); await d.start(); await d.whenCaughtUp(seq);`
 */
import { ChangeStream, type StreamEvent } from "../watch-client";
import { ConfigMirror, type ConfigView } from "./config-mirror";
import { BadRequest, NoIdError, VncClient, type VncError, type VncWrite } from "../../controller/vnc/client";

export interface Plan {
  writes: VncWrite[];
  /** Things the planner skipped or could not resolve (logged once each). */
  notes: string[];
  /** What a user must be told (a service chain that carries nothing): shown in run reports while it holds. */
  warnings?: string[];
}

export interface Reconciler {
  name: string;
  /** Object types whose changes can change the plan. */
  watches: ReadonlySet<string>;
  plan(view: ConfigView): Plan;
}

export type DaemonLog = (daemon: string, message: string) => void;

export class DaemonStoppedError extends Error {
  override name = "DaemonStoppedError";
}

export interface DaemonLoopOptions {
  apiUrl: string;
  reconciler: Reconciler;
  log?: DaemonLog;
  /** Consecutive write rounds after which a non-converging plan is logged and left alone. */
  maxRounds?: number;
}

export class DaemonLoop {
  readonly mirror = new ConfigMirror();
  private readonly stream: ChangeStream;
  private readonly http: VncClient;
  private readonly reconciler: Reconciler;
  private readonly log: DaemonLog;
  private readonly maxRounds: number;
  private dirty = false;
  private running = false;
  private stopped = false;
  private applied = -1;
  private caughtUpWaiters: { seq: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private seqWaiters: { seq: number; resolve: () => void }[] = [];
  private loggedNotes = new Set<string>();
  private currentWarnings: string[] = [];
  private idle: Promise<void> = Promise.resolve();
  /** Writes that succeeded / failed since start (diagnostics and tests). */
  writes = { ok: 0, failed: 0 };

  /** The last plan's warnings (Plan.warnings). */
  warnings(): string[] {
    return this.currentWarnings;
  }

  constructor(opts: DaemonLoopOptions) {
    this.reconciler = opts.reconciler;
    this.log = opts.log ?? ((d, m) => process.stderr.write(`[${d}] ${m}\n`));
    this.maxRounds = opts.maxRounds ?? 8;
    // the controller's VNC client, as the real daemons and kube-manager share vnc_api; a failed write is
    // retried by the next plan, not by the client
    this.http = new VncClient(opts.apiUrl, { retries: 0 });
    this.stream = new ChangeStream({
      apiUrl: opts.apiUrl,
      onEvent: (e) => this.onEvent(e),
      onError: (err) => {
        if (!this.stopped) this.log(this.reconciler.name, `change stream: ${err.message}`);
      },
    });
  }

  /** Connects and resolves once the initial snapshot has been reconciled. */
  async start(): Promise<void> {
    this.stream.start();
    await this.stream.whenSynced();
    await this.whenCaughtUp(this.mirror.seq);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // release a run() waiting for an echo that will not come any more, then let it finish
    for (const w of this.seqWaiters.splice(0)) w.resolve();
    await this.stream.stop();
    await this.idle;
    this.http.close();
    for (const w of this.caughtUpWaiters.splice(0))
      w.reject(new DaemonStoppedError(`${this.reconciler.name} stopped`));
  }

  appliedSeq(): number {
    return this.applied;
  }

  whenCaughtUp(seq: number): Promise<void> {
    if (this.applied >= seq) return Promise.resolve();
    if (this.stopped) return Promise.reject(new DaemonStoppedError(`${this.reconciler.name} stopped`));
    return new Promise((resolve, reject) => this.caughtUpWaiters.push({ seq, resolve, reject }));
  }

  private onEvent(e: StreamEvent): void {
    const touched = this.mirror.apply(e);
    for (const w of this.seqWaiters.filter((w) => w.seq <= this.mirror.seq)) {
      this.seqWaiters.splice(this.seqWaiters.indexOf(w), 1);
      w.resolve();
    }
    if (e.kind === "snapshot" || [...touched].some((t) => this.reconciler.watches.has(t))) {
      this.dirty = true;
      if (!this.running) {
        this.running = true;
        this.idle = this.run();
      }
    } else if (!this.running) {
      this.setApplied(this.mirror.seq);
    }
  }

  private setApplied(seq: number): void {
    if (seq <= this.applied) return;
    this.applied = seq;
    for (const w of this.caughtUpWaiters.filter((w) => w.seq <= seq)) {
      this.caughtUpWaiters.splice(this.caughtUpWaiters.indexOf(w), 1);
      w.resolve();
    }
  }

  private waitForMirror(seq: number): Promise<void> {
    if (this.mirror.seq >= seq || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.seqWaiters.push({ seq, resolve }));
  }

  private async run(): Promise<void> {
    let rounds = 0;
    try {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        const plan = this.reconciler.plan(this.mirror);
        for (const note of plan.notes) if (!this.loggedNotes.has(note)) this.log(this.reconciler.name, note);
        this.loggedNotes = new Set(plan.notes);
        this.currentWarnings = plan.warnings ?? [];
        if (plan.writes.length === 0) {
          rounds = 0;
          continue;
        }
        if (++rounds > this.maxRounds) {
          this.log(this.reconciler.name, `plan does not converge after ${this.maxRounds} rounds; left as is`);
          break;
        }
        let committed = 0;
        for (const w of plan.writes) {
          if (this.stopped) return;
          try {
            await this.http.apply(w);
            committed++;
            this.writes.ok++;
          } catch (err) {
            // Deleting what is already gone is success; anything else is logged and retried on the next change.
            if (
              err instanceof NoIdError &&
              (w.op === "delete" || (w.op === "ref" && w.operation === "DELETE"))
            )
              continue;
            // Creating under a parent deleted since we planned (a namespace going away): the deletion is on its
            // way down the change stream and the next plan no longer wants this object.
            if (err instanceof BadRequest && w.op === "create" && /^Parent .* not found/.test(err.message)) {
              continue;
            }
            this.writes.failed++;
            const e = err as VncError;
            const what = e.method ? `${e.method} ${e.path} → ${e.status}: ${e.message}` : e.message;
            this.log(this.reconciler.name, `${w.op} ${w.type} for ${w.why} failed: ${what}`);
          }
        }
        if (committed > 0 && !this.stopped) {
          // Plan again only once our own writes are visible in the mirror.
          try {
            await this.waitForMirror(await this.http.watchPosition());
          } catch (err) {
            this.log(this.reconciler.name, `watch-position: ${(err as Error).message}`);
          }
          this.dirty = true;
        }
      }
    } finally {
      this.running = false;
      if (!this.dirty && !this.stopped) this.setApplied(this.mirror.seq);
    }
  }
}
