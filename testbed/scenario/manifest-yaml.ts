/**
 * Manifest YAML read fast: a manifests file of 1,000 pods is ~1,300 documents, which the `yaml` library (what
 * every error message and the scenario itself are read with) composes in ~0.5 s, js-yaml in a tenth of that.
 * js-yaml reads them here with the same meaning — the YAML 1.2 core schema exactly as `yaml` resolves plain
 * scalars (so `0b1`, `-0x1F` or `2024-01-01` stay strings) — and each document's line is found from the text.
 * Only plain text takes this path: anything with anchors, aliases, tags, directives, `...` ends, complex or
 * null keys, `<<` or `__proto__` gets undefined, and so does anything js-yaml refuses; the caller then reads it
 * with `yaml`, which also writes the error message a bad manifest gets.
 */
import { FAILSAFE_SCHEMA, loadAll, Type } from "js-yaml";

/** The `yaml` library's core-schema tags (yaml/dist/schema/core), first match wins, as there. */
const CORE = FAILSAFE_SCHEMA.extend({
  implicit: [
    new Type("tag:yaml.org,2002:null", {
      kind: "scalar",
      resolve: (s: string) => /^(?:~|[Nn]ull|NULL)?$/.test(s),
      construct: () => null,
    }),
    new Type("tag:yaml.org,2002:bool", {
      kind: "scalar",
      resolve: (s: string) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
      construct: (s: string) => s[0] === "t" || s[0] === "T",
    }),
    new Type("tag:yaml.org,2002:int", {
      kind: "scalar",
      resolve: (s: string) => /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+)$/.test(s),
      construct: (s: string) =>
        s.startsWith("0o")
          ? Number.parseInt(s.substring(2), 8)
          : s.startsWith("0x")
            ? Number.parseInt(s.substring(2), 16)
            : Number.parseInt(s, 10),
    }),
    new Type("tag:yaml.org,2002:float", {
      kind: "scalar",
      resolve: (s: string) =>
        /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s) ||
        /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s) ||
        /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s),
      construct: (s: string) =>
        /^[-+]?\.(?:inf|Inf|INF)$/.test(s)
          ? s[0] === "-"
            ? Number.NEGATIVE_INFINITY
            : Number.POSITIVE_INFINITY
          : /^\.(?:nan|NaN|NAN)$/.test(s)
            ? Number.NaN
            : Number.parseFloat(s),
    }),
  ],
});

/**
 * What this path leaves to `yaml`: anchors, aliases and tags (`&`, `*`, `!` anywhere, even quoted), directives,
 * document ends, complex keys, null or empty keys (which `yaml` names "" and js-yaml "null"), merge keys, `__proto__`,
 * CR line ends and a byte-order mark (the line finding below counts plain `\n` lines).
 */
const UNUSUAL =
  /[&*!\r\uFEFF]|^%|^\.\.\.(?:\s|$)|^[ \t-]*\?(?:\s|$)|^[ \t-]*(?:~|null|Null|NULL)?[ \t]*:(?:\s|$)|[{,][ \t]*(?:~|null|Null|NULL)?[ \t]*:(?:[\s,}\]]|$)|<<|__proto__/m;
const DOCUMENT_START = /^---(?:[ \t]|$)/;
const BLANK_OR_COMMENT = /^[ \t]*(?:#.*)?$/;

/**
 * The documents of `text` as values, each with the 1-based line its content starts on (its first key), empty
 * documents left out; undefined when `text` is not plain enough for this path or js-yaml refuses it.
 */
export function plainYamlDocuments(text: string): { value: unknown; line: number }[] | undefined {
  if (UNUSUAL.test(text)) return undefined;
  // where each document's content starts: the first line after its `---` (or the text's start) that says
  // something; a `---` line with content after the marker starts there
  const starts: number[] = [];
  let open = true;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (DOCUMENT_START.test(l)) {
      open = true;
      if (!BLANK_OR_COMMENT.test(l.slice(3))) {
        starts.push(i + 1);
        open = false;
      }
      continue;
    }
    if (open && !BLANK_OR_COMMENT.test(l)) {
      starts.push(i + 1);
      open = false;
    }
  }
  let values: unknown[];
  try {
    values = loadAll(text, undefined, { schema: CORE });
  } catch {
    return undefined;
  }
  const out: { value: unknown; line: number }[] = [];
  let next = 0;
  for (const value of values) {
    if (value === null || value === undefined) continue;
    const line = starts[next++];
    if (line === undefined) return undefined;
    out.push({ value, line });
  }
  // every document with content was matched to a start (a document reading as null, say `~`, was not)
  return next === starts.length ? out : undefined;
}
