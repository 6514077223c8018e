/**
 * Templates in scenario manifests, filled in when the step is applied (so a case does not hard-code what the
 * cluster allocates): `${ip:<namespace>/<pod>}` → the pod's IP, e.g. an ipBlock `cidr: ${ip:y/a}/32`.
 *
 * Example: `await fillTemplates(tb, manifest)` → a copy with every template replaced.
 */
import type { KubeObject } from "../../controller/kube/api";
import type { Testbed } from "./testbed";

const TEMPLATE = /\$\{ip:([^/}\s]+)\/([^}\s]+)\}/g;

/** `m` with every `${ip:ns/pod}` replaced; throws naming the template when a pod or its address is missing. */
export async function fillTemplates(tb: Testbed, m: KubeObject): Promise<KubeObject> {
  const text = JSON.stringify(m);
  const refs = [...text.matchAll(TEMPLATE)];
  if (refs.length === 0) return m;
  const ips = new Map<string, string>();
  for (const [whole, ns, name] of refs) {
    if (ips.has(whole)) continue;
    const pod = await tb.kube.get("pods", name!, ns!).catch(() => undefined);
    const ip: string | undefined = pod?.status?.podIP;
    if (!ip) throw new Error(`${whole}: ${pod ? `pod ${ns}/${name} has no IP yet` : `no pod ${ns}/${name}`}`);
    ips.set(whole, ip);
  }
  return JSON.parse(text.replace(TEMPLATE, (whole) => ips.get(whole)!)) as KubeObject;
}
