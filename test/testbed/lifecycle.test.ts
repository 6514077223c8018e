/**
 * How `ctb` ends, as a user sees it: Ctrl-C stops a run at the current step and tears everything down (exit
 * 130, a second Ctrl-C says it is still tearing down, no "cluster is closed" noise); a closed output pipe
 * (`| head`) ends it quietly (exit 141) with nothing left; after a SIGKILL the processes it started die with
 * it and `ctb down` removes what its record names; old run directories do not pile up. The local control
 * plane cases need the built binaries (CTB_REQUIRE_K8S=1 makes their absence a failure).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { netnsUsable, ownedPrefix } from "../../fake-vrouter/netns/ns";
import { defaultBinDir, missingBinaries } from "../../testbed/cluster/local";
import { requireTier } from "../support/tiers";

const CTB = resolve("bin/ctb");
const SECTION9 = resolve("scenarios/section-9.yaml");
const work = mkdtempSync(join(tmpdir(), "ctb-lifecycle-"));
const netns = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns`");
const k8sMissing = missingBinaries(defaultBinDir());
const k8s = requireTier(
  "K8S",
  k8sMissing.length === 0,
  `${k8sMissing.join(", ")} not built: run \`bash testbed/cluster/local/build.sh\``,
);

afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function ctbAsync(workDir: string, ...args: string[]): Proc {
  const child = spawn(process.execPath, [CTB, ...args], {
    env: { ...process.env, CTB_WORKDIR: workDir, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (err += c));
  const exited = new Promise<number | null>((r) =>
    child.once("exit", (code, sig) => r(code ?? (sig ? 128 : null))),
  );
  return { child, out: () => out, err: () => err, exited };
}

function ctb(workDir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CTB, ...args], {
    encoding: "utf8",
    env: { ...process.env, CTB_WORKDIR: workDir, NO_COLOR: "1" },
    timeout: 180_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A shell pipeline; prints the first command's exit status last, as "status=N". */
function pipeline(workDir: string, cmd: string) {
  const r = spawnSync("bash", ["-c", `${cmd}; echo "status=\${PIPESTATUS[0]}"`], {
    encoding: "utf8",
    env: { ...process.env, CTB_WORKDIR: workDir, NO_COLOR: "1", CTB: `${process.execPath} ${CTB}` },
    timeout: 240_000,
  });
  return { out: r.stdout, err: r.stderr, status: Number(/status=(\d+)/.exec(r.stdout)?.[1]) };
}

async function until(what: string, f: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function namespacesOf(pid: number): string[] {
  const prefix = `ctb-${pid.toString(36)}-`;
  return spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith(prefix));
}

/** The processes the run recorded so far (vrouters, pods, control-plane components), from its record. */
function recordedPids(workDir: string): { pid: number; role: string }[] {
  const runs = join(workDir, "runs");
  if (!existsSync(runs)) return [];
  return readdirSync(runs).flatMap((id) => {
    const dir = join(runs, id, "pids");
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as { pid: number; role: string });
  });
}

function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

const runDirs = (workDir: string) =>
  existsSync(join(workDir, "runs")) ? readdirSync(join(workDir, "runs")) : [];

describe("output pipes and old runs", () => {
  it("`ctb run … | head -1` ends quietly (exit 141, no EPIPE message) and leaves no run directory", () => {
    const wd = join(work, "pipe-sim");
    const r = pipeline(wd, `$CTB run ${SECTION9} | head -1`);
    expect(r.status).toBe(141);
    expect(r.err).toBe("");
    expect(runDirs(wd)).toEqual([]);
  });

  it("old run-<pid> directories and dead runs' empty records are removed by the next run", () => {
    const wd = join(work, "prune");
    mkdirSync(join(wd, "run-999999"), { recursive: true });
    mkdirSync(join(wd, "runs", "999999-old"), { recursive: true });
    writeFileSync(
      join(wd, "runs", "999999-old", "run.json"),
      JSON.stringify({
        id: "999999-old",
        kind: "run",
        pid: 999999,
        startTime: "1",
        cmdline: "",
        started: new Date().toISOString(),
      }),
    );
    const r = ctb(wd, "run", SECTION9);
    expect(r.code).toBe(0);
    expect(existsSync(join(wd, "run-999999"))).toBe(false);
    expect(runDirs(wd)).toEqual([]);
  });

  it("`ctb status` says nothing is up, with exit code 1", () => {
    const r = ctb(join(work, "status-none"), "status");
    expect(r.code).toBe(1);
    expect(r.out).toContain("nothing is up");
  });
});

describe.skipIf(!netns)("netns datapath: interrupts, pipes and SIGKILL", () => {
  it("Ctrl-C mid-run stops at the current step: exit 130, nothing left, no 'cluster is closed'", async () => {
    const wd = join(work, "sigint");
    const p = ctbAsync(wd, "run", SECTION9, "--datapath", "netns");
    await until("step 9.2", () => p.out().includes("9.2 Check Pods reachability"));
    const pids = recordedPids(wd);
    expect(pids.some((x) => x.role === "vrouter")).toBe(true);
    expect(namespacesOf(p.child.pid!).length).toBeGreaterThan(0);
    p.child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    p.child.kill("SIGINT"); // during the teardown
    expect(await p.exited).toBe(130);
    const all = p.out() + p.err();
    expect(all).not.toMatch(/cluster is closed/i);
    expect(p.out()).not.toMatch(/ERROR/);
    expect(p.out()).not.toMatch(/passed, \d+ failed/); // no summary of a run that did not finish
    expect(p.err()).toContain("still tearing down");
    expect(namespacesOf(p.child.pid!)).toEqual([]);
    expect(pids.filter((x) => running(x.pid))).toEqual([]);
    expect(runDirs(wd)).toEqual([]);
  }, 120_000);

  it("a run in progress shows in `ctb status` with its metrics URLs; `ctb down` leaves it alone", async () => {
    const wd = join(work, "in-progress");
    const slow = join(work, "slow.yaml");
    writeFileSync(
      slow,
      `name: slow
controller: { model: r4 }
nodes: [n1]
steps:
  - apply: |
      apiVersion: v1
      kind: Namespace
      metadata: { name: iso, annotations: { opencontrail.kubernetes.isolated: "true" } }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: a, namespace: default }
      spec: { containers: [{ name: c, image: i }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: b, namespace: iso }
      spec: { containers: [{ name: c, image: i }] }
  - title: twenty unanswered pings take twenty seconds
    reach: { from: default/a, to: iso/b, expect: deny, count: 20 }
`,
    );
    const p = ctbAsync(wd, "run", slow, "--datapath", "netns");
    await until("the slow step", () => p.out().includes("twenty unanswered pings"));
    const st = ctb(wd, "status");
    expect(st.code).toBe(0);
    expect(st.out).toContain(`ctb run: ${slow}`);
    expect(st.out).toMatch(new RegExp(`datapath netns, cluster embedded, pid ${p.child.pid}, running \\d+s`));
    const vr = /vrouter n1\s+(http:\S+)/.exec(st.out)?.[1];
    expect(await (await fetch(vr!)).text()).toMatch(
      /vrouter_drops_total\{reason="[A-Z_]+",compute="n1"\} [1-9]/,
    );
    const d = ctb(wd, "down");
    expect(d.out).toContain(`left alone: ctb run pid ${p.child.pid} is still running`);
    expect(namespacesOf(p.child.pid!).length).toBeGreaterThan(0);
    const started = Date.now();
    p.child.kill("SIGINT");
    expect(await p.exited).toBe(130);
    expect(Date.now() - started).toBeLessThan(10_000); // not after the step's remaining pings
    expect(namespacesOf(p.child.pid!)).toEqual([]);
  }, 120_000);

  it("`ctb run --datapath netns | head -1` tears down quietly: exit 141, no namespaces or processes left", () => {
    const wd = join(work, "pipe-netns");
    const before = new Set(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n"));
    const r = pipeline(wd, `$CTB run ${SECTION9} --datapath netns | head -1`);
    expect(r.status).toBe(141);
    expect(r.err).toBe("");
    const after = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n");
    // other suites may run their own testbeds meanwhile: only new namespaces with a dead owner count
    const leaked = after.filter((l) => !before.has(l) && /^ctb-/.test(l)).map((l) => l.split(" ")[0]!);
    expect(leaked.filter((n) => !running(Number.parseInt(n.split("-")[1]!, 36)))).toEqual([]);
    expect(runDirs(wd)).toEqual([]);
  }, 120_000);

  it("after a SIGKILL the run's processes exit by themselves and `ctb down` removes what its record names", async () => {
    const wd = join(work, "sigkill");
    const p = ctbAsync(wd, "run", SECTION9, "--datapath", "netns");
    await until("step 9.2", () => p.out().includes("9.2 Check Pods reachability"));
    const pids = recordedPids(wd);
    expect(pids.length).toBeGreaterThan(2);
    p.child.kill("SIGKILL");
    await p.exited;
    // vrouter and pod processes watch their IPC channel to the testbed
    await until("the run's processes to exit", () => pids.every((x) => !running(x.pid)), 15_000);
    const left = namespacesOf(p.child.pid!);
    expect(left.length).toBeGreaterThan(0);
    expect(runDirs(wd).length).toBe(1);
    const d = ctb(wd, "down");
    expect(d.code).toBe(0);
    for (const ns of left) expect(d.out).toContain(`removed network namespace ${ns}`);
    expect(d.out).toContain(`removed the record of ctb run pid ${p.child.pid}`);
    expect(namespacesOf(p.child.pid!)).toEqual([]);
    expect(runDirs(wd)).toEqual([]);
  }, 120_000);

  it("`ctb down` removes what a gone owner recorded (namespace marker, CNI state), and leaves unrecorded ones alone", () => {
    const wd = join(work, "owners");
    const state = join(work, "owners-state");
    mkdirSync(join(state, "netns"), { recursive: true });
    mkdirSync(wd, { recursive: true });
    // A dead owner: a pid (4,000,000) with a start time no process has.
    const deadOwner = JSON.stringify({ pid: 4_000_000, startTime: "1" });
    const recorded = `/etc/netns/${ownedPrefix("lc", 4_000_000)}pod-x`;
    writeFileSync(join(state, "netns", recorded.split("/").pop()!), deadOwner);
    // No marker: once guessed from the dead pid in its name, now left alone.
    const unrecorded = `/etc/netns/${ownedPrefix("lc", 4_000_001)}pod-y`;
    const cniDead = join(wd, `cni-${ownedPrefix("lc", 4_000_000).replace(/-$/, "")}`);
    const cniUnowned = join(wd, `cni-${ownedPrefix("lc", 4_000_001).replace(/-$/, "")}`);
    for (const d of [recorded, unrecorded, cniDead, cniUnowned]) mkdirSync(join(d, "x"), { recursive: true });
    writeFileSync(`${recorded}/resolv.conf`, "nameserver 10.96.0.10\n");
    writeFileSync(`${unrecorded}/resolv.conf`, "nameserver 10.96.0.10\n");
    writeFileSync(join(cniDead, "owner.json"), deadOwner);
    try {
      const r = spawnSync(process.execPath, [CTB, "down"], {
        encoding: "utf8",
        env: { ...process.env, CTB_WORKDIR: wd, CTB_STATE_DIR: state, NO_COLOR: "1" },
        timeout: 120_000,
      });
      expect(r.status).toBe(0);
      expect(existsSync(recorded)).toBe(false);
      expect(r.stdout).toContain(`recorded owner pid 4000000 is gone`);
      expect(existsSync(unrecorded)).toBe(true);
      expect(r.stdout).toMatch(/left alone \(no owner recorded; `ctb down --all` removes them\):.*pod-y/);
      expect(existsSync(cniDead)).toBe(false);
      expect(r.stdout).toContain(`removed CNI state ${cniDead}`);
      expect(existsSync(cniUnowned)).toBe(true);
    } finally {
      for (const d of [recorded, unrecorded]) rmSync(d, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!k8s)("local control plane: pipes and SIGKILL", () => {
  const roles = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

  it("`ctb run --cluster local | head -1` stops etcd and the control plane; nothing for `ctb down` to find", async () => {
    const wd = join(work, "local-pipe");
    const p = ctbAsync(wd, "run", SECTION9, "--cluster", "local");
    // the record names the components as they start; the pipe closes once the first line is out
    await until(
      "the control plane in the record",
      () => roles.every((r) => recordedPids(wd).some((x) => x.role === r)),
      180_000,
    );
    const pids = recordedPids(wd).filter((x) => roles.includes(x.role));
    p.child.stdout!.destroy(); // the reader goes away, as `head` does
    expect(await p.exited).toBe(141);
    expect(p.err()).not.toMatch(/EPIPE/);
    expect(pids.filter((x) => running(x.pid))).toEqual([]);
    expect(runDirs(wd)).toEqual([]);
    expect(ctb(wd, "down").out).toBe("nothing was up\n");
  }, 300_000);

  it("after a SIGKILL the control plane is stopped by its reaper, and `ctb down` clears the record", async () => {
    const wd = join(work, "local-kill");
    const p = ctbAsync(wd, "run", SECTION9, "--cluster", "local");
    await until(
      "the control plane in the record",
      () => roles.every((r) => recordedPids(wd).some((x) => x.role === r)),
      180_000,
    );
    const pids = recordedPids(wd).filter((x) => roles.includes(x.role));
    p.child.kill("SIGKILL");
    await p.exited;
    await until("the control plane to stop", () => pids.every((x) => !running(x.pid)), 30_000);
    const d = ctb(wd, "down");
    expect(d.code).toBe(0);
    expect(d.out).toContain(`removed the record of ctb run pid ${p.child.pid}`);
    expect(runDirs(wd)).toEqual([]);
  }, 300_000);
});
