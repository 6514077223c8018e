/**
 * Packet captures of a running testbed, the same on both datapaths: what can be captured, and the handle a
 * capture returns. A pod's capture is its vif (both directions, as the vrouter sees them); a compute's is
 * its fabric port (encapsulated traffic to other computes and fabric hosts); the fabric is the whole
 * underlay, each frame once. Files are classic pcap (fake-vrouter/datapath/pcap.ts), readable by tcpdump.
 *
 * Example: `const c = await tb.capture(parseCaptureTarget("default/web-0"), "/tmp/web.pcap"); …; await c.stop()`.
 */

export type CaptureTarget = { pod: string } | { compute: string } | "fabric";

export interface CaptureHandle {
  file: string;
  /** Frames written so far. */
  count(): Promise<number>;
  /** Closes the file; resolves with the frames written. Idempotent. */
  stop(): Promise<number>;
}

/** "fabric", "<namespace>/<pod>" or a compute (node) name. */
export function parseCaptureTarget(s: string): CaptureTarget {
  if (s === "fabric") return "fabric";
  if (s.includes("/")) return { pod: s };
  return { compute: s };
}

export function describeTarget(t: CaptureTarget): string {
  return t === "fabric" ? "the fabric" : "pod" in t ? `pod ${t.pod}` : `compute ${t.compute}`;
}

/** Memoises `stop` so a capture stopped by a teardown and by its owner closes once. */
export function once(stop: () => Promise<number>): () => Promise<number> {
  let p: Promise<number> | undefined;
  return () => (p ??= stop());
}
