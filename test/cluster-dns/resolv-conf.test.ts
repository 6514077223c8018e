/** kubeletResolvConf: the resolv.conf kubelet writes per dnsPolicy. */
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { kubeletResolvConf } from "../../cluster-dns/cluster";

const pod = (spec: Record<string, unknown> = {}, namespace = "shop"): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace },
    spec: { containers: [], ...spec },
  }) as KubeObject;

describe("kubeletResolvConf", () => {
  it("ClusterFirst (the default): the cluster DNS, the namespace's search path, ndots:5", () => {
    expect(kubeletResolvConf(pod(), "10.96.0.10")).toBe(
      "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
    );
  });

  it("Default, and a host-network pod under ClusterFirst, read the node's own; ClusterFirstWithHostNet does not", () => {
    expect(kubeletResolvConf(pod({ dnsPolicy: "Default" }), "10.96.0.10")).toBeUndefined();
    expect(kubeletResolvConf(pod({ hostNetwork: true }), "10.96.0.10")).toBeUndefined();
    expect(
      kubeletResolvConf(pod({ hostNetwork: true, dnsPolicy: "ClusterFirstWithHostNet" }), "10.96.0.10"),
    ).toContain("nameserver 10.96.0.10\n");
  });

  it("None takes dnsConfig alone; dnsConfig adds to ClusterFirst and its options override", () => {
    const cfg = {
      nameservers: ["192.0.2.53"],
      searches: ["corp.example"],
      options: [{ name: "ndots", value: "2" }, { name: "edns0" }],
    };
    expect(kubeletResolvConf(pod({ dnsPolicy: "None", dnsConfig: cfg }), "10.96.0.10")).toBe(
      "search corp.example\nnameserver 192.0.2.53\noptions ndots:2 edns0\n",
    );
    expect(kubeletResolvConf(pod({ dnsConfig: cfg }), "10.96.0.10")).toBe(
      "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\nnameserver 192.0.2.53\noptions ndots:2 edns0\n",
    );
  });
});
