/**
 * The testbed's handle on one pod's process (echo servers + prober inside the pod namespace): send probes,
 * stop by pid.
 *
 * Example: `const p = await PodProcess.start({ ns: "ctb-pod-web", ports: [{ proto: "tcp", port: 80 }] });
 *           await p.probe({ proto: "tcp", dst: "10.32.0.4", port: 80 })` → `{ answer: "reply", … }`
 */
import { NetnsError } from "./ns";
import type { FromPod, PodProbe, ProbeOutcome, ToPod } from "./protocol";
import { type NetnsChild, POD_MAIN, spawnInNetns } from "./spawn";

export interface ServedPort {
  /** dns: the cluster DNS server on UDP and TCP (a CoreDNS pod). */
  proto: "tcp" | "udp" | "dns";
  port: number;
}

export class PodProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (o: ProbeOutcome) => void>();
  private gone?: Error;

  private constructor(private readonly proc: NetnsChild) {}

  get pid(): number {
    return this.proc.pid;
  }

  get ns(): string {
    return this.proc.ns;
  }

  static async start(o: { ns: string; ports: ServedPort[]; stateDir?: string }): Promise<PodProcess> {
    let self: PodProcess | undefined;
    const proc = await spawnInNetns({
      ns: o.ns,
      script: POD_MAIN,
      args: o.ports.map((p) => `${p.proto}:${p.port}`),
      role: "pod",
      stateDir: o.stateDir,
      onMessage: (m) => self?.onMessage(m as FromPod),
    });
    self = new PodProcess(proc);
    proc.child.once("exit", () => self?.fail(new NetnsError(`pod process in ${o.ns} exited`)));
    return self;
  }

  private readonly zoneAcks = new Map<number, () => void>();

  private onMessage(m: FromPod): void {
    if (m.type === "dns-zone-set") {
      this.zoneAcks.get(m.id)?.();
      this.zoneAcks.delete(m.id);
    }
    if (m.type !== "probe-result") return;
    this.pending.get(m.id)?.(m.outcome);
    this.pending.delete(m.id);
  }

  /** A CoreDNS pod: the cluster state its DNS server answers from from now on (resolves once it does). */
  setDnsZone(input: unknown): Promise<void> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.zoneAcks.set(id, resolve);
      this.proc.child.send({ type: "dns-zone", id, input } satisfies ToPod);
    });
  }

  private fail(err: Error): void {
    this.gone = err;
    for (const resolve of this.pending.values()) resolve({ answer: undefined, detail: err.message });
    this.pending.clear();
    for (const resolve of this.zoneAcks.values()) resolve();
    this.zoneAcks.clear();
  }

  /** Probe from inside the pod; `timeoutMs` (default 2000) bounds how long "nothing came back" takes. */
  probe(p: Omit<PodProbe, "timeoutMs"> & { timeoutMs?: number }): Promise<ProbeOutcome> {
    if (this.gone) return Promise.reject(this.gone);
    if (p.proto !== "icmp" && !(p.port && p.port >= 1 && p.port <= 65535)) {
      return Promise.reject(new NetnsError(`${p.proto} probe needs a port 1-65535`));
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.proc.child.send({ type: "probe", id, probe: { timeoutMs: 2000, ...p } } satisfies ToPod);
    });
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}
