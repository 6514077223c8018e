/**
 * `ctb vrouter`: run vrouter agents alone against a config API — follow its change stream, serve the CNI
 * port API — or print a compute's forwarding tables once and exit.
 *
 * Example: `ctb vrouter --api http://127.0.0.1:8082 --compute compute-1 --port-api-port 9091`
 *          `ctb vrouter --api http://127.0.0.1:8082 --compute compute-1 --dump`
 */
import { parseArgs } from "node:util";
import type { VrouterTables } from "../tables";
import { startAgents } from "./index";

const USAGE = `usage: ctb vrouter [--api URL] [--compute NAME]... [--port-api-port N] [--host H]
                   [--fabric-prefix-len N] [--dump]
       ctb vrouter <node> <tool> [args…]   a vrouter's own tools (vif, nh, rt, flow, dropstats, mpls,
                   vrfstats) on the running environment; ctb vrouter <node> --help

  --api URL            config API (default http://127.0.0.1:8082)
  --compute NAME       virtual-router to run the agent of (repeatable; default: every virtual-router)
  --port-api-port N    CNI port API port (default 9091; with several computes, N, N+1, … in the order given)
  --host H             address the port API listens on (default 127.0.0.1)
  --fabric-prefix-len N  prefix length of the underlay subnet around each fabric IP (default 24)
  --dump               print the computes' forwarding tables as JSON once caught up, then exit
`;

export class VrouterCliError extends Error {
  override name = "VrouterCliError";
}

export async function main(argv: string[]): Promise<void> {
  let values: ReturnType<typeof parse>["values"];
  const parse = (args: string[]) =>
    parseArgs({
      args,
      options: {
        api: { type: "string", default: "http://127.0.0.1:8082" },
        compute: { type: "string", multiple: true },
        "port-api-port": { type: "string", default: "9091" },
        host: { type: "string", default: "127.0.0.1" },
        "fabric-prefix-len": { type: "string", default: "24" },
        dump: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  try {
    values = parse(argv).values;
  } catch (e) {
    throw new VrouterCliError(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const basePort = Number(values["port-api-port"]);
  if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535)
    throw new VrouterCliError(`--port-api-port must be a port number, not "${values["port-api-port"]}"`);
  const fabricPrefixLen = Number(values["fabric-prefix-len"]);
  if (!Number.isInteger(fabricPrefixLen) || fabricPrefixLen < 0 || fabricPrefixLen > 32)
    throw new VrouterCliError(`--fabric-prefix-len must be 0-32, not "${values["fabric-prefix-len"]}"`);
  const computes = values.compute;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const agents = await startAgents({ apiUrl: values.api!, computes, fabricPrefixLen, log });

  if (values.dump) {
    const pos = await fetchPosition(values.api!);
    await agents.whenCaughtUp(pos);
    const names = computes ?? [];
    const out: Record<string, unknown> = {};
    for (const name of names.length ? names : agents.computes()) {
      const t = agents.tables(name);
      out[name] = t ? tablesToJson(t) : null;
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    await agents.stop();
    return;
  }

  if (!computes || computes.length === 0) {
    await agents.stop();
    throw new VrouterCliError("serving the port API needs --compute <virtual-router name>");
  }
  for (const [i, compute] of computes.entries()) {
    const api = await agents.startPortApi(compute, {
      host: values.host,
      port: basePort === 0 ? 0 : basePort + i,
    });
    log(`vrouter agent ${compute}: config ${values.api}, port API ${api.url}, metrics ${api.url}/metrics`);
  }
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
  await agents.stop();
}

async function fetchPosition(apiUrl: string): Promise<number> {
  // fetch refuses a URL with credentials: they go in a Basic Authorization header (the API's admin port)
  const url = new URL("/watch-position", apiUrl);
  const auth = url.username
    ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`
    : undefined;
  url.username = "";
  url.password = "";
  const res = await fetch(url, { headers: auth ? { authorization: auth } : {} });
  if (!res.ok) throw new VrouterCliError(`GET /watch-position answered ${res.status}`);
  const body = (await res.json()) as { seq?: unknown };
  if (typeof body.seq !== "number") throw new VrouterCliError("GET /watch-position: no numeric seq");
  return body.seq;
}

/** Tables as plain JSON (Maps become objects keyed by id) for printing. */
export function tablesToJson(t: VrouterTables): Record<string, unknown> {
  const obj = <V>(m: Map<number | string, V>) => Object.fromEntries([...m].map(([k, v]) => [String(k), v]));
  return {
    configVersion: t.configVersion,
    compute: t.compute,
    encapPriority: t.encapPriority,
    vifs: obj(t.vifs),
    vrfs: obj(t.vrfs),
    nextHops: obj(t.nextHops),
    labels: obj(t.labels),
    acls: obj(t.acls),
    firewallPolicies: obj(t.firewallPolicies),
    linkLocal: t.linkLocal,
  };
}
