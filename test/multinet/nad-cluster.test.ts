/**
 * The embedded cluster serves Multus' NetworkAttachmentDefinition (k8s.cni.cncf.io/v1) as a real API server
 * with the CRD installed does: create, list, watch, generation, unknown fields refused like any kind.
 */
import { describe, expect, it } from "vitest";
import { createEmbeddedCluster } from "../../testbed/cluster/embedded/index";

const nad = (name: string, cidr: string) => ({
  apiVersion: "k8s.cni.cncf.io/v1",
  kind: "NetworkAttachmentDefinition",
  metadata: { name, namespace: "default", annotations: { "opencontrail.org/cidr": cidr } },
  spec: { config: '{"cniVersion":"0.3.1","type":"contrail-k8s-cni"}' },
});

describe("embedded cluster: NetworkAttachmentDefinitions", () => {
  it("stores, lists and versions them in their namespace", async () => {
    const c = createEmbeddedCluster({});
    try {
      await c.applyManifest(nad("blue", "10.10.0.0/24"));
      const list = await c.list("networkattachmentdefinitions", { namespace: "default" });
      expect(list.items.map((o) => o.metadata.name)).toEqual(["blue"]);
      const got = await c.get("networkattachmentdefinitions", "blue", "default");
      expect(got.metadata.generation).toBe(1);
      expect(got.spec.config).toContain("contrail-k8s-cni");
      await c.applyManifest({ ...nad("blue", "10.10.0.0/24"), spec: { config: "{}" } });
      expect((await c.get("networkattachmentdefinitions", "blue", "default")).metadata.generation).toBe(2);
    } finally {
      await c.close?.();
    }
  });

  it("refuses a config that is not a string, as the CRD's schema does", async () => {
    const c = createEmbeddedCluster({});
    try {
      const err = await c
        .applyManifest({ ...nad("red", "10.11.0.0/24"), spec: { config: 5 } })
        .catch((e) => e);
      expect(String(err.message)).toMatch(/config/);
    } finally {
      await c.close?.();
    }
  });
});
