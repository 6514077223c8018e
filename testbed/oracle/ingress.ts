/**
 * Kubernetes' Ingress routing (networking.k8s.io/v1), independent of Contrail: which backend Service and port a
 * request's Host and path reach by the Ingress's own rules, as the API reference states them — a rule's host is
 * exact or a `*.` wildcard of one label, compared case-insensitively without a port; a rule without host takes
 * every host; paths: `Exact` equal, `Prefix` element-wise on `/` (a trailing `/` ignored; `/` matches all);
 * `ImplementationSpecific` taken as `Prefix`; the host picks the rules in play (an exact host's, else a matching
 * wildcard's, else the hostless ones), among them the longest matching path wins, `Exact` over `Prefix` at
 * equal length; none: the default backend, else none (404 in most
 * controllers). The HTTP report holds haproxy's decision to it and says when they differ.
 *
 * Example: `kubernetesIngressBackend(ing.spec, "shop.example", "/cart/items")` → `{ service: "web", port: 80, path: "/cart", pathType: "Prefix" }`.
 */
import type { KubeObject } from "../../controller/kube/api";

export interface K8sIngressRoute {
  service: string;
  port: number | string;
  host?: string;
  path?: string;
  pathType?: string;
  default?: boolean;
}

function hostMatches(ruleHost: string | undefined, host: string | undefined): boolean {
  if (!ruleHost) return true;
  const h = (host ?? "").toLowerCase().replace(/:\d+$/, "");
  const r = ruleHost.toLowerCase();
  if (r.startsWith("*.")) {
    const rest = h.split(".").slice(1).join(".");
    return h.split(".").length === r.split(".").length && rest === r.slice(2);
  }
  return h === r;
}

function pathMatches(p: { path?: string; pathType?: string }, path: string): number | undefined {
  const want = p.path ?? "/";
  if (p.pathType === "Exact") return path === want ? want.length : undefined;
  const a = want.split("/").filter(Boolean);
  const b = path.split("/").filter(Boolean);
  return a.every((seg, i) => b[i] === seg) ? want.length : undefined;
}

const backendOf = (b: KubeObject["spec"]) =>
  b?.service
    ? {
        service: b.service.name as string,
        port: (b.service.port?.number ?? b.service.port?.name) as number | string,
      }
    : undefined;

export function kubernetesIngressBackend(
  spec: KubeObject["spec"],
  host: string | undefined,
  path: string,
): K8sIngressRoute | undefined {
  const clean = path.split("?")[0] ?? "/";
  const rules = (spec?.rules ?? []) as {
    host?: string;
    http?: { paths?: { path?: string; pathType?: string; backend?: KubeObject["spec"] }[] };
  }[];
  // the host decides the rules in play: an exact host's, else a matching wildcard's, else the hostless ones
  const kind = (h: string | undefined) => (!h ? 2 : h.startsWith("*.") ? 1 : 0);
  const matching = rules.filter((r) => hostMatches(r.host, host));
  const level = Math.min(...matching.map((r) => kind(r.host)));
  let best: { len: number; exact: boolean; route: K8sIngressRoute } | undefined;
  for (const rule of matching.filter((r) => kind(r.host) === level)) {
    for (const p of rule.http?.paths ?? []) {
      const len = pathMatches(p, clean);
      const be = backendOf(p.backend);
      if (len === undefined || !be) continue;
      const exact = p.pathType === "Exact";
      if (!best || len > best.len || (len === best.len && exact && !best.exact))
        best = { len, exact, route: { ...be, host: rule.host, path: p.path ?? "/", pathType: p.pathType } };
    }
  }
  if (best) return best.route;
  const d = backendOf(spec?.defaultBackend);
  return d ? { ...d, default: true } : undefined;
}
