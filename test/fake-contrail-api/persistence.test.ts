/**
 * Persistence: restart from snapshot + journal keeps objects, seq, allocations and the kv table; a torn final
 * journal line is tolerated; compaction folds the journal into the JSON snapshot; and `kill -9` of a server
 * process under write load loses no acknowledged write.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startApiServer } from "../../fake-contrail-api/server";
import { ConfigService } from "../../fake-contrail-api/service";
import { Store } from "../../fake-contrail-api/store";
import { client, FQ, spawnApi, waitExit } from "./helpers";

const dir = mkdtempSync(join(tmpdir(), "ctb-api-persist-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function withServer<T>(
  db: string,
  fn: (c: ReturnType<typeof client>, seq: () => number) => Promise<T>,
): Promise<T> {
  const api = await startApiServer({ port: 0, quiet: true, dbPath: db });
  try {
    return await fn(client(api.url), api.seq);
  } finally {
    await api.close();
  }
}

describe("restart", () => {
  it("keeps objects, uuids, seq, kv and address allocations; does not duplicate boot objects", async () => {
    const db = join(dir, "restart.json");
    const before = await withServer(db, async (c, seq) => {
      await c.create("network-ipam", { fq_name: FQ("p-ipam") });
      const vn = await c.create("virtual-network", {
        fq_name: FQ("p-vn"),
        network_ipam_refs: [
          {
            to: FQ("p-ipam"),
            attr: { ipam_subnets: [{ subnet: { ip_prefix: "10.5.0.0", ip_prefix_len: 24 } }] },
          },
        ],
      });
      const vmi = await c.create("virtual-machine-interface", {
        fq_name: FQ("p-vmi"),
        virtual_network_refs: [{ uuid: vn }],
      });
      const ip = await c.create("instance-ip", {
        fq_name: ["p-ip"],
        virtual_network_refs: [{ uuid: vn }],
        virtual_machine_interface_refs: [{ uuid: vmi }],
      });
      await c.post("/useragent-kv", { operation: "STORE", key: "k", value: "v" });
      const pol = await c.create("network-policy", { fq_name: FQ("p-gone") });
      await c.del(`/network-policy/${pol}`);
      return { vn, ip, pol, seq: seq(), count: (await c.get("/virtual-networks?count=true")).json };
    });
    await withServer(db, async (c, seq) => {
      expect(seq()).toBe(before.seq);
      expect((await c.get("/watch-position")).json.seq).toBe(before.seq);
      expect((await c.get("/virtual-networks?count=true")).json).toEqual(before.count);
      expect((await c.read("virtual-network", before.vn)).fq_name).toEqual(FQ("p-vn"));
      expect((await c.read("instance-ip", before.ip)).instance_ip_address).toBe("10.5.0.252");
      expect((await c.get(`/network-policy/${before.pol}`)).status).toBe(404);
      expect((await c.post("/useragent-kv", { operation: "RETRIEVE", key: "k" })).json).toEqual({
        value: "v",
      });
      const vmi2 = await c.create("virtual-machine-interface", {
        fq_name: FQ("p-vmi2"),
        virtual_network_refs: [{ uuid: before.vn }],
      });
      const ip2 = await c.create("instance-ip", {
        fq_name: ["p-ip2"],
        virtual_network_refs: [{ uuid: before.vn }],
        virtual_machine_interface_refs: [{ uuid: vmi2 }],
      });
      expect((await c.read("instance-ip", ip2)).instance_ip_address).toBe("10.5.0.251");
      expect(seq()).toBeGreaterThan(before.seq);
    });
  });

  it("tolerates a torn final journal line and keeps appending cleanly after it", async () => {
    const db = join(dir, "torn.json");
    const vn = await withServer(db, (c) => c.create("virtual-network", { fq_name: FQ("t-vn") }));
    appendFileSync(`${db}.journal`, '{"c":[{"seq":99999,"op":"CREATE","type":"virtual-net');
    const vn2 = await withServer(db, async (c) => {
      expect((await c.read("virtual-network", vn)).name).toBe("t-vn");
      return c.create("virtual-network", { fq_name: FQ("t-vn2") });
    });
    await withServer(db, async (c) => {
      expect((await c.read("virtual-network", vn2)).name).toBe("t-vn2");
    });
  });

  it("compacts the journal into a JSON snapshot and restarts from it", async () => {
    const db = join(dir, "compact.json");
    const store = await Store.open(db);
    const svc = new ConfigService(store);
    svc.create("domain", { fq_name: ["d1"] });
    svc.create("project", { fq_name: ["d1", "p1"] });
    await store.commit();
    svc.create("virtual-network", { fq_name: ["d1", "p1", "n1"] });
    await store.commit();
    store.kvSet("a", "b");
    await store.commit();
    const seq = store.seq();
    expect(statSync(`${db}.journal`).size).toBeGreaterThan(0);
    await store.compact();
    // Only the journal's header line is left: every record went into the snapshot.
    expect(readFileSync(`${db}.journal`, "utf8").trim().split("\n")).toHaveLength(1);
    expect(existsSync(`${db}.journal.old`)).toBe(false);
    const snap = JSON.parse(readFileSync(db, "utf8"));
    expect(snap.seq).toBe(seq);
    expect(snap.objects.map((o: { fq_name: string[] }) => o.fq_name.join(":"))).toContain("d1:p1:n1");
    svc.create("virtual-network", { fq_name: ["d1", "p1", "n2"] });
    await store.commit();
    await store.close();

    const again = await Store.open(db);
    // n2 and its default routing instance
    expect(again.seq()).toBe(seq + 2);
    expect(again.byFqName("virtual-network", ["d1", "p1", "n1"])).toBeDefined();
    expect(again.byFqName("virtual-network", ["d1", "p1", "n2"])).toBeDefined();
    expect(again.kvGet("a")).toBe("b");
    // Changes after the snapshot can still be replayed to watchers by seq.
    expect(again.changesSince(seq)?.map((ch) => ch.fq_name.join(":"))).toEqual(["d1:p1:n2", "d1:p1:n2:n2"]);
    await again.close();
  });
});

describe("reads see only committed state", () => {
  it("the committed view of the store lags the working state until commit resolves", async () => {
    const store = await Store.open(join(dir, "lag.json"));
    const svc = new ConfigService(store);
    svc.create("domain", { fq_name: ["lag"] });
    expect(store.byFqName("domain", ["lag"])).toBeDefined();
    expect(store.committed.byFqName("domain", ["lag"])).toBeUndefined();
    const before = store.seq();
    const done = store.commit();
    expect(store.committed.byFqName("domain", ["lag"])).toBeUndefined();
    await done;
    expect(store.committed.byFqName("domain", ["lag"])).toBeDefined();
    expect(store.seq()).toBe(before + 1);
    await store.close();
  });
});

describe("kill -9", () => {
  it("loses no acknowledged write, and no write any read saw, over SIGKILLs under load", async () => {
    const db = join(dir, "kill.json");
    const acked: string[] = [];
    // Readers all along: every VN a LIST or GET showed must survive the kills (a read only sees durable state).
    const seenByReads = new Set<string>();
    for (let cycle = 0; cycle < 3; cycle++) {
      const api = await spawnApi(db);
      const c = client(api.url);
      const ackedBefore = acked.length;
      const total = 400;
      let next = 0;
      let killed = false;
      const kill = () => {
        if (killed) return;
        killed = true;
        api.child.kill("SIGKILL");
      };
      const worker = async () => {
        while (next < total && !killed) {
          const i = next++;
          try {
            const r = await c.post("/virtual-networks", {
              "virtual-network": { fq_name: FQ(`k-${cycle}-${i}`) },
            });
            if (r.status === 200) acked.push(r.json["virtual-network"].uuid);
            if (acked.length - ackedBefore === 250) kill();
          } catch {
            // connection refused/reset once the process is gone: these writes were never acknowledged
          }
        }
      };
      const reader = async () => {
        while (!killed) {
          try {
            const r = await c.get("/virtual-networks?fields=fq_name");
            const ackedNow = new Set(acked);
            let unacked = false;
            for (const v of r.json["virtual-networks"] as Array<{ uuid: string; fq_name: string[] }>) {
              if (!v.fq_name[2].startsWith("k-")) continue;
              seenByReads.add(v.uuid);
              if (!ackedNow.has(v.uuid)) unacked = true;
            }
            // Kill when a read shows a write not yet acknowledged to its writer: the riskiest moment.
            if (unacked && acked.length - ackedBefore >= 100) kill();
            const last = acked.at(-1);
            if (last && (await c.get(`/virtual-network/${last}`)).status === 200) seenByReads.add(last);
          } catch {
            // the process is gone
          }
        }
      };
      await Promise.all([...Array.from({ length: 16 }, worker), ...Array.from({ length: 4 }, reader)]);
      await waitExit(api.child);
      expect(api.child.signalCode).toBe("SIGKILL");
      expect(acked.length - ackedBefore).toBeGreaterThanOrEqual(100);
    }

    const last = await spawnApi(db);
    try {
      const c2 = client(last.url);
      const missing = async (uuids: string[]) => {
        const r = await c2.post("/list-bulk-collection", {
          type: "virtual-network",
          obj_uuids: uuids.join(","),
        });
        const present = new Set(r.json["virtual-networks"].map((x: { uuid: string }) => x.uuid));
        return uuids.filter((u) => !present.has(u));
      };
      expect(await missing(acked)).toEqual([]);
      // No read ever saw a write that a crash then took back.
      expect(seenByReads.size).toBeGreaterThan(0);
      expect(await missing([...seenByReads])).toEqual([]);
    } finally {
      last.child.kill("SIGTERM");
      await waitExit(last.child);
    }
  });

  it("loses no acknowledged write when SIGKILLed during compactions (a compaction every ~200 KB)", async () => {
    const db = join(dir, "kill-compact.json");
    const acked: string[] = [];
    const big = "z".repeat(2000);
    for (let cycle = 0; cycle < 4; cycle++) {
      const api = await spawnApi(db, { CTB_API_COMPACT_BYTES: String(200_000) });
      const c = client(api.url);
      let next = 0;
      let killed = false;
      const before = acked.length;
      const worker = async () => {
        while (!killed && next < 2000) {
          const i = next++;
          try {
            const r = await c.post("/network-policys", {
              "network-policy": { fq_name: FQ(`kc-${cycle}-${i}`), display_name: big },
            });
            if (r.status === 200) acked.push(r.json["network-policy"].uuid);
            // kill at a different point of the compaction cycle each time
            if (!killed && acked.length - before >= 150 + cycle * 97) {
              killed = true;
              api.child.kill("SIGKILL");
            }
          } catch {
            // the process is gone
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      await waitExit(api.child);
      expect(api.child.signalCode).toBe("SIGKILL");
    }
    // compactions did happen: the snapshot holds most of it
    expect(JSON.parse(readFileSync(db, "utf8")).seq).toBeGreaterThan(300);
    const last = await spawnApi(db);
    try {
      const r = await client(last.url).post("/list-bulk-collection", {
        type: "network-policy",
        obj_uuids: acked.join(","),
      });
      const present = new Set(r.json["network-policys"].map((x: { uuid: string }) => x.uuid));
      expect(acked.filter((u) => !present.has(u))).toEqual([]);
      expect(acked.length).toBeGreaterThan(600);
    } finally {
      last.child.kill("SIGTERM");
      await waitExit(last.child);
    }
  });
});
