/**
 * A streaming pcap file writer for captures on the netns vrouter's ports (a capture may run for long, so
 * records go to the file as they come). The format is the datapath's (`pcapGlobalHeader`, `pcapRecord`).
 *
 * Example: `const w = new PcapWriter("/tmp/tap.pcap"); w.write(frame, Date.now()); w.close();`
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { pcapGlobalHeader, pcapRecord } from "../datapath/pcap";

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
