/**
 * An in-memory copy of the config database rebuilt from the `/watch` change stream: objects by type and
 * uuid, children by parent, and referrers computed from refs (the stream carries no back-refs). Pure: it
 * only applies events handed to it.
 * Example: `mirror.apply(event); mirror.children(vn, "access-control-list")`.
 */
import type { StreamEvent } from "../watch-client";
import { fqString, type Ref, type VncObject } from "./vnc-objects";

/** Read access to config objects, as the daemons' pure planners need it. */
export interface ConfigView {
  get<T extends VncObject = VncObject>(type: string, uuid: string): T | undefined;
  list<T extends VncObject = VncObject>(type: string): T[];
  /** Objects of `childType` whose parent is `parent`. */
  children<T extends VncObject = VncObject>(parent: VncObject, childType: string): T[];
  /** Objects of `fromType` holding a ref (in `<toType>_refs`) to `target`. */
  referrers<T extends VncObject = VncObject>(fromType: string, toType: string, target: VncObject): T[];
}

const refField = (toType: string) => `${toType.replace(/-/g, "_")}_refs`;
const parentKeyOf = (o: VncObject) => o.parent_uuid ?? `fq:${fqString(o.fq_name.slice(0, -1))}`;

export class ConfigMirror implements ConfigView {
  private readonly byType = new Map<string, Map<string, VncObject>>();
  private readonly typeByUuid = new Map<string, string>();
  private readonly childrenByParent = new Map<string, Set<string>>();
  /** Sequence number of the last change applied (the snapshot's position after a snapshot). */
  seq = 0;

  /** Builds a mirror from plain objects (for planners' tests and one-off computations). */
  static of(objects: Iterable<{ type: string; obj: VncObject }>): ConfigMirror {
    const m = new ConfigMirror();
    for (const { type, obj } of objects) m.put(type, obj);
    return m;
  }

  /** Applies one stream event; returns the types it touched. A snapshot replaces everything. */
  apply(event: StreamEvent): Set<string> {
    if (event.kind === "snapshot") {
      const touched = new Set(this.byType.keys());
      this.byType.clear();
      this.typeByUuid.clear();
      this.childrenByParent.clear();
      for (const e of event.objects) {
        this.put(e.type, e.obj);
        touched.add(e.type);
      }
      this.seq = event.seq;
      return touched;
    }
    const c = event.change;
    if (c.op === "DELETE") this.remove(c.uuid);
    else if (c.obj) this.put(c.type, c.obj);
    this.seq = c.seq;
    return new Set([c.type]);
  }

  put(type: string, obj: VncObject): void {
    this.remove(obj.uuid);
    let objs = this.byType.get(type);
    if (!objs) {
      objs = new Map();
      this.byType.set(type, objs);
    }
    objs.set(obj.uuid, obj);
    this.typeByUuid.set(obj.uuid, type);
    const key = parentKeyOf(obj);
    let kids = this.childrenByParent.get(key);
    if (!kids) {
      kids = new Set();
      this.childrenByParent.set(key, kids);
    }
    kids.add(obj.uuid);
  }

  remove(uuid: string): void {
    const type = this.typeByUuid.get(uuid);
    if (!type) return;
    const obj = this.byType.get(type)?.get(uuid);
    this.byType.get(type)?.delete(uuid);
    this.typeByUuid.delete(uuid);
    if (obj) this.childrenByParent.get(parentKeyOf(obj))?.delete(uuid);
  }

  typeOf(uuid: string): string | undefined {
    return this.typeByUuid.get(uuid);
  }

  get<T extends VncObject = VncObject>(type: string, uuid: string): T | undefined {
    return this.byType.get(type)?.get(uuid) as T | undefined;
  }

  list<T extends VncObject = VncObject>(type: string): T[] {
    return [...(this.byType.get(type)?.values() ?? [])] as T[];
  }

  get size(): number {
    return this.typeByUuid.size;
  }

  children<T extends VncObject = VncObject>(parent: VncObject, childType: string): T[] {
    const out: T[] = [];
    const seen = new Set<string>();
    for (const key of [parent.uuid, `fq:${fqString(parent.fq_name)}`]) {
      for (const uuid of this.childrenByParent.get(key) ?? []) {
        if (seen.has(uuid) || this.typeByUuid.get(uuid) !== childType) continue;
        seen.add(uuid);
        const child = this.get<T>(childType, uuid);
        // the fq_name fallback must not pick up children of a same-named parent of another type
        if (child && (child.parent_uuid === undefined || child.parent_uuid === parent.uuid)) out.push(child);
      }
    }
    return out;
  }

  referrers<T extends VncObject = VncObject>(fromType: string, toType: string, target: VncObject): T[] {
    const field = refField(toType);
    const fq = fqString(target.fq_name);
    return this.list<T>(fromType).filter((o) =>
      ((o[field] as Ref[] | undefined) ?? []).some(
        (r) => r.uuid === target.uuid || (!r.uuid && fqString(r.to) === fq),
      ),
    );
  }
}
