/**
 * Fuzz: thousands of generated hostile requests against a real API server on loopback — field names that are
 * built-in object properties (`__proto__`, `constructor`, `toString`…), deep nesting, wrong types, junk ids,
 * queries and methods on every route family. The server must answer every one with a status below 500 (a
 * reason for each 4xx) and stay up: a user's bad input is their error to fix, never an internal error.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SCHEMA } from "../../fake-contrail-api/schema";
import { useApiServer } from "../support/api";
import { client, FQ } from "./helpers";

const api = useApiServer();
const c = client(() => api.url);

/** Keys that exist on every JavaScript object, plus ordinary schema field names to reach deeper code. */
const HOSTILE_KEYS = [
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "__defineGetter__",
  "__lookupSetter__",
  "toLocaleString",
  "prototype",
  "length",
];
const FIELD_KEYS = [
  "fq_name",
  "uuid",
  "parent_type",
  "parent_uuid",
  "name",
  "display_name",
  "id_perms",
  "perms2",
  "annotations",
  "virtual_network_properties",
  "network_ipam_refs",
  "tag_refs",
  "plugin_tuning",
  "ipam_subnets",
  "key_value_pair",
  "permissions",
  "share",
  "attr",
  "to",
  "type",
  "operation",
  "ref-type",
  "key",
  "value",
  "fields",
  "obj_uuids",
  "filters",
];
const TYPES = ["virtual-network", "network-ipam", "project", "global-system-config", "tag", "instance-ip"];

const key = fc.oneof(
  fc.constantFrom(...HOSTILE_KEYS),
  fc.constantFrom(...FIELD_KEYS),
  fc.string({ maxLength: 8 }),
);
const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.constantFrom(...HOSTILE_KEYS),
);
/** Hostile JSON values: objects keyed by built-in property names, modest depth. */
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("v"), { maxLength: 3 }),
    fc.dictionary(key, tie("v"), { maxKeys: 4 }),
  ),
})).v;

/** JSON text nested `depth` levels (objects or lists), built as text so it can exceed any parser's taste. */
const deepText = fc
  .record({
    depth: fc.integer({ min: 50, max: 20_000 }),
    list: fc.boolean(),
    k: fc.constantFrom(...HOSTILE_KEYS),
  })
  .map(({ depth, list, k }) =>
    list ? `${"[".repeat(depth)}1${"]".repeat(depth)}` : `${`{"${k}":`.repeat(depth)}1${"}".repeat(depth)}`,
  );

/** Raw JSON text with a `__proto__`/built-in key injected (JSON.stringify of a built object drops __proto__). */
const injected = fc
  .record({ k: fc.constantFrom(...HOSTILE_KEYS), v: value, type: fc.constantFrom(...TYPES), n: fc.nat(99) })
  .map(
    ({ k, v, type, n }) =>
      `{"${type}": {"fq_name": ${JSON.stringify(FQ(`fz-${n}`))}, "${k}": ${JSON.stringify(v) ?? "null"}}}`,
  );

const bodyText = fc.oneof(
  value.map((v) => JSON.stringify(v) ?? "null"),
  fc
    .record({ type: fc.constantFrom(...TYPES), inner: value })
    .map(({ type, inner }) => JSON.stringify({ [type]: inner })),
  fc
    .record({ type: fc.constantFrom(...TYPES), inner: fc.dictionary(key, value, { maxKeys: 5 }) })
    .map(({ type, inner }) => JSON.stringify({ [type]: { fq_name: FQ("fz"), ...inner } })),
  injected,
  deepText.map((d) => `{"virtual-network": {"fq_name": ${JSON.stringify(FQ("deep"))}, "annotations": ${d}}}`),
  deepText.map((d) => `{"global-system-config": {"fq_name": ["deep"], "plugin_tuning": ${d}}}`),
  deepText,
  fc.string({ maxLength: 30 }),
);

const idPart = fc.oneof(
  fc.uuid().map((u) => u.toLowerCase()),
  fc.constantFrom(...HOSTILE_KEYS),
  fc.string({ maxLength: 10 }).map(encodeURIComponent),
);
const queryPart = fc
  .dictionary(
    fc.oneof(key, fc.constantFrom("detail", "count", "parent_id", "page_limit", "since")),
    fc.string({ maxLength: 12 }),
    { maxKeys: 3 },
  )
  .map((q) => new URLSearchParams(q).toString());

const ACTIONS = [
  "/fqname-to-id",
  "/id-to-fqname",
  "/ref-update",
  "/ref-relax-for-delete",
  "/prop-collection-get",
  "/prop-collection-update",
  "/list-bulk-collection",
  "/set-tag",
  "/useragent-kv",
  "/obj-perms",
  "/chown",
  "/chmod",
];
const path = fc.oneof(
  fc.constantFrom(...[...SCHEMA.values()].map((i) => `/${i.plural}`)),
  fc
    .record({ type: fc.constantFrom(...TYPES, ...HOSTILE_KEYS), id: idPart })
    .map(({ type, id }) => `/${type}/${id}`),
  fc.constantFrom(...ACTIONS),
  fc.constantFrom(...HOSTILE_KEYS).map((k) => `/${k}`),
);

const request = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
  path,
  query: queryPart,
  body: bodyText,
});

describe("fuzz: hostile requests", () => {
  it("answers thousands of generated hostile requests with no 5xx", async () => {
    // Objects for ids to hit: hostile updates and deletes then reach the real update/delete code.
    const vn = await c.create("virtual-network", { fq_name: FQ("fuzz-target") });
    const fiveHundreds: string[] = [];
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(request, fc.boolean(), async (r, onTarget) => {
        const p = onTarget && r.method !== "POST" ? `/virtual-network/${vn}` : r.path;
        const url = `${api.url}${p}${r.query ? `?${r.query}` : ""}`;
        const res = await fetch(url, {
          method: r.method,
          headers: { "content-type": "application/json" },
          body: r.method === "GET" ? undefined : r.body,
        });
        const text = await res.text();
        sent++;
        if (res.status >= 500) fiveHundreds.push(`${r.method} ${p} → ${res.status} ${text.slice(0, 200)}`);
        if (res.status >= 400) expect(text.length).toBeGreaterThan(0);
      }),
      { numRuns: 2500, seed: Number(process.env.FUZZ_SEED ?? 18) },
    );
    expect(sent).toBe(2500);
    expect(fiveHundreds).toEqual([]);
    // Still serving normal requests afterwards.
    expect((await c.get("/virtual-networks?count=true")).status).toBe(200);
  }, 60_000);
});
