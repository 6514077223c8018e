/**
 * Naming and identity: Contrail object names as kube-manager spells them, deterministic uuids (name-based,
 * RFC 4122 v5) so a restarted controller recreates nothing, unit keys, and the owner-marker annotations
 * (`owner: k8s`, `cluster`, `kind`, `namespace`, `name`) from which the reconciler finds its objects again.
 *
 * Example: `uuid5(podUid, "vmi/0")` is the same uuid on every run; `unitKeyOf(annotations, "k8s")` → "Pod/default/web".
 */
import { createHash } from "node:crypto";
import type { UnitKind } from "./types";

/** Namespace uuid for names derived from fq_names (fixed: changing it would orphan every object). */
const FQ_NAMESPACE = "6d1f4a3e-2b0c-5c8e-9a77-0c3b9e6f1d20";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** RFC 4122 version-5 uuid of `name` within namespace `ns` (a uuid; non-uuid strings are hashed in). */
export function uuid5(ns: string, name: string): string {
  const nsBytes = isUuid(ns)
    ? Buffer.from(ns.replace(/-/g, ""), "hex")
    : createHash("sha1").update(ns).digest();
  const h = createHash("sha1").update(nsBytes.subarray(0, 16)).update(name).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Deterministic uuid for an object identified only by type + fq_name within a cluster. */
export function fqUuid(cluster: string, type: string, fq: string[]): string {
  return uuid5(FQ_NAMESPACE, `${cluster}|${type}|${fq.join(":")}`);
}

export const unitKey = {
  cluster: () => "Cluster",
  node: (name: string) => `Node/${name}`,
  namespace: (ns: string) => `Namespace/${ns}`,
  pod: (ns: string, name: string) => `Pod/${ns}/${name}`,
  service: (ns: string, name: string) => `Service/${ns}/${name}`,
  ingress: (ns: string, name: string) => `Ingress/${ns}/${name}`,
  policies: () => "Policies",
  tags: () => "Tags",
};

export interface ParsedUnitKey {
  kind: UnitKind;
  namespace?: string;
  name?: string;
}

export function parseUnitKey(key: string): ParsedUnitKey {
  const [kind, a, b] = key.split("/");
  switch (kind) {
    case "Cluster":
    case "Policies":
    case "Tags":
      return { kind };
    case "Node":
    case "Namespace":
      return { kind, name: a };
    case "Pod":
    case "Service":
    case "Ingress":
      return { kind, namespace: a, name: b };
    default:
      throw new Error(`bad unit key "${key}"`);
  }
}

export type KeyValue = { key: string; value: string };

/**
 * Owner marker for objects of a unit; `extra` pairs (VMI index/network) follow the marker. `owner` is
 * kubernetes_cluster_owner (`k8s`).
 */
export function ownerAnnotations(cluster: string, unit: string, extra: KeyValue[] = [], owner = "k8s") {
  const u = parseUnitKey(unit);
  const kv: KeyValue[] = [
    { key: "owner", value: owner },
    { key: "cluster", value: cluster },
    { key: "kind", value: u.kind },
  ];
  if (u.namespace !== undefined) kv.push({ key: "namespace", value: u.namespace });
  kv.push({ key: "name", value: u.name ?? cluster });
  return { key_value_pair: [...kv, ...extra] };
}

/** The unit an object belongs to, from its annotations; undefined when not owned by this cluster. */
export function unitKeyOf(
  annotations: { key_value_pair?: KeyValue[] } | undefined,
  cluster: string,
  owner = "k8s",
): string | undefined {
  const kv = new Map((annotations?.key_value_pair ?? []).map((p) => [p.key, p.value]));
  if (kv.get("owner") !== owner || kv.get("cluster") !== cluster) return undefined;
  const kind = kv.get("kind");
  const name = kv.get("name");
  const ns = kv.get("namespace");
  switch (kind) {
    case "Cluster":
      return unitKey.cluster();
    case "Policies":
      return unitKey.policies();
    case "Tags":
      return unitKey.tags();
    case "Node":
      return name ? unitKey.node(name) : undefined;
    case "Namespace":
      return name ? unitKey.namespace(name) : undefined;
    case "Pod":
      return name && ns ? unitKey.pod(ns, name) : undefined;
    case "Service":
      return name && ns ? unitKey.service(ns, name) : undefined;
    case "Ingress":
      return name && ns ? unitKey.ingress(ns, name) : undefined;
    default:
      return undefined;
  }
}

/** Label key/value → tag name `type=value` (type lower-cased as the API stores it, `/` spelled `__slash__`). */
export function tagName(key: string, value: string): string {
  return `${key.toLowerCase().replace(/\//g, "__slash__")}=${value}`;
}
