/**
 * Test helpers for the fake config API suites: a tiny fetch client that keeps status, text and JSON, and an
 * SSE reader for /watch. Example: `const c = client(api.url); const r = await c.post("/virtual-networks", body)`.
 */
import { type ChildProcess, spawn } from "node:child_process";

export interface Reply {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected ad hoc
  json: any;
  headers: Headers;
}

export const FQ = (...names: string[]) => ["default-domain", "default-project", ...names];

/** `url` may be a getter, for a server started later (`client(() => api.url)` with `useApiServer()`). */
export function client(url: string | (() => string)) {
  const base = typeof url === "string" ? () => url : url;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base() + path, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json, headers: res.headers } as Reply;
  };
  return {
    get: (path: string, headers?: Record<string, string>) => call("GET", path, undefined, headers),
    post: (path: string, body: unknown) => call("POST", path, body),
    put: (path: string, body: unknown) => call("PUT", path, body),
    del: (path: string) => call("DELETE", path),
    /** POST /<type>s with a wrapped body; returns the created uuid (throws on failure). */
    async create(type: string, obj: Record<string, unknown>): Promise<string> {
      const r = await call("POST", `/${type}s`, { [type]: obj });
      if (r.status !== 200) throw new Error(`create ${type} failed: ${r.status} ${r.text}`);
      return r.json[type].uuid as string;
    },
    async read(type: string, uuid: string, query = ""): Promise<Record<string, unknown>> {
      const r = await call("GET", `/${type}/${uuid}${query}`);
      if (r.status !== 200) throw new Error(`read ${type} failed: ${r.status} ${r.text}`);
      return r.json[type];
    },
  };
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads /watch events until `until` says stop (or the timeout passes); returns them. */
export async function readEvents(
  url: string,
  until: (events: SseEvent[]) => boolean,
  headers: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<SseEvent[]> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const res = await fetch(url, { headers, signal: ctl.signal });
    if (!res.ok || !res.body) throw new Error(`watch failed: ${res.status}`);
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let sep = buf.indexOf("\n\n");
      while (sep >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const ev: SseEvent = { event: "message", data: "" };
        let isComment = true;
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          isComment = false;
          const i = line.indexOf(": ");
          const k = line.slice(0, i);
          const v = line.slice(i + 2);
          if (k === "id") ev.id = v;
          else if (k === "event") ev.event = v;
          else if (k === "data") ev.data += v;
        }
        if (!isComment) events.push(ev);
        if (until(events)) return events;
        sep = buf.indexOf("\n\n");
      }
    }
    return events;
  } catch (e) {
    if ((e as Error).name === "AbortError") return events;
    throw e;
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}

/** Spawns the CLI as a child process and resolves with its url once it prints "listening". */
export async function spawnApi(
  dbPath: string,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "fake-contrail-api/cli.ts", "--port", "0", "--db", dbPath, "--quiet"],
    {
      cwd: new URL("../..", import.meta.url).pathname,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    },
  );
  let err = "";
  child.stderr?.on("data", (d) => {
    err += String(d);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += String(d);
      const m = /listening (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`api exited ${code}: ${err}`)));
  });
  return { child, url };
}

export function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}
