/**
 * svc-monitor's haproxy driver and the routing decision: the config the driver writes for an Ingress's load
 * balancer (haproxy_config.py get_config_v2), the service instance and its placement, what goes when the load
 * balancer goes, and haproxy's matching rules as `routeHttp` applies them.
 */
import { describe, expect, it } from "vitest";
import { ConfigMirror } from "../../fake-contrail-api/daemons/config-mirror";
import {
  HAPROXY_BINDING,
  planHaproxyLoadbalancers,
  siUuid,
} from "../../fake-contrail-api/daemons/haproxy-driver";
import type { VncObject } from "../../fake-contrail-api/daemons/vnc-objects";
import { netnsHaproxyConfig } from "../../fake-vrouter/haproxy/netns";
import { parseHaproxyConfig, routeHttp } from "../../fake-vrouter/haproxy/route";

const P = ["default-domain", "k8s-default"];
const o = (type: string, obj: VncObject) => ({ type, obj });
const kv = (pairs: Record<string, string>) => ({
  key_value_pair: Object.entries(pairs).map(([key, value]) => ({ key, value })),
});

function ingressObjects() {
  const vn = o("virtual-network", {
    uuid: "vn",
    fq_name: [...P, "k8s-default-pod-network"],
    parent_type: "project",
  });
  const vmi = o("virtual-machine-interface", {
    uuid: "lb-vmi",
    fq_name: [...P, "k8s__Ingress__front__lb"],
    parent_type: "project",
    virtual_network_refs: [{ to: vn.obj.fq_name, uuid: "vn" }],
  });
  const iip = o("instance-ip", {
    uuid: "vip",
    fq_name: ["front__vip"],
    instance_ip_address: "10.47.255.250",
    virtual_machine_interface_refs: [{ to: vmi.obj.fq_name, uuid: "lb-vmi" }],
  });
  const lb = o("loadbalancer", {
    uuid: "lb",
    fq_name: [...P, "front__lb"],
    parent_type: "project",
    loadbalancer_provider: "opencontrail",
    virtual_machine_interface_refs: [{ to: vmi.obj.fq_name, uuid: "lb-vmi" }],
  });
  const objs = [vn, vmi, iip, lb];
  const rules = [
    { id: "a", host: "shop.example", path: "/cart", ip: "10.96.0.10", port: 80, svc: "web" },
    { id: "b", host: "admin.example", path: "/status", ip: "10.96.0.11", port: 443, svc: "api" },
    { id: "c", ip: "10.96.0.12", port: 8080, svc: "fallback" },
  ];
  for (const r of rules) {
    const ll = o("loadbalancer-listener", {
      uuid: `ll-${r.id}`,
      fq_name: [...P, `front__lb-HTTP-80-${r.id}`],
      loadbalancer_listener_properties: { protocol: "HTTP", protocol_port: 80, admin_state: true },
      loadbalancer_refs: [{ to: lb.obj.fq_name, uuid: "lb" }],
    });
    const pool = o("loadbalancer-pool", {
      uuid: `pool-${r.id}`,
      fq_name: [...P, `front__lb-HTTP-80-${r.id}`],
      loadbalancer_pool_properties: {
        protocol: "HTTP",
        loadbalancer_method: "ROUND_ROBIN",
        admin_state: true,
      },
      loadbalancer_listener_refs: [{ to: ll.obj.fq_name, uuid: ll.obj.uuid }],
      annotations: kv(r.host ? { host: r.host, path: r.path!, type: "acl" } : { type: "default" }),
    });
    const member = o("loadbalancer-member", {
      uuid: `m-${r.id}`,
      fq_name: [...pool.obj.fq_name, `m-${r.id}`],
      parent_type: "loadbalancer-pool",
      parent_uuid: pool.obj.uuid,
      loadbalancer_member_properties: { address: r.ip, protocol_port: r.port, weight: 1, admin_state: true },
      annotations: kv({ serviceName: r.svc }),
    });
    objs.push(ll, pool, member);
  }
  const vr = o("virtual-router", { uuid: "vr1", fq_name: ["default-global-system-config", "node-1"] });
  return [...objs, vr];
}

const configOf = (writes: ReturnType<typeof planHaproxyLoadbalancers>["writes"]) => {
  const si = writes.find((w) => w.op === "create" && w.type === "service-instance");
  if (si?.op !== "create") throw new Error("no service-instance created");
  const b = si.body.service_instance_bindings as { key_value_pair: { key: string; value: string }[] };
  return b.key_value_pair.find((p) => p.key === HAPROXY_BINDING)!.value;
};

describe("svc-monitor haproxy driver", () => {
  it("writes haproxy_config.py's frontend and backends, and places the instance on a compute", () => {
    const { writes } = planHaproxyLoadbalancers(ConfigMirror.of(ingressObjects()));
    const conf = configOf(writes);
    expect(conf).toContain("bind 10.47.255.250:80");
    expect(conf).toContain("acl pool-a_host hdr(host) -i shop.example");
    expect(conf).toContain("acl pool-a_path path /cart");
    expect(conf).toContain("use_backend pool-a if pool-a_host pool-a_path");
    expect(conf).toContain("default_backend pool-c");
    expect(conf).toContain("server m-b 10.96.0.11:443 weight 1");
    // one frontend for the three port-80 listeners (get_listeners merges a K8S load balancer's ports)
    expect(conf.match(/^frontend /gm)).toHaveLength(1);
    const refs = writes
      .filter((w) => w.op === "ref")
      .map((w) => (w.op === "ref" ? `${w.type}→${w.refType}` : ""));
    expect(refs).toEqual(
      expect.arrayContaining([
        "loadbalancer→service-instance",
        "virtual-router→virtual-machine",
        "instance-ip→virtual-machine-interface",
      ]),
    );
  });

  it("removes the instance, its VM and interface when the load balancer is gone", () => {
    const objs = ingressObjects();
    const plan = planHaproxyLoadbalancers(ConfigMirror.of(objs));
    const si = plan.writes.find((w) => w.op === "create" && w.type === "service-instance")!;
    const vmi = plan.writes.find((w) => w.op === "create" && w.type === "virtual-machine-interface")!;
    const created = [si, vmi].map((w) => (w.op === "create" ? o(w.type, w.body as VncObject) : undefined)!);
    const left = objs.filter((x) => x.type !== "loadbalancer");
    const { writes } = planHaproxyLoadbalancers(ConfigMirror.of([...left, ...created]));
    expect(writes.filter((w) => w.op === "delete").map((w) => w.type)).toEqual(
      expect.arrayContaining(["virtual-machine-interface", "service-instance"]),
    );
    expect(writes.some((w) => w.op === "delete" && w.uuid === siUuid("lb"))).toBe(true);
  });
});

describe("haproxy routing (routeHttp)", () => {
  const cfg = parseHaproxyConfig(
    configOf(planHaproxyLoadbalancers(ConfigMirror.of(ingressObjects())).writes),
  );

  it("routes by Host (case-insensitive) and exact path, else the default backend", () => {
    expect(routeHttp(cfg, { port: 80, host: "shop.example", path: "/cart" }).servers[0]).toMatchObject({
      ip: "10.96.0.10",
      port: 80,
    });
    expect(routeHttp(cfg, { port: 80, host: "ADMIN.Example", path: "/status" }).backend).toBe("pool-b");
    // path acl is exact: a path under /cart, or a query-less different path, goes to the default backend
    const under = routeHttp(cfg, { port: 80, host: "shop.example", path: "/cart/items" });
    expect(under).toMatchObject({ backend: "pool-c", how: "default" });
    expect(under.passedOver.join("\n")).toContain("path is not exactly /cart");
    // a query string is not part of the path
    expect(routeHttp(cfg, { port: 80, host: "shop.example", path: "/cart?x=1" }).backend).toBe("pool-a");
    // hdr(host) compares the whole header: with a port it does not match
    expect(routeHttp(cfg, { port: 80, host: "shop.example:80", path: "/cart" }).backend).toBe("pool-c");
  });

  it("no frontend on the port, or no rule and no default backend: no server (haproxy: 503)", () => {
    const none = routeHttp(cfg, { port: 8080, host: "shop.example", path: "/cart" });
    expect(none.frontend).toBeUndefined();
    expect(none.servers).toEqual([]);
    const noDefault = parseHaproxyConfig(
      "frontend f\n\tbind 10.0.0.1:80 \n\tacl p_host hdr(host) -i a.example\n\tuse_backend p if p_host \nbackend p\n\tserver m 10.96.0.1:80 weight 1\n",
    );
    expect(routeHttp(noDefault, { port: 80, host: "b.example", path: "/" })).toMatchObject({
      frontend: "f",
      servers: [],
    });
    expect(routeHttp(noDefault, { port: 80, host: "b.example", path: "/" }).backend).toBeUndefined();
  });

  it("the netns copy of the config keeps the routing and drops a compute's paths", () => {
    const text = netnsHaproxyConfig(
      configOf(planHaproxyLoadbalancers(ConfigMirror.of(ingressObjects())).writes),
      "/run/x",
    );
    expect(text).not.toMatch(/^\s*(daemon|ulimit-n|log \/)/m);
    expect(text).toContain("stats socket /run/x/haproxy.sock");
    expect(parseHaproxyConfig(text)).toEqual(cfg);
  });
});
