/**
 * The HTTP edge of the port API client: node:http (loads faster than fetch, which matters for a process
 * started per pod) with one kept-alive connection for all polls of a call.
 *
 * Example: `const t = httpTransport("127.0.0.1", 9091, 5000); await t("GET", "/vm-cfg/k8s__default__web")`.
 */
import { Agent, request } from "node:http";
import type { AgentTransport } from "./port-api";

export function httpTransport(host: string, port: number, timeoutMs: number): AgentTransport {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return (method, path, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          host,
          port,
          method,
          path,
          agent,
          timeout: timeoutMs,
          headers: payload
            ? { "content-type": "application/json", "content-length": String(payload.length) }
            : undefined,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(payload);
    });
}
