/** Types for the `cap` libpcap binding (a CommonJS addon shipping no types); only what the netns front end uses. */
declare module "cap" {
  import type { EventEmitter } from "node:events";
  class Cap extends EventEmitter {
    open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
    send(buffer: Buffer, nBytes?: number): void;
    close(): void;
    on(event: "packet", cb: (nbytes: number, truncated: boolean) => void): this;
  }
  const binding: { Cap: typeof Cap };
  export default binding;
  export type { Cap };
}
