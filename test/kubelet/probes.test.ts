/**
 * Kubelet's network probes on the testbed's real nodes: kubelet lives in the machine's root namespace, which is
 * not connected to the emulated networks, so the local-image overlay runs each tcpSocket / httpGet / grpc probe
 * inside the pod against its own port (`ctb-echo probe`), keeps the timing, and annotates the original.
 */
import { describe, expect, it } from "vitest";
import {
  ORIGINAL_PROBES_ANNOTATION,
  probeInPod,
  readinessDue,
  withLocalPodSpec,
} from "../../testbed/cluster/kubelet/index";

const ports = [
  { name: "http", containerPort: 8080 },
  { name: "dns", containerPort: 53, protocol: "UDP" },
];

describe("kubelet probes run inside the pod", () => {
  it("turns an httpGet probe on a named port into the echo image's in-pod probe, timing kept", () => {
    expect(
      probeInPod(
        { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 5, failureThreshold: 2 },
        ports,
      ),
    ).toEqual({
      periodSeconds: 5,
      failureThreshold: 2,
      exec: { command: ["/ctb-echo", "probe", "http:8080/healthz", "http"] },
    });
    expect(probeInPod({ httpGet: { port: 80, scheme: "HTTPS" } }, ports)).toEqual({
      exec: { command: ["/ctb-echo", "probe", "http:80/", "https"] },
    });
  });

  it("turns tcpSocket and grpc probes into a TCP connect; a port the container does not name fails", () => {
    expect(probeInPod({ tcpSocket: { port: "http" } }, ports)?.exec).toEqual({
      command: ["/ctb-echo", "probe", "tcp:8080"],
    });
    expect(probeInPod({ grpc: { port: 9000 } }, ports)?.exec).toEqual({
      command: ["/ctb-echo", "probe", "tcp:9000"],
    });
    // a UDP port of that name is not a TCP target: kubelet's probe would find no port either
    expect(probeInPod({ tcpSocket: { port: "dns" } }, ports)?.exec).toEqual({
      command: ["/ctb-echo", "probe", "tcp:0"],
    });
  });

  it("leaves out an exec probe (its command is not in the echo image) and annotates every original", () => {
    expect(probeInPod({ exec: { command: ["cat", "/tmp/ok"] } }, ports)).toBeUndefined();
    const spec = {
      containers: [
        {
          name: "web",
          image: "nginx",
          ports,
          readinessProbe: { tcpSocket: { port: "http" } },
          livenessProbe: { exec: { command: ["cat", "/tmp/ok"] } },
        },
      ],
    };
    const out = withLocalPodSpec({ metadata: { name: "web" } }, spec, "ctb.local/echo:v1");
    const c = (out.spec.containers as Record<string, unknown>[])[0]!;
    expect(c.readinessProbe).toEqual({ exec: { command: ["/ctb-echo", "probe", "tcp:8080"] } });
    expect(c.livenessProbe).toBeUndefined();
    expect(JSON.parse(out.metadata.annotations![ORIGINAL_PROBES_ANNOTATION]!)).toEqual({
      web: spec.containers[0] && {
        readinessProbe: spec.containers[0].readinessProbe,
        livenessProbe: spec.containers[0].livenessProbe,
      },
    });
  });
});

describe("a settled world waits for the first readiness probe", () => {
  const pod = (ready: boolean, probe?: Record<string, number>) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default" },
    spec: { containers: [{ name: "web", image: "x", ...(probe ? { readinessProbe: probe } : {}) }] },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [{ name: "web", state: { running: { startedAt: "2026-12-06T16:00:00Z" } } }],
    },
  });
  const started = Date.parse("2026-12-06T16:00:00Z");

  it("is due after the initial delay, one period and the timeout (and 2 s to report it)", () => {
    const p = pod(false, { initialDelaySeconds: 3, periodSeconds: 5, timeoutSeconds: 1 });
    expect(readinessDue(p, started + 1000)).toBe(started + 11_000);
    // defaults: period 10 s, timeout 1 s
    expect(readinessDue(pod(false, {}), started)).toBe(started + 13_000);
  });

  it("is nothing to wait for once Ready, without a probe, or past its time (Not Ready is then the answer)", () => {
    expect(readinessDue(pod(true, {}), started)).toBeUndefined();
    expect(readinessDue(pod(false), started)).toBeUndefined();
    expect(readinessDue(pod(false, {}), started + 60_000)).toBeUndefined();
  });
});
