// Bundles the executables into dist/: the CNI plugin (one node process per CNI call must start fast) and `ctb`
// (bin/ctb runs dist/ctb/ctb.js when it is up to date, so benches and users run shipped code, not tsx's loader
// with its keepNames helpers). Usage: `node build.mjs` (npm run build); `node build.mjs --bench` also bundles the
// benchmarks into dist/bench/ (npm run bench runs those, so figures are of shipped code).
import { readFile, writeFile } from "node:fs/promises";
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = dirname(fileURLToPath(import.meta.url));

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  outExtension: { ".js": ".js" },
  logLevel: "warning",
};

// The CNI plugin: everything in one file, as it starts once per CNI call. Native addons (cap, raw-socket)
// cannot be bundled; nothing in the CNI uses them.
await build({
  ...common,
  entryPoints: [{ in: "cni/main.ts", out: "contrail-k8s-cni" }],
  outdir: "dist",
  external: ["cap", "raw-socket"],
});

/**
 * A bundle lives in dist/, but some sources find files beside themselves (helper scripts, other entry points,
 * bin/ctb): their `import.meta.dirname` and `import.meta.url` are rewritten to the source file's own place,
 * computed from the bundle's location at run time (so a moved checkout still works).
 */
const sourcePaths = {
  name: "source-paths",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes("node_modules")) return undefined;
      const text = await readFile(args.path, "utf8");
      if (!text.includes("import.meta")) return undefined;
      const rel = relative(ROOT, args.path);
      return {
        loader: "ts",
        contents: text
          .replaceAll("import.meta.dirname", `__ctbSourceDir(${JSON.stringify(dirname(rel))})`)
          .replaceAll("import.meta.url", `__ctbSourceUrl(${JSON.stringify(rel)})`),
      };
    });
  },
};

const banner = [
  'import { fileURLToPath as __ctbPath, pathToFileURL as __ctbUrl } from "node:url";',
  'import { join as __ctbJoin } from "node:path";',
  'const __ctbRoot = __ctbPath(new URL("../..", import.meta.url));',
  "const __ctbSourceDir = (d) => __ctbJoin(__ctbRoot, d);",
  "const __ctbSourceUrl = (f) => __ctbUrl(__ctbJoin(__ctbRoot, f)).href;",
  // where the running bundle is: its worker entries (the dry-run pool's) sit beside it
  'const __ctbBundleDir = __ctbPath(new URL(".", import.meta.url));',
].join("\n");

// ctb: the project's own code bundled, split at its lazy imports (the stack behind `run`, the netns datapath)
// so the inspection verbs start as fast as before; packages stay in node_modules (already JavaScript, and the
// native addons could not be bundled anyway).
const result = await build({
  ...common,
  entryPoints: [
    { in: "testbed/cli/main.ts", out: "ctb" },
    // the dry-run pool's worker thread (fake-vrouter/datapath/dry-run-pool.ts)
    { in: "fake-vrouter/datapath/dry-run-worker.ts", out: "dry-run-worker" },
    // `ctb connectivity`'s worker threads (testbed/runner/connectivity.ts)
    { in: "testbed/runner/connectivity-worker.ts", out: "connectivity-worker" },
  ],
  outdir: "dist/ctb",
  splitting: true,
  chunkNames: "chunk-[hash]",
  packages: "external",
  plugins: [sourcePaths],
  banner: { js: banner },
  metafile: true,
});

// bin/ctb compares the bundle's age with these sources' to decide whether it is current
const inputs = new Set();
for (const out of Object.values(result.metafile.outputs))
  for (const f of Object.keys(out.inputs)) if (!f.startsWith("node_modules")) inputs.add(f);
await writeFile("dist/ctb/inputs.json", `${JSON.stringify([...inputs].sort())}\n`);

// The web view's client (web/): one browser script with cytoscape.js, its page and stylesheet, in dist/web,
// which `ctb up`'s web server serves.
const { bundleWebClient } = await import("./web/client/bundle.mjs");
await bundleWebClient("dist/web");

// The benchmarks, bundled the same way (one file each, chunks shared), when asked: `npm run bench` times the code
// as it ships. dist/bench sits two levels below the root like dist/ctb, so the banner's root holds for both.
if (process.argv.includes("--bench")) {
  const { readdirSync } = await import("node:fs");
  const benches = readdirSync("bench").filter((f) => f.endsWith(".bench.ts"));
  await build({
    ...common,
    entryPoints: [
      ...benches.map((f) => ({ in: `bench/${f}`, out: f.replace(/\.ts$/, "") })),
      { in: "fake-vrouter/datapath/dry-run-worker.ts", out: "dry-run-worker" },
      { in: "testbed/runner/connectivity-worker.ts", out: "connectivity-worker" },
    ],
    outdir: "dist/bench",
    splitting: true,
    chunkNames: "chunk-[hash]",
    packages: "external",
    plugins: [sourcePaths],
    banner: { js: banner },
  });
}
