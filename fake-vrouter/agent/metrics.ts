/**
 * Prometheus metrics of one compute's vrouter, served at `GET /metrics` on its agent's port API (127.0.0.1):
 * what the agent programmed (vifs, VRFs, routes, next hops, MPLS labels, ACLs, config version) and — when the
 * testbed hands in its datapath — the forwarding counters: packets, frames out, flows, drops by reason. The
 * datapath is the simulated engine or the compute's netns vrouter process, whichever this compute runs.
 *
 * Example: `curl -s 127.0.0.1:9091/metrics | grep vrouter_drops_total`
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { DatapathStats } from "../datapath/engine";
import type { VrouterTables } from "../tables";

export type DatapathStatsSource = () => Promise<DatapathStats | undefined> | DatapathStats | undefined;

export function vrouterRegistry(
  compute: string,
  tables: () => VrouterTables | undefined,
  datapath?: DatapathStatsSource,
): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ compute });
  const gauge = (name: string, help: string, value: (t: VrouterTables) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const t = tables();
        if (t) this.set(value(t));
      },
    });
  gauge(
    "vrouter_config_version",
    "Config change-stream position the tables were computed from",
    (t) => t.configVersion,
  );
  gauge("vrouter_vifs", "Interfaces (vifs) in the tables", (t) => t.vifs.size);
  gauge("vrouter_vrfs", "VRFs (routing instances)", (t) => t.vrfs.size);
  gauge("vrouter_routes", "Routes over all VRFs", (t) =>
    [...t.vrfs.values()].reduce((n, v) => n + v.routes.length, 0),
  );
  gauge("vrouter_next_hops", "Next hops", (t) => t.nextHops.size);
  gauge("vrouter_mpls_labels", "MPLS labels (and VNIs) mapped to next hops", (t) => t.labels.size);
  gauge("vrouter_acls", "ACLs (security groups and network policies)", (t) => t.acls.size);
  if (!datapath) return registry;

  // one read of the datapath per scrape, shared by every counter below
  let pending: Promise<DatapathStats | undefined> | undefined;
  const read = () => {
    pending ??= Promise.resolve(datapath())
      .catch(() => undefined)
      .finally(() => setImmediate(() => (pending = undefined)));
    return pending;
  };
  // the datapath keeps the running totals: a scrape copies them (counter type, so rate() works on them)
  const counter = (name: string, help: string, value: (s: DatapathStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      async collect() {
        const s = await read();
        if (!s) return;
        this.reset();
        this.inc(value(s));
      },
    });
  const gauge2 = (name: string, help: string, value: (s: DatapathStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const s = await read();
        if (s) this.set(value(s));
      },
    });
  counter("vrouter_packets_in_total", "Frames received by the datapath", (s) => s.packetsIn);
  counter("vrouter_frames_out_total", "Frames sent by the datapath", (s) => s.framesOut);
  gauge2("vrouter_flows", "Flows in the flow table", (s) => s.flows);
  counter("vrouter_flows_created_total", "Flows created", (s) => s.flowsCreated);
  counter("vrouter_flow_hits_total", "Packets that matched an existing flow", (s) => s.flowHits);
  counter("vrouter_arp_proxied_total", "ARP requests the vrouter answered", (s) => s.arpProxied);
  gauge2("vrouter_nat_ports_in_use", "Source ports held by NAT flows", (s) => s.natPortsInUse);
  new Counter({
    name: "vrouter_drops_total",
    help: "Packets dropped, by drop reason (the kernel vrouter's VP_DROP_* counters)",
    labelNames: ["reason"] as const,
    registers: [registry],
    async collect() {
      const s = await read();
      if (!s) return;
      this.reset();
      for (const [reason, n] of Object.entries(s.drops)) this.inc({ reason }, n);
    },
  });
  return registry;
}
