/**
 * A pod namespace's resolv.conf: `ip netns exec` shows the pod kubelet's file instead of the host's, and the
 * /etc/netns entry goes with the namespace — on delete, and in `cleanupAll` after a crash (the host keeps nothing).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cleanupAll, execIn, NetnsTopology, netnsUsable, ownedPrefix } from "../../fake-vrouter/netns";
import { requireTier } from "../support/tiers";

const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");
const PREFIX = ownedPrefix("rc");
const CONF =
  "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

describe.skipIf(!usable)("pod namespaces' resolv.conf", () => {
  it("is what programs in the pod read, and leaves with the namespace", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "ctb-resolv-"));
    const hostConf = existsSync("/etc/resolv.conf") ? readFileSync("/etc/resolv.conf", "utf8") : undefined;
    try {
      const topo = await NetnsTopology.create({
        prefix: PREFIX,
        computes: [{ name: "c1", fabricIp: "10.98.1.11" }],
        fabricHosts: [],
        stateDir,
      });
      const { ns } = await topo.createPodNamespace("a", CONF);
      const { ns: plain } = await topo.createPodNamespace("b");
      expect((await execIn(ns, "cat", ["/etc/resolv.conf"])).stdout).toBe(CONF);
      // a pod without one (dnsPolicy Default) reads the node's
      if (hostConf !== undefined)
        expect((await execIn(plain, "cat", ["/etc/resolv.conf"])).stdout).toBe(hostConf);
      expect(existsSync(`/etc/netns/${plain}`)).toBe(false);

      await topo.deletePodNamespace("a");
      expect(existsSync(`/etc/netns/${ns}`)).toBe(false);

      // abandoned: cleanupAll takes the file with the namespace
      await topo.createPodNamespace("c", CONF);
      expect(existsSync(`/etc/netns/${PREFIX}pod-c/resolv.conf`)).toBe(true);
      await cleanupAll(PREFIX, stateDir);
      expect(existsSync(`/etc/netns/${PREFIX}pod-c`)).toBe(false);
      // the machine's own resolv.conf is untouched
      if (hostConf !== undefined) expect(readFileSync("/etc/resolv.conf", "utf8")).toBe(hostConf);
    } finally {
      await cleanupAll(PREFIX, stateDir);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
