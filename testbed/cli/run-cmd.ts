/**
 * `ctb run <scenario…>`: each scenario in a fresh testbed, reported as it goes; exit 0 iff every expectation
 * holds. The run records what it starts under `<work dir>/runs/<id>/` (testbed/run-record.ts), which is also
 * its state directory; a clean end removes it. Ctrl-C, SIGTERM, SIGHUP or a closed output pipe stop the run at
 * the current step and tear the testbed down (testbed/cli/lifecycle.ts); whatever a SIGKILL leaves, `ctb down`
 * finds in the record. `--pcap DIR` writes captures of the run: the fabric and each compute's fabric port.
 *
 * Example: `ctb run scenarios/section-9.yaml --datapath netns --pcap /tmp/caps`
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import type { CaptureHandle } from "../capture";
import type { EnvTestbed } from "../env";
import { leftovers, pruneDeadRuns, RunRecord } from "../run-record";
import type { RunReport } from "../runner/run";
import { type Scenario, ScenarioError } from "../scenario/types";
import { envFlags, UsageError, withOverrides } from "./flags";
import { interrupted, onTeardown, say } from "./lifecycle";

/** Never settles: after an interrupt the lifecycle's teardown ends the process, nothing else may print. */
const parked = () => new Promise<never>(() => {});

export async function run(args: string[]): Promise<number> {
  // the whole stack loads only for verbs that start an environment: inspection verbs stay quick
  const { loadScenario } = await import("../scenario/load");
  const { startTestbed } = await import("../env");
  const { loadErrorReport, runScenario } = await import("../runner/run");
  const { jsonReport, junitReport, progress, red, summaryText, textReporter } = await import(
    "../runner/report"
  );
  const { options, positionals, values } = envFlags(args);
  if (positionals.length === 0) throw new UsageError("run needs at least one scenario file");
  if (values["ui-listen"] !== undefined)
    throw new UsageError("--ui-listen is a flag of ctb up (the web view serves a persistent environment)");
  // load every file first: a broken file is reported as an error of its own and the others still run (only
  // when no file loads does the command fail as a whole, before any environment comes up)
  const scenarios: Scenario[] = [];
  const broken: RunReport[] = [];
  for (const f of positionals) {
    try {
      scenarios.push(withOverrides(loadScenario(f), values));
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      if (positionals.length === 1) throw e;
      broken.push(loadErrorReport(f, e));
      say(`ctb: ${e.message}`);
    }
  }
  if (scenarios.length === 0) throw new UsageError("no scenario file could be loaded (see above)");
  // what the machine lacks is said before anything is created or started
  const { assertPrerequisites } = await import("../prereqs");
  await assertPrerequisites(options);
  const pcapDir = values.pcap === undefined ? undefined : resolve(String(values.pcap));
  if (pcapDir) mkdirSync(pcapDir, { recursive: true });
  const reports: RunReport[] = [];
  const human = !values.json;
  const prog = progress(process.stderr);
  const out = prog.wrap(process.stdout);

  const workRoot = resolve(process.env.CTB_WORKDIR ?? ".ctb");
  const namespaces = await presentNamespaces();
  const { withLeftovers } = await pruneDeadRuns(workRoot, namespaces);
  if (withLeftovers > 0) {
    say(
      `ctb: ${withLeftovers} earlier run(s) left processes or namespaces behind; \`ctb down\` removes them`,
    );
  }
  const record = RunRecord.create(workRoot, {
    kind: "run",
    scenario: positionals.join(" "),
    datapath: options.datapath,
    cluster: options.cluster.kind,
  });
  // the record goes once nothing it names is left; otherwise it stays for `ctb down`
  const finish = async () => {
    prog.done();
    const left = await leftovers(record.dir, await presentNamespaces());
    if (left.processes + left.namespaces === 0) record.remove();
    else
      say(
        `ctb: ${left.processes} process(es), ${left.namespaces} namespace(s) of this run are left; \`ctb down\` removes them`,
      );
  };

  let current: Promise<EnvTestbed> | undefined;
  let captures: CaptureHandle[] = [];
  const stopCaptures = async () => {
    for (const c of captures.splice(0)) await c.stop().catch(() => 0);
  };
  const off = onTeardown(async () => {
    prog.done();
    await stopCaptures();
    const tb = await current?.catch(() => undefined);
    await tb?.close();
    await finish();
  }, "testbed");

  for (const scenario of scenarios) {
    if (interrupted.aborted) return parked();
    record.update({ scenario: scenario.file });
    if (human)
      out.write(
        `\n=== ${scenario.file}: ${scenario.name} (${options.datapath} datapath, ${options.cluster.kind} cluster${options.nodes === "kubelet" ? ", kubelet nodes" : ""})\n`,
      );
    prog.phase(
      `starting the testbed (${options.datapath} datapath, ${options.cluster.kind} cluster${options.nodes === "kubelet" ? ", kubelet nodes" : ""})`,
    );
    current = startTestbed(scenario, {
      ...options,
      workDir: record.dir,
      stateDir: record.dir,
      signal: interrupted,
    });
    let tb: EnvTestbed;
    try {
      tb = await current;
    } catch (e) {
      if (interrupted.aborted) return parked();
      off();
      await finish();
      throw e;
    }
    record.update({ metrics: tb.metrics, introspect: tb.introspect });
    try {
      // --pcap on the command line, else the scenario's own `capture: {dir}`
      const dir = pcapDir ?? scenario.captureDir;
      if (dir) {
        mkdirSync(dir, { recursive: true });
        captures = await startCaptures(tb, scenario, dir);
      }
      reports.push(
        await runScenario(scenario, tb, {
          onEvent: prog.tee(human ? textReporter(out) : undefined),
          signal: interrupted,
          allowNoExpectations: values["allow-no-expectations"] === true,
          compareKubernetes: values.compare === "kubernetes",
        }),
      );
    } finally {
      prog.done();
      if (!interrupted.aborted) {
        const n = captures.length;
        await stopCaptures();
        if (n && human) out.write(`pcap files of ${scenario.file} in ${pcapDir ?? scenario.captureDir}\n`);
        await tb.close();
      }
    }
    if (interrupted.aborted) return parked();
    current = undefined;
  }
  off();
  await finish();
  reports.push(...broken);
  if (values.junit) writeFileSync(values.junit as string, junitReport(reports));
  // the last run's report, for the web view's Scenario report page (`ctb ui`)
  try {
    writeFileSync(join(workRoot, "last-run.json"), `${jsonReport(reports)}\n`);
  } catch (e) {
    say(`ctb: could not keep this run's report for the web view: ${(e as Error).message}`);
  }
  process.stdout.write(values.json ? `${jsonReport(reports)}\n` : `${summaryText(reports)}\n`);
  const ok = reports.every((r) => r.failed === 0);
  if (!ok && human) process.stdout.write(red("Some expectations did not hold.\n"));
  return ok ? 0 : 1;
}

/** `<dir>/<scenario>-fabric.pcap` and `<dir>/<scenario>-<node>.pcap` (each compute's fabric port). */
async function startCaptures(tb: EnvTestbed, scenario: Scenario, dir: string): Promise<CaptureHandle[]> {
  const stem = basename(scenario.file, extname(scenario.file));
  const out = [await tb.capture("fabric", join(dir, `${stem}-fabric.pcap`))];
  for (const n of scenario.nodes)
    out.push(await tb.capture({ compute: n.name }, join(dir, `${stem}-${n.name}.pcap`)));
  return out;
}

/** The testbed namespaces that exist now (none where `ip` is missing or unusable). */
async function presentNamespaces(): Promise<Set<string>> {
  try {
    const { listNetns } = await import("../../fake-vrouter/netns/ns");
    return new Set(await listNetns("ctb-"));
  } catch {
    return new Set();
  }
}
