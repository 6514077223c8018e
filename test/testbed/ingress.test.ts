/**
 * An Ingress followed through its life on the simulated datapath: a path changed (the old one answers 503, the
 * new one the backend, nothing of the old listener left), its backend Service deleted (no listener for it, a
 * warning naming the Ingress) and created again (served again), another ingress.class (left alone), no public
 * pool (a warning; reachable on its VIP from a pod), and the delete (load balancer, service instance, its VM and
 * interface all gone).
 */
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { type RunReport, runScenario } from "../../testbed/runner/run";
import { parseScenario } from "../../testbed/scenario/load";
import { PUBLIC_FIP_POOL, PUBLIC_NETWORK_STEP } from "../support/public-network";

async function run(text: string): Promise<RunReport> {
  const scenario = parseScenario(text, "ingress.yaml");
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    return await runScenario(scenario, tb);
  } finally {
    await tb.close();
  }
}

const WEB = `apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec: { selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }`;

const withPool = (steps: string) => `name: ingress-life
controller:
  model: r5
  publicFipPool: ${PUBLIC_FIP_POOL}
nodes: [node-1, node-2]
gateway: { name: sdn-gw }
externalHosts: [{ name: client, ip: 198.51.100.10 }]
steps:
${PUBLIC_NETWORK_STEP}
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: web, namespace: default, labels: { app: web } }
      spec: { nodeName: node-2, containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
      ---
      ${WEB}
      ---
      apiVersion: networking.k8s.io/v1
      kind: Ingress
      metadata: { name: front, namespace: default }
      spec:
        rules:
          - host: a.example
            http: { paths: [{ path: /cart, pathType: Exact, backend: { service: { name: web, port: { number: 80 } } } }] }
  - pods: [{ namespace: default, count: 1 }]
${steps}`;

const failures = (r: RunReport) =>
  r.checks.filter((c) => c.verdict !== "pass").map((c) => `${c.line} ${c.name}\n${c.detail ?? ""}`);

describe("Ingress through its life (sim)", () => {
  it("follows a path change, its backend Service going and coming back, and its delete", async () => {
    const r = await run(
      withPool(`  - reach:
      - { from: "external:client", to: "ingress:default/front", proto: http, host: a.example, path: /cart, expect: allow, backend: "web:80" }
  - patch:
      kind: Ingress
      apiVersion: networking.k8s.io/v1
      name: front
      namespace: default
      patch: { spec: { rules: [{ host: a.example, http: { paths: [{ path: /basket, pathType: Exact, backend: { service: { name: web, port: { number: 80 } } } }] } }] } }
  - contrail:
      - { type: loadbalancer-listener, name: "front__*", count: 1 }
      - { type: loadbalancer-pool, name: "front__*", count: 1, fields: { annotations: { key_value_pair: [{ key: path, value: /basket }] } } }
  - reach:
      - { from: "external:client", to: "ingress:default/front", proto: http, host: a.example, path: /basket, expect: allow, backend: "web:80" }
      - { from: "external:client", to: "ingress:default/front", proto: http, host: a.example, path: /cart, expect: deny, droppedBy: "no rule matched" }
  - delete: [{ kind: Service, name: web, namespace: default }]
  - contrail:
      - { type: loadbalancer-listener, name: "front__*", exists: false }
  - reach:
      - { from: "external:client", to: "ingress:default/front", proto: http, host: a.example, path: /basket, expect: deny }
  - apply: |
      ${WEB}
  - reach:
      - { from: "external:client", to: "ingress:default/front", proto: http, host: a.example, path: /basket, expect: allow, backend: "web:80" }
  - delete: [{ kind: Ingress, apiVersion: networking.k8s.io/v1, name: front, namespace: default }]
  - contrail:
      - { type: loadbalancer, name: "front__*", exists: false }
      - { type: service-instance, exists: false }
      - { type: virtual-machine-interface, name: "*__1__right", exists: false }
      - { type: floating-ip, fqName: "default-domain:admin:public:pool:*", exists: false }
`),
    );
    expect(failures(r)).toEqual([]);
    const reach = r.checks.filter((c) => c.kind === "reach");
    expect(reach).toHaveLength(5);
    // two entries of one reach step: each check points at its own line, not the step's
    expect(reach[2]!.line).toBe(reach[1]!.line + 1);
    // the backend Service gone, haproxy has no listener: the request is refused, and the report says by whom
    expect(reach[3]!.output).toContain("→ connection refused by haproxy: no listener on port 80");
    expect(r.warnings.map((w) => w.text)).toContainEqual(
      expect.stringMatching(
        /^ingress default\/front: backend a\.example\/basket → web:80: no service default\/web/,
      ),
    );
  }, 60_000);

  it("a path whose Service is missing: 503, and no 'Kubernetes disagrees' (it would fail there too); a Prefix path still gets one", async () => {
    const r = await run(
      withPool(`  - patch:
      kind: Ingress
      apiVersion: networking.k8s.io/v1
      name: front
      namespace: default
      patch: { spec: { rules: [{ host: a.example, http: { paths: [{ path: /cart, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }, { path: /gone, pathType: Exact, backend: { service: { name: nope, port: { number: 80 } } } }] } }] } }
  - reach:
      - { from: "external:client", to: "ingress:default/front", proto: http, host: a.example, path: /gone, expect: deny, droppedBy: "no rule matched" }
      - { from: "external:client", to: "ingress:default/front", proto: http, host: a.example, path: /cart/x, expect: deny, droppedBy: "no rule matched" }
`),
    );
    expect(failures(r)).toEqual([]);
    const [gone, prefix] = r.checks.filter((c) => c.kind === "reach");
    expect(gone!.output).not.toContain("Kubernetes disagrees");
    expect(prefix!.output).toContain(
      "Kubernetes disagrees: by its rule host a.example path /cart (pathType Prefix) the request goes to web:80; kube-manager's haproxy matches paths exactly (acl path)",
    );
  }, 60_000);

  it("another ingress.class is left alone; without a public pool the Ingress answers on its VIP, with a warning", async () => {
    const r = await run(`name: ingress-no-pool
controller: { model: r5 }
nodes: [node-1, node-2]
steps:
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: web, namespace: default, labels: { app: web } }
      spec: { nodeName: node-2, containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: client, namespace: default }
      spec: { nodeName: node-1, containers: [{ name: c, image: agnhost }] }
      ---
      ${WEB}
      ---
      apiVersion: networking.k8s.io/v1
      kind: Ingress
      metadata: { name: front, namespace: default }
      spec: { defaultBackend: { service: { name: web, port: { number: 80 } } } }
      ---
      apiVersion: networking.k8s.io/v1
      kind: Ingress
      metadata: { name: other, namespace: default, annotations: { kubernetes.io/ingress.class: nginx } }
      spec: { defaultBackend: { service: { name: web, port: { number: 80 } } } }
  - pods: [{ namespace: default, count: 2 }]
  - contrail:
      - { type: loadbalancer, of: ingress default/other, exists: false }
      - { type: floating-ip, of: ingress default/front, exists: false }
  - reach:
      - { from: default/client, to: "ingress:default/front", proto: http, path: /anything, expect: allow, backend: "default backend → backend web:80" }
`);
    expect(failures(r)).toEqual([]);
    const texts = r.warnings.map((w) => w.text);
    expect(texts).toContainEqual(expect.stringContaining("ingress default/front: no floating-ip pool"));
    expect(texts).toContainEqual(
      expect.stringContaining('ingress default/other: kubernetes.io/ingress.class is "nginx"'),
    );
  }, 60_000);

  it("haproxy reaches a backend pod a NetworkPolicy isolates by k8s-Ingress's rule; tags and rule follow membership, the Ingress and the Service", async () => {
    const r = await run(
      withPool(`  - apply: |
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: deny-web, namespace: default }
      spec: { podSelector: { matchLabels: { app: web } }, policyTypes: [Ingress] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: client, namespace: default }
      spec: { nodeName: node-1, containers: [{ name: c, image: agnhost }] }
  - pods: [{ namespace: default, count: 2 }]
  - contrail:
      - { type: virtual-machine-interface, of: pod default/web, refs: { tag: [app=web, namespace=default, k8s-svc=web] } }
      - { type: virtual-machine-interface, name: "*__1__right", refs: { tag: [ingress=k8s-default-front, namespace=default] } }
      - { type: firewall-policy, fqName: default-policy-management:k8s-Ingress, refs: { firewall-rule: k8s-Ingress-default-front-web } }
  - reach:
      - { from: default/client, to: "service:default/web", proto: tcp, port: 80, expect: deny, droppedBy: "default-ingress-deny-web-denyall" }
      - { from: "external:client", to: "ingress:default/front", proto: http, host: a.example, path: /cart, expect: allow, backend: "web:80" }
  - title: the pod leaves the Service
    patch: { kind: Pod, name: web, namespace: default, patch: { metadata: { labels: { app: old } } } }
  - contrail:
      - { type: virtual-machine-interface, of: pod default/web, refs: { tag: [app=old, namespace=default] } }
      - { type: virtual-machine-interface, of: pod default/web, refs: { tag: k8s-svc=web }, exists: false }
      - { type: tag, fqName: k8s-svc=web }
  - delete: [{ kind: Ingress, apiVersion: networking.k8s.io/v1, name: front, namespace: default }]
  - contrail:
      - { type: firewall-rule, fqName: default-policy-management:k8s-Ingress-default-front-web, exists: false }
      - { type: tag, fqName: ingress=k8s-default-front, exists: false }
  - delete: [{ kind: Service, name: web, namespace: default }]
  - contrail:
      - { type: tag, fqName: k8s-svc=web, exists: false }
`),
    );
    expect(failures(r)).toEqual([]);
    // a passing deny names where and by which rule the packet was dropped, not only "no answer"
    const denied = r.checks.find((c) => c.kind === "reach" && c.name.includes("service:default/web"))!;
    expect(denied.output).toMatch(
      /→ no answer\n {2}dropped at node-\d firewall-policy: FLOW_ACTION_DROP\n {4}node-\d firewall-policy\(drop\): .*firewall-rule default-policy-management:default-ingress-deny-web-denyall/,
    );
    const http = r.checks.find((c) => c.kind === "reach" && c.name.includes("http://"))!;
    expect(http.output).toContain(
      "haproxy → server: destination end pass, firewall-rule k8s-Ingress-default-front-web (firewall-policy k8s-Ingress)",
    );
    expect(http.output).toMatch(
      /Kubernetes disagrees: NetworkPolicy default\/deny-web isolates default\/web and admits no connection from the Ingress proxy/,
    );
  }, 60_000);
});
