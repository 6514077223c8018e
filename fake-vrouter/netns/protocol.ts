/**
 * Messages between the testbed and a vrouter process running inside a compute namespace. They travel over
 * Node's IPC channel with "advanced" (structured-clone) serialization, which carries the `VrouterTables`
 * Maps and the frames' Uint8Arrays as they are; a pipe crosses network namespaces where 127.0.0.1 cannot.
 *
 * Example: `child.send({ type: "tables", tables } satisfies ToVrouter)`.
 */
import type { DatapathStats, TraceStep } from "../datapath/engine";
import type { DropReason, VrouterTables } from "../tables";

export type ToVrouter =
  | { type: "tables"; tables: VrouterTables }
  /** Start writing every frame in and out of interface `ifname` to a pcap file. */
  | { type: "capture"; id: number; ifname: string; file: string }
  | { type: "capture-stop"; id: number; ifname: string }
  | { type: "stats"; id: number };

export interface RecentDrop {
  at: number;
  ifname: string;
  reason: DropReason;
  trace: TraceStep[];
}

export interface VrouterStatus {
  compute: string;
  configVersion: number;
  /** Interfaces with an open capture handle (pod taps and fabric0). */
  ports: string[];
  /** vif names in the tables whose interface is not in the namespace (yet). */
  missing: string[];
  /** Undefined until the first tables arrive. */
  engine?: DatapathStats;
  /** Frames the engine sent to a vif that has no interface here (vhost0, pkt0, a vanished tap). */
  undeliverable: number;
  recentDrops: RecentDrop[];
}

export type FromVrouter =
  | { type: "ready"; pid: number }
  | { type: "ports"; ports: string[]; configVersion: number }
  | { type: "reply"; id: number; status?: VrouterStatus; error?: string }
  | { type: "log"; msg: string };
