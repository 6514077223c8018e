/**
 * Start a long-running Node program inside a testbed namespace (`ip netns exec <ns> node --import tsx …`,
 * which execs in place, so the pid we get is the program's), with an IPC channel that crosses the
 * namespace boundary, and record it in the pid files. Resolves once the program reports ready.
 *
 * The programs exit when the IPC channel closes, so they die with the testbed however it dies (even by
 * SIGKILL). They run in their own process group: a terminal's Ctrl-C reaches only the testbed, which then
 * stops them in order instead of having them vanish under a running step.
 *
 * Example: `const p = await spawnInNetns({ ns: "ctb-c1", script: VROUTER_MAIN, args: ["c1"], role: "vrouter" })`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { assertTestbedName, NetnsError } from "./ns";
import { DEFAULT_STATE_DIR, forgetProcess, recordProcess } from "./pidfiles";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
export const VROUTER_MAIN = join(import.meta.dirname, "vrouter-main.ts");
export const POD_MAIN = join(import.meta.dirname, "pod-main.ts");

export interface NetnsChild {
  ns: string;
  role: string;
  pid: number;
  child: ChildProcess;
  /** Stops the program by pid (SIGTERM) and resolves when it has exited. */
  stop(): Promise<void>;
}

export async function spawnInNetns(o: {
  ns: string;
  script: string;
  args: string[];
  role: string;
  stateDir?: string;
  onMessage?: (m: unknown) => void;
}): Promise<NetnsChild> {
  assertTestbedName(o.ns);
  const stateDir = o.stateDir ?? DEFAULT_STATE_DIR;
  const child = spawn(
    "ip",
    ["netns", "exec", o.ns, process.execPath, "--import", "tsx", o.script, ...o.args],
    {
      cwd: REPO_ROOT,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      serialization: "advanced",
      detached: true,
    },
  );
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  const pid = await new Promise<number>((res, rej) => {
    const onMessage = (m: unknown) => {
      const msg = m as { type?: string; pid?: number; msg?: string };
      if (msg.type === "ready") res(msg.pid ?? child.pid ?? -1);
      else if (msg.type === "error") rej(new NetnsError(`${o.role} in ${o.ns} failed to start: ${msg.msg}`));
    };
    child.on("message", onMessage);
    child.once("exit", (code) =>
      rej(new NetnsError(`${o.role} in ${o.ns} exited (${code}) before it was ready`, stderr)),
    );
    child.once("error", (err) => rej(new NetnsError(`cannot start ${o.role} in ${o.ns}`, err.message)));
  });
  if (o.onMessage) child.on("message", o.onMessage);
  const rec = { pid, ns: o.ns, role: o.role };
  await recordProcess(stateDir, rec);
  return {
    ns: o.ns,
    role: o.role,
    pid,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, "SIGTERM");
        await exited;
      }
      await forgetProcess(stateDir, rec);
    },
  };
}
