/**
 * A pod's secondary interface as a reach source or destination: `<ns>/<pod>@<network>`, where <network> is the
 * NetworkAttachmentDefinition's name (or `<ns>/<name>` for one in another namespace). Its address is the one
 * the pod's `k8s.v1.cni.cncf.io/network-status` annotation lists for that attachment (as Multus users read it);
 * the datapaths know the interface as the endpoint of that same name.
 *
 * Example: splitAttachment("default/fw@left") → { pod: "default/fw", network: "left" }
 */
import type { KubeObject } from "../../controller/kube/api";
import { NETWORK_STATUS_ANNOTATION } from "../../controller/translate/multinet";

export function splitAttachment(ref: string): { pod: string; network?: string } {
  const at = ref.indexOf("@");
  return at < 0 ? { pod: ref } : { pod: ref.slice(0, at), network: ref.slice(at + 1) };
}

/** The address of `pod`'s interface on `network`, from its network-status annotation; throws why not. */
export function attachmentIp(pod: KubeObject, network: string): string {
  const ns = pod.metadata.namespace!;
  const id = `${ns}/${pod.metadata.name}`;
  const want = network.includes("/") ? network : `${ns}/${network}`;
  const raw = pod.metadata.annotations?.[NETWORK_STATUS_ANNOTATION];
  if (!raw)
    throw new Error(
      `pod ${id} has no ${NETWORK_STATUS_ANNOTATION} annotation (phase ${pod.status?.phase ?? "unknown"}): it has no interface on ${network}`,
    );
  let list: { name?: string; interface?: string; ips?: string[] }[];
  try {
    list = JSON.parse(raw);
  } catch {
    throw new Error(`pod ${id}: ${NETWORK_STATUS_ANNOTATION} is not JSON`);
  }
  const entry = list.find((e) => e.name === want);
  const ip = entry?.ips?.[0];
  if (!ip)
    throw new Error(
      `pod ${id} has no interface on ${network} (its networks: ${list.map((e) => `${e.name} (${e.interface})`).join(", ")})`,
    );
  return ip;
}
