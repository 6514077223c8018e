/**
 * The Contrail side of scenario files: `vnc` steps (config objects an operator prepares — a public network
 * and its floating-ip pool, a network for the `opencontrail.org/network` annotation, address groups, tags)
 * and the graph parts of `contrail` expectations (`of:` a Kubernetes object, `refs:` by fq_name glob).
 * Everything is checked against the VNC schema (types, parents, properties, refs) so a typo is a
 * `file:line` error before anything runs; property values are the config API's to judge (its 400 is the
 * step's error at the entry's line).
 *
 * Example: `vnc: [{create: {type: floating-ip-pool, parent: default-domain:admin:public, name: pool}}]`
 *   → `[{ op: "create", type: "floating-ip-pool", fqName: ["default-domain","admin","public","pool"],
 *        parentType: "virtual-network", fields: {}, refs: {}, line: 12 }]`.
 */
import { SCHEMA, type TypeInfo, typeInfo } from "../../fake-contrail-api/schema";
import type { OwnerRef, VncOp, VncRef } from "./types";

type Fail = (problem: string, sub?: (string | number)[]) => never;

const OPS = ["create", "read", "update", "delete"] as const;

/** One entry's object as the JSON Schema lets it through. */
interface RawVncObject {
  type: string;
  fqName?: string | string[];
  parent?: string | string[];
  name?: string;
  parentType?: string;
  fields?: Record<string, unknown>;
  refs?: Record<string, RawRef | RawRef[]>;
  of?: string;
}
type RawRef = string | { to: string | string[]; attr?: unknown };

export function parseVncOps(v: unknown, fail: Fail, lineAt: (sub: (string | number)[]) => number): VncOp[] {
  const list = Array.isArray(v) ? v : [v];
  return list.map((entry: Partial<Record<(typeof OPS)[number], RawVncObject>>, i) => {
    const at: (string | number)[] = Array.isArray(v) ? ["vnc", i] : ["vnc"];
    const op = OPS.find((o) => o in entry)!;
    const o = entry[op]!;
    const here = [...at, op];
    const where = `vnc ${op}`;
    const info = knownType(o.type, (m) => fail(`${where}: ${m}`, [...here, "type"]));
    let of: OwnerRef | undefined;
    if (o.of !== undefined) {
      if (op === "create")
        fail(`${where} ${o.type}: of: names an existing object; a create gives fqName`, [...here, "of"]);
      if (o.fqName !== undefined || o.parent !== undefined || o.name !== undefined)
        fail(`${where} ${o.type}: give either of, or fqName (or parent and name), not both`, [...here, "of"]);
      of = parseOwnerRef(o.of, (m) => fail(`${where} ${o.type}: ${m}`, [...here, "of"]));
    }
    const fqName = of ? [] : fqNameOf(o, (m) => fail(`${where} ${o.type}: ${m}`, here));
    const what = `${where} ${o.type} ${of ? `of ${o.of}` : fqName.join(":")}`;
    if ((op === "delete" || op === "read") && (o.fields !== undefined || o.refs !== undefined)) {
      fail(`${what}: a ${op} takes only type and fqName (or parent and name, or of)`, here);
    }
    if (op === "update" && o.fields === undefined && o.refs === undefined) {
      fail(`${what}: an update needs fields or refs to change`, here);
    }
    if (op !== "create" && o.parentType !== undefined)
      fail(`${what}: parentType goes with create only`, [...here, "parentType"]);
    const parentType =
      op === "create"
        ? parentTypeOf(info, fqName, o.parentType, (m, sub) => fail(`${what}: ${m}`, [...here, ...sub]))
        : undefined;
    const fields = (o.fields ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(fields)) {
      if (k in info.props) continue;
      const near = closest(k, Object.keys(info.props));
      const hint = /_refs$/.test(k)
        ? `; refs go under refs: (refs: {${k.replace(/_refs$/, "").replace(/_/g, "-")}: [<fq_name>]})`
        : near
          ? `; did you mean ${near}?`
          : `; ${info.type} has ${Object.keys(info.props).sort().join(", ")}`;
      fail(`${what}: ${info.type} has no property "${k}"${hint}`, [...here, "fields", k]);
    }
    const refs: Record<string, VncRef[]> = {};
    for (const [k, r] of Object.entries(o.refs ?? {})) {
      const target = refType(info.type, k, (m) => fail(`${what}: ${m}`, [...here, "refs", k]));
      const items = Array.isArray(r) ? r : [r];
      refs[target] = items.map((x) =>
        typeof x === "string"
          ? { to: splitFq(x) }
          : { to: splitFq(x.to), ...(x.attr !== undefined ? { attr: x.attr } : {}) },
      );
    }
    return {
      op,
      type: info.type,
      fqName,
      ...(of ? { of } : {}),
      ...(parentType ? { parentType } : {}),
      fields,
      refs,
      line: lineAt(here),
    };
  });
}

function knownType(type: string, fail: (m: string) => never): TypeInfo {
  const info = typeInfo(type);
  if (info) return info;
  const near = closest(type.replace(/_/g, "-"), [...SCHEMA.keys()]);
  return fail(`unknown Contrail type "${type}"${near ? ` (did you mean ${near}?)` : ""}`);
}

/** The candidate within a few typos of `word`, if any (edit distance ≤ 3). */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 4;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Either `fqName`, or `parent` + `name`. */
function fqNameOf(o: RawVncObject, fail: (m: string) => never): string[] {
  if (o.fqName !== undefined) {
    if (o.parent !== undefined || o.name !== undefined)
      fail("give either fqName, or parent and name, not both");
    return splitFq(o.fqName);
  }
  if (o.name === undefined) fail("needs fqName, or parent and name");
  if (o.parent === undefined) fail(`needs fqName, or a parent for name "${o.name}"`);
  return [...splitFq(o.parent), o.name];
}

export function splitFq(fq: string | string[]): string[] {
  // a run template (`${pool:default/web:80}`) stays whole: it is filled, and split, when the step runs
  return Array.isArray(fq) ? fq : fq.split(/:(?![^{}]*\})/);
}

/** The parent type a create sends: the one given, else the only one the type and the fq_name's length allow. */
function parentTypeOf(
  info: TypeInfo,
  fq: string[],
  given: string | undefined,
  fail: (m: string, sub: string[]) => never,
): string {
  const allowed = info.parents.filter((p) => (fq.length === 1 ? p === "config-root" : p !== "config-root"));
  if (given !== undefined) {
    if (!info.parents.includes(given))
      fail(`parentType ${given} is not a parent of ${info.type} (${info.parents.join(", ")})`, [
        "parentType",
      ]);
    if (!allowed.includes(given))
      fail(`an fq_name of ${fq.length} element(s) cannot sit under ${given}`, ["parentType"]);
    return given;
  }
  if (allowed.length === 1) return allowed[0]!;
  if (allowed.length === 0) {
    return fail(
      info.parents.includes("config-root")
        ? `${info.type} here is a top-level object: its fq_name has 1 element`
        : `${info.type} sits under ${info.parents.join(" or ")}: its fq_name needs the parent's fq_name first`,
      [],
    );
  }
  return fail(`${info.type} can sit under ${allowed.join(" or ")}: give parentType`, []);
}

/** A ref key as users write it (`virtual_network`, `virtual-network`, `virtual_network_refs`) → the target type. */
export function refType(type: string, key: string, fail: (m: string) => never): string {
  const target = key.replace(/_refs$/, "").replace(/_/g, "-");
  const info = typeInfo(type);
  if (!info) return target; // an unknown type is the config API's to report (a real cluster may have more)
  if (target in info.refs) return target;
  const has = Object.keys(info.refs).sort();
  return fail(`${type} has no refs to ${target} (its refs: ${has.join(", ") || "none"})`);
}

const KINDS = {
  pod: "Pod",
  service: "Service",
  ingress: "Ingress",
  namespace: "Namespace",
  node: "Node",
} as const;

/** `pod x/a`, `service x/s`, `ingress x/i`, `namespace x`, `node n` → the Kubernetes object a Contrail object stands for. */
export function parseOwnerRef(of: string, fail: (m: string) => never): OwnerRef {
  const [word, ref] = of.split(" ") as [keyof typeof KINDS, string];
  const kind = KINDS[word];
  const parts = ref.split("/");
  if (kind === "Pod" || kind === "Service" || kind === "Ingress") {
    if (parts.length !== 2 || !parts[0] || !parts[1])
      fail(`of: "${of}": a ${word} is named <namespace>/<name>`);
    return { kind, namespace: parts[0], name: parts[1]! };
  }
  if (parts.length !== 1) fail(`of: "${of}": a ${word} is named by its name alone`);
  return { kind, name: ref };
}
