/**
 * The embedded cluster under load: one Deployment of P replicas behind a Service on 3 nodes, with a node
 * emulator stand-in reporting every pod Running/Ready, timed until the EndpointSlices list every pod as ready
 * (API writes, validation, scheduler, ReplicaSet, endpoints and slices, and a watch on pods all included).
 * Baseline in the same run: the same number of pod writes straight into the object store (no API layer,
 * no controllers), i.e. the floor of keeping the objects at all.
 *
 * Run: `npx tsx bench/cluster-embedded.bench.ts [pods]` (default 500). Prints both times and the ratio.
 */
import type { KubeObject } from "../controller/kube/api";
import { createEmbeddedCluster } from "../testbed/cluster/embedded";
import { ObjectStore } from "../testbed/cluster/embedded/store";

const P = Number(process.argv[2] ?? 500);

function podManifest(i: number): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `web-${i}`, namespace: "default", uid: `uid-${i}`, labels: { app: "web" } },
    spec: {
      nodeName: `node-${i % 3}`,
      containers: [{ name: "web", image: "nginx", ports: [{ containerPort: 80 }] }],
    },
    status: { phase: "Running", podIP: `10.47.${Math.floor(i / 250)}.${i % 250}` },
  };
}

async function full(): Promise<{ ms: number; events: number }> {
  const c = createEmbeddedCluster({ seed: 1 });
  let events = 0;
  await c.watch(
    "pods",
    { resourceVersion: c.resourceVersion },
    () => events++,
    () => {},
  );
  const t0 = performance.now();
  for (let n = 0; n < 3; n++) {
    await c.create("nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: `node-${n}` },
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
  }
  await c.create("services", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web" },
    spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
  });
  await c.create("deployments", {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web" },
    spec: {
      replicas: P,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [{ name: "web", image: "nginx", ports: [{ name: "http", containerPort: 8080 }] }],
        },
      },
    },
  });
  await c.waitQuiet();
  const { items } = await c.list("pods");
  let i = 0;
  for (const p of items) {
    i++;
    await c.patchStatus("pods", p.metadata.name!, "default", {
      status: {
        phase: "Running",
        podIP: `10.47.${Math.floor(i / 250)}.${i % 250}`,
        conditions: [{ type: "Ready", status: "True" }],
      },
    });
  }
  await c.waitQuiet();
  const ms = performance.now() - t0;
  const slices = (await c.list("endpointslices", { labelSelector: "kubernetes.io/service-name=web" })).items;
  const ready = slices.reduce(
    (n, s) =>
      n + (s.endpoints ?? []).filter((e: { conditions: { ready: boolean } }) => e.conditions.ready).length,
    0,
  );
  if (ready !== P || c.controllerFailures.length > 0)
    throw new Error(`expected ${P} ready endpoints, got ${ready}`);
  c.close();
  return { ms, events };
}

function baseline(): number {
  const store = new ObjectStore(100_000);
  const t0 = performance.now();
  for (let i = 0; i < P; i++) store.put("pods", structuredClone(podManifest(i)), "ADDED");
  return performance.now() - t0;
}

await full(); // warm-up (JIT)
const f = await full();
const b = baseline();
console.log(
  `embedded cluster, deployment of ${P} pods to ready endpoint slices: ${f.ms.toFixed(0)} ms (${f.events} pod watch events)`,
);
console.log(`baseline, ${P} raw store writes: ${b.toFixed(1)} ms; ratio ${(f.ms / b).toFixed(0)}x`);
