/**
 * The bench world (issue 16): N namespaces × 10 pods and 2 NetworkPolicies per namespace, in the mix users
 * bring — labels app/role/team, default-deny, pod and namespace selectors, matchExpressions, port ranges and
 * egress — written once as a `ctb run` scenario (manifests + a TCP/80 matrix judged against Kubernetes) and
 * once as a plain resource list for an independent analyzer, so both read the very same objects.
 *
 * Deterministic: the same size gives the same world byte for byte.
 *
 * Example: `writeWorld("/tmp/w", 1000)` → /tmp/w/scenario.yaml, /tmp/w/world.yaml, /tmp/w/pods.txt
 * Run alone: `node --import tsx bench/world.ts <dir> [pods] [policies]` (default 1000 pods, pods/5 policies).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";

export interface WorldSize {
  pods: number;
  /** NetworkPolicies; default pods / 5 (two per namespace of 10 pods). */
  policies?: number;
  /**
   * Pods the matrix probes between (default: every pod up to 1,000; above that 1,000 spread evenly over the
   * namespaces — a 5,000-pod matrix is 25 million cells and a 325 MB table).
   */
  matrixPods?: number;
  /** false: the scenario stops once every pod is Running (what apply + settle costs, without the matrix) */
  matrix?: boolean;
}

export interface World {
  namespaces: Record<string, unknown>[];
  pods: Record<string, unknown>[];
  policies: Record<string, unknown>[];
  /** "<ns>/<pod>" of every pod, sorted as the matrix step lists them. */
  podNames: string[];
  nodes: string[];
}

const PODS_PER_NS = 10;
const APPS = 5;
const ROLES = 3;
const TEAMS = 5;

export function buildWorld(size: WorldSize): World {
  const nsCount = Math.max(1, Math.ceil(size.pods / PODS_PER_NS));
  const policyCount = size.policies ?? Math.round(size.pods / 5);
  const nodes = Array.from({ length: Math.max(2, Math.ceil(size.pods / 100)) }, (_, i) => `node-${i + 1}`);
  const ns = (j: number) => `ns-${String(j).padStart(4, "0")}`;
  const namespaces = Array.from({ length: nsCount }, (_, j) => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: ns(j), labels: { team: `t${j % TEAMS}` } },
  }));
  const pods: Record<string, unknown>[] = [];
  const podNames: string[] = [];
  for (let i = 0; i < size.pods; i++) {
    const j = Math.floor(i / PODS_PER_NS);
    const name = `p${String(i % PODS_PER_NS).padStart(2, "0")}`;
    podNames.push(`${ns(j)}/${name}`);
    pods.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace: ns(j),
        labels: { app: `a${i % APPS}`, role: `r${i % ROLES}`, team: `t${j % TEAMS}` },
      },
      spec: {
        containers: [
          {
            name: "web",
            image: "agnhost",
            ports: [
              { name: "http", containerPort: 80 },
              { name: "alt", containerPort: 81 },
            ],
          },
        ],
      },
    });
  }
  const policies: Record<string, unknown>[] = [];
  for (let k = 0; k < policyCount; k++) {
    const j = k % nsCount;
    const q = Math.floor(k / nsCount);
    policies.push(policy(k, j, q, ns(j)));
  }
  podNames.sort();
  return { namespaces, pods, policies, podNames, nodes };
}

/** The k-th policy, in namespace j (its q-th there): four shapes, so every namespace with two gets a pair. */
function policy(k: number, j: number, q: number, namespace: string): Record<string, unknown> {
  const shape = (j * 2 + q) % 4;
  const meta = (name: string) => ({ name: `${name}-${q}`, namespace });
  const np = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(name),
    spec,
  });
  switch (shape) {
    case 0: // default deny of ingress for the whole namespace
      return np("default-deny", { podSelector: {}, policyTypes: ["Ingress"] });
    case 1: // web pods admit one tier of another team's namespaces on TCP 80
      return np("allow-web", {
        podSelector: { matchLabels: { app: `a${k % APPS}` } },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { team: `t${(j + 1) % TEAMS}` } },
                podSelector: { matchExpressions: [{ key: "role", operator: "In", values: ["r0", "r1"] }] },
              },
              { podSelector: { matchLabels: { role: "r2" } } },
            ],
            ports: [{ protocol: "TCP", port: 80 }],
          },
        ],
      });
    case 2: // two apps admit their own namespace on a port range
      return np("allow-range", {
        podSelector: {
          matchExpressions: [{ key: "app", operator: "In", values: [`a${k % APPS}`, `a${(k + 1) % APPS}`] }],
        },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: {} }], ports: [{ protocol: "TCP", port: 80, endPort: 90 }] }],
      });
    default: // one role may only talk to its own team's namespaces on 80, and to DNS anywhere
      return np("egress-team", {
        podSelector: { matchLabels: { role: `r${k % ROLES}` } },
        policyTypes: ["Egress"],
        egress: [
          {
            to: [{ namespaceSelector: { matchLabels: { team: `t${j % TEAMS}` } } }],
            ports: [{ protocol: "TCP", port: 80 }],
          },
          { ports: [{ protocol: "UDP", port: 53 }] },
        ],
      });
  }
}

const docs = (objs: Record<string, unknown>[]) => objs.map((o) => stringify(o)).join("---\n");

/**
 * Writes the world: `manifests.yaml` and `scenario.yaml` (apply, every pod Running, the TCP/80 matrix against
 * Kubernetes) for `ctb run`, `world.yaml` (namespaces, pods, policies) for an analyzer, `pods.txt` the pods the
 * matrix probes between.
 */
export function writeWorld(dir: string, size: WorldSize): World {
  const w = buildWorld(size);
  mkdirSync(dir, { recursive: true });
  const objects = [...w.namespaces, ...w.pods, ...w.policies];
  writeFileSync(join(dir, "manifests.yaml"), docs(objects));
  writeFileSync(join(dir, "world.yaml"), docs(objects));
  const want = Math.min(size.matrixPods ?? 1000, w.podNames.length);
  const sampled = want < w.podNames.length;
  const matrixPods = sampled
    ? Array.from({ length: want }, (_, i) => w.podNames[Math.floor((i * w.podNames.length) / want)]!)
    : w.podNames;
  writeFileSync(join(dir, "pods.txt"), `${matrixPods.join("\n")}\n`);
  const scenario = {
    name: `bench-world-${size.pods}`,
    description: `bench world: ${w.pods.length} pods, ${w.namespaces.length} namespaces, ${w.policies.length} NetworkPolicies`,
    controller: { model: "r5" },
    nodes: w.nodes,
    steps: [
      { title: "the world", apply: { file: "manifests.yaml" } },
      { pods: [{ count: w.pods.length, phase: "Running" }] },
      ...(size.matrix === false
        ? []
        : [
            {
              title: sampled
                ? `TCP/80 between ${matrixPods.length} pods spread over the world`
                : "TCP/80 between every pair",
              matrix: {
                proto: "tcp",
                port: 80,
                expect: "kubernetes",
                ...(sampled ? { pods: matrixPods } : {}),
              },
            },
          ]),
    ],
  };
  writeFileSync(join(dir, "scenario.yaml"), stringify(scenario));
  return w;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write("usage: node --import tsx bench/world.ts <dir> [pods] [policies]\n");
    process.exit(2);
  }
  const pods = Number(process.argv[3] ?? 1000);
  const policies = process.argv[4] ? Number(process.argv[4]) : undefined;
  const w = writeWorld(dir, { pods, policies });
  console.log(
    `${dir}: ${w.pods.length} pods, ${w.namespaces.length} namespaces, ${w.policies.length} policies, ${w.nodes.length} nodes`,
  );
}
