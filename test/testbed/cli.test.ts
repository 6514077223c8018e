/**
 * The `ctb` executable as users and CI systems drive it: exit codes, reports, and the persistent environment.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const CTB = resolve("bin/ctb");
const work = mkdtempSync(join(tmpdir(), "ctb-cli-"));

function ctb(...args: string[]) {
  const r = spawnSync(process.execPath, [CTB, ...args], {
    encoding: "utf8",
    env: { ...process.env, CTB_WORKDIR: join(work, ".ctb"), NO_COLOR: "1" },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const failing = join(work, "failing.yaml");
writeFileSync(
  failing,
  `name: wrong-expectation
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
  - title: this expectation is wrong on purpose
    reach: { from: default/a, to: iso/b, expect: allow }
`,
);

describe("ctb run", () => {
  it("exits 1 when an expectation fails, explaining it with the packet trace, and writes JUnit", () => {
    const junit = join(work, "out.xml");
    const r = ctb("run", failing, "--junit", junit);
    expect(r.code).toBe(1);
    expect(r.out).toContain("FAIL  default/a → iso/b icmp expect allow");
    expect(r.out).toContain("100% packet loss");
    expect(r.out).toMatch(/dropped at \S+/);
    // the failed entry's own line (its reach:), not its step's title line
    expect(r.out).toContain(`${failing}:20`);
    expect(readFileSync(junit, "utf8")).toContain('failures="1"');
  });

  it("exits 2 with file:line for a broken scenario, before starting anything", () => {
    const bad = join(work, "bad.yaml");
    writeFileSync(
      bad,
      "name: x\nsteps:\n  - show: pods\n  - reach: { from: default/a, to: 10.0.0.1, expect: sometimes }\n",
    );
    const r = ctb("run", bad);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}:4:`);
    expect(r.err).toContain("allow, deny");
  });

  it("rejects unknown flags and values with usage errors", () => {
    expect(ctb("run", failing, "--datapath", "warp").code).toBe(2);
    expect(ctb("frobnicate").code).toBe(2);
  });

  it("--json prints a machine-readable report", () => {
    const r = ctb("run", failing, "--json");
    const report = JSON.parse(r.out);
    expect(report.ok).toBe(false);
    expect(report.scenarios[0].checks.at(-1).verdict).toBe("fail");
  });
});

describe("ctb up / get / exec / describe / trace / down", () => {
  afterAll(() => {
    ctb("down");
  });

  it("keeps an environment up that the inspection verbs query, and down stops it", async () => {
    const up = ctb("up", "scenarios/section-9.yaml");
    expect(up.code, up.err + up.out).toBe(0);
    expect(up.out).toContain("Environment up");

    const pods = ctb("get", "pods", "-A", "-o", "wide");
    expect(pods.code).toBe(0);
    expect(pods.out).toMatch(/NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
    const rows = pods.out.split("\n").filter((l) => l.includes("example"));
    expect(rows).toHaveLength(4);
    const ipOf = (prefix: string) => rows.find((l) => l.includes(prefix))!.match(/10\.47\.255\.\d+/)![0];
    const podOf = (prefix: string) => rows.find((l) => l.includes(prefix))!.split(/\s+/)[1]!;

    const narrow = ctb("get", "pods");
    expect(narrow.out).not.toContain("10.47.255");

    const ok = ctb("exec", `default/${podOf("example1")}`, "--", "ping", "-c", "2", ipOf("example2"));
    expect(ok.out).toContain("2 packets transmitted, 2 packets received, 0% packet loss");
    expect(ok.code).toBe(0);
    const blocked = ctb("exec", `default/${podOf("example1")}`, "--", "ping", "-c", "2", ipOf("example3"));
    expect(blocked.out).toContain("2 packets transmitted, 0 packets received, 100% packet loss");
    expect(blocked.code).toBe(1);

    const ns = ctb("describe", "namespace", "test-isolated-ns");
    expect(ns.out).toContain("opencontrail.kubernetes.isolated: true");

    const trace = ctb("trace", `default/${podOf("example1")}`, `test-isolated-ns/${podOf("example3")}`);
    expect(trace.out).toContain("DROPPED");
    expect(trace.out).toMatch(/drop: \w+/);

    const vns = ctb("contrail", "list", "virtual-network");
    expect(vns.out).toContain("default-domain:test-isolated-ns:test-isolated-ns-vn");

    // The control API answers only the session's token, kept in a file only its user can read.
    const sessionFile = join(work, ".ctb", "session.json");
    expect(statSync(sessionFile).mode & 0o777).toBe(0o600);
    const session = JSON.parse(readFileSync(sessionFile, "utf8"));
    expect(session.token).toMatch(/^[0-9a-f]{48}$/);
    const denied = await fetch(`${session.controlUrl}/shutdown`, { method: "POST" });
    expect(denied.status).toBe(401);
    const read = await fetch(`${session.controlUrl}/kube/pods`);
    expect([read.status, await read.text()]).toEqual([401, expect.stringContaining("session's token")]);
    expect(ctb("get", "pods").code).toBe(0); // still up, and the ctb commands carry the token

    // the web view: its URL printed by up and by ui, on loopback, serving the environment without its token
    const ui = ctb("ui");
    expect(ui.code).toBe(0);
    const url = ui.out.trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(up.out).toContain(`Web view: ${url}`);
    const summary = await (await fetch(`${url}api/summary`)).text();
    expect(summary).toContain('"name":"section-9"');
    expect(summary).not.toContain(session.token);

    const down = ctb("down");
    expect(down.code).toBe(0);
    expect(down.out).toMatch(/stopped environment process \d+/);
    expect(ctb("get", "pods").code).toBe(2);
    expect(ctb("ui").code).toBe(2);
  }, 180_000);
});

describe("ctb down while ctb up is starting", () => {
  it("stops what is starting: up exits 1 saying so, nothing is left", async () => {
    const wd = join(work, "starting");
    const env = { ...process.env, CTB_WORKDIR: wd, NO_COLOR: "1" };
    const up = spawn(process.execPath, [CTB, "up", "scenarios/section-9.yaml"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    up.stderr.on("data", (d) => {
      err += String(d);
    });
    const exited = new Promise<number | null>((r) => up.once("exit", (code) => r(code)));
    // `up` records the starting environment at once: down finds it before it has a control API.
    const session = join(wd, "session.json");
    for (let i = 0; i < 600 && !existsSync(session); i++) await new Promise((r) => setTimeout(r, 50));
    const starting = JSON.parse(readFileSync(session, "utf8"));
    expect(starting.ready).toBe(false);
    const down = spawnSync(process.execPath, [CTB, "down"], { env, encoding: "utf8", timeout: 120_000 });
    expect(down.status).toBe(0);
    expect(down.stdout).toContain(`stopped environment process ${starting.pid}`);
    expect(await exited).toBe(1);
    expect(err).toContain("the environment did not come up (stopped while starting");
    expect(existsSync(session)).toBe(false);
    expect(existsSync(join(wd, "runs")) ? readdirSync(join(wd, "runs")) : []).toEqual([]);
    let alive = true;
    try {
      process.kill(starting.pid, 0);
    } catch {
      alive = false;
    }
    expect(alive).toBe(false);
  }, 180_000);
});
