/**
 * The three patch flavours of the Kubernetes API, plus the three-way patch `kubectl apply` computes:
 * JSON merge patch (RFC 7386), strategic merge patch (lists of containers, ports, conditions… merged by
 * their key, `$patch` directives) and JSON patch (RFC 6902). Pure functions over plain JSON values.
 *
 * Example: strategicMergePatch(pod, { spec: { containers: [{ name: "a", image: "v2" }] } }, "pods")
 *          changes container a's image and keeps the other containers.
 */
import { KubeApiError, type ResourceName } from "../../../controller/kube/api";
import { badRequest } from "./errors";

type Json = unknown;
type JsonMap = Record<string, unknown>;

export function isMap(v: unknown): v is JsonMap {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // NaN never equals itself: an object holding one would look changed on every write
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

function patchInvalid(message: string): KubeApiError {
  return new KubeApiError(422, "Invalid", message);
}

/** RFC 7386: maps merge recursively, null deletes, everything else (lists included) replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isMap(patch)) return structuredClone(patch);
  const out: JsonMap = isMap(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ---- strategic merge patch ----

type ListStrategy = { key: string } | "primitive" | undefined;

const CONTAINER_LISTS = new Set(["containers", "initContainers", "ephemeralContainers"]);

/**
 * The patchMergeKey of a list field, from the field's path (list items appear as "[]"). Lists not named
 * here are atomic and replaced whole, as in the real API types.
 */
export function listStrategy(resource: ResourceName, path: string[]): ListStrategy {
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  const grand = path[path.length - 3];
  if (CONTAINER_LISTS.has(last)) return { key: "name" };
  if (parent === "[]" && CONTAINER_LISTS.has(grand)) {
    if (last === "ports") return { key: "containerPort" };
    if (last === "env") return { key: "name" };
    if (last === "volumeMounts") return { key: "mountPath" };
    if (last === "volumeDevices") return { key: "devicePath" };
  }
  if (resource === "services" && path.join(".") === "spec.ports") return { key: "port" };
  if (last === "volumes" || last === "imagePullSecrets") return { key: "name" };
  if (last === "hostAliases") return { key: "ip" };
  if (last === "conditions" && parent === "status") return { key: "type" };
  if (last === "podIPs" || last === "hostIPs") return { key: "ip" };
  if (resource === "nodes" && path.join(".") === "status.addresses") return { key: "type" };
  if (path.join(".") === "metadata.ownerReferences") return { key: "uid" };
  if (path.join(".") === "metadata.finalizers") return "primitive";
  return undefined;
}

/** Apply a strategic merge patch (map at the top) to an object of the given resource. */
export function strategicMergePatch(target: Json, patch: Json, resource: ResourceName): Json {
  if (!isMap(patch)) throw badRequest("strategic merge patch must be a JSON object");
  return smpMap(isMap(target) ? target : {}, patch, resource, []);
}

function smpMap(target: JsonMap, patch: JsonMap, resource: ResourceName, path: string[]): JsonMap {
  const directive = patch.$patch;
  if (directive === "replace") {
    const { $patch: _, ...rest } = patch;
    return stripDirectives(rest) as JsonMap;
  }
  if (directive !== undefined && directive !== "merge") {
    throw badRequest(`Unknown patch type: ${String(directive)} in map`);
  }
  const out: JsonMap = { ...target };
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      if (Array.isArray(out[field]) && Array.isArray(v)) {
        out[field] = (out[field] as unknown[]).filter((x) => !v.some((d) => deepEqual(d, x)));
      }
    }
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue;
    const childPath = [...path, k];
    if (v === null) {
      delete out[k];
    } else if (isMap(v)) {
      if (v.$patch === "delete") delete out[k];
      else out[k] = smpMap(isMap(out[k]) ? (out[k] as JsonMap) : {}, v, resource, childPath);
    } else if (Array.isArray(v)) {
      out[k] = smpList(Array.isArray(out[k]) ? (out[k] as unknown[]) : [], v, resource, childPath);
    } else {
      out[k] = v;
    }
  }
  return out;
}

function smpList(target: unknown[], patch: unknown[], resource: ResourceName, path: string[]): unknown[] {
  const strategy = listStrategy(resource, path);
  if (strategy === undefined) return stripDirectives(patch) as unknown[];
  if (strategy === "primitive") {
    const out = [...target];
    for (const x of patch) if (!out.some((y) => deepEqual(x, y))) out.push(x);
    return out;
  }
  const key = strategy.key;
  if (patch.some((p) => isMap(p) && p.$patch === "replace")) {
    return stripDirectives(patch.filter((p) => !(isMap(p) && p.$patch === "replace"))) as unknown[];
  }
  const out = [...target];
  for (const p of patch) {
    if (!isMap(p) || p[key] === undefined) {
      throw badRequest(`map: ${JSON.stringify(p)} does not contain declared merge key: ${key}`);
    }
    const idx = out.findIndex((t) => isMap(t) && deepEqual(t[key], p[key]));
    if (p.$patch === "delete") {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = smpMap(out[idx] as JsonMap, p, resource, [...path, "[]"]);
    else out.push(smpMap({}, p, resource, [...path, "[]"]));
  }
  return out;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isMap(v)) return v;
  const out: JsonMap = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith("$")) out[k] = stripDirectives(x);
  return out;
}

// ---- kubectl apply ----

/**
 * The patch `kubectl apply` sends: every field of the desired manifest, plus deletions of what the last
 * applied configuration had and the desired one no longer has (fields set by others are kept).
 */
export function applyPatch(lastApplied: Json, desired: JsonMap, resource: ResourceName): JsonMap {
  return withDeletions(isMap(lastApplied) ? lastApplied : {}, desired, resource, []);
}

function withDeletions(last: JsonMap, desired: JsonMap, resource: ResourceName, path: string[]): JsonMap {
  const out: JsonMap = {};
  for (const [k, v] of Object.entries(desired)) {
    const childPath = [...path, k];
    const lv = last[k];
    if (isMap(v) && isMap(lv)) out[k] = withDeletions(lv, v, resource, childPath);
    else if (Array.isArray(v) && Array.isArray(lv)) out[k] = listWithDeletions(lv, v, resource, childPath);
    else out[k] = v;
  }
  for (const k of Object.keys(last)) {
    if (!(k in desired)) {
      const strategy = listStrategy(resource, [...path, k]);
      if (strategy === "primitive" && Array.isArray(last[k])) out[`$deleteFromPrimitiveList/${k}`] = last[k];
      else out[k] = null;
    }
  }
  return out;
}

function listWithDeletions(
  last: unknown[],
  desired: unknown[],
  resource: ResourceName,
  path: string[],
): unknown[] {
  const strategy = listStrategy(resource, path);
  if (strategy === undefined) return desired;
  if (strategy === "primitive") return desired;
  const key = strategy.key;
  const out: unknown[] = desired.map((d) => {
    const l = isMap(d) ? last.find((x) => isMap(x) && deepEqual(x[key], d[key])) : undefined;
    return isMap(d) && isMap(l) ? withDeletions(l, d, resource, [...path, "[]"]) : d;
  });
  for (const l of last) {
    if (isMap(l) && !desired.some((d) => isMap(d) && deepEqual(d[key], l[key]))) {
      out.push({ [key]: l[key], $patch: "delete" });
    }
  }
  return out;
}

// ---- JSON patch ----

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function parsePointer(ptr: string): string[] {
  if (ptr === "") return [];
  if (!ptr.startsWith("/")) throw patchInvalid(`json patch: invalid path "${ptr}"`);
  return ptr
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function getAt(doc: unknown, parts: string[]): { found: boolean; value?: unknown } {
  let cur = doc;
  for (const p of parts) {
    if (Array.isArray(cur)) {
      const i = Number(p);
      if (!/^\d+$/.test(p) || i >= cur.length) return { found: false };
      cur = cur[i];
    } else if (isMap(cur)) {
      if (!Object.hasOwn(cur, p)) return { found: false };
      cur = cur[p];
    } else return { found: false };
  }
  return { found: true, value: cur };
}

/** Mutates the container at parts[:-1]; the document root itself is replaced by the caller. */
function container(doc: unknown, parts: string[], op: string, ptr: string): unknown {
  const parent = getAt(doc, parts.slice(0, -1));
  if (!parent.found || parent.value === null || typeof parent.value !== "object") {
    throw patchInvalid(
      `jsonpatch ${op} operation does not apply: doc is missing path: "${ptr}": missing value`,
    );
  }
  return parent.value;
}

function addAt(doc: unknown, parts: string[], value: unknown, ptr: string): unknown {
  if (parts.length === 0) return value;
  const parent = container(doc, parts, "add", ptr);
  const last = parts[parts.length - 1];
  if (Array.isArray(parent)) {
    const i = last === "-" ? parent.length : Number(last);
    if (!/^(\d+|-)$/.test(last) || i > parent.length) {
      throw patchInvalid(
        `jsonpatch add operation does not apply: doc is missing path: "${ptr}": missing value`,
      );
    }
    parent.splice(i, 0, value);
  } else (parent as JsonMap)[last] = value;
  return doc;
}

function removeAt(doc: unknown, parts: string[], op: string, ptr: string): unknown {
  if (!getAt(doc, parts).found || parts.length === 0) {
    throw patchInvalid(
      `jsonpatch ${op} operation does not apply: doc is missing path: "${ptr}": missing value`,
    );
  }
  const parent = container(doc, parts, op, ptr);
  const last = parts[parts.length - 1];
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else delete (parent as JsonMap)[last];
  return doc;
}

/** RFC 6902 JSON patch; a failing op (missing path, failed test) is 422 like the real API server. */
export function jsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) throw badRequest("json patch must be a JSON array of operations");
  let doc = structuredClone(target);
  for (const raw of patch as JsonPatchOp[]) {
    if (!isMap(raw) || typeof raw.op !== "string" || typeof raw.path !== "string") {
      throw badRequest(`json patch: malformed operation ${JSON.stringify(raw)}`);
    }
    const parts = parsePointer(raw.path);
    switch (raw.op) {
      case "add":
        doc = addAt(doc, parts, structuredClone(raw.value), raw.path);
        break;
      case "remove":
        doc = removeAt(doc, parts, "remove", raw.path);
        break;
      case "replace":
        doc = removeAt(doc, parts, "replace", raw.path);
        doc = addAt(doc, parts, structuredClone(raw.value), raw.path);
        break;
      case "move":
      case "copy": {
        if (typeof raw.from !== "string") throw badRequest(`json patch: ${raw.op} needs "from"`);
        const fromParts = parsePointer(raw.from);
        const src = getAt(doc, fromParts);
        if (!src.found) {
          throw patchInvalid(
            `jsonpatch ${raw.op} operation does not apply: doc is missing from path: "${raw.from}": missing value`,
          );
        }
        const value = structuredClone(src.value);
        if (raw.op === "move") doc = removeAt(doc, fromParts, "move", raw.from);
        doc = addAt(doc, parts, value, raw.path);
        break;
      }
      case "test": {
        const cur = getAt(doc, parts);
        if (!cur.found || !deepEqual(cur.value, raw.value)) {
          throw patchInvalid(`testing value ${raw.path} failed: test failed`);
        }
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${raw.op}`);
    }
  }
  return doc;
}
