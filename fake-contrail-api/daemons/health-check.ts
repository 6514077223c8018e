/**
 * svc-monitor's native driver for health monitors (driver.py `_update_health_monitor_props`,
 * `_update_member_props`, `_clear_member_props`, `_clear_health_monitor_props`): a native load balancer's pool
 * that refers to a loadbalancer-healthmonitor gets one service-health-check, named `<pool name>-<uuid>` in the
 * monitor's project, type `link-local`, the monitor's delay/timeout/max_retries/http_method/url_path/
 * expected_codes, monitor_type PING for PING and TCP (url_path `local-ip`) and HTTP for HTTP and HTTPS; every
 * member's VMI refers to it. The vrouter agent runs the check per VMI and withdraws a failing VMI's routes (its
 * share of the VIP's ECMP next-hop with them). kube-manager never makes a monitor: an operator does (a `vnc` step).
 * Pure. Example: `planHealthChecks(view, randomUUID)` → creates, ref adds and deletes.
 */
import type { VncWrite } from "../../controller/vnc/client";
import type { ConfigView } from "./config-mirror";
import {
  fqString,
  type Loadbalancer,
  type LoadbalancerListener,
  type LoadbalancerMember,
  type LoadbalancerPool,
  type Ref,
  type VncObject,
} from "./vnc-objects";

interface Monitor extends VncObject {
  loadbalancer_healthmonitor_properties?: {
    monitor_type?: string;
    delay?: number;
    timeout?: number;
    max_retries?: number;
    http_method?: string;
    url_path?: string;
    expected_codes?: string;
  } | null;
}
type Pool = LoadbalancerPool & { loadbalancer_healthmonitor_refs?: Ref[] };
type HealthCheck = VncObject & { service_health_check_properties?: Record<string, unknown> | null };
type Vmi = VncObject & { service_health_check_refs?: Ref[] };

const UUID = /^(.*)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** ServiceHealthCheckType as the native driver fills it from a monitor's parameters. */
export function healthCheckProps(hm: Monitor): Record<string, unknown> {
  const p = hm.loadbalancer_healthmonitor_properties ?? {};
  const props: Record<string, unknown> = { health_check_type: "link-local", enabled: true };
  for (const k of ["delay", "timeout", "max_retries", "http_method", "url_path", "expected_codes"] as const)
    if (p[k] !== undefined && p[k] !== null) props[k] = p[k];
  if (p.monitor_type === "PING" || p.monitor_type === "TCP") {
    props.monitor_type = "PING";
    props.url_path = "local-ip";
  } else if (p.monitor_type === "HTTP" || p.monitor_type === "HTTPS") props.monitor_type = "HTTP";
  return props;
}

const name = (o: VncObject) => o.fq_name[o.fq_name.length - 1]!;
const sameProps = (a: Record<string, unknown> | null | undefined, b: Record<string, unknown>) =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b).sort());

export function planHealthChecks(view: ConfigView, newUuid: () => string): VncWrite[] {
  const writes: VncWrite[] = [];
  /** service-health-check uuid → member VMI uuids that must refer to it */
  const wantRefs = new Map<string, Set<string>>();
  /** "<project fq_name>:<pool name>" of monitored pools of native load balancers */
  const monitored = new Set<string>();
  for (const pool of view.list<Pool>("loadbalancer-pool")) {
    const hmRef = pool.loadbalancer_healthmonitor_refs?.[0];
    const hm = hmRef && view.get<Monitor>("loadbalancer-healthmonitor", hmRef.uuid);
    if (!hm || !hm.parent_uuid) continue;
    const native = (pool.loadbalancer_listener_refs ?? []).some((r) => {
      const l = view.get<LoadbalancerListener & { loadbalancer_refs?: Ref[] }>(
        "loadbalancer-listener",
        r.uuid,
      );
      const lb =
        l?.loadbalancer_refs?.[0] && view.get<Loadbalancer>("loadbalancer", l.loadbalancer_refs[0].uuid);
      return lb?.loadbalancer_provider === "native";
    });
    if (!native) continue;
    const project = view.get("project", hm.parent_uuid);
    if (!project) continue;
    monitored.add(`${fqString(project.fq_name)}:${name(pool)}`);
    const props = healthCheckProps(hm);
    const why = `health monitor ${fqString(hm.fq_name)} of pool ${fqString(pool.fq_name)}`;
    const shc = view
      .children<HealthCheck>(project, "service-health-check")
      .filter((s) => UUID.exec(name(s))?.[1] === name(pool))
      .sort((a, b) => a.uuid.localeCompare(b.uuid))[0];
    let shcUuid: string;
    if (!shc) {
      shcUuid = newUuid();
      writes.push({
        op: "create",
        type: "service-health-check",
        body: {
          uuid: shcUuid,
          fq_name: [...project.fq_name, `${name(pool)}-${shcUuid}`],
          parent_type: "project",
          service_health_check_properties: props,
        },
        why,
      });
    } else {
      shcUuid = shc.uuid;
      if (!sameProps(shc.service_health_check_properties, props))
        writes.push({
          op: "update",
          type: "service-health-check",
          uuid: shc.uuid,
          body: { service_health_check_properties: props },
          why,
        });
    }
    const members = new Set<string>();
    for (const m of view.children<LoadbalancerMember>(pool, "loadbalancer-member")) {
      const vmi = m.annotations?.key_value_pair?.find((kv) => kv.key === "vmi")?.value;
      if (vmi && view.get("virtual-machine-interface", vmi)) members.add(vmi);
    }
    wantRefs.set(shcUuid, members);
  }
  // the driver's checks (named after a pool of their project) whose pool has no monitor any more go, refs first
  const stale = new Set<string>();
  for (const shc of view.list<HealthCheck>("service-health-check")) {
    const m = UUID.exec(name(shc));
    if (!m || wantRefs.has(shc.uuid)) continue;
    const projectFq = fqString(shc.fq_name.slice(0, -1));
    if (!monitored.has(`${projectFq}:${m[1]}`)) stale.add(shc.uuid);
  }
  // no check of the driver's anywhere: no interface has a ref to add or drop (the usual case: not a pass over
  // every interface on each of svc-monitor's runs, a thousand while a thousand pods start)
  if (wantRefs.size === 0 && stale.size === 0) return writes;
  const driverOwns = (uuid: string) => wantRefs.has(uuid) || stale.has(uuid);
  for (const vmi of view.list<Vmi>("virtual-machine-interface")) {
    const has = new Set((vmi.service_health_check_refs ?? []).map((r) => r.uuid).filter(driverOwns));
    for (const [shc, members] of wantRefs)
      if (members.has(vmi.uuid) && !has.has(shc))
        writes.push(refWrite(vmi.uuid, shc, "ADD", `member ${fqString(vmi.fq_name)} of a monitored pool`));
    for (const shc of has)
      if (!wantRefs.get(shc)?.has(vmi.uuid))
        writes.push(refWrite(vmi.uuid, shc, "DELETE", `${fqString(vmi.fq_name)} is no monitored member`));
  }
  for (const uuid of stale)
    writes.push({
      op: "delete",
      type: "service-health-check",
      uuid,
      why: "its pool's health monitor is gone",
    });
  return writes;
}

function refWrite(vmi: string, shc: string, operation: "ADD" | "DELETE", why: string): VncWrite {
  return {
    op: "ref",
    type: "virtual-machine-interface",
    uuid: vmi,
    refType: "service-health-check",
    refUuid: shc,
    operation,
    why,
  };
}
