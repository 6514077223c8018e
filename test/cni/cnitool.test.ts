/**
 * The plugin driven by the CNI project's own `cnitool` (libcni: version negotiation, result parsing and
 * caching, CHECK with the cached prevResult): add, check, del against a real namespace, with a stub agent.
 * cnitool is built by `cni/tools/build-cnitool.sh` into .cache/bin; without it this suite is skipped (fails with CTB_REQUIRE_CNITOOL=1).
 * Note: libcni caches results under /var/lib/cni/results; `cnitool del` removes the entry again.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addNetns,
  delNetns,
  exec,
  ipIn,
  linkState,
  listNetns,
  ownedPrefix,
  netnsUsable,
} from "../../fake-vrouter/netns/ns";
import { requireTier } from "../support/tiers";
import { StubAgent } from "./fakes";

const ROOT = resolve(import.meta.dirname, "../..");
const CNITOOL = join(ROOT, ".cache/bin/cnitool");
const TAG = `${ownedPrefix()}cnt`;
const HOST = `${TAG}-c1`;
const POD = `${TAG}-p`;

const usable =
  requireTier(
    "CNITOOL",
    existsSync(CNITOOL),
    `${CNITOOL} is absent (build it with cni/tools/build-cnitool.sh)`,
  ) && requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");

describe.skipIf(!usable)("contrail-k8s-cni under cnitool", () => {
  const agent = new StubAgent();
  let server: { port: number; close: () => Promise<void> };
  let dir: string;
  const vmUuid = "c3c3c3c3-0000-4000-8000-0000000000c3";

  function cnitool(cmd: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((res) => {
      execFile(
        CNITOOL,
        [cmd, "contrail-k8s", `/var/run/netns/${POD}`],
        {
          env: {
            PATH: process.env.PATH ?? "",
            CNI_PATH: join(ROOT, "bin"),
            NETCONFPATH: dir,
            CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=frontend-0",
          },
        },
        (err, stdout, stderr) => res({ code: err ? Number(err.code) : 0, stdout, stderr }),
      );
    });
  }

  beforeAll(async () => {
    const b = await exec("node", [join(ROOT, "build.mjs")]);
    if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
    server = await agent.listen();
    dir = mkdtempSync(join(tmpdir(), "ctb-cnitool-"));
    agent.addPod("k8s__web__frontend-0", {
      vmUuid,
      vmiUuid: "d4d4d4d4-1111",
      mac: "02:d4:d4:d4:11:11",
      ip: "10.32.1.7",
      plen: 12,
      gateway: "10.47.255.254",
      dns: "10.47.255.253",
    });
    writeFileSync(
      join(dir, "10-contrail.conf"),
      JSON.stringify({
        cniVersion: "1.1.0",
        name: "contrail-k8s",
        type: "contrail-k8s-cni",
        contrail: {
          "vrouter-port": server.port,
          "config-dir": join(dir, "ports"),
          "host-netns": HOST,
          "poll-timeout": 0.05,
          "poll-retries": 5,
        },
      }),
    );
    await addNetns(HOST);
    await addNetns(POD);
  });

  afterAll(async () => {
    await cnitool("del");
    await delNetns(POD);
    await delNetns(HOST);
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    expect(await listNetns(TAG)).toEqual([]);
  });

  it("add prints a result libcni accepted and plumbs eth0", async () => {
    const r = await cnitool("add");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({
      cniVersion: "1.1.0",
      ips: [{ address: "10.32.1.7/12", gateway: "10.47.255.254" }],
    });
    expect((await linkState(POD, "eth0"))?.address).toBe("02:d4:d4:d4:11:11");
    expect(agent.posted.at(-1)).toMatchObject({
      "vm-name": "k8s__web__frontend-0",
      "vm-id": expect.stringMatching(/^cnitool-/),
    });
  });

  it("check passes, then fails once the default route is gone", async () => {
    expect((await cnitool("check")).code).toBe(0);
    await ipIn(POD, ["route", "del", "default"]);
    const r = await cnitool("check");
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/route 0\.0\.0\.0\/0 via 10\.47\.255\.254 is missing/);
  });

  it("del removes the attachment and can be repeated", async () => {
    expect((await cnitool("del")).code).toBe(0);
    expect(await linkState(POD, "eth0")).toBeUndefined();
    expect(await linkState(HOST, "tapeth0-c3c3c3")).toBeUndefined();
    expect(agent.deleted).toEqual([vmUuid]);
    expect((await cnitool("del")).code).toBe(0);
  });
});
