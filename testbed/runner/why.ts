/**
 * "Why not" (`ctb why <from> <to>`): for a flow between two pods that is dropped, the smallest changes that
 * would let it through — a label on a pod, a rule added to a NetworkPolicy, a new NetworkPolicy, a namespace's
 * isolation annotation removed — and for a flow that gets through, the smallest changes that would block it.
 * Candidates come from the objects that decide (the NetworkPolicies selecting either end, the namespaces'
 * annotations); each is applied to a copy of the environment (the same scenario run again in a testbed of its
 * own) and kept only if the flow's fate really changes there, so what is printed is verified, not guessed.
 *
 * Example: `formatWhy(await why(tb, copy, { from: "shop/client", to: "shop/web", proto: "tcp", port: 80 }))`
 */
import type { KubeApi, KubeObject } from "../../controller/kube/api";
import { ISOLATION_ANNOTATIONS } from "../../controller/translate/layout";
import type { World } from "../oracle/kubernetes";
import { clusterWorld } from "./matrix-check";
import type { ProbeProto, Testbed } from "./testbed";

export interface Flow {
  /** Pods, `<ns>/<name>`. */
  from: string;
  to: string;
  proto: ProbeProto;
  port?: number;
}

/** One change to the cluster, as a user would make it. */
export interface Change {
  /** What it is, in words. */
  what: string;
  /** The kubectl command (or manifest) that makes it. */
  how: string;
  /** How much it changes: labels or annotations touched, rules added (a new policy counts 3). */
  size: number;
  apply(kube: KubeApi, pods: { from: KubeObject; to: KubeObject }): Promise<void>;
}

export interface WhyResult {
  flow: Flow;
  /** The flow's fate now. */
  through: boolean;
  /** Changes that turn it around, verified in a copy, smallest first. */
  changes: { what: string; how: string; size: number }[];
  /** Candidates that were tried and did not change the flow's fate. */
  notEnough: { what: string; how: string }[];
}

/** The isolation annotation a change adds (the R5 code's spelling); any of ISOLATION_ANNOTATIONS is removed. */
const ISOLATION = ISOLATION_ANNOTATIONS[0];
const R4_POLICY = "net.beta.kubernetes.io/network-policy";

type Labels = Record<string, string>;
const labelsOf = (o: KubeObject): Labels => (o.metadata.labels ?? {}) as Labels;
const kubectlLabels = (l: Labels) =>
  Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
/** The pod's labels as a selector, without the ReplicaSet's hash (it changes with every rollout). */
const selectorOf = (p: KubeObject): Labels =>
  Object.fromEntries(Object.entries(labelsOf(p)).filter(([k]) => k !== "pod-template-hash"));

function selects(sel: { matchLabels?: Labels } | undefined, labels: Labels): boolean {
  return Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** The policies of the pod's namespace whose podSelector (matchLabels) picks it for `type`. */
function policiesFor(world: World, pod: KubeObject, type: "Ingress" | "Egress"): KubeObject[] {
  return world.policies.filter((np) => {
    if (np.metadata.namespace !== pod.metadata.namespace) return false;
    const types: string[] =
      np.spec?.policyTypes ?? (np.spec?.egress?.length ? ["Ingress", "Egress"] : ["Ingress"]);
    return types.includes(type) && selects(np.spec?.podSelector, labelsOf(pod));
  });
}

/** The port entry a new rule gets for this flow (none for ICMP: a rule without ports admits every protocol). */
function portEntry(f: Flow): { protocol: string; port: number }[] | undefined {
  return f.proto === "icmp" || f.port === undefined
    ? undefined
    : [{ protocol: f.proto.toUpperCase(), port: f.port }];
}

/** The peer a new rule names for the pod on the other end: its labels, and its namespace when it is another. */
function peerFor(pod: KubeObject, ownNs: string): Record<string, unknown> {
  const ns = pod.metadata.namespace!;
  return {
    podSelector: { matchLabels: selectorOf(pod) },
    ...(ns !== ownNs ? { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } } : {}),
  };
}

function ruleText(peerKey: "from" | "to", peer: Record<string, unknown>, ports?: unknown): string {
  return JSON.stringify({ [peerKey]: [peer], ...(ports ? { ports } : {}) });
}

/** Changes that might let a dropped flow through. */
function letThrough(world: World, f: Flow, src: KubeObject, dst: KubeObject): Change[] {
  const out: Change[] = [];
  const srcNs = src.metadata.namespace!;
  const dstNs = dst.metadata.namespace!;
  // Contrail's own isolation (seed 000 §9) and R4's v1beta1 DefaultDeny: annotations on a namespace
  for (const ns of new Set([srcNs, dstNs])) {
    const nsObj = world.namespaces.find((n) => n.metadata.name === ns);
    for (const key of [...ISOLATION_ANNOTATIONS, R4_POLICY])
      if (nsObj?.metadata.annotations?.[key] !== undefined)
        out.push({
          what: `remove namespace ${ns}'s ${key} annotation`,
          how: `kubectl annotate namespace ${ns} ${key}-`,
          size: 1,
          apply: (kube) =>
            kube
              .patch("namespaces", ns, undefined, { metadata: { annotations: { [key]: null } } })
              .then(() => {}),
        });
  }
  const sides = [
    { type: "Ingress" as const, self: dst, other: src, rules: "ingress", peerKey: "from" as const },
    { type: "Egress" as const, self: src, other: dst, rules: "egress", peerKey: "to" as const },
  ];
  for (const side of sides) {
    const selfNs = side.self.metadata.namespace!;
    const pick = (pods: { from: KubeObject; to: KubeObject }) =>
      side.type === "Ingress" ? pods.from : pods.to;
    for (const np of policiesFor(world, side.self, side.type)) {
      const name = `${np.metadata.namespace}/${np.metadata.name}`;
      // a label the other end lacks for a rule that would otherwise admit it (same namespace, or a selector
      // without a namespace part)
      for (const rule of (np.spec?.[side.rules] ?? []) as Record<string, unknown>[]) {
        const ports = rule.ports as
          | { port?: number | string; protocol?: string; endPort?: number }[]
          | undefined;
        const portOk =
          !ports?.length ||
          (f.proto !== "icmp" &&
            ports.some(
              (p) =>
                (p.protocol ?? "TCP").toLowerCase() === f.proto &&
                (p.port === undefined ||
                  (typeof p.port === "number" && f.port! >= p.port && f.port! <= (p.endPort ?? p.port))),
            ));
        if (!portOk) continue;
        for (const peer of (rule[side.peerKey] ?? []) as {
          podSelector?: { matchLabels?: Labels };
          namespaceSelector?: unknown;
        }[]) {
          if (!peer.podSelector || peer.namespaceSelector || side.other.metadata.namespace !== selfNs)
            continue;
          const missing = Object.fromEntries(
            Object.entries(peer.podSelector.matchLabels ?? {}).filter(
              ([k, v]) => labelsOf(side.other)[k] !== v,
            ),
          );
          if (!Object.keys(missing).length) continue;
          const otherName = `${side.other.metadata.namespace}/${side.other.metadata.name}`;
          out.push({
            what: `label pod ${otherName} ${kubectlLabels(missing)} (matches an ${side.rules} rule of NetworkPolicy ${name})`,
            how: `kubectl label pod -n ${side.other.metadata.namespace} ${side.other.metadata.name} --overwrite ${kubectlLabels(missing)}`,
            size: Object.keys(missing).length,
            apply: (kube, pods) =>
              kube
                .patch("pods", pick(pods).metadata.name!, pick(pods).metadata.namespace, {
                  metadata: { labels: missing },
                })
                .then(() => {}),
          });
        }
      }
      // a rule for exactly this flow, added to the policy
      const peer = peerFor(side.other, selfNs);
      const ports = portEntry(f);
      out.push({
        what: `add to NetworkPolicy ${name} the ${side.rules} rule ${ruleText(side.peerKey, peer, ports)}`,
        how: `kubectl patch networkpolicy -n ${np.metadata.namespace} ${np.metadata.name} --type json -p '[{"op":"add","path":"/spec/${side.rules}/-","value":${ruleText(side.peerKey, peer, ports)}}]'`,
        size: 2,
        apply: async (kube) => {
          const cur = await kube.get("networkpolicies", np.metadata.name!, np.metadata.namespace);
          const rules = [
            ...((cur.spec?.[side.rules] ?? []) as unknown[]),
            { [side.peerKey]: [peer], ...(ports ? { ports } : {}) },
          ];
          await kube.patch("networkpolicies", np.metadata.name!, np.metadata.namespace, {
            spec: { [side.rules]: rules },
          });
        },
      });
    }
  }
  // a NetworkPolicy of its own for this flow, on the destination (and on the source, if its egress is isolated)
  const policy = (self: KubeObject, other: KubeObject, type: "Ingress" | "Egress"): KubeObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: `allow-${other.metadata.name}-${f.proto}${f.port ?? ""}`.slice(0, 63),
      namespace: self.metadata.namespace,
    },
    spec: {
      podSelector: { matchLabels: selectorOf(self) },
      policyTypes: [type],
      [type === "Ingress" ? "ingress" : "egress"]: [
        {
          [type === "Ingress" ? "from" : "to"]: [peerFor(other, self.metadata.namespace!)],
          ...(portEntry(f) ? { ports: portEntry(f) } : {}),
        },
      ],
    },
  });
  const srcIsolated = policiesFor(world, src, "Egress").length > 0;
  const wanted = [policy(dst, src, "Ingress"), ...(srcIsolated ? [policy(src, dst, "Egress")] : [])];
  out.push({
    what: `a new NetworkPolicy${wanted.length > 1 ? " on each end" : ""}: ${wanted.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(" and ")}`,
    how: wanted.map((p) => `kubectl apply -f - <<< '${JSON.stringify(p)}'`).join("; "),
    size: 3 * wanted.length,
    apply: async (kube) => {
      for (const p of wanted) await kube.create("networkpolicies", p, p.metadata.namespace);
    },
  });
  return out;
}

/** Changes that might block a flow that gets through. */
function block(world: World, f: Flow, src: KubeObject, dst: KubeObject): Change[] {
  const out: Change[] = [];
  const dstNs = dst.metadata.namespace!;
  const nsObj = world.namespaces.find((n) => n.metadata.name === dstNs);
  if (!ISOLATION_ANNOTATIONS.some((k) => nsObj?.metadata.annotations?.[k] === "true"))
    out.push({
      what: `isolate namespace ${dstNs} (Contrail's ${ISOLATION} annotation)`,
      how: `kubectl annotate namespace ${dstNs} ${ISOLATION}=true --overwrite`,
      size: 1,
      apply: (kube) =>
        kube
          .patch("namespaces", dstNs, undefined, { metadata: { annotations: { [ISOLATION]: "true" } } })
          .then(() => {}),
    });
  // a label the source carries that an admitting rule needs: removing it stops the match
  for (const np of policiesFor(world, dst, "Ingress"))
    for (const rule of (np.spec?.ingress ?? []) as { from?: { podSelector?: { matchLabels?: Labels } }[] }[])
      for (const peer of rule.from ?? []) {
        const need = Object.keys(peer.podSelector?.matchLabels ?? {}).filter(
          (k) => labelsOf(src)[k] === peer.podSelector!.matchLabels![k],
        );
        if (!need.length || src.metadata.namespace !== dstNs) continue;
        const key = need[0]!;
        out.push({
          what: `remove label ${key} from pod ${f.from} (NetworkPolicy ${np.metadata.namespace}/${np.metadata.name} admits it by that label)`,
          how: `kubectl label pod -n ${src.metadata.namespace} ${src.metadata.name} ${key}-`,
          size: 1,
          apply: (kube, pods) =>
            kube
              .patch("pods", pods.from.metadata.name!, pods.from.metadata.namespace, {
                metadata: { labels: { [key]: null } },
              })
              .then(() => {}),
        });
      }
  const deny: KubeObject = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: `deny-ingress-${dst.metadata.name}`.slice(0, 63), namespace: dstNs },
    spec: { podSelector: { matchLabels: selectorOf(dst) }, policyTypes: ["Ingress"] },
  };
  out.push({
    what: `a NetworkPolicy ${dstNs}/${deny.metadata.name} isolating ${f.to} for ingress (no rule)`,
    how: `kubectl apply -f - <<< '${JSON.stringify(deny)}'`,
    size: 2,
    apply: (kube) => kube.create("networkpolicies", deny, dstNs).then(() => {}),
  });
  return out;
}

/** The pod of the copy that stands for `pod` of the original: the same name, else the same workload. */
async function counterpart(kube: KubeApi, pod: KubeObject): Promise<KubeObject> {
  const ns = pod.metadata.namespace!;
  const same = await kube.get("pods", pod.metadata.name!, ns).catch(() => undefined);
  if (same) return same;
  const gen = pod.metadata.generateName;
  const like = (await kube.list("pods", { namespace: ns })).items.find(
    (p) =>
      (gen && p.metadata.generateName === gen) ||
      JSON.stringify(selectorOf(p)) === JSON.stringify(selectorOf(pod)),
  );
  if (!like) throw new Error(`the copy has no pod like ${ns}/${pod.metadata.name}`);
  return like;
}

async function gets(tb: Testbed, from: KubeObject, to: KubeObject, f: Flow): Promise<boolean> {
  const req = {
    from: `${from.metadata.namespace}/${from.metadata.name}`,
    toIp: to.status?.podIP as string,
    proto: f.proto,
    ...(f.port !== undefined ? { port: f.port } : {}),
  };
  if (tb.reachOutcome) return tb.reachOutcome(req) !== "dropped";
  const r = await tb.probe({ ...req, count: 1 });
  return r.received > 0 || r.refused > 0;
}

/**
 * `copy()` brings up a copy of the environment (the same scenario, to the same point) and resolves to its
 * testbed; it is closed after each candidate.
 */
export async function why(tb: Testbed, copy: () => Promise<Testbed>, f: Flow): Promise<WhyResult> {
  const world = await clusterWorld(tb);
  const find = (name: string) => {
    const p = world.pods.find((x) => `${x.metadata.namespace}/${x.metadata.name}` === name);
    if (!p) throw new Error(`no pod ${name}`);
    if (!p.status?.podIP) throw new Error(`pod ${name} has no address (phase ${p.status?.phase})`);
    return p;
  };
  const src = find(f.from);
  const dst = find(f.to);
  const through = await gets(tb, src, dst, f);
  const candidates = (through ? block : letThrough)(world, f, src, dst).sort((a, b) => a.size - b.size);
  const changes: WhyResult["changes"] = [];
  const notEnough: WhyResult["notEnough"] = [];
  for (const c of candidates) {
    const t = await copy();
    try {
      const pods = { from: await counterpart(t.kube, src), to: await counterpart(t.kube, dst) };
      await c.apply(t.kube, pods);
      await t.settle();
      // the change may have moved the pods (a relabel keeps them; their addresses stay)
      const after = { from: await counterpart(t.kube, pods.from), to: await counterpart(t.kube, pods.to) };
      if ((await gets(t, after.from, after.to, f)) !== through)
        changes.push({ what: c.what, how: c.how, size: c.size });
      else notEnough.push({ what: c.what, how: c.how });
    } finally {
      await t.close();
    }
  }
  return { flow: f, through, changes, notEnough };
}

export function formatWhy(r: WhyResult): string {
  const f = r.flow;
  const head = `${f.from} → ${f.to} ${f.proto}${f.port !== undefined ? `/${f.port}` : ""}: ${r.through ? "gets through" : "dropped"}`;
  const lines = [head];
  if (r.changes.length) {
    lines.push(
      `  the smallest changes that would ${r.through ? "block it" : "let it through"} (each verified in a copy of this environment):`,
    );
    for (const [i, c] of r.changes.entries()) lines.push(`  ${i + 1}. ${c.what}`, `       ${c.how}`);
  } else
    lines.push(`  no single change the testbed tried would ${r.through ? "block it" : "let it through"}`);
  if (r.notEnough.length) {
    lines.push("  tried, not enough on its own:");
    for (const c of r.notEnough) lines.push(`   - ${c.what}`);
  }
  return `${lines.join("\n")}\n`;
}
