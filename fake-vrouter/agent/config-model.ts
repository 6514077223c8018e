/**
 * The agent's copy of the Contrail config: every object by uuid and by type, an fq_name index, children by
 * parent and back-refs rebuilt from refs (the change stream carries objects without back-refs or children).
 * It is fed a snapshot and then live change events, and remembers the change-stream position it has applied.
 * No I/O: the change-stream client feeds it, the table computation reads it.
 *
 * Example:
 *   const m = new ConfigModel();
 *   m.apply({ seq: 7, op: "CREATE", type: "virtual-network", uuid, fq_name: ["default-domain", "p", "vn"], obj });
 *   m.refs(vmi, "virtual-network")[0]?.fqName; // ["default-domain", "p", "vn"]
 */

/** An object as the config API serves it (props, refs `<type>_refs`, parent identity). */
export type VncData = Record<string, unknown> & {
  uuid?: string;
  fq_name?: string[];
  parent_type?: string;
  parent_uuid?: string;
};

export interface ConfigObject {
  type: string;
  uuid: string;
  fqName: string[];
  data: VncData;
}

/** One live change, as `GET /watch` sends it. */
export interface ChangeEvent {
  seq: number;
  op: "CREATE" | "UPDATE" | "DELETE";
  type: string;
  uuid: string;
  fq_name: string[];
  obj?: VncData;
}

/** A reference from an object's `<type>_refs` list, resolved to its target when the target is known. */
export interface ResolvedRef {
  target: ConfigObject;
  attr: unknown;
}

export class ConfigEventError extends Error {
  override name = "ConfigEventError";
}

interface RawRef {
  to?: string[];
  uuid?: string;
  attr?: unknown;
}

/** `virtual_network_refs` → `virtual-network`. */
export function refFieldType(field: string): string {
  return field.slice(0, -"_refs".length).replace(/_/g, "-");
}

export function fqString(fq: readonly string[]): string {
  return fq.join(":");
}

export class ConfigModel {
  private readonly objects = new Map<string, ConfigObject>();
  private readonly byType = new Map<string, Map<string, ConfigObject>>();
  private readonly fqIndex = new Map<string, string>();
  /** target uuid → referring object uuids */
  private readonly backRefIndex = new Map<string, Set<string>>();
  /** parent uuid → child uuids */
  private readonly childIndex = new Map<string, Set<string>>();
  /** "<type>|<display_name or name>" → uuids (the port API finds a VM by the name the CNI gives) */
  private readonly nameIndex = new Map<string, Set<string>>();
  private seq = 0;
  private revision = 0;

  /** The change-stream position of the last applied change. */
  appliedSeq(): number {
    return this.seq;
  }

  /** Bumps on every applied change: a cheap "did anything change" key for caches. */
  version(): number {
    return this.revision;
  }

  /** Replace everything with a snapshot (the stream sends one on first connect and when history is gone). */
  loadSnapshot(
    objects: { type: string; uuid: string; fq_name: string[]; obj: VncData }[],
    seq: number,
  ): void {
    this.objects.clear();
    this.byType.clear();
    this.fqIndex.clear();
    this.backRefIndex.clear();
    this.childIndex.clear();
    this.nameIndex.clear();
    for (const o of objects) this.put(o.type, o.uuid, o.fq_name, o.obj);
    this.seq = seq;
    this.revision++;
  }

  /** Apply one live change; changes at or below the applied position are ignored (replays after resume). */
  apply(ev: ChangeEvent): boolean {
    if (!Number.isInteger(ev.seq) || typeof ev.type !== "string" || typeof ev.uuid !== "string")
      throw new ConfigEventError(`malformed change event: ${JSON.stringify(ev).slice(0, 200)}`);
    if (ev.seq <= this.seq) return false;
    if (ev.op === "DELETE") this.remove(ev.uuid);
    else if (ev.op === "CREATE" || ev.op === "UPDATE") {
      if (!ev.obj || typeof ev.obj !== "object")
        throw new ConfigEventError(`${ev.op} ${ev.type} ${ev.uuid} (seq ${ev.seq}) carries no object`);
      this.put(ev.type, ev.uuid, ev.fq_name ?? ev.obj.fq_name, ev.obj);
    } else throw new ConfigEventError(`unknown change op ${JSON.stringify(ev.op)} at seq ${ev.seq}`);
    this.seq = ev.seq;
    this.revision++;
    return true;
  }

  get(uuid: string): ConfigObject | undefined {
    return this.objects.get(uuid);
  }

  getTyped(type: string, uuid: string | undefined): ConfigObject | undefined {
    if (!uuid) return undefined;
    const o = this.objects.get(uuid);
    return o?.type === type ? o : undefined;
  }

  byFqName(type: string, fq: readonly string[] | string): ConfigObject | undefined {
    const key = `${type}|${typeof fq === "string" ? fq : fqString(fq)}`;
    const uuid = this.fqIndex.get(key);
    return uuid ? this.objects.get(uuid) : undefined;
  }

  /** The object of a type whose display_name or name is `name` (the lowest uuid when several are). */
  byName(type: string, name: string): ConfigObject | undefined {
    const s = this.nameIndex.get(`${type}|${name}`);
    if (!s?.size) return undefined;
    let best: string | undefined;
    for (const u of s) if (best === undefined || cmp(u, best) < 0) best = u;
    return this.objects.get(best!);
  }

  /** Every object of a type, sorted by uuid so callers iterate deterministically. */
  list(type: string): ConfigObject[] {
    const m = this.byType.get(type);
    return m ? [...m.values()].sort((a, b) => cmp(a.uuid, b.uuid)) : [];
  }

  /** Refs of `obj` to objects of `refType`, in the order the object lists them; unknown targets are skipped. */
  refs(obj: ConfigObject, refType: string): ResolvedRef[] {
    const raw = obj.data[`${refType.replace(/-/g, "_")}_refs`];
    if (!Array.isArray(raw)) return [];
    const out: ResolvedRef[] = [];
    for (const r of raw as RawRef[]) {
      const target = this.resolveRef(refType, r);
      if (target) out.push({ target, attr: r.attr });
    }
    return out;
  }

  /** Objects of `fromType` holding a ref to `uuid`, sorted by uuid. */
  backRefs(uuid: string, fromType: string): ConfigObject[] {
    const s = this.backRefIndex.get(uuid);
    if (!s) return [];
    const out: ConfigObject[] = [];
    for (const u of s) {
      const o = this.objects.get(u);
      if (o && o.type === fromType) out.push(o);
    }
    return out.sort((a, b) => cmp(a.uuid, b.uuid));
  }

  /** Children of `uuid` of `childType`, sorted by uuid. */
  children(uuid: string, childType: string): ConfigObject[] {
    const s = this.childIndex.get(uuid);
    if (!s) return [];
    const out: ConfigObject[] = [];
    for (const u of s) {
      const o = this.objects.get(u);
      if (o && o.type === childType) out.push(o);
    }
    return out.sort((a, b) => cmp(a.uuid, b.uuid));
  }

  parent(obj: ConfigObject): ConfigObject | undefined {
    if (obj.data.parent_uuid) return this.objects.get(obj.data.parent_uuid);
    if (obj.data.parent_type && obj.fqName.length > 1)
      return this.byFqName(obj.data.parent_type, obj.fqName.slice(0, -1));
    return undefined;
  }

  private resolveRef(refType: string, r: RawRef): ConfigObject | undefined {
    if (r.uuid) {
      const o = this.objects.get(r.uuid);
      if (o) return o;
    }
    return Array.isArray(r.to) ? this.byFqName(refType, r.to) : undefined;
  }

  private put(type: string, uuid: string, fq: string[] | undefined, data: VncData): void {
    if (!Array.isArray(fq) || fq.length === 0) throw new ConfigEventError(`${type} ${uuid} has no fq_name`);
    const old = this.objects.get(uuid);
    if (old) this.unindex(old);
    const o: ConfigObject = { type, uuid, fqName: fq, data };
    this.objects.set(uuid, o);
    const tm = this.byType.get(type) ?? new Map<string, ConfigObject>();
    this.byType.set(type, tm);
    tm.set(uuid, o);
    this.fqIndex.set(`${type}|${fqString(fq)}`, uuid);
    for (const target of this.refTargets(o)) addTo(this.backRefIndex, target, uuid);
    const parentUuid = this.parentUuid(o);
    if (parentUuid) addTo(this.childIndex, parentUuid, uuid);
    for (const n of names(o)) addTo(this.nameIndex, `${type}|${n}`, uuid);
  }

  private remove(uuid: string): void {
    const old = this.objects.get(uuid);
    if (!old) return;
    this.unindex(old);
    this.objects.delete(uuid);
    this.byType.get(old.type)?.delete(uuid);
  }

  private unindex(o: ConfigObject): void {
    const key = `${o.type}|${fqString(o.fqName)}`;
    if (this.fqIndex.get(key) === o.uuid) this.fqIndex.delete(key);
    for (const target of this.refTargets(o)) this.backRefIndex.get(target)?.delete(o.uuid);
    const parentUuid = this.parentUuid(o);
    if (parentUuid) this.childIndex.get(parentUuid)?.delete(o.uuid);
    for (const n of names(o)) this.nameIndex.get(`${o.type}|${n}`)?.delete(o.uuid);
  }

  /** Target uuids of every ref (a ref given by fq_name only is resolved through the index). */
  private refTargets(o: ConfigObject): string[] {
    const out: string[] = [];
    for (const [field, value] of Object.entries(o.data)) {
      if (!field.endsWith("_refs") || !Array.isArray(value)) continue;
      for (const r of value as RawRef[]) {
        if (r?.uuid) out.push(r.uuid);
        else if (Array.isArray(r?.to)) {
          const t = this.byFqName(refFieldType(field), r.to);
          if (t) out.push(t.uuid);
        }
      }
    }
    return out;
  }

  private parentUuid(o: ConfigObject): string | undefined {
    if (o.data.parent_uuid) return o.data.parent_uuid;
    return this.parent(o)?.uuid;
  }
}

function names(o: ConfigObject): string[] {
  const out: string[] = [];
  if (typeof o.data.display_name === "string") out.push(o.data.display_name);
  if (typeof o.data.name === "string" && o.data.name !== o.data.display_name) out.push(o.data.name);
  return out;
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  const s = index.get(key) ?? new Set<string>();
  index.set(key, s);
  s.add(value);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
