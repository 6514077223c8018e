// Bundles the executables that must start fast (one node process per CNI call) into dist/.
// Add an entry to ENTRIES to bundle another executable. Usage: `node build.mjs` (npm run build).
import { build } from "esbuild";

const ENTRIES = [{ in: "cni/main.ts", out: "contrail-k8s-cni" }];

await build({
  entryPoints: ENTRIES,
  outdir: "dist",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  outExtension: { ".js": ".js" },
  // Native addons (cap, raw-socket) cannot be bundled; nothing in the CNI uses them.
  external: ["cap", "raw-socket"],
  logLevel: "warning",
});
