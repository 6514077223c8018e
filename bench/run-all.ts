/**
 * Runs every benchmark under bench/ one after another (each prints its own figures and ratios).
 * Run: npm run bench  (or one file: node --import tsx bench/<name>.bench.ts)
 * A bench's arguments come from `CTB_BENCH_ARGS_<NAME>` (name upper-cased, `-` as `_`), e.g.
 * `CTB_BENCH_ARGS_NETPOL="2000 400 20 20" npm run bench -- netpol` (its defaults, the 5,000 pods and 1,000
 * policies, take a long time in the kubernetes layout on a 2-core machine).
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";

const only = process.argv.slice(2);
const files = readdirSync("bench")
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n### bench/${f}`);
  const args = process.env[`CTB_BENCH_ARGS_${f.replace(".bench.ts", "").replaceAll("-", "_").toUpperCase()}`];
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", `bench/${f}`, ...(args?.split(/\s+/).filter(Boolean) ?? [])],
    {
      stdio: "inherit",
    },
  );
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
