import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterDnsServer } from "../../cluster-dns/server";
import { answerWire, buildZone, query, readResponse } from "../../cluster-dns/zone";

const zone = buildZone({
  services: [
    {
      metadata: { name: "web", namespace: "shop" },
      spec: { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80, protocol: "TCP" }, { port: 81 }] },
    },
    {
      metadata: { name: "db", namespace: "shop" },
      spec: { clusterIP: "None", ports: [{ name: "pg", port: 5432 }] },
    },
  ],
  slices: [
    {
      metadata: { namespace: "shop", labels: { "kubernetes.io/service-name": "db" } },
      addressType: "IPv4",
      ports: [{ name: "pg", port: 5432, protocol: "TCP" }],
      endpoints: [
        { addresses: ["10.32.0.5"], conditions: { ready: true }, hostname: "db-0" },
        { addresses: ["10.32.0.6"], conditions: { ready: true } },
        { addresses: ["10.32.0.7"], conditions: { ready: false } },
      ],
    },
  ],
  pods: [{ metadata: { namespace: "shop", name: "a" }, status: { podIP: "10.32.0.5" } }],
});

const ask = (name: string, type: "A" | "SRV" = "A") => readResponse(answerWire(zone, query(name, type)));

describe("cluster DNS answers", () => {
  it("a Service's name is its ClusterIP, and a named port has an SRV record", () => {
    expect(ask("web.shop.svc.cluster.local")).toMatchObject({ rcode: "NOERROR", addresses: ["10.96.0.20"] });
    expect(ask("WEB.shop.svc.cluster.local.").addresses).toEqual(["10.96.0.20"]);
    expect(ask("_http._tcp.web.shop.svc.cluster.local", "SRV").answers).toEqual([
      "_http._tcp.web.shop.svc.cluster.local SRV 0 100 80 web.shop.svc.cluster.local",
    ]);
  });

  it("a headless Service's name is its ready endpoints, each with its own name", () => {
    expect(ask("db.shop.svc.cluster.local").addresses.sort()).toEqual(["10.32.0.5", "10.32.0.6"]);
    expect(ask("db-0.db.shop.svc.cluster.local").addresses).toEqual(["10.32.0.5"]);
    expect(ask("10-32-0-6.db.shop.svc.cluster.local").addresses).toEqual(["10.32.0.6"]);
    expect(ask("_pg._tcp.db.shop.svc.cluster.local", "SRV").answers).toHaveLength(2);
  });

  it("a pod's dashed address under its namespace, only for a pod that has it", () => {
    expect(ask("10-32-0-5.shop.pod.cluster.local").addresses).toEqual(["10.32.0.5"]);
    expect(ask("10-32-0-9.shop.pod.cluster.local").rcode).toBe("NXDOMAIN");
  });

  it("unknown names are NXDOMAIN, names that exist without records NODATA, names outside REFUSED", () => {
    expect(ask("nothing.shop.svc.cluster.local").rcode).toBe("NXDOMAIN");
    expect(ask("shop.svc.cluster.local")).toMatchObject({ rcode: "NOERROR", addresses: [] });
    expect(ask("web.shop.svc.cluster.local", "SRV")).toMatchObject({ rcode: "NOERROR", answers: [] });
    expect(ask("example.com").rcode).toBe("REFUSED");
  });

  it("a malformed message gets FORMERR with its id", () => {
    const bad = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x05]); // a header cut short
    const r = answerWire(zone, bad);
    expect(r.readUInt16BE(0)).toBe(0x1234);
    expect(readResponse(r).rcode).toBe("FORMERR");
  });
});

describe("the DNS server over UDP", () => {
  let server: ClusterDnsServer;
  beforeAll(async () => {
    server = await ClusterDnsServer.start({ port: 0, host: "127.0.0.1" });
    server.setZone(zone);
  });
  afterAll(() => server.close());

  const exchange = (msg: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const s = createSocket("udp4");
      const t = setTimeout(() => reject(new Error("no response")), 2000);
      s.on("message", (m) => {
        clearTimeout(t);
        s.close();
        resolve(m);
      });
      s.send(msg, server.port, "127.0.0.1");
    });

  it("answers a real query, and FORMERR to garbage", async () => {
    expect(readResponse(await exchange(query("web.shop.svc.cluster.local"))).addresses).toEqual([
      "10.96.0.20",
    ]);
    expect(readResponse(await exchange(Buffer.from("not dns at all"))).rcode).toBe("FORMERR");
  });
});
