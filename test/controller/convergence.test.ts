/**
 * Level-triggered convergence, property-tested: random sequences of Kubernetes changes (pods created,
 * relabelled and deleted, namespaces isolated and un-isolated, services and their endpoints changing,
 * NetworkPolicies added and removed: r4 security groups on the interfaces, r5 firewall policies),
 * with the controller restarted at random points — including "crashes" where, after a random number of
 * requests, every VNC call fails mid-unit (a proxy answers 500) and the controller is abandoned — must end in
 * exactly the object graph a fresh controller builds from the final Kubernetes state on an empty API: no
 * duplicates, no leaks.
 */
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { expect, it } from "vitest";
import { defaultConfig } from "../../controller/config";
import { type ControllerHandle, jsonLogger, startController } from "../../controller/index";
import type { KubeObject } from "../../controller/kube/api";
import { TYPE_ORDER } from "../../controller/contrail-types";
import { VncClient } from "../../controller/vnc/client";
import { startApiServer } from "../../fake-contrail-api/server";
import { FakeKube, node, ns, pod, service, slice } from "./fake-kube";

/** Every type the controller manages: one table (controller/contrail-types.ts). */
const TYPES = TYPE_ORDER;

async function graph(vnc: VncClient): Promise<string[]> {
  const out: string[] = [];
  for (const t of TYPES) {
    for (const o of await vnc.list(t, {
      detail: true,
      fields: [
        "annotations",
        "virtual_machine_refs",
        "virtual_network_refs",
        "tag_refs",
        "security_group_refs",
      ],
    })) {
      const owned = o.annotations?.key_value_pair?.some((p: { key: string }) => p.key === "owner");
      if (!owned && t !== "virtual-router") continue;
      out.push(`${t} ${o.uuid} ${o.fq_name.join(":")}`);
      for (const f of ["virtual_machine_refs", "virtual_network_refs", "tag_refs", "security_group_refs"])
        for (const r of o[f] ?? []) out.push(`  ${o.fq_name.join(":")} ${f} ${r.to.join(":")}`);
    }
  }
  return out.sort();
}

type Op =
  | { op: "pod"; i: number; ns: number; label: number }
  | { op: "relabel"; i: number; label: number }
  | { op: "delpod"; i: number }
  | { op: "isolate"; ns: number; on: boolean }
  | { op: "policy"; p: number; ns: number; target: number; from: number; on: boolean }
  | { op: "endpoints"; s: number; pods: number[] }
  | { op: "restart" }
  | { op: "crash"; after: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("pod" as const), i: fc.nat(5), ns: fc.nat(2), label: fc.nat(2) }),
  fc.record({ op: fc.constant("relabel" as const), i: fc.nat(5), label: fc.nat(2) }),
  fc.record({ op: fc.constant("delpod" as const), i: fc.nat(5) }),
  fc.record({ op: fc.constant("isolate" as const), ns: fc.nat(2), on: fc.boolean() }),
  fc.record({
    op: fc.constant("policy" as const),
    p: fc.nat(1),
    ns: fc.nat(1),
    target: fc.nat(3),
    from: fc.nat(3),
    on: fc.boolean(),
  }),
  fc.record({
    op: fc.constant("endpoints" as const),
    s: fc.nat(1),
    pods: fc.array(fc.nat(5), { maxLength: 3 }),
  }),
  fc.record({ op: fc.constant("restart" as const) }),
  fc.record({ op: fc.constant("crash" as const), after: fc.nat(25) }),
);

/** A pass-through HTTP proxy to the API that can be told to fail every request after the next `n`. */
async function faultyProxy(target: string) {
  let budget = Number.POSITIVE_INFINITY;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (budget-- <= 0) {
        res.statusCode = 500;
        return void res.end("proxy: the controller crashed here");
      }
      const out = httpRequest(
        new URL(req.url!, target),
        { method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      out.on("error", () => {
        res.statusCode = 502;
        res.end();
      });
      out.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failAfter: (n: number) => {
      budget = n;
    },
    heal: () => {
      budget = Number.POSITIVE_INFINITY;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

it("random event sequences with restarts converge to the from-scratch object graph", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("r4" as const, "r5" as const),
      fc.array(opArb, { minLength: 4, maxLength: 10 }),
      async (model, ops) => {
        const kube = new FakeKube();
        const nsName = (n: number) => (n === 0 ? "default" : `ns${n}`);
        await kube.create("nodes", node("n1", "10.1.0.1"));
        for (let n = 0; n < 3; n++) await kube.create("namespaces", ns(nsName(n)));
        for (let s = 0; s < 2; s++)
          await kube.create("services", service("default", `s${s}`, `10.96.0.${20 + s}`));
        const api = await startApiServer({ port: 0, quiet: true });
        const fresh = await startApiServer({ port: 0, quiet: true });
        const proxy = await faultyProxy(api.url);
        const cfg = defaultConfig(model);
        const quiet = jsonLogger(() => {});
        const begin = () =>
          startController({ kube, vncUrl: proxy.url, config: cfg, log: quiet, concurrency: 4 });
        let c: ControllerHandle = await begin();
        try {
          const pods = new Map<number, KubeObject>();
          for (const o of ops) {
            switch (o.op) {
              case "pod":
                if (pods.has(o.i)) break;
                pods.set(
                  o.i,
                  await kube.create("pods", pod(nsName(o.ns), `p${o.i}`, "n1", { app: `a${o.label}` })),
                );
                break;
              case "relabel": {
                const p = pods.get(o.i);
                if (p)
                  pods.set(
                    o.i,
                    await kube.patch("pods", p.metadata.name!, p.metadata.namespace, {
                      metadata: { labels: { app: `a${o.label}` } },
                    }),
                  );
                break;
              }
              case "delpod": {
                const p = pods.get(o.i);
                if (p) await kube.delete("pods", p.metadata.name!, p.metadata.namespace);
                pods.delete(o.i);
                break;
              }
              case "isolate":
                await kube.patch("namespaces", nsName(o.ns), undefined, {
                  metadata: { annotations: { "opencontrail.org/isolation": o.on ? "true" : null } },
                });
                break;
              case "policy": {
                // a NetworkPolicy selecting app=a<target> (3: every pod) admits app=a<from> (3: every pod of
                // its namespace); (re)created or deleted
                const name = `np${o.p}`;
                const where = nsName(o.ns);
                await kube.delete("networkpolicies", name, where).catch(() => undefined);
                if (o.on)
                  await kube.create("networkpolicies", {
                    apiVersion: "networking.k8s.io/v1",
                    kind: "NetworkPolicy",
                    metadata: { name, namespace: where },
                    spec: {
                      podSelector: o.target === 3 ? {} : { matchLabels: { app: `a${o.target}` } },
                      ingress: [
                        {
                          from: [{ podSelector: o.from === 3 ? {} : { matchLabels: { app: `a${o.from}` } } }],
                        },
                      ],
                    },
                  });
                break;
              }
              case "endpoints": {
                const members = o.pods
                  .map((i) => pods.get(i))
                  .filter((p): p is KubeObject => p?.metadata.namespace === "default");
                const cur = await kube.get("endpointslices", `s${o.s}-x`, "default").catch(() => undefined);
                const next = slice("default", `s${o.s}`, members);
                if (cur) await kube.replace("endpointslices", next);
                else await kube.create("endpointslices", next);
                break;
              }
              case "restart":
                // kill it without waiting for anything to settle, then start a new one
                await c.stop();
                c = await begin();
                break;
              case "crash":
                // from the next few requests on nothing reaches the API: units stop half-way; then a new start
                proxy.failAfter(o.after);
                await new Promise((r) => setTimeout(r, 20));
                await c.stop();
                proxy.heal();
                c = await begin();
                break;
            }
          }
          await c.waitIdle();
          await c.resync();
          const got = await graph(new VncClient(api.url));
          await c.stop();
          c = await startController({ kube, vncUrl: fresh.url, config: cfg, log: quiet, concurrency: 4 });
          await c.waitIdle();
          const want = await graph(new VncClient(fresh.url));
          expect(got).toEqual(want);
        } finally {
          await c.stop();
          await proxy.close();
          await api.close();
          await fresh.close();
        }
      },
    ),
    { numRuns: 8 },
  );
});
