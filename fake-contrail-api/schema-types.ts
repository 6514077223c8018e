/**
 * A tiny property-type language for the VNC schema: each builder returns a runtime description (used to
 * validate request bodies) that also carries its TypeScript type, so the schema is written once as data.
 * Example: `const p = obj({ mtu: int() }); type P = Infer<typeof p>; validateProp(p, {mtu: 1500}, "props")`.
 */

export type Spec =
  | { kind: "string"; enum?: readonly string[] }
  | { kind: "int" }
  | { kind: "number" }
  | { kind: "bool" }
  | { kind: "any" }
  | { kind: "list"; of: Spec }
  | { kind: "object"; fields: Record<string, Spec>; open: boolean };

/** A property type: the runtime spec plus a phantom TypeScript type. */
export interface Prop<T> {
  readonly spec: Spec;
  readonly __type?: T;
}

export type Infer<P> = P extends Prop<infer T> ? T : never;

type Fields = Record<string, Prop<unknown>>;
type InferFields<F extends Fields> = { [K in keyof F]?: Infer<F[K]> };

export function str(): Prop<string>;
export function str<E extends string>(...values: E[]): Prop<E>;
export function str(...values: string[]): Prop<string> {
  return { spec: values.length ? { kind: "string", enum: values } : { kind: "string" } };
}
export const int = (): Prop<number> => ({ spec: { kind: "int" } });
export const num = (): Prop<number> => ({ spec: { kind: "number" } });
export const bool = (): Prop<boolean> => ({ spec: { kind: "bool" } });
/** Deliberately unmodelled (a faithful subtree we do not interpret). */
export const any = (): Prop<unknown> => ({ spec: { kind: "any" } });
export const list = <T>(of: Prop<T>): Prop<T[]> => ({ spec: { kind: "list", of: of.spec } });
/** A closed object: unknown keys are rejected. */
export const obj = <F extends Fields>(fields: F): Prop<InferFields<F>> => ({
  spec: { kind: "object", fields: specs(fields), open: false },
});
/** An object whose listed keys are checked and other keys are kept as they are. */
export const openObj = <F extends Fields>(fields: F): Prop<InferFields<F> & Record<string, unknown>> => ({
  spec: { kind: "object", fields: specs(fields), open: true },
});

function specs(fields: Fields): Record<string, Spec> {
  const out: Record<string, Spec> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v.spec;
  return out;
}

/** Returns a human-readable reason when `value` does not fit `spec`, else undefined. `null` means "unset". */
export function checkSpec(spec: Spec, value: unknown, path: string): string | undefined {
  if (value === null || value === undefined) return undefined;
  switch (spec.kind) {
    case "any":
      return undefined;
    case "string":
      if (typeof value !== "string") return `${path}: expected string, got ${describe(value)}`;
      if (spec.enum && !spec.enum.includes(value))
        return `${path}: "${value}" is not one of ${spec.enum.map((e) => JSON.stringify(e)).join(", ")}`;
      return undefined;
    case "int":
      return Number.isInteger(value) ? undefined : `${path}: expected integer, got ${describe(value)}`;
    case "number":
      return typeof value === "number" && Number.isFinite(value)
        ? undefined
        : `${path}: expected number, got ${describe(value)}`;
    case "bool":
      return typeof value === "boolean" ? undefined : `${path}: expected boolean, got ${describe(value)}`;
    case "list": {
      if (!Array.isArray(value)) return `${path}: expected list, got ${describe(value)}`;
      for (let i = 0; i < value.length; i++) {
        const r = checkSpec(spec.of, value[i], `${path}[${i}]`);
        if (r) return r;
      }
      return undefined;
    }
    case "object": {
      if (typeof value !== "object" || Array.isArray(value))
        return `${path}: expected object, got ${describe(value)}`;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        // Own keys only: "constructor" or "toString" must not find Object.prototype's members.
        const f = Object.hasOwn(spec.fields, k) ? spec.fields[k] : undefined;
        if (!f) {
          if (spec.open) continue;
          return `${path}: unknown field "${k}"`;
        }
        const r = checkSpec(f, v, `${path}.${k}`);
        if (r) return r;
      }
      return undefined;
    }
  }
}

/** Deepest nesting a request body may have; the real schema's deepest property is far shallower. */
export const MAX_BODY_DEPTH = 64;

/**
 * Checks a parsed request body's shape before anything interprets it, without recursion (so a hostile body
 * cannot overflow the stack): nesting deeper than MAX_BODY_DEPTH, and a `__proto__` key, which JavaScript code
 * would take for the object's prototype. Returns the reason, or undefined when the body is fine.
 */
export function bodyShapeProblem(body: unknown): string | undefined {
  const stack: Array<[value: unknown, depth: number, path: string]> = [[body, 0, "body"]];
  while (stack.length > 0) {
    const [v, depth, path] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth >= MAX_BODY_DEPTH) return `${path.slice(0, 60)}…: nested deeper than ${MAX_BODY_DEPTH} levels`;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push([v[i], depth + 1, `${path}[${i}]`]);
      continue;
    }
    for (const [k, x] of Object.entries(v)) {
      if (k === "__proto__") return `${path}: field name "__proto__" is not allowed`;
      stack.push([x, depth + 1, `${path}.${k}`]);
    }
  }
  return undefined;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "list";
  return typeof v === "string" ? `string "${v.slice(0, 40)}"` : typeof v;
}
