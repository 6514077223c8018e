/**
 * The images in a real containerd (Debian's 1.6, as the kubelet nodes run it; tier KUBELET): `ctr images
 * import` loads each tarball under the reference kubelet resolves, with the image id the builder reported,
 * and runc runs them: the sandbox program, the project's CLI from deploy/'s image, and the echo server in a
 * testbed namespace answering the emulator's prober, then exiting at SIGTERM as a pod's PID 1 must.
 * The containerd is this test's own (config, root, state and socket in a temporary directory).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addNetns, delNetns, ipIn, ownedPrefix } from "../../fake-vrouter/netns/ns";
import { PodProcess } from "../../fake-vrouter/netns/pod-process";
import { type BuiltImage, ensureImages, type ImageName } from "../../testbed/cluster/kubelet/images";
import { requireTier } from "../support/tiers";

const onPath = (c: string) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0;
const need = ["containerd", "ctr", "runc", "containerd-shim-runc-v2"].filter((c) => !onPath(c));
const usable = requireTier(
  "KUBELET",
  process.getuid?.() === 0 && need.length === 0,
  need.length
    ? `${need.join(", ")} not installed (Debian: containerd runc; bash .ci/setup.sh)`
    : "needs root",
);

const dir = mkdtempSync(join(tmpdir(), "ctb-ctr-"));
const sock = join(dir, "c.sock");
const NS = `${ownedPrefix("ctr")}echo`;
const ADDR = "10.250.1.2";
let containerd: ChildProcess | undefined;
let images: Partial<Record<ImageName, BuiltImage>>;

const ctr = (args: string[], timeout = 60_000) =>
  spawnSync("ctr", ["-a", sock, "-n", "k8s.io", ...args], { encoding: "utf8", timeout });

beforeAll(async () => {
  if (!usable) return;
  images = (await ensureImages({ out: join(dir, "images") })).images;
  writeFileSync(
    join(dir, "config.toml"),
    [
      "version = 2",
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = "${sock}"`,
      "",
    ].join("\n"),
  );
  containerd = spawn("containerd", ["--config", join(dir, "config.toml")], { stdio: "ignore" });
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
  expect(ctr(["version"]).status).toBe(0);
  await addNetns(NS);
  await ipIn(NS, ["addr", "add", `${ADDR}/32`, "dev", "lo"]);
}, 600_000);

afterAll(async () => {
  if (!usable) return;
  for (const id of ["echo-1"]) {
    ctr(["task", "kill", "-s", "SIGKILL", id]);
    ctr(["task", "rm", "-f", id]);
    ctr(["container", "rm", id]);
  }
  if (containerd?.pid) {
    process.kill(containerd.pid, "SIGTERM");
    await new Promise((r) => containerd!.once("exit", r));
  }
  await delNetns(NS);
  // nothing of ours stays mounted (the snapshotter's overlays, the tasks' rootfs)
  const left = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(dir));
  for (const l of left) spawnSync("umount", ["-l", l.split(" ")[4]!]);
  rmSync(dir, { recursive: true, force: true });
  expect(left).toEqual([]);
});

describe.runIf(usable)("images in containerd", () => {
  it("imports each tarball under the reference kubelet resolves, with the builder's image id", () => {
    for (const name of ["pause", "echo", "testbed"] as const) {
      const r = ctr(["images", "import", images[name]!.tarball]);
      expect(r.status, r.stderr).toBe(0);
    }
    const listed = ctr(["images", "ls", "-q"]).stdout.trim().split("\n");
    // kubelet normalises deploy/'s "contrail-k8s-testbed:dev" to the docker.io/library name
    expect(listed).toEqual(
      expect.arrayContaining([
        "ctb.local/pause:v1",
        "ctb.local/echo:v1",
        "docker.io/library/contrail-k8s-testbed:dev",
      ]),
    );
    for (const [name, ref] of [
      ["pause", "ctb.local/pause:v1"],
      ["testbed", "docker.io/library/contrail-k8s-testbed:dev"],
    ] as const) {
      const built = JSON.parse(readFileSync(`${images[name]!.tarball}.json`, "utf8")).id;
      const manifestDigest = ctr(["images", "ls", `name==${ref}`])
        .stdout.split("\n")[1]!
        .split(/\s+/)[2]!;
      const manifest = JSON.parse(ctr(["content", "get", manifestDigest]).stdout);
      expect(manifest.config.digest).toBe(built);
    }
  });

  it("runs the sandbox program, and deploy/'s image runs the project's CLI with its bundle and packages", () => {
    const pause = ctr(["run", "--rm", "ctb.local/pause:v1", "pause-1", "/pause", "-v"]);
    expect(pause.stdout).toBe("pause (contrail-k8s-testbed)\n");
    const agent = ctr([
      "run",
      "--rm",
      "docker.io/library/contrail-k8s-testbed:dev",
      "testbed-1",
      "node",
      "/app/bin/ctb",
      "vrouter",
      "--help",
    ]);
    expect(agent.status, agent.stderr).toBe(0);
    expect(agent.stdout).toMatch(/^usage: ctb vrouter /);
    const tools = ctr([
      "run",
      "--rm",
      "docker.io/library/contrail-k8s-testbed:dev",
      "testbed-2",
      "/usr/sbin/ip",
      "-V",
    ]);
    expect(tools.stdout).toMatch(/^ip utility, iproute2-/);
  }, 120_000);

  it("runs the echo server in a pod's namespace, answering the emulator's prober; SIGTERM ends it at once", async () => {
    const run = ctr([
      "run",
      "-d",
      "--with-ns",
      `network:/var/run/netns/${NS}`,
      "ctb.local/echo:v1",
      "echo-1",
      "/ctb-echo",
      "tcp:8080",
      "udp:5353",
    ]);
    expect(run.status, run.stderr).toBe(0);
    const prober = await PodProcess.start({ ns: NS, ports: [] });
    try {
      let http = await prober.probe({ proto: "http", dst: ADDR, port: 8080, path: "/" });
      for (let i = 0; i < 20 && http.answer !== "reply"; i++) {
        await new Promise((r) => setTimeout(r, 100));
        http = await prober.probe({ proto: "http", dst: ADDR, port: 8080, path: "/" });
      }
      expect(http).toMatchObject({ answer: "reply", status: 200, body: `${ADDR}\n` });
      expect((await prober.probe({ proto: "udp", dst: ADDR, port: 5353 })).answer).toBe("reply");
      expect((await prober.probe({ proto: "tcp", dst: ADDR, port: 9 })).answer).toBe("refused");
    } finally {
      await prober.stop();
    }
    const started = Date.now();
    expect(ctr(["task", "kill", "-s", "SIGTERM", "echo-1"]).status).toBe(0);
    let status = "";
    for (let i = 0; i < 50 && !/STOPPED/.test(status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = ctr(["task", "ls"]).stdout;
    }
    expect(status).toMatch(/echo-1\s+\d+\s+STOPPED/);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 120_000);
});
