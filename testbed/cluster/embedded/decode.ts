/**
 * The decoding step of kube-apiserver: the request body is unmarshalled into the kind's Go struct before any
 * defaulting or validation, so a value of the wrong JSON type is a 400 in encoding/json's words, and fields the
 * struct does not have are dropped — or, with fieldValidation=Strict (kubectl's default since 1.27), a 400
 * listing them; with Warn (the server's default) each becomes a warning.
 *
 * Mirrors sigs.k8s.io/json's decoder: the first type error wins (decoding goes on, later ones are dropped),
 * errors of types with their own UnmarshalJSON (IntOrString, Quantity, Time) stop decoding at once, type
 * errors name the innermost Go struct and the field path without indices
 * (`Go struct field ContainerPort.spec.containers.ports.containerPort of type int32`), unknown fields carry
 * indices and map keys (`unknown field "spec.containers[0].imagePullPolicyy"`).
 *
 * Example: decode("deployments", { ..., spec: { replicas: "two" } }) -> { typeError: "json: cannot unmarshal
 *          string into Go struct field DeploymentSpec.spec.replicas of type int32", ... }
 */
import type { FieldValidation, ResourceName } from "../../../controller/kube/api";
import { type FieldType, type StructType, schemaFor } from "./schema";

// biome-ignore lint/suspicious/noExplicitAny: request bodies are untyped JSON
type Any = any;

export type { FieldValidation };

export interface DecodeResult {
  /** The object as the Go struct would hold it: unknown fields and non-JSON numbers (NaN) left out. */
  object: Any;
  /** The first type error (`json: cannot unmarshal ...`), which fails the request whatever the mode. */
  typeError?: string;
  /** The value that caused it and the type it should have had. */
  typeErrorAt?: { value: unknown; type: FieldType };
  /** Unknown fields (`unknown field "spec.foo"`), in document order, at most 100. */
  strict: string[];
}

const QUANTITY_FORMAT =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const RFC3339 = "2006-01-02T15:04:05Z07:00";

/** An error of a custom UnmarshalJSON: ends decoding at once. */
class HardError extends Error {
  constructor(
    message: string,
    readonly at: { value: unknown; type: FieldType },
  ) {
    super(message);
  }
}

interface Context {
  /** Innermost Go struct of the error context and the JSON field names leading to the value (no indices). */
  struct: string;
  fields: string[];
  /** The strict decoder's path: field names, map keys and [indices]. */
  path: string;
}

/** What JSON calls a value, as Go's UnmarshalTypeError does. */
function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return "number";
  if (typeof v === "string") return "string";
  return "object";
}

function typeErrorText(value: string, ctx: Context, go: string): string {
  if (ctx.fields.length === 0) return `json: cannot unmarshal ${value} into Go value of type ${go}`;
  return `json: cannot unmarshal ${value} into Go struct field ${ctx.struct}.${ctx.fields.join(".")} of type ${go}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** time.Parse(time.RFC3339, s) errors for the usual mistakes; the layout element is where parsing stopped. */
function parseTimeError(s: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(s);
  if (m) {
    const [, , mo, d, h, mi, sec] = m.map(Number);
    if (mo < 1 || mo > 12) return `parsing time ${JSON.stringify(s)}: month out of range`;
    if (d < 1 || d > 31) return `parsing time ${JSON.stringify(s)}: day out of range`;
    if (h > 23) return `parsing time ${JSON.stringify(s)}: hour out of range`;
    if (mi > 59) return `parsing time ${JSON.stringify(s)}: minute out of range`;
    if (sec > 59) return `parsing time ${JSON.stringify(s)}: second out of range`;
    return undefined;
  }
  // walk the layout's elements to find the first one the value does not match
  const elems: [string, RegExp][] = [
    ["2006", /^\d{4}/],
    ["-", /^-/],
    ["01", /^\d{2}/],
    ["-", /^-/],
    ["02", /^\d{2}/],
    ["T", /^[Tt]/],
    ["15", /^\d{2}/],
    [":", /^:/],
    ["04", /^\d{2}/],
    [":", /^:/],
    ["05", /^\d{2}(\.\d+)?/],
    ["Z07:00", /^([Zz]|[+-]\d{2}:\d{2})/],
  ];
  let rest = s;
  for (const [layout, re] of elems) {
    const hit = re.exec(rest);
    if (!hit) {
      return `parsing time ${JSON.stringify(s)} as ${JSON.stringify(RFC3339)}: cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(layout)}`;
    }
    rest = rest.slice(hit[0].length);
  }
  return `parsing time ${JSON.stringify(s)}: extra text: ${JSON.stringify(rest)}`;
}

/** resource.ParseQuantity's verdict on a quantity's text. */
function quantityError(text: string): string | undefined {
  const m = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/.exec(text.trim());
  if (!m) return QUANTITY_FORMAT;
  if ((m[1].match(/\./g) ?? []).length > 1) return "unable to parse numeric part of quantity";
  const suffix = m[2];
  const ok = /^(|[numkMGTPE]|m|Ki|Mi|Gi|Ti|Pi|Ei|[eE][-+]?\d+)$/.test(suffix);
  return ok ? undefined : "unable to parse quantity's suffix";
}

class Decoder {
  typeError?: string;
  typeErrorAt?: { value: unknown; type: FieldType };
  readonly strict: string[] = [];
  private readonly seen = new Set<string>();

  /** Go keeps the first type error and decodes on. */
  private mismatch(v: unknown, t: FieldType, ctx: Context): undefined {
    if (this.typeError === undefined) {
      this.typeError = typeErrorText(jsonKind(v), ctx, t.go);
      this.typeErrorAt = { value: v, type: t };
    }
    return undefined;
  }

  private unknown(path: string): void {
    const msg = `unknown field ${JSON.stringify(path)}`;
    if (this.strict.length >= 100 || this.seen.has(msg)) return;
    this.seen.add(msg);
    this.strict.push(msg);
  }

  /** The decoded value, or undefined when it is left out (as the Go struct would not hold it). */
  value(v: unknown, t: FieldType, ctx: Context): unknown {
    if (v instanceof Date) v = v.toJSON(); // what JSON.stringify would send
    if (v === null) return null;
    // not JSON: the wire would leave it out (undefined, functions) or carry null (NaN, Infinity)
    if (v === undefined || typeof v === "function" || typeof v === "symbol") return undefined;
    if (typeof v === "number" && !Number.isFinite(v)) return undefined;
    switch (t.kind) {
      case "raw":
        return structuredClone(v);
      case "string":
        if (typeof v === "string") return v;
        return this.mismatch(v, t, ctx);
      case "bool":
        if (typeof v === "boolean") return v;
        return this.mismatch(v, t, ctx);
      case "float":
        if (typeof v === "number") return v;
        return this.mismatch(v, t, ctx);
      case "int": {
        if (typeof v !== "number") {
          return this.mismatch(v, t, ctx);
        }
        const limit = t.bits === 32 ? 2 ** 31 : 2 ** 63;
        if (!Number.isInteger(v) || v >= limit || v < -limit) {
          this.mismatch(v, t, ctx);
          if (this.typeErrorAt?.value === v) this.typeError = typeErrorText(`number ${String(v)}`, ctx, t.go);
          return undefined;
        }
        return v;
      }
      case "intOrString":
        if (typeof v === "string") return v;
        if (typeof v === "number" && Number.isInteger(v) && v < 2 ** 31 && v >= -(2 ** 31)) return v;
        throw new HardError(
          typeErrorText(typeof v === "number" ? `number ${String(v)}` : jsonKind(v), ctx, "int32"),
          { value: v, type: t },
        );
      case "quantity": {
        const text = typeof v === "string" || typeof v === "number" ? String(v) : JSON.stringify(v);
        const err = quantityError(text);
        if (err) throw new HardError(err, { value: v, type: t });
        return v;
      }
      case "time": {
        if (typeof v !== "string")
          throw new HardError(typeErrorText(jsonKind(v), ctx, "string"), { value: v, type: t });
        const err = parseTimeError(v);
        if (err) throw new HardError(err, { value: v, type: t });
        return v;
      }
      case "array": {
        if (!Array.isArray(v)) {
          return this.mismatch(v, t, ctx);
        }
        return v.map((x, i) => this.value(x, t.elem, { ...ctx, path: `${ctx.path}[${i}]` }) ?? null);
      }
      case "map": {
        if (!isObject(v)) {
          return this.mismatch(v, t, ctx);
        }
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) {
          const d = this.value(x, t.elem, { ...ctx, path: ctx.path ? `${ctx.path}.${k}` : k });
          if (d !== undefined) out[k] = d;
        }
        return out;
      }
      case "struct": {
        if (!isObject(v)) {
          return this.mismatch(v, t, ctx);
        }
        return this.struct(v, t.struct, ctx);
      }
    }
  }

  struct(v: Record<string, unknown>, s: StructType, ctx: Context): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const path = ctx.path ? `${ctx.path}.${k}` : k;
      const ft = s.fields.get(k);
      if (!ft) {
        this.unknown(path);
        continue;
      }
      const d = this.value(x, ft, { struct: s.name, fields: [...ctx.fields, k], path });
      if (d !== undefined) out[k] = d;
    }
    return out;
  }
}

/**
 * Decode a request body (or a patched object) of `resource` as the API server would. Throws nothing: the
 * caller turns `typeError` and, under Strict, `strict` into its error.
 */
export function decode(resource: ResourceName, body: Record<string, unknown>): DecodeResult {
  const d = new Decoder();
  const s = schemaFor(resource);
  try {
    const object = d.struct(body, s, { struct: s.name, fields: [], path: "" });
    return {
      object,
      typeError: d.typeError,
      typeErrorAt: d.typeErrorAt,
      strict: d.typeError ? [] : d.strict,
    };
  } catch (e) {
    if (!(e instanceof HardError)) throw e;
    return { object: body, typeError: e.message, typeErrorAt: e.at, strict: [] };
  }
}
