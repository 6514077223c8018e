/**
 * The testbed's handle on one compute's vrouter process: push tables, wait until given ports are open,
 * read status (engine counters, recent drops with traces), start/stop pcap captures, stop by pid.
 *
 * Example:
 *   const v = await VrouterProcess.start({ ns: "ctb-compute-1", compute: "compute-1" });
 *   v.install(tables); await v.waitForPorts(["tapeth0-1a2b3c"]); await v.stop();
 */
import type { VrouterTables } from "../tables";
import { NetnsError } from "./ns";
import type { FromVrouter, ToVrouter, VrouterStatus } from "./protocol";
import { type NetnsChild, spawnInNetns, VROUTER_MAIN } from "./spawn";

type Request =
  | { type: "capture"; ifname: string; file: string }
  | { type: "capture-stop"; ifname: string }
  | { type: "stats" };

export class VrouterProcess {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (s?: VrouterStatus) => void; reject: (e: Error) => void }
  >();
  private openPorts: string[] = [];
  private portWaiters: { names: string[]; resolve: () => void }[] = [];

  private constructor(
    readonly compute: string,
    private readonly proc: NetnsChild,
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  get ns(): string {
    return this.proc.ns;
  }

  static async start(o: { ns: string; compute: string; stateDir?: string }): Promise<VrouterProcess> {
    let self: VrouterProcess | undefined;
    const early: FromVrouter[] = [];
    const proc = await spawnInNetns({
      ns: o.ns,
      script: VROUTER_MAIN,
      args: [o.compute],
      role: "vrouter",
      stateDir: o.stateDir,
      onMessage: (m) => (self ? self.onMessage(m as FromVrouter) : early.push(m as FromVrouter)),
    });
    self = new VrouterProcess(o.compute, proc);
    for (const m of early) self.onMessage(m);
    proc.child.once("exit", () => self?.failPending(new NetnsError(`vrouter of ${o.compute} exited`)));
    return self;
  }

  private onMessage(m: FromVrouter): void {
    if (m.type === "ports") {
      this.openPorts = m.ports;
      this.portWaiters = this.portWaiters.filter((w) => {
        const done = w.names.every((n) => this.openPorts.includes(n));
        if (done) w.resolve();
        return !done;
      });
    } else if (m.type === "reply") {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new NetnsError(`vrouter of ${this.compute}: ${m.error}`));
      else p?.resolve(m.status);
    }
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private request(r: Request): Promise<VrouterStatus | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.proc.child.send({ ...r, id } as ToVrouter);
    });
  }

  /** New tables from the agent (the engine keeps its flows and revalidates them). */
  install(tables: VrouterTables): void {
    this.proc.child.send({ type: "tables", tables } satisfies ToVrouter);
  }

  /** Resolves once every named interface has an open capture handle in the vrouter. */
  waitForPorts(names: string[]): Promise<void> {
    if (names.every((n) => this.openPorts.includes(n))) return Promise.resolve();
    return new Promise((resolve) => this.portWaiters.push({ names, resolve }));
  }

  async status(): Promise<VrouterStatus> {
    const s = await this.request({ type: "stats" });
    if (!s) throw new NetnsError(`vrouter of ${this.compute} sent no status`);
    return s;
  }

  /** Write every frame in and out of `ifname` to `file` (pcap) until `stopCapture`. */
  async capture(ifname: string, file: string): Promise<void> {
    await this.request({ type: "capture", ifname, file });
  }

  async stopCapture(ifname: string): Promise<void> {
    await this.request({ type: "capture-stop", ifname });
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}
