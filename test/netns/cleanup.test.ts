/**
 * `cleanupAll(prefix)` after a crash: a topology with running vrouter and pod-server processes is abandoned
 * (no destroy); cleanupAll stops exactly those processes by their recorded pids and removes the namespaces.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cleanupAll, listNetns, NetnsTopology, netnsUsable, ownedPrefix } from "../../fake-vrouter/netns";
import { listProcesses } from "../../fake-vrouter/netns/pidfiles";
import { requireTier } from "../support/tiers";

const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");
const PREFIX = ownedPrefix("cu");

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!usable)("cleanupAll", () => {
  it("removes processes and namespaces an abandoned topology left", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "ctb-cleanup-"));
    try {
      const topo = await NetnsTopology.create({
        prefix: PREFIX,
        computes: [{ name: "c1", fabricIp: "10.98.0.11" }],
        fabricHosts: [{ name: "h1", ip: "10.98.0.21" }],
        stateDir,
      });
      await topo.startVrouters();
      await topo.createPodNamespace("p");
      const server = await topo.startPod("p", [{ proto: "tcp", port: 80 }]);
      const pids = [topo.vrouter("c1").pid, server.pid];
      expect(pids.every(alive)).toBe(true);
      expect((await listNetns(PREFIX)).sort()).toEqual([
        `${PREFIX}c1`,
        `${PREFIX}h1`,
        `${PREFIX}pod-p`,
        `${PREFIX}underlay`,
      ]);

      const r = await cleanupAll(PREFIX, stateDir);
      expect(r.processes).toBe(2);
      expect(pids.some(alive)).toBe(false);
      expect(await listNetns(PREFIX)).toEqual([]);
      expect(await listProcesses(stateDir, PREFIX)).toEqual([]);
    } finally {
      await cleanupAll(PREFIX, stateDir);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
