/**
 * Observability as a user meets it: `ctb status` names the environment and every component's /metrics URL
 * (and each answers Prometheus text); `ctb capture` and `ctb run --pcap` write files `tcpdump -r` reads, on
 * both datapaths; the standalone config API and vrouter serve /metrics too; `ctb up` logs no transient
 * "no InternalIP" warning; progress shows on a terminal only.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { netnsUsable } from "../../fake-vrouter/netns/ns";
import { progress } from "../../testbed/runner/report";
import { requireTier } from "../support/tiers";

const CTB = resolve("bin/ctb");
const SECTION9 = resolve("scenarios/section-9.yaml");
const work = mkdtempSync(join(tmpdir(), "ctb-observe-"));
const netns = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns`");

afterAll(() => rmSync(work, { recursive: true, force: true }));

function ctb(workDir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CTB, ...args], {
    encoding: "utf8",
    env: { ...process.env, CTB_WORKDIR: workDir, NO_COLOR: "1" },
    timeout: 180_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function ctbAsync(
  workDir: string,
  ...args: string[]
): { child: ChildProcess; err: () => string; done: Promise<{ code: number | null; err: string }> } {
  const child = spawn(process.execPath, [CTB, ...args], {
    env: { ...process.env, CTB_WORKDIR: workDir, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (c) => (err += c));
  child.stdout!.resume();
  return {
    child,
    err: () => err,
    done: new Promise((r) => child.once("exit", (code) => r({ code, err }))),
  };
}

/** tcpdump's reading of a pcap file: one line per packet (throws when tcpdump cannot read it). */
function tcpdump(file: string): string[] {
  const r = spawnSync("tcpdump", ["-nn", "-r", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tcpdump -r ${file}: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

/** Capture while pinging from example1 to example2 through `ctb exec`. */
async function captureWhilePinging(wd: string, target: string, file: string, limit: string[]) {
  const cap = ctbAsync(wd, "capture", target, "-w", file, ...limit);
  // the capture is open before the first packet: ctb says "capturing …" once it is
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error("ctb capture did not start within 30 s")), 30_000);
    const check = () => {
      if (!/capturing /.test(cap.err())) return;
      clearTimeout(t);
      cap.child.stderr!.off("data", check);
      res();
    };
    cap.child.stderr!.on("data", check);
    cap.child.once("exit", () => {
      clearTimeout(t);
      rej(new Error(`ctb capture exited before capturing: ${cap.err()}`));
    });
    check();
  });
  const pods = ctb(wd, "get", "pods", "-o", "wide").out;
  const ip2 = /example2-\S+\s.*?(10\.\d+\.\d+\.\d+)/.exec(pods)?.[1];
  expect(ip2).toBeDefined();
  const ping = ctb(wd, "exec", "default/example1-*", "--", "ping", "-c", "3", ip2!);
  expect(ping.code).toBe(0);
  const r = await cap.done;
  expect(r.code).toBe(0);
  return r.err;
}

describe("ctb up (simulated datapath): status, metrics, capture", () => {
  const wd = join(work, "sim");
  afterAll(() => ctb(wd, "down"));

  it("comes up without a transient 'no InternalIP' warning; status lists every component's metrics", async () => {
    const up = ctb(wd, "up", SECTION9);
    expect(up.code).toBe(0);
    expect(readFileSync(join(wd, "serve.log"), "utf8")).not.toMatch(/no InternalIP/);
    const st = ctb(wd, "status");
    expect(st.code).toBe(0);
    expect(st.out).toContain(`Environment (ctb up): ${SECTION9}`);
    expect(st.out).toMatch(/datapath sim, cluster embedded, pid \d+, up \d+s/);
    const urls = Object.fromEntries(
      [...st.out.matchAll(/^ {4}(\S+(?: \S+)?)\s+(http:\/\/127\.0\.0\.1:\d+\/metrics)$/gm)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    expect(Object.keys(urls).sort()).toEqual(["config-api", "controller", "vrouter b3s37", "vrouter b3s38"]);
    const text = async (u: string) => (await fetch(u)).text();
    expect(await text(urls.controller!)).toContain("ctb_controller_queue_depth");
    expect(await text(urls["config-api"]!)).toMatch(/contrail_api_objects\{type="virtual-network"\} \d+/);
    const vr = await text(urls["vrouter b3s37"]!);
    expect(vr).toMatch(/vrouter_vifs\{compute="b3s37"\} [1-9]/);
    expect(vr).toMatch(/vrouter_packets_in_total\{compute="b3s37"\} [1-9]/); // the scenario's probes went through
    const json = JSON.parse(ctb(wd, "status", "-o", "json").out);
    expect(json.environment.metrics.controller).toBe(urls.controller);
  });

  it("`ctb capture <pod> --count 2` writes a file tcpdump reads: the pod's ICMP", async () => {
    const file = join(work, "sim-pod.pcap");
    const err = await captureWhilePinging(wd, "default/example1-*", file, ["--count", "2"]);
    expect(err).toContain("2 packets captured");
    const lines = tcpdump(file);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ICMP echo request/);
  });

  it("`ctb capture fabric --duration` and `ctb capture <node>` see the encapsulated packets", async () => {
    const fabric = join(work, "sim-fabric.pcap");
    await captureWhilePinging(wd, "fabric", fabric, ["--duration", "8"]);
    expect(tcpdump(fabric).some((l) => /MPLS.*ICMP echo/.test(l))).toBe(true);
    const node = join(work, "sim-node.pcap");
    await captureWhilePinging(wd, "b3s37", node, ["--count", "4"]);
    expect(tcpdump(node).filter((l) => /MPLS/.test(l))).toHaveLength(4);
  });

  it("an unknown capture target fails with exit 1 and says why", () => {
    const r = ctb(wd, "capture", "nowhere", "-w", join(work, "x.pcap"), "--count", "1");
    expect(r.code).toBe(1);
    expect(r.err).toContain("no compute nowhere");
  });

  it("`ctb get pods -A | head -1` exits quietly", () => {
    const r = spawnSync("bash", ["-c", `${process.execPath} ${CTB} get pods -A | head -1`], {
      encoding: "utf8",
      env: { ...process.env, CTB_WORKDIR: wd },
    });
    expect(r.stdout).toMatch(/^NAMESPACE\s+NAME/);
    expect(r.stderr).toBe("");
  });

  it("`ctb down` stops it; then status says nothing is up", () => {
    expect(ctb(wd, "down").out).toMatch(/stopped environment process \d+/);
    const st = ctb(wd, "status");
    expect(st.code).toBe(1);
    expect(readdirSync(join(wd, "runs"))).toEqual([]);
  });
});

describe("ctb run --pcap", () => {
  it("writes the fabric's and each node's capture of the run (simulated datapath)", () => {
    const dir = join(work, "pcaps-sim");
    const r = ctb(join(work, "run-sim"), "run", SECTION9, "--pcap", dir);
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([
      "section-9-b3s37.pcap",
      "section-9-b3s38.pcap",
      "section-9-fabric.pcap",
    ]);
    expect(tcpdump(join(dir, "section-9-fabric.pcap")).some((l) => /MPLS.*ICMP echo request/.test(l))).toBe(
      true,
    );
    expect(tcpdump(join(dir, "section-9-b3s37.pcap")).length).toBeGreaterThan(0);
  });

  it("a scenario's own capture: {dir} key does the same, relative to the scenario file", () => {
    const scen = join(work, "with-capture.yaml");
    const text = readFileSync(SECTION9, "utf8")
      .replace(/^name: .*$/m, "name: with-capture\ncapture: { dir: caps }")
      .replace(/\{ file: manifests\//g, `{ file: ${resolve("scenarios/manifests")}/`);
    writeFileSync(scen, text);
    const r = ctb(join(work, "run-key"), "run", scen);
    expect(r.code).toBe(0);
    expect(readdirSync(join(work, "caps")).sort()).toEqual([
      "with-capture-b3s37.pcap",
      "with-capture-b3s38.pcap",
      "with-capture-fabric.pcap",
    ]);
    expect(
      tcpdump(join(work, "caps", "with-capture-fabric.pcap")).some((l) => /ICMP echo request/.test(l)),
    ).toBe(true);
  });

  it.skipIf(!netns)(
    "writes them on the netns datapath too",
    () => {
      const dir = join(work, "pcaps-netns");
      const r = ctb(join(work, "run-netns"), "run", SECTION9, "--datapath", "netns", "--pcap", dir);
      expect(r.code).toBe(0);
      const fabric = tcpdump(join(dir, "section-9-fabric.pcap"));
      expect(fabric.some((l) => /MPLS.*ICMP echo request/.test(l))).toBe(true);
      // each frame once on the underlay: requests and replies pair up
      const req = fabric.filter((l) => /ICMP echo request/.test(l)).length;
      const rep = fabric.filter((l) => /ICMP echo reply/.test(l)).length;
      expect(rep).toBeLessThanOrEqual(req);
      expect(tcpdump(join(dir, "section-9-b3s38.pcap")).length).toBeGreaterThan(0);
    },
    120_000,
  );
});

describe.skipIf(!netns)("ctb up --datapath netns: capture through the vrouter processes", () => {
  const wd = join(work, "netns");
  afterAll(() => ctb(wd, "down"));

  it("captures a pod, a node and the fabric into files tcpdump reads", async () => {
    expect(ctb(wd, "up", SECTION9, "--datapath", "netns").code).toBe(0);
    const pod = join(work, "netns-pod.pcap");
    await captureWhilePinging(wd, "default/example1-*", pod, ["--count", "2"]);
    const lines = tcpdump(pod);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ICMP echo request/);
    const node = join(work, "netns-node.pcap");
    // a count, not a duration: on a loaded machine the pings may start after a short window has closed
    await captureWhilePinging(wd, "b3s37", node, ["--count", "4"]);
    expect(tcpdump(node).some((l) => /MPLS/.test(l))).toBe(true);
    const fabric = join(work, "netns-fabric.pcap");
    await captureWhilePinging(wd, "fabric", fabric, ["--duration", "8"]);
    expect(tcpdump(fabric).some((l) => /MPLS.*ICMP echo/.test(l))).toBe(true);
    const vr = ctb(wd, "status").out.match(/vrouter b3s37\s+(\S+)/)?.[1];
    expect(await (await fetch(vr!)).text()).toMatch(/vrouter_packets_in_total\{compute="b3s37"\} [1-9]/);
  }, 120_000);

  it("`ctb down` leaves no namespace", () => {
    const pid = JSON.parse(readFileSync(join(wd, "session.json"), "utf8")).pid as number;
    expect(ctb(wd, "down").code).toBe(0);
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    expect(left).not.toContain(`ctb-${pid.toString(36)}-`);
  });
});

describe("standalone components serve /metrics", () => {
  it("ctb api and ctb vrouter", async () => {
    const api = spawn(process.execPath, [CTB, "api", "--port", "0", "--quiet"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const vr: ChildProcess[] = [];
    try {
      const url = await new Promise<string>((r) =>
        api.stdout!.on(
          "data",
          (c) => /listening (\S+)/.test(String(c)) && r(/listening (\S+)/.exec(String(c))![1]!),
        ),
      );
      expect(await (await fetch(`${url}/metrics`)).text()).toContain("contrail_api_change_seq");
      const agent = spawn(
        process.execPath,
        [CTB, "vrouter", "--api", url, "--compute", "c1", "--port-api-port", "0"],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      vr.push(agent);
      const m = await new Promise<string>((r) =>
        agent.stderr!.on(
          "data",
          (c) => /metrics (\S+)/.test(String(c)) && r(/metrics (\S+)/.exec(String(c))![1]!),
        ),
      );
      expect(await (await fetch(m)).text()).toContain("# HELP vrouter_vifs");
    } finally {
      for (const p of [...vr, api]) p.kill("SIGTERM");
    }
  });
});

describe("progress", () => {
  it("draws the current step and a matrix's probes on a terminal, rewritten in place, after a delay", () => {
    let t = 0;
    const writes: string[] = [];
    const p = progress(
      { isTTY: true, columns: 80, write: (s) => writes.push(s) },
      { delayMs: 2000, now: () => t },
    );
    const step = { index: 2, kind: "matrix", title: "probe the matrix" } as never;
    p.onEvent({ type: "step", step });
    expect(writes).toEqual([]); // quick steps show nothing
    t = 2500;
    p.onEvent({ type: "progress", step, done: 3, total: 12 });
    expect(writes.at(-1)).toBe("\r\x1b[2Kstep 3: probe the matrix — probes 3/12 (2s)");
    p.wrap({ write: (s: string) => writes.push(s) }).write("report line\n");
    expect(writes.slice(-2)).toEqual(["\r\x1b[2K", "report line\n"]); // cleared before the report
    p.done();
  });

  it("is silent when stderr is not a terminal", () => {
    const writes: string[] = [];
    const p = progress({ isTTY: false, write: (s) => writes.push(s) }, { delayMs: 0, now: () => 10_000 });
    p.phase("starting");
    p.onEvent({ type: "progress", step: { index: 0, kind: "matrix" } as never, done: 1, total: 2 });
    p.done();
    expect(writes).toEqual([]);
  });

  it("a real run on a terminal shows progress on stderr; piped, it shows none", () => {
    const wd = join(work, "tty");
    const tty = spawnSync(
      "script",
      ["-qec", `${process.execPath} ${CTB} run ${SECTION9} --datapath sim >/dev/null`, "/dev/null"],
      {
        encoding: "utf8",
        env: { ...process.env, CTB_WORKDIR: wd, CTB_PROGRESS_DELAY_MS: "0" },
        timeout: 120_000,
      },
    );
    expect(tty.status).toBe(0);
    expect(tty.stdout).toMatch(/\r\x1b\[2Kstarting the testbed \(sim datapath, embedded cluster\)/);
    expect(tty.stdout).toMatch(/\r\x1b\[2Kstep \d+: /);
    const piped = spawnSync(process.execPath, [CTB, "run", SECTION9], {
      encoding: "utf8",
      env: { ...process.env, CTB_WORKDIR: wd, CTB_PROGRESS_DELAY_MS: "0" },
    });
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe("");
  });
});
