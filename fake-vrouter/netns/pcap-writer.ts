/**
 * A streaming pcap file writer for captures on the netns datapath (a capture may run for long, so records go
 * to the file as they come and the file is readable at any moment). The format is the datapath's
 * (`pcapGlobalHeader`, `pcapRecord`). With a `limit`, the writer closes itself after that many frames.
 *
 * Example: `const w = new PcapWriter("/tmp/tap.pcap", 100); w.write(frame, Date.now()); w.close();`
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { pcapGlobalHeader, pcapRecord } from "../datapath/pcap";

export class PcapWriter {
  private fd: number | undefined;
  /** Frames written so far. */
  count = 0;

  constructor(
    readonly file: string,
    readonly limit = 0,
  ) {
    this.fd = openSync(file, "w");
    writeSync(this.fd, pcapGlobalHeader());
  }

  /** False once closed (by `close()` or by reaching the limit). */
  get open(): boolean {
    return this.fd !== undefined;
  }

  write(frame: Uint8Array, atMs: number): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, pcapRecord(frame, atMs));
    this.count++;
    if (this.limit > 0 && this.count >= this.limit) this.close();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
