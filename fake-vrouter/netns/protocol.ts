/**
 * Messages between the testbed and a vrouter process running inside a compute namespace. They travel over
 * Node's IPC channel with "advanced" (structured-clone) serialization, which carries the `VrouterTables`
 * Maps and the frames' Uint8Arrays as they are; a pipe crosses network namespaces where 127.0.0.1 cannot.
 *
 * Example: `child.send({ type: "tables", tables } satisfies ToVrouter)`.
 */
import type { DatapathSnapshot, DatapathStats, TraceStep } from "../datapath/engine";
import type { DropReason, VrouterTables } from "../tables";

export type ToVrouter =
  | { type: "tables"; tables: VrouterTables }
  /** Start writing every frame in and out of interface `ifname` to a pcap file (at most `limit` frames if > 0). */
  | { type: "capture"; id: number; ifname: string; file: string; limit?: number }
  | { type: "capture-stop"; id: number; ifname: string }
  | { type: "stats"; id: number }
  /** The engine's flow table and counters (`flow -l`, `vif --list`, `dropstats`, …). */
  | { type: "dump"; id: number };

export interface RecentDrop {
  at: number;
  ifname: string;
  reason: DropReason;
  trace: TraceStep[];
}

export interface VrouterStatus {
  compute: string;
  /** "stock" `cap` aborts the process when a captured tap is deleted; see tools/build-cap.sh. */
  captureAddon: "ndebug" | "stock";
  configVersion: number;
  /** Interfaces with an open capture handle (pod taps and fabric0). */
  ports: string[];
  /** vif names in the tables whose interface is not in the namespace (yet). */
  missing: string[];
  /** Undefined until the first tables arrive. */
  engine?: DatapathStats;
  /** Frames the engine sent to a vif that has no interface here (vhost0, pkt0, a vanished tap). */
  undeliverable: number;
  /** Frames the engine threw on (each is lost; the message went to the testbed as a log). */
  engineErrors: number;
  recentDrops: RecentDrop[];
  /** Frames written so far by each running capture, by interface. */
  captures: Record<string, number>;
}

export type FromVrouter =
  | { type: "ready"; pid: number }
  | { type: "ports"; ports: string[]; configVersion: number }
  | {
      type: "reply";
      id: number;
      status?: VrouterStatus;
      error?: string;
      count?: number;
      /** `dump`: undefined until the first tables (no engine yet). */
      dump?: DatapathSnapshot;
    }
  | { type: "log"; msg: string };

/** One probe a pod sends (the netns twin of the simulated network's probe). */
export interface PodProbe {
  /** `http`: one GET to dst:port with `host` (Host header) and `path`; `dns`: one query for `name` to dst:port. */
  proto: "icmp" | "tcp" | "udp" | "http" | "dns";
  dst: string;
  port?: number;
  host?: string;
  path?: string;
  /** dns: the name asked for, and the record type (default A). */
  name?: string;
  qtype?: "A" | "SRV";
  /** The source address (one of the pod's interfaces'): the probe leaves from it (ping -I, bind). */
  src?: string;
  timeoutMs: number;
}

/** "reply" / "refused" (it got there) / undefined (nothing came back), as the simulated host stack says. */
export interface ProbeOutcome {
  answer: "reply" | "refused" | undefined;
  detail: string;
  /** http: the response's status and body (a pod's responder answers with its address). */
  status?: number;
  body?: string;
  /** dns: the response as read (rcode, addresses, answer lines). */
  dns?: { rcode: string; addresses: string[]; answers: string[] };
}

export type ToPod =
  | { type: "probe"; id: number; probe: PodProbe }
  /** To a CoreDNS pod: the cluster's state its DNS server answers from (cluster-dns/zone.ts ZoneInput). */
  | { type: "dns-zone"; id: number; input: unknown };

export type FromPod =
  | { type: "ready"; pid: number }
  | { type: "error"; msg: string }
  | { type: "probe-result"; id: number; outcome: ProbeOutcome }
  | { type: "dns-zone-set"; id: number };

/** To a capture process (capture-main.ts): how many frames so far, or stop (close the file) and say. */
export type ToCapture = { type: "count" | "stop"; id: number };

export type FromCapture =
  | { type: "ready"; pid: number }
  | { type: "error"; msg: string }
  | { type: "reply"; id: number; count: number };
