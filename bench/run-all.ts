/**
 * Runs every benchmark under bench/ one after another (each prints its own figures and ratios), as shipped code:
 * `node build.mjs --bench` bundles them (and ctb) first, and each runs from dist/bench/, not through tsx's loader
 * (whose keepNames helpers cost up to 8% of a hot loop).
 * Run: npm run bench [-- <name>…]  (or one file from its sources: node --import tsx bench/<name>.bench.ts)
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
const built = spawnSync(process.execPath, ["build.mjs", "--bench"], { stdio: "inherit" });
if (built.status !== 0) {
  console.error("bench: node build.mjs --bench failed");
  process.exit(1);
}
let failed = 0;
for (const f of files) {
  console.log(`\n### bench/${f}`);
  const args = process.env[`CTB_BENCH_ARGS_${f.replace(".bench.ts", "").replaceAll("-", "_").toUpperCase()}`];
  const r = spawnSync(
    process.execPath,
    [`dist/bench/${f.replace(/\.ts$/, ".js")}`, ...(args?.split(/\s+/).filter(Boolean) ?? [])],
    {
      stdio: "inherit",
    },
  );
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
