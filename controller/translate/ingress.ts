/**
 * Ingress → the objects kube-manager's vnc_ingress.py builds: a load balancer of provider `opencontrail` (the
 * haproxy driver of svc-monitor serves it), its VMI and VIP instance-ip on the namespace's pod network, one HTTP
 * listener on port 80 per rule path (and one for the default backend), each with a pool annotated with the
 * rule's `host`, `path` and `type` (`acl` or `default`) and one member: the backend Service's ClusterIP and
 * service port (haproxy connects to the Service, the vrouter spreads over its pods), a floating IP from the
 * public pool on the VMI. Pure.
 *
 * Example: `translateIngress(layout, snap, "default/web", view)` → loadbalancer `web__<uid>` with listener
 * `web__<uid>-HTTP-80-<uuid>`, pool of the same name annotated `host=a.example`, `path=/app`, `type=acl`, member
 * `10.96.0.20:80` annotated `serviceName=app`.
 */
import type { NamespaceObject, ServiceObject } from "../kube/objects";
import type { KubeObject } from "../kube/api";
import type { Layout } from "./layout";
import { tagName, unitKey, uuid5 } from "./names";
import type { DesiredRef, KubeSnapshot, SubnetOf, UnitDesired, VncView } from "./types";
import { ingressTag } from "./service-tags";
import { UnitBuilder } from "./units";

const ref = (to: string[]): DesiredRef => ({ to });
const subnetOf = (vn: string[], ipam: string[]): SubnetOf => ({ $subnetOf: { vn, ipam } });

export const INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class";

/** One backend as vnc_ingress.py `_get_new_backend_list` lists it (TLS listeners are not built here). */
export interface IngressBackend {
  type: "acl" | "default";
  host?: string;
  path?: string;
  serviceName: string;
  servicePort: number | string;
}

/** The backends of an Ingress spec in upstream's order: rules (host, paths), then the default backend. */
export function ingressBackends(spec: KubeObject["spec"], warn: (m: string) => void, what: string) {
  const out: IngressBackend[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: two API versions spell the backend differently
  const svcOf = (b: Record<string, any> | undefined) => {
    // extensions/v1beta1 names serviceName/servicePort; networking.k8s.io/v1 service.name/service.port.number
    if (b?.serviceName !== undefined) return { serviceName: b.serviceName, servicePort: b.servicePort };
    const s = b?.service;
    if (!s?.name) return undefined;
    return {
      serviceName: s.name as string,
      servicePort: (s.port?.number ?? s.port?.name) as number | string,
    };
  };
  for (const rule of spec?.rules ?? []) {
    if (!rule.http) continue;
    for (const p of rule.http.paths ?? []) {
      const svc = svcOf(p.backend);
      if (!svc) {
        warn(
          `${what}: a path of host ${rule.host ?? "(any)"} has no service backend; kube-manager ignores it`,
        );
        continue;
      }
      // haproxy_config.py writes `acl … path <p>`: an exact match, whatever the pathType
      if (p.path && p.pathType && p.pathType !== "Exact")
        warn(
          `${what}: path ${p.path} (pathType ${p.pathType}): kube-manager's haproxy matches it exactly (acl path), so ${p.path.replace(/\/$/, "")}/… is not routed there as Kubernetes says`,
        );
      out.push({
        type: "acl",
        ...(rule.host ? { host: rule.host } : {}),
        ...(p.path ? { path: p.path } : {}),
        ...svc,
      });
    }
  }
  for (const b of [spec?.backend, spec?.defaultBackend]) {
    const svc = b && svcOf(b);
    if (svc) out.push({ type: "default", ...svc });
  }
  return out;
}

/** Where an Ingress's load balancer VMI lives: vnc_ingress.py `_get_network` (the namespace's pod network). */
function ingressNetwork(layout: Layout, ns: NamespaceObject) {
  // the pod network choice without a pod: namespace annotation → isolated → cluster default
  const pseudoPod = { metadata: { namespace: ns.metadata.name, name: "" } } as never;
  return layout.podNetwork(pseudoPod, ns, () => {});
}

export function ingressLbVmiName(layout: Layout, name: string, uid: string): string {
  return `${layout.c}__Ingress__${name}__${uid}`;
}

export function translateIngress(
  layout: Layout,
  snap: KubeSnapshot,
  key: string,
  view: VncView,
): UnitDesired {
  const [nsName, name] = key.split("/");
  const b = new UnitBuilder(layout, unitKey.ingress(nsName, name));
  const ing = snap.ingresses.get(key);
  if (!ing?.metadata.uid) return b.done();
  const what = `ingress ${key}`;
  const annotations = ing.metadata.annotations ?? {};
  const klass = annotations[INGRESS_CLASS_ANNOTATION] ?? "opencontrail";
  if (klass !== "opencontrail") {
    // vnc_ingress.py `_create_lb`: another controller's Ingress: nothing (anything built before is deleted)
    b.warn(
      `${what}: ${INGRESS_CLASS_ANNOTATION} is "${klass}", not opencontrail; kube-manager leaves it alone`,
    );
    return b.done();
  }
  const ns = snap.namespaces.get(nsName);
  if (!ns) {
    b.blocked = `${what}: namespace ${nsName} is not known yet`;
    return b.done();
  }
  const uid = ing.metadata.uid;
  const project = layout.project(nsName);
  const net = ingressNetwork(layout, ns);
  const lbName = `${name}__${uid}`;
  const vmiFq = [...project, ingressLbVmiName(layout, name, uid)];
  b.add(
    "virtual-machine-interface",
    vmiFq,
    { virtual_machine_interface_device_owner: "K8S:LOADBALANCER", port_security_enabled: true },
    {
      virtual_network_refs: [ref(net.vn)],
      security_group_refs: [ref(layout.securityGroup(nsName))],
      // vnc_ingress.py `process` labels the Ingress `ingress=<c>-<ns>-<name>` and with its namespace (r5 tags,
      // as a pod's): the `<c>-Ingress` rules match the first, the allowall rules the second
      ...(layout.r5
        ? { tag_refs: [ref([ingressTag(layout, nsName, name)]), ref([tagName("namespace", nsName)])] }
        : {}),
    },
    { uuid: uuid5(uid, "lb-vmi") },
  );
  // loadbalancer.py `_create_virtual_interface`: the VIP comes from the pod IPAM's subnet (no fixed address)
  const vipUuid = uuid5(uid, "vip");
  const vip = b.add(
    "instance-ip",
    [`${name}__${vipUuid}`],
    { instance_ip_family: "v4", ...(net.ipam ? { subnet_uuid: subnetOf(net.vn, net.ipam) } : {}) },
    { virtual_network_refs: [ref(net.vn)], virtual_machine_interface_refs: [ref(vmiFq)] },
    { uuid: vipUuid },
  );
  // svc-monitor's haproxy driver adds the service instance's interface to the VIP (the address it serves)
  vip.refsSharedWith = { virtual_machine_interface_refs: "svc-monitor" };
  const lbFq = [...project, lbName];
  b.add(
    "loadbalancer",
    lbFq,
    {
      loadbalancer_provider: "opencontrail",
      loadbalancer_properties: {
        provisioning_status: "ACTIVE",
        operating_status: "ONLINE",
        admin_state: true,
      },
    },
    { virtual_machine_interface_refs: [ref(vmiFq)] },
    {
      uuid: uid,
      ...(annotations.externalIP
        ? { annotations: [{ key: "externalIP", value: annotations.externalIP }] }
        : {}),
    },
  );

  for (const be of ingressBackends(ing.spec, b.warn, what)) {
    const rule = `${be.host ?? "*"}${be.path ?? ""} → ${be.serviceName}:${be.servicePort}`;
    if (typeof be.servicePort !== "number") {
      // vnc_ingress.py reads service.port.number only: a named port fails the whole event upstream
      b.warn(
        `${what}: backend ${rule}: a named service port; kube-manager reads service.port.number only and builds no listener for it`,
      );
      continue;
    }
    const svc = snap.services.get(`${nsName}/${be.serviceName}`) as ServiceObject | undefined;
    const clusterIP = svc?.spec?.clusterIP;
    if (!svc || !clusterIP || clusterIP === "None") {
      // vnc_ingress.py `_create_member`: no clusterIP → no member, and the listener and pool are deleted again
      b.warn(
        `${what}: backend ${rule}: ${svc ? `service ${nsName}/${be.serviceName} has no cluster IP` : `no service ${nsName}/${be.serviceName}`}; kube-manager builds no listener, pool or member for it`,
      );
      continue;
    }
    if (!(svc.spec?.ports ?? []).some((p) => p.port === be.servicePort))
      b.warn(
        `${what}: backend ${rule}: service ${nsName}/${be.serviceName} has no port ${be.servicePort}; kube-manager still makes the member ${clusterIP}:${be.servicePort}, which nothing answers`,
      );
    const id = `${be.type}/${be.host ?? ""}/${be.path ?? ""}/${be.serviceName}/${be.servicePort}`;
    const lUuid = uuid5(uid, `listener/${id}`);
    // loadbalancer.py: `<lb name>-<protocol>-<port>-<listener uuid>`; every Ingress listener is HTTP port 80
    const listenerFq = [...project, `${lbName}-HTTP-80-${lUuid}`];
    b.add(
      "loadbalancer-listener",
      listenerFq,
      { loadbalancer_listener_properties: { protocol: "HTTP", protocol_port: 80, admin_state: true } },
      { loadbalancer_refs: [ref(lbFq)] },
      { uuid: lUuid },
    );
    const poolFq = [...project, listenerFq[listenerFq.length - 1]];
    b.add(
      "loadbalancer-pool",
      poolFq,
      {
        loadbalancer_pool_properties: {
          protocol: "HTTP",
          loadbalancer_method: "ROUND_ROBIN",
          admin_state: true,
        },
      },
      { loadbalancer_listener_refs: [ref(listenerFq)] },
      {
        uuid: uuid5(uid, `pool/${id}`),
        // haproxy_config.py turns these into `acl … hdr(host) -i`, `acl … path` and use_backend/default_backend
        annotations: [
          ...(be.host ? [{ key: "host", value: be.host }] : []),
          ...(be.path ? [{ key: "path", value: be.path }] : []),
          { key: "type", value: be.type },
        ],
      },
    );
    const mUuid = uuid5(uid, `member/${id}`);
    b.add(
      "loadbalancer-member",
      [...poolFq, mUuid],
      {
        loadbalancer_member_properties: {
          address: clusterIP,
          protocol_port: be.servicePort,
          weight: 1,
          admin_state: true,
        },
      },
      {},
      { uuid: mUuid, annotations: [{ key: "serviceName", value: be.serviceName }] },
    );
  }

  // vnc_ingress.py `_get_floating_ip`: the Ingress's fip-pool annotation → the namespace's → public_fip_pool
  const pool = layout.fipPool(ing as ServiceObject, ns, b.warn, view.exists);
  if (!pool) {
    b.warn(`${what}: no floating-ip pool (annotation or public_fip_pool); reachable at its VIP only`);
  } else {
    const poolFq = [pool.domain, pool.project, pool.network, pool.name];
    const fipUuid = uuid5(uid, "ingress-fip");
    const fip = b.add(
      "floating-ip",
      [...poolFq, `${name}__${fipUuid}`],
      {},
      { virtual_machine_interface_refs: [ref(vmiFq)], project_refs: [ref(project)] },
      {
        uuid: fipUuid,
        createOnly: annotations.externalIP ? { floating_ip_address: annotations.externalIP } : {},
      },
    );
    // svc-monitor's haproxy driver extends it to the service instance's interface
    fip.refsSharedWith = { virtual_machine_interface_refs: "svc-monitor" };
    fip.optional = `${what}: no floating IP from pool ${poolFq.join(":")}`;
  }
  return b.done();
}
