import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { KubeObject, WatchEvent } from "../../controller/kube/api";
import { createEmbeddedCluster } from "../../testbed/cluster/embedded";

type Op = { kind: "create" | "label" | "delete"; name: string; value: string };

const ops = fc.array(
  fc.record({
    kind: fc.constantFrom<Op["kind"]>("create", "label", "delete"),
    name: fc.constantFrom("a", "b", "c"),
    value: fc.constantFrom("x", "y"),
  }),
  { minLength: 5, maxLength: 30 },
);

/** An informer's cache: list, then apply watch events. */
function mirror(initial: KubeObject[], events: WatchEvent[]): Map<string, string> {
  const m = new Map(initial.map((o) => [o.metadata.name!, o.metadata.resourceVersion!]));
  for (const ev of events) {
    if (ev.type === "DELETED") m.delete(ev.object.metadata.name!);
    else if (ev.type !== "BOOKMARK") m.set(ev.object.metadata.name!, ev.object.metadata.resourceVersion!);
  }
  return m;
}

describe("list + watch", () => {
  it("an informer built from any list point plus the watch from it ends equal to a fresh list, also with a selector", async () => {
    await fc.assert(
      fc.asyncProperty(ops, fc.nat(10), fc.boolean(), async (steps, cut, selective) => {
        const c = createEmbeddedCluster({ seed: 1 });
        const opts = selective ? { namespace: "default", labelSelector: "v=x" } : { namespace: "default" };
        const run = async (op: Op) => {
          const pod: KubeObject = {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: op.name, labels: { v: op.value } },
            spec: { schedulerName: "manual", containers: [{ name: "c", image: "i" }] },
          };
          try {
            if (op.kind === "create") await c.create("pods", pod);
            else if (op.kind === "label")
              await c.patch("pods", op.name, "default", { metadata: { labels: { v: op.value } } });
            else await c.delete("pods", op.name, "default");
          } catch {
            // 404 / 409 are part of the game
          }
        };
        const at = Math.min(cut, steps.length);
        for (const op of steps.slice(0, at)) await run(op);
        const listed = await c.list("pods", opts);
        const events: WatchEvent[] = [];
        await c.watch(
          "pods",
          { ...opts, resourceVersion: listed.resourceVersion },
          (ev) => events.push(ev),
          () => {},
        );
        for (const op of steps.slice(at)) await run(op);
        await c.waitQuiet();
        const fresh = await c.list("pods", opts);
        const expected = new Map(fresh.items.map((o) => [o.metadata.name!, o.metadata.resourceVersion!]));
        expect(mirror(listed.items, events)).toEqual(expected);
        c.close();
      }),
      { numRuns: 150, seed: 3 },
    );
  });
});
