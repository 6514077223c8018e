/**
 * Runs the kubectl that build.sh put next to the control-plane binaries, against one kubeconfig.
 * Example: `const ns = await kubectl(kc, ["get", "ns", "-o", "json"]);`
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { defaultBinDir } from "../../testbed/cluster/local";

export const KUBECTL = join(defaultBinDir(), "kubectl");

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl; `input` goes to stdin (for `-f -`). Rejects on a non-zero exit with kubectl's stderr. */
export async function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const r = await kubectlResult(kubeconfig, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export function kubectlResult(kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((ok, fail) => {
    const child = spawn(KUBECTL, ["--kubeconfig", kubeconfig, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", fail);
    child.on("close", (code) => ok({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** Polls `probe` until it returns a value (not undefined); gives up after `tries` x 500 ms with `what`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  tries = 120,
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
