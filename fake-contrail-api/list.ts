/**
 * LIST semantics (GET /<type>s and POST /list-bulk-collection): scopes (parent_id, parent_fq_name_str +
 * parent_type, back_ref_id, obj_uuids, fq_names), output forms (default {uuid, href, fq_name}, detail, count,
 * fields, exclude_hrefs), `filters=key==<json>` and page_limit/page_marker paging with a `marker`.
 * Example: `listObjects(store, "virtual-network", parseListParams({ detail: "true" }), base)`.
 */
import { badRequest, isUuid, notFound } from "./errors";
import { renderObject } from "./render";
import { typeInfo } from "./schema";
import type { StoreReader, StoredObject } from "./store";

export interface ListParams {
  parentIds?: string[];
  parentFqName?: string[];
  parentType?: string;
  backRefIds?: string[];
  objUuids?: string[];
  fqNames?: string[][];
  detail: boolean;
  count: boolean;
  fields?: string[];
  filters?: Map<string, unknown[]>;
  excludeHrefs: boolean;
  pageLimit?: number;
  pageMarker?: string;
}

/** Accepts "a,b", ["a","b"] or absent. */
function csv(v: unknown, name: string): string[] | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v === "string") return v.split(",").filter((x) => x.length > 0);
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  throw badRequest(`${name}: expected a comma-separated string or a list of strings`);
}

/** A scope parameter: present but empty (`parent_id=`) matches nothing, as upstream splits it to [""]. */
function scope(v: unknown, name: string): string[] | undefined {
  if (v === "" || (Array.isArray(v) && v.length === 0)) return [];
  return csv(v, name);
}

function flag(v: unknown, name: string): boolean {
  if (v === undefined || v === null || v === "") return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "string" && /^(true|false|1|0)$/i.test(v)) return /^(true|1)$/i.test(v);
  throw badRequest(`${name}: expected true or false`);
}

/** `filters=key==value,key2==<json>`; commas inside JSON values are kept (split only before `key==`). */
export function parseFilters(raw: unknown): Map<string, unknown[]> | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const out = new Map<string, unknown[]>();
  const add = (k: string, v: unknown) => out.set(k, [...(out.get(k) ?? []), v]);
  if (typeof raw === "object" && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>))
      for (const x of [v].flat()) add(k, x);
    return out;
  }
  if (typeof raw !== "string") throw badRequest("filters: expected key==value[,key==value]");
  for (const part of raw.split(/,(?=[A-Za-z0-9_]+==)/)) {
    const i = part.indexOf("==");
    if (i <= 0) throw badRequest(`filters: "${part}" is not key==value`);
    const text = part.slice(i + 2);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    add(part.slice(0, i), value);
  }
  return out;
}

/** Normalises query-string or list-bulk-collection body parameters. */
export function parseListParams(q: Record<string, unknown>): ListParams {
  const pageLimitRaw = q.page_limit;
  let pageLimit: number | undefined;
  if (pageLimitRaw !== undefined && pageLimitRaw !== null && pageLimitRaw !== "") {
    pageLimit = Number(pageLimitRaw);
    if (!Number.isInteger(pageLimit) || pageLimit <= 0)
      throw badRequest(`page_limit must be a positive integer`);
  }
  const marker = q.page_marker;
  if (marker !== undefined && marker !== null && marker !== "" && !isUuid(marker))
    throw badRequest(`page_marker must be a uuid`);
  let parentFqName: string[] | undefined;
  if (typeof q.parent_fq_name_str === "string" && q.parent_fq_name_str)
    parentFqName = q.parent_fq_name_str.split(":");
  else if (Array.isArray(q.parent_fq_name_str))
    parentFqName = csv(q.parent_fq_name_str, "parent_fq_name_str");
  let fqNames: string[][] | undefined;
  if (Array.isArray(q.fq_names) && q.fq_names.every(Array.isArray)) fqNames = q.fq_names as string[][];
  else fqNames = scope(q.fq_names, "fq_names")?.map((s) => s.split(":"));
  if (q.parent_type !== undefined && typeof q.parent_type !== "string")
    throw badRequest("parent_type must be a string");
  return {
    parentIds: scope(q.parent_id, "parent_id"),
    parentFqName,
    parentType: (q.parent_type as string | undefined) || undefined,
    backRefIds: scope(q.back_ref_id, "back_ref_id"),
    objUuids: scope(q.obj_uuids, "obj_uuids"),
    fqNames,
    detail: flag(q.detail, "detail"),
    count: flag(q.count, "count"),
    fields: csv(q.fields, "fields"),
    filters: parseFilters(q.filters),
    excludeHrefs: flag(q.exclude_hrefs, "exclude_hrefs"),
    pageLimit,
    pageMarker: (marker as string | undefined) || undefined,
  };
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export function listObjects(
  store: StoreReader,
  type: string,
  p: ListParams,
  base: string,
  /** Authorisation: only objects the caller may read are listed (and counted); absent = all. */
  visible?: (o: StoredObject) => boolean,
): Record<string, unknown> {
  const info = typeInfo(type);
  if (!info) throw notFound(`Unknown resource type: ${type}`);
  let items: StoredObject[];
  const sets: Array<Set<string>> = [];
  if (p.parentFqName) {
    const types = p.parentType ? [p.parentType] : info.parents.filter((t) => t !== "config-root");
    const parent = types.map((t) => store.byFqName(t, p.parentFqName!)).find((x) => x !== undefined);
    if (!parent) throw notFound(`Name ${p.parentFqName.join(":")} not found`);
    sets.push(new Set(store.children(parent.uuid).map((c) => c.uuid)));
  }
  if (p.parentIds) sets.push(new Set(p.parentIds.flatMap((id) => store.children(id).map((c) => c.uuid))));
  if (p.backRefIds) sets.push(new Set(p.backRefIds.flatMap((id) => store.referrers(id).map((r) => r.uuid))));
  if (p.objUuids) sets.push(new Set(p.objUuids));
  if (p.fqNames) {
    sets.push(
      new Set(
        p.fqNames.map((fq) => store.byFqName(type, fq)?.uuid).filter((u): u is string => u !== undefined),
      ),
    );
  }
  if (sets.length) {
    // Walk the smallest scope and keep what every other scope also allows.
    sets.sort((a, b) => a.size - b.size);
    items = [];
    for (const u of sets[0]) {
      const o = store.get(u);
      if (o && o.type === type && sets.every((s) => s.has(u))) items.push(o);
    }
  } else items = [...store.ofType(type)];
  if (p.filters) {
    for (const k of p.filters.keys())
      if (!Object.hasOwn(info.props, k)) throw badRequest(`filters: ${type} has no property ${k}`);
    items = items.filter((o) =>
      [...p.filters!].every(([k, vals]) => vals.some((v) => deepEqual(o.props[k], v))),
    );
  }
  if (visible) items = items.filter(visible);
  const plural = info.plural;
  if (p.count) return { [plural]: { count: items.length } };
  let marker: string | null | undefined;
  if (p.pageLimit !== undefined || p.pageMarker) {
    items.sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
    if (p.pageMarker) items = items.filter((o) => o.uuid > p.pageMarker!);
    if (p.pageLimit !== undefined && items.length > p.pageLimit) {
      items = items.slice(0, p.pageLimit);
      marker = items[items.length - 1].uuid;
    } else marker = null;
  }
  const fields = p.fields ? new Set(p.fields) : undefined;
  let out: unknown[];
  if (p.detail) {
    out = items.map((o) => ({
      [type]: renderObject(store, o, {
        base,
        fields,
        excludeHrefs: p.excludeHrefs,
        onlyRequestedRelations: true,
      }),
    }));
  } else {
    out = items.map((o) => {
      const item: Record<string, unknown> = { uuid: o.uuid, fq_name: o.fq_name };
      if (!p.excludeHrefs) item.href = `${base}/${type}/${o.uuid}`;
      if (fields) {
        const full = renderObject(store, o, {
          base,
          fields,
          excludeHrefs: p.excludeHrefs,
          onlyRequestedRelations: true,
        });
        for (const f of fields) if (full[f] !== undefined) item[f] = full[f];
      }
      return item;
    });
  }
  const res: Record<string, unknown> = { [plural]: out };
  if (marker !== undefined) res.marker = marker;
  return res;
}
