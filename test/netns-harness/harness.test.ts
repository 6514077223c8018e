/**
 * The netns datapath inside the harness: `startTestbed(…, { datapath: "netns" })` plumbs every pod with the
 * real CNI executable into its own namespace, probes run from inside the source pod, answers map to the
 * runner's ProbeResult (a reply is `received`, RST / port unreachable is `refused`, silence carries the
 * vrouter's drop reason), a deleted pod loses its namespace (CNI DEL), and closing leaves nothing behind.
 * Needs root; skipped otherwise.
 */
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { listNetns, netnsUsable } from "../../fake-vrouter/netns/index";
import { exec, execIn } from "../../fake-vrouter/netns/ns";
import { type EnvTestbed, startTestbed } from "../../testbed/env";
import { parseScenario } from "../../testbed/scenario/load";
import { requireTier } from "../support/tiers";

const ROOT = resolve(import.meta.dirname, "../..");
const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");
const OURS = `ctb-${process.pid.toString(36)}-`;

const SCENARIO = `
name: netns-harness
controller: { model: r4 }
nodes: [node-1, node-2]
steps:
  - apply: |
      apiVersion: v1
      kind: Namespace
      metadata: { name: iso, annotations: { opencontrail.kubernetes.isolated: "true" } }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: a, namespace: default, labels: { app: web } }
      spec:
        nodeName: node-1
        containers: [{ name: c, image: agnhost, ports: [{ containerPort: 80 }, { containerPort: 53, protocol: UDP }] }]
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: b, namespace: default, labels: { app: web } }
      spec:
        nodeName: node-2
        containers: [{ name: c, image: agnhost, ports: [{ containerPort: 80 }] }]
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: c, namespace: iso }
      spec:
        nodeName: node-2
        containers: [{ name: c, image: agnhost, ports: [{ containerPort: 80 }] }]
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec:
        selector: { app: web }
        ports: [{ port: 8080, targetPort: 80 }]
`;

describe.skipIf(!usable)("netns datapath in the harness", () => {
  let tb: EnvTestbed;
  const pods = new Map<string, KubeObject>();
  const ip = (name: string) => pods.get(name)!.status!.podIP as string;

  beforeAll(async () => {
    const b = await exec("node", [join(ROOT, "build.mjs")]);
    if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
    const scenario = parseScenario(SCENARIO, join(ROOT, "test/netns-harness/inline.yaml"));
    tb = await startTestbed(scenario, {
      datapath: "netns",
      cluster: { kind: "embedded" },
      workDir: join(ROOT, ".ctb", "netns-harness"),
    });
    const step = scenario.steps[0]!;
    if (step.kind !== "apply") throw new Error("the fixture's first step applies the workloads");
    for (const o of step.manifests) {
      const res = o.kind === "Namespace" ? "namespaces" : o.kind === "Service" ? "services" : "pods";
      await tb.kube.create(res, o, o.metadata.namespace);
    }
    await tb.settle();
    for (const p of (await tb.kube.list("pods")).items) pods.set(p.metadata.name!, p);
  });

  afterAll(async () => {
    await tb?.close();
    expect(await listNetns(OURS)).toEqual([]);
  });

  it("gives every pod its own namespace with eth0 carrying the pod IP the CNI returned", async () => {
    for (const name of ["a", "b", "c"]) {
      expect(pods.get(name)?.status?.phase).toBe("Running");
      const ep = tb.netnsEndpoint(`${pods.get(name)!.metadata.namespace}/${name}`);
      expect(ep?.netns.startsWith(OURS)).toBe(true);
      expect(ep?.ip).toBe(ip(name));
      const addr = await execIn(ep!.netns, "ip", ["-4", "-o", "addr", "show", "dev", "eth0"]);
      expect(addr.stdout).toContain(`${ip(name)}/`);
    }
  });

  it("a TCP or UDP probe to a declared port is answered by the pod across computes", async () => {
    const tcp = await tb.probe({ from: "default/a", toIp: ip("b"), proto: "tcp", port: 80, count: 2 });
    expect(tcp).toMatchObject({ sent: 2, received: 2, refused: 0, servedBy: "default/b" });
    const udp = await tb.probe({ from: "default/b", toIp: ip("a"), proto: "udp", port: 53, count: 1 });
    expect(udp).toMatchObject({ sent: 1, received: 1 });
  });

  it("a port nobody listens on is refused (it got there), not received", async () => {
    const tcp = await tb.probe({ from: "default/a", toIp: ip("b"), proto: "tcp", port: 81, count: 1 });
    expect(tcp).toMatchObject({ sent: 1, received: 0, refused: 1 });
    const udp = await tb.probe({ from: "default/a", toIp: ip("b"), proto: "udp", port: 54, count: 1 });
    expect(udp).toMatchObject({ sent: 1, received: 0, refused: 1 });
  });

  it("a denied probe gets no answer and carries the vrouter's drop reason", async () => {
    const r = await tb.probe({ from: "default/a", toIp: ip("c"), proto: "icmp", count: 1 });
    expect(r.received).toBe(0);
    expect(r.drop?.reason).toMatch(/^[A-Z_]+$/);
    expect(r.trace.join("\n")).toContain("dropped on");
    const back = await tb.probe({ from: "iso/c", toIp: ip("a"), proto: "icmp", count: 2 });
    expect(back).toMatchObject({ sent: 2, received: 2 });
  });

  it("flows to a Service IP are answered by its members, and the harness tells which", async () => {
    const svc = await tb.kube.get("services", "web", "default");
    const r = await tb.probe({
      from: "iso/c",
      toIp: svc.spec!.clusterIP as string,
      proto: "tcp",
      port: 8080,
      count: 6,
    });
    expect(r.received).toBe(6);
    expect(Object.keys(r.servedByCounts).every((m) => m === "default/a" || m === "default/b")).toBe(true);
    expect(Object.values(r.servedByCounts).reduce((s, n) => s + n, 0)).toBe(6);
  });

  it("deleting a pod runs CNI DEL: its namespace and its tap are gone, its address stops answering", async () => {
    const netns = tb.netnsEndpoint("default/b")!.netns;
    const taps = async () =>
      (await execIn(`${OURS}node-2`, "ip", ["-o", "link", "show"])).stdout.match(/\btap\w+/g) ?? [];
    const before = await taps();
    await tb.kube.delete("pods", "b", "default");
    await tb.settle();
    expect(await listNetns(OURS)).not.toContain(netns);
    expect((await taps()).length).toBe(before.length - 1);
    expect(tb.netnsEndpoint("default/b")).toBeUndefined();
    const r = await tb.probe({ from: "default/a", toIp: ip("b"), proto: "icmp", count: 1 });
    expect(r.received).toBe(0);
  });
});
