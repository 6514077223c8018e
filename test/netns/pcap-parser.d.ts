/** Types for pcap-parser (the package ships none): the parts the netns tests read. */
declare module "pcap-parser" {
  import type { EventEmitter } from "node:events";
  export interface PcapPacket {
    header: {
      timestampSeconds: number;
      timestampMicroseconds: number;
      capturedLength: number;
      originalLength: number;
    };
    data: Buffer;
  }
  export function parse(input: string | NodeJS.ReadableStream): EventEmitter;
}
