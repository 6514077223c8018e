/**
 * Observability verbs: `ctb status` (what is up here — the `ctb up` environment and any `ctb run` in
 * progress, with pid, uptime and each component's Prometheus endpoint) and `ctb capture` (packets of a running
 * `ctb up` environment into a pcap file, on either datapath).
 *
 * `ctb status` exits 0 when something is up and 1 with "nothing is up" when nothing is (as `minikube status`
 * and `systemctl status` do), so scripts can test it; `-o json` prints the same as JSON.
 *
 * Example: `ctb capture default/example1-* -w /tmp/e1.pcap --count 10 && tcpdump -nr /tmp/e1.pcap`
 */
import { resolve } from "node:path";
import { CommandError, parseVerbArgs, UsageError } from "./flags";
import { onTeardown, say } from "./lifecycle";
import { control, readSession, requireSession, WORK_DIR } from "./session";

export async function status(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, { output: { type: "string", short: "o" } });
  if (positionals.length) throw new UsageError("status takes no arguments");
  if (values.output !== undefined && values.output !== "json")
    throw new UsageError(`-o must be json, not "${values.output}"`);
  const { listRuns, ownerAlive, uptime } = await import("../run-record");
  const session = readSession();
  const records = listRuns(WORK_DIR).filter((r) => ownerAlive(r.info));
  const upRecord = records.find((r) => r.info?.kind === "up");
  const envAlive = !!session?.ready && isAlive(session.pid);
  const runs = records.filter((r) => r.info?.kind === "run").map((r) => r.info!);
  const env = envAlive
    ? {
        scenario: session!.scenario,
        datapath: session!.datapath,
        cluster: session!.cluster,
        pid: session!.pid,
        uptime: upRecord?.info
          ? uptime(upRecord.info)
          : session!.started
            ? uptime({ started: session!.started } as never)
            : "?",
        control: session!.controlUrl,
        // with authentication on this is the admin port: its credentials are not shown
        configApi: session!.vncUrl.replace(/\/\/[^@/]*@/, "//"),
        metrics: session!.metrics ?? upRecord?.info?.metrics ?? {},
        introspect: session!.introspect ?? upRecord?.info?.introspect ?? {},
      }
    : undefined;
  if (values.output === "json") {
    process.stdout.write(
      `${JSON.stringify({ up: !!env || runs.length > 0, environment: env ?? null, runs }, null, 2)}\n`,
    );
    return env || runs.length ? 0 : 1;
  }
  const lines: string[] = [];
  if (env) {
    lines.push(
      `Environment (ctb up): ${env.scenario}`,
      `  datapath ${env.datapath}, cluster ${env.cluster}, pid ${env.pid}, up ${env.uptime}`,
      `  config API ${env.configApi}`,
      ...metricLines(env.metrics),
      ...introspectLines(env.introspect),
    );
  } else if (upRecord?.info) {
    lines.push(
      `Environment (ctb up): ${upRecord.info.scenario} is starting (pid ${upRecord.info.pid}, ${uptime(upRecord.info)})`,
    );
  }
  for (const r of runs) {
    lines.push(
      `ctb run: ${r.scenario ?? "?"}`,
      `  datapath ${r.datapath}, cluster ${r.cluster}, pid ${r.pid}, running ${uptime(r)}`,
      ...metricLines(r.metrics ?? {}),
      ...introspectLines(r.introspect ?? {}),
    );
  }
  if (lines.length === 0) {
    const crashed = session && !isAlive(session.pid);
    process.stdout.write(
      `nothing is up${crashed ? " (a stopped environment left its session file: `ctb down` cleans up)" : ""}\n`,
    );
    return 1;
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

function metricLines(metrics: Record<string, string>): string[] {
  const names = Object.keys(metrics).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  if (names.length === 0) return [];
  const width = Math.max(...names.map((n) => n.length));
  return ["  metrics:", ...names.map((n) => `    ${n.padEnd(width)}  ${metrics[n]}`)];
}

/** Each vrouter's agent introspect (the real agent's port 8085): its requests are /Snh_<Request>. */
function introspectLines(urls: Record<string, string>): string[] {
  const names = Object.keys(urls).sort();
  if (names.length === 0) return [];
  const width = Math.max(...names.map((n) => n.length));
  return [
    "  agent introspect (Snh_ItfReq, Snh_VrfListReq, Snh_Inet4UcRouteReq, Snh_NhListReq, Snh_AclReq, Snh_FetchAllFlowRecords):",
    ...names.map((n) => `    ${n.padEnd(width)}  ${urls[n]}`),
  ];
}

const rank = (n: string) => (n === "controller" ? 0 : n === "config-api" ? 1 : 2);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function capture(args: string[]): Promise<number> {
  const { values, positionals } = parseVerbArgs(args, {
    write: { type: "string", short: "w" },
    count: { type: "string", short: "c" },
    duration: { type: "string" },
  });
  const usage = "capture <ns>/<pod>|<node>|fabric -w <file.pcap> [--count N | --duration S]";
  if (positionals.length !== 1 || !values.write) throw new UsageError(usage);
  if (values.count !== undefined && values.duration !== undefined)
    throw new UsageError("give --count or --duration, not both");
  const count = values.count === undefined ? 0 : Number(values.count);
  const duration = values.duration === undefined ? 0 : Number(values.duration);
  if (!Number.isInteger(count) || count < 0)
    throw new UsageError(`--count must be a whole number, not "${values.count}"`);
  if (!(duration >= 0)) throw new UsageError(`--duration must be seconds, not "${values.duration}"`);
  const s = requireSession();
  const file = resolve(values.write);
  const target = positionals[0]!;
  const { id } = await control<{ id: string }>(s, "/capture", { target, file, limit: count });
  let stopped: Promise<number> | undefined;
  const stopCapture = () =>
    (stopped ??= control<{ count: number }>(s, `/capture/${id}/stop`, {}).then((r) => r.count));
  // Ctrl-C ends a capture the way it ends tcpdump: the file is completed, the count said
  onTeardown(async () => say(`${await stopCapture()} packets captured`), "capture");
  say(
    `capturing ${target} into ${file}${count ? ` until ${count} packets` : ""}${duration ? ` for ${duration}s` : ""}${count || duration ? "" : "; Ctrl-C to stop"}`,
  );
  const started = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    if (duration && Date.now() - started >= duration * 1000) break;
    if (count) {
      const r = await control<{ count: number }>(s, `/capture/${id}`).catch((e) => {
        throw new CommandError(`the capture stopped: ${(e as Error).message}`);
      });
      if (r.count >= count) break;
    }
  }
  say(`${await stopCapture()} packets captured`);
  return 0;
}
