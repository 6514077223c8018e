/**
 * The app image's server (ctb.local/echo:v1) answers as the node emulator's pods do (fake-vrouter/netns/
 * pod-main.ts): the same prober, probing the same ports at the same address, gets the same outcomes from both;
 * TCP and UDP payloads come back unchanged. Each side runs in its own testbed namespace (tier NETNS).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addNetns, delNetns, ipIn, netnsUsable, ownedPrefix } from "../../fake-vrouter/netns/ns";
import { PodProcess } from "../../fake-vrouter/netns/pod-process";
import { ensureImages } from "../../testbed/cluster/kubelet/images";
import { echo } from "../netns/helpers";
import { requireTier } from "../support/tiers";
import { layerFile, readImage } from "./support";

const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns`");
const PREFIX = ownedPrefix("img");
const EMU = `${PREFIX}emu`; // the emulator's pod
const IMG = `${PREFIX}app`; // the image's server
const ADDR = "10.250.0.2"; // the same pod address in both (separate namespaces)
const PORTS = ["tcp:8080", "udp:5353", "tcp:80"];

let dir: string;
let emulated: PodProcess;
let prober: PodProcess;
let server: ChildProcess;
let serverErr = "";

beforeAll(async () => {
  if (!usable) return;
  dir = mkdtempSync(join(tmpdir(), "ctb-echo-"));
  const { images } = await ensureImages({ names: ["echo"], out: dir });
  // the server binary as the image holds it
  const bin = join(dir, "ctb-echo");
  const tarball = images.echo!.tarball;
  writeFileSync(bin, layerFile(tarball, readImage(tarball).layers[0]!, "ctb-echo"));
  chmodSync(bin, 0o755);
  for (const ns of [EMU, IMG]) {
    await addNetns(ns);
    await ipIn(ns, ["addr", "add", `${ADDR}/32`, "dev", "lo"]);
  }
  emulated = await PodProcess.start({
    ns: EMU,
    ports: PORTS.map((p) => ({ proto: p.split(":")[0] as "tcp" | "udp", port: Number(p.split(":")[1]) })),
  });
  prober = await PodProcess.start({ ns: IMG, ports: [] });
  server = spawn("ip", ["netns", "exec", IMG, bin, ...PORTS, "sctp:9000"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stderr!.on("data", (d) => {
    serverErr += d;
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve();
    });
    server.once("exit", (code) => reject(new Error(`ctb-echo exited ${code}: ${serverErr}`)));
  });
}, 300_000);

afterAll(async () => {
  if (!usable) return;
  if (server?.pid) process.kill(server.pid, "SIGTERM");
  await emulated?.stop();
  await prober?.stop();
  for (const ns of [EMU, IMG]) await delNetns(ns);
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(usable)("the app image's server answers as the emulator's pod", () => {
  const probes = [
    { proto: "tcp", dst: ADDR, port: 8080 },
    { proto: "tcp", dst: ADDR, port: 80 },
    { proto: "udp", dst: ADDR, port: 5353 },
    { proto: "http", dst: ADDR, port: 8080, path: "/" },
    { proto: "http", dst: ADDR, port: 80, path: "/index.html" },
    { proto: "tcp", dst: ADDR, port: 8081 }, // nothing listens: refused on both
    { proto: "udp", dst: ADDR, port: 5354 },
  ] as const;
  for (const p of probes) {
    it(`${p.proto} :${p.port}`, async () => {
      const a = await emulated.probe({ ...p, timeoutMs: 2000 });
      const b = await prober.probe({ ...p, timeoutMs: 2000 });
      expect(b).toEqual(a);
      if (p.proto === "http") expect(b).toMatchObject({ status: 200, body: `${ADDR}\n` });
      if (p.port === 8081 || p.port === 5354) expect(b.answer).toBe("refused");
      else expect(b.answer).toBe("reply");
    });
  }

  it("echoes TCP and UDP payloads unchanged", async () => {
    for (const [proto, port, text] of [
      ["tcp", 8080, "hello contrail\n"],
      ["tcp", 80, "GETX not a request\n"],
      ["udp", 5353, "ping-5353"],
    ] as const) {
      const a = await echo(EMU, proto, ADDR, port, text);
      const b = await echo(IMG, proto, ADDR, port, text);
      expect(b).toBe(text);
      expect(b).toBe(a);
    }
  });

  it("serves SCTP where the kernel has it, and says why not where it does not", () => {
    const kernelSctp = /^SCTP /m.test(readFileSync("/proc/net/protocols", "utf8"));
    if (kernelSctp) expect(serverErr).not.toContain("sctp:9000 not served");
    else expect(serverErr).toContain("ctb-echo: sctp:9000 not served: this kernel has no SCTP");
  });
});
