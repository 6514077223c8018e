/**
 * The netns datapath's speed, each figure next to a baseline measured in the same run:
 * - ping RTT p50/p99 between two pod namespaces through one vrouter process (same compute) and through two
 *   vrouters over MPLSoUDP on the underlay (two computes), vs the same kind of namespaces on a Linux bridge;
 * - UDP packets/s one pod → another (64-byte payloads, sender paced by its own send callbacks, 2 s),
 *   through the vrouter vs the Linux bridge.
 * Needs root, iproute2, iputils-ping, libpcap. Run: `npx tsx bench/netns.bench.ts [pings]` (default 200).
 */
import { join } from "node:path";
import {
  addNetns,
  addVethBetween,
  delNetns,
  execIn,
  ipBatch,
  netnsUsable,
  ownedPrefix,
} from "../fake-vrouter/netns/ns";
import { ensureCaptureAddon, NetnsTopology } from "../fake-vrouter/netns";
import { podMac, tablesFor, type World } from "../test/datapath/world";

const PINGS = Number(process.argv[2] ?? 200);
const PREFIX = ownedPrefix("bn");
const UDP_SECONDS = 2;

const world: World = {
  computes: [
    { name: "compute-1", fabricIp: "10.97.0.11" },
    { name: "compute-2", fabricIp: "10.97.0.12" },
  ],
  vns: [{ name: "red", vrf: 1, subnet: "10.50.0.0/24", gateway: "10.50.0.1" }],
  pods: [
    { name: "a", compute: "compute-1", vif: 3, ip: "10.50.0.3", vn: "red", policy: true },
    { name: "b", compute: "compute-1", vif: 4, ip: "10.50.0.4", vn: "red", policy: true },
    { name: "d", compute: "compute-2", vif: 3, ip: "10.50.0.5", vn: "red", policy: true },
  ],
};

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function rtts(ns: string, dst: string): Promise<{ rtt: number[]; lost: number }> {
  // Warm the path (ARP, flow setup) before measuring.
  await execIn(ns, "ping", ["-n", "-c", "3", "-i", "0.05", "-W", "1", dst]);
  const r = await execIn(ns, "ping", ["-n", "-c", String(PINGS), "-i", "0.01", "-W", "1", dst], {
    timeoutMs: 120_000,
  });
  const rtt = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return { rtt, lost: PINGS - rtt.length };
}

const SINK = `const s=require("dgram").createSocket("udp4");let n=0;s.on("message",()=>n++);s.bind(9000,()=>process.send?process.send("x"):console.error("ready"));setTimeout(()=>{console.log(n);process.exit(0)},${(UDP_SECONDS + 1) * 1000})`;
const SOURCE = (dst: string) =>
  `const s=require("dgram").createSocket("udp4");const b=Buffer.alloc(64);let n=0;const end=Date.now()+${UDP_SECONDS * 1000};const go=()=>{if(Date.now()>end){console.log(n);process.exit(0)}n++;s.send(b,9000,"${dst}",go)};setTimeout(go,300)`;

async function udpRate(
  fromNs: string,
  toNs: string,
  dst: string,
): Promise<{ sent: number; received: number }> {
  const sink = execIn(toNs, process.execPath, ["-e", SINK], { timeoutMs: 60_000 });
  const sent = Number(
    (await execIn(fromNs, process.execPath, ["-e", SOURCE(dst)], { timeoutMs: 60_000 })).stdout.trim(),
  );
  const received = Number((await sink).stdout.trim());
  return { sent, received };
}

function line(label: string, r: { rtt: number[]; lost: number }): string {
  return `${label.padEnd(34)} p50 ${pct(r.rtt, 50).toFixed(3)} ms  p99 ${pct(r.rtt, 99).toFixed(3)} ms  (n=${r.rtt.length}, lost ${r.lost})`;
}

async function main(): Promise<void> {
  if (!(await netnsUsable())) {
    console.log("netns bench: needs root and iproute2 — skipped");
    return;
  }
  const addon = await ensureCaptureAddon();
  const topo = await NetnsTopology.create({
    prefix: PREFIX,
    computes: world.computes,
    stateDir: join("/tmp", `${PREFIX}state`),
  });
  const bridgeNs = [`${PREFIX}br`, `${PREFIX}bx`, `${PREFIX}by`];
  try {
    for (const pod of world.pods) {
      await topo.createPodNamespace(pod.name);
      await topo.plugPod(pod.name, {
        compute: pod.compute,
        hostIfname: `tap-${pod.name}`,
        mac: podMac(pod),
        ip: pod.ip,
        plen: 24,
        gateway: "10.50.0.1",
      });
    }
    await topo.startVrouters();
    for (const c of world.computes) topo.vrouter(c.name).install(tablesFor(world, c.name));
    await topo.vrouter("compute-1").waitForPorts(["fabric0", "tap-a", "tap-b"]);
    await topo.vrouter("compute-2").waitForPorts(["fabric0", "tap-d"]);

    // Baseline: two namespaces on a Linux bridge in a third.
    for (const ns of bridgeNs) await addNetns(ns);
    await ipBatch(bridgeNs[0], ["link add br0 type bridge stp_state 0 forward_delay 0", "link set br0 up"]);
    for (const [i, ns] of bridgeNs.slice(1).entries()) {
      await addVethBetween({ ns, name: "eth0" }, { ns: bridgeNs[0], name: `p${i}` });
      await ipBatch(bridgeNs[0], [`link set p${i} master br0`]);
      await ipBatch(ns, [`addr add 10.51.0.${i + 2}/24 dev eth0`]);
    }

    console.log(`capture addon: ${addon.addon}`);
    const bridge = await rtts(bridgeNs[1], "10.51.0.3");
    const same = await rtts(topo.podNs("a"), "10.50.0.4");
    const cross = await rtts(topo.podNs("a"), "10.50.0.5");
    console.log(line("Linux bridge (baseline)", bridge));
    console.log(line("vrouter, same compute", same));
    console.log(line("vrouter, two computes (MPLSoUDP)", cross));
    console.log(
      `ratio vs bridge p50: same ${(pct(same.rtt, 50) / pct(bridge.rtt, 50)).toFixed(1)}x, cross ${(pct(cross.rtt, 50) / pct(bridge.rtt, 50)).toFixed(1)}x`,
    );
    const ub = await udpRate(bridgeNs[1], bridgeNs[2], "10.51.0.3");
    const uv = await udpRate(topo.podNs("a"), topo.podNs("b"), "10.50.0.4");
    const ux = await udpRate(topo.podNs("a"), topo.podNs("d"), "10.50.0.5");
    const rate = (u: { sent: number; received: number }) =>
      `${Math.round(u.received / UDP_SECONDS)} pkt/s received (${Math.round(u.sent / UDP_SECONDS)} sent)`;
    console.log(`UDP Linux bridge (baseline)        ${rate(ub)}`);
    console.log(`UDP vrouter, same compute          ${rate(uv)}`);
    console.log(`UDP vrouter, two computes          ${rate(ux)}`);
    console.log(
      `ratio vs bridge: same ${(uv.received / ub.received).toFixed(3)}, cross ${(ux.received / ub.received).toFixed(3)}`,
    );
  } finally {
    await topo.destroy();
    for (const ns of bridgeNs) await delNetns(ns);
  }
}

await main();
