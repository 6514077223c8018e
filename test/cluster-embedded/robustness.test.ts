import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KubeApiError, RESOURCES, type ResourceName } from "../../controller/kube/api";
import { createEmbeddedCluster } from "../../testbed/cluster/embedded";

/** Values that look a bit like manifest fields, so generated objects reach deep into validation. */
const fieldish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom("", "x", "Foo", "TCP", "None", "10.96.0.9", "http", "-", 0, 80, 70000, -1, true, null),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(
      fc.constantFrom(
        "name",
        "port",
        "ports",
        "containers",
        "image",
        "selector",
        "matchLabels",
        "protocol",
        "ipBlock",
        "cidr",
        "from",
        "to",
      ),
      tie("value"),
      { maxKeys: 4 },
    ),
  ),
})).value;

describe("bad input", () => {
  it("gets a KubeApiError, never a crash, and never breaks the controllers", async () => {
    const c = createEmbeddedCluster({ seed: 7 });
    const names = Object.keys(RESOURCES) as ResourceName[];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...names),
        fc.record(
          {
            metadata: fc.oneof(
              fc.constant({ name: "x" }),
              fc.record({
                name: fc.constantFrom("x", "y", "Bad", ""),
                labels: fieldish,
                ownerReferences: fieldish,
                finalizers: fieldish,
              }),
            ),
            spec: fieldish,
            status: fieldish,
            subsets: fieldish,
            endpoints: fieldish,
            ports: fieldish,
            addressType: fieldish,
          },
          { requiredKeys: ["metadata"] },
        ),
        fieldish,
        async (resource, body, patch) => {
          const r = RESOURCES[resource];
          const obj = { apiVersion: r.group ? `${r.group}/${r.version}` : r.version, kind: r.kind, ...body };
          for (const call of [
            () => c.create(resource, structuredClone(obj) as never),
            () => c.applyManifest(structuredClone(obj) as never),
            () => c.patch(resource, "x", "default", patch, "strategic"),
            () => c.patch(resource, "x", "default", patch, "json"),
            () => c.patchStatus(resource, "x", "default", patch),
          ]) {
            try {
              await call();
            } catch (e) {
              if (!(e instanceof KubeApiError)) throw e;
            }
          }
          await c.waitQuiet();
          expect(c.controllerFailures).toEqual([]);
        },
      ),
      { numRuns: 300, seed: 42 },
    );
    c.close();
  });
});
