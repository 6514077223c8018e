/**
 * The agent introspect of one vrouter over HTTP, on 127.0.0.1 only: `GET /Snh_<Request>?<args>` answers the
 * request's Sandesh XML (`sandesh.ts`), `GET /` lists the requests. The real agent serves this on port 8085 of
 * its compute; a testbed has several vrouters on one machine, so each gets a free loopback port (`ctb status`
 * lists them).
 *
 * Example: `const s = await startIntrospect({ compute: "node-1", view: () => env.vrouterView("node-1") });`
 *          `curl "${s.url}/Snh_ItfReq?name=tap"`
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { VrouterView } from "../tools/view";
import { indexPage, introspect } from "./sandesh";

export interface IntrospectServer {
  url: string;
  close(): Promise<void>;
}

export async function startIntrospect(o: {
  compute: string;
  view: () => Promise<VrouterView>;
  port?: number;
}): Promise<IntrospectServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET") return send(405, "text/plain", "only GET\n");
    if (url.pathname === "/" || url.pathname === "/agent.xml")
      return send(200, "text/html", indexPage(o.compute));
    const m = /^\/Snh_([A-Za-z0-9]+)$/.exec(url.pathname);
    if (!m) return send(404, "text/plain", `not found: ${url.pathname} (requests are /Snh_<Request>)\n`);
    o.view().then(
      (view) => {
        const a = introspect(m[1]!, url.searchParams, view);
        send(
          a.status,
          a.status === 200 ? "text/xml" : "text/plain",
          a.status === 200 ? a.body : `${a.body}\n`,
        );
      },
      (e: unknown) => send(503, "text/plain", `${(e as Error).message}\n`),
    );
  });
  server.listen(o.port ?? 0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
