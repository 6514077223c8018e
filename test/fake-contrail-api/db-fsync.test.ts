/**
 * Directory fsync: creating the journal, rotating it, renaming the snapshot into place and dropping the old
 * journal are each made durable by an fsync of the database directory (without it a power cut can lose the
 * rename or the new file even though its contents were synced). The file system calls are observed, not timed.
 */
import { constants } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";

const calls: string[] = [];

vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>();
  const name = (p: unknown) => basename(String(p));
  return {
    ...fs,
    open: async (path: string, flags?: number | string, mode?: number) => {
      const h = await fs.open(path, flags as number, mode);
      const isDir = typeof flags === "number" && (flags & constants.O_DIRECTORY) !== 0;
      if (typeof flags === "number" && flags & constants.O_CREAT) calls.push(`create ${name(path)}`);
      const sync = h.sync.bind(h);
      h.sync = async () => {
        calls.push(isDir ? "fsync dir" : `fsync ${name(path)}`);
        return sync();
      };
      return h;
    },
    rename: async (a: string, b: string) => {
      calls.push(`rename ${name(a)} ${name(b)}`);
      return fs.rename(a, b);
    },
    unlink: async (p: string) => {
      calls.push(`unlink ${name(p)}`);
      return fs.unlink(p);
    },
  };
});

const { ConfigService } = await import("../../fake-contrail-api/service");
const { Store } = await import("../../fake-contrail-api/store");

const dir = mkdtempSync(join(tmpdir(), "ctb-api-fsync-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Every rename/unlink is made durable (a directory fsync) before the next rename/unlink relies on it — the
 * snapshot must really be in place before the old journal goes — and every create is followed by one.
 */
function expectDirSynced(seq: string[]): void {
  let pending: string | undefined;
  seq.forEach((c, i) => {
    if (/^(rename|unlink) /.test(c)) {
      expect(pending, `${pending} not made durable before ${c}`).toBeUndefined();
      pending = c;
    } else if (c === "fsync dir") pending = undefined;
    if (c.startsWith("create ")) expect(seq.indexOf("fsync dir", i), `${c} never synced`).toBeGreaterThan(i);
  });
  expect(pending, `${pending} not followed by a directory fsync`).toBeUndefined();
}

describe("directory fsync", () => {
  it("follows creating the journal, rotating it, renaming the snapshot in and dropping the old journal", async () => {
    const db = join(dir, "db.json");
    const store = await Store.open(db);
    const svc = new ConfigService(store);
    svc.create("domain", { fq_name: ["d"] });
    await store.commit();
    await store.compact();
    await store.close();
    expect(calls).toContain("create db.json.journal");
    expect(calls).toContain("rename db.json.journal db.json.journal.old");
    expect(calls).toContain("rename db.json.tmp db.json");
    expect(calls).toContain("unlink db.json.journal.old");
    expectDirSynced(calls);
    // The snapshot's contents are synced before it is renamed over the old one.
    expect(calls.indexOf("fsync db.json.tmp")).toBeLessThan(calls.indexOf("rename db.json.tmp db.json"));
  });
});
