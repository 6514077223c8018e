/**
 * What the controller benchmarks share: percentiles, the load average, the controller's VNC call counter, and
 * the fake config API in a process of its own (as `ctb api` runs it), so the API and the controller each get a
 * core; an interrupted bench never leaves that process behind.
 *
 * Example: `const api = await startApiProcess(); …; await api.close()`.
 */
import { spawn } from "node:child_process";
import { loadavg } from "node:os";

export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

export async function callsTotal(statusUrl: string): Promise<number> {
  const text = await (await fetch(`${statusUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^ctb_controller_vnc_calls_total\{[^}]*\} (\d+)/gm)) sum += Number(m[1]);
  return sum;
}

/**
 * Whether this bench runs bundled (`npm run bench` runs dist/bench/*.js) rather than from its sources through
 * tsx; the processes it starts then run shipped code too (`bin/ctb api`, which runs dist/ctb).
 */
export const BUNDLED = process.argv[1]?.endsWith(".js") ?? false;

/** argv for a node process running the fake config API with these flags, the same way the bench runs. */
export function apiArgv(flags: string[]): string[] {
  return BUNDLED ? ["bin/ctb", "api", ...flags] : ["--import", "tsx", "fake-contrail-api/cli.ts", ...flags];
}

export async function startApiProcess(): Promise<{ url: string; close: () => Promise<void> }> {
  const child = spawn(process.execPath, apiArgv(["--port", "0"]), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const seen = (d: Buffer) => {
      out += d.toString();
      const m = /listening (?:on )?(http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    };
    child.stdout.on("data", seen);
    child.stderr.on("data", seen);
    child.once("exit", (code) => reject(new Error(`fake API exited with ${code}: ${out}`)));
  });
  child.stdout.resume();
  child.stderr.resume();
  // an interrupted bench must not leave the API process behind
  const kill = () => child.kill("SIGTERM");
  process.once("exit", kill);
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => {
      kill();
      process.exit(130);
    });
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        child.once("exit", () => r());
        child.kill("SIGTERM");
      }),
  };
}
