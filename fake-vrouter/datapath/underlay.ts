/**
 * What the fabric's routers know about addresses behind the vrouters (their BGP view), one definition for both
 * datapaths: under ip-fabric forwarding, each port forwarding in its compute's fabric VRF, by the port's own
 * address, via that compute's fabric IP. Routes a network-policy leaks into the fabric VRF are not part of
 * it — an overlay pod, or a service VIP (the service network stays in the overlay, seed 001), whose leaked
 * route may point at a port that does forward in the fabric VRF (a single-member floating IP). Besides them,
 * the public addresses an SDN gateway imports (the floating IPs it tunnels to the computes), via the gateway.
 *
 * Example: `underlayRoutes(allTables).get("10.64.0.5/32")` → "10.84.31.11" (the compute's fabric IP).
 */
import type { VrouterTables } from "../tables";

/** Pod /32 → fabric IP of the compute where that pod's port forwards in the fabric VRF. */
export function ipFabricPodRoutes(tables: Iterable<VrouterTables>): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of tables)
    for (const vif of t.vifs.values())
      if (vif.type === "virtual" && vif.ip && vif.vrf === t.compute.fabricVrf)
        out.set(`${vif.ip}/32`, t.compute.fabricIp);
  return out;
}

/**
 * The public addresses each SDN gateway (a transit router, `compute.transit`) imports and tunnels to the
 * computes, /32 → the gateway's fabric IP: what it advertises to the fabric's routers.
 */
export function gatewayRoutes(tables: Iterable<VrouterTables>): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of tables) {
    if (t.compute.transit !== true) continue;
    for (const r of t.vrfs.get(t.compute.fabricVrf)?.routes ?? []) {
      const nh = t.nextHops.get(r.nh);
      if (r.prefix.endsWith("/32") && (nh?.type === "tunnel" || nh?.type === "composite"))
        out.set(r.prefix, t.compute.fabricIp);
    }
  }
  return out;
}

/** Everything the fabric's routers route to a station behind them: ip-fabric pods, then gateway addresses. */
export function underlayRoutes(tables: Iterable<VrouterTables>): Map<string, string> {
  const all = [...tables];
  return new Map([...gatewayRoutes(all), ...ipFabricPodRoutes(all)]);
}
