/**
 * The `matrix` step: every source pod probes every target (pod IP, or the pod's Service `s-<ns>-<pod>` as the
 * upstream netpol suite does), judged against a written truth table or against Kubernetes itself
 * (`expect: kubernetes`: the table the NetworkPolicy semantics give for the cluster as it is at that step).
 *
 * Against Kubernetes, every cell where the Contrail datapath decides otherwise is a divergence, reported with
 * the firewall rule that decided (its fq_name, sequence and firewall-policy) and the NetworkPolicy behind it.
 * The divergences a layout is expected to show are listed in the step (`divergences: {upstream: […]}`); any
 * other divergence, or a listed one that did not happen, fails the step. With `compare` (ctb run --compare
 * kubernetes) a step with a written table also reports its divergences from Kubernetes, without failing on them.
 *
 * Example: `await checkMatrix(tb, step, { layout: "upstream", clusterName: "k8s", compare: false })`.
 */
import type { KubeObject } from "../../controller/kube/api";
import { type Connection, kubernetesAllows, kubernetesVerdict, type World } from "../oracle/kubernetes";
import { formatTruthTable } from "../scenario/matrix";
import type { ControllerOptions, Divergence, Step, TruthTable } from "../scenario/types";
// resolveTarget is called per cell, never while modules load, so the import cycle with run.ts is harmless
import { resolveTarget } from "./run";
import type { FirewallDecision, ProbeResult, Testbed } from "./testbed";
import { OUTCOME } from "../../fake-vrouter/datapath/dry-run-pool";

type MatrixStep = Extract<Step, { kind: "matrix" }>;

export interface MatrixContext {
  /** The NetworkPolicy layout the controller runs (selects the expected divergences). */
  layout: "upstream" | "kubernetes";
  clusterName: string;
  apsName?: string;
  /** Also compare a written table with Kubernetes and report the divergences (never fails on them). */
  compare: boolean;
  progress?: (done: number, total: number) => void;
}

/** What names a scenario's controller gives its policy objects (the matrix and the analysis name rules by them). */
export function netpolContext(
  c: ControllerOptions,
): Pick<MatrixContext, "layout" | "clusterName" | "apsName"> {
  return {
    layout: c.netpolLayout ?? "upstream",
    clusterName: c.clusterName ?? "k8s",
    ...(c.apsName ? { apsName: c.apsName } : {}),
  };
}

export interface MatrixResult {
  name: string;
  verdict: "pass" | "fail";
  output?: string;
  detail?: string;
}

/** A divergence found: the cell, both verdicts, why Kubernetes decides so, and what decided in Contrail. */
export interface FoundDivergence extends Divergence {
  kubernetes: "allow" | "deny";
  why: string;
  decidedBy: string;
  /** Whether the datapath reported its firewall decisions (the netns datapath does not). */
  ruleKnown: boolean;
  /** Whether a traced packet explained it (`why`, `decidedBy`); past EXPLAINED_CELLS a divergence is only counted. */
  explained: boolean;
}

const podKey = (p: KubeObject) => `${p.metadata.namespace}/${p.metadata.name}`;

/** The cluster as the oracle sees it. */
export async function clusterWorld(tb: Testbed): Promise<World> {
  const [namespaces, pods, policies] = await Promise.all([
    tb.kube.list("namespaces"),
    tb.kube.list("pods"),
    tb.kube.list("networkpolicies"),
  ]);
  return { namespaces: namespaces.items, pods: pods.items, policies: policies.items };
}

/** Pods a `kubernetes` matrix probes when it names none: every pod with an address outside kube-system. */
function defaultPods(world: World): string[] {
  return world.pods
    .filter((p) => p.status?.podIP && p.metadata.namespace !== "kube-system" && !p.spec?.hostNetwork)
    .map(podKey)
    .sort();
}

/** The port a Service port sends to on its backend pod (targetPort by number or by container-port name). */
async function backendPort(
  tb: Testbed,
  ns: string,
  svcName: string,
  pod: KubeObject | undefined,
  port?: number,
) {
  if (port === undefined) return undefined;
  const svc = await tb.kube.get("services", svcName, ns).catch(() => undefined);
  const sp = (svc?.spec?.ports ?? []).find((p: { port: number }) => p.port === port);
  const target = sp?.targetPort;
  if (typeof target === "number") return target;
  if (typeof target === "string")
    for (const c of pod?.spec?.containers ?? [])
      for (const cp of c.ports ?? []) if (cp.name === target) return cp.containerPort as number;
  return port;
}

/**
 * How many cells a matrix explains with a traced packet (the deciding firewall rule, the drop): the first
 * divergences and wrong cells, plus every cell a step lists a divergence for. A 1,000-pod matrix can disagree
 * with Kubernetes in a quarter of a million cells; the rest are counted, and `ctb trace` explains any of them.
 */
export const EXPLAINED_CELLS = 100;
/** A long matrix lets the event loop run this often (progress display, Ctrl-C). */
const YIELD_EVERY = 20_000;

export async function checkMatrix(tb: Testbed, step: MatrixStep, ctx: MatrixContext): Promise<MatrixResult> {
  const againstKubernetes = !step.table;
  const world = againstKubernetes || ctx.compare ? await clusterWorld(tb) : undefined;
  const pods = world ? new Map(world.pods.map((p) => [podKey(p), p])) : new Map<string, KubeObject>();
  const names = step.table ? undefined : (step.pods ?? defaultPods(world!));
  const sources = step.table ? step.table.rows.map((r) => r.from) : names!;
  const targets = step.table ? step.table.targets : names!;

  // each target resolved once, not once per source (a list of its namespace's pods each time)
  const resolved = new Map<string, Awaited<ReturnType<typeof resolveTarget>>>();
  const backendPorts = new Map<string, number | undefined>();
  for (const to of new Set(targets)) {
    if (sources.length === 1 && sources[0] === to) continue;
    // a name is resolved by each source's own query (its namespace's policies decide whether it can ask)
    if (to.startsWith("dns:")) continue;
    const [ns, name] = to.split("/") as [string, string];
    // a pod by its exact name is the pod of the list just taken (a thousand targets, not a thousand lists)
    const podIp = step.via !== "service" && !/[*@]/.test(to) ? pods.get(to)?.status?.podIP : undefined;
    resolved.set(
      to,
      podIp
        ? { ip: podIp, port: step.port, label: `${to} (${podIp})` }
        : await resolveTarget(tb, step.via === "service" ? `service:${ns}/s-${ns}-${name}` : to, step.port),
    );
    if (world && step.via === "service")
      backendPorts.set(to, await backendPort(tb, ns, `s-${ns}-${name}`, pods.get(to), step.port));
  }
  const listedWithRule = new Set(
    (step.divergences?.[ctx.layout] ?? []).filter((d) => d.rule).map((d) => `${d.from}>${d.to}`),
  );

  // verdicts by row and column (a million string-keyed entries at 1,000 pods cost more than the probes)
  const observed = sources.map(() => new Array<boolean | undefined>(targets.length));
  const expected = sources.map(() => new Array<boolean | undefined>(targets.length));
  const wrong: string[] = [];
  let wrongCount = 0;
  const found: FoundDivergence[] = [];
  const total = sources.reduce((n, s) => n + targets.filter((t) => t !== s).length, 0);
  let done = 0;
  ctx.progress?.(0, total);
  // per column what every row asks of it: its pod, its address, the port the Service sends to
  const dstPods = targets.map((to) => pods.get(to));
  const dstPorts = targets.map((to) => (step.via === "service" ? backendPorts.get(to) : step.port));
  const tableRows = step.table?.rows;
  const batched = await dryRunAll(tb, step, sources, targets, resolved, ctx.progress);
  for (const [i, from] of sources.entries()) {
    const src = pods.get(from);
    const srcEnd = { pod: src, ip: src?.status?.podIP ?? "" };
    const rowObserved = observed[i]!;
    const rowExpected = expected[i]!;
    const wantRow = tableRows?.[i]?.cells;
    for (const [j, to] of targets.entries()) {
      if (to === from) continue;
      if (++done % YIELD_EVERY === 0) {
        if (!batched) ctx.progress?.(done, total);
        await new Promise((r) => setImmediate(r));
      }
      let target = resolved.get(to);
      let unresolved: string | undefined;
      if (!target)
        try {
          target = await resolveTarget(tb, to, step.port, from);
        } catch (e) {
          unresolved = (e as Error).message.split("\n")[0];
        }
      if (!target) {
        // the name did not resolve from this source: nothing to connect to
        const want = wantRow?.[j];
        rowObserved[j] = false;
        rowExpected[j] = want;
        if (step.table && want !== false && wrongCount++ < EXPLAINED_CELLS)
          wrong.push(`${from} → ${to}: expected ., got X (${unresolved})`);
        continue;
      }
      const request = { from, toIp: target.ip, proto: step.proto, port: target.port };
      // the dry run decides the cell where the datapath has one; a packet (with its trace) is sent only for a
      // cell to explain, and where both are asked the packet's verdict stands
      let r: ProbeResult | undefined;
      const probe = async () => (r ??= await tb.probe({ ...request, count: 1 }));
      const cell = batched?.index[i * targets.length + j] ?? -1;
      let ok =
        cell >= 0
          ? batched!.outcomes[cell] === OUTCOME.answered
          : tb.reach
            ? tb.reach(request)
            : (await probe()).received > 0;
      let want: boolean | undefined = wantRow?.[j];
      // Kubernetes judges pod to pod; a host outside the overlay or a Service's address has no NetworkPolicy verdict
      const dst = dstPods[j];
      if (world && src && dst) {
        const conn: Connection = {
          from: srcEnd,
          to: { pod: dst, ip: dst.status?.podIP ?? target.ip },
          proto: step.proto,
          port: dstPorts[j],
        };
        const allowed = kubernetesAllows(world, conn);
        if (want === undefined) want = allowed;
        if (allowed !== ok && (found.length < EXPLAINED_CELLS || listedWithRule.has(`${from}>${to}`))) {
          ok = (await probe()).received > 0;
        }
        if (allowed !== ok) {
          const explained = r !== undefined;
          found.push({
            from,
            to,
            contrail: ok ? "allow" : "deny",
            kubernetes: allowed ? "allow" : "deny",
            why: explained ? kubernetesVerdict(world, conn).reason : "",
            decidedBy: explained ? describeDecision(r!, world, ctx) : "",
            ruleKnown: explained && r!.firewall !== undefined,
            explained,
          });
        }
      }
      rowObserved[j] = ok;
      rowExpected[j] = want;
      if (step.table && ok !== want) {
        if (wrongCount < EXPLAINED_CELLS) {
          ok = (await probe()).received > 0;
          rowObserved[j] = ok;
        }
        if (ok !== want && wrongCount++ < EXPLAINED_CELLS)
          wrong.push(
            `${from} → ${to}: expected ${want ? "." : "X"}, got ${ok ? "." : "X"}${r?.drop ? ` (${r.drop.reason} at ${r.drop.where})` : ""}`,
          );
      }
    }
  }
  if (wrongCount > EXPLAINED_CELLS) wrong.push(`… and ${wrongCount - EXPLAINED_CELLS} more wrong cells`);

  const table: TruthTable = step.table ?? {
    targets,
    rows: sources.map((from, i) => ({
      from,
      cells: targets.map((_, j) => expected[i]![j] ?? true),
    })),
  };
  const lines = [formatTruthTable(table, (_f, _t, i, j) => observed[i]?.[j])];
  if (found.length) {
    lines.push(`${found.length} cell(s) where Contrail (${ctx.layout} layout) and Kubernetes disagree:`);
    const shown = found.filter((d) => d.explained);
    for (const d of shown) lines.push(formatDivergence(d));
    if (shown.length < found.length)
      lines.push(
        `  … and ${found.length - shown.length} more (the table marks them with *; \`ctb trace <from> <to>\` explains one)`,
      );
  } else if (world) lines.push(`Contrail (${ctx.layout} layout) agrees with Kubernetes on every cell.`);

  if (againstKubernetes) {
    const { problems, count } = unexpected(
      found,
      step.divergences?.[ctx.layout] ?? [],
      ctx.layout,
      EXPLAINED_CELLS,
    );
    for (const p of problems) wrong.push(p);
    if (count > EXPLAINED_CELLS) wrong.push(`… and ${count - EXPLAINED_CELLS} more`);
  }
  const what = step.table
    ? `${step.table.rows.length}×${step.table.targets.length}`
    : `${sources.length}×${targets.length} against Kubernetes`;
  return {
    name: `matrix ${step.proto}${step.port ? `/${step.port}` : ""} via ${step.via} (${what})`,
    verdict: wrong.length ? "fail" : "pass",
    output: lines.join("\n"),
    detail: wrong.length ? wrong.join("\n") : undefined,
  };
}

/**
 * The dry runs of every cell whose target resolved once for all sources, asked of the datapath as one batch
 * (several cores where it has them); undefined where the datapath answers cell by cell only. `index` maps a
 * cell (row × columns + column) to its place in the batch, -1 for a cell left to the loop.
 */
async function dryRunAll(
  tb: Testbed,
  step: MatrixStep,
  sources: string[],
  targets: string[],
  resolved: Map<string, { ip: string; port?: number }>,
  progress?: (done: number, total: number) => void,
): Promise<{ index: Int32Array; outcomes: Uint8Array } | undefined> {
  if (!tb.reachMany) return undefined;
  const index = new Int32Array(sources.length * targets.length).fill(-1);
  const targetIps: string[] = [];
  const ipIndex = new Map<string, number>();
  const from: number[] = [];
  const to: number[] = [];
  for (const [i, src] of sources.entries())
    for (const [j, dst] of targets.entries()) {
      const t = resolved.get(dst);
      if (dst === src || !t || t.port !== step.port) continue;
      let k = ipIndex.get(t.ip);
      if (k === undefined) {
        k = targetIps.push(t.ip) - 1;
        ipIndex.set(t.ip, k);
      }
      index[i * targets.length + j] = from.length;
      from.push(i);
      to.push(k);
    }
  if (from.length === 0) return undefined;
  const outcomes = await tb.reachMany(
    {
      proto: step.proto,
      port: step.port ?? 0,
      sources,
      targets: targetIps,
      from: Uint32Array.from(from),
      to: Uint32Array.from(to),
    },
    (done) => progress?.(done, from.length),
  );
  return { index, outcomes };
}

/**
 * Problems when the divergences found are not exactly the ones the step lists for this layout: the first
 * `shown` written out, the rest counted (a world can diverge in a quarter of a million cells).
 */
function unexpected(
  found: FoundDivergence[],
  listed: Divergence[],
  layout: string,
  shown: number,
): { problems: string[]; count: number } {
  const problems: string[] = [];
  let count = 0;
  const add = (text: () => string) => {
    if (count++ < shown) problems.push(text());
  };
  const key = (d: Divergence) => `${d.from}>${d.to}`;
  const listedBy = new Map(listed.map((d) => [key(d), d]));
  const foundKeys = new Set<string>();
  for (const f of found) {
    // an empty list is the common case: no key to build per divergence
    const l = listedBy.size ? listedBy.get(key(f)) : undefined;
    if (listedBy.size) foundKeys.add(key(f));
    if (!l) add(() => `unexpected divergence from Kubernetes: ${formatDivergence(f).trim()}`);
    else if (l.contrail !== f.contrail)
      add(() => `${f.from} → ${f.to}: listed as Contrail ${l.contrail}, observed ${f.contrail}`);
    else if (l.rule && f.ruleKnown && !f.decidedBy.includes(l.rule))
      add(() => `${f.from} → ${f.to}: listed as decided by ${l.rule}, but ${f.decidedBy}`);
  }
  for (const l of listed)
    if (!foundKeys.has(key(l)))
      add(
        () =>
          `${l.from} → ${l.to}: listed as a divergence of the ${layout} layout (Contrail ${l.contrail}), but Contrail agreed with Kubernetes`,
      );
  return { problems, count };
}

export function formatDivergence(d: FoundDivergence): string {
  const verdicts = `  ${d.from} → ${d.to}: Contrail ${d.contrail === "allow" ? "allows" : "denies"}, Kubernetes ${d.kubernetes === "allow" ? "allows" : "denies"}`;
  return d.explained ? `${verdicts} (${d.why}); Contrail: ${d.decidedBy}` : verdicts;
}

/** The firewall decision that settled the packet, with the NetworkPolicy behind its rule. */
export function describeDecision(
  r: ProbeResult,
  world: World,
  ctx: Pick<MatrixContext, "layout" | "clusterName" | "apsName">,
): string {
  if (r.firewall === undefined)
    return "this datapath does not report which rule decided (the sim datapath does)";
  const decisions = r.firewall;
  const decisive = decisions.find((d) => d.action === "deny") ?? decisions.at(-1);
  if (!decisive) {
    if (r.drop) return `dropped by ${r.drop.reason} at ${r.drop.where}`;
    return r.received > 0
      ? "no firewall policy applied to either end"
      : "no answer (no firewall decision reported)";
  }
  const aps = ctx.layout === "upstream" ? ` in application-policy-set ${ctx.apsName ?? ctx.clusterName}` : "";
  const what = decisive.rule
    ? `firewall-rule ${decisive.rule} (sequence ${decisive.sequence} of firewall-policy ${decisive.policy}${aps})`
    : `no rule of firewall-policy ${decisive.policy ?? "(none)"} matched: implicit deny`;
  const behind = policyBehind(decisive, world, ctx);
  return `${decisive.where} end ${decisive.action}, ${what}${behind ? ` ← ${behind}` : ""}`;
}

/** Which NetworkPolicy (or default rule) a firewall rule stands for, from the names the controller gives. */
export function policyBehind(
  d: FirewallDecision,
  world: World,
  ctx: Pick<MatrixContext, "layout" | "clusterName" | "apsName">,
): string | undefined {
  const rule = d.rule?.split(":").at(-1) ?? "";
  const policy = d.policy?.split(":").at(-1) ?? "";
  const c = ctx.clusterName;
  const m = rule.match(new RegExp(`^${c}-Namespace-(.+)-(ingress|egress)$`));
  if (m) return `namespace ${m[1]} default allow (${m[2]}; no NetworkPolicy)`;
  for (const np of world.policies) {
    const ns = np.metadata.namespace;
    const name = np.metadata.name;
    if (
      policy === `${c}-${ns}-${name}` ||
      rule === `${ns}-ingress-${name}-denyall` ||
      rule === `${ns}-egress-${name}-default-deny-all` ||
      (policy.startsWith(`${c}-${ns}-`) &&
        (rule.includes(`-${name}-ingress-`) || rule.includes(`-${name}-egress-`)))
    )
      return `NetworkPolicy ${ns}/${name}`;
  }
  if (/-(ingress|egress)-deny$/.test(rule)) return "default deny of an isolated pod (kubernetes layout)";
  return undefined;
}
