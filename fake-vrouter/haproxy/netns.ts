/**
 * A real haproxy (Debian's package) for a load-balancer service instance on the netns datapath, as the vrouter
 * agent runs one (opencontrail-vrouter-netns haproxy_process.py): in the instance's own namespace, wired to its
 * compute's vrouter by the port the agent plugs, on the config svc-monitor wrote. The paths in that config are a
 * compute's (/var/lib/contrail/…, the agent's log socket); here the stats socket goes to the run's state
 * directory, the logging lines and `ulimit-n` are left out and `maxconn` is 4096 (the descriptors 65000
 * connections need are more than a testbed may open); `daemon` is dropped so the process stays ours (`-db`), recorded
 * by pid in the run record and ended by pid.
 *
 * Example: `const h = await HaproxyProcess.start({ ns, config, name: lbUuid, stateDir }); … await h.stop()`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertTestbedName, execIn, NetnsError } from "../netns/ns";
import { DEFAULT_STATE_DIR, forgetProcess, recordProcess } from "../netns/pidfiles";
import { parseHaproxyConfig } from "./route";

/** The driver's config with a compute's paths replaced by the run's (see the module comment). */
export function netnsHaproxyConfig(config: string, runDir: string): string {
  return (
    config
      .split("\n")
      .filter((l) => !/^\s*(daemon|log \/|user |group |ulimit-n )/.test(l))
      .map((l) => l.replace(/^(\s*stats socket )\S+/, `$1${join(runDir, "haproxy.sock")}`))
      // 65000 connections need ~130,000 descriptors, more than a testbed process may open (ulimit -n)
      .map((l) => l.replace(/^(\s*)maxconn 65000$/, "$1maxconn 4096"))
      .join("\n")
  );
}

export class HaproxyProcess {
  private constructor(
    readonly ns: string,
    readonly pid: number,
    readonly config: string,
    private readonly exited: Promise<void>,
    private readonly stateDir: string,
    private readonly runDir: string,
  ) {}

  static async start(o: {
    ns: string;
    config: string;
    name: string;
    stateDir?: string;
  }): Promise<HaproxyProcess> {
    assertTestbedName(o.ns);
    if (!onPath("haproxy"))
      throw new NetnsError(
        "an Ingress on the netns datapath runs haproxy, which is not installed: `bash .ci/setup.sh --runtime` (as root) installs Debian's package",
      );
    const stateDir = o.stateDir ?? DEFAULT_STATE_DIR;
    const runDir = join(stateDir, `haproxy-${o.name}`);
    mkdirSync(runDir, { recursive: true });
    const file = join(runDir, "haproxy.cfg");
    writeFileSync(file, netnsHaproxyConfig(o.config, runDir));
    const child = spawn("ip", ["netns", "exec", o.ns, "haproxy", "-db", "-f", file], {
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    const failed = new Promise<never>((_, rej) => {
      child.once("error", (e) => rej(new NetnsError(`cannot start haproxy in ${o.ns}: ${e.message}`)));
      child.once("exit", (code) =>
        rej(new NetnsError(`haproxy in ${o.ns} exited (${code}) before it listened`, stderr.trim())),
      );
    });
    failed.catch(() => {});
    const pid = child.pid ?? -1;
    const h = new HaproxyProcess(o.ns, pid, o.config, exited, stateDir, runDir);
    const ports = parseHaproxyConfig(o.config).frontends.map((f) => f.bind.port);
    try {
      await Promise.race([failed, waitListening(o.ns, ports)]);
    } catch (e) {
      await h.stop();
      throw e;
    }
    // recorded once `ip netns exec` has become haproxy (the record holds the command line `ctb down` checks
    // before ending the pid); until then the process is in a recorded ctb- namespace, which teardown empties
    await recordProcess(stateDir, { pid, ns: o.ns, role: "haproxy" });
    return h;
  }

  async stop(): Promise<void> {
    try {
      process.kill(this.pid, "SIGTERM");
      await this.exited;
    } catch {
      // already gone
    }
    await forgetProcess(this.stateDir, { pid: this.pid, ns: this.ns, role: "haproxy" });
    rmSync(this.runDir, { recursive: true, force: true });
  }
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin")
    .split(":")
    .some((d) => d && existsSync(join(d, cmd)));
}

/** Until every port has a listening TCP socket in the namespace (5 s at most). */
async function waitListening(ns: string, ports: number[]): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const r = await execIn(ns, "ss", ["-Hltn"]);
    const listening = new Set(
      r.stdout
        .split("\n")
        .map((l) => Number(/:(\d+)$/.exec(l.trim().split(/\s+/)[3] ?? "")?.[1]))
        .filter((n) => n > 0),
    );
    if (ports.every((p) => listening.has(p))) return;
    if (Date.now() > deadline)
      throw new NetnsError(`haproxy in ${ns} does not listen on ${ports.join(", ")} after 5 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
