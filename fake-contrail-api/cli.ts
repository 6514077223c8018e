/**
 * `ctb api`: runs the fake Contrail config API alone until SIGINT/SIGTERM.
 * Example: `node --import tsx fake-contrail-api/cli.ts --port 8082 --db /tmp/api.json`.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { AuthConfigError, loadIdentityFile, parseAaaMode } from "./auth";
import { startApiServer } from "./server";

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "8082" },
      host: { type: "string", default: "127.0.0.1" },
      db: { type: "string" },
      quiet: { type: "boolean", default: false },
      "aaa-mode": { type: "string", default: "no-auth" },
      identity: { type: "string" },
      "keystone-port": { type: "string", default: "5000" },
      "admin-port": { type: "string", default: "8095" },
      "cloud-admin-role": { type: "string" },
      "global-read-only-role": { type: "string" },
      "token-ttl": { type: "string" },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port: invalid port "${values.port}"`);
  const portFlag = (name: "keystone-port" | "admin-port") => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error(`--${name}: invalid port "${values[name]}"`);
    return n;
  };
  let aaaMode: ReturnType<typeof parseAaaMode>;
  try {
    aaaMode = parseAaaMode(values["aaa-mode"]);
  } catch (e) {
    throw new Error(`--aaa-mode: ${(e as Error).message}`);
  }
  if (aaaMode === "no-auth" && values.identity)
    throw new Error("--identity: aaa_mode no-auth checks no tokens (give --aaa-mode cloud-admin or rbac)");
  if (aaaMode !== "no-auth" && !values.identity)
    throw new Error(
      `--identity: aaa_mode ${aaaMode} needs the users file keystone serves (--identity users.yaml)`,
    );
  const ttl = values["token-ttl"] === undefined ? undefined : Number(values["token-ttl"]);
  if (ttl !== undefined && !(ttl > 0))
    throw new Error(`--token-ttl: "${values["token-ttl"]}" is not a positive number of seconds`);
  const auth =
    aaaMode === "no-auth"
      ? undefined
      : {
          aaaMode,
          identity: loadIdentityFile(values.identity!),
          keystonePort: portFlag("keystone-port"),
          adminPort: portFlag("admin-port"),
          cloudAdminRole: values["cloud-admin-role"],
          globalReadOnlyRole: values["global-read-only-role"],
          tokenTtlSeconds: ttl,
        };
  const api = await startApiServer({
    port,
    host: values.host,
    dbPath: values.db,
    quiet: values.quiet,
    auth,
  }).catch((e) => {
    throw e instanceof AuthConfigError ? new Error(`--identity: ${e.message}`) : e;
  });
  // Child processes (tests, benchmarks) read the actual port from this line.
  process.stdout.write(`listening ${api.url}\n`);
  if (api.keystoneUrl)
    process.stdout.write(
      `keystone ${api.keystoneUrl}\nadmin port ${api.adminUrl!.replace(/\/\/[^@]*@/, "//")}\n`,
    );
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
