/**
 * Where things live in each model generation: project, network, IPAM and policy fq_names for r4 (seed 000:
 * project `<ns>`, one `cluster-network`, isolated `<ns>-vn`) and r5 (`<c>-<ns>` projects, separate pod and
 * service networks, `<c>-<ns>-pod-network` pairs for isolated namespaces), and how a namespace's annotations
 * are read. Pure; warnings are returned, never thrown.
 *
 * R4 IPAM layout (our decision, upstream R4 is not fully specified): two flat-subnet IPAMs in the cluster
 * project, `<c>-pod-ipam` (pod_subnets) shared by `cluster-network` and every `<ns>-vn` so pod addresses come
 * from one pool top-down (10.47.255.252, .251, …) and isolated pods' floating IPs from the same pool, and
 * `<c>-service-ipam` (service_subnets) on `cluster-network` for the service VIPs (= clusterIPs).
 *
 * Example: `new Layout(cfg).podNetwork(nsObj)` → `{ vn: ["default-domain","k8s-default","k8s-default-pod-network"], ipam: [...] }`
 */
import type { NamespaceObject, PodObject, ServiceObject } from "../kube/objects";
import { type ControllerConfig, type FipPoolRef, type VnRef, fipPoolRef, vnRef } from "../config";

export const ISOLATION_ANNOTATIONS = [
  "opencontrail.org/isolation",
  "opencontrail.kubernetes.isolated",
] as const;
export const NETWORK_ANNOTATION = "opencontrail.org/network";
export const FIP_POOL_ANNOTATION = "opencontrail.org/fip-pool";
export const IP_FABRIC_FORWARDING_ANNOTATION = "opencontrail.org/ip_fabric_forwarding";
export const IP_FABRIC_SNAT_ANNOTATION = "opencontrail.org/ip_fabric_snat";

export const IP_FABRIC_VN = ["default-domain", "default-project", "ip-fabric"];
export const GSC = "default-global-system-config";

/** A pod's or service's network: the VN and, when this controller manages it, the IPAM addresses come from. */
export interface NetChoice {
  vn: string[];
  ipam?: string[];
  /** Where the choice came from (VMI `network` annotation is "default" unless a user network was chosen). */
  source: "pod-annotation" | "namespace-annotation" | "isolated" | "default";
}

export class Layout {
  readonly c: string;
  readonly domain: string;
  constructor(readonly cfg: ControllerConfig) {
    this.c = cfg.clusterName;
    // r5 (vnc_kubernetes_config.py `cluster_domain`): a configured cluster_network's domain comes first
    this.domain = cfg.model === "r5" && cfg.clusterNetwork ? cfg.clusterNetwork.domain : cfg.domain;
  }

  /**
   * r5: the project configured for the whole cluster — cluster_network's, else cluster_project's
   * (vnc_kubernetes_config.py `get_configured_project_name`); undefined when none is.
   */
  configuredProject(): string | undefined {
    return this.r5 ? (this.cfg.clusterNetwork?.project ?? this.cfg.clusterProject) : undefined;
  }

  get r5(): boolean {
    return this.cfg.model === "r5";
  }

  /** NetworkPolicy in the real R5 kube-manager's cluster APS layout (netpol-upstream.ts). */
  get upstreamPolicies(): boolean {
    return this.r5 && this.cfg.netpolLayout === "upstream";
  }
  /** NetworkPolicy as the real R4 kube-manager builds it: security groups on the VMIs (netpol-r4.ts). */
  get r4SecurityGroups(): boolean {
    return !this.r5 && this.cfg.netpolLayout === "upstream";
  }
  /** r5 secure_project: the cluster's application tag on the namespaces' projects instead of their networks. */
  get secureProject(): boolean {
    // vnc_namespace.py: in nested mode policy is always enforced at the network
    return this.r5 && this.cfg.secureProject && !this.cfg.nestedMode;
  }
  /** nested_mode: pods inside VMs, their interfaces VLAN sub-interfaces of the VM's (vnc_pod.py). */
  get nested(): boolean {
    return this.cfg.nestedMode;
  }
  /**
   * Nested mode's underlay: the network the VMs' interfaces are on (vnc_kubernetes_config.py
   * `cluster_default_network_fq_name`: cluster_network's name, else `cluster-network`, in the cluster project).
   */
  nestedUnderlay(): string[] {
    return [this.domain, this.clusterProjectName(), this.cfg.clusterNetwork?.name ?? "cluster-network"];
  }
  nestedUnderlayPolicy(): string[] {
    return [...this.clusterProject(), `${this.c}-nested-underlay-np`];
  }
  /** Neither of the above: the testbed's per-pod firewall layout (netpol.ts), pods carry identity tags. */
  get perPodPolicies(): boolean {
    return this.cfg.netpolLayout === "kubernetes";
  }

  clusterProjectName(): string {
    if (this.r5) return this.configuredProject() ?? `${this.c}-default`;
    return this.cfg.clusterProject ?? "default";
  }
  clusterProject(): string[] {
    return [this.domain, this.clusterProjectName()];
  }
  /**
   * The project a namespace's objects live in: r5 `<c>-<ns>`, or the configured project (cluster_network's or
   * cluster_project's) for every namespace (vnc_kubernetes_config.py `cluster_project_name`: a configured
   * project is used and none is created per namespace); r4 `<ns>`.
   */
  projectName(ns: string): string {
    if (this.r5) return this.configuredProject() ?? `${this.c}-${ns}`;
    return ns;
  }
  project(ns: string): string[] {
    return [this.domain, this.projectName(ns)];
  }
  /** Projects the cluster unit owns (pre-created in r5; the cluster project in both). */
  clusterProjects(): string[][] {
    const names = new Set([this.clusterProjectName()]);
    // vnc_kubernetes.py pre-creates the projects of `default` and `kube-system`: the configured one, if any
    if (this.r5 && !this.configuredProject()) {
      names.add(`${this.c}-default`);
      names.add(`${this.c}-kube-system`);
    }
    const out = [...names].map((n) => [this.domain, n]);
    const cn = this.cfg.clusterNetwork;
    if (!this.r5 && cn && !out.some((p) => p[0] === cn.domain && p[1] === cn.project))
      out.push([cn.domain, cn.project]);
    return out;
  }
  isClusterProject(fq: string[]): boolean {
    return this.clusterProjects().some((p) => p.join(":") === fq.join(":"));
  }

  podIpam(): string[] {
    return [...this.clusterProject(), `${this.c}-pod-ipam`];
  }
  serviceIpam(): string[] {
    return [...this.clusterProject(), `${this.c}-service-ipam`];
  }
  ipFabricIpam(): string[] {
    return [...this.clusterProject(), `${this.c}-ip-fabric-ipam`];
  }

  /** r4 `cluster-network` (pods and services). */
  clusterNetwork(): string[] {
    const cn = this.cfg.clusterNetwork;
    return cn ? [cn.domain, cn.project, cn.name] : [...this.clusterProject(), "cluster-network"];
  }
  /** r4: the pool isolated pods' floating IPs come from. */
  clusterFipPool(): string[] {
    return [...this.clusterNetwork(), `${this.c}-pod-fip-pool`];
  }
  defaultPodNetwork(): string[] {
    const name = this.cfg.clusterPodNetwork ?? `${this.c}-default-pod-network`;
    return this.r5 ? [...this.clusterProject(), name] : this.clusterNetwork();
  }
  defaultServiceNetwork(): string[] {
    const name = this.cfg.clusterServiceNetwork ?? `${this.c}-default-service-network`;
    return this.r5 ? [...this.clusterProject(), name] : this.clusterNetwork();
  }
  isolatedPodNetwork(ns: string): string[] {
    return this.r5 ? [...this.project(ns), `${this.c}-${ns}-pod-network`] : [...this.project(ns), `${ns}-vn`];
  }
  /** r5 only: an isolated namespace's own service network. */
  isolatedServiceNetwork(ns: string): string[] {
    return [...this.project(ns), `${this.c}-${ns}-service-network`];
  }
  /** The namespace's default security group on every pod and load-balancer VMI (r4 `<c>-<ns>-default`). */
  securityGroup(ns: string): string[] {
    return [...this.project(ns), this.r5 ? `${this.c}-${ns}-default-sg` : `${this.c}-${ns}-default`];
  }
  /** r4: the namespace security group `<c>-<ns>-sg`, no rules: membership of the namespace's pods. */
  namespaceSecurityGroup(ns: string): string[] {
    return [...this.project(ns), `${this.c}-${ns}-sg`];
  }
  /** Classic network policies (r5). */
  ipFabricPolicy(): string[] {
    return [...this.clusterProject(), `${this.c}-default-ip-fabric-np`];
  }
  servicePolicy(): string[] {
    return [...this.clusterProject(), `${this.c}-default-service-np`];
  }
  podServicePolicy(ns: string): string[] {
    return [...this.project(ns), `${this.c}-${ns}-pod-service-np`];
  }

  /**
   * Whether a namespace gets its own network(s). In r5 the `default` namespace is treated as isolated, and
   * its networks are the cluster's default ones.
   */
  isIsolated(ns: NamespaceObject, warn: (m: string) => void): boolean {
    if (this.r5 && ns.metadata.name === "default") return true;
    const ann = ns.metadata.annotations ?? {};
    let isolated = false;
    for (const key of ISOLATION_ANNOTATIONS) {
      const v = ann[key];
      if (v === undefined) continue;
      const b = parseBool(v);
      if (b === undefined)
        warn(
          `namespace ${ns.metadata.name}: annotation ${key}: "${v}" is not "true" or "false"; treated as not isolated`,
        );
      else isolated ||= b;
    }
    return isolated;
  }

  /** The namespace's pod VN when isolated and not the cluster default. */
  ownsIsolatedNetworks(ns: NamespaceObject, warn: (m: string) => void): boolean {
    return (
      this.isIsolated(ns, warn) &&
      this.isolatedPodNetwork(ns.metadata.name!).join(":") !== this.defaultPodNetwork().join(":")
    );
  }

  /** Forwarding / SNAT for a namespace's pod network: the namespace annotation overrides the global option. */
  forwarding(
    ns: NamespaceObject | undefined,
    warn: (m: string) => void,
  ): { ipFabric: boolean; snat: boolean } {
    let ipFabric = this.cfg.ipFabricForwarding;
    let snat = this.cfg.ipFabricSnat;
    if (this.r5 && ns) {
      const ann = ns.metadata.annotations ?? {};
      const f = ann[IP_FABRIC_FORWARDING_ANNOTATION];
      if (f !== undefined) {
        const b = parseBool(f);
        if (b === undefined)
          warn(
            `namespace ${ns.metadata.name}: annotation ${IP_FABRIC_FORWARDING_ANNOTATION}: "${f}" is not "true" or "false"; using ${ipFabric}`,
          );
        else ipFabric = b;
      }
      const s = ann[IP_FABRIC_SNAT_ANNOTATION];
      if (s !== undefined) {
        const b = parseBool(s);
        if (b === undefined)
          warn(
            `namespace ${ns.metadata.name}: annotation ${IP_FABRIC_SNAT_ANNOTATION}: "${s}" is not "true" or "false"; using ${snat}`,
          );
        else snat = b;
      }
    }
    return { ipFabric, snat };
  }

  /** The IPAM a pod network of ours allocates from. */
  podIpamFor(forwarding: boolean): string[] {
    return this.r5 && forwarding ? this.ipFabricIpam() : this.podIpam();
  }

  /** Network choice for a pod: pod annotation → namespace annotation → isolated namespace → cluster default. */
  podNetwork(pod: PodObject, ns: NamespaceObject, warn: (m: string) => void): NetChoice {
    const podName = `pod ${pod.metadata.namespace}/${pod.metadata.name}`;
    const fromPod = parseNetworkAnnotation(pod.metadata.annotations?.[NETWORK_ANNOTATION], podName, warn);
    if (fromPod) return { vn: [fromPod.domain, fromPod.project, fromPod.name], source: "pod-annotation" };
    // a bad namespace annotation is reported once, on the namespace unit
    const fromNs = parseNetworkAnnotation(ns.metadata.annotations?.[NETWORK_ANNOTATION], "", () => {});
    if (fromNs) return { vn: [fromNs.domain, fromNs.project, fromNs.name], source: "namespace-annotation" };
    const nsName = ns.metadata.name!;
    if (this.ownsIsolatedNetworks(ns, () => {})) {
      const { ipFabric } = this.forwarding(ns, () => {});
      return { vn: this.isolatedPodNetwork(nsName), ipam: this.podIpamFor(ipFabric), source: "isolated" };
    }
    const { ipFabric } = this.forwarding(undefined, () => {});
    return { vn: this.defaultPodNetwork(), ipam: this.podIpamFor(ipFabric), source: "default" };
  }

  /** Network for a service's VIP: r5 isolated namespaces have their own service network. */
  serviceNetwork(ns: NamespaceObject): NetChoice {
    if (this.r5 && this.ownsIsolatedNetworks(ns, () => {}))
      return {
        vn: this.isolatedServiceNetwork(ns.metadata.name!),
        ipam: this.serviceIpam(),
        source: "isolated",
      };
    return { vn: this.defaultServiceNetwork(), ipam: this.serviceIpam(), source: "default" };
  }

  /**
   * Floating-ip pool for a service: service annotation → namespace annotation → public_fip_pool, the first that
   * exists (vnc_service.py `_allocate_floating_ips` passes over a pool it cannot read); when `exists` knows none
   * of them, the first configured (the applier then finds it, or leaves the floating IP out with a warning).
   * A pool `holds` says already has the service's floating IP comes first (upstream keeps allocated ones).
   */
  fipPool(
    svc: ServiceObject,
    ns: NamespaceObject,
    warn: (m: string) => void,
    exists?: (type: string, fq: string[]) => boolean,
    holds?: (pool: string[]) => boolean,
  ): FipPoolRef | undefined {
    const name = `service ${svc.metadata.namespace}/${svc.metadata.name}`;
    const candidates = [
      parseFipPoolAnnotation(svc.metadata.annotations?.[FIP_POOL_ANNOTATION], name, warn),
      parseFipPoolAnnotation(
        ns.metadata.annotations?.[FIP_POOL_ANNOTATION],
        `namespace ${ns.metadata.name}`,
        warn,
      ),
      this.cfg.publicFipPool,
    ].filter((p): p is FipPoolRef => p !== undefined);
    const fq = (p: FipPoolRef) => [p.domain, p.project, p.network, p.name];
    return (
      candidates.find((p) => holds?.(fq(p))) ??
      candidates.find((p) => exists?.("floating-ip-pool", fq(p))) ??
      candidates[0]
    );
  }
}

export function parseBool(v: string): boolean | undefined {
  const s = String(v).trim().toLowerCase();
  if (s === "true") return true;
  if (s === "false") return false;
  return undefined;
}

function parseDictAnnotation(
  v: string,
  what: string,
  warn: (m: string) => void,
): Record<string, unknown> | undefined {
  try {
    const o = JSON.parse(v.replace(/'/g, '"'));
    if (o && typeof o === "object" && !Array.isArray(o)) return o as Record<string, unknown>;
  } catch {
    // reported below
  }
  warn(`${what}: "${v}" is not a JSON dict`);
  return undefined;
}

export function parseNetworkAnnotation(
  v: string | undefined,
  what: string,
  warn: (m: string) => void,
): VnRef | undefined {
  if (v === undefined) return undefined;
  const o = parseDictAnnotation(v, `${what}: annotation ${NETWORK_ANNOTATION}`, warn);
  if (!o) return undefined;
  try {
    return vnRef(`${what}: annotation ${NETWORK_ANNOTATION}`, o);
  } catch (e) {
    warn(`${(e as Error).message}; using the default network`);
    return undefined;
  }
}

export function parseFipPoolAnnotation(
  v: string | undefined,
  what: string,
  warn: (m: string) => void,
): FipPoolRef | undefined {
  if (v === undefined) return undefined;
  const o = parseDictAnnotation(v, `${what}: annotation ${FIP_POOL_ANNOTATION}`, warn);
  if (!o) return undefined;
  try {
    return fipPoolRef(`${what}: annotation ${FIP_POOL_ANNOTATION}`, o);
  } catch (e) {
    warn((e as Error).message);
    return undefined;
  }
}
