/**
 * The vrouter tools on the netns datapath (issue 23): scenarios/vrouter-tools.yaml's `vrouter` steps hold there
 * (the flows and counters come from the vrouter processes over their IPC channel), and `ctb exec <node> --`
 * runs a runbook line inside the compute's namespace with the tools' shims on its PATH.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { netnsUsable } from "../../fake-vrouter/netns";
import { requireTier } from "../support/tiers";

const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");
const CTB = resolve("bin/ctb");
const work = mkdtempSync(join(tmpdir(), "ctb-vtools-netns-"));
const ENV = { ...process.env, CTB_WORKDIR: join(work, ".ctb"), NO_COLOR: "1", CTB_DEBUG: "" };

function ctb(...args: string[]) {
  const r = spawnSync(process.execPath, [CTB, ...args], { encoding: "utf8", env: ENV, timeout: 240_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!usable)("vrouter tools on the netns datapath", () => {
  afterAll(() => {
    ctb("down");
  });

  it("the scenario's rows hold, and ctb exec <node> runs a runbook line in the compute namespace", () => {
    const up = ctb("up", "--datapath", "netns", "scenarios/vrouter-tools.yaml");
    expect(up.code, up.out + up.err).toBe(0);
    expect(up.out).toMatch(/vrouter-tools\): 14 passed, 0 failed/);
    const client = ctb("get", "pod", "client", "-o", "wide", "--no-headers").out.trim().split(/\s+/);
    const [ip, node] = [client[5]!, client[6]!];
    // a shell pipeline in the node's namespace: the shim asks the environment through its control socket
    const line = ctb(
      "exec",
      node,
      "--",
      "sh",
      "-c",
      `vif --list | grep -c "IPaddr:${ip}$"; ip -br link show fabric0`,
    );
    expect(line.code, line.err).toBe(0);
    expect(line.out.split("\n")[0]).toBe("1");
    expect(line.out).toMatch(/^fabric0@\S+ +UP/m);
    // the tool's own exit code and message come through the shim
    const bad = ctb("exec", node, "--", "rt", "--dump");
    expect(bad.code).toBe(1);
    expect(bad.err).toBe("rt: option '--dump' requires an argument\n");
    expect(bad.out.split("\n")[0]).toBe("Usage:    rt --dump <vrf_id> [--family <inet|inet6|bridge>]>");
  }, 300_000);
});
