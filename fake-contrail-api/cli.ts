/**
 * `ctb api`: runs the fake Contrail config API alone until SIGINT/SIGTERM.
 * Example: `node --import tsx fake-contrail-api/cli.ts --port 8082 --db /tmp/api.json`.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { startApiServer } from "./server";

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "8082" },
      host: { type: "string", default: "127.0.0.1" },
      db: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port: invalid port "${values.port}"`);
  const api = await startApiServer({ port, host: values.host, dbPath: values.db, quiet: values.quiet });
  // Child processes (tests, benchmarks) read the actual port from this line.
  process.stdout.write(`listening ${api.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void api.close().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`fake-contrail-api: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
