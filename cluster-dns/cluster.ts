/**
 * Where cluster DNS lives in a cluster, as kubeadm deploys it: the `kube-dns` Service in kube-system (the
 * address kubelet writes into every pod's resolv.conf, `--cluster-dns`) in front of CoreDNS pods. Pods reach it
 * through the Service's ClusterIP, i.e. through Contrail's load balancer for that Service like any other
 * (kube-manager has no DNS-specific objects). A pod runs the testbed's DNS server when its image is CoreDNS.
 *
 * Example: `const input = await zoneInputFrom(kube); const server = await clusterDnsAddress(kube)`.
 */
import type { KubeApi, KubeObject } from "../controller/kube/api";
import type { ZoneInput } from "./zone";

export const DNS_SERVICE = { namespace: "kube-system", name: "kube-dns" } as const;

/** A pod whose container image is CoreDNS (`registry.k8s.io/coredns/coredns:v1.11.1`, `coredns/coredns`). */
export function isDnsPod(pod: KubeObject): boolean {
  return ((pod.spec?.containers ?? []) as { image?: string }[]).some((c) =>
    /(^|\/)coredns(:|@|$)/.test(c.image ?? ""),
  );
}

/** The cluster's state as the kubernetes plugin reads it. */
export async function zoneInputFrom(kube: KubeApi): Promise<ZoneInput> {
  const [services, slices, pods] = await Promise.all([
    kube.list("services"),
    kube.list("endpointslices"),
    kube.list("pods"),
  ]);
  // only what the zone reads: the objects cross process boundaries (the netns DNS pod)
  return {
    services: services.items.map((s) => ({ metadata: s.metadata, spec: s.spec })),
    slices: slices.items.map((s) => ({
      metadata: s.metadata,
      addressType: s.addressType,
      endpoints: s.endpoints,
      ports: s.ports,
    })),
    pods: pods.items.map((p) => ({
      metadata: { namespace: p.metadata.namespace, name: p.metadata.name },
      spec: { hostNetwork: p.spec?.hostNetwork },
      status: { podIP: p.status?.podIP },
    })),
  };
}

/** The kube-dns Service's ClusterIP, or why there is none. */
export async function clusterDnsAddress(kube: KubeApi): Promise<{ ip: string } | { error: string }> {
  const svc = await kube.get("services", DNS_SERVICE.name, DNS_SERVICE.namespace).catch(() => undefined);
  const ip = svc?.spec?.clusterIP;
  if (!svc)
    return {
      error:
        "no cluster DNS: there is no Service kube-system/kube-dns (apply scenarios/manifests/cluster-dns.yaml: CoreDNS and its Service, as kubeadm deploys them)",
    };
  if (!ip || ip === "None") return { error: "the Service kube-system/kube-dns has no cluster IP" };
  return { ip };
}

/**
 * A pod's /etc/resolv.conf as kubelet writes it (pkg/kubelet/network/dns): dnsPolicy ClusterFirst (the
 * default) gives the cluster DNS address, the search path `<ns>.svc.<domain> svc.<domain> <domain>` and
 * `options ndots:5`; `Default` and a host-network pod under ClusterFirst read the node's own (undefined here);
 * `None` takes `dnsConfig` alone. The node's own search domains, which kubelet appends, are left out.
 * Example: `kubeletResolvConf(pod, "10.96.0.10")` → "search default.svc.cluster.local …\nnameserver 10.96.0.10\n…".
 */
export function kubeletResolvConf(
  pod: KubeObject,
  dnsIp: string,
  domain = "cluster.local",
): string | undefined {
  const policy = (pod.spec?.dnsPolicy as string | undefined) ?? "ClusterFirst";
  const config = (pod.spec?.dnsConfig ?? {}) as {
    nameservers?: string[];
    searches?: string[];
    options?: { name: string; value?: string }[];
  };
  if (policy === "Default" || (policy === "ClusterFirst" && pod.spec?.hostNetwork === true)) return undefined;
  const ns = pod.metadata.namespace ?? "default";
  const cluster = policy !== "None";
  const nameservers = [...(cluster ? [dnsIp] : []), ...(config.nameservers ?? [])];
  const searches = [
    ...(cluster ? [`${ns}.svc.${domain}`, `svc.${domain}`, domain] : []),
    ...(config.searches ?? []),
  ];
  const options = new Map<string, string | undefined>(cluster ? [["ndots", "5"]] : []);
  for (const o of config.options ?? []) options.set(o.name, o.value);
  const lines = [
    ...(searches.length ? [`search ${searches.join(" ")}`] : []),
    ...nameservers.map((n) => `nameserver ${n}`),
    ...(options.size
      ? [`options ${[...options].map(([k, v]) => (v === undefined ? k : `${k}:${v}`)).join(" ")}`]
      : []),
  ];
  return `${lines.join("\n")}\n`;
}
