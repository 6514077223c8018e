/** Pure pieces of the netns front end: L4 checksum completion, the pcap writer, pid records, name guard. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { internetChecksum } from "../../fake-vrouter/datapath/packet";
import { completeL4Checksum } from "../../fake-vrouter/netns/checksum";
import { assertTestbedName, ownedPrefix, ownerPid } from "../../fake-vrouter/netns/ns";
import { PcapWriter } from "../../fake-vrouter/netns/pcap-writer";
import {
  listProcesses,
  processStartTime,
  recordProcess,
  stillRunning,
} from "../../fake-vrouter/netns/pidfiles";
import { readPcap } from "./helpers";

/** Ethernet + IPv4 + TCP (or UDP) frame 10.0.0.1 -> 10.0.0.2 with `payload`, checksum field as given. */
function frame(proto: 6 | 17, payload: string, checksum: number): Uint8Array {
  const l4len = (proto === 6 ? 20 : 8) + payload.length;
  const f = new Uint8Array(14 + 20 + l4len);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
  const ip = 14;
  f.set(
    [
      0x45,
      0,
      (20 + l4len) >> 8,
      (20 + l4len) & 255,
      0,
      1,
      0x40,
      0,
      64,
      proto,
      0,
      0,
      10,
      0,
      0,
      1,
      10,
      0,
      0,
      2,
    ],
    ip,
  );
  const l4 = ip + 20;
  f.set([0x30, 0x39, 0x00, 0x50], l4);
  if (proto === 6) f[l4 + 12] = 0x50;
  else f.set([l4len >> 8, l4len & 255], l4 + 4);
  const field = l4 + (proto === 6 ? 16 : 6);
  f.set([checksum >> 8, checksum & 255], field);
  f.set(new TextEncoder().encode(payload), l4 + (proto === 6 ? 20 : 8));
  return f;
}

/** A correct L4 checksum sums (with the pseudo header) to 0xffff, i.e. complements to 0. */
function l4Valid(f: Uint8Array): boolean {
  const proto = f[23];
  const len = f.length - 34;
  const pseudo = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + proto + len;
  return internetChecksum(f, 34, f.length, pseudo) === 0;
}

describe("completeL4Checksum", () => {
  it("finishes a TCP checksum left to offload (only the pseudo-header sum in the field)", () => {
    const f = frame(6, "hello", 0x1234);
    expect(l4Valid(f)).toBe(false);
    expect(completeL4Checksum(f)).toBe(true);
    expect(l4Valid(f)).toBe(true);
  });
  it("finishes a UDP checksum but leaves a zero (absent) one alone", () => {
    const f = frame(17, "dns?", 0x0101);
    expect(completeL4Checksum(f)).toBe(true);
    expect(l4Valid(f)).toBe(true);
    const none = frame(17, "tunnel", 0);
    expect(completeL4Checksum(none)).toBe(false);
    expect(none[34 + 6] | none[34 + 7]).toBe(0);
  });
  it("ignores ARP, fragments and truncated frames", () => {
    const arp = frame(6, "x", 0);
    arp[13] = 0x06;
    expect(completeL4Checksum(arp)).toBe(false);
    const frag = frame(6, "x", 0);
    frag[14 + 6] = 0x20; // more fragments
    expect(completeL4Checksum(frag)).toBe(false);
    expect(completeL4Checksum(frame(6, "x", 0).subarray(0, 40))).toBe(false);
  });
});

describe("PcapWriter", () => {
  it("writes files pcap-parser reads back frame for frame", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-pcapw-"));
    try {
      const file = join(dir, "x.pcap");
      const w = new PcapWriter(file);
      const a = frame(6, "one", 0);
      const b = frame(17, "two", 1);
      w.write(a, 1_700_000_000_123.5);
      w.write(b, 1_700_000_001_000);
      w.close();
      const pkts = await readPcap(file);
      expect(pkts.map((p) => [...p.data])).toEqual([[...a], [...b]]);
      expect(pkts[0].header.timestampSeconds).toBe(1_700_000_000);
      expect(pkts[0].header.timestampMicroseconds).toBe(123_500);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("pid records", () => {
  it("recognise a live process only with the start time it was recorded with", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctb-pids-"));
    try {
      await recordProcess(dir, { pid: process.pid, ns: "ctb-x-c1", role: "test" });
      const [rec] = await listProcesses(dir, "ctb-x-");
      expect(rec).toMatchObject({
        pid: process.pid,
        ns: "ctb-x-c1",
        startTime: processStartTime(process.pid),
      });
      expect(stillRunning(rec)).toBe(true);
      expect(stillRunning({ ...rec, startTime: "1" })).toBe(false);
      expect(await listProcesses(dir, "ctb-y-")).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("namespace names", () => {
  it("refuse anything outside the testbed prefix", () => {
    for (const bad of ["eth0", "default", "ctb", "ctb-../x", "CTB-x"])
      expect(() => assertTestbedName(bad)).toThrow(/refusing/);
    expect(() => assertTestbedName("ctb-compute-1")).not.toThrow();
  });

  it("carry their owner's pid, so ctb down removes only a dead owner's namespaces", () => {
    const mine = `${ownedPrefix("cni")}c1`;
    expect(mine.startsWith(`ctb-${process.pid.toString(36)}-cni-`)).toBe(true);
    expect(ownerPid(mine)).toEqual({ pid: process.pid, prefix: ownedPrefix() });
    expect(ownerPid(`${ownedPrefix("", 4242)}pod-a`)?.pid).toBe(4242);
    // a name without an owner is never taken for one a dead pid left
    expect(ownerPid("ctb-compute")).toBeUndefined();
    expect(ownerPid("ctb-compute-1")).toBeUndefined();
  });
});
