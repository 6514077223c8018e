/**
 * The controller against the embedded cluster (testbed/cluster/embedded) and the real fake API: a
 * Deployment behind a Service in an isolated namespace, scheduled by the embedded scheduler; pods get ports,
 * the service its loadbalancer; a kubelet stand-in reporting pod IPs makes endpoints, hence members; scaling
 * down removes the pods' objects.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { defaultConfig } from "../../controller/config";
import { type ControllerHandle, jsonLogger, startController } from "../../controller/index";
import type { KubeObject } from "../../controller/kube/api";
import { VncClient } from "../../controller/vnc/client";
import { type ApiServer, startApiServer } from "../../fake-contrail-api/server";
import { createEmbeddedCluster, type EmbeddedCluster } from "../../testbed/cluster/embedded";
import { node } from "./fake-kube";

let api: ApiServer;
let cluster: EmbeddedCluster;
let controller: ControllerHandle | undefined;

beforeEach(async () => {
  api = await startApiServer({ port: 0, quiet: true });
  cluster = createEmbeddedCluster({ seed: 1 });
});
afterEach(async () => {
  await controller?.stop();
  controller = undefined;
  cluster.close();
  await api.close();
});

async function settle() {
  for (let i = 0; i < 5; i++) {
    await cluster.waitQuiet();
    await controller!.waitIdle();
  }
}

it("turns a Deployment and its Service in an isolated namespace into Contrail objects (r4)", async () => {
  const vnc = new VncClient(api.url);
  const n1 = node("n1", "192.168.1.1");
  n1.status.conditions = [{ type: "Ready", status: "True" }];
  await cluster.create("nodes", n1);
  await cluster.applyManifest({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "shop", annotations: { "opencontrail.kubernetes.isolated": "true" } },
  });
  await cluster.applyManifest({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [{ name: "web", image: "nginx", ports: [{ name: "http", containerPort: 8080 }] }],
        },
      },
    },
  });
  await cluster.applyManifest({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "shop" },
    spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: "http" }] },
  });
  controller = await startController({
    kube: cluster,
    vncUrl: api.url,
    config: defaultConfig("r4"),
    log: jsonLogger(() => {}),
  });
  await settle();

  const vms = await vnc.list("virtual-machine");
  expect(vms.map((v) => v.fq_name[0]).filter((n) => n.startsWith("k8s__shop__web-"))).toHaveLength(3);
  expect((await vnc.list("virtual-network")).map((v) => v.fq_name.join(":"))).toContain(
    "default-domain:shop:shop-vn",
  );
  const svc = await cluster.get("services", "web", "shop");
  const lb = await vnc.read("loadbalancer", svc.metadata.uid!);
  expect(lb.loadbalancer_properties.vip_address).toBe(svc.spec.clusterIP);

  // kubelet stand-in: report the pods running with addresses → endpoints → one member per pod, port 8080
  const { items: pods } = await cluster.list("pods", { namespace: "shop" });
  for (const [i, p] of pods.entries()) {
    await cluster.patchStatus("pods", p.metadata.name!, "shop", {
      status: {
        phase: "Running",
        podIP: `10.47.255.${252 - i}`,
        hostIP: "192.168.1.1",
        conditions: [{ type: "Ready", status: "True" }],
      },
    });
  }
  await settle();
  const members = await vnc.list("loadbalancer-member", { detail: true });
  expect(members).toHaveLength(3);
  expect(members.every((m) => m.loadbalancer_member_properties.protocol_port === 8080)).toBe(true);

  // scale down: the removed pods' VMs, interfaces and members go
  await cluster.patch("deployments", "web", "shop", { spec: { replicas: 1 } });
  await settle();
  const left = (await vnc.list("virtual-machine")).filter((v) => v.fq_name[0].startsWith("k8s__shop__"));
  expect(left).toHaveLength(1);
  const remaining: KubeObject[] = (await cluster.list("pods", { namespace: "shop" })).items;
  expect(left[0].uuid).toBe(remaining[0].metadata.uid);
  expect(await vnc.list("loadbalancer-member")).toHaveLength(1);
  expect(controller.status().failing).toBe(0);
});
