/**
 * The vrouters' own tools from the command line: `ctb vrouter <node> <tool> [args…]` (vif, nh, rt, flow,
 * dropstats, mpls, vrfstats, answered by `fake-vrouter/tools` from the environment's live tables and
 * counters), and `ctb exec <node> -- <command…>` in a node's vrouter: on the netns datapath the command runs in
 * the compute's namespace with shims for the tools first on its PATH, so a copied runbook line (`vif --list |
 * grep tap`) works there; on the simulated datapath only the tools run.
 *
 * The environment (`ctb up`'s `__serve`) answers on its control API and also on a unix socket beside its
 * session file, which a shim inside a compute's network namespace can reach (a network namespace has its own
 * loopback; the file system is shared).
 *
 * Example: `ctb vrouter node-1 flow --match "10.47.255.250 & proto tcp"`
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { resolve } from "node:path";
import type { Express } from "express";
import { TOOLS } from "../../fake-vrouter/tools/index";
import type { ToolResult } from "../../fake-vrouter/tools/view";
import type { EnvTestbed } from "../env";
import { CommandError, UsageError } from "./flags";
import { onTeardown } from "./lifecycle";
import { requireSession, type SessionState, WORK_DIR } from "./session";

export const VROUTER_TOOLS_USAGE = `usage: ctb vrouter <node> <tool> [args…]
       ctb exec <node> -- <tool> [args…]

Run one of a vrouter's own tools against the environment's live tables and counters, printing what the
real utility prints on a compute node:
  vif --list | --get <id>                  interfaces, with their RX/TX counters
  nh --list | --get <id>                   next-hops
  rt --dump <vrf> [--family inet] | --get <addr/plen> --vrf <vrf>   a VRF's routes
  flow -l | --match "<ip>[:<port>][,<ip>[:<port>]] [& vrf <n>] [& proto tcp|udp|icmp|sctp]"   the flow table
  dropstats                                drop counters
  mpls --dump | --get <label>              the incoming label map
  vrfstats --dump | --get <vrf>            per-VRF forwarding counters
<node> is a node of the scenario (or its SDN gateway). Exit code, usage text and error messages are the
tool's own. \`ctb status\` lists each vrouter's agent introspect (Snh_ItfReq, Snh_FetchAllFlowRecords, …).
`;

/** The control socket beside the session file (a shim in a compute's namespace reaches it; 127.0.0.1 it cannot). */
export function controlSocket(workDir = WORK_DIR): string {
  return `${workDir}/control.sock`;
}

/** sockaddr_un's sun_path holds 108 bytes. */
const MAX_SOCKET_PATH = 107;

/** The environment's side: routes on its control API, and the same API on the control socket. */
export async function mountVrouterTools(app: Express, tb: EnvTestbed, workDir = WORK_DIR): Promise<void> {
  app.get("/vrouter", (_req, res) => {
    res.json({
      vrouters: tb.vrouters().map((name) => ({ name, netns: tb.netnsEndpoint(`vrouter:${name}`)?.netns })),
    });
  });
  app.post("/vrouter/tool", async (req, res) => {
    const { node, argv } = req.body as { node?: unknown; argv?: unknown };
    if (typeof node !== "string" || !Array.isArray(argv) || !argv.every((a) => typeof a === "string"))
      return void res.status(400).type("text").send("POST /vrouter/tool takes {node, argv: string[]}");
    try {
      const view = await tb.vrouterView(node);
      const { runTool } = await import("../../fake-vrouter/tools/index");
      res.json(runTool(argv[0] ?? "", argv.slice(1), view));
    } catch (e) {
      res
        .status(404)
        .type("text")
        .send((e as Error).message);
    }
  });
  const path = controlSocket(workDir);
  if (path.length > MAX_SOCKET_PATH) return; // then only `ctb vrouter` from outside the namespaces works
  rmSync(path, { force: true });
  const server = app.listen(path);
  await new Promise<void>((ok, fail) => {
    server.once("listening", ok);
    server.once("error", fail);
  });
  onTeardown(() => {
    server.close();
    rmSync(path, { force: true });
  }, "vrouter tools socket");
}

/** One request to the environment over its control socket (or, without one, its loopback URL). */
async function ask<T>(s: SessionState, path: string, body?: unknown): Promise<T> {
  const socket = controlSocket();
  const useSocket = existsSync(socket);
  const url = new URL(path, useSocket ? "http://localhost" : s.controlUrl);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((ok, fail) => {
    const req = request(
      {
        ...(useSocket ? { socketPath: socket } : { host: url.hostname, port: url.port }),
        path: url.pathname,
        method: payload === undefined ? "GET" : "POST",
        // The control API (and its socket) answers only the session's token.
        headers: {
          ...(s.token ? { authorization: `Bearer ${s.token}` } : {}),
          ...(payload === undefined ? {} : { "content-type": "application/json" }),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          if (res.statusCode === 200) ok(JSON.parse(text) as T);
          else if (res.statusCode === 400) fail(new UsageError(text));
          else fail(new CommandError(text));
        });
      },
    );
    req.on("error", (e) =>
      fail(
        new CommandError(
          `the environment (pid ${s.pid}) does not answer at ${useSocket ? socket : s.controlUrl}: ${e.message}; run \`ctb down\``,
        ),
      ),
    );
    req.end(payload);
  });
}

function print(r: ToolResult): number {
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

/** `ctb vrouter <node> <tool> [args…]`: exits with the tool's own code. */
export async function vrouterTool(args: string[]): Promise<number> {
  const [node, tool, ...rest] = args;
  if (!node || node === "--help" || node === "-h") {
    process.stdout.write(VROUTER_TOOLS_USAGE);
    return node ? 0 : 2;
  }
  if (tool === "--help" || tool === "-h") {
    process.stdout.write(VROUTER_TOOLS_USAGE);
    return 0;
  }
  if (!tool)
    throw new UsageError(`which tool? ctb vrouter ${node} <${Object.keys(TOOLS).join("|")}> [args…]`);
  if (!Object.hasOwn(TOOLS, tool))
    throw new UsageError(`"${tool}" is not a vrouter tool (${Object.keys(TOOLS).join(", ")})`);
  const s = requireSession();
  return print(await ask<ToolResult>(s, "/vrouter/tool", { node, argv: [tool, ...rest] }));
}

/**
 * `ctb exec <node> -- <command…>` when <node> is one of the environment's vrouters; undefined when it is not
 * (then the name is a pod's).
 */
export async function execOnVrouter(
  s: SessionState,
  node: string,
  cmd: string[],
  stdin: boolean,
): Promise<number | undefined> {
  const { vrouters } = await ask<{ vrouters: { name: string; netns?: string }[] }>(s, "/vrouter");
  const v = vrouters.find((x) => x.name === node);
  if (!v) return undefined;
  if (s.datapath === "sim") {
    if (!Object.hasOwn(TOOLS, cmd[0]!))
      throw new UsageError(
        `on the simulated datapath a node runs only the vrouter tools (${Object.keys(TOOLS).join(", ")}), not "${cmd.join(" ")}"`,
      );
    return print(await ask<ToolResult>(s, "/vrouter/tool", { node, argv: cmd }));
  }
  if (!v.netns?.startsWith("ctb-"))
    throw new CommandError(`the environment gave no testbed namespace for ${node}`);
  const bin = writeShims();
  const r = spawnSync("ip", ["netns", "exec", v.netns, ...cmd], {
    stdio: [stdin ? "inherit" : "ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      CTB_VROUTER_NODE: node,
      CTB_WORKDIR: WORK_DIR,
    },
  });
  if (r.error) throw new CommandError(`cannot run ${cmd[0]} in ${v.netns}: ${r.error.message}`);
  return r.status ?? 1;
}

/** One small script per tool, first on the PATH of `ctb exec <node>`: `ctb vrouter $CTB_VROUTER_NODE <tool>`. */
function writeShims(): string {
  const dir = `${WORK_DIR}/vrouter-bin`;
  mkdirSync(dir, { recursive: true });
  const ctb = resolve(import.meta.dirname, "../../bin/ctb");
  for (const tool of Object.keys(TOOLS)) {
    const file = `${dir}/${tool}`;
    writeFileSync(
      file,
      `#!/bin/sh\n# ${tool} of the testbed's vrouter: asks the environment (ctb vrouter) for the node's live tables\nexec '${process.execPath}' '${ctb}' vrouter "\${CTB_VROUTER_NODE:?run through ctb exec <node>}" ${tool} "$@"\n`,
    );
    chmodSync(file, 0o755);
  }
  return dir;
}
