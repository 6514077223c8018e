/** Seed 000 §3.3's opencontrail.org/name label: kube-manager R4.0+ builds no network per app; the pod unit says so. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../controller/config";
import type { KubeObject } from "../../controller/kube/api";
import { emptySnapshot, emptyView, putObject, translateAll } from "../../controller/translate";

function world(labels: Record<string, string>) {
  const snap = emptySnapshot();
  putObject(snap, "nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "n1" },
    status: { addresses: [{ type: "InternalIP", address: "10.0.0.1" }] },
  } as KubeObject);
  putObject(snap, "namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
  putObject(snap, "pods", {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "db", namespace: "shop", uid: "00000000-0000-4000-8000-000000000001", labels },
    spec: { nodeName: "n1", containers: [{ name: "c", image: "i" }] },
    status: { hostIP: "10.0.0.1" },
  } as KubeObject);
  const view = emptyView();
  view.routersByName.set("n1", ["default-global-system-config", "n1"]);
  return translateAll(snap, parseConfig("[KUBERNETES]\ncluster_name = k8s\n"), view);
}

describe("the app-isolation label", () => {
  it("is warned about on the pod, and the pod stays on its namespace's network (no network per app)", () => {
    const units = world({ "opencontrail.org/name": "db" });
    const warnings = units.flatMap((u) => u.warnings);
    expect(warnings).toEqual([
      expect.stringMatching(/^pod shop\/db: label opencontrail\.org\/name=db is ignored/),
    ]);
    const vns = units.flatMap((u) => u.objects).filter((o) => o.type === "virtual-network");
    expect(vns.map((v) => v.fq_name.at(-1))).not.toContain("db");
    const vmi = units.flatMap((u) => u.objects).find((o) => o.type === "virtual-machine-interface")!;
    expect(vmi.refs.virtual_network_refs?.[0]?.to?.at(-1)).toBe("k8s-default-pod-network");
  });

  it("says nothing for pods without it", () => {
    expect(world({ app: "db" }).flatMap((u) => u.warnings)).toEqual([]);
  });
});
