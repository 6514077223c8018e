/**
 * The config API a test talks to: memory only, on a free port, with a VNC client, closed (client, then
 * server) when the file or the test is done. One place for what many test files did by hand.
 *
 * Example:
 *   const api = useApiServer();                  // started before the file's tests, closed after them
 *   const api = useApiServer("each");            // a fresh API per test
 *   it("…", async () => { await api.vnc.create("project", {...}); await fetch(`${api.url}/watch-position`) });
 *
 * Hooks run in vitest's default `sequence.hooks: "stack"` order: after-hooks in reverse, so call this before
 * registering hooks that must still reach the API when they clean up (stopping a controller or daemons).
 */
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { VncClient } from "../../controller/vnc/client";
import { type ApiServer, startApiServer } from "../../fake-contrail-api/server";

export interface TestApi {
  readonly server: ApiServer;
  readonly url: string;
  readonly vnc: VncClient;
}

/** Starts one; the caller closes it. */
export async function startTestApi(): Promise<TestApi & { close(): Promise<void> }> {
  const server = await startApiServer({ port: 0, quiet: true });
  const vnc = new VncClient(server.url);
  return {
    server,
    url: server.url,
    vnc,
    close: async () => {
      vnc.close();
      await server.close();
    },
  };
}

/** Registers the hooks that start and close an API per file (default) or per test; read it inside tests. */
export function useApiServer(scope: "file" | "each" = "file"): TestApi {
  let current: Awaited<ReturnType<typeof startTestApi>> | undefined;
  const [before, after] = scope === "file" ? [beforeAll, afterAll] : [beforeEach, afterEach];
  before(async () => {
    current = await startTestApi();
  });
  after(async () => {
    await current?.close();
    current = undefined;
  });
  const now = () => {
    if (!current) throw new Error("useApiServer: the config API is only up inside the tests and their hooks");
    return current;
  };
  return {
    get server() {
      return now().server;
    },
    get url() {
      return now().url;
    },
    get vnc() {
      return now().vnc;
    },
  };
}
