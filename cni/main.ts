/**
 * Entry point of the contrail-k8s-cni executable (bundled to dist/contrail-k8s-cni.js, launched by
 * bin/contrail-k8s-cni): wires the real edges — stdin, the conf directory, HTTP to the agent, `ip`, state
 * files — into `invoke` and exits with its code.
 *
 * Example: `CNI_COMMAND=VERSION bin/contrail-k8s-cni </dev/null`.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { httpTransport } from "./http-transport";
import { Logger } from "./log";
import { IpRoute2 } from "./netlink";
import { PortApiClient } from "./port-api";
import { invoke } from "./run";
import { FileStateStore } from "./state";

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return "";
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function readConfFile(dir: string): Promise<{ path: string; text: string } | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith("contrail.conf")).sort();
  } catch {
    return undefined;
  }
  if (names.length === 0) return undefined;
  const path = join(dir, names[0]);
  return { path, text: await readFile(path, "utf8") };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const log = new Logger();
  const outcome = await invoke(
    { env: process.env, stdin: await readStdin() },
    {
      log,
      readConfFile,
      makeDeps: (conf) => {
        const ms = conf.contrail.pollTimeout * 1000;
        return {
          agent: new PortApiClient(httpTransport(conf.contrail.vrouterIp, conf.contrail.vrouterPort, ms), {
            retries: conf.contrail.pollRetries,
            intervalMs: ms,
            sleep,
          }),
          host: new IpRoute2(),
          state: new FileStateStore(conf.contrail.configDir),
          log,
          now: () => new Date(),
        };
      },
    },
  );
  log.flush();
  if (outcome.stdout) process.stdout.write(`${outcome.stdout}\n`, () => process.exit(outcome.exitCode));
  else process.exit(outcome.exitCode);
}

void main();
