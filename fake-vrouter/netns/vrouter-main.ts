/**
 * The vrouter process of one compute node: runs inside the compute's network namespace, opens a libpcap
 * handle on every interface its tables name (pod taps, fabric0), and forwards each frame that arrives
 * through the shared `VrouterDatapath` engine, sending the engine's output frames out of their vifs. Tables
 * arrive from the testbed over the IPC channel; so do capture and status requests.
 *
 * Started by `VrouterProcess.start` as `ip netns exec <ns> node --import tsx vrouter-main.ts <compute>`.
 */
import { readFileSync } from "node:fs";
import type { Cap } from "cap";
import { VrouterDatapath } from "../datapath/engine";
import { VROUTER_MAC, type Vif, type VrouterTables } from "../tables";
import { capBinding, captureAddon, closeCapture } from "./cap-binding";
import { completeL4Checksum } from "./checksum";
import { PcapWriter } from "./pcap-writer";
import type { FromVrouter, RecentDrop, ToVrouter } from "./protocol";

const compute = process.argv[2] ?? "compute";

const FLOW_AGING_TICK_MS = 5000;
const RETRY_MISSING_MS = 200;
const RECENT_DROPS = 50;
/**
 * Only frames coming in: what we send ourselves must not loop back into the engine. libpcap's "inbound"
 * loses the first frame after the filter is set (userland re-check), so match on the source MAC instead:
 * the engine sends to pods from the vrouter MAC and to the fabric from the fabric port's MAC.
 */
function inboundFilter(vif: Vif): string {
  return `not ether src ${vif.type === "fabric" ? vif.mac : VROUTER_MAC}`;
}

interface Port {
  ifname: string;
  vif: number;
  filter: string;
  /** Kernel ifindex at open: a different one later means the tap was deleted and recreated. */
  ifindex: string;
  cap: Cap;
  buffer: Buffer;
}

function send(m: FromVrouter): void {
  process.send?.(m);
}

let engine: VrouterDatapath | undefined;
let tables: VrouterTables | undefined;
const ports = new Map<string, Port>();
const captures = new Map<string, PcapWriter>();
let missing: string[] = [];
let undeliverable = 0;
let engineErrors = 0;
const recentDrops: RecentDrop[] = [];
let retryTimer: NodeJS.Timeout | undefined;

function forwardable(t: VrouterTables): Map<string, Vif> {
  const out = new Map<string, Vif>();
  for (const v of t.vifs.values()) if (v.type === "virtual" || v.type === "fabric") out.set(v.name, v);
  return out;
}

function onFrame(port: Port, nbytes: number): void {
  if (!engine) return;
  const frame = new Uint8Array(port.buffer.subarray(0, nbytes));
  completeL4Checksum(frame);
  const now = Date.now();
  captures.get(port.ifname)?.write(frame, now);
  let r: ReturnType<VrouterDatapath["receive"]>;
  try {
    r = engine.receive(port.vif, frame, now);
  } catch (err) {
    // An engine bug must cost one frame, not the compute's whole datapath.
    engineErrors++;
    send({ type: "log", msg: `engine failed on a frame from ${port.ifname}: ${(err as Error).message}` });
    return;
  }
  if (r.drop) {
    recentDrops.push({ at: now, ifname: port.ifname, reason: r.drop, trace: r.trace });
    if (recentDrops.length > RECENT_DROPS) recentDrops.shift();
  }
  for (const o of r.out) {
    const vif = engine.tables.vifs.get(o.vif);
    const out = vif ? ports.get(vif.name) : undefined;
    if (!out) {
      undeliverable++;
      continue;
    }
    const buf = Buffer.from(o.frame.buffer, o.frame.byteOffset, o.frame.byteLength);
    try {
      out.cap.send(buf, buf.length);
    } catch {
      // The interface went away under the handle (pod deleted): drop the handle, look for it again.
      closePort(out);
      undeliverable++;
      scheduleRetry();
      continue;
    }
    captures.get(out.ifname)?.write(o.frame, now);
  }
}

function ifindexOf(ifname: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${ifname}/ifindex`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function closePort(port: Port): void {
  closeCapture(port.cap);
  ports.delete(port.ifname);
}

function scheduleRetry(): void {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(syncPorts, RETRY_MISSING_MS);
}

function openPort(vif: Vif): boolean {
  const ifindex = ifindexOf(vif.name);
  if (ifindex === undefined) return false;
  const cap = new capBinding.Cap();
  const buffer = Buffer.alloc(65535);
  const filter = inboundFilter(vif);
  try {
    cap.open(vif.name, filter, 4 * 1024 * 1024, buffer);
  } catch {
    return false;
  }
  const port: Port = { ifname: vif.name, vif: vif.index, filter, ifindex, cap, buffer };
  cap.on("packet", (nbytes: number) => onFrame(port, nbytes));
  ports.set(vif.name, port);
  return true;
}

/** Make the open handles match the tables: open new vifs, close vanished ones, re-index renumbered ones. */
function syncPorts(): void {
  if (!tables) return;
  const want = forwardable(tables);
  for (const [name, port] of ports) {
    const vif = want.get(name);
    // Gone from the tables, its MAC changed (the filter depends on it) or the interface was recreated:
    // close; reopened below if still wanted.
    if (!vif || port.filter !== inboundFilter(vif) || ifindexOf(name) !== port.ifindex) closePort(port);
    else port.vif = vif.index;
  }
  const stillMissing: string[] = [];
  for (const [name, vif] of want) if (!ports.has(name) && !openPort(vif)) stillMissing.push(name);
  missing = stillMissing;
  send({ type: "ports", ports: [...ports.keys()].sort(), configVersion: tables.configVersion });
  // The CNI creates a tap before telling the agent, but a port can still be named before it exists here
  // (a tap being recreated): look again shortly.
  if (missing.length > 0) scheduleRetry();
  else clearTimeout(retryTimer);
}

function install(t: VrouterTables): void {
  tables = t;
  if (!engine) engine = new VrouterDatapath(t);
  else engine.install(t);
  syncPorts();
}

process.on("message", (raw) => {
  const m = raw as ToVrouter;
  try {
    switch (m.type) {
      case "tables":
        install(m.tables);
        break;
      case "capture":
        captures.get(m.ifname)?.close();
        captures.set(m.ifname, new PcapWriter(m.file, m.limit ?? 0));
        send({ type: "reply", id: m.id });
        break;
      case "capture-stop": {
        const w = captures.get(m.ifname);
        w?.close();
        captures.delete(m.ifname);
        send({ type: "reply", id: m.id, count: w?.count ?? 0 });
        break;
      }
      case "dump":
        send({ type: "reply", id: m.id, dump: engine?.snapshot() });
        break;
      case "stats":
        send({
          type: "reply",
          id: m.id,
          status: {
            compute,
            captureAddon,
            configVersion: tables?.configVersion ?? -1,
            ports: [...ports.keys()].sort(),
            missing,
            engine: engine?.stats(),
            undeliverable,
            engineErrors,
            recentDrops,
            captures: Object.fromEntries([...captures].map(([ifname, w]) => [ifname, w.count])),
          },
        });
        break;
    }
  } catch (err) {
    const id = "id" in m ? m.id : -1;
    send({ type: "reply", id, error: (err as Error).message });
  }
});

const aging = setInterval(() => engine?.expireFlows(Date.now()), FLOW_AGING_TICK_MS);

function shutdown(): void {
  clearInterval(aging);
  clearTimeout(retryTimer);
  for (const p of ports.values()) p.cap.close();
  for (const w of captures.values()) w.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
// The testbed went away: a vrouter without its agent has nothing to do.
process.on("disconnect", shutdown);

send({ type: "ready", pid: process.pid });
