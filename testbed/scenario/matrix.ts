/**
 * The upstream NetworkPolicy conformance notation (kubernetes test/e2e/network/netpol): a header row of
 * targets, then one row per source; `.` = connected, `X` = blocked. A pod to itself is never judged.
 *
 * Example:
 *   "      x/a  x/b\n x/a  .    X\n x/b  .    ."
 */
import type { TruthTable } from "./types";

/** A source: a pod, or a host outside the overlay (`host:<fabric host>`, `external:<external host>`). */
const SOURCE = /^([^/\s:]+\/[^/\s]+|(host|external):[^/\s]+)$/;
/**
 * A target: a source form, a Service's address (`service:` ClusterIP, `lb:` load-balancer address), or a DNS
 * name (`dns:web.default.svc.cluster.local`, resolved by each source's own query).
 */
const TARGET = /^([^/\s:]+\/[^/\s]+|(host|external|dns):[^/\s]+|(service|lb):[^/\s]+\/[^/\s]+)$/;

export function parseTruthTable(text: string): TruthTable {
  const rows = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.split(/\s+/));
  if (rows.length < 2)
    throw new Error("a truth table needs a header row of targets and at least one source row");
  const targets = rows[0]!;
  const seen = new Set<string>();
  for (const t of targets) {
    if (!TARGET.test(t))
      throw new Error(
        `header cell "${t}" is not <namespace>/<pod>, host:<name>, external:<name>, service:<ns>/<name>, lb:<ns>/<name> or dns:<name>`,
      );
    if (seen.has(t)) throw new Error(`target ${t} appears twice in the header`);
    seen.add(t);
  }
  return {
    targets,
    rows: rows.slice(1).map((cells, i) => {
      const [from, ...marks] = cells;
      if (!from || !SOURCE.test(from))
        throw new Error(
          `row ${i + 1}: first cell "${from}" is not <namespace>/<pod>, host:<name> or external:<name>`,
        );
      if (marks.length !== targets.length) {
        throw new Error(`row ${from}: ${marks.length} cells for ${targets.length} targets`);
      }
      return {
        from,
        cells: marks.map((m, j) => {
          if (m !== "." && m !== "X")
            throw new Error(`row ${from}, column ${targets[j]}: "${m}" is neither "." nor "X"`);
          return m === ".";
        }),
      };
    }),
  };
}

/** Render observed results in the same notation, marking cells that differ from the expectation with `*`. */
export function formatTruthTable(
  expected: TruthTable,
  observed: (from: string, to: string, row: number, column: number) => boolean | undefined,
): string {
  const width =
    Math.max(...expected.targets.map((t) => t.length), ...expected.rows.map((r) => r.from.length)) + 1;
  const pad = (s: string) => s.padEnd(width + 1);
  // six cell texts, padded once (a 1,000-pod table has a million cells)
  const cell = {
    self: pad("-"),
    unknown: pad("?"),
    ok: pad("."),
    no: pad("X"),
    okDiff: pad(".*"),
    noDiff: pad("X*"),
  };
  const out = [pad("") + expected.targets.map(pad).join("")];
  for (const [i, row] of expected.rows.entries()) {
    let line = pad(row.from);
    for (const [j, to] of expected.targets.entries()) {
      if (to === row.from) line += cell.self;
      else {
        const got = observed(row.from, to, i, j);
        if (got === undefined) line += cell.unknown;
        else if (got === row.cells[j]) line += got ? cell.ok : cell.no;
        else line += got ? cell.okDiff : cell.noDiff;
      }
    }
    out.push(line);
  }
  return out.join("\n");
}
