/**
 * kubeletView: a pod as a real kubelet node leaves it (local-image overlay, kubelet's own status fields) and the
 * same pod as the node emulator leaves it look alike; what both decide still differs when it differs.
 */
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { ORIGINAL_IMAGES_ANNOTATION, withLocalPodSpec } from "../../testbed/cluster/kubelet/index";
import { kubeletView } from "./kubelet-view";

const spec = {
  initContainers: [{ name: "init", image: "busybox" }],
  containers: [
    {
      name: "web",
      image: "nginx",
      ports: [{ name: "http", containerPort: 80 }],
      readinessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 5 },
    },
  ],
};
const emulated: KubeObject = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "default", labels: { app: "web" } },
  spec,
  status: {
    phase: "Running",
    podIP: "10.32.0.5",
    conditions: [
      { type: "PodScheduled", status: "True" },
      { type: "Initialized", status: "True" },
      { type: "ContainersReady", status: "True" },
      { type: "Ready", status: "True" },
    ],
    containerStatuses: [
      {
        name: "web",
        image: "nginx",
        imageID: "",
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: {} },
      },
    ],
  },
};
const local = withLocalPodSpec(emulated, spec, "ctb.local/echo:v1");
const real: KubeObject = {
  ...emulated,
  metadata: local.metadata,
  spec: local.spec,
  status: {
    ...emulated.status,
    observedGeneration: 1,
    qosClass: "BestEffort",
    conditions: [
      { type: "PodReadyToStartContainers", status: "True" },
      ...emulated.status.conditions,
    ].reverse(),
    containerStatuses: [
      {
        name: "web",
        image: "ctb.local/echo:v1",
        imageID: "sha256:1234",
        containerID: "containerd://abcd",
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: "2026-12-06T15:00:00Z" } },
      },
    ],
  },
};

describe("kubeletView", () => {
  it("makes a kubelet node's pod and the emulator's alike where only the overlay and kubelet's own fields differ", () => {
    expect(real.metadata.annotations?.[ORIGINAL_IMAGES_ANNOTATION]).toBe("web=nginx,init:init=busybox");
    expect(kubeletView("pods", real)).toEqual(kubeletView("pods", emulated));
  });

  it("keeps what both decide: readiness, phase, addresses", () => {
    const notReady = structuredClone(real);
    notReady.status.conditions.find((c: { type: string }) => c.type === "Ready").status = "False";
    expect(kubeletView("pods", notReady)).not.toEqual(kubeletView("pods", emulated));
    const moved = { ...real, status: { ...real.status, podIP: "10.32.0.6" } };
    expect(kubeletView("pods", moved)).not.toEqual(kubeletView("pods", emulated));
  });

  it("narrows a Deployment's pod template the same way", () => {
    const dep = (tpl: { metadata: KubeObject["metadata"]; spec: Record<string, unknown> }): KubeObject => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "default" },
      spec: { replicas: 1, template: tpl },
    });
    const a = dep({ metadata: { labels: { app: "web" } } as KubeObject["metadata"], spec });
    const b = dep(
      withLocalPodSpec({ metadata: { labels: { app: "web" } } as KubeObject["metadata"] }, spec, "x"),
    );
    expect(kubeletView("deployments", b)).toEqual(kubeletView("deployments", a));
  });
});
