/**
 * Real packets through vrouter processes: two compute namespaces and a fabric host on an underlay bridge,
 * pod namespaces, tables from the datapath's world builder. Same-VN pods across computes reach each other
 * (ICMP, TCP and UDP echo) over real MPLSoUDP; a pod in another VN without policy gets nothing back, and
 * the vrouter says why; a fabric host and an ip-fabric-forwarded pod talk unencapsulated; a capture on a
 * vif is a pcap file pcap-parser reads. Needs root, iproute2, libpcap.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MPLS_UDP_PORT } from "../../fake-vrouter/tables";
import { ensureCaptureAddon, listNetns, NetnsTopology, netnsUsable } from "../../fake-vrouter/netns";
import { ownedPrefix, rootHasLink } from "../../fake-vrouter/netns/ns";
import { podMac, tablesFor } from "../datapath/world";
import { echo, ping, readPcap, threePods } from "./helpers";
import { requireTier } from "../support/tiers";

const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");
const PREFIX = ownedPrefix("nd");

describe.skipIf(!usable)("netns datapath", () => {
  const world = threePods();
  let topo: NetnsTopology;
  let stateDir: string;
  const podNs = (p: string) => topo.podNs(p);

  beforeAll(async () => {
    await ensureCaptureAddon();
    stateDir = mkdtempSync(join(tmpdir(), "ctb-netns-state-"));
    topo = await NetnsTopology.create({
      prefix: PREFIX,
      computes: world.computes,
      // A fabric host reaches ip-fabric-forwarded pods through the pod's compute, as a ToR route would say.
      fabricHosts: [{ name: "h1", ip: "10.99.0.21", routes: [{ dst: "10.60.0.5/32", via: "10.99.0.12" }] }],
      stateDir,
    });
    for (const pod of world.pods) {
      await topo.createPodNamespace(pod.name);
      const vn = world.vns.find((v) => v.name === pod.vn)!;
      await topo.plugPod(pod.name, {
        compute: pod.compute,
        hostIfname: `tap-${pod.name}`,
        mac: podMac(pod),
        ip: pod.ip,
        plen: 24,
        gateway: vn.gateway,
      });
    }
    await topo.startPod("a", []);
    await topo.startPod("b", [
      { proto: "tcp", port: 8080 },
      { proto: "udp", port: 5353 },
    ]);
    await topo.startVrouters();
    for (const c of world.computes) topo.vrouter(c.name).install(tablesFor(world, c.name));
    await topo.vrouter("compute-1").waitForPorts(["fabric0", "tap-a", "tap-c"]);
    await topo.vrouter("compute-2").waitForPorts(["fabric0", "tap-b", "tap-e"]);
  });

  afterAll(async () => {
    await topo?.destroy();
    rmSync(stateDir, { recursive: true, force: true });
    expect(await listNetns(PREFIX)).toEqual([]);
  });

  it("puts nothing in the root namespace", async () => {
    for (const name of ["tap-a", "tap-b", "tap-c", "fabric0", "uc0", "uc1", "uh0"])
      expect(await rootHasLink(name)).toBe(false);
  });

  it("pings between pods of the same VN on two computes through both vrouters", async () => {
    const r = await ping(podNs("a"), "10.32.0.4");
    expect(r.received).toBe(3);
    const s1 = await topo.vrouter("compute-1").status();
    expect(s1.engine?.arpProxied).toBeGreaterThan(0);
    expect(s1.engine?.flowsCreated).toBeGreaterThan(0);
  });

  it("answers the pod's gateway ping from the vrouter itself", async () => {
    expect((await ping(podNs("c"), "10.33.0.1", 2)).received).toBe(2);
  });

  it("carries TCP and UDP echo across computes", async () => {
    expect(await echo(podNs("a"), "tcp", "10.32.0.4", 8080, "hello over tcp")).toBe("hello over tcp");
    expect(await echo(podNs("a"), "udp", "10.32.0.4", 5353, "hello over udp")).toBe("hello over udp");
  });

  it("probes answer like the simulated host stack: reply, refused (it got there) or nothing", async () => {
    const a = topo.pod("a");
    const answers = await Promise.all([
      a.probe({ proto: "tcp", dst: "10.32.0.4", port: 8080 }),
      a.probe({ proto: "tcp", dst: "10.32.0.4", port: 9 }),
      a.probe({ proto: "udp", dst: "10.32.0.4", port: 5353 }),
      a.probe({ proto: "udp", dst: "10.32.0.4", port: 9 }),
      a.probe({ proto: "icmp", dst: "10.32.0.4" }),
      a.probe({ proto: "tcp", dst: "10.33.0.3", port: 8080, timeoutMs: 500 }),
    ]);
    expect(answers.map((x) => x.answer)).toEqual([
      "reply",
      "refused",
      "reply",
      "refused",
      "reply",
      undefined,
    ]);
  });

  it("drops everything to a pod in another VN without policy, and says why", async () => {
    const r = await ping(podNs("a"), "10.33.0.3", 3, { waitS: 0.5 });
    expect(r.received).toBe(0);
    const s = await topo.vrouter("compute-1").status();
    const drop = s.recentDrops.find((d) => d.ifname === "tap-a" && d.reason === "NOWHERE_TO_GO");
    expect(drop).toBeDefined();
    expect(s.engine?.drops.NOWHERE_TO_GO).toBeGreaterThanOrEqual(3);
  });

  it("a host on the ip-fabric without a vrouter and an ip-fabric-forwarded pod reach each other unencapsulated", async () => {
    expect((await ping(topo.hostNs("h1"), "10.60.0.5", 2)).received).toBe(2);
    expect((await ping(podNs("e"), "10.99.0.21", 2)).received).toBe(2);
  });

  it("a vrouter that dies is started again with its tables and forwards again", async () => {
    const v = topo.vrouter("compute-2");
    const before = v.pid;
    process.kill(before, "SIGKILL");
    await expect(v.status()).rejects.toThrow(/exited|not running/);
    await v.waitForPorts(["fabric0", "tap-b", "tap-e"]);
    expect(v.pid).not.toBe(before);
    expect(v.restarts).toBe(1);
    expect((await ping(podNs("a"), "10.32.0.4", 2)).received).toBe(2);
  });

  it("captures a vif and the fabric into pcap files pcap-parser reads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-pcap-"));
    try {
      const v2 = topo.vrouter("compute-2");
      await v2.capture("tap-b", join(dir, "tap-b.pcap"));
      await v2.capture("fabric0", join(dir, "fabric0.pcap"));
      expect((await ping(podNs("a"), "10.32.0.4", 2)).received).toBe(2);
      await v2.stopCapture("tap-b");
      await v2.stopCapture("fabric0");
      const tap = await readPcap(join(dir, "tap-b.pcap"));
      const icmp = tap.filter((p) => p.data.readUInt16BE(12) === 0x0800 && p.data[23] === 1);
      // echo requests 10.32.0.3 -> 10.32.0.4 delivered to b, replies coming back from b
      const src = (p: (typeof tap)[number]) => [...p.data.subarray(26, 30)].join(".");
      expect(icmp.filter((p) => src(p) === "10.32.0.3").length).toBe(2);
      expect(icmp.filter((p) => src(p) === "10.32.0.4").length).toBe(2);
      const fabric = await readPcap(join(dir, "fabric0.pcap"));
      const mpls = fabric.filter((p) => p.data[23] === 17 && p.data.readUInt16BE(36) === MPLS_UDP_PORT);
      expect(mpls.length).toBeGreaterThanOrEqual(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
