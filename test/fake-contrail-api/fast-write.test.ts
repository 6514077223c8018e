/**
 * The config API serves `POST /<plural>` (create) and `POST /ref-update` without express routing; the answers
 * must be the routes' answers byte for byte (status, headers, body), errors included. A query (`?express`,
 * which these routes do not read) sends the same request through express; each create of a pair gets its own
 * name of the same length, and uuids are compared by the order they appear in.
 */
import { request } from "node:http";
import { expect, it } from "vitest";
import { useApiServer } from "../support/api";

const api = useApiServer();

function post(path: string, body: string, headers: Record<string, string>) {
  return new Promise<{ status?: number; headers: [string, unknown][]; body: string }>((resolve, reject) => {
    const req = request(new URL(path, api.url), { method: "POST", headers }, (res) => {
      let text = "";
      res.on("data", (d) => {
        text += d;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode,
          headers: Object.entries(res.headers).filter(([k]) => k !== "date"),
          body: text.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<uuid>"),
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

it("answers creates and ref-updates exactly as the express routes do, errors included", async () => {
  const vn = (name: string, extra = "") =>
    `{"virtual-network":{"fq_name":["default-domain","default-project","${name}"]${extra}}}`;
  const json = { "content-type": "application/json" };
  const cases: [path: string, body: (pass: string) => string, headers?: Record<string, string>][] = [
    ["/virtual-networks", (p) => vn(`vn-${p}`)],
    ["/virtual-networks", () => vn("vn-taken")],
    ["/virtual-networks", () => "{bad"],
    ["/virtual-networks", () => ""],
    ["/virtual-networks", () => " 1"],
    ["/virtual-networks", () => "[]"],
    ["/virtual-networks", () => '{"network-ipam":{}}'],
    ["/virtual-networks", () => '{"__proto__":{"a":1}}'],
    ["/virtual-networks", (p) => vn(`vn-bogus-${p}`, ',"bogus":1')],
    ["/virtual-networks", () => '{"virtual-network":{"fq_name":["default-domain","nope","x"]}}'],
    ["/virtual-networks", (p) => vn(`vn-text-${p}`), { "content-type": "text/plain" }],
    ["/virtual-networks", (p) => vn(`vn-latin-${p}`), { "content-type": "application/json; charset=latin1" }],
    ["/virtual-networks", (p) => vn(`vn-gzip-${p}`), { ...json, "content-encoding": "gzip" }],
    ["/virtual-networks", () => "x".repeat(5 * 1024 * 1024)],
    ["/instance-ips", () => '{"instance-ip":{"fq_name":["ip1"]}}'],
    ["/ref-update", () => "{}"],
    [
      "/ref-update",
      () =>
        '{"type":"virtual-network","uuid":"nope","ref-type":"network-ipam","ref-fq-name":["a"],"operation":"ADD"}',
    ],
    ["/ref-update", () => '{"bad'],
  ];
  await post("/virtual-networks", vn("vn-taken"), json);
  const statuses: (number | undefined)[] = [];
  for (const [path, body, headers = json] of cases) {
    const fast = await post(path, body("fast"), headers);
    const viaExpress = await post(`${path}?express`, body("slow"), headers);
    expect(JSON.stringify(fast).replaceAll("fast", "P"), path).toBe(
      JSON.stringify(viaExpress).replaceAll("slow", "P"),
    );
    statuses.push(fast.status);
  }
  expect(statuses).toEqual([
    200, 409, 400, 400, 400, 400, 400, 400, 400, 400, 200, 415, 400, 413, 400, 400, 404, 400,
  ]);
});
