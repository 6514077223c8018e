// Types of bundle.mjs (a plain module, so build.mjs can import it without a TypeScript loader).
export function bundleWebClient(outdir: string): Promise<void>;
