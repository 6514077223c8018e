/**
 * Classic libpcap capture files (magic 0xa1b2c3d4, v2.4, LINKTYPE_ETHERNET) of frames seen on a vif or on
 * the fabric, readable by tcpdump/Wireshark. The encoding lives here once: `pcapGlobalHeader` and `pcapRecord`
 * are pure; this in-memory writer (simulation) and the streaming file writer of the netns vrouter
 * (fake-vrouter/netns/pcap-writer.ts) both use them.
 *
 * Example: `const pcap = new PcapWriter(); net.capture("fabric", pcap.sink); … pcap.save("/tmp/fabric.pcap")`
 */
import { writeFileSync } from "node:fs";

export const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65535;

/** The 24-byte global header. */
export function pcapGlobalHeader(): Uint8Array {
  const h = new Uint8Array(24);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true); // thiszone
  dv.setUint32(12, 0, true); // sigfigs
  dv.setUint32(16, SNAPLEN, true);
  dv.setUint32(20, LINKTYPE_ETHERNET, true);
  return h;
}

/** One record: the 16-byte header (time in s + µs, captured and original length) and the frame, cut at the snap length. */
export function pcapRecord(frame: Uint8Array, timeMs: number): Uint8Array {
  const captured = frame.subarray(0, SNAPLEN);
  const rec = new Uint8Array(16 + captured.length);
  const dv = new DataView(rec.buffer);
  const seconds = Math.floor(timeMs / 1000);
  dv.setUint32(0, seconds >>> 0, true);
  dv.setUint32(4, Math.round((timeMs - seconds * 1000) * 1000) >>> 0, true);
  dv.setUint32(8, captured.length, true);
  dv.setUint32(12, frame.length, true);
  rec.set(captured, 16);
  return rec;
}

export class PcapWriter {
  private readonly records: Uint8Array[] = [];
  private size = 24;

  /** Appends one frame captured at `timeMs` (milliseconds; the simulated clock or Date.now()). */
  add(frame: Uint8Array, timeMs: number): void {
    const rec = pcapRecord(frame, timeMs);
    this.records.push(rec);
    this.size += rec.length;
  }

  /** A capture callback for `SimNetwork.capture`. */
  readonly sink = (frame: Uint8Array, timeMs: number): void => this.add(frame, timeMs);

  get count(): number {
    return this.records.length;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    out.set(pcapGlobalHeader(), 0);
    let off = 24;
    for (const rec of this.records) {
      out.set(rec, off);
      off += rec.length;
    }
    return out;
  }

  save(path: string): void {
    writeFileSync(path, this.bytes());
  }
}
