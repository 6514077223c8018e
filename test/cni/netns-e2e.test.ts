/**
 * The contrail-k8s-cni executable against real network namespaces and a stub agent on 127.0.0.1: ADD plumbs
 * a veth whose container end has the agent's MAC, address and default route and whose host end lives in the
 * compute namespace (never the root one); CHECK, DEL, repeated DEL, stale DEL and GC act on the real links.
 * Needs root and iproute2; namespaces are named ctb-cni-<pid>-… and removed afterwards.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
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
  rootHasLink,
} from "../../fake-vrouter/netns/ns";
import { StubAgent, type StubPod } from "./fakes";
import { requireTier } from "../support/tiers";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/contrail-k8s-cni");
const TAG = `${ownedPrefix()}cni`;
const HOST = `${TAG}-c1`;
const POD_A = `${TAG}-a`;
const POD_B = `${TAG}-b`;

const A: StubPod = {
  vmUuid: "a1b2c3d4-0000-4000-8000-00000000000a",
  vmiUuid: "0a0a0a0a-1111-4111-8111-11111111111a",
  mac: "02:0a:0a:0a:11:1a",
  ip: "10.32.0.10",
  plen: 12,
  gateway: "10.47.255.254",
  dns: "10.47.255.253",
};
const B: StubPod = {
  ...A,
  vmUuid: "b1b2c3d4-0000",
  vmiUuid: "0b0b0b0b-2222",
  mac: "02:0b:0b:0b:22:2b",
  ip: "10.32.0.11",
};

const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");

interface CniOut {
  code?: number;
  msg?: string;
  ips?: unknown[];
  [k: string]: unknown;
}

function runCni(
  env: Record<string, string>,
  conf: object,
): Promise<{ code: number; out: CniOut | undefined }> {
  return new Promise((res, rej) => {
    const child = spawn(BIN, [], { env: { PATH: process.env.PATH ?? "", ...env } });
    let stdout = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.on("error", rej);
    child.on("close", (code) =>
      res({ code: code ?? -1, out: stdout.trim() ? JSON.parse(stdout) : undefined }),
    );
    child.stdin.end(JSON.stringify(conf));
  });
}

describe.skipIf(!usable)("contrail-k8s-cni in real namespaces", () => {
  const agent = new StubAgent();
  let server: { port: number; close: () => Promise<void> };
  let stateDir: string;
  const conf = () => ({
    cniVersion: "1.1.0",
    name: "contrail-k8s",
    type: "contrail-k8s-cni",
    contrail: {
      "vrouter-port": server.port,
      "config-dir": stateDir,
      "host-netns": HOST,
      "poll-timeout": 0.05,
      "poll-retries": 5,
      "conf-dir": stateDir,
    },
  });
  const env = (pod: string, ns: string, id: string) => ({
    CNI_CONTAINERID: id,
    CNI_NETNS: `/var/run/netns/${ns}`,
    CNI_IFNAME: "eth0",
    CNI_PATH: join(ROOT, "bin"),
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod}`,
  });

  beforeAll(async () => {
    const b = await exec("node", [join(ROOT, "build.mjs")]);
    if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
    stateDir = mkdtempSync(join(tmpdir(), "ctb-cni-e2e-"));
    server = await agent.listen();
    agent.addPod("k8s__default__a", A);
    agent.addPod("k8s__default__b", B);
    for (const ns of [HOST, POD_A, POD_B]) await addNetns(ns);
  });

  afterAll(async () => {
    for (const ns of [HOST, POD_A, POD_B]) await delNetns(ns);
    await server?.close();
    rmSync(stateDir, { recursive: true, force: true });
    expect(await listNetns(TAG)).toEqual([]);
  });

  it("ADD plumbs eth0 with the agent's MAC, address and default route; the tap sits in the compute namespace", async () => {
    const r = await runCni({ CNI_COMMAND: "ADD", ...env("a", POD_A, "sandbox-a1") }, conf());
    expect(r.code).toBe(0);
    expect(r.out?.ips).toEqual([{ address: "10.32.0.10/12", gateway: "10.47.255.254", interface: 0 }]);
    const eth0 = await linkState(POD_A, "eth0");
    expect(eth0?.address).toBe(A.mac);
    expect(eth0?.flags).toContain("UP");
    expect(
      eth0?.addr_info?.filter((x) => x.family === "inet").map((x) => `${x.local}/${x.prefixlen}`),
    ).toEqual(["10.32.0.10/12"]);
    const routes = JSON.parse(await ipIn(POD_A, ["-j", "route", "show", "default"]));
    expect(routes[0]).toMatchObject({ dst: "default", gateway: "10.47.255.254", dev: "eth0" });
    expect((await linkState(HOST, "tapeth0-a1b2c3"))?.flags).toContain("UP");
    expect(await rootHasLink("tapeth0-a1b2c3")).toBe(false);
  });

  it("CHECK passes on the intact attachment and fails once the address is removed", async () => {
    const add = await runCni({ CNI_COMMAND: "ADD", ...env("b", POD_B, "sandbox-b1") }, conf());
    const ok = await runCni(
      { CNI_COMMAND: "CHECK", ...env("b", POD_B, "sandbox-b1") },
      { ...conf(), prevResult: add.out },
    );
    expect(ok).toEqual({ code: 0, out: undefined });
    await ipIn(POD_B, ["addr", "del", "10.32.0.11/12", "dev", "eth0"]);
    const bad = await runCni(
      { CNI_COMMAND: "CHECK", ...env("b", POD_B, "sandbox-b1") },
      { ...conf(), prevResult: add.out },
    );
    expect(bad.code).toBe(1);
    expect(bad.out).toMatchObject({ code: 103, msg: expect.stringContaining("lacks address 10.32.0.11/12") });
  });

  it("a stale DEL (another sandbox id) leaves the attachment in place", async () => {
    const r = await runCni({ CNI_COMMAND: "DEL", ...env("a", POD_A, "sandbox-a0") }, conf());
    expect(r.code).toBe(0);
    expect(await linkState(POD_A, "eth0")).toBeDefined();
    expect(await linkState(HOST, "tapeth0-a1b2c3")).toBeDefined();
  });

  it("DEL removes both veth ends and the state; a repeated DEL succeeds", async () => {
    const r = await runCni({ CNI_COMMAND: "DEL", ...env("a", POD_A, "sandbox-a1") }, conf());
    expect(r).toEqual({ code: 0, out: undefined });
    expect(await linkState(HOST, "tapeth0-a1b2c3")).toBeUndefined();
    expect(await linkState(POD_A, "eth0")).toBeUndefined();
    expect(agent.deleted).toContain(A.vmUuid);
    const again = await runCni({ CNI_COMMAND: "DEL", ...env("a", POD_A, "sandbox-a1") }, conf());
    expect(again.code).toBe(0);
  });

  it("GC removes attachments missing from cni.dev/valid-attachments", async () => {
    expect(readdirSync(stateDir)).toContain("k8s__default__b");
    const r = await runCni(
      { CNI_COMMAND: "GC", CNI_PATH: join(ROOT, "bin") },
      { ...conf(), "cni.dev/valid-attachments": [{ containerID: "sandbox-zz", ifname: "eth0" }] },
    );
    expect(r.code).toBe(0);
    expect(await linkState(HOST, "tapeth0-b1b2c3")).toBeUndefined();
    expect(await linkState(POD_B, "eth0")).toBeUndefined();
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it("ADD for a pod the agent does not know fails with 11 after the configured polls", async () => {
    const r = await runCni({ CNI_COMMAND: "ADD", ...env("ghost", POD_A, "sandbox-g") }, conf());
    expect(r.code).toBe(1);
    expect(r.out).toMatchObject({ cniVersion: "1.1.0", code: 11 });
    expect(agent.requests.filter((x) => x === "GET /vm-cfg/k8s__default__ghost")).toHaveLength(5);
  });
});
