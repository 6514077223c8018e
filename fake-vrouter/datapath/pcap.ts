/**
 * Classic libpcap capture files (magic 0xa1b2c3d4, v2.4, LINKTYPE_ETHERNET) of frames seen on a vif or on
 * the fabric, readable by tcpdump/Wireshark. The writer collects records in memory; `save` is the only I/O.
 *
 * Example: `const pcap = new PcapWriter(); net.capture("fabric", pcap.sink); … pcap.save("/tmp/fabric.pcap")`
 */
import { writeFileSync } from "node:fs";

export const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65535;

export class PcapWriter {
  private readonly records: Uint8Array[] = [];
  private size = 24;

  /** Appends one frame captured at `timeMs` (milliseconds; the simulated clock or Date.now()). */
  add(frame: Uint8Array, timeMs: number): void {
    const captured = frame.subarray(0, SNAPLEN);
    const rec = new Uint8Array(16 + captured.length);
    const dv = new DataView(rec.buffer);
    const seconds = Math.floor(timeMs / 1000);
    dv.setUint32(0, seconds >>> 0, true);
    dv.setUint32(4, Math.round((timeMs - seconds * 1000) * 1000) >>> 0, true);
    dv.setUint32(8, captured.length, true);
    dv.setUint32(12, frame.length, true);
    rec.set(captured, 16);
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
    const dv = new DataView(out.buffer);
    dv.setUint32(0, 0xa1b2c3d4, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setInt32(8, 0, true);
    dv.setUint32(12, 0, true);
    dv.setUint32(16, SNAPLEN, true);
    dv.setUint32(20, LINKTYPE_ETHERNET, true);
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
