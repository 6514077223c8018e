/**
 * Starts the fake Contrail VNC config API: opens the store (memory only, or snapshot + journal at `dbPath`),
 * creates the boot objects, and serves HTTP on 127.0.0.1 unless told otherwise; Prometheus metrics at /metrics.
 * Example: `const api = await startApiServer({ port: 0 }); await fetch(`${api.url}/virtual-networks`); await api.close()`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp, createFastGet, createFastWrite } from "./app";
import { type AuthOptions, startAuth } from "./auth";
import { ensureBootObjects } from "./boot";
import { apiMetrics } from "./metrics";
import { ConfigService } from "./service";
import { Store } from "./store";

export interface ApiServerOptions {
  /** 0 = ephemeral; default 8082 (the real API server's port). */
  port?: number;
  host?: string;
  /** Snapshot file (journal alongside as `<dbPath>.journal`); undefined = memory only. */
  dbPath?: string;
  quiet?: boolean;
  /** aaa_mode and keystone (auth/index.ts); absent = no-auth, today's behaviour. */
  auth?: AuthOptions;
}

export interface ApiServer {
  url: string;
  port: number;
  /** Prometheus text at `${url}/metrics`. */
  metricsUrl: string;
  close(): Promise<void>;
  /** Last committed change (what GET /watch-position reports). */
  seq(): number;
  /** With auth: the keystone endpoint, the keystone itself (tokens, grants) and the admin port's URL. */
  keystoneUrl?: string;
  keystone?: import("./auth/keystone").Keystone;
  /** Upstream's admin port (LocalAuth): `http://<user>:<password>@127.0.0.1:<port>`, every check skipped. */
  adminUrl?: string;
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const store = await Store.open(opts.dbPath);
  const svc = new ConfigService(store);
  ensureBootObjects(svc);
  await store.commit();
  const auth =
    opts.auth && opts.auth.aaaMode !== "no-auth"
      ? await startAuth(opts.auth, svc).catch(async (e) => {
          await store.close();
          throw e;
        })
      : undefined;
  await store.commit();
  const app = createApp(store, svc, auth?.guard);
  // The fast read path has no authorisation: only without auth.
  const fastGet = auth ? () => false : createFastGet(store, svc);
  const fastWrite = auth ? () => false : createFastWrite(store, svc);
  const metrics = apiMetrics(store);
  const host = opts.host ?? "127.0.0.1";
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createServer((req, res) => {
      if (metrics.serve(req, res)) return;
      metrics.observe(req, res);
      if (!fastGet(req, res) && !fastWrite(req, res)) app(req, res);
    });
    s.once("error", reject);
    s.listen(opts.port ?? 8082, host, () => resolve(s));
  }).catch(async (e) => {
    await auth?.close();
    throw e;
  });
  // Watch streams stay open; keep-alive sockets must not hold close() up either.
  server.keepAliveTimeout = 5_000;
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (!opts.quiet)
    process.stderr.write(
      `fake-contrail-api listening on ${url}${opts.dbPath ? ` (db ${opts.dbPath})` : ""}${auth ? ` (aaa_mode ${opts.auth!.aaaMode}, keystone ${auth.keystoneUrl})` : ""}\n`,
    );
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    metricsUrl: `${url}/metrics`,
    seq: () => store.seq(),
    ...(auth
      ? {
          keystoneUrl: auth.keystoneUrl,
          keystone: auth.keystone,
          adminUrl: await auth.listenAdmin(app, host),
        }
      : {}),
    close() {
      closing ??= (async () => {
        await auth?.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await store.close();
      })();
      return closing;
    },
  };
}
