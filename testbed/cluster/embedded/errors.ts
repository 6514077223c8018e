/**
 * API errors worded like the real kube-apiserver's Status responses, so code and people that read the
 * embedded cluster's errors see the same text a real cluster prints.
 *
 * Example: notFound("pods", "web") -> KubeApiError 404 NotFound `pods "web" not found`
 */
import { KubeApiError, RESOURCES, type ResourceName } from "../../../controller/kube/api";

/** `pods`, `deployments.apps`, `networkpolicies.networking.k8s.io`: how the API names a resource in errors. */
export function qualifiedResource(resource: ResourceName): string {
  const r = RESOURCES[resource];
  return r.group ? `${resource}.${r.group}` : resource;
}

export function notFound(resource: ResourceName, name: string): KubeApiError {
  return new KubeApiError(404, "NotFound", `${qualifiedResource(resource)} "${name}" not found`);
}

export function alreadyExists(resource: ResourceName, name: string): KubeApiError {
  return new KubeApiError(409, "AlreadyExists", `${qualifiedResource(resource)} "${name}" already exists`);
}

export function conflict(resource: ResourceName, name: string): KubeApiError {
  return new KubeApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(resource)} "${name}": the object has been modified; ` +
      "please apply your changes to the latest version and try again",
  );
}

export function badRequest(message: string): KubeApiError {
  return new KubeApiError(400, "BadRequest", message);
}

export function forbidden(resource: ResourceName, name: string, why: string): KubeApiError {
  return new KubeApiError(403, "Forbidden", `${qualifiedResource(resource)} "${name}" is forbidden: ${why}`);
}

/** A watch from a version older than the retained history (the real reason is "Expired", HTTP 410 Gone). */
export function expired(requested: number, oldest: number): KubeApiError {
  return new KubeApiError(410, "Expired", `too old resource version: ${requested} (${oldest})`);
}

/** One field problem, rendered like k8s.io/apimachinery's field.Error. */
export interface FieldError {
  path: string;
  kind: "Required" | "Invalid" | "NotSupported" | "Duplicate" | "Forbidden" | "TooLong";
  value?: unknown;
  /** The value already rendered the Go way (a struct dump), printed as is. */
  rawValue?: string;
  detail?: string;
  supported?: string[];
}

/** Go's %v / %q rendering of a value inside an error message. */
function goValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[]string{${v.map((x) => JSON.stringify(String(x))).join(", ")}}`;
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${JSON.stringify(k)}:${JSON.stringify(String(x))}`);
    return `map[string]string{${entries.join(", ")}}`;
  }
  return String(v);
}

export function formatFieldError(e: FieldError): string {
  switch (e.kind) {
    case "Required":
      return `${e.path}: Required value${e.detail ? `: ${e.detail}` : ""}`;
    case "Invalid":
      return `${e.path}: Invalid value: ${e.rawValue ?? goValue(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
    case "NotSupported":
      return `${e.path}: Unsupported value: ${goValue(e.value)}: supported values: ${(e.supported ?? [])
        .map((s) => JSON.stringify(s))
        .join(", ")}`;
    case "Duplicate":
      return `${e.path}: Duplicate value: ${e.rawValue ?? goValue(e.value)}`;
    case "Forbidden":
      return `${e.path}: Forbidden${e.detail ? `: ${e.detail}` : ""}`;
    case "TooLong":
      return `${e.path}: Too long: ${e.detail ?? ""}`;
  }
}

/** 422 Invalid: `Pod "x" is invalid: spec.containers: Required value`, several errors in brackets. */
export function invalid(kind: string, name: string, errs: FieldError[]): KubeApiError {
  const parts = errs.map(formatFieldError);
  const body = parts.length === 1 ? parts[0] : `[${parts.join(", ")}]`;
  const err = new KubeApiError(422, "Invalid", `${kind} "${name}" is invalid: ${body}`);
  return Object.assign(err, { causes: errs });
}
