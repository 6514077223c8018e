/**
 * A capture process: runs inside a testbed namespace, opens a libpcap handle on each given interface (with
 * its BPF filter) and writes every frame to one pcap file, in arrival order, until told to stop, until
 * `limit` frames (if > 0), or until the testbed goes away. The fabric capture runs one in the underlay
 * namespace on every bridge port, each filtered to the frames its own station sent, so each frame on the
 * underlay is written once (a Linux bridge's own interface does not see what it forwards between ports).
 *
 * Started by `CaptureProcess.start` as `ip netns exec <ns> node --import tsx capture-main.ts '<json>'` with
 * `{file, limit, ifaces: [{name, filter}]}`.
 */
import type { Cap } from "cap";
import { capBinding } from "./cap-binding";
import { PcapWriter } from "./pcap-writer";
import type { FromCapture, ToCapture } from "./protocol";

interface Spec {
  file: string;
  limit: number;
  ifaces: { name: string; filter: string }[];
}

function send(m: FromCapture): void {
  process.send?.(m);
}

const handles: Cap[] = [];
let writer: PcapWriter | undefined;

function stop(): void {
  for (const h of handles.splice(0)) h.close();
  writer?.close();
}

try {
  process.on("disconnect", () => {
    stop();
    process.exit(0);
  });
  const spec = JSON.parse(process.argv[2] ?? "") as Spec;
  writer = new PcapWriter(spec.file, spec.limit);
  for (const i of spec.ifaces) {
    const cap = new capBinding.Cap();
    const buffer = Buffer.alloc(65535);
    cap.open(i.name, i.filter, 4 * 1024 * 1024, buffer);
    cap.on("packet", (nbytes: number) => {
      writer?.write(new Uint8Array(buffer.subarray(0, nbytes)), Date.now());
      if (!writer?.open) stop();
    });
    handles.push(cap);
  }
  process.on("message", (raw) => {
    const m = raw as ToCapture;
    if (m.type === "stop") stop();
    send({ type: "reply", id: m.id, count: writer?.count ?? 0 });
  });
  process.on("SIGTERM", () => {
    stop();
    process.exit(0);
  });
  send({ type: "ready", pid: process.pid });
} catch (err) {
  send({ type: "error", msg: (err as Error).message });
  stop();
  process.exit(1);
}
