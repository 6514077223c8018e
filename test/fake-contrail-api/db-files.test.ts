/**
 * The `--db` files as a user meets them: the API refuses symlinks and files that are not its own (and never
 * truncates or replaces them), repairs a torn last journal line after a crash saying so on stderr, refuses
 * other damage with the file and byte offset (one line, no stack trace), and keeps acknowledging writes while a
 * compaction writes the snapshot.
 */
import { spawn } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startApiServer } from "../../fake-contrail-api/server";
import { ConfigService } from "../../fake-contrail-api/service";
import { Store } from "../../fake-contrail-api/store";
import { client, FQ } from "./helpers";

const dir = mkdtempSync(join(tmpdir(), "ctb-api-dbfiles-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `ctb api --db <db>` and returns how it failed (it must fail before listening). */
function runCli(db: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "fake-contrail-api/cli.ts", "--port", "0", "--db", db, "--quiet"],
      { cwd: new URL("../..", import.meta.url).pathname, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d) => {
      stderr += String(d);
    });
    child.stdout.on("data", (d) => {
      stdout += String(d);
      if (stdout.includes("listening")) child.kill("SIGTERM");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at /);

async function makeDb(name: string, vns: string[]): Promise<string> {
  const db = join(dir, name);
  const api = await startApiServer({ port: 0, quiet: true, dbPath: db });
  const c = client(api.url);
  for (const n of vns) await c.create("virtual-network", { fq_name: FQ(n) });
  await api.close();
  return db;
}

describe("--db refuses files that are not the store's own", () => {
  it("refuses a symlinked snapshot, journal or temp file and leaves the target untouched", async () => {
    const victim = join(dir, "victim.txt");
    for (const suffix of ["", ".journal", ".tmp"]) {
      writeFileSync(victim, "precious\nno newline at end");
      const db = join(dir, `link${suffix.replace(".", "-")}.json`);
      symlinkSync(victim, `${db}${suffix}`);
      const r = await runCli(db);
      expect([suffix, r.code]).toEqual([suffix, 1]);
      expect(r.stderr).toContain(`${db}${suffix} is a symbolic link`);
      noStack(r.stderr);
      expect(readFileSync(victim, "utf8")).toBe("precious\nno newline at end");
    }
  });

  it("refuses a snapshot that is not a config API snapshot without overwriting it", async () => {
    const db = join(dir, "notes.json");
    writeFileSync(db, '{"my": "notes"}');
    const r = await runCli(db);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${db}: not a config API snapshot`);
    noStack(r.stderr);
    expect(readFileSync(db, "utf8")).toBe('{"my": "notes"}');
    writeFileSync(db, '{"seq": 1, "objects": [');
    const r2 = await runCli(db);
    expect(r2.stderr).toContain(
      `${db}: the snapshot is not valid JSON (Unexpected end of JSON input at byte 23`,
    );
    noStack(r2.stderr);
  });

  it("refuses a journal that is not its own, even one whose only damage is the last line", async () => {
    const db = join(dir, "foreign.json");
    writeFileSync(`${db}.journal`, "some log line\nanother line without end");
    const r = await runCli(db);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${db}.journal: line 1 at byte 0 is damaged`);
    noStack(r.stderr);
    expect(readFileSync(`${db}.journal`, "utf8")).toBe("some log line\nanother line without end");
  });
});

describe("a damaged journal", () => {
  it("cuts a torn last line after a crash, says so with the byte offset, and keeps every earlier write", async () => {
    const db = await makeDb("torn.json", ["t-1", "t-2"]);
    const good = readFileSync(`${db}.journal`).length;
    appendFileSync(`${db}.journal`, '{"c":[{"seq":9999,"op":"CREATE","type":"virtual-net');
    const api = await spawnAndRead(db);
    expect(api.stderr).toContain(`${db}.journal: cut a torn last line at byte ${good}`);
    expect(api.names).toEqual(expect.arrayContaining(["t-1", "t-2"]));
    expect(readFileSync(`${db}.journal`).length).toBe(good);
  });

  it("repairs a journal whose header line was cut short (a crash while starting a fresh journal)", async () => {
    const db = join(dir, "torn-header.json");
    writeFileSync(`${db}.journal`, '{"journal":"fake-con');
    const api = await spawnAndRead(db);
    expect(api.stderr).toContain(`${db}.journal: cut a torn last line at byte 0`);
    // started afresh: the header, then the boot objects' transaction
    const lines = readFileSync(`${db}.journal`, "utf8").trim().split("\n");
    expect(lines[0]).toBe('{"journal":"fake-contrail-api","version":1}');
    expect(api.names).toContain("default-virtual-network");
  });

  it("refuses damage before the last line, naming the file and byte offset, and changes nothing", async () => {
    const db = await makeDb("corrupt.json", ["c-1", "c-2", "c-3"]);
    const text = readFileSync(`${db}.journal`, "utf8");
    const lines = text.split("\n");
    const offset = Buffer.byteLength(`${lines.slice(0, 2).join("\n")}\n`);
    lines[2] = `${lines[2].slice(0, 5)}!!!${lines[2].slice(5)}`;
    const damaged = lines.join("\n");
    writeFileSync(`${db}.journal`, damaged);
    const r = await runCli(db);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${db}.journal: line 3 at byte ${offset} is damaged`);
    expect(r.stderr).toContain("not a torn write");
    noStack(r.stderr);
    expect(readFileSync(`${db}.journal`, "utf8")).toBe(damaged);
  });

  it("refuses a well-formed line that is not a journal record", async () => {
    const db = await makeDb("shape.json", ["s-1"]);
    appendFileSync(`${db}.journal`, '{"c": [{"seq": "x"}]}\n');
    const r = await runCli(db);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/shape\.json\.journal: line \d+ at byte \d+ is not a journal record/);
    noStack(r.stderr);
  });
});

describe("compaction", () => {
  it("keeps acknowledging writes while it writes the snapshot", async () => {
    const sub = join(dir, "compact-live");
    mkdirSync(sub);
    const db = join(sub, "db.json");
    const store = await Store.open(db);
    const svc = new ConfigService(store);
    svc.create("domain", { fq_name: ["d"] });
    svc.create("project", { fq_name: ["d", "p"] });
    await store.commit();
    // ~8 MB of objects: the snapshot takes several slices to write.
    const big = "x".repeat(4000);
    for (let i = 0; i < 2000; i++) {
      svc.create("network-policy", { fq_name: ["d", "p", `np-${i}`], display_name: big });
      if (i % 100 === 99) await store.commit();
    }
    await store.commit();
    const order: string[] = [];
    const compaction = store.compact().then(() => order.push("compaction done"));
    await new Promise((r) => setTimeout(r, 1));
    for (let i = 0; i < 3; i++) {
      svc.create("network-policy", { fq_name: ["d", "p", `during-${i}`] });
      await store.commit();
      order.push(`write ${i} acknowledged`);
    }
    await compaction;
    expect(order).toEqual([
      "write 0 acknowledged",
      "write 1 acknowledged",
      "write 2 acknowledged",
      "compaction done",
    ]);
    expect(existsSync(`${db}.journal.old`)).toBe(false);
    expect(existsSync(`${db}.tmp`)).toBe(false);
    await store.close();
    const again = await Store.open(db);
    expect(again.committed.byFqName("network-policy", ["d", "p", "np-1999"])).toBeDefined();
    expect(again.committed.byFqName("network-policy", ["d", "p", "during-2"])).toBeDefined();
    await again.close();
  });
});

/** Starts the CLI on `db`, lists the VN names, stops it; returns them with its stderr. */
async function spawnAndRead(db: string): Promise<{ names: string[]; stderr: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "fake-contrail-api/cli.ts", "--port", "0", "--db", db, "--quiet"],
    { cwd: new URL("../..", import.meta.url).pathname, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += String(d);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += String(d);
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`api exited ${code}: ${stderr}`)));
  });
  const r = await client(url).get("/virtual-networks");
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  const names = (r.json["virtual-networks"] as Array<{ fq_name: string[] }>).map((v) => v.fq_name[2]);
  return { names, stderr };
}
