/**
 * The Per-vrouter page's view model, introspect-like: one compute's interfaces (with their packet and drop
 * counters), VRFs and routes, next-hops, flows and drop counters, from a `VrouterView` (the agent's tables and
 * the datapath's snapshot). Tables the vrouter's own utilities print (nh, flow, dropstats) come as they print
 * them (`fake-vrouter/tools/`), so the page reads as a runbook does. Pure.
 */
import { runTool, type VrouterView } from "../../fake-vrouter/tools/index";
import type { VrouterPage } from "../shared/views";

export type { VrouterPage };

export function vrouterPage(node: string, view: VrouterView): VrouterPage {
  const t = view.tables;
  const snap = view.datapath;
  const tool = (argv: string[]) => {
    const r = runTool(argv[0]!, argv.slice(1), view);
    return r.stdout + r.stderr;
  };
  const drops: Record<string, number> = {};
  for (const [k, v] of Object.entries(snap?.stats.drops ?? {})) if (v) drops[k] = v;
  return {
    node,
    fabricIp: t.compute.fabricIp,
    configVersion: t.configVersion,
    interfaces: [...t.vifs.values()]
      .sort((a, b) => a.index - b.index)
      .map((v) => {
        const c = snap?.vifs[v.index];
        return {
          index: v.index,
          name: v.name,
          type: v.type,
          ...(v.ip ? { ip: v.ip } : {}),
          mac: v.mac,
          vrf: v.vrf,
          ...(v.vnName ? { vn: v.vnName } : {}),
          ...(v.vmi ? { vmi: v.vmi.uuid } : {}),
          policy: v.policyEnabled,
          floatingIps: v.floatingIps.map((f) => `${f.address} → ${f.fixedIp}`),
          rx: c?.rxPackets ?? 0,
          tx: c?.txPackets ?? 0,
          drops: c?.drops ?? 0,
          dropReasons: Object.fromEntries(
            Object.entries(c?.dropReasons ?? {}).filter(([, n]) => n),
          ) as Record<string, number>,
        };
      }),
    vrfs: [...t.vrfs.values()]
      .sort((a, b) => a.id - b.id)
      .map((v) => ({
        id: v.id,
        name: v.name,
        vn: v.vnName,
        routes: v.routes.map((r) => ({
          prefix: r.prefix,
          nh: r.nh,
          ...(r.label !== undefined ? { label: r.label } : {}),
          destVns: r.destVns,
          ...(r.origin ? { origin: `${r.origin.type} ${r.origin.fqName.join(":")}` } : {}),
        })),
      })),
    flowCount: snap?.flows.length ?? 0,
    drops,
    text: { nh: tool(["nh", "--list"]), flow: tool(["flow", "-l"]), dropstats: tool(["dropstats"]) },
  };
}
