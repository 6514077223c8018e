/**
 * Starts the config daemons — schema-transformer and svc-monitor's native LB driver — as separate clients of
 * the config API (each follows `/watch` and writes over REST, like the real processes). The settle barrier
 * uses `whenCaughtUp(seq)`: resolved once both have applied the stream up to `seq` and written what follows
 * from it.
 * Example: `const d = await startConfigDaemons({ apiUrl }); await d.whenCaughtUp(pos); await d.stop();`
 */
import { type DaemonLog, DaemonLoop } from "./daemon-loop";
import { schemaTransformer } from "./schema-transformer";
import { haproxyDriver } from "./haproxy-driver";
import { svcMonitor } from "./svc-monitor";

export interface ConfigDaemons {
  stop(): Promise<void>;
  /** The lowest stream position every daemon is up to date with. */
  appliedSeq(): number;
  whenCaughtUp(seq: number): Promise<void>;
  /** What the daemons' last plans say a user must know (a service chain that carries nothing). */
  warnings(): string[];
}

export async function startConfigDaemons(opts: { apiUrl: string; log?: DaemonLog }): Promise<ConfigDaemons> {
  const loops = [schemaTransformer, svcMonitor, haproxyDriver].map(
    (reconciler) => new DaemonLoop({ apiUrl: opts.apiUrl, reconciler, log: opts.log }),
  );
  try {
    await Promise.all(loops.map((l) => l.start()));
  } catch (err) {
    await Promise.all(loops.map((l) => l.stop()));
    throw err;
  }
  return {
    stop: async () => {
      await Promise.all(loops.map((l) => l.stop()));
    },
    appliedSeq: () => Math.min(...loops.map((l) => l.appliedSeq())),
    warnings: () => loops.flatMap((l) => l.warnings()),
    whenCaughtUp: async (seq) => {
      await Promise.all(loops.map((l) => l.whenCaughtUp(seq)));
    },
  };
}

export { ChangeStream, type StreamEvent, type WatchChange } from "../watch-client";
export { ConfigMirror, type ConfigView } from "./config-mirror";
