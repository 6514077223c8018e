/**
 * The testbed's handle on one compute's vrouter process: push tables, wait until given ports are open,
 * read status (engine counters, recent drops with traces), start/stop pcap captures, stop by pid. A vrouter
 * that crashes is started again (up to MAX_RESTARTS times) with the last tables it had; its flows are lost,
 * as with a restarted kernel vrouter.
 *
 * Example:
 *   const v = await VrouterProcess.start({ ns: "ctb-compute-1", compute: "compute-1" });
 *   v.install(tables); await v.waitForPorts(["tapeth0-1a2b3c"]); await v.stop();
 */
import type { DatapathSnapshot } from "../datapath/engine";
import type { VrouterTables } from "../tables";
import { NetnsError } from "./ns";
import type { FromVrouter, ToVrouter, VrouterStatus } from "./protocol";
import { type NetnsChild, spawnInNetns, VROUTER_MAIN } from "./spawn";

type Request =
  | { type: "capture"; ifname: string; file: string; limit?: number }
  | { type: "capture-stop"; ifname: string }
  | { type: "stats" }
  | { type: "dump" };

export interface VrouterProcessOptions {
  ns: string;
  compute: string;
  stateDir?: string;
  /** Where the vrouter's log messages go (engine failures, restarts); default: dropped. */
  log?: (msg: string) => void;
}

export class VrouterProcess {
  static readonly MAX_RESTARTS = 3;
  /** How many times the process was started again after dying. */
  restarts = 0;
  private proc!: NetnsChild;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    {
      resolve: (s?: VrouterStatus, count?: number, dump?: DatapathSnapshot) => void;
      reject: (e: Error) => void;
    }
  >();
  private openPorts: string[] = [];
  private portWaiters: { names: string[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  private lastTables?: VrouterTables;
  private stopping = false;
  private exited?: Error;
  /** Set while a crashed vrouter is being started again: requests wait for it rather than fail. */
  private restarting?: Promise<void>;

  private constructor(private readonly o: VrouterProcessOptions) {}

  get compute(): string {
    return this.o.compute;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get ns(): string {
    return this.o.ns;
  }

  /** Why the process is gone for good, if it is. */
  get failure(): Error | undefined {
    return this.exited;
  }

  static async start(o: VrouterProcessOptions): Promise<VrouterProcess> {
    const self = new VrouterProcess(o);
    await self.spawn();
    return self;
  }

  private async spawn(): Promise<void> {
    const proc = await spawnInNetns({
      ns: this.o.ns,
      script: VROUTER_MAIN,
      args: [this.o.compute],
      role: "vrouter",
      stateDir: this.o.stateDir,
      onMessage: (m) => this.onMessage(m as FromVrouter),
    });
    this.proc = proc;
    proc.child.once("exit", (code, signal) => void this.onExit(proc, code, signal));
    if (this.lastTables) this.send({ type: "tables", tables: this.lastTables });
  }

  private async onExit(proc: NetnsChild, code: number | null, signal: string | null): Promise<void> {
    const err = new NetnsError(`vrouter of ${this.o.compute} exited (${signal ?? code})`);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.openPorts = [];
    await proc.stop(); // forgets its pid record
    // Exit 0 is a deliberate stop (SIGTERM from `stop()` or `ctb down`, or the testbed went away): only a
    // crash (non-zero exit, fatal signal) is restarted.
    const crashed = code !== 0 && signal !== "SIGTERM" && signal !== "SIGINT";
    if (this.stopping || !crashed || this.restarts >= VrouterProcess.MAX_RESTARTS) {
      this.exited = err;
      for (const w of this.portWaiters.splice(0)) w.reject(err);
      if (crashed && !this.stopping)
        this.o.log?.(`${err.message}; not restarted again after ${this.restarts} restarts`);
      return;
    }
    this.restarts++;
    this.o.log?.(`${err.message}; restarting (${this.restarts}/${VrouterProcess.MAX_RESTARTS})`);
    this.restarting = this.spawn().then(
      () => undefined,
      (e: unknown) => {
        this.exited = e as Error;
        for (const w of this.portWaiters.splice(0)) w.reject(e as Error);
      },
    );
    await this.restarting;
    this.restarting = undefined;
  }

  private onMessage(m: FromVrouter): void {
    if (m.type === "ports") {
      this.openPorts = m.ports;
      this.portWaiters = this.portWaiters.filter((w) => {
        const done = w.names.every((n) => this.openPorts.includes(n));
        if (done) w.resolve();
        return !done;
      });
    } else if (m.type === "log") {
      this.o.log?.(`vrouter ${this.o.compute}: ${m.msg}`);
    } else if (m.type === "reply") {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new NetnsError(`vrouter of ${this.o.compute}: ${m.error}`));
      else p?.resolve(m.status, m.count, m.dump);
    }
  }

  private send(m: ToVrouter): boolean {
    if (this.exited || !this.proc.child.connected) return false;
    this.proc.child.send(m);
    return true;
  }

  private request(r: Request): Promise<VrouterStatus | undefined> {
    return this.requestFull(r).then((x) => x.status);
  }

  private async requestFull(
    r: Request,
    retried = false,
  ): Promise<{ status?: VrouterStatus; count?: number; dump?: DatapathSnapshot }> {
    // a crash between two requests is a restart in progress, not the end of this compute's datapath
    if (this.restarting) await this.restarting;
    if (this.exited) throw this.exited;
    const id = this.nextId++;
    const sent = new Promise<{ status?: VrouterStatus; count?: number; dump?: DatapathSnapshot }>(
      (resolve, reject) => {
        this.pending.set(id, {
          resolve: (status, count, dump) => resolve({ status, count, dump }),
          reject,
        });
      },
    );
    if (this.send({ ...r, id } as ToVrouter)) return sent;
    this.pending.delete(id);
    // the child is gone but its exit is not handled yet: give the restart a moment, then try once more
    for (let i = 0; !retried && i < 50 && !this.restarting && !this.exited; i++)
      await new Promise((w) => setTimeout(w, 100));
    if (!retried && (this.restarting || this.proc.child.connected)) return this.requestFull(r, true);
    throw this.exited ?? new NetnsError(`vrouter of ${this.o.compute} is not running`);
  }

  /**
   * New tables from the agent (the engine keeps its flows and revalidates them); kept for a restart. False
   * when they could not be sent now: called from the agent's change callbacks, this must not throw.
   */
  install(tables: VrouterTables): boolean {
    this.lastTables = tables;
    return this.send({ type: "tables", tables });
  }

  /** Resolves once every named interface has an open capture handle in the vrouter (rejects if it dies). */
  waitForPorts(names: string[]): Promise<void> {
    if (names.every((n) => this.openPorts.includes(n))) return Promise.resolve();
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.portWaiters.push({ names, resolve, reject }));
  }

  async status(): Promise<VrouterStatus> {
    const s = await this.request({ type: "stats" });
    if (!s) throw new NetnsError(`vrouter of ${this.o.compute} sent no status`);
    return s;
  }

  /** The engine's flow table and counters (undefined before the first tables), for the vrouter tools. */
  async snapshot(): Promise<DatapathSnapshot | undefined> {
    return (await this.requestFull({ type: "dump" })).dump;
  }

  /** Write every frame in and out of `ifname` to `file` (pcap) until `stopCapture` (or `limit` frames, if > 0). */
  async capture(ifname: string, file: string, limit = 0): Promise<void> {
    await this.request({ type: "capture", ifname, file, limit });
  }

  /** Frames the running capture on `ifname` has written (0 when none runs). */
  async captureCount(ifname: string): Promise<number> {
    return (await this.status()).captures[ifname] ?? 0;
  }

  /** Stops the capture on `ifname` (the file is complete); resolves with the frames it wrote. */
  async stopCapture(ifname: string): Promise<number> {
    return (await this.requestFull({ type: "capture-stop", ifname })).count ?? 0;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.proc.stop();
  }
}
