/**
 * North-south through the netns datapath: TCP requests (connect, 64 bytes out, their echo back, close — each a
 * new flow) per second and p50/p99 latency
 * - from an external host through the SDN gateway to a LoadBalancer Service's address (gateway ECMP over two
 *   members, MPLSoUDP to the member's compute, floating-IP DNAT 80 → 8080 there);
 * - from a pod to the same address (out through the fabric to the gateway and back in);
 * - baseline, in the same run: the same requests from the pod straight to one member pod (pod to pod across
 *   two computes, no NAT).
 * And HTTP requests (GET with a Host header, a new connection each, `Connection: close`):
 * - from the external host to an Ingress's floating IP: gateway → haproxy (Debian's, in its service instance's
 *   namespace on node-1) → the Service's ClusterIP → a member pod, and the answer back the same way;
 * - from the pod to the same Ingress address;
 * - baseline, in the same run: the same GET from the pod straight to one member pod's HTTP responder.
 * Prints each figure, the ratios to the baseline and the load average. Needs root (network namespaces).
 * Run: `node --import tsx bench/north-south.bench.ts [seconds] [concurrency]` (default 3 s, 4 in flight).
 */
import { netnsUsable } from "../fake-vrouter/netns/index";
import { figuresLine, type LoadFigures, loadIn, netnsWorld, perSecond } from "./netns-load";
import { load } from "./support";
import { PUBLIC_FIP_POOL, PUBLIC_NETWORK_STEP } from "../test/support/public-network";

const SECONDS = Number(process.argv[2] ?? 3);
const CONCURRENCY = Number(process.argv[3] ?? 4);

const SCENARIO = `name: bench-north-south
controller:
  model: r5
  publicFipPool: ${PUBLIC_FIP_POOL}
nodes: [node-1, node-2]
externalHosts: [{ name: client, ip: 198.51.100.10 }]
steps:
${PUBLIC_NETWORK_STEP}
  - apply: |
      apiVersion: v1
      kind: Pod
      metadata: { name: web-1, namespace: default, labels: { app: web } }
      spec: { nodeName: node-2, containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: web-2, namespace: default, labels: { app: web } }
      spec: { nodeName: node-2, containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }] }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec: { type: LoadBalancer, selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: client, namespace: default }
      spec: { nodeName: node-1, containers: [{ name: c, image: agnhost }] }
      ---
      apiVersion: networking.k8s.io/v1
      kind: Ingress
      metadata: { name: front, namespace: default }
      spec:
        rules:
          - host: web.example
            http: { paths: [{ path: /, pathType: Exact, backend: { service: { name: web, port: { number: 80 } } } }] }
  - pods: [{ namespace: default, count: 3 }]
  - reach:
      - { from: "external:client", to: "lb:default/web", proto: tcp, port: 80, expect: allow }
      - { from: "external:client", to: "ingress:default/front", proto: http, host: web.example, path: /, expect: allow }
`;

/** A GET with a Host header on a new connection; a 200 is a success. */
const HTTP_ONE = (ip: string, port: number, host: string) => `
    const req = http.request({ host: "${ip}", port: ${port}, path: "/", agent: false, timeout: 2000,
      headers: { Host: "${host}", Connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? ok() : fail()));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", fail);
    req.end();`;

/** connect, 64 bytes out, their echo back, close. */
const TCP_ONE = (ip: string, port: number) => `
    let got = 0;
    const s = net.connect(${port}, "${ip}");
    s.setTimeout(2000, () => { s.destroy(); fail(); });
    s.on("connect", () => s.write(payload));
    s.on("data", (d) => { got += d.length; if (got >= 64) { s.destroy(); ok(); } });
    s.on("error", fail);`;

const opts = { seconds: SECONDS, concurrency: CONCURRENCY };
const measure = (netns: string, ip: string, port: number, httpHost?: string) =>
  httpHost
    ? loadIn(netns, `const http = require("node:http");`, HTTP_ONE(ip, port, httpHost), opts)
    : loadIn(
        netns,
        `const net = require("node:net"); const payload = Buffer.alloc(64, 120);`,
        TCP_ONE(ip, port),
        opts,
      );

const rps = perSecond;
const line = (label: string, f: LoadFigures) => figuresLine(label, f, "req", 44);

async function main(): Promise<void> {
  if (!(await netnsUsable())) {
    console.log("north-south bench: needs root and iproute2 — skipped");
    return;
  }
  const tb = await netnsWorld(SCENARIO, "bench-north-south");
  try {
    const svc = await tb.kube.get("services", "web", "default");
    const lbIp: string = svc.status.loadBalancer.ingress[0].ip;
    const web1 = await tb.kube.get("pods", "web-1", "default");
    const external = tb.netnsEndpoint("external:client")!.netns;
    const client = tb.netnsEndpoint("default/client")!.netns;
    console.log(`${SECONDS} s per path, ${CONCURRENCY} requests in flight; load average before: ${load()}`);
    const base = await measure(client, web1.status.podIP, 8080);
    const ext = await measure(external, lbIp, 80);
    const fromPod = await measure(client, lbIp, 80);
    console.log(line("pod → member pod (baseline, no NAT)", base));
    console.log(line("external host → gateway → LoadBalancer IP", ext));
    console.log(line("pod → fabric → gateway → LoadBalancer IP", fromPod));
    console.log(
      `ratio to baseline: external ${(rps(ext) / rps(base)).toFixed(2)}x req/s, p50 ${(ext.p50 / base.p50).toFixed(2)}x; ` +
        `pod via gateway ${(rps(fromPod) / rps(base)).toFixed(2)}x req/s, p50 ${(fromPod.p50 / base.p50).toFixed(2)}x`,
    );
    const ing = await tb.kube.get("ingresses", "front", "default");
    const ingIp: string = ing.status.loadBalancer.ingress[0].ip;
    console.log(`HTTP GET, ${SECONDS} s per path; load average before: ${load()}`);
    const hBase = await measure(client, web1.status.podIP, 8080, "web.example");
    const hExt = await measure(external, ingIp, 80, "web.example");
    const hPod = await measure(client, ingIp, 80, "web.example");
    console.log(line("HTTP pod → member pod (baseline)", hBase));
    console.log(line("HTTP external host → Ingress (haproxy)", hExt));
    console.log(line("HTTP pod → Ingress (haproxy)", hPod));
    console.log(
      `ratio to baseline: external via Ingress ${(rps(hExt) / rps(hBase)).toFixed(2)}x req/s, p50 ${(hExt.p50 / hBase.p50).toFixed(2)}x, p99 ${(hExt.p99 / hBase.p99).toFixed(2)}x; ` +
        `pod via Ingress ${(rps(hPod) / rps(hBase)).toFixed(2)}x req/s, p50 ${(hPod.p50 / hBase.p50).toFixed(2)}x, p99 ${(hPod.p99 / hBase.p99).toFixed(2)}x`,
    );
    console.log(`load average after: ${load()}`);
  } finally {
    await tb.close();
  }
}

await main();
