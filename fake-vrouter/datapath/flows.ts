/**
 * The flow table: forward and reverse entries linked by key (the vrouter's rindex), keyed on
 * {proto, sport, dport, nh_id, sip, dip}; aging, a size limit, and the fabric-SNAT port pools.
 *
 * Example: `flowKeyText({ proto: 6, sport: 40000, dport: 80, nh: 21, sip: "10.0.0.3", dip: "10.0.0.4" })`
 *          → "6:21:10.0.0.3:40000>10.0.0.4:80"
 */
import { type DropReason, FABRIC_SNAT_POOLS } from "../tables";
import type { TraceStep } from "./trace";

export interface FlowKey {
  proto: number;
  sport: number;
  dport: number;
  /** The source NH: the ingress vif's interface NH, the label's NH from the fabric, -1 unencapsulated fabric. */
  nh: number;
  sip: string;
  dip: string;
}

/** Fields a NAT flow rewrites in the packets it matches. */
export interface NatRewrite {
  sip?: string;
  sport?: number;
  dip?: string;
  dport?: number;
}

export interface FlowEntry {
  key: FlowKey;
  direction: "forward" | "reverse";
  /** Key text of the linked entry (RFLOW_VALID when it is present in the table). */
  reverseKey?: string;
  action: "forward" | "nat" | "drop";
  nat?: NatRewrite;
  /** VRF the packet is routed in after NAT (the flow's destination VRF). */
  vrf: number;
  /** ECMP member chosen once for this flow (stickiness); the member's label overrides the route's. */
  ecmp?: { composite: number; nh: number; label: number };
  /** The policy step that decided (allow or deny), shown on later hits. */
  verdict?: TraceStep;
  /** Everything evaluated when the flow was set up: NAT, policy stages. */
  decidedBy: TraceStep[];
  /** A drop flow: the stage that denied it and why (what `flow -l` prints as its drop reason). */
  dropped?: { stage: TraceStep["stage"]; detail: string; reason: DropReason };
  createdAt: number;
  lastUsedAt: number;
  packets: number;
  bytes: number;
}

export function flowKeyText(k: FlowKey): string {
  return `${k.proto}:${k.nh}:${k.sip}:${k.sport}>${k.dip}:${k.dport}`;
}

/** FNV-1a over the key text: drives ECMP member choice and the outer UDP source port. */
export function flowHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export type PoolName = keyof typeof FABRIC_SNAT_POOLS;

/** Fabric SNAT source ports, per protocol pool (ICMP identifiers use the UDP pool). */
export class PortPools {
  private readonly used = { tcp: new Set<number>(), udp: new Set<number>() };
  private readonly next = {
    tcp: FABRIC_SNAT_POOLS.tcp[0] as number,
    udp: FABRIC_SNAT_POOLS.udp[0] as number,
  };

  allocate(pool: PoolName): number | undefined {
    const [lo, hi] = FABRIC_SNAT_POOLS[pool];
    const size = hi - lo + 1;
    for (let i = 0; i < size; i++) {
      const port = lo + ((this.next[pool] - lo + i) % size);
      if (!this.used[pool].has(port)) {
        this.used[pool].add(port);
        this.next[pool] = port + 1 > hi ? lo : port + 1;
        return port;
      }
    }
    return undefined;
  }

  release(pool: PoolName, port: number): void {
    this.used[pool].delete(port);
  }

  inUse(): number {
    return this.used.tcp.size + this.used.udp.size;
  }
}
