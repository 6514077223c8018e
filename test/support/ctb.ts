/**
 * The `ctb` executable as a test drives it: a work directory of its own (so its environment and records never
 * meet another test's), no colours, and exit code, stdout and stderr returned.
 *
 * Example: `const ctb = ctbIn(mkdtempSync(join(tmpdir(), "ctb-x-"))); expect(ctb("status").code).toBe(1)`.
 */
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";

const CTB = resolve(import.meta.dirname, "../../bin/ctb");

export function ctbIn(work: string, timeoutMs = 120_000) {
  return (...args: string[]) => {
    const r = spawnSync(process.execPath, [CTB, ...args], {
      encoding: "utf8",
      env: { ...process.env, CTB_WORKDIR: join(work, ".ctb"), NO_COLOR: "1" },
      timeout: timeoutMs,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
}
