/**
 * What a new user meets first: the README's two commands in either order, `ctb` naming what the machine lacks
 * before it starts anything, and test tiers that cannot pass as skips when CI requires them.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { missingPrerequisites } from "../../testbed/prereqs";
import { requireTier } from "../support/tiers";

const ROOT = resolve(import.meta.dirname, "../..");
const CTB = join(ROOT, "bin/ctb");
const tmp = mkdtempSync(join(tmpdir(), "ctb-first-hour-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const havePcap = existsSync("/usr/include/pcap/pcap.h") || existsSync("/usr/include/pcap.h");

/** Runs .ci/ensure-node-deps.mjs in a scratch project whose `npm` only records that it was called. */
function ensureDeps(dir: string, marker: string | undefined, cap: boolean): { ran: boolean; stderr: string } {
  mkdirSync(join(dir, "bin"), { recursive: true });
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  writeFileSync(join(dir, "package-lock.json"), '{"lockfileVersion":3}');
  rmSync(join(dir, "npm-called"), { force: true });
  rmSync(join(dir, "node_modules/cap"), { recursive: true, force: true });
  if (cap) {
    mkdirSync(join(dir, "node_modules/cap"), { recursive: true });
    writeFileSync(join(dir, "node_modules/cap/binding.gyp"), "{}");
  }
  if (marker === undefined) rmSync(join(dir, "node_modules/.ctb-lock-hash"), { force: true });
  else writeFileSync(join(dir, "node_modules/.ctb-lock-hash"), marker);
  const npm = join(dir, "bin/npm");
  writeFileSync(npm, `#!/bin/sh\necho "$@" > "${dir}/npm-called"\n`);
  chmodSync(npm, 0o755);
  const r = spawnSync(process.execPath, [join(ROOT, ".ci/ensure-node-deps.mjs")], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` },
  });
  expect(r.status).toBe(0);
  return { ran: existsSync(join(dir, "npm-called")), stderr: r.stderr };
}

describe("npm dependencies in either order of the README commands", () => {
  const dir = join(tmp, "proj");

  it("installs on a fresh clone and records what it installed against", () => {
    const r = ensureDeps(dir, undefined, false);
    expect(r.ran).toBe(true);
    expect(readFileSync(join(dir, "node_modules/.ctb-lock-hash"), "utf8")).toMatch(/ pcap=(yes|no)$/);
  });

  it("does nothing when the install is current", () => {
    const marker = readFileSync(join(dir, "node_modules/.ctb-lock-hash"), "utf8");
    expect(ensureDeps(dir, marker, havePcap).ran).toBe(false);
  });

  it.runIf(havePcap)(
    "reinstalls once libpcap is there when the install was made without it (npm start before npm test)",
    () => {
      const marker = readFileSync(join(dir, "node_modules/.ctb-lock-hash"), "utf8").replace(
        /pcap=\w+/,
        "pcap=no",
      );
      const r = ensureDeps(dir, marker, false);
      expect(r.ran).toBe(true);
      expect(r.stderr).toMatch(/libpcap is now installed/);
    },
  );

  it("reinstalls when the lock file changed", () => {
    const r = ensureDeps(dir, `0000 pcap=${havePcap ? "yes" : "no"}`, true);
    expect(r.ran).toBe(true);
    expect(r.stderr).toMatch(/lock file changed/);
  });
});

describe("ctb names what the machine lacks before starting anything", () => {
  it("the local control plane: names build.sh", async () => {
    const saved = process.env.CTB_K8S_BIN;
    process.env.CTB_K8S_BIN = join(tmp, "no-binaries");
    try {
      const missing = await missingPrerequisites({ datapath: "sim", cluster: { kind: "local" } });
      expect(missing).toHaveLength(1);
      expect(missing[0]).toMatch(/not built .*kube-apiserver.*build\.sh/);
    } finally {
      if (saved === undefined) delete process.env.CTB_K8S_BIN;
      else process.env.CTB_K8S_BIN = saved;
    }
  });

  it("a kubeconfig that does not exist", async () => {
    const missing = await missingPrerequisites({
      datapath: "sim",
      cluster: { kind: "kubeconfig", path: "/nonexistent/kc" },
    });
    expect(missing).toEqual(["kubeconfig /nonexistent/kc does not exist"]);
  });

  it("the embedded simulated default needs nothing", async () => {
    expect(await missingPrerequisites({ datapath: "sim", cluster: { kind: "embedded" } })).toEqual([]);
  });

  it("ctb run on the local cluster without binaries exits 2 with one clear message and starts nothing", () => {
    const r = spawnSync(
      process.execPath,
      [CTB, "run", join(ROOT, "scenarios/section-9.yaml"), "--cluster", "local"],
      {
        encoding: "utf8",
        env: { ...process.env, CTB_K8S_BIN: join(tmp, "no-binaries"), CTB_WORKDIR: join(tmp, "wd") },
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ctb run: cannot start: the local Kubernetes control plane is not built/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.runIf(process.getuid?.() === 0)("the netns datapath as a non-root user: says it needs root", () => {
    // run ctb as `nobody`: the check must name root before any namespace is made
    const r = spawnSync(
      "setpriv",
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        CTB,
        "run",
        join(ROOT, "scenarios/section-9.yaml"),
        "--datapath",
        "netns",
      ],
      {
        encoding: "utf8",
        env: { ...process.env, CTB_WORKDIR: join(tmp, "nobody-wd"), HOME: tmp },
        timeout: 60_000,
      },
    );
    expect(r.stderr).toMatch(/the netns datapath needs root/);
    expect(r.status).toBe(2);
  });
});

describe("test tiers CI requires", () => {
  it("a missing tier is a skip outside CI and a failure when required", () => {
    const saved = { ...process.env };
    try {
      delete process.env.CTB_REQUIRE_ALL;
      delete process.env.CTB_REQUIRE_VNC_API;
      expect(requireTier("VNC_API", false, "no venv")).toBe(false);
      process.env.CTB_REQUIRE_VNC_API = "1";
      expect(() => requireTier("VNC_API", false, "no venv")).toThrow(/CTB_REQUIRE_VNC_API=1 .*no venv/);
      delete process.env.CTB_REQUIRE_VNC_API;
      process.env.CTB_REQUIRE_ALL = "1";
      expect(() => requireTier("NETNS", false, "not root")).toThrow(/CTB_REQUIRE_NETNS=1/);
      expect(requireTier("NETNS", true, "not root")).toBe(true);
    } finally {
      process.env = saved;
    }
  });

  it(".ci/run requires every tier and fails on skipped tests", () => {
    const ci = readFileSync(join(ROOT, ".ci/run"), "utf8");
    expect(ci).toMatch(/export CTB_REQUIRE_ALL=1/);
    expect(ci).toMatch(/skipped > 0/);
  });
});
