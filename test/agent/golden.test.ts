/**
 * Golden tests of the agent's tables (kwok style, like test/controller/golden.test.ts): a few translation
 * cases of `test/controller/golden/` are taken all the way — their desired Contrail objects applied to a
 * config API by the controller's reconciler, one unit after another in rank order (so addresses are allocated
 * in a fixed order), the config daemons' ACLs and load-balancer objects added, then the stored config read
 * from `/watch` and every compute's `VrouterTables` computed by the pure `computeTables` — and the tables, as
 * `ctb vrouter --dump` prints them, every pod's port plugged, are compared with `golden/<case>.yaml`.
 * So that the file changes only when the tables do: uuids are written as what they name (`virtual-network
 * d:p:vn`, `subnet 10.32.0.0/12`), random ones that name nothing as `uuid-<n>` (see `namer`); routes and a
 * vif's floating IPs are listed by address (see `byPrefix`); `configVersion` (a count of writes) is left out.
 * Regenerate with `UPDATE_GOLDEN=1 npx vitest run test/agent`.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hostIfname } from "../../cni/result";
import type { FipPoolRef } from "../../controller/config";
import { Reconciler } from "../../controller/reconcile";
import { translateAll } from "../../controller/translate";
import type { VncClient } from "../../controller/vnc/client";
import { startConfigDaemons } from "../../fake-contrail-api/daemons";
import { ChangeStream, type SnapshotEntry } from "../../fake-contrail-api/watch-client";
import { tablesToJson } from "../../fake-vrouter/agent/cli";
import { computeTables, type PluggedPort } from "../../fake-vrouter/agent/compute-tables";
import { ConfigModel } from "../../fake-vrouter/agent/config-model";
import { startTestApi } from "../support/api";
import { CONTROLLER_GOLDEN_DIR, expectGolden, goldenYaml, loadTranslationCase } from "../support/golden";

const DIR = join(import.meta.dirname, "golden");

/**
 * Section 9 (R4), NetworkPolicy (R5, kubernetes layout), Services (svc-monitor's ECMP VIPs, external IPs).
 * The r5-upstream-* cases have no Node, so nothing lands on a compute.
 */
const CASES = ["r4-section9", "r5-networkpolicy", "r5-services"];

/** What an operator provisions before the controller starts: the public floating-ip pool the config names. */
async function provision(vnc: VncClient, pool: FipPoolRef | undefined): Promise<void> {
  if (!pool) return;
  await vnc.create("project", { fq_name: [pool.domain, pool.project], parent_type: "domain" });
  await vnc.create("virtual-network", {
    fq_name: [pool.domain, pool.project, pool.network],
    parent_type: "project",
    network_ipam_refs: [
      {
        to: ["default-domain", "default-project", "default-network-ipam"],
        attr: { ipam_subnets: [{ subnet: { ip_prefix: "203.0.113.0", ip_prefix_len: 24 } }] },
      },
    ],
  });
  await vnc.create("floating-ip-pool", {
    fq_name: [pool.domain, pool.project, pool.network, pool.name],
    parent_type: "virtual-network",
  });
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** The config a case leaves in the API once the controller and the config daemons are done. */
async function configOf(c: string): Promise<{ seq: number; objects: SnapshotEntry[]; fixed: Set<string> }> {
  const { cfg, snap, view } = loadTranslationCase(join(CONTROLLER_GOLDEN_DIR, `${c}.input.yaml`));
  const api = await startTestApi();
  try {
    for (const [ip, fq] of view.routersByIp)
      await api.vnc.create("virtual-router", {
        fq_name: fq,
        parent_type: "global-system-config",
        virtual_router_ip_address: ip,
      });
    await provision(api.vnc, cfg.publicFipPool);
    const reconciler = new Reconciler(api.vnc, cfg.clusterName);
    await reconciler.scan();
    const units = translateAll(snap, cfg, reconciler.view);
    for (const unit of units) if (!unit.blocked) await reconciler.apply(unit);
    // the uuids the case fixes: Kubernetes uids and the uuids the controller derives from them
    const kube = Object.values(snap).flatMap((m) => [...m.values()]);
    const fixed = new Set(JSON.stringify([kube, units]).match(UUID));
    const daemons = await startConfigDaemons({ apiUrl: api.url });
    try {
      // until the daemons have also applied what their own writes caused
      for (let seq = -1; seq !== api.server.seq(); ) {
        seq = api.server.seq();
        await daemons.whenCaughtUp(seq);
      }
    } finally {
      await daemons.stop();
    }
    return { ...(await snapshot(api.url)), fixed };
  } finally {
    await api.close();
  }
}

async function snapshot(apiUrl: string): Promise<{ seq: number; objects: SnapshotEntry[] }> {
  let got: { seq: number; objects: SnapshotEntry[] } | undefined;
  const stream = new ChangeStream({
    apiUrl,
    onEvent: (ev) => {
      if (ev.kind === "snapshot") got ??= ev;
    },
  });
  stream.start();
  await stream.whenSynced();
  await stream.stop();
  return got!;
}

/**
 * Every pod interface placed on a compute, plugged. Host interfaces are named after the VMI uuid: the CNI's
 * name, from the VM uuid (the pod uid), would be the same for every pod of a case (their uids share a prefix).
 */
function pluggedPorts(model: ConfigModel, computes: string[]): Map<string, PluggedPort[]> {
  return new Map(
    computes.map((compute) => {
      const vr = model.byFqName("virtual-router", ["default-global-system-config", compute])!;
      const ports = model.refs(vr, "virtual-machine").flatMap(({ target: vm }) =>
        model.backRefs(vm.uuid, "virtual-machine-interface").map((vmi) => ({
          vmiUuid: vmi.uuid,
          vmUuid: vm.uuid,
          hostIfname: hostIfname("eth0", vmi.uuid),
          enabled: true,
        })),
      );
      return [compute, ports];
    }),
  );
}

/**
 * Uuids written as what they name: an object as `<type> <fq_name>`, a subnet as `subnet <cidr>`; any other
 * uuid is kept when the case fixes it (a Kubernetes uid, a uuid the controller derives) and otherwise was
 * drawn at random (rule uuids, a name svc-monitor makes up) and is written `uuid-<n>`, in order of appearance.
 */
function namer(objects: SnapshotEntry[], fixed: ReadonlySet<string>): (x: unknown) => unknown {
  const raw = new Map<string, string>();
  for (const o of objects) {
    raw.set(o.uuid, `${o.type} ${o.fq_name.join(":")}`);
    const subnets = [
      ...((o.obj.network_ipam_refs ?? []) as { attr?: { ipam_subnets?: unknown[] } }[]).flatMap(
        (r) => r.attr?.ipam_subnets ?? [],
      ),
      ...(((o.obj.ipam_subnets as { subnets?: unknown[] } | undefined)?.subnets ?? []) as unknown[]),
    ] as { subnet_uuid?: string; subnet?: { ip_prefix: string; ip_prefix_len: number } }[];
    for (const s of subnets)
      if (s.subnet_uuid && s.subnet)
        raw.set(s.subnet_uuid, `subnet ${s.subnet.ip_prefix}/${s.subnet.ip_prefix_len}`);
  }
  const labels = new Map<string, string>();
  let drawn = 0;
  const label = (u: string): string => {
    let l = labels.get(u);
    if (l !== undefined) return l;
    const r = raw.get(u);
    if (r === undefined) l = fixed.has(u) ? u : `uuid-${++drawn}`;
    else {
      labels.set(u, `uuid-${++drawn}`); // an object named after itself
      l = name(r);
    }
    labels.set(u, l);
    return l;
  };
  // a uuid inside a longer string (an fq_name element) stays as it is when the case fixes it
  const name = (s: string) => s.replace(UUID, (u) => (u === s || !fixed.has(u) ? label(u) : u));
  const walk = (x: unknown): unknown => {
    if (typeof x === "string") return name(x);
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === "object")
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [name(k), walk(v)]));
    return x;
  };
  return walk;
}

/**
 * Routes by prefix, a vif's floating IPs by address: the agent lists both in an order that follows object
 * uuids, some drawn at random (svc-monitor's VIP floating IPs); neither order carries meaning (routes are
 * looked up by longest prefix, floating IPs by address).
 */
function byPrefix(a: { prefix: string }, b: { prefix: string }): number {
  const key = (p: string) => {
    const [ip, len] = p.split("/");
    return `${
      ip.includes(":")
        ? ip
        : ip
            .split(".")
            .map((o) => o.padStart(3, "0"))
            .join(".")
    }/${(len ?? "").padStart(3, "0")}`;
  };
  return key(a.prefix) < key(b.prefix) ? -1 : key(a.prefix) > key(b.prefix) ? 1 : 0;
}

describe("agent tables golden files", () => {
  for (const c of CASES) {
    it(c, async () => {
      const { seq, objects, fixed } = await configOf(c);
      const model = new ConfigModel();
      model.loadSnapshot(objects, seq);
      const computes = model
        .list("virtual-router")
        .map((vr) => vr.fqName[vr.fqName.length - 1])
        .sort();
      expect(computes.length, "the case places pods on computes").toBeGreaterThan(0);
      const ports = pluggedPorts(model, computes);
      const name = namer(objects, fixed);
      const tables = Object.fromEntries(
        computes.map((compute) => {
          const { configVersion: _, ...t } = tablesToJson(computeTables(model, compute, ports));
          for (const vrf of Object.values(t.vrfs as Record<string, { routes: { prefix: string }[] }>))
            vrf.routes.sort(byPrefix);
          for (const vif of Object.values(t.vifs as Record<string, { floatingIps: { address: string }[] }>))
            vif.floatingIps.sort((a, b) => byPrefix({ prefix: a.address }, { prefix: b.address }));
          return [compute, name(t)];
        }),
      );
      expectGolden(join(DIR, `${c}.yaml`), goldenYaml(tables));
    });
  }
});
