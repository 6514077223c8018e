/**
 * `ctb`, the testbed CLI. Verbs and flags are an interface other tools rely on (docs/cli.md):
 *   ctb run <scenario…> [--datapath sim|netns] [--cluster embedded|local|kubeconfig:<path>] [--junit f] [--json]
 *   ctb up <scenario> [same flags] / ctb down
 *   ctb get pods [-n ns|-A] [-o wide] / ctb describe namespace <name> / ctb exec <ns>/<pod> -- <cmd…>
 *   ctb contrail list <type> / ctb contrail get <type> <fq_name|uuid> / ctb trace <from> <to> [--proto] [--port]
 *   ctb api | ctb controller | ctb vrouter   (one component alone)
 * Exit code 0 iff the command did what was asked (for `run`: every expectation held).
 */
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { RunReport } from "../runner/run";
import { ScenarioError } from "../scenario/types";
import { envFlags, UsageError } from "./flags";
import * as session from "./session";

const USAGE = `usage: ctb <command> [options]

  run <scenario.yaml…>   run scenarios; exit 0 iff every expectation holds
      --datapath sim|netns            simulated engine (default) or real packets in network namespaces
      --cluster embedded|local|kubeconfig:<path>   Kubernetes backend (default embedded)
      --json                          print a JSON report instead of text
      --junit <file>                  also write a JUnit XML report
  up <scenario.yaml>     bring up a persistent environment running the scenario (same flags as run)
  down [--all]           stop the persistent environment; remove the namespaces and processes it (or any
                         crashed testbed) left; --all also removes those of live testbeds
  get pods [-n <ns>|-A] [-o wide]
  describe namespace <name>
  exec <ns>/<pod> -- <command…>   run a command in the pod (ping works on both datapaths)
  trace <from> <to> [--proto icmp|tcp|udp|sctp] [--port N]   explain a packet's fate hop by hop
  contrail list <type> | contrail get <type> <fq_name|uuid>
  api [--port P] [--db F]        run the fake Contrail config API alone
  controller [flags]             run the controller alone (see ctb controller --help)
  vrouter [flags]                run a vrouter agent alone (see ctb vrouter --help)
`;

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    switch (verb) {
      case "run":
        return await run(rest);
      case "up":
        return await session.up(rest);
      case "down":
        return await session.down(rest);
      case "get":
        return await session.getPods(rest);
      case "describe":
        return await session.describe(rest);
      case "exec":
        return await session.exec(rest);
      case "trace":
        return await session.trace(rest);
      case "contrail":
        return await session.contrail(rest);
      case "api":
        return await (await import("../../fake-contrail-api/cli")).main(rest).then(() => 0);
      case "controller":
        return await (await import("../../controller/cli")).main(rest).then(() => 0);
      case "vrouter":
        return await (await import("../../fake-vrouter/agent/cli")).main(rest).then(() => 0);
      case "__serve":
        return await session.serve(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return verb === undefined ? 2 : 0;
      default:
        process.stderr.write(`ctb: unknown command "${verb}"\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    // bad command lines and bad configuration are the user's to fix: say what, not where in our code
    const usage = e instanceof Error && ["ConfigError", "ControllerUsageError", "UsageError", "PrerequisiteError"].includes(e.name);
    if (e instanceof ScenarioError || e instanceof UsageError || usage) {
      process.stderr.write(`ctb: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`ctb: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

async function run(args: string[]): Promise<number> {
  // the whole stack loads only for verbs that start an environment: inspection verbs stay quick
  const { loadScenario } = await import("../scenario/load");
  const { startTestbed } = await import("../env");
  const { runScenario } = await import("../runner/run");
  const { jsonReport, junitReport, red, summaryText, textReporter } = await import("../runner/report");
  const { options, positionals, values } = envFlags(args);
  if (positionals.length === 0) throw new UsageError("run needs at least one scenario file");
  // load every file first: a broken scenario fails fast, before any environment comes up
  const scenarios = positionals.map((f) => loadScenario(f));
  const reports: RunReport[] = [];
  const human = !values.json;
  // each run keeps its state (control-plane certificates, CNI state) apart, so runs in one directory don't collide
  const workDir = join(resolve(process.env.CTB_WORKDIR ?? ".ctb"), `run-${process.pid}`);
  // Ctrl-C or a CI timeout must not leave processes or namespaces behind: tear down, then exit
  let current: { close(): Promise<void> } | undefined;
  const interrupted = (signal: NodeJS.Signals) => {
    process.stderr.write(`ctb: ${signal}: tearing the environment down\n`);
    void (current?.close() ?? Promise.resolve()).finally(() => {
      rmSync(workDir, { recursive: true, force: true });
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  for (const scenario of scenarios) {
    if (human) process.stdout.write(`\n=== ${scenario.file}: ${scenario.name} (${options.datapath} datapath, ${options.cluster.kind} cluster)\n`);
    const tb = await startTestbed(scenario, { ...options, workDir });
    current = tb;
    try {
      reports.push(await runScenario(scenario, tb, { onEvent: human ? textReporter(process.stdout) : undefined }));
    } finally {
      await tb.close();
      current = undefined;
    }
  }
  process.removeListener("SIGINT", interrupted);
  process.removeListener("SIGTERM", interrupted);
  rmSync(workDir, { recursive: true, force: true });
  if (values.junit) writeFileSync(values.junit as string, junitReport(reports));
  process.stdout.write(values.json ? `${jsonReport(reports)}\n` : `${summaryText(reports)}\n`);
  const ok = reports.every((r) => r.failed === 0);
  if (!ok && human) process.stdout.write(red("Some expectations did not hold.\n"));
  return ok ? 0 : 1;
}
