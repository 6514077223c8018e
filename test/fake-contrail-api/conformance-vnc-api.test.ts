/**
 * Conformance of the fake config API with the real Python client `vnc_api` (contrail-api-client 2005): starts
 * the server on an ephemeral port and runs the pytest suite in test/fake-contrail-api/vnc_api against it with
 * the venv made by test/fake-contrail-api/vnc_api/setup.sh. Skipped (with a message) only when that venv is
 * missing; any pytest failure fails this test with pytest's output.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApiServer } from "../../fake-contrail-api/server";
import { requireTier } from "../support/tiers";

const ROOT = resolve(import.meta.dirname, "../..");
const SUITE = join(ROOT, "test/fake-contrail-api/vnc_api");
const VENV = process.env.VNC_API_VENV ?? join(ROOT, ".cache/venv");
const PYTHON = join(VENV, "bin/python");
const haveVenv = requireTier(
  "VNC_API",
  existsSync(PYTHON),
  `no venv at ${VENV} (create it: bash test/fake-contrail-api/vnc_api/setup.sh)`,
);

function runPytest(apiUrl: string): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise, reject) => {
    // Async on purpose: the API server lives in this process and must keep answering while pytest runs.
    const child = spawn(
      PYTHON,
      ["-m", "pytest", "-q", "-rx", "-p", "no:cacheprovider", "-o", "console_output_style=classic", SUITE],
      {
        cwd: SUITE,
        env: { ...process.env, VNC_API_URL: apiUrl, PYTHONDONTWRITEBYTECODE: "1" },
      },
    );
    let output = "";
    child.stdout.on("data", (c) => {
      output += c;
    });
    child.stderr.on("data", (c) => {
      output += c;
    });
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code: code ?? -1, output }));
  });
}

describe("real vnc_api client against the fake config API", () => {
  let api: Awaited<ReturnType<typeof startApiServer>> | undefined;

  beforeAll(async () => {
    if (haveVenv) api = await startApiServer({ port: 0, quiet: true });
  });
  afterAll(async () => {
    await api?.close();
  });

  it.skipIf(!haveVenv)(
    "passes the pytest suite (CRUD, refs, actions, tags, firewall, error mapping)",
    async () => {
      const { code, output } = await runPytest(api!.url);
      if (code !== 0) throw new Error(`pytest exited ${code}:\n${output}`);
      // Known incompatibilities of the fake API are xfailed by the suite (self-healing once fixed): show them.
      const xfails = output.split("\n").filter((l) => l.startsWith("XFAIL"));
      if (xfails.length)
        console.warn(`vnc_api conformance: ${xfails.length} known incompatibilities\n${xfails.join("\n")}`);
      expect(output).toMatch(/\d+ passed/);
      expect(output).not.toMatch(/\d+ (failed|errors?)\b/);
    },
    240_000,
  );
});
