/**
 * The web view's copy of the Contrail configuration, kept from the config API's change stream (`/watch`), and
 * the view models the Configuration page shows: objects by type and project, one object with its fields, refs,
 * back-refs (the stream carries none: computed here from refs), children, and the Kubernetes object it stands
 * for (kube-manager's owner annotations); search by name, uuid or address. Pure: it only applies events.
 *
 * Example: `idx.apply(event); idx.detail(uuid)` → `{ type: "virtual-network", refs: [...], backRefs: [...] }`.
 */
import type { StreamEvent, WatchObject } from "../../fake-contrail-api/watch-client";

/** An object as a link: what the page needs to name it and open it. */
export interface ObjLink {
  type: string;
  uuid: string;
  fqName: string;
  /** The last element of its fq_name (display_name when it has one). */
  name: string;
}

/** The Kubernetes object a Contrail object stands for, from kube-manager's owner annotations. */
export interface KubeOwner {
  kind: string;
  namespace?: string;
  name: string;
  cluster?: string;
}

export interface RefLink extends ObjLink {
  /** The ref field (`network_ipam_refs`) and its attribute (subnets, sequence), as stored. */
  field: string;
  attr?: unknown;
}

export interface ObjectDetail extends ObjLink {
  project?: string;
  parent?: ObjLink;
  /** Every stored field but the refs and the identity (shown separately). */
  fields: Record<string, unknown>;
  refs: RefLink[];
  backRefs: RefLink[];
  children: ObjLink[];
  kube?: KubeOwner;
}

export interface TypeSummary {
  type: string;
  count: number;
}

/** Fields that hold an address a user may search by. */
const ADDRESS_FIELDS = ["instance_ip_address", "floating_ip_address", "virtual_router_ip_address"];

export class ConfigIndex {
  private readonly objects = new Map<string, { type: string; obj: WatchObject }>();
  /** Back-refs and children, rebuilt lazily after a change (a page asks far less often than the stream moves). */
  private reverse: { backRefs: Map<string, RefLink[]>; children: Map<string, ObjLink[]> } | undefined;
  /** Sequence number of the last change applied. */
  seq = 0;

  apply(ev: StreamEvent): void {
    this.reverse = undefined;
    if (ev.kind === "snapshot") {
      this.objects.clear();
      for (const o of ev.objects) this.objects.set(o.uuid, { type: o.type, obj: o.obj });
      this.seq = ev.seq;
      return;
    }
    const c = ev.change;
    this.seq = c.seq;
    if (c.op === "DELETE" || !c.obj) this.objects.delete(c.uuid);
    else this.objects.set(c.uuid, { type: c.type, obj: c.obj });
  }

  get size(): number {
    return this.objects.size;
  }

  types(): TypeSummary[] {
    const counts = new Map<string, number>();
    for (const { type } of this.objects.values()) counts.set(type, (counts.get(type) ?? 0) + 1);
    return [...counts].map(([type, count]) => ({ type, count })).sort((a, b) => a.type.localeCompare(b.type));
  }

  /** Objects of a type (every type when absent), in a project (its name) when given, sorted by fq_name. */
  list(type?: string, project?: string): (ObjLink & { project?: string; kube?: KubeOwner })[] {
    const out: (ObjLink & { project?: string; kube?: KubeOwner })[] = [];
    for (const [uuid, o] of this.objects) {
      if (type && o.type !== type) continue;
      const p = this.projectOf(uuid);
      if (project && p !== project) continue;
      const kube = kubeOwner(o.obj);
      out.push({ ...this.link(uuid)!, ...(p ? { project: p } : {}), ...(kube ? { kube } : {}) });
    }
    return out.sort((a, b) => a.type.localeCompare(b.type) || a.fqName.localeCompare(b.fqName));
  }

  /** The projects objects live in (by name), for the page's filter. */
  projects(): string[] {
    return [...this.objects.values()]
      .filter((o) => o.type === "project")
      .map((o) => o.obj.fq_name.at(-1)!)
      .sort();
  }

  link(uuid: string): ObjLink | undefined {
    const o = this.objects.get(uuid);
    if (!o) return undefined;
    const display = typeof o.obj.display_name === "string" ? o.obj.display_name : undefined;
    return { type: o.type, uuid, fqName: o.obj.fq_name.join(":"), name: display || o.obj.fq_name.at(-1)! };
  }

  /** The raw object and its type. */
  get(uuid: string): { type: string; obj: WatchObject } | undefined {
    return this.objects.get(uuid);
  }

  /** Every object of a type, raw. */
  all(type: string): WatchObject[] {
    const out: WatchObject[] = [];
    for (const o of this.objects.values()) if (o.type === type) out.push(o.obj);
    return out;
  }

  /** An object by type and fq_name (joined with `:`). */
  byFqName(type: string, fqName: string): WatchObject | undefined {
    for (const o of this.objects.values())
      if (o.type === type && o.obj.fq_name.join(":") === fqName) return o.obj;
    return undefined;
  }

  /** The name of the project an object lives in (walking up its parents), if any. */
  projectOf(uuid: string): string | undefined {
    let cur = this.objects.get(uuid);
    for (let i = 0; cur && i < 8; i++) {
      if (cur.type === "project") return cur.obj.fq_name.at(-1);
      cur = cur.obj.parent_uuid ? this.objects.get(cur.obj.parent_uuid) : undefined;
    }
    return undefined;
  }

  detail(uuid: string): ObjectDetail | undefined {
    const o = this.objects.get(uuid);
    if (!o) return undefined;
    const rev = this.reverseIndex();
    const fields: Record<string, unknown> = {};
    const refs: RefLink[] = [];
    for (const [k, v] of Object.entries(o.obj)) {
      if (k.endsWith("_refs") && Array.isArray(v)) {
        for (const r of v as { uuid?: string; to?: string[]; attr?: unknown }[])
          refs.push(this.refLink(k, r));
        continue;
      }
      if (["uuid", "fq_name", "parent_uuid", "href", "name"].includes(k)) continue;
      fields[k] = v;
    }
    const project = this.projectOf(uuid);
    const parent = o.obj.parent_uuid ? this.link(o.obj.parent_uuid) : undefined;
    const kube = kubeOwner(o.obj);
    return {
      ...this.link(uuid)!,
      ...(project ? { project } : {}),
      ...(parent ? { parent } : {}),
      fields,
      refs,
      backRefs: rev.backRefs.get(uuid) ?? [],
      children: rev.children.get(uuid) ?? [],
      ...(kube ? { kube } : {}),
    };
  }

  /**
   * Objects whose name, fq_name or uuid contains the query, or whose address is it (an instance IP, a floating
   * IP, a vrouter's address, a MAC); the best matches first, at most `limit`.
   */
  search(query: string, limit = 50): ObjLink[] {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const scored: { score: number; link: ObjLink }[] = [];
    for (const [uuid, o] of this.objects) {
      const link = this.link(uuid)!;
      let score = 0;
      if (uuid === q || link.name.toLowerCase() === q) score = 3;
      else if (ADDRESS_FIELDS.some((f) => String(o.obj[f] ?? "").toLowerCase() === q)) score = 3;
      else if (macsOf(o.obj).includes(q)) score = 3;
      else if (link.fqName.toLowerCase().includes(q) || uuid.includes(q)) score = 1;
      if (score) scored.push({ score, link });
    }
    return scored
      .sort((a, b) => b.score - a.score || a.link.fqName.localeCompare(b.link.fqName))
      .slice(0, limit)
      .map((s) => s.link);
  }

  private refLink(field: string, r: { uuid?: string; to?: string[]; attr?: unknown }): RefLink {
    const type = field.slice(0, -"_refs".length).replace(/_/g, "-");
    const attr = r.attr ?? undefined;
    const known = r.uuid ? this.link(r.uuid) : undefined;
    const fqName = (r.to ?? []).join(":");
    return {
      ...(known ?? { type, uuid: r.uuid ?? "", fqName, name: r.to?.at(-1) ?? "" }),
      field,
      ...(attr !== undefined ? { attr } : {}),
    };
  }

  private reverseIndex() {
    if (this.reverse) return this.reverse;
    const backRefs = new Map<string, RefLink[]>();
    const children = new Map<string, ObjLink[]>();
    for (const [uuid, o] of this.objects) {
      const self = this.link(uuid)!;
      for (const [k, v] of Object.entries(o.obj)) {
        if (!k.endsWith("_refs") || !Array.isArray(v)) continue;
        for (const r of v as { uuid?: string; attr?: unknown }[]) {
          if (!r.uuid) continue;
          const list = backRefs.get(r.uuid) ?? [];
          list.push({
            ...self,
            field: `${o.type.replace(/-/g, "_")}_back_refs`,
            ...(r.attr ? { attr: r.attr } : {}),
          });
          backRefs.set(r.uuid, list);
        }
      }
      if (o.obj.parent_uuid) {
        const list = children.get(o.obj.parent_uuid) ?? [];
        list.push(self);
        children.set(o.obj.parent_uuid, list);
      }
    }
    const order = (a: ObjLink, b: ObjLink) =>
      a.type.localeCompare(b.type) || a.fqName.localeCompare(b.fqName);
    for (const l of backRefs.values()) l.sort(order);
    for (const l of children.values()) l.sort(order);
    this.reverse = { backRefs, children };
    return this.reverse;
  }
}

function macsOf(obj: WatchObject): string[] {
  const m = obj.virtual_machine_interface_mac_addresses as { mac_address?: string[] } | undefined;
  return (m?.mac_address ?? []).map((s) => s.toLowerCase());
}

/** kube-manager's owner annotations (`controller/translate/names.ts` ownerAnnotations) → the Kubernetes object. */
export function kubeOwner(obj: WatchObject): KubeOwner | undefined {
  const kv = new Map(
    (
      (obj.annotations as { key_value_pair?: { key: string; value: string }[] } | undefined)
        ?.key_value_pair ?? []
    ).map((p) => [p.key, p.value]),
  );
  const kind = kv.get("kind");
  const name = kv.get("name");
  if (!kind || !name || !kv.has("owner")) return undefined;
  const ns = kv.get("namespace");
  const cluster = kv.get("cluster");
  return { kind, name, ...(ns ? { namespace: ns } : {}), ...(cluster ? { cluster } : {}) };
}
