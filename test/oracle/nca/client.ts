/**
 * A long-lived network-config-analyzer (test/oracle/nca/verdicts.py --serve) for the tests that hold the testbed
 * to an independent NetworkPolicy analyser: one world per line in, one answer per line out, in order, so NCA's
 * start-up is paid once per file. The venv comes from test/oracle/nca/setup.sh (tier NETPOL_REF).
 *
 * Example: `const nca = new Nca(); await nca.verdicts(resources, cells); nca.close()`
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import type { KubeObject } from "../../../controller/kube/api";
import { endpointName, type GridCell } from "../worlds";

const ROOT = resolve(import.meta.dirname, "../../..");
export const NCA_VENV = process.env.NCA_VENV ?? join(ROOT, ".cache/nca-venv");
export const NCA_PYTHON = join(NCA_VENV, "bin/python");
const DRIVER = join(ROOT, "test/oracle/nca/verdicts.py");

/** A long-lived `verdicts.py --serve`: one world per line in, one answer per line out, in order. */
export class Nca {
  private child: ChildProcessWithoutNullStreams;
  private waiting: ((line: string) => void)[] = [];
  private stderr = "";
  private exited: string | undefined;

  constructor() {
    this.child = spawn(NCA_PYTHON, [DRIVER, "--serve"], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
    });
    createInterface({ input: this.child.stdout }).on("line", (line) => this.waiting.shift()?.(line));
    this.child.stderr.on("data", (d: Buffer) => {
      // NCA's parse warnings: keep the tail for error messages
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.child.on("exit", (code, signal) => {
      this.exited = `verdicts.py exited (${code ?? signal}): ${this.stderr}`;
      for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: this.exited }));
    });
  }

  async verdicts(resources: KubeObject[], cells: GridCell[]): Promise<boolean[]> {
    if (this.exited) throw new Error(this.exited);
    const queries = cells.map((c) => ({
      from: c.from.pod ? endpointName(c.from) : { ip: c.from.ip },
      to: c.to.pod ? endpointName(c.to) : { ip: c.to.ip },
      proto: c.proto,
      port: c.port,
    }));
    const line = await new Promise<string>((res) => {
      this.waiting.push(res);
      this.child.stdin.write(`${JSON.stringify({ resources, queries })}\n`);
    });
    const answer = JSON.parse(line) as { verdicts?: boolean[]; error?: string };
    if (!answer.verdicts) throw new Error(`network-config-analyzer: ${answer.error}`);
    return answer.verdicts;
  }

  close(): void {
    this.child.stdin.end();
  }
}
