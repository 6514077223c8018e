/**
 * Cluster DNS on the netns datapath: queries per second and p50/p99 latency of A queries for a Service name
 * (`web.default.svc.cluster.local`, answered from the cluster's state by the CoreDNS pod's server), each a UDP
 * datagram with its own source port (a new flow), `concurrency` in flight:
 * - from a client pod on the other node to the kube-dns ClusterIP (ECMP floating IP, DNAT to the CoreDNS pod,
 *   MPLSoUDP between the computes);
 * - from a client pod on the CoreDNS pod's own node to the same ClusterIP;
 * - baseline, in the same run: the same server queried inside its own pod namespace (127.0.0.1: no vrouter).
 *   The baseline, the server queried from the root namespace of its own compute, has no client to run
 *   on this datapath: a compute's namespace holds only its fabric port and the vrouter process (which is the
 *   compute's whole stack, answering for its fabric IP itself); there is no vhost0 with a kernel stack behind it,
 *   so nothing in that namespace can open a socket towards the pod. The pod's own namespace is the nearest
 *   vrouter-free path to the same server.
 * Prints each figure, the ratios to the baseline and the load average. Needs root (network namespaces).
 * Run: `node --import tsx bench/dns.bench.ts [seconds] [concurrency]` (default 3 s, 4 in flight).
 */
import { join } from "node:path";
import { query } from "../cluster-dns/zone";
import { netnsUsable } from "../fake-vrouter/netns/index";
import { figuresLine, type LoadFigures, loadIn, netnsWorld, perSecond } from "./netns-load";
import { load } from "./support";

const SECONDS = Number(process.argv[2] ?? 3);
const CONCURRENCY = Number(process.argv[3] ?? 4);
const NAME = "web.default.svc.cluster.local";

const WORLD = `name: bench-dns
controller: { model: r5 }
nodes: [node-1, node-2]
steps:
  - apply: { file: ${join(import.meta.dirname, "../scenarios/manifests/cluster-dns.yaml")} }
  - apply: |
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: default }
      spec: { selector: { app: web }, ports: [{ port: 80 }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: a, namespace: default }
      spec: { nodeName: node-2, containers: [{ name: c, image: agnhost }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: b, namespace: default }
      spec: { nodeName: node-1, containers: [{ name: c, image: agnhost }] }
  - pods: [{ namespace: kube-system, name: coredns }, { namespace: default, count: 2 }]
  - reach: { from: default/a, to: "dns:kube-dns.kube-system.svc.cluster.local", proto: udp, port: 53, expect: allow }
`;

/** One A query per request, each from a socket of its own (a new flow); an answer with records is a success. */
const measure = (netns: string, ip: string) =>
  loadIn(
    netns,
    `const dgram = require("node:dgram"); const q = Buffer.from("${query(NAME).toString("hex")}", "hex");`,
    `const s = dgram.createSocket("udp4");
    const done = (good) => { clearTimeout(t); s.close(); good ? ok() : fail(); };
    const t = setTimeout(() => done(false), 2000);
    s.on("message", (m) => done((m[3] & 15) === 0 && m.readUInt16BE(6) > 0));
    s.on("error", () => done(false));
    s.send(q, 53, "${ip}");`,
    { seconds: SECONDS, concurrency: CONCURRENCY },
  );

const line = (label: string, f: LoadFigures) => figuresLine(label, f, "queries");

async function main(): Promise<void> {
  if (!(await netnsUsable())) {
    console.log("dns bench: needs root and iproute2 — skipped");
    return;
  }
  const tb = await netnsWorld(WORLD, "bench-dns");
  try {
    const dnsIp: string = (await tb.kube.get("services", "kube-dns", "kube-system")).spec.clusterIP;
    const coredns = tb.netnsEndpoint("kube-system/coredns")!;
    const [a, b] = [tb.netnsEndpoint("default/a")!, tb.netnsEndpoint("default/b")!];
    const near = a.node === coredns.node ? a : b;
    const far = near === a ? b : a;
    console.log(
      `${SECONDS} s per path, ${CONCURRENCY} queries in flight, CoreDNS on ${coredns.node}; load average before: ${load()}`,
    );
    const base = await measure(coredns.netns, "127.0.0.1");
    const sameNode = await measure(near.netns, dnsIp);
    const otherNode = await measure(far.netns, dnsIp);
    console.log(line("CoreDNS pod's own namespace, 127.0.0.1 (baseline)", base));
    console.log(line(`pod on ${near.node} → kube-dns ClusterIP`, sameNode));
    console.log(line(`pod on ${far.node} → kube-dns ClusterIP`, otherNode));
    console.log(
      `ratio to baseline: same node ${(perSecond(sameNode) / perSecond(base)).toFixed(2)}x queries/s, p99 ${(sameNode.p99 / base.p99).toFixed(2)}x; ` +
        `other node ${(perSecond(otherNode) / perSecond(base)).toFixed(2)}x queries/s, p99 ${(otherNode.p99 / base.p99).toFixed(2)}x`,
    );
    console.log(`load average after: ${load()}`);
  } finally {
    await tb.close();
  }
}

await main();
