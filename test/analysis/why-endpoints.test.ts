/**
 * `ctb why` between every kind of endpoint `ctb reach` takes: to a Service (the flow reaches its members or not:
 * their NetworkPolicies on the target port, a selector that matches no pod), from an external host to a
 * LoadBalancer (an ipBlock rule), the allowed flow's blocking change, and ends named wrongly.
 */
import { describe, expect, it } from "vitest";
import { formatDiff } from "../../testbed/runner/diff";
import { readFileSync } from "node:fs";
import { copiesNote, formatWhy, WhyEndpointError, why } from "../../testbed/runner/why";
import { parseScenario } from "../../testbed/scenario/load";
import { PUBLIC_FIP_POOL, PUBLIC_NETWORK_STEP } from "../support/public-network";
import { ask, up } from "./fixtures";

/** A LoadBalancer Service over pods a NetworkPolicy admits only from app=client pods; a Service selecting nothing. */
const WORLD = parseScenario(
  `name: why-endpoints
controller:
  model: r5
  netpolLayout: kubernetes
  publicFipPool: ${PUBLIC_FIP_POOL}
nodes: [node-1, node-2]
gateway: { name: sdn-gw }
externalHosts:
  - { name: client, ip: 198.51.100.10 }
steps:
${PUBLIC_NETWORK_STEP}
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: web, namespace: default, labels: { app: web } }
      spec: { nodeName: node-1, containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: client, namespace: default, labels: { app: client } }
      spec: { nodeName: node-2, containers: [{ name: c, image: agnhost }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: other, namespace: default, labels: { app: other } }
      spec: { nodeName: node-2, containers: [{ name: c, image: agnhost }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec: { type: LoadBalancer, selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: api, namespace: default }
      spec: { selector: { app: api }, ports: [{ port: 443, targetPort: 8080 }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: open, namespace: default, labels: { app: open } }
      spec: { nodeName: node-1, containers: [{ name: c, image: agnhost, ports: [{ containerPort: 80 }] }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: open, namespace: default }
      spec: { selector: { app: open }, ports: [{ port: 80 }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: wrong-port, namespace: default }
      spec: { selector: { app: open }, ports: [{ port: 80, targetPort: 8081 }] }
      ---
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: web, namespace: default }
      spec:
        podSelector: { matchLabels: { app: web } }
        policyTypes: [Ingress]
        ingress:
          - from: [{ podSelector: { matchLabels: { app: client } } }]
            ports: [{ port: 8080 }]
  - pods: [{ namespace: default, count: 4, phase: Running }]
`,
  "why-endpoints.yaml",
);

describe("ctb why, every kind of endpoint", () => {
  it("pod → Service dropped by the members' policy: fixed by a label and a rule on the target port", async () => {
    const r = await ask(WORLD, { from: "default/other", to: "service:default/web", proto: "tcp", port: 80 });
    expect(r.through).toBe(false);
    const text = formatWhy(r);
    expect(text).toContain("get it on port 8080");
    expect(r.changes.map((c) => c.how)).toContain(
      "kubectl label pod -n default other --overwrite app=client",
    );
    // the rule names the target port (what the policy sees after the DNAT), not the Service port
    expect(r.changes.map((c) => c.what)).toContain(
      'add to NetworkPolicy default/web the ingress rule {"from":[{"podSelector":{"matchLabels":{"app":"other"}}}],"ports":[{"protocol":"TCP","port":8080}]}',
    );
  }, 240_000);

  it("pod → a Service whose selector matches no pod: label a pod, or select its labels", async () => {
    const r = await ask(WORLD, {
      from: "default/client",
      to: "service:default/api",
      proto: "tcp",
      port: 443,
    });
    expect(r.through).toBe(false);
    expect(formatWhy(r)).toContain("selector app=api matches no running pod");
    expect(r.changes[0]!.how).toBe("kubectl label pod -n default web --overwrite app=api");
    expect(r.changes.map((c) => c.what)).toContain(
      "set Service default/api's selector to app=web (pod default/web's labels; app=api matches no pod)",
    );
  }, 240_000);

  it("external host → LoadBalancer blocked by a policy without an ipBlock: an ipBlock rule lets it through", async () => {
    const r = await ask(WORLD, { from: "external:client", to: "lb:default/web", proto: "tcp", port: 80 });
    expect(r.through).toBe(false);
    expect(r.changes.map((c) => c.what)).toContain(
      'add to NetworkPolicy default/web the ingress rule {"from":[{"ipBlock":{"cidr":"198.51.100.10/32"}}],"ports":[{"protocol":"TCP","port":8080}]}',
    );
    expect(formatWhy(r)).toMatch(/the smallest changes that would let it through/);
  }, 240_000);

  it("external host → a ClusterIP: not on the path from outside; type LoadBalancer, verified, is", async () => {
    const r = await ask(WORLD, {
      from: "external:client",
      to: "service:default/open",
      proto: "tcp",
      port: 80,
    });
    expect(r.through).toBe(false);
    expect(formatWhy(r)).toContain("a ClusterIP is an address of the cluster's own networks");
    expect(r.changes.map((c) => c.how)).toEqual([
      `kubectl patch service -n default open -p '{"spec":{"type":"LoadBalancer"}}'`,
    ]);
  }, 240_000);

  it("external host → a pod's own address: not on the path; a LoadBalancer Service over the pod, verified, is", async () => {
    const r = await ask(WORLD, { from: "external:client", to: "default/open", proto: "tcp", port: 80 });
    expect(r.through).toBe(false);
    expect(r.changes.map((c) => c.how)).toEqual([
      "kubectl expose pod -n default open --type LoadBalancer --name open-lb --port 80 --target-port 80 --protocol TCP",
    ]);
    // web's policy admits no ipBlock: exposing it alone is not enough, and no single change does both
    const web = await ask(WORLD, { from: "external:client", to: "default/web", proto: "tcp", port: 8080 });
    expect(web.changes).toEqual([]);
    expect(web.notEnough.map((c) => c.what)).toContain(
      "expose pod default/web as a LoadBalancer Service default/web-lb (a pod's own address is not on the path from outside; the flow then goes to the Service's load-balancer address; its selector app=web picks every pod so labelled)",
    );
  }, 240_000);

  it("a Service's targetPort nothing listens on: delivered and refused; the port its pods listen on answers", async () => {
    const r = await ask(WORLD, {
      from: "default/client",
      to: "service:default/wrong-port",
      proto: "tcp",
      port: 80,
    });
    expect(r.outcome).toBe("refused");
    expect(r.goal).toBe("answer");
    expect(formatWhy(r)).toContain("the smallest changes that would have it answered");
    expect(r.changes.map((c) => c.how)).toEqual([
      `kubectl patch service -n default wrong-port --type json -p '[{"op":"replace","path":"/spec/ports/0/targetPort","value":80}]'`,
    ]);
  }, 240_000);

  it("an allowed pod → Service flow: what blocks it", async () => {
    const r = await ask(WORLD, { from: "default/client", to: "service:default/web", proto: "tcp", port: 80 });
    expect(r.through).toBe(true);
    expect(r.goal).toBe("block");
    expect(r.changes.map((c) => c.how)).toContain("kubectl label pod -n default client app-");
  }, 240_000);

  it("pod → fabric host dropped by an egress policy: an ipBlock egress rule for the host's address", async () => {
    // scenarios/ip-fabric.yaml (default's pods forwarded in the fabric, host:ntp beside it), web pods' egress
    // then restricted to tcp 443
    const ipFabric = parseScenario(
      `${readFileSync("scenarios/ip-fabric.yaml", "utf8")}
  - apply: |
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: web-egress, namespace: default }
      spec:
        podSelector: { matchLabels: { app: web } }
        policyTypes: [Egress]
        egress: [{ ports: [{ port: 443 }] }]
`,
      "ip-fabric-egress.yaml",
    );
    const r = await ask(ipFabric, { from: "default/web1", to: "host:ntp", proto: "udp", port: 123 });
    expect(r.through).toBe(false);
    expect(r.changes[0]!.what).toBe(
      'add to NetworkPolicy default/web-egress the egress rule {"to":[{"ipBlock":{"cidr":"10.84.31.100/32"}}],"ports":[{"protocol":"UDP","port":123}]}',
    );
    // the pod network already reaches the host in the fabric: a SNAT changes nothing here
    expect(r.notEnough.map((c) => c.what)).toContain(
      "SNAT namespace default's pod network to the fabric (opencontrail.org/ip_fabric_snat=true)",
    );
  }, 240_000);

  it("says when the copies are not what the environment runs", () => {
    expect(copiesNote("sim", "embedded")).toBeUndefined();
    const note = copiesNote("netns", "kind")!;
    const text = formatWhy({
      flow: { from: "a/b", to: "a/c", proto: "icmp" },
      dest: "pod a/c",
      through: false,
      outcome: "dropped",
      goal: "let through",
      facts: [],
      changes: [],
      notEnough: [],
      copyNote: note,
    });
    expect(text).toContain(
      "(the copies ran on the simulated datapath and the embedded cluster; this environment runs the netns datapath and the kind cluster)",
    );
    const diff = formatDiff({
      a: "a.yaml",
      b: "b.yaml",
      onlyInA: [],
      onlyInB: [],
      compared: 1,
      differences: [],
      copyNote: "both sides ran on the simulated datapath and the embedded cluster; …",
    });
    expect(diff.trimEnd().split("\n").at(-1)).toBe(
      "(both sides ran on the simulated datapath and the embedded cluster; …)",
    );
  });

  it("ends named wrongly: a clear message (the CLI's exit 2)", async () => {
    const tb = await up(WORLD);
    try {
      const never = () => Promise.reject(new Error("no copy for a refused question"));
      for (const [to, message] of [
        ["service:default/nope", "service:default/nope: no Service default/nope"],
        ["default/nope", "no pod default/nope"],
        ["external:nope", "no external host nope in this scenario's externalHosts"],
        [
          "lb:default/api",
          "lb:default/api: Service default/api has no load-balancer address (it is type ClusterIP)",
        ],
      ] as const) {
        const e = await why(tb, never, { from: "default/client", to, proto: "tcp", port: 80 }).catch(
          (x) => x,
        );
        expect(e).toBeInstanceOf(WhyEndpointError);
        expect((e as Error).message).toBe(message);
      }
    } finally {
      await tb.close();
    }
  }, 120_000);
});
