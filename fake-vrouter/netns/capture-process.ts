/**
 * The testbed's handle on a capture process (capture-main.ts) inside a testbed namespace: how many frames
 * so far, stop. Like every netns process it is recorded in the pid files and exits with its testbed.
 *
 * Example:
 *   const c = await CaptureProcess.start({ ns: "ctb-x-underlay", file: "/tmp/fabric.pcap",
 *     ifaces: [{ name: "uc0", filter: "ether src 02:…" }] });
 *   …; const frames = await c.stop();
 */
import { join } from "node:path";
import type { FromCapture, ToCapture } from "./protocol";
import { type NetnsChild, spawnInNetns } from "./spawn";

export const CAPTURE_MAIN = join(import.meta.dirname, "capture-main.ts");

export class CaptureProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (n: number) => void>();
  private last = 0;

  private constructor(private readonly proc: NetnsChild) {}

  static async start(o: {
    ns: string;
    file: string;
    ifaces: { name: string; filter: string }[];
    limit?: number;
    stateDir?: string;
  }): Promise<CaptureProcess> {
    let self: CaptureProcess | undefined;
    const proc = await spawnInNetns({
      ns: o.ns,
      script: CAPTURE_MAIN,
      args: [JSON.stringify({ file: o.file, limit: o.limit ?? 0, ifaces: o.ifaces })],
      role: "capture",
      stateDir: o.stateDir,
      onMessage: (m) => self?.onMessage(m as FromCapture),
    });
    self = new CaptureProcess(proc);
    proc.child.once("exit", () => {
      for (const r of self!.pending.values()) r(self!.last);
      self!.pending.clear();
    });
    return self;
  }

  private onMessage(m: FromCapture): void {
    if (m.type !== "reply") return;
    this.last = m.count;
    this.pending.get(m.id)?.(m.count);
    this.pending.delete(m.id);
  }

  private request(type: ToCapture["type"]): Promise<number> {
    if (!this.proc.child.connected) return Promise.resolve(this.last);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.proc.child.send({ type, id } satisfies ToCapture);
    });
  }

  /** Frames written so far. */
  count(): Promise<number> {
    return this.request("count");
  }

  /** Closes the file, ends the process; resolves with the number of frames written. */
  async stop(): Promise<number> {
    const n = await this.request("stop");
    await this.proc.stop();
    return n;
  }
}
