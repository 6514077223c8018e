// Bundles the web view's client (web/client/main.ts, cytoscape.js included) into one browser script beside
// its page and stylesheet, so `npm start` users and the headless browser test need nothing else.
// Used by build.mjs (into dist/web) and by the browser test (into its own directory, from the sources as they are).
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));

export async function bundleWebClient(outdir) {
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: [join(HERE, "main.ts")],
    outfile: join(outdir, "app.js"),
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: false,
    logLevel: "warning",
  });
  await copyFile(join(HERE, "index.html"), join(outdir, "index.html"));
  await copyFile(join(HERE, "app.css"), join(outdir, "app.css"));
}
