/**
 * What a resource type's own rules look like and what they may use. Upstream's api-server keeps them in one
 * `<Type>Server` class per resource (vnc_cfg_types.py) with `pre_dbe_create`, `post_dbe_create`,
 * `pre_dbe_update`, `post_dbe_update` and `pre_dbe_delete` hooks; here each type with rules of its own has one
 * `TypeRules` object in `types/<type>.ts`, listed in `types/index.ts`, and `service.ts` runs the generic
 * semantics (fq_name, parent, schema validation, refs, children and back-ref refusals) and calls the hooks.
 *
 * One create: body checks → `preCreate` (may change the new object) → stored → `track` → `postCreate`.
 * One update: body checks → `preUpdate` (may change the new object) → `untrack(prev)` → stored → `track` →
 * `postUpdate`. One delete: `preDelete` on the object asked for → children and referrers checked → `untrack`
 * and removal of it and what goes with it. Hooks refuse a request by throwing an `ApiError`.
 *
 * Example: `export const securityGroup: TypeRules = { preCreate(ctx, obj) { ... }, track(ctx, o) { ... } }`
 */
import type { Store, StoredObject } from "../store";

export type Json = Record<string, unknown>;

export function isJsonObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Allocation state derived from the stored objects (rebuilt on start, never persisted separately). */
export class Allocations {
  /** subnet uuid → addresses in use. */
  readonly taken = new Map<string, Set<string>>();
  readonly hints = new Map<string, string>();
  readonly networkIds = new Set<number>();
  readonly sgIds = new Set<number>();
  readonly tagTypeIds = new Set<number>();
  /** tag type id → value ids in use. */
  readonly tagValueIds = new Map<number, Set<number>>();

  takenIn(subnet: string): Set<string> {
    let s = this.taken.get(subnet);
    if (!s) {
      s = new Set();
      this.taken.set(subnet, s);
    }
    return s;
  }
}

/** What the server offers a type's rules. */
export interface ServerContext {
  readonly store: Store;
  readonly alloc: Allocations;
  /** Creates an object as a request would (the server's own objects: routing instances, tag types, APS). */
  create(type: string, body: Json): StoredObject;
  /** Replaces props/refs of a stored object without request validation (server-side bookkeeping). */
  rewrite(obj: StoredObject, change: Partial<Pick<StoredObject, "props" | "refs">>): StoredObject;
}

export interface TypeRules {
  /** Objects of the type own themselves (`perms2.owner`: their uuid without dashes) unless the request names
   * an owner; other objects get their parent's owner, top-level ones `cloud-admin`. */
  ownsItself?: true;
  /** Checks and server defaults of a new object, before it is stored (mutates `obj`). */
  preCreate?(ctx: ServerContext, obj: StoredObject, parent: StoredObject | undefined): void;
  /** What the new object brings with it, once it is stored. */
  postCreate?(ctx: ServerContext, obj: StoredObject): void;
  /** Checks of an update (may change `next`); `body` is the request, a field in it was sent. */
  preUpdate?(ctx: ServerContext, prev: StoredObject, next: StoredObject, body: Json): void;
  postUpdate?(ctx: ServerContext, prev: StoredObject, next: StoredObject, body: Json): void;
  /** Refusals beyond the generic ones (children, back-refs), for the object a delete names. */
  preDelete?(ctx: ServerContext, obj: StoredObject): void;
  /** Ids and addresses the object holds: taken when it is stored (and on start), freed when replaced or removed. */
  track?(ctx: ServerContext, o: StoredObject): void;
  untrack?(ctx: ServerContext, o: StoredObject): void;
}

export function firstFree(used: ReadonlySet<number>, from: number): number {
  let i = from;
  while (used.has(i)) i++;
  return i;
}

export const hex = (n: number, width: number): string => `0x${n.toString(16).padStart(width, "0")}`;

export function sameList(a: unknown, b: readonly string[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);
}
