/**
 * The fast manifest reader (testbed/scenario/manifest-yaml.ts) must read every text it takes exactly as the
 * `yaml` library does — the same values and the same line for each document — and leave to `yaml` what it
 * cannot read the same way. Held on the shipped scenarios' manifests and on random documents.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineCounter, parseAllDocuments, parseDocument, stringify } from "yaml";
import { plainYamlDocuments } from "../../testbed/scenario/manifest-yaml";

/** What `yaml` reads: undefined when it reports an error (the caller's error path then). */
function reference(text: string): { value: unknown; line: number }[] | undefined {
  const lc = new LineCounter();
  const out: { value: unknown; line: number }[] = [];
  for (const d of parseAllDocuments(text, { lineCounter: lc })) {
    if (d.errors.length > 0) return undefined;
    const value = d.toJS();
    if (value === null || value === undefined) continue;
    out.push({ value, line: lc.linePos((d.contents as { range: number[] }).range[0]!).line });
  }
  return out;
}

function agrees(text: string): boolean {
  const fast = plainYamlDocuments(text);
  if (fast === undefined) return false;
  expect(fast, text).toEqual(reference(text));
  return true;
}

const ROOT = new URL("../..", import.meta.url).pathname;

describe("manifest YAML read fast", () => {
  it("reads the shipped scenarios' manifests as yaml does", () => {
    const texts: string[] = [];
    const dir = join(ROOT, "scenarios/manifests");
    for (const f of readdirSync(dir)) texts.push(readFileSync(join(dir, f), "utf8"));
    for (const f of readdirSync(join(ROOT, "scenarios")).filter((f) => f.endsWith(".yaml"))) {
      const steps = parseDocument(readFileSync(join(ROOT, "scenarios", f), "utf8")).toJS()?.steps ?? [];
      for (const s of steps) if (typeof s?.apply === "string") texts.push(s.apply);
    }
    expect(texts.length).toBeGreaterThan(20);
    const taken = texts.filter(agrees).length;
    expect(taken).toBeGreaterThan(texts.length / 2);
  });

  it("reads what it takes as yaml does: scalars of every core-schema form, comments, blank and empty documents", () => {
    const scalar = fc.oneof(
      fc.constantFrom(
        "0b101",
        "-0x1F",
        "0x1F",
        "0o17",
        "017",
        "+12",
        "-0",
        "1e3",
        ".5",
        "1.",
        "-.inf",
        ".NaN",
        "~",
        "null",
        "Null",
        "TRUE",
        "false",
        "yes",
        "no",
        "2024-01-01",
        "1_000",
        "12:30",
        "0.0",
        "'quoted'",
        '"a\\tb"',
        "'0x10'",
        "a b",
        "x # comment",
        "#",
        "-",
        "- a",
        "[a, b]",
        "{a: 1}",
        "|\n  block\n  text\n",
        ">-\n  folded\n  text\n",
      ),
      fc.string({ maxLength: 8 }),
      fc.integer(),
      fc.double(),
    );
    const doc = fc.dictionary(
      fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/),
      fc.oneof(
        scalar,
        fc.array(scalar, { maxLength: 3 }),
        fc.dictionary(fc.stringMatching(/^[a-z]{1,4}$/), scalar, { maxKeys: 3 }),
      ),
      { minKeys: 1, maxKeys: 5 },
    );
    const text = fc
      .array(
        fc.record({
          body: fc.oneof(
            doc.map((d) => stringify(d)),
            fc.constantFrom("", "# only a comment\n", "\n\n"),
          ),
          lead: fc.constantFrom("", "# leading comment\n", "\n", "  \n# c\n"),
          marker: fc.constantFrom("---\n", "--- # c\n", "---\n\n"),
        }),
        { minLength: 1, maxLength: 5 },
      )
      .map((docs) =>
        docs.map((d, i) => (i === 0 && d.marker === "---\n" ? "" : d.marker) + d.lead + d.body).join(""),
      );
    let taken = 0;
    fc.assert(
      fc.property(text, (t) => {
        if (reference(t) === undefined) return;
        if (agrees(t)) taken++;
      }),
      { numRuns: 400 },
    );
    expect(taken).toBeGreaterThan(100);
  });

  it("leaves to yaml what it would read differently or cannot place", () => {
    for (const t of [
      "a: &x 1\nb: *x\n",
      "a: !!str 1\n",
      "%YAML 1.2\n---\na: 1\n",
      "a: 1\n...\n",
      "? [a, b]\n: c\n",
      "~: 1\n",
      ": 1\n",
      "a: {~: 1}\n",
      "a: {b: 1, null: 2}\n",
      "a: {: 1}\n",
      "<<: {a: 1}\n",
      "__proto__: {a: 1}\n",
      "a: 1\r\nb: 2\r\n",
      "~\n---\na: 1\n",
      "a: [unclosed\n",
      "a: 1\na: 2\n",
    ])
      expect(plainYamlDocuments(t), t).toBeUndefined();
  });
});
