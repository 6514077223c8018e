/**
 * A minimal libpcap file writer (classic format, microsecond timestamps, Ethernet link type) for captures
 * on vrouter ports; the files open in Wireshark, tcpdump -r and pcap-parser.
 *
 * Example: `const w = new PcapWriter("/tmp/tap.pcap"); w.write(frame, Date.now()); w.close();`
 */
import { closeSync, openSync, writeSync } from "node:fs";

const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65535;

/** The 24-byte global header. */
export function pcapGlobalHeader(): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8); // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(SNAPLEN, 16);
  h.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return h;
}

/** One record: 16-byte header + the frame (cut at the snap length). */
export function pcapRecord(frame: Uint8Array, atMs: number): Buffer {
  const incl = Math.min(frame.length, SNAPLEN);
  const rec = Buffer.alloc(16 + incl);
  const sec = Math.floor(atMs / 1000);
  rec.writeUInt32LE(sec, 0);
  rec.writeUInt32LE(Math.floor((atMs - sec * 1000) * 1000), 4);
  rec.writeUInt32LE(incl, 8);
  rec.writeUInt32LE(frame.length, 12);
  rec.set(frame.subarray(0, incl), 16);
  return rec;
}

export class PcapWriter {
  private fd: number | undefined;

  constructor(readonly file: string) {
    this.fd = openSync(file, "w");
    writeSync(this.fd, pcapGlobalHeader());
  }

  write(frame: Uint8Array, atMs: number): void {
    if (this.fd !== undefined) writeSync(this.fd, pcapRecord(frame, atMs));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
