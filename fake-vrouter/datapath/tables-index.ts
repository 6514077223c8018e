/**
 * Lookup structures the engine derives once per `install()` from the agent's `VrouterTables`: per-VRF
 * longest-prefix-match tables, the interface next-hop of each vif (the `nh_id` of its flow keys), VN → ACL.
 *
 * Example: `new TablesIndex(tables).lookup(2, "10.47.255.251")` → `{ route, length: 32 }`
 */
import type { NextHop, Route, Vif, Vrf, VrouterTables } from "../tables";
import { parseCidr, parseIpv4 } from "./addr";
import { hotNextHop, hotRoute, hotVif } from "./hot";

export interface RouteMatch {
  route: Route;
  length: number;
  vrf: Vrf;
}

interface LpmTable {
  lengths: number[]; // descending
  byLength: Map<number, Map<number, Route>>;
}

/** Route lookups an index remembers before it starts over. */
const MEMO_LIMIT = 200_000;

/** Flow-key next-hop for packets that arrive unencapsulated on the fabric (no label, no vif NH). */
export const FABRIC_KEY_NH = -1;

export class TablesIndex {
  private readonly lpm = new Map<number, LpmTable>();
  private readonly vifNhs = new Map<number, number>();
  /** The tables' vifs, routes (in `lpm`) and next-hops as the engine reads them, each kind of one shape (hot.ts). */
  private readonly vifs = new Map<number, Vif>();
  private readonly nextHops = new Map<number, NextHop>();
  /** The addresses of the link-local services. */
  readonly linkLocalIps: ReadonlySet<string>;
  private readonly vnVrfs = new Map<string, Vrf>();
  private readonly vniVrfs = new Map<number, number>();
  readonly fabricVif: Vif | undefined;
  readonly agentVif: Vif | undefined;
  readonly hostVif: Vif | undefined;
  /** Routes whose prefix is not IPv4 text (kept out of the LPM, reported by `skippedRoutes`). */
  readonly skippedRoutes: { vrf: number; prefix: string }[] = [];

  constructor(readonly tables: VrouterTables) {
    for (const vrf of tables.vrfs.values()) {
      const table: LpmTable = { lengths: [], byLength: new Map() };
      for (const route of vrf.routes) {
        const prefix = parseCidr(route.prefix);
        if (!prefix) {
          this.skippedRoutes.push({ vrf: vrf.id, prefix: route.prefix });
          continue;
        }
        let bucket = table.byLength.get(prefix.length);
        if (!bucket) {
          bucket = new Map();
          table.byLength.set(prefix.length, bucket);
        }
        bucket.set(prefix.network, hotRoute(route));
      }
      table.lengths = [...table.byLength.keys()].sort((a, b) => b - a);
      if (vrf.vxlanId !== undefined) this.vniVrfs.set(vrf.vxlanId, vrf.id);
      this.lpm.set(vrf.id, table);
      // The VN's own VRF carries its network-policy ACL (ip-fabric-forwarded ports forward elsewhere).
      if (!this.vnVrfs.has(vrf.vnName) || vrf.networkPolicyAcl) this.vnVrfs.set(vrf.vnName, vrf);
    }
    for (const nh of tables.nextHops.values()) {
      this.nextHops.set(nh.id, hotNextHop(nh));
      if (nh.type !== "encap") continue;
      if (nh.policy || !this.vifNhs.has(nh.vif)) this.vifNhs.set(nh.vif, nh.id);
    }
    for (const [index, vif] of tables.vifs) this.vifs.set(index, hotVif(vif));
    this.linkLocalIps = new Set(tables.linkLocal.map((s) => s.ip));
    this.fabricVif = this.vifs.get(tables.compute.fabricVif);
    let agent: Vif | undefined;
    let host: Vif | undefined;
    for (const vif of this.vifs.values()) {
      if (vif.type === "agent") agent ??= vif;
      if (vif.type === "host") host ??= vif;
    }
    this.agentVif = agent;
    this.hostVif = host;
  }

  /**
   * Answers given, per VRF by address text: the tables do not change under an index, and one flow setup asks
   * the same (VRF, address) up to three times, a matrix every address once per source. Cleared when it holds
   * `MEMO_LIMIT` answers (a scan over a large range).
   */
  private readonly memo = new Map<number, Map<string, RouteMatch | null>>();
  private memoSize = 0;

  lookup(vrfId: number, ip: string): RouteMatch | undefined {
    let answers = this.memo.get(vrfId);
    if (!answers) {
      answers = new Map();
      this.memo.set(vrfId, answers);
    }
    const known = answers.get(ip);
    if (known !== undefined) return known ?? undefined;
    const m = this.lookupOnce(vrfId, ip);
    if (++this.memoSize > MEMO_LIMIT) {
      this.memo.clear();
      this.memoSize = 0;
    } else answers.set(ip, m ?? null);
    return m;
  }

  private lookupOnce(vrfId: number, ip: string): RouteMatch | undefined {
    const table = this.lpm.get(vrfId);
    const vrf = this.tables.vrfs.get(vrfId);
    if (!table || !vrf) return undefined;
    const addr = parseIpv4(ip);
    if (addr === undefined) return undefined;
    for (const length of table.lengths) {
      const network = length === 0 ? 0 : (addr & ((0xffffffff << (32 - length)) >>> 0)) >>> 0;
      const route = table.byLength.get(length)!.get(network);
      if (route) return { route, length, vrf };
    }
    return undefined;
  }

  vif(index: number): Vif | undefined {
    return this.vifs.get(index);
  }

  nextHop(id: number): NextHop | undefined {
    return this.nextHops.get(id);
  }

  /** The vif's interface NH (the policy twin when both exist); a stable synthetic id when the agent gave none. */
  vifNh(vif: number): number {
    return this.vifNhs.get(vif) ?? -1000 - vif;
  }

  vrfByVni(vni: number): number | undefined {
    return this.vniVrfs.get(vni);
  }

  /** Network-policy ACL of a VN, looked up through the VN's own routing instance. */
  networkPolicyAcl(vnName: string | undefined): string | undefined {
    return vnName === undefined ? undefined : this.vnVrfs.get(vnName)?.networkPolicyAcl;
  }
}
