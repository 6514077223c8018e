/**
 * The port API serves a starting pod's three requests (`GET /vm-cfg/<name>`, `POST /vm`, `GET /vm/<vm>/<vmi>`)
 * without express routing; the answers must be the routes' answers byte for byte (status, headers, body),
 * errors included. Adding a query (`?express`, which no route reads) sends the same request through express.
 */
import { afterEach, expect, it } from "vitest";
import { startAgents } from "../../fake-vrouter/agent/index";
import { Cluster } from "./fixtures";
import { startStubWatch } from "./stub-watch";

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

it("answers a starting pod's requests exactly as the express routes do, errors included", async () => {
  const watch = await startStubWatch();
  cleanup.push(() => watch.close());
  const c = new Cluster((ev) => watch.push(ev));
  const red = c.vn("red", "10.1.0.0/24");
  const a = c.pod("a", red, "10.1.0.10", c.vrouter("compute-1", "192.168.0.11"), { k8s: true });
  const agents = await startAgents({ apiUrl: watch.url });
  cleanup.push(() => agents.stop());
  await agents.whenCaughtUp(watch.seq());
  const api = await agents.startPortApi("compute-1", { port: 0 });
  cleanup.push(() => api.close());

  const ask = async (method: string, path: string, body?: string, type = "application/json") => {
    const r = await fetch(api.url + path, {
      method,
      body,
      headers: body === undefined ? {} : { "content-type": type },
    });
    const headers = [...r.headers].filter(([k]) => k !== "date");
    return { status: r.status, headers, body: await r.text() };
  };
  const name = encodeURIComponent(c.data(a.vm).fq_name!.at(-1)!);
  const add = JSON.stringify({ "vm-uuid": a.vm, "vmi-uuid": a.vmi, "host-ifname": "tapa", "vm-name": "a" });
  const requests: [method: string, path: string, body?: string, type?: string][] = [
    ["GET", `/vm-cfg/${name}`],
    ["GET", "/vm-cfg/nope"],
    ["GET", "/vm-cfg/%E0%A4%A"],
    ["GET", `/vm/${a.vm}/${a.vmi}`],
    ["POST", "/vm", "{bad"],
    ["POST", "/vm", "[]"],
    ["POST", "/vm", '{"vm-uuid":"x"}'],
    ["POST", "/vm", add, "text/plain"],
    ["POST", "/vm", add, "application/json; charset=latin1"],
    ["POST", "/vm", "x".repeat(1024 * 1024 + 1)],
    ["POST", "/vm", add],
    ["GET", `/vm/${a.vm}/${a.vmi}`],
    ["GET", `/vm/${a.vmi}/${a.vmi}`],
  ];
  const statuses: number[] = [];
  for (const [method, path, body, type] of requests) {
    const fast = await ask(method, path, body, type);
    expect(fast, `${method} ${path}`).toEqual(await ask(method, `${path}?express`, body, type));
    statuses.push(fast.status);
  }
  expect(statuses).toEqual([200, 404, 400, 404, 400, 400, 400, 400, 415, 413, 200, 200, 404]);
});
