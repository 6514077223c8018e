/**
 * The haproxy configuration svc-monitor's haproxy driver writes for a load balancer (haproxy_config.py
 * `get_config_v2`, for a `K8S:LOADBALANCER` VMI: one frontend per listener port, the Ingress's pools as
 * `use_backend … if <host acl> <path acl>` in listener order, a `type: default` pool as `default_backend`;
 * one backend per pool with a `server` per member). Pure: same objects, same text.
 *
 * Example: `haproxyConfigV2(view, lb)` →
 *   "global\n\tdaemon\n…frontend <listener uuid>\n\toption tcplog\n\tbind 10.32.0.5:80 \n\tmode http\n…"
 */
import type { ConfigView } from "./config-mirror";
import type { Loadbalancer, LoadbalancerListener, LoadbalancerMember, LoadbalancerPool } from "./vnc-objects";

const PROTO_MAP_V2: Record<string, string> = {
  TCP: "tcp",
  HTTP: "http",
  HTTPS: "tcp",
  TERMINATED_HTTPS: "http",
};
const LB_METHOD_MAP: Record<string, string> = {
  ROUND_ROBIN: "roundrobin",
  LEAST_CONNECTIONS: "leastconn",
  SOURCE_IP: "source",
};

type Props = Record<string, unknown> | null | undefined;
const prop = (o: object, k: string): Props => (o as Record<string, Props>)[k];
const kvs = (o: object) =>
  ((o as { annotations?: { key_value_pair?: { key: string; value: string }[] } }).annotations
    ?.key_value_pair ?? []) as { key: string; value: string }[];

function globals(lbUuid: string): string {
  return [
    "global",
    "daemon",
    "user haproxy",
    "group haproxy",
    "log /var/run/contrail/loadbalancer/haproxy.log.sock local0",
    "log /var/run/contrail/loadbalancer/haproxy.log.sock local1 notice",
    "tune.ssl.default-dh-param 2048",
    "ssl-default-bind-ciphers ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:ECDH+3DES:DH+3DES:RSA+AESGCM:RSA+AES:RSA+3DES:!aNULL:!MD5:!DSS",
    "ulimit-n 200000",
    "maxconn 65000",
    `stats socket /var/lib/contrail/loadbalancer/haproxy/${lbUuid}/haproxy.sock mode 0666 level user`,
  ].join("\n\t");
}

function defaults(): string {
  return [
    "defaults",
    "log global",
    "retries 3",
    "option redispatch",
    "timeout connect 5000",
    "timeout client 300000",
    "timeout server 300000",
  ].join("\n\t");
}

function backend(view: ConfigView, pool: LoadbalancerPool): string {
  const p = prop(pool, "loadbalancer_pool_properties") ?? {};
  const conf = [
    `backend ${pool.uuid}`,
    `mode ${PROTO_MAP_V2[String(p.protocol)] ?? "tcp"}`,
    `balance ${LB_METHOD_MAP[String(p.loadbalancer_method ?? "ROUND_ROBIN")] ?? "roundrobin"}`,
  ];
  if (p.protocol === "HTTP") conf.push("option forwardfor");
  const members = view
    .children<LoadbalancerMember>(pool, "loadbalancer-member")
    .sort((a, b) => a.uuid.localeCompare(b.uuid));
  for (const m of members) {
    const mp = prop(m, "loadbalancer_member_properties") ?? {};
    if (!mp.admin_state) continue;
    conf.push(`server ${m.uuid} ${mp.address}:${mp.protocol_port} weight ${mp.weight ?? 1}`);
  }
  return `${conf.join("\n\t")}\n\n`;
}

/** The listeners of a load balancer in the order the driver writes them (upstream: a set; here by uuid). */
export function lbListeners(view: ConfigView, lb: Loadbalancer): LoadbalancerListener[] {
  return view
    .referrers<LoadbalancerListener>("loadbalancer-listener", "loadbalancer", lb)
    .sort((a, b) => a.uuid.localeCompare(b.uuid));
}

export function haproxyConfigV2(view: ConfigView, lb: Loadbalancer): string {
  const vip = prop(lb, "loadbalancer_properties")?.vip_address;
  // get_listeners: a K8S:LOADBALANCER's listeners of one port share a frontend
  const byPort = new Map<number, { ll: LoadbalancerListener; pools: LoadbalancerPool[] }>();
  for (const ll of lbListeners(view, lb)) {
    const lp = prop(ll, "loadbalancer_listener_properties") ?? {};
    if (!lp.admin_state) continue;
    const port = Number(lp.protocol_port);
    const entry = byPort.get(port) ?? { ll, pools: [] };
    entry.pools.push(...view.referrers<LoadbalancerPool>("loadbalancer-pool", "loadbalancer-listener", ll));
    byPort.set(port, entry);
  }
  let lconf = "";
  let pconf = "";
  for (const [port, { ll, pools }] of byPort) {
    const lp = prop(ll, "loadbalancer_listener_properties") ?? {};
    const conf = [
      `frontend ${ll.uuid}`,
      "option tcplog",
      `bind ${vip}:${port} `,
      `mode ${PROTO_MAP_V2[String(lp.protocol)]}`,
    ];
    if (lp.protocol === "HTTP") conf.push("option forwardfor");
    for (const pool of pools) {
      if (!prop(pool, "loadbalancer_pool_properties")?.admin_state) continue;
      const acl = new Map(kvs(pool).map((kv) => [kv.key, kv.value]));
      const type = acl.get("type");
      if (type === undefined || type === "default") conf.push(`default_backend ${pool.uuid}`);
      else {
        let host = "";
        let path = "";
        if (acl.has("host")) {
          host = `${pool.uuid}_host`;
          conf.push(`acl ${host} hdr(host) -i ${acl.get("host")}`);
        }
        if (acl.has("path")) {
          path = `${pool.uuid}_path`;
          conf.push(`acl ${pool.uuid}_path path ${acl.get("path")}`);
        }
        conf.push(`use_backend ${pool.uuid} if ${host} ${path}`);
      }
      conf.push("\n");
      pconf += backend(view, pool);
    }
    lconf += conf.join("\n\t");
  }
  return `${globals(lb.uuid)}\n\n${defaults()}\n\n${[lconf, pconf].join("\n")}`;
}
