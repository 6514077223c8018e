/**
 * Executes a loaded scenario against a Testbed: each mutating step is applied and followed by the settle
 * barrier; each expectation is checked and produces a `CheckResult` the reporters print. A failed check never
 * stops the run — every expectation is judged, and the exit code says whether all held.
 *
 * Example: `const report = await runScenario(loadScenario(f), testbed, { onEvent: printer })`.
 */
import type { Identity } from "../../fake-contrail-api/auth/identity";
import { attachmentIp, splitAttachment } from "./attachment-target";
import { formatProtoPorts, type ProtoPorts } from "../../fake-vrouter/datapath/port-space";
import { formatReachSet, reachSet } from "./reach-set";
import ipaddr from "ipaddr.js";
import {
  type KubeObject,
  KubeApiError,
  RESOURCES,
  type ResourceName,
  resourceForKind,
} from "../../controller/kube/api";
import type {
  ContrailExpectation,
  ObjectKey,
  ObjectLine,
  PodExpectation,
  ReachProbe,
  Scenario,
  Step,
} from "../scenario/types";
import { checkMatrix, clusterWorld, type MatrixContext, netpolContext } from "./matrix-check";
import { kubernetesVerdict } from "../oracle/kubernetes";
import { fillTemplates } from "./templates";
import type { HttpResult, ProbeResult, Testbed } from "./testbed";
import { kubernetesIngressBackend } from "../oracle/ingress";
import { clusterDnsAddress } from "../../cluster-dns/cluster";
import {
  adminEndpoint,
  applyVncOps,
  describeOwner,
  describeVncOp,
  fillRunTemplates,
  fqGlobMatch,
  ownedBy,
  refMismatches,
  runVncOp,
  VncHttpError,
} from "./vnc";

export type Verdict = "pass" | "fail" | "error";

export interface CheckResult {
  step: number;
  line: number;
  title?: string;
  kind: Step["kind"];
  name: string; // one line: what was checked
  verdict: Verdict;
  detail?: string; // why it failed (trace, diff)
  output?: string; // what a user would have seen (ping output, tables)
  durationMs?: number; // from the step's start to this verdict
}

/** A controller warning that appeared after a step: input the controller could not translate as written. */
export interface RunWarning {
  step: number;
  /** The line of the object the warning is about (else of the step that made it appear). */
  line: number;
  /** The manifests file that line is in, when it is not the scenario. */
  file?: string;
  text: string;
}

export interface RunReport {
  scenario: string;
  file: string;
  checks: CheckResult[];
  /** Warnings that change what a user observes (e.g. a NetworkPolicy left out), in the order they appeared. */
  warnings: RunWarning[];
  /** ISO time the run started (JUnit's testsuite timestamp). */
  startedAt: string;
  durationMs: number;
  passed: number;
  failed: number;
}

export type RunEvent =
  | { type: "step"; step: Step }
  | { type: "output"; step: Step; text: string }
  | { type: "check"; result: CheckResult }
  | { type: "warning"; step: Step; text: string }
  /** Inside a long step (a matrix): `done` of `total` probes sent. */
  | { type: "progress"; step: Step; done: number; total: number };

export interface RunOptions {
  onEvent?: (ev: RunEvent) => void;
  /** A scenario that checks nothing passes only when this is set (`ctb run --allow-no-expectations`). */
  allowNoExpectations?: boolean;
  /** Compare every matrix with Kubernetes NetworkPolicy semantics and report the divergences (`--compare kubernetes`). */
  compareKubernetes?: boolean;
  /**
   * Once aborted (Ctrl-C), the run stops at the current step: no further step starts, and nothing more is
   * reported — the step in flight fails against an environment being torn down, which is not a verdict.
   */
  signal?: AbortSignal;
}

/** Step kinds that judge something; a scenario with none of them proves nothing. */
const EXPECTATION_KINDS: ReadonlySet<Step["kind"]> = new Set([
  "wait",
  "pods",
  "reach",
  "matrix",
  "contrail",
  "vrouter",
  "get",
]);

/** The report of a file that could not be loaded: one error, so a batch still reports every other file. */
export function loadErrorReport(file: string, error: unknown): RunReport {
  const at = error as { line?: unknown; problem?: unknown };
  const line = typeof at?.line === "number" ? at.line : 0;
  const detail = typeof at?.problem === "string" ? at.problem : errorText(error); // file:line is already on the check
  const check: CheckResult = {
    step: 0,
    line,
    kind: "apply",
    name: "load the scenario file",
    verdict: "error",
    detail,
    durationMs: 0,
  };
  return {
    scenario: file,
    file,
    checks: [check],
    warnings: [],
    startedAt: new Date().toISOString(),
    durationMs: 0,
    passed: 0,
    failed: 1,
  };
}

export async function runScenario(
  scenario: Scenario,
  tb: Testbed,
  opts: RunOptions = {},
): Promise<RunReport> {
  const started = Date.now();
  let stepStarted = started;
  const checks: CheckResult[] = [];
  const emit = (ev: RunEvent) => {
    if (!opts.signal?.aborted) opts.onEvent?.(ev);
  };
  const record = (step: Step, { line, ...r }: Recorded) => {
    const durationMs = Date.now() - stepStarted;
    const result = {
      step: step.index + 1,
      line: line ?? step.line,
      title: step.title,
      kind: step.kind,
      ...r,
      durationMs,
    };
    checks.push(result);
    emit({ type: "check", result });
  };
  const warnings: RunWarning[] = [];
  const seenWarnings = new Set<string>();
  /** "<kind> <ns>/<name>" → where the object is written, from the apply steps so far. */
  const objectLines = new Map<string, ObjectLine>();
  const c = scenario.controller;
  const netpol = { ...netpolContext(c), compare: opts.compareKubernetes ?? false };
  for (const step of scenario.steps) {
    if (opts.signal?.aborted) break;
    stepStarted = Date.now();
    emit({ type: "step", step });
    try {
      await runStep(step, step.as ? actingAs(tb, step.as, scenario.auth?.identity) : tb, {
        record: (r) => record(step, r),
        output: (text) => emit({ type: "output", step, text }),
        progress: (done, total) => emit({ type: "progress", step, done, total }),
        netpol,
      });
    } catch (e) {
      if (opts.signal?.aborted) break;
      record(step, { name: `${step.kind} step`, verdict: "error", detail: errorText(e) });
    }
    if (step.kind === "apply")
      for (const o of step.objectLines ?? [])
        objectLines.set(`${o.kind.toLowerCase()} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`, o);
    for (const text of tb.warnings?.() ?? []) {
      if (seenWarnings.has(text)) continue;
      seenWarnings.add(text);
      // a warning about an object points at where the object is written ("pod shop/front: …")
      const about = /^(\w+) ([^\s:]+):/.exec(text);
      const o = about ? objectLines.get(`${about[1]!.toLowerCase()} ${about[2]}`) : undefined;
      warnings.push({
        step: step.index + 1,
        line: o?.line ?? step.line,
        ...(o?.file ? { file: o.file } : {}),
        text,
      });
      emit({ type: "warning", step, text });
    }
  }
  if (
    !opts.allowNoExpectations &&
    !scenario.steps.some((s) => EXPECTATION_KINDS.has(s.kind) || s.outcome !== undefined)
  ) {
    const last = scenario.steps.at(-1);
    const result: CheckResult = {
      step: scenario.steps.length,
      line: last?.line ?? 1,
      kind: last?.kind ?? "apply",
      name: "the scenario has an expectation",
      verdict: "fail",
      detail:
        "no step checks anything (wait, pods, reach, matrix or contrail), so a pass would prove nothing; add one, or run with --allow-no-expectations",
      durationMs: 0,
    };
    checks.push(result);
    emit({ type: "check", result });
  }
  const failed = checks.filter((c) => c.verdict !== "pass").length;
  return {
    scenario: scenario.name,
    file: scenario.file,
    checks,
    warnings,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    passed: checks.length - failed,
    failed,
  };
}

/** A check as a step reports it; `line` points at an entry inside the step (default: the step's line). */
type Recorded = Omit<CheckResult, "step" | "line" | "title" | "kind"> & { line?: number };

interface StepIO {
  record: (r: Recorded) => void;
  output: (text: string) => void;
  progress?: (done: number, total: number) => void;
  netpol: Omit<MatrixContext, "progress">;
}

async function runStep(step: Step, tb: Testbed, io: StepIO): Promise<void> {
  if (step.outcome !== undefined && step.kind !== "get") return expectOutcome(step, tb, io);
  switch (step.kind) {
    case "apply":
      for (const m of step.manifests) await applyManifest(tb, await fillTemplates(tb, m));
      return settled(tb);
    case "delete":
      for (const key of step.objects) {
        const { resource, namespace } = locate(key);
        await within(
          `the API server to delete ${key.kind} ${key.name}`,
          tb.kube.delete(resource, key.name, namespace),
        );
      }
      return settled(tb);
    case "patch": {
      const { resource, namespace } = locate(step.target);
      await within(
        `the API server to patch ${step.target.kind} ${step.target.name}`,
        tb.kube.patch(resource, step.target.name, namespace, step.patch, step.patchType),
      );
      return settled(tb);
    }
    case "label":
    case "annotate": {
      const { resource, namespace } = locate(step.target);
      const field = step.kind === "label" ? "labels" : "annotations";
      await within(
        `the API server to ${step.kind} ${step.target.kind} ${step.target.name}`,
        tb.kube.patch(resource, step.target.name, namespace, { metadata: { [field]: step.set } }, "merge"),
      );
      return settled(tb);
    }
    case "readiness": {
      await settled(tb);
      if (!tb.setReadiness) throw new Error("this testbed cannot drive pods' readiness probes");
      const pod = await findPod(tb, step.pod);
      const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
      await within(`the node of ${id} to set its Ready condition`, tb.setReadiness(id, step.passing));
      io.output(`${id}: readiness probe ${step.passing ? "passes" : "fails"}`);
      return settled(tb);
    }
    case "health": {
      await settled(tb);
      if (!tb.setHealth) throw new Error("this testbed cannot drive the vrouter agents' health checks");
      const pod = await findPod(tb, step.pod);
      const id = `${pod.metadata.namespace}/${pod.metadata.name}`;
      const checks = await tb.setHealth(id, step.passing);
      if (checks.length === 0)
        throw new Error(
          `no service-health-check refers to ${id}'s interface, so nothing probes it: svc-monitor makes one for a native load balancer's pool that refers to a loadbalancer-healthmonitor (create the monitor and the pool's ref in a vnc step)`,
        );
      io.output(`${id}: health check ${checks.join(", ")} ${step.passing ? "passes" : "fails"}`);
      await settled(tb);
      if (!step.passing) {
        // Contrail and Kubernetes part ways here: say so, naming the EndpointSlices that still list the pod
        const slices = await endpointSlicesListing(tb, pod);
        io.output(
          `  Contrail: the agent withdraws ${id}'s routes (vm_interface.cc: a failing service-health-check makes the interface inactive), so it leaves its Services' ECMP next-hops and is unreachable at its own address` +
            (slices.length
              ? `\n  Kubernetes disagrees: EndpointSlice ${slices.join(", ")} still list${slices.length === 1 ? "s" : ""} it ready (its readiness probe passes), so kube-proxy would still send it traffic`
              : ""),
        );
      }
      return;
    }
    case "vnc": {
      // the config API's refusal (400/404/409 and its message) is the step's error, at the entry's line
      const refused = await within("the config API", applyVncOps(tb, step.ops));
      if (refused)
        io.record({ line: refused.line, name: refused.name, verdict: "error", detail: refused.detail });
      return settled(tb);
    }
    case "wait": {
      await settled(tb);
      const problems = await podProblems(tb, step.pods);
      io.record({
        name: `pods ${describePods(step.pods)} ready`,
        verdict: problems.length ? "fail" : "pass",
        detail: problems.join("\n") || undefined,
      });
      return;
    }
    case "pods":
      await settled(tb);
      for (const exp of step.expectations) {
        const problems = await podProblems(tb, exp);
        io.record({
          name: `pods ${describePods(exp)}`,
          verdict: problems.length ? "fail" : "pass",
          detail: problems.join("\n") || undefined,
        });
      }
      return;
    case "show":
      await settled(tb);
      io.output(await show(tb, step));
      return;
    case "contrail":
      await settled(tb);
      for (const exp of step.expectations) io.record(await checkContrail(tb, exp));
      return;
    case "reach":
      await settled(tb);
      for (const probe of step.probes)
        io.record({ ...(await checkReach(tb, probe, io.netpol)), line: probe.line });
      return;
    case "matrix":
      await settled(tb);
      io.record(await checkMatrix(tb, step, { ...io.netpol, progress: io.progress }));
      return;
    case "vrouter":
      await settled(tb);
      for (const r of await checkVrouterRows(tb, step)) io.record(r);
      return;
    case "get":
      await settled(tb);
      await judged(tb, step, io, [
        { name: kubeGetName(step.target), line: step.line, run: () => kubeGet(tb, step.target) },
      ]);
      return;
  }
}

/** `${ip:<ns>/<pod or prefix*>}` in a vrouter step's command line and texts: the pod's address. */
async function fillPodIps(tb: Testbed, text: string): Promise<string> {
  let out = text;
  for (const [whole, ref] of text.matchAll(/\$\{ip:([^}\s]+)\}/g)) {
    const pod = await findPod(tb, ref!);
    const ip: string | undefined = pod.status?.podIP;
    if (!ip) throw new Error(`${whole}: pod ${pod.metadata.namespace}/${pod.metadata.name} has no IP yet`);
    out = out.replace(whole!, ip);
  }
  return out;
}

/** A vrouter step: the tool on the node's live tables, then one check per row expectation, at its line. */
async function checkVrouterRows(tb: Testbed, step: Extract<Step, { kind: "vrouter" }>): Promise<Recorded[]> {
  if (!tb.vrouterTool) throw new Error("this testbed cannot run the vrouter tools");
  let node: string;
  if ("name" in step.node) node = step.node.name;
  else {
    const pod = await findPod(tb, step.node.podOf);
    if (!pod.spec?.nodeName) throw new Error(`pod ${step.node.podOf} is not scheduled on a node`);
    node = pod.spec.nodeName;
  }
  const argv = await Promise.all(step.argv.map((a) => fillPodIps(tb, a)));
  const r = await tb.vrouterTool(node, argv);
  const { toolRows } = await import("../../fake-vrouter/tools/index");
  const rows = toolRows(argv[0]!, r.stdout);
  const command = `${node}$ ${argv.map((a) => (/[\s&|]/.test(a) ? `"${a}"` : a)).join(" ")}`;
  const output = `${r.stdout}${r.stderr}${r.code ? `(exit ${r.code})\n` : ""}`;
  const results: Recorded[] = [];
  for (const e of step.expect) {
    const texts = await Promise.all(e.texts.map((t) => fillPodIps(tb, t)));
    const hit = rows.find((row) => texts.every((t) => row.includes(t)));
    const ok = e.present === (hit !== undefined);
    results.push({
      line: e.line,
      name: `${command}: ${e.present ? "a row" : "no row"} with ${texts.map((t) => JSON.stringify(t)).join(", ")}`,
      verdict: ok ? "pass" : "fail",
      detail: ok
        ? undefined
        : e.present
          ? `no row holds them all; the output:\n${output}`
          : `this row holds them:\n${hit}`,
    });
  }
  return results;
}

// ---- acting as a user ---------------------------------------------------------------------------------------

/**
 * The testbed as a step's user sees it: Kubernetes requests impersonate them (kubectl --as), config API
 * requests carry their token (runner/vnc.ts reads `actor`).
 */
function actingAs(tb: Testbed, actor: { user: string; project?: string }, identity?: Identity): Testbed {
  // the user's keystone groups are the groups Kubernetes knows them in (kubectl --as-group)
  const groups = identity?.users.get(actor.user)?.groups ?? [];
  const kube = tb.kube.impersonate?.({ name: actor.user, ...(groups.length ? { groups } : {}) });
  if (!kube) throw new Error(`as: ${actor.user}: this cluster backend cannot act as another user`);
  return Object.assign(Object.create(tb) as Testbed, { kube, actor });
}

/** A request a user may be refused: its check's name, the entry's line, and the request itself. */
interface Attempt {
  name: string;
  line: number;
  run: () => Promise<unknown>;
}

/** Refused as a user would be: Kubernetes 403 Forbidden, config API 401 (no usable token) or 403. */
function refusal(e: unknown): string | undefined {
  if (e instanceof KubeApiError && e.status === 403) return `Error from server (Forbidden): ${e.message}`;
  // 401 only as keystonemiddleware or vnc_rbac word it (no usable token, no role): not the admin port's
  if (
    e instanceof VncHttpError &&
    (e.status === 403 || (e.status === 401 && /requires authentication|roles empty/.test(e.message)))
  )
    return e.message;
  const cause = (e as { cause?: unknown })?.cause;
  return cause ? refusal(cause) : undefined;
}

/** Each attempt is a check: it must be refused (`expect: forbidden`) or go through (`allowed`, get's default). */
async function judged(tb: Testbed, step: Step, io: StepIO, attempts: Attempt[]): Promise<void> {
  const forbidden = step.outcome === "forbidden";
  const who = tb.actor ? `as ${tb.actor.user}: ` : "";
  for (const a of attempts) {
    try {
      const out = await within(`the API server for ${a.name}`, a.run());
      io.record({
        line: a.line,
        name: `${who}${a.name} ${forbidden ? "refused" : "allowed"}`,
        verdict: forbidden ? "fail" : "pass",
        detail: forbidden ? "it was allowed" : typeof out === "string" ? out : undefined,
      });
    } catch (e) {
      const why = refusal(e);
      io.record({
        line: a.line,
        name: `${who}${a.name} ${forbidden ? "refused" : "allowed"}`,
        verdict: why ? (forbidden ? "pass" : "fail") : "error",
        detail: why ?? errorText(e),
      });
    }
  }
}

/** `expect:` on a step that changes something: each of its requests is one judged attempt. */
async function expectOutcome(step: Step, tb: Testbed, io: StepIO): Promise<void> {
  await settled(tb);
  const attempts: Attempt[] = [];
  switch (step.kind) {
    case "apply":
      for (const m of step.manifests)
        attempts.push({
          name: `apply ${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ""}${m.metadata.name}`,
          line: step.line,
          run: async () => applyManifest(tb, await fillTemplates(tb, m)),
        });
      break;
    case "delete":
      for (const key of step.objects) {
        const { resource, namespace } = locate(key);
        attempts.push({
          name: `delete ${key.kind} ${namespace ? `${namespace}/` : ""}${key.name}`,
          line: step.line,
          run: () => tb.kube.delete(resource, key.name, namespace),
        });
      }
      break;
    case "patch":
    case "label":
    case "annotate": {
      const { resource, namespace } = locate(step.target);
      const patch =
        step.kind === "patch"
          ? step.patch
          : { metadata: { [step.kind === "label" ? "labels" : "annotations"]: step.set } };
      attempts.push({
        name: `${step.kind} ${step.target.kind} ${namespace ? `${namespace}/` : ""}${step.target.name}`,
        line: step.line,
        run: () =>
          tb.kube.patch(
            resource,
            step.target.name,
            namespace,
            patch,
            step.kind === "patch" ? step.patchType : "merge",
          ),
      });
      break;
    }
    case "vnc":
      for (const op of step.ops)
        attempts.push({ name: describeVncOp(op), line: op.line, run: () => runVncOp(tb, op) });
      break;
    default:
      throw new Error(`expect: does not go with a ${step.kind} step`);
  }
  await judged(tb, step, io, attempts);
  await settled(tb);
}

function kubeGetName(t: { kind: string; namespace?: string; name?: string }): string {
  return `get ${t.kind} ${t.name ? `${t.namespace ? `${t.namespace}/` : ""}${t.name}` : `(list${t.namespace ? ` in ${t.namespace}` : ""})`}`;
}

async function kubeGet(
  tb: Testbed,
  t: { kind: string; apiVersion?: string; namespace?: string; name?: string },
) {
  const { resource, namespace } = locate({
    kind: t.kind,
    apiVersion: t.apiVersion,
    name: t.name ?? "",
    namespace: t.namespace,
  });
  if (t.name) {
    await tb.kube.get(resource, t.name, namespace);
    return undefined;
  }
  const { items } = await tb.kube.list(resource, t.namespace ? { namespace } : {});
  return `${items.length} ${t.kind}${items.length === 1 ? "" : "s"}: ${items.map((o) => o.metadata.name).join(", ") || "none"}`;
}

/** Backstop for every wait of a step (the settle barrier has its own, shorter limit): $CTB_WAIT_TIMEOUT_MS, default 5 min. */
function waitLimitMs(): number {
  const v = Number(process.env.CTB_WAIT_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 300_000;
}

/** `work`, or an error naming what was awaited once the wait limit has passed. */
export async function within<T>(what: string, work: Promise<T>, limitMs = waitLimitMs()): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `still waiting after ${Math.round(limitMs / 1000)} s for ${what} (CTB_WAIT_TIMEOUT_MS sets the limit)`,
          ),
        ),
      limitMs,
    );
  });
  work.catch(() => {}); // a late failure after the deadline is not news
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function settled(tb: Testbed): Promise<void> {
  return within("the testbed to settle", tb.settle());
}

/** Manifests are sent as kubectl sends them: unknown fields are an error (fieldValidation=Strict, kubectl ≥ 1.27). */
const KUBECTL_WRITE = { fieldValidation: "Strict" } as const;

async function applyManifest(tb: Testbed, m: KubeObject): Promise<void> {
  const resource = resourceForKind(m.apiVersion, m.kind);
  if (!resource) throw new Error(`apply: ${m.apiVersion} ${m.kind} is not a kind the testbed handles`);
  const namespace = RESOURCES[resource].namespaced ? (m.metadata.namespace ?? "default") : undefined;
  const what = `${m.kind} ${namespace ? `${namespace}/` : ""}${m.metadata.name}`;
  try {
    try {
      await within(`the API server to create ${what}`, tb.kube.create(resource, m, namespace, KUBECTL_WRITE));
    } catch (e) {
      if (!(e instanceof KubeApiError) || e.status !== 409) throw e;
      // like kubectl apply: an existing object is updated in place
      const current = await within(
        `the API server to get ${what}`,
        tb.kube.get(resource, m.metadata.name!, namespace),
      );
      await within(
        `the API server to update ${what}`,
        tb.kube.replace(
          resource,
          {
            ...m,
            metadata: { ...m.metadata, namespace, resourceVersion: current.metadata.resourceVersion },
            status: current.status,
          },
          KUBECTL_WRITE,
        ),
      );
    }
  } catch (e) {
    // kubectl's words: `Error from server (BadRequest): error when creating ...: <the server's message>`
    if (e instanceof KubeApiError)
      throw new Error(`apply ${what}: Error from server (${e.reason}): ${e.message}`, { cause: e });
    throw e;
  }
}

function locate(key: ObjectKey): { resource: ResourceName; namespace?: string } {
  const apiVersion = key.apiVersion ?? defaultApiVersion(key.kind);
  const resource = resourceForKind(apiVersion, key.kind);
  if (!resource) throw new Error(`${apiVersion} ${key.kind} is not a kind the testbed handles`);
  return { resource, namespace: RESOURCES[resource].namespaced ? (key.namespace ?? "default") : undefined };
}

/** The apiVersion a bare kind means: the group the testbed knows it in (Deployment → apps/v1). */
function defaultApiVersion(kind: string): string {
  const r = Object.values(RESOURCES).find((x) => x.kind === kind);
  if (!r) return "v1";
  return r.group ? `${r.group}/${r.version}` : r.version;
}

// ---- pods ------------------------------------------------------------------------------------------------

/** Resolve "<ns>/<pod>" or "<ns>/<prefix>*" (deployment pods have generated names) to one pod. */
async function findPod(tb: Testbed, ref: string): Promise<KubeObject> {
  const [namespace, pattern] = ref.split("/") as [string, string];
  const { items } = await tb.kube.list("pods", { namespace });
  const matches = items
    .filter((p) =>
      pattern.endsWith("*") ? p.metadata.name!.startsWith(pattern.slice(0, -1)) : p.metadata.name === pattern,
    )
    .sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  if (matches.length === 0)
    throw new Error(
      `no pod ${ref} (pods in ${namespace}: ${items.map((p) => p.metadata.name).join(", ") || "none"})`,
    );
  return matches[0]!;
}

async function podProblems(tb: Testbed, exp: PodExpectation): Promise<string[]> {
  const { items } = await tb.kube.list("pods", exp.namespace ? { namespace: exp.namespace } : undefined);
  const pods = items.filter((p) => !exp.name || matchName(p.metadata.name!, exp.name));
  const problems: string[] = [];
  if (exp.count !== undefined && pods.length !== exp.count)
    problems.push(`expected ${exp.count} pods, found ${pods.length}`);
  if (exp.count === undefined && pods.length === 0) problems.push("no such pods");
  for (const p of pods) {
    const id = `${p.metadata.namespace}/${p.metadata.name}`;
    const phase = p.status?.phase;
    const ip: string | undefined = p.status?.podIP;
    if ((exp.phase ?? "Running") !== phase) {
      const why = notRunningReason(p);
      problems.push(
        `${id} is ${phase ?? "without a phase"}${why ? ` (${why})` : ""}, expected ${exp.phase ?? "Running"}`,
      );
    }
    if (exp.reason !== undefined && !(notRunningReason(p) ?? "").includes(exp.reason))
      problems.push(`${id}: its reason "${notRunningReason(p) ?? "none"}" does not say "${exp.reason}"`);
    if (exp.subnet && !(ip && inSubnet(ip, exp.subnet)))
      problems.push(`${id} has IP ${ip ?? "none"}, not in ${exp.subnet}`);
    if (exp.ip && ip !== exp.ip) problems.push(`${id} has IP ${ip ?? "none"}, expected ${exp.ip}`);
    if (exp.node && p.spec?.nodeName !== exp.node)
      problems.push(`${id} is on ${p.spec?.nodeName ?? "no node"}, expected ${exp.node}`);
  }
  return problems;
}

/** Why a pod is not running, as its conditions say (unschedulable, network setup failed), if they say. */
export function notRunningReason(p: KubeObject): string | undefined {
  const conds = (p.status?.conditions ?? []) as {
    type: string;
    status: string;
    reason?: string;
    message?: string;
  }[];
  const c =
    conds.find((c) => c.type === "PodScheduled" && c.status === "False") ??
    conds.find((c) => c.type === "Ready" && c.status === "False" && c.message);
  if (c) return [c.reason, c.message].filter(Boolean).join(": ");
  if (!p.spec?.nodeName) return "not scheduled yet";
  return undefined;
}

/** `*` matches any text (`web-*`, `*-fip-0`); without one, the name itself. */
function matchName(name: string, pattern: string): boolean {
  return pattern.includes("*") ? fqGlobMatch([name], pattern) : name === pattern;
}

function describePods(exp: PodExpectation): string {
  const parts = [exp.namespace ? `in ${exp.namespace}` : "in all namespaces"];
  if (exp.name) parts.push(`named ${exp.name}`);
  if (exp.count !== undefined) parts.push(`count ${exp.count}`);
  if (exp.subnet) parts.push(`IP in ${exp.subnet}`);
  if (exp.ip) parts.push(`IP ${exp.ip}`);
  if (exp.node) parts.push(`on ${exp.node}`);
  parts.push(exp.phase ?? "Running");
  if (exp.reason) parts.push(`because "${exp.reason}"`);
  return parts.join(", ");
}

function inSubnet(ip: string, cidr: string): boolean {
  try {
    return ipaddr.parse(ip).match(ipaddr.parseCIDR(cidr));
  } catch {
    return false;
  }
}

// ---- reachability ----------------------------------------------------------------------------------------

export interface Target {
  ip: string;
  port?: number;
  label: string;
}

/** EndpointSlices ("<ns>/<name>") listing the pod as a ready endpoint. */
async function endpointSlicesListing(tb: Testbed, pod: KubeObject): Promise<string[]> {
  const list = await tb.kube
    .list("endpointslices", { namespace: pod.metadata.namespace })
    .catch(() => ({ items: [] }));
  return list.items
    .filter((s: KubeObject) =>
      ((s.endpoints ?? []) as { targetRef?: { uid?: string }; conditions?: { ready?: boolean } }[]).some(
        (e) => e.targetRef?.uid === pod.metadata.uid && e.conditions?.ready !== false,
      ),
    )
    .map((s: KubeObject) => `${s.metadata.namespace}/${s.metadata.name}`)
    .sort();
}

/**
 * `lb:<ns>/<name>` or `ingress:<ns>/<name>`: the first address in the object's status.loadBalancer, or why
 * there is none, from the controller's warnings about that object (no pool, a missing pool).
 */
async function statusAddress(
  tb: Testbed,
  to: string,
  resource: "services" | "ingresses",
  kind: "service" | "ingress",
  port?: number,
): Promise<Target> {
  const [namespace, name] = to.slice(to.indexOf(":") + 1).split("/") as [string, string];
  const obj = await tb.kube.get(resource, name, namespace).catch(() => undefined);
  if (!obj) throw new Error(`${to}: no ${kind} ${namespace}/${name}`);
  const ip: string | undefined = obj.status?.loadBalancer?.ingress?.find((i: { ip?: string }) => i.ip)?.ip;
  if (!ip) {
    const why = (tb.warnings?.() ?? []).filter((w) => w.includes(`${kind} ${namespace}/${name}:`));
    const what = kind === "service" ? "no load-balancer ingress address" : "no address";
    // a Service that is not type LoadBalancer never gets one; its externalIPs are addresses to probe directly
    const type: string = obj.spec?.type ?? "ClusterIP";
    const ext: string[] = obj.spec?.externalIPs ?? [];
    if (kind === "service" && type !== "LoadBalancer")
      why.unshift(
        `it is type ${type}, and only a LoadBalancer Service gets one${ext.length ? `; its externalIPs (${ext.join(", ")}) are reached as addresses: to: ${ext[0]}` : ""}`,
      );
    throw new Error(
      `${kind} ${namespace}/${name} has ${what} (status.loadBalancer is empty)${why.length ? `: ${why.join("; ")}` : ""}`,
    );
  }
  return { ip, port, label: `${to} (${ip})` };
}

/** A reach/matrix destination (pod ref or glob, service:<ns>/<name>, host:<name>, IP) to an address; `ctb trace` uses it too. */
export async function resolveTarget(tb: Testbed, to: string, port?: number, from?: string): Promise<Target> {
  if (to.startsWith("dns:")) {
    // a name is resolved by the source's own query to the cluster DNS (through the datapath)
    if (!from) throw new Error(`${to}: a DNS name is resolved from a source pod (reach and trace take it)`);
    const l = await lookUpName(tb, from, to.slice("dns:".length));
    if (!l.address) {
      // an answer (NXDOMAIN) says it all; a lost query comes with the trace that explains the loss
      const answered = !/dropped|no DNS response/.test(l.lines[1] ?? "");
      throw new Error(
        `${to} does not resolve from ${from}: ${(answered ? l.lines.slice(1, 2) : l.lines.slice(1)).join("\n")}`,
      );
    }
    return { ip: l.address, port, label: `${to} (${l.address})` };
  }
  if (to.startsWith("service:")) {
    const [namespace, name] = to.slice("service:".length).split("/") as [string, string];
    const svc = await tb.kube.get("services", name, namespace);
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === "None") throw new Error(`service ${namespace}/${name} has no cluster IP`);
    return { ip, port, label: `service ${namespace}/${name} (${ip})` };
  }
  if (to.startsWith("lb:")) return statusAddress(tb, to, "services", "service", port);
  // vnc_ingress.py writes the floating IP first, then the VIP
  if (to.startsWith("ingress:")) return statusAddress(tb, to, "ingresses", "ingress", port);
  if (to.startsWith("host:")) return { ip: await hostIp(tb, to), port, label: to };
  if (to.startsWith("external:")) {
    const ip = tb.externalHostIp?.(to.slice("external:".length));
    if (!ip)
      throw new Error(`no external host ${to.slice("external:".length)} in this scenario's externalHosts`);
    return { ip, port, label: `${to} (${ip})` };
  }
  if (/^\d/.test(to)) return { ip: to, port, label: to };
  const { pod: podRef, network } = splitAttachment(to);
  const pod = await findPod(tb, podRef);
  if (network) {
    const ip = attachmentIp(pod, network);
    return { ip, port, label: `${pod.metadata.namespace}/${pod.metadata.name}@${network} (${ip})` };
  }
  const ip = pod.status?.podIP;
  if (!ip)
    throw new Error(
      `pod ${pod.metadata.namespace}/${pod.metadata.name} has no IP (phase ${pod.status?.phase})`,
    );
  return { ip, port, label: `${pod.metadata.namespace}/${pod.metadata.name} (${ip})` };
}

async function hostIp(tb: Testbed, ref: string): Promise<string> {
  const ip = tb.fabricHostIp(ref.slice("host:".length));
  if (!ip) throw new Error(`no fabric host ${ref.slice("host:".length)} in this scenario's fabricHosts`);
  return ip;
}

/** A reach source (pod ref or glob, host:<name>) to the endpoint name probes start from. */
export async function resolveSource(tb: Testbed, from: string): Promise<{ endpoint: string; label: string }> {
  if (from.startsWith("host:") || from.startsWith("external:")) return { endpoint: from, label: from };
  const { pod: podRef, network } = splitAttachment(from);
  const pod = await findPod(tb, podRef);
  let endpoint = `${pod.metadata.namespace}/${pod.metadata.name}`;
  // a secondary interface is its own endpoint on the datapaths
  if (network) {
    attachmentIp(pod, network);
    endpoint += `@${network}`;
  }
  return { endpoint, label: endpoint };
}

/** `allows:` — the whole set of protocols and ports that gets through must be exactly the one written. */
async function checkAllows(
  tb: Testbed,
  want: ProtoPorts,
  src: { endpoint: string; label: string },
  dst: Target,
  name: string,
  netpol?: Pick<MatrixContext, "layout" | "clusterName" | "apsName">,
): Promise<Omit<CheckResult, "step" | "line" | "title" | "kind">> {
  const set = await reachSet(tb, src.endpoint, dst.ip, { netpol });
  // a protocol the datapath cannot send is left out of both sides (the report says so)
  const known = (p: ProtoPorts): ProtoPorts => {
    const copy = { ...p };
    for (const proto of set.unprobed) copy[proto] = [];
    return copy;
  };
  const got = formatProtoPorts(known(set.delivered));
  const output = formatReachSet(src.label, dst.label, set).trimEnd();
  const problems: string[] = [];
  if (got !== formatProtoPorts(known(want)))
    problems.push(`expected ${formatProtoPorts(known(want))}, got ${got}`);
  if (set.bySourcePort.length)
    problems.push(
      "some ports get through only from some source ports (listed above); allows cannot say which",
    );
  return {
    name,
    verdict: problems.length ? "fail" : "pass",
    output,
    ...(problems.length ? { detail: problems.join("\n") } : {}),
  };
}

async function checkReach(
  tb: Testbed,
  p: ReachProbe,
  netpol?: Pick<MatrixContext, "layout" | "clusterName" | "apsName">,
): Promise<Omit<CheckResult, "step" | "line" | "title" | "kind">> {
  const name = p.allows
    ? `${p.from} → ${p.to} allows ${formatProtoPorts(p.allows)}`
    : p.proto === "http"
      ? `${p.from} → ${p.to} http://${p.host ?? "(address)"}${p.path}${p.port !== 80 ? ` port ${p.port}` : ""} expect ${p.expect}`
      : `${p.from} → ${p.to} ${p.proto}${p.port ? `/${p.port}` : ""} expect ${p.expect}`;
  let src: { endpoint: string; label: string };
  let dst: Target;
  let lookup: NameLookup | undefined;
  try {
    src = await resolveSource(tb, p.from);
    if (p.to.startsWith("dns:")) {
      lookup = await lookUpName(tb, src.endpoint, p.to.slice("dns:".length));
      if (!lookup.address) {
        // no address, no packet: the resolution is the verdict (NXDOMAIN, no response, a drop of the query)
        const text = lookup.lines.join("\n");
        const wrongDrop = p.expect === "deny" && p.droppedBy !== undefined && !text.includes(p.droppedBy);
        return {
          name,
          verdict: p.expect === "deny" && !wrongDrop ? "pass" : "fail",
          output: lookup.lines.slice(0, 2).join("\n"),
          detail:
            p.expect === "deny" && !wrongDrop
              ? undefined
              : `${wrongDrop ? `not resolved, but not because of "${p.droppedBy}"` : "observed deny: the name did not resolve"}\n${text}`,
        };
      }
      dst = { ip: lookup.address, port: p.port, label: `${p.to} (${lookup.address})` };
    } else dst = await resolveTarget(tb, p.to, p.port);
  } catch (e) {
    return { name, verdict: "error", detail: errorText(e) };
  }
  if (p.allows) {
    const r = await checkAllows(tb, p.allows, src, dst, name, netpol).catch(
      (e): Omit<CheckResult, "step" | "line" | "title" | "kind"> => ({
        name,
        verdict: "error",
        detail: errorText(e),
      }),
    );
    return lookup
      ? { ...r, output: [...lookup.lines.slice(0, 2), r.output ?? ""].filter(Boolean).join("\n") }
      : r;
  }
  if (lookup) {
    const r = await (p.proto === "http"
      ? checkHttp(tb, p, src.endpoint, dst, name)
      : checkReach(tb, { ...p, to: dst.ip }));
    return { ...r, name, output: [...lookup.lines.slice(0, 2), r.output ?? ""].filter(Boolean).join("\n") };
  }
  if (p.proto === "http") return checkHttp(tb, p, src.endpoint, dst, name);
  if (p.spread) return checkSpread(tb, p, src.endpoint, dst, name);
  const r = await within(
    `the probe ${src.endpoint} → ${dst.ip}`,
    tb.probe({ from: src.endpoint, toIp: dst.ip, proto: p.proto, port: dst.port, count: p.count }),
  );
  const got = r.received === 0 ? "deny" : r.received === r.sent ? "allow" : "partial";
  // a deny that must be this drop (the rule that decides, where the design documents say otherwise)
  const dropText = [r.drop ? `dropped at ${r.drop.where}: ${r.drop.reason}` : "", ...r.trace].join("\n");
  const wrongDrop = got === "deny" && p.droppedBy !== undefined && !dropText.includes(p.droppedBy);
  // a packet that was lost names where and by what (the deciding rule), in the report of a passing deny too
  const dropLine = r.drop && r.received < r.sent ? `\n${dropLines(r).join("\n")}` : "";
  const output =
    (p.proto === "icmp"
      ? pingOutput(src.endpoint, dst.ip, r)
      : connectOutput(src.endpoint, dst, p.proto, r)) + dropLine;
  return {
    name,
    verdict: got === p.expect && !wrongDrop ? "pass" : "fail",
    output,
    detail:
      got !== p.expect
        ? explain(r, got)
        : wrongDrop
          ? `denied, but not by "${p.droppedBy}"\n${explain(r, got)}`
          : undefined,
  };
}

interface NameLookup {
  address?: string;
  /** What the report shows: the query and its answer (or why none), then the query packet's trace. */
  lines: string[];
}

/**
 * Resolve a name as the source pod's resolver would: one query to the cluster DNS address (the kube-dns
 * Service's ClusterIP, kubelet's --cluster-dns) through the datapath; the first A record is the address.
 */
async function lookUpName(tb: Testbed, from: string, qname: string): Promise<NameLookup> {
  if (!tb.resolve) throw new Error(`DNS names are not supported on the ${tb.datapath} datapath`);
  const server = await clusterDnsAddress(tb.kube);
  if ("error" in server) throw new Error(`${qname}: ${server.error}`);
  const r = await within(
    `the DNS query ${from} → ${server.ip}`,
    tb.resolve({ from, server: server.ip, name: qname }),
  );
  const head = `${from}$ nslookup ${qname} ${server.ip}   (kube-system/kube-dns)`;
  if (r.rcode === undefined) {
    // the decision's trace line (the rule that dropped the query) in the same entry: the report shows lines 0-1
    const decision = dropLines(r).slice(1);
    const why = r.drop
      ? [`the query was dropped at ${r.drop.where}: ${r.drop.reason}`, ...decision].join("\n")
      : "no DNS response";
    return { lines: [head, `→ ${why}`, ...r.trace] };
  }
  const by = r.servedBy ? ` from ${r.servedBy}` : "";
  if (r.rcode !== "NOERROR") return { lines: [head, `→ ${r.rcode}${by}`, ...r.trace] };
  if (!r.addresses.length) return { lines: [head, `→ NOERROR${by}, no A record`, ...r.trace] };
  return { address: r.addresses[0], lines: [head, `→ ${r.addresses.join(", ")}${by}`, ...r.trace] };
}

/**
 * One HTTP GET: allow = a backend pod answered (200). The report names the rule that chose the backend (the
 * Ingress, its host and path, the backend Service and port, from the pool's and member's annotations) or why
 * none did (no rule matched and no default backend, the Service's address not answering, the connection dropped).
 */
async function checkHttp(
  tb: Testbed,
  p: ReachProbe,
  from: string,
  dst: Target,
  name: string,
): Promise<Omit<CheckResult, "step" | "line" | "title" | "kind">> {
  if (!tb.http)
    return {
      name,
      verdict: "error",
      detail: `proto http is not supported on the ${tb.datapath} datapath yet (no HTTP proxy runs there)`,
    };
  const r = await within(
    `the HTTP request ${from} → ${dst.ip}`,
    tb.http({ from, toIp: dst.ip, port: p.port ?? 80, host: p.host, path: p.path ?? "/" }),
  );
  const lines: string[] = [];
  const curl = `curl -s${p.host ? ` -H 'Host: ${p.host}'` : ""} http://${dst.ip}${p.port !== 80 ? `:${p.port}` : ""}${p.path}`;
  lines.push(`${from}$ ${curl}`);
  if (r.refused) {
    // reached, but nothing listens: for an Ingress, haproxy has no frontend on the port (kube-manager built
    // no listener, e.g. every backend names a missing Service or a named port)
    const port = p.port ?? 80;
    lines.push(
      p.to.startsWith("ingress:")
        ? `→ connection refused by haproxy: no listener on port ${port} (kube-manager builds an HTTP/80 listener per backend it can resolve; see the warnings)`
        : `→ connection refused: ${dst.ip} was reached, nothing listens on port ${port}`,
    );
  } else if (!r.connected)
    lines.push(`→ connection not answered${r.drop ? `\n${dropLines(r).join("\n")}` : ""}`);
  else lines.push(`→ HTTP ${r.status}${r.servedBy ? ` from ${r.servedBy}` : ""}`);
  const why = r.proxy ? await describeDecision(tb, r) : [];
  lines.push(...why.map((l) => `  ${l}`));
  // where Contrail's haproxy and Kubernetes' Ingress rules part ways, say so for this request
  if (p.to.startsWith("ingress:") && r.connected) {
    const disagree = await kubernetesDisagrees(tb, p, why.join("\n"));
    if (disagree) lines.push(`  ${disagree}`);
  }
  // which firewall rule let haproxy's connection to the backend through, and whether NetworkPolicy would
  if (r.proxy?.firewall?.length) lines.push(...(await proxyFirewallLines(tb, r)).map((l) => `  ${l}`));
  const got = r.connected && r.status === 200 ? "allow" : "deny";
  const text = [...lines, r.drop ? `dropped at ${r.drop.where}: ${r.drop.reason}` : "", ...r.trace].join(
    "\n",
  );
  const wrongBackend = got === "allow" && p.backend !== undefined && !why.join("\n").includes(p.backend);
  const wrongDrop = got === "deny" && p.droppedBy !== undefined && !text.includes(p.droppedBy);
  const detail: string[] = [];
  if (got !== p.expect) detail.push(`observed ${got}`);
  if (wrongBackend) detail.push(`answered, but the rule that chose does not name "${p.backend}"`);
  if (wrongDrop) detail.push(`not answered, but not because of "${p.droppedBy}"`);
  if (detail.length && r.drop) detail.push(`dropped at ${r.drop.where}: ${r.drop.reason}`);
  if (detail.length && r.trace.length) detail.push("packet trace:", ...r.trace.map((t) => `  ${t}`));
  return {
    name,
    verdict: detail.length ? "fail" : "pass",
    output: lines.join("\n"),
    detail: detail.length ? detail.join("\n") : undefined,
  };
}

/** A line saying where Kubernetes' own Ingress routing would send this request, when not where haproxy did. */
async function kubernetesDisagrees(
  tb: Testbed,
  p: ReachProbe,
  contrail: string,
): Promise<string | undefined> {
  const [namespace, name] = p.to.slice("ingress:".length).split("/") as [string, string];
  const ing = await tb.kube.get("ingresses", name, namespace).catch(() => undefined);
  if (!ing) return undefined;
  const k = kubernetesIngressBackend(ing.spec, p.host, p.path ?? "/");
  const chosen = /→ backend (\S+)/.exec(contrail)?.[1];
  const want = k ? `${k.service}:${k.port}` : undefined;
  if (want === chosen) return undefined;
  // a backend Kubernetes would pick but that does not exist (no such Service or port) fails there too: no
  // disagreement on the outcome, only kube-manager's way of getting there (it built no listener; a warning says so)
  if (k && !(await backendExists(tb, namespace, k))) return undefined;
  // why haproxy chose otherwise: its path acl is exact, its Host compare whole (no wildcard)
  const why: string[] = [];
  if (k?.path !== undefined && k.pathType !== "Exact" && k.path !== (p.path ?? "/").split("?")[0])
    why.push("kube-manager's haproxy matches paths exactly (acl path)");
  if (k?.host?.startsWith("*."))
    why.push("kube-manager's haproxy compares the Host header whole (no wildcard)");
  const rule = k?.default
    ? "its default backend"
    : k
      ? `its rule host ${k.host ?? "(any)"} path ${k.path} (pathType ${k.pathType ?? "unset"})`
      : "no rule and no default backend";
  return `Kubernetes disagrees: by ${rule} the request goes to ${want ?? "no backend (404)"}${why.length ? `; ${why.join("; ")}` : ""}`;
}

/** The Service an Ingress backend names exists and has that port (by number or name). */
async function backendExists(tb: Testbed, namespace: string, k: { service: string; port: number | string }) {
  const svc = await tb.kube.get("services", k.service, namespace).catch(() => undefined);
  const ports = (svc?.spec?.ports ?? []) as { port?: number; name?: string }[];
  return ports.some((x) => x.port === k.port || x.name === k.port);
}

/**
 * The firewall decision on haproxy's connection to the backend (the sim datapath reports it) and, when the pod
 * that answered is isolated by a NetworkPolicy that admits no such source, that Kubernetes disagrees: it applies
 * NetworkPolicy to an Ingress proxy like to any client, while kube-manager's `<c>-Ingress` rules (the APS's first
 * firewall policy) pass the proxy to the backend Service's members before any NetworkPolicy's deny.
 */
async function proxyFirewallLines(tb: Testbed, r: HttpResult): Promise<string[]> {
  const decisions = r.proxy!.firewall!;
  const decisive = decisions.find((d) => d.action === "deny") ?? decisions.at(-1)!;
  const rule = decisive.rule?.split(":").at(-1);
  const policy = decisive.policy?.split(":").at(-1) ?? "(none)";
  const out = [
    `haproxy → server: ${decisive.where} end ${decisive.action}, ${rule ? `firewall-rule ${rule} (firewall-policy ${policy})` : `no rule of firewall-policy ${policy} matched`}`,
  ];
  if (decisive.action !== "pass" || !r.servedBy || !r.proxy?.sourceIp || !r.proxy.server) return out;
  const world = await clusterWorld(tb);
  const [ns, name] = r.servedBy.split("/");
  const pod = world.pods.find((x) => x.metadata.namespace === ns && x.metadata.name === name);
  if (!pod?.status?.podIP) return out;
  const port = await targetPort(tb, r.proxy.server, pod);
  const v = kubernetesVerdict(world, {
    from: { ip: r.proxy.sourceIp },
    to: { pod, ip: pod.status.podIP },
    proto: "tcp",
    ...(port !== undefined ? { port } : {}),
  });
  if (!v.allowed)
    out.push(
      `Kubernetes disagrees: NetworkPolicy ${v.ingress.isolatedBy.join(", ")} isolates ${r.servedBy} and admits no connection from the Ingress proxy (${r.proxy.sourceIp}); Contrail passes it by ${rule ?? "no rule"}, ${policy} being the first firewall policy of the cluster's application-policy-set`,
    );
  return out;
}

/** The port a Service's server address leads to on a pod (its targetPort, a named one from the pod's containers). */
async function targetPort(
  tb: Testbed,
  server: { ip: string; port: number },
  pod: KubeObject,
): Promise<number | undefined> {
  const svcs = await tb.kube.list("services", { namespace: pod.metadata.namespace });
  const svc = svcs.items.find((s) => s.spec?.clusterIP === server.ip);
  const sp = (svc?.spec?.ports ?? []).find((x: { port: number }) => x.port === server.port);
  const t = sp?.targetPort ?? sp?.port;
  if (typeof t === "number") return t;
  for (const c of pod.spec?.containers ?? [])
    for (const cp of c.ports ?? []) if (cp.name === t) return cp.containerPort;
  return undefined;
}

/** The haproxy decision in the Ingress's words: which rule (pool annotations) and backend (member) took it. */
async function describeDecision(tb: Testbed, r: HttpResult): Promise<string[]> {
  const { decision, lbUuid } = r.proxy!;
  const lbs = await listContrail(tb, "loadbalancer");
  const lb = lbs.find((o) => o.uuid === lbUuid);
  // biome-ignore lint/suspicious/noExplicitAny: config API objects as listed
  const kv = (o: Record<string, any> | undefined) =>
    new Map<string, string>(
      (o?.annotations?.key_value_pair ?? []).map((x: { key: string; value: string }) => [x.key, x.value]),
    );
  const lbKv = kv(lb);
  const ingress =
    lbKv.get("kind") === "Ingress"
      ? `ingress ${lbKv.get("namespace")}/${lbKv.get("name")}`
      : `loadbalancer ${lbUuid}`;
  const pools = await listContrail(tb, "loadbalancer-pool");
  const ruleOf = (poolUuid: string) => {
    const a = kv(pools.find((o) => o.uuid === poolUuid));
    return a.get("type") === "default"
      ? "default backend"
      : `rule host ${a.get("host") ?? "(any)"} path ${a.get("path") ?? "(any)"}`;
  };
  const out: string[] = [];
  // haproxy tries the use_backend rules in order: the ones before the deciding one did not match
  for (const po of decision.passedOver) {
    const m = /^(\S+): (.*)$/.exec(po);
    out.push(m ? `${ruleOf(m[1]!)}: ${m[2]}` : po);
  }
  if (!decision.frontend) return [...out, `${ingress}: haproxy has no frontend on this port`];
  if (!decision.backend)
    return [...out, `${ingress}: no rule matched and there is no default backend: haproxy answers 503`];
  const pool = pools.find((o) => o.uuid === decision.backend);
  const members = await listContrail(tb, "loadbalancer-member");
  const member = members.find(
    (m) => m.parent_uuid === decision.backend || m.fq_name?.[m.fq_name.length - 2] === pool?.fq_name?.at(-1),
  );
  const pkv = kv(pool);
  const svc = kv(member).get("serviceName");
  const port = member?.loadbalancer_member_properties?.protocol_port;
  const rule =
    decision.how === "default"
      ? "default backend"
      : `rule host ${pkv.get("host") ?? "(any)"} path ${pkv.get("path") ?? "(any)"} (haproxy: ${decision.matched.map((a) => (a.kind === "host" ? `Host ${a.value}` : `path == ${a.value}`)).join(" and ")})`;
  out.push(`${ingress}: ${rule} → backend ${svc ?? "?"}:${port ?? "?"}`);
  if (r.proxy!.server)
    out.push(`haproxy → server ${r.proxy!.server.ip}:${r.proxy!.server.port} (the Service's cluster IP)`);
  if (r.status === 503)
    out.push(`the backend did not answer (${r.proxy!.serverDrop ?? "no server"}): haproxy answers 503`);
  return out;
}

function explain(r: ProbeResult, got: string): string {
  const lines = [`observed ${got} (${r.received}/${r.sent} answered)`];
  if (r.drop) lines.push(`dropped at ${r.drop.where}: ${r.drop.reason}`);
  if (r.trace.length) lines.push("packet trace:", ...r.trace.map((t) => `  ${t}`));
  return lines.join("\n");
}

async function checkSpread(
  tb: Testbed,
  p: ReachProbe,
  from: string,
  dst: Target,
  name: string,
): Promise<Omit<CheckResult, "step" | "line" | "title" | "kind">> {
  const flows = p.spread!.flows;
  // every attempt is a new flow (new source port): the source vrouter picks an ECMP member per flow
  const r = await within(
    `the probe ${from} → ${dst.ip}`,
    tb.probe({
      from,
      toIp: dst.ip,
      proto: p.proto === "http" ? "tcp" : p.proto,
      port: dst.port,
      count: flows,
    }),
  );
  const members = Object.entries(r.servedByCounts).sort(([a], [b]) => a.localeCompare(b));
  const problems: string[] = [];
  if (r.received < flows) problems.push(`${flows - r.received} of ${flows} flows got no answer`);
  if (members.length < p.spread!.minMembers) {
    problems.push(`only ${members.length} member(s) answered, expected at least ${p.spread!.minMembers}`);
  }
  const ok = p.expect === "allow" ? problems.length === 0 : r.received === 0;
  const lines = members.map(([m, n]) => `  ${m}: ${n} flow(s)`).join("\n");
  return {
    name: `${name}, spread over ≥${p.spread!.minMembers} members`,
    verdict: ok ? "pass" : "fail",
    output: `${flows} flows to ${dst.label}:\n${lines || "  (no answers)"}`,
    detail: ok
      ? undefined
      : problems.length
        ? `${problems.join("\n")}\n${explain(r, "partial")}`
        : "members answered but deny was expected",
  };
}

function pingOutput(from: string, ip: string, r: ProbeResult): string {
  const [ns, pod] = from.split("/");
  const lines = [
    // a fabric or external host is not a pod: its own shell
    pod === undefined
      ? `${from}$ ping ${ip}`
      : `kubectl exec -it ${pod}${ns !== "default" ? ` -n ${ns}` : ""} ping ${ip}`,
    `PING ${ip} (${ip}): 56 data bytes`,
  ];
  for (let i = 0; i < r.received; i++)
    lines.push(`64 bytes from ${ip}: icmp_seq=${i} ttl=${r.replyTtl ?? 64}`);
  const loss = r.sent === 0 ? 0 : Math.round(((r.sent - r.received) / r.sent) * 100);
  lines.push(
    `--- ${ip} ping statistics ---`,
    `${r.sent} packets transmitted, ${r.received} packets received, ${loss}% packet loss`,
  );
  return lines.join("\n");
}

/** Where a lost packet was dropped, and the trace line of the decision (the rule that denied it, when one did). */
function dropLines(r: Pick<ProbeResult, "drop" | "trace">): string[] {
  if (!r.drop) return [];
  const { where } = r.drop;
  const decision = (
    r.trace.findLast((t) => t.trim().startsWith(`${where}(`)) ??
    r.trace.findLast((t) => /\((deny|drop)\):/.test(t))
  )?.trim();
  return [`  dropped at ${r.drop.where}: ${r.drop.reason}`, ...(decision ? [`    ${decision}`] : [])];
}

function connectOutput(from: string, dst: Target, proto: string, r: ProbeResult): string {
  const ok = r.received > 0;
  const failed = r.refused > 0 ? "refused (reached, nothing listens on the port)" : "no answer";
  return `${from}: connect ${proto} ${dst.ip}:${dst.port} → ${ok ? `connected${r.servedBy ? ` (answered by ${r.servedBy})` : ""}` : failed}`;
}

// ---- matrix ----------------------------------------------------------------------------------------------

// ---- contrail objects ------------------------------------------------------------------------------------

async function listContrail(tb: Testbed, type: string): Promise<Record<string, any>[]> {
  const ep = adminEndpoint(tb);
  const res = await fetch(`${ep.base}/${type}s?detail=true`, { headers: ep.headers });
  if (!res.ok) throw new Error(`config API: GET /${type}s → ${res.status} ${await res.text()}`);
  const body = (await res.json()) as Record<string, { [t: string]: Record<string, any> }[]>;
  return (body[`${type}s`] ?? []).map((w) => w[type]!);
}

async function checkContrail(
  tb: Testbed,
  written: ContrailExpectation,
): Promise<Omit<CheckResult, "step" | "line" | "title" | "kind">> {
  let exp = written;
  const ident = exp.fqName ? exp.fqName.join(":") : (exp.name ?? (exp.of ? "" : "(any)"));
  const owner = exp.of ? `${ident ? " " : ""}of ${describeOwner(exp.of)}` : "";
  const name = `${exp.type} ${ident}${owner} ${exp.exists ? "exists" : "does not exist"}${exp.count !== undefined ? ` (count ${exp.count})` : ""}`;
  let objs: Record<string, any>[];
  let uid: string | undefined;
  try {
    exp = await fillRunTemplates(tb, written);
    objs = await listContrail(tb, exp.type);
    if (exp.of) uid = await ownerUid(tb, exp.of);
  } catch (e) {
    return { name, verdict: "error", detail: errorText(e) };
  }
  const matches = objs.filter(
    (o) =>
      (!exp.fqName || fqGlobMatch(o.fq_name as string[], exp.fqName.join(":"))) &&
      (!exp.name || matchName((o.fq_name as string[]).at(-1)!, exp.name)) &&
      (!exp.of || ownedBy(o, exp.of, uid)),
  );
  const found = matches.map((o) => (o.fq_name as string[]).join(":"));
  const problems: string[] = [];
  if (exp.exists && matches.length === 0) {
    const similar = objs.map((o) => (o.fq_name as string[]).join(":")).slice(0, 20);
    problems.push(`not found; ${exp.type} objects present: ${similar.join(", ") || "none"}`);
  }
  // with fields or refs, `exists: false` says no object has all of them (a VMI without a given tag ref)
  const holdsAll = (o: (typeof matches)[number]) =>
    fieldMismatches(o, exp.fields ?? {}).length === 0 && refMismatches(o, exp.refs ?? {}).length === 0;
  const present = !exp.exists && (exp.fields || exp.refs) ? matches.filter(holdsAll) : matches;
  if (!exp.exists && present.length > 0)
    problems.push(`found ${present.map((o) => (o.fq_name as string[]).join(":")).join(", ")}`);
  if (exp.count !== undefined && matches.length !== exp.count)
    problems.push(`expected ${exp.count}, found ${matches.length}: ${found.join(", ")}`);
  if (exp.exists && (exp.fields || exp.refs) && matches.length > 0) {
    const fieldProblems = matches.map((o) => [
      ...fieldMismatches(o, exp.fields ?? {}),
      ...refMismatches(o, exp.refs ?? {}),
    ]);
    // one object holding everything passes; else show the closest one's differences
    const closest = fieldProblems.reduce((a, b) => (b.length < a.length ? b : a));
    if (closest.length > 0) {
      if (matches.length > 1)
        problems.push(
          `none of the ${matches.length} matching objects has all of it; the closest, ${found[fieldProblems.indexOf(closest)]}:`,
        );
      problems.push(...closest);
    }
  }
  return {
    name,
    verdict: problems.length ? "fail" : "pass",
    output: found.length ? found.map((f) => `  ${exp.type} ${f}`).join("\n") : undefined,
    detail: problems.join("\n") || undefined,
  };
}

/** The uid of the pod or service an `of:` names (undefined for namespaces, nodes, or an object gone). */
async function ownerUid(
  tb: Testbed,
  of: NonNullable<ContrailExpectation["of"]>,
): Promise<string | undefined> {
  if (of.kind !== "Pod" && of.kind !== "Service" && of.kind !== "Ingress") return undefined;
  const resource = of.kind === "Pod" ? "pods" : of.kind === "Service" ? "services" : "ingresses";
  try {
    return (await tb.kube.get(resource, of.name, of.namespace)).metadata.uid;
  } catch (e) {
    if (e instanceof KubeApiError && e.status === 404) return undefined;
    throw e;
  }
}

function fieldMismatches(obj: Record<string, any>, fields: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [path, want] of Object.entries(fields)) {
    const got = path.split(".").reduce<any>((o, k) => (o == null ? undefined : o[k]), obj);
    if (!contains(got, want))
      out.push(`${path}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  return out;
}

/** Deep equality, except that an expected array only needs its items to be present. */
function contains(got: unknown, want: unknown): boolean {
  if (Array.isArray(want)) return Array.isArray(got) && want.every((w) => got.some((g) => contains(g, w)));
  if (want && typeof want === "object") {
    return (
      !!got && typeof got === "object" && Object.entries(want).every(([k, v]) => contains((got as any)[k], v))
    );
  }
  return got === want;
}

// ---- show ------------------------------------------------------------------------------------------------

async function show(tb: Testbed, step: Extract<Step, { kind: "show" }>): Promise<string> {
  const s = step.show;
  if ("pods" in s) return podsTable(tb, s.pods.namespace);
  if ("namespace" in s) return describeNamespace(tb, s.namespace);
  const objs = await listContrail(tb, s.contrail);
  return objs.map((o) => `${s.contrail} ${(o.fq_name as string[]).join(":")}  ${o.uuid}`).join("\n");
}

export async function podsTable(tb: Testbed, namespace?: string): Promise<string> {
  const { items } = await tb.kube.list("pods", namespace ? { namespace } : undefined);
  const rows = items
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace}/${b.metadata.name}`,
      ),
    )
    .map((p) => {
      const ready = p.status?.conditions?.find((c: any) => c.type === "Ready")?.status === "True";
      const containers = p.spec?.containers?.length ?? 1;
      return [
        ...(namespace ? [] : [p.metadata.namespace!]),
        p.metadata.name!,
        `${ready ? containers : 0}/${containers}`,
        p.status?.phase ?? "Pending",
        "0",
        age(p.metadata.creationTimestamp),
        p.status?.podIP ?? "<none>",
        p.spec?.nodeName ?? "<none>",
      ];
    });
  const header = [
    ...(namespace ? [] : ["NAMESPACE"]),
    "NAME",
    "READY",
    "STATUS",
    "RESTARTS",
    "AGE",
    "IP",
    "NODE",
  ];
  return formatColumns([header, ...rows]);
}

function age(ts: unknown): string {
  const t = ts ? new Date(ts as string).getTime() : Date.now();
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

export function formatColumns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join(""))
    .join("\n");
}

export async function describeNamespace(tb: Testbed, name: string): Promise<string> {
  const ns = await tb.kube.get("namespaces", name);
  const labels = Object.entries(ns.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const annotations = Object.entries(ns.metadata.annotations ?? {}).map(([k, v]) => `${k}: ${v}`);
  const isolated =
    ns.metadata.annotations?.["opencontrail.kubernetes.isolated"] === "true" ||
    ns.metadata.annotations?.["opencontrail.org/isolation"] === "true";
  return [
    `kubectl describe namespace ${name}`,
    `Name:         ${name}`,
    `Labels:       ${labels.join("\n              ") || "<none>"}`,
    `Annotations:  ${annotations.join("\n              ") || "<none>"}${isolated ? "     Namespace is isolated" : ""}`,
    `Status:       ${ns.status?.phase ?? "Active"}`,
  ].join("\n");
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
