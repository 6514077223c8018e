/**
 * An operator's network named by cluster_pod_network (VncPodTest pre-creates `cluster-test-pod-network` before
 * kube-manager uses it): as upstream's `_create_network` does for a network that exists, the controller adds its
 * IPAM and policies to the refs the network has and leaves its allocation mode alone — the operator's subnet
 * stays. Over HTTP against the fake config API, the controller started after the network exists.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../controller/config";
import { type ControllerHandle, jsonLogger, startController } from "../../controller/index";
import { FakeKube, node, ns } from "../controller/fake-kube";
import { useApiServer } from "../support/api";

const api = useApiServer("each");
const running: ControllerHandle[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
});

describe("a cluster network the operator made", () => {
  it("keeps the operator's IPAM ref and allocation mode; the controller's IPAM and policies are added", async () => {
    await api.vnc.create("project", { fq_name: ["default-domain", "test-project"], parent_type: "domain" });
    const opRef = {
      to: ["default-domain", "default-project", "default-network-ipam"],
      attr: { ipam_subnets: [{ subnet: { ip_prefix: "10.32.0.0", ip_prefix_len: 12 } }] },
    };
    await api.vnc.create("virtual-network", {
      fq_name: ["default-domain", "test-project", "cluster-test-pod-network"],
      parent_type: "project",
      address_allocation_mode: "user-defined-subnet-only",
      network_ipam_refs: [opRef],
    });
    const kube = new FakeKube();
    await kube.create("nodes", node("n1", "10.0.0.1"));
    await kube.create("namespaces", ns("default"));
    const config = parseConfig(
      "[KUBERNETES]\ncluster_name = cluster\nip_fabric_forwarding = False\n" +
        "cluster_project = {'project': 'test-project'}\n" +
        "cluster_pod_network = {'domain': 'default-domain', 'project': 'test-project', 'name': 'cluster-test-pod-network'}\n",
    );
    const c = await startController({ kube, vncUrl: api.url, config, log: jsonLogger(() => {}, "error") });
    running.push(c);
    await c.waitIdle();
    const vn = await api.vnc.readByFqName("virtual-network", [
      "default-domain",
      "test-project",
      "cluster-test-pod-network",
    ]);
    expect(vn.address_allocation_mode).toBe("user-defined-subnet-only");
    const ipams = (vn.network_ipam_refs as { to: string[] }[]).map((r) => r.to.join(":")).sort();
    expect(ipams).toEqual([
      "default-domain:default-project:default-network-ipam",
      "default-domain:test-project:cluster-pod-ipam",
    ]);
    const policies = (vn.network_policy_refs as { to: string[] }[]).map((r) => r.to.at(-1)).sort();
    expect(policies).toEqual(["cluster-default-ip-fabric-np", "cluster-default-pod-service-np"]);
    // a second pass (resync) writes nothing more and keeps both
    await c.resync();
    const again = await api.vnc.readByFqName("virtual-network", [
      "default-domain",
      "test-project",
      "cluster-test-pod-network",
    ]);
    expect((again.network_ipam_refs as unknown[]).length).toBe(2);
  });
});
