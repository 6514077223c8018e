/**
 * Captures: frames seen by the simulated network written as a classic pcap and read back with the
 * pcap-parser package (and tcpdump -r when the machine has it).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeEthernet } from "../../fake-vrouter/datapath/packet";
import { LINKTYPE_ETHERNET, PcapWriter } from "../../fake-vrouter/datapath/pcap";
import { simNetwork, twoComputes } from "./world";

interface PcapParser {
  on(event: "globalHeader", cb: (h: { linkLayerType: number }) => void): PcapParser;
  on(event: "packet", cb: (p: { header: { capturedLength: number }; data: Buffer }) => void): PcapParser;
  on(event: "end", cb: () => void): PcapParser;
  on(event: "error", cb: (e: Error) => void): PcapParser;
}
const pcapParser = createRequire(import.meta.url)("pcap-parser") as { parse(path: string): PcapParser };

function readPcap(path: string): Promise<{ linkType: number; frames: Buffer[] }> {
  return new Promise((resolve, reject) => {
    let linkType = -1;
    const frames: Buffer[] = [];
    pcapParser
      .parse(path)
      .on("globalHeader", (h) => {
        linkType = h.linkLayerType;
      })
      .on("packet", (p) => frames.push(p.data))
      .on("error", reject)
      .on("end", () => resolve({ linkType, frames }));
  });
}

function hasTcpdump(): boolean {
  try {
    execFileSync("tcpdump", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), "ctb-pcap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pcap captures", () => {
  it("a pod vif and the fabric, written and read back with pcap-parser", async () => {
    const net = simNetwork(twoComputes());
    const vif = new PcapWriter();
    const fabric = new PcapWriter();
    net.capture({ compute: "compute-1", vif: 3 }, vif.sink);
    net.capture("fabric", fabric.sink);
    net.probe({ from: "a", to: "10.1.0.5", proto: "icmp", count: 2 });
    vif.save(join(dir, "vif.pcap"));
    fabric.save(join(dir, "fabric.pcap"));
    const v = await readPcap(join(dir, "vif.pcap"));
    expect(v.linkType).toBe(LINKTYPE_ETHERNET);
    // ARP request + proxy reply, then 2 × (echo request in, echo reply out).
    expect(v.frames).toHaveLength(6);
    const f = await readPcap(join(dir, "fabric.pcap"));
    expect(f.frames).toHaveLength(4);
    for (const frame of f.frames) expect(decodeEthernet(new Uint8Array(frame)).ok).toBe(true);
  });
  it.runIf(hasTcpdump())(
    "tcpdump -r decodes the fabric capture as MPLS over UDP with correct checksums",
    () => {
      const net = simNetwork(twoComputes());
      const pcap = new PcapWriter();
      net.capture("fabric", pcap.sink);
      net.probe({ from: "a", to: "10.1.0.5", proto: "tcp", port: 80 });
      pcap.save(join(dir, "tcp.pcap"));
      const text = execFileSync("tcpdump", ["-nn", "-v", "-r", join(dir, "tcp.pcap")], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      expect(text).toMatch(/192\.168\.0\.11\.\d+ > 192\.168\.0\.12\.6635: MPLS \(label \d+/);
      expect(text).toMatch(/10\.1\.0\.3\.\d+ > 10\.1\.0\.5\.80: Flags \[S\], cksum 0x[0-9a-f]+ \(correct\)/);
      expect(text).not.toContain("incorrect");
    },
  );
});
