/**
 * Shared pieces of the netns suites: a three-pod world (two computes; VN red on both, VN blue on one), a
 * pcap file reader and small probes (ping, TCP/UDP echo) run inside pod namespaces.
 *
 * Example: `const frames = await readPcap("/tmp/tap-b.pcap")`.
 */
import { parse, type PcapPacket } from "pcap-parser";
import { execIn } from "../../fake-vrouter/netns/ns";
import type { World } from "../datapath/world";

/**
 * Two computes; VN red on both (a on compute-1, b on compute-2), VN blue (c on compute-1); VN green is
 * ip-fabric forwarded (e on compute-2) and reachable from h1, a host on the fabric without a vrouter.
 */
export function threePods(): World {
  return {
    computes: [
      { name: "compute-1", fabricIp: "10.99.0.11" },
      { name: "compute-2", fabricIp: "10.99.0.12" },
    ],
    vns: [
      { name: "red", vrf: 1, subnet: "10.32.0.0/24", gateway: "10.32.0.1" },
      { name: "blue", vrf: 2, subnet: "10.33.0.0/24", gateway: "10.33.0.1" },
      { name: "green", vrf: 3, subnet: "10.60.0.0/24", gateway: "10.60.0.1", fabricForwarded: true },
    ],
    fabricHosts: [{ name: "h1", ip: "10.99.0.21" }],
    pods: [
      { name: "a", compute: "compute-1", vif: 3, ip: "10.32.0.3", vn: "red" },
      { name: "b", compute: "compute-2", vif: 3, ip: "10.32.0.4", vn: "red" },
      { name: "c", compute: "compute-1", vif: 4, ip: "10.33.0.3", vn: "blue" },
      { name: "e", compute: "compute-2", vif: 4, ip: "10.60.0.5", vn: "green" },
    ],
  };
}

export function readPcap(file: string): Promise<PcapPacket[]> {
  return new Promise((resolve, reject) => {
    const out: PcapPacket[] = [];
    const p = parse(file);
    p.on("packet", (pkt: PcapPacket) => out.push(pkt));
    p.on("end", () => resolve(out));
    p.on("error", reject);
  });
}

/** `ping` from inside a namespace; returns how many of `count` replies came back. */
export async function ping(
  ns: string,
  dst: string,
  count = 3,
  opts: { intervalS?: number; waitS?: number } = {},
) {
  const r = await execIn(ns, "ping", [
    "-n",
    "-q",
    "-c",
    String(count),
    "-i",
    String(opts.intervalS ?? 0.2),
    "-W",
    String(opts.waitS ?? 2),
    dst,
  ]);
  if (r.code > 128) throw new Error(`ping ${dst} from ${ns}: ${r.stderr}`);
  const m = /(\d+) received/.exec(r.stdout);
  const rtt = /= [\d.]+\/([\d.]+)\/([\d.]+)\//.exec(r.stdout);
  return { received: m ? Number(m[1]) : 0, avgMs: rtt ? Number(rtt[1]) : undefined, output: r.stdout };
}

/** Send `text` over TCP or UDP from inside a namespace and return what came back ("" on failure). */
export async function echo(
  ns: string,
  proto: "tcp" | "udp",
  dst: string,
  port: number,
  text: string,
): Promise<string> {
  const script =
    proto === "tcp"
      ? `const s=require("net").connect(${port},"${dst}",()=>s.write(${JSON.stringify(text)}));s.on("data",d=>process.stdout.write(d,()=>process.exit(0)));s.on("error",()=>process.exit(2));setTimeout(()=>process.exit(3),3000)`
      : `const s=require("dgram").createSocket("udp4");s.on("message",m=>{process.stdout.write(m);process.exit(0)});s.send(${JSON.stringify(text)},${port},"${dst}");setTimeout(()=>process.exit(3),3000)`;
  const r = await execIn(ns, process.execPath, ["-e", script]);
  return r.code === 0 ? r.stdout : "";
}
