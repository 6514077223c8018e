/**
 * Kubernetes sources: the informer's recovery paths (watch closed → resume from the last version without a
 * relist; 410 Gone → relist that reports what changed meanwhile), and the HTTP KubeApi against a stub API
 * server (kubeconfig credentials, REST paths, list kinds, watch stream with an ERROR 410 event, Status errors,
 * patch content types).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  KubeApiError,
  type KubeObject,
  type ResourceName,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from "../../controller/kube/api";
import { HttpKubeApi } from "../../controller/kube/http";
import { type ChangeType, Informer } from "../../controller/kube/informer";
import { FakeKube, ns } from "./fake-kube";

/** Promises that resolve once a condition holds, rechecked on every `check()` (called from each event). */
function conditions() {
  const pending: { cond: () => boolean; resolve: () => void }[] = [];
  return {
    check() {
      for (const p of [...pending])
        if (p.cond()) {
          pending.splice(pending.indexOf(p), 1);
          p.resolve();
        }
    },
    until(cond: () => boolean): Promise<void> {
      return cond() ? Promise.resolve() : new Promise((resolve) => pending.push({ cond, resolve }));
    },
  };
}

/** A FakeKube that reports each watch once it is established (replayed and listening). */
class WatchedKube extends FakeKube {
  onWatch = () => {};
  override async watch(
    resource: ResourceName,
    opts: WatchOptions,
    onEvent: (ev: WatchEvent) => void,
    onDone: (err?: Error) => void,
  ): Promise<WatchHandle> {
    const h = await super.watch(resource, opts, onEvent, onDone);
    // after the microtask in which FakeKube replays and registers the watcher
    queueMicrotask(() => this.onWatch());
    return h;
  }
}

describe("Informer", () => {
  it("lists, then follows watch events into its cache", async () => {
    const kube = new FakeKube();
    await kube.create("namespaces", ns("a"));
    const seen: string[] = [];
    const events = conditions();
    const inf = new Informer(kube, "namespaces", {
      onChange: (t, o) => {
        seen.push(`${t} ${o.metadata.name}`);
        events.check();
      },
    });
    await inf.start();
    expect(seen).toEqual(["add a"]);
    await kube.create("namespaces", ns("b"));
    await kube.patch("namespaces", "a", undefined, { metadata: { labels: { x: "1" } } });
    await kube.delete("namespaces", "b");
    await events.until(() => seen.length === 4);
    expect(seen).toEqual(["add a", "add b", "update a", "delete b"]);
    expect([...inf.cache.keys()]).toEqual(["a"]);
    inf.stop();
  });

  it("starts without an optional resource the server does not serve, says so once, and picks it up later", async () => {
    const kube = new FakeKube();
    let served = false;
    const list = kube.list.bind(kube);
    kube.list = async (r: ResourceName) => {
      if (!served)
        throw new KubeApiError(404, "NotFound", "the server could not find the requested resource");
      return list(r);
    };
    const errors: string[] = [];
    const seen: string[] = [];
    const events = conditions();
    const inf = new Informer(kube, "namespaces", {
      optional: true,
      backoffMs: 5,
      maxBackoffMs: 5,
      onError: (e) => errors.push(e.message),
      onChange: (t, o) => {
        seen.push(`${t} ${o.metadata.name}`);
        events.check();
      },
    });
    await inf.start();
    expect(inf.cache.size).toBe(0);
    await new Promise((r) => setTimeout(r, 40));
    expect(errors).toEqual(["the server could not find the requested resource"]);
    await kube.create("namespaces", ns("late"));
    served = true;
    await events.until(() => seen.length === 1);
    expect(seen).toEqual(["add late"]);
    inf.stop();
  });

  it("resumes a closed watch from its last version without relisting", async () => {
    const kube = new FakeKube();
    const seen: string[] = [];
    const events = conditions();
    const inf = new Informer(kube, "namespaces", {
      onChange: (t, o) => {
        seen.push(`${t} ${o.metadata.name}`);
        events.check();
      },
    });
    await inf.start();
    kube.closeWatches();
    await kube.create("namespaces", ns("during"));
    await events.until(() => seen.length === 1);
    expect(seen).toEqual(["add during"]);
    expect(kube.calls.list).toBe(1);
    expect(kube.calls.watch).toBe(2);
    inf.stop();
  });

  it("relists after 410 Gone and reports what changed while it was away", async () => {
    const kube = new FakeKube();
    await kube.create("namespaces", ns("stays"));
    await kube.create("namespaces", ns("goes"));
    const seen: [ChangeType, string][] = [];
    const errors: Error[] = [];
    const events = conditions();
    const inf = new Informer(kube, "namespaces", {
      onChange: (t, o) => {
        seen.push([t, o.metadata.name!]);
        events.check();
      },
      onError: (e) => errors.push(e),
      backoffMs: 1,
    });
    await inf.start();
    seen.length = 0;
    inf.stop();
    // while the informer is away: one object goes, one arrives, and history is compacted
    await kube.delete("namespaces", "goes");
    await kube.create("namespaces", ns("new"));
    kube.compact();
    void inf.start();
    await events.until(() => seen.length === 2);
    expect(seen.sort()).toEqual([
      ["add", "new"],
      ["delete", "goes"],
    ]);
    expect([...inf.cache.keys()].sort()).toEqual(["new", "stays"]);
    inf.stop();
  });

  it("turns a 410 on a resumed watch into a relist", async () => {
    const kube = new WatchedKube();
    await kube.create("namespaces", ns("x"));
    const errors: Error[] = [];
    const events = conditions();
    kube.onWatch = events.check;
    const inf = new Informer(kube, "namespaces", {
      onChange: events.check,
      onError: (e) => {
        errors.push(e);
        events.check();
      },
      backoffMs: 1,
    });
    await inf.start();
    kube.compact();
    kube.closeWatches();
    // watches: the first, the resumed one answered 410, the one after the relist
    await events.until(() => kube.calls.watch === 3);
    expect(errors.some((e) => e instanceof KubeApiError && e.status === 410)).toBe(true);
    expect(kube.calls.list).toBe(2);
    await kube.create("namespaces", ns("after"));
    await events.until(() => inf.cache.has("after"));
    expect(inf.cache.has("after")).toBe(true);
    inf.stop();
  });
});

describe("HttpKubeApi", () => {
  let server: Server;
  let kubeconfig: string;
  const requests: { method: string; url: string; auth?: string; type?: string; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        requests.push({
          method: req.method!,
          url: req.url!,
          auth: req.headers.authorization,
          type: req.headers["content-type"],
          body,
        });
        const u = new URL(req.url!, "http://x");
        res.setHeader("content-type", "application/json");
        if (
          u.pathname === "/api/v1/namespaces/default/pods" &&
          req.method === "GET" &&
          u.searchParams.get("watch")
        ) {
          if (u.searchParams.get("resourceVersion") === "1") {
            res.write(
              `${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 1" } })}\n`,
            );
            return void res.end();
          }
          res.write(
            `${JSON.stringify({ type: "ADDED", object: { metadata: { name: "p", namespace: "default", resourceVersion: "11" } } })}\n`,
          );
          res.write(
            `${JSON.stringify({ type: "DELETED", object: { metadata: { name: "p", namespace: "default", resourceVersion: "12" } } })}\n`,
          );
          return void res.end();
        }
        if (u.pathname === "/apis/discovery.k8s.io/v1/endpointslices" && req.method === "GET") {
          return void res.end(
            JSON.stringify({
              metadata: { resourceVersion: "10" },
              items: [{ metadata: { name: "s", namespace: "d" } }],
            }),
          );
        }
        if (u.pathname === "/api/v1/namespaces/default/pods" && req.method === "POST") {
          res.statusCode = 409;
          return void res.end(
            JSON.stringify({
              kind: "Status",
              code: 409,
              reason: "AlreadyExists",
              message: 'pods "p" already exists',
            }),
          );
        }
        if (req.method === "PATCH") return void res.end(JSON.stringify({ metadata: { name: "p" } }));
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: "Status", code: 404, reason: "NotFound", message: "nope" }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as AddressInfo).port;
    kubeconfig = join(mkdtempSync(join(tmpdir(), "ctb-kc-")), "config");
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: secret-token } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
    );
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("lists with the group path and fills in apiVersion/kind, sending the kubeconfig's token", async () => {
    const api = HttpKubeApi.fromKubeconfig(kubeconfig);
    const { items, resourceVersion } = await api.list("endpointslices");
    expect(resourceVersion).toBe("10");
    expect(items[0]).toMatchObject({ apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice" });
    expect(requests.at(-1)).toMatchObject({
      url: "/apis/discovery.k8s.io/v1/endpointslices",
      auth: "Bearer secret-token",
    });
  });

  it("streams watch events and reports a 410 ERROR event as KubeApiError", async () => {
    const api = HttpKubeApi.fromKubeconfig(kubeconfig);
    const events: WatchEvent[] = [];
    const done = await new Promise<Error | undefined>((resolve) => {
      api
        .watch("pods", { namespace: "default", resourceVersion: "10" }, (e) => events.push(e), resolve)
        .catch(resolve);
    });
    expect(done).toBeUndefined();
    expect(events.map((e) => `${e.type} ${e.object.kind} ${e.object.metadata.resourceVersion}`)).toEqual([
      "ADDED Pod 11",
      "DELETED Pod 12",
    ]);
    const gone = await new Promise<Error | undefined>((resolve) => {
      api.watch("pods", { namespace: "default", resourceVersion: "1" }, () => {}, resolve).catch(resolve);
    });
    expect(gone).toBeInstanceOf(KubeApiError);
    expect(gone).toMatchObject({ status: 410, reason: "Expired" });
  });

  it("maps Status bodies to KubeApiError and uses the patch content types", async () => {
    const api = HttpKubeApi.fromKubeconfig(kubeconfig);
    const p: KubeObject = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" } };
    const err = await api.create("pods", p, "default").catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 409, reason: "AlreadyExists", message: 'pods "p" already exists' });
    await expect(api.get("nodes", "n")).rejects.toMatchObject({ status: 404, reason: "NotFound" });
    await api.patch("pods", "p", "default", [{ op: "add", path: "/x", value: 1 }], "json");
    expect(requests.at(-1)).toMatchObject({
      url: "/api/v1/namespaces/default/pods/p",
      type: "application/json-patch+json",
    });
    await api.patchStatus("pods", "p", "default", { status: { podIP: "10.47.255.252" } });
    expect(requests.at(-1)).toMatchObject({
      url: "/api/v1/namespaces/default/pods/p/status",
      type: "application/merge-patch+json",
      body: '{"status":{"podIP":"10.47.255.252"}}',
    });
  });
});
