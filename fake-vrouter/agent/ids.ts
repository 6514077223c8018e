/**
 * Number allocation for the forwarding tables.
 *
 * - MPLS labels must agree between computes: compute B pushes the label compute A chose for A's VMI. They are
 *   therefore a pure function of the config (the set of VMIs on A): each VMI hashes to a slot, collisions
 *   probe forward in uuid order. Adding or removing one VMI does not move the others (except a colliding
 *   neighbour), so flows keyed on labels survive unrelated changes. Labels start at 16 (0-15 are reserved by
 *   MPLS); a VMI owns the pair (policy, no-policy).
 * - Next-hop, vif and VRF numbers are local to one compute; `IdAllocator` keeps them sticky across
 *   recomputations so the datapath's flow table (keyed on NH ids) stays valid.
 *
 * Example: `allocateLabels(["u1", "u2"]).get("u1") // { policy: 16 + 2*slot, noPolicy: 17 + 2*slot }`
 */

export const FIRST_LABEL = 16;
const LABEL_SLOTS = 1 << 16;

export interface VmiLabels {
  policy: number;
  noPolicy: number;
}

/** FNV-1a, 32 bit: a small stable hash (same value in every process). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Labels for the VMIs of one compute (uuids in any order; the result does not depend on it). */
export function allocateLabels(vmiUuids: readonly string[]): Map<string, VmiLabels> {
  const used = new Set<number>();
  const out = new Map<string, VmiLabels>();
  for (const u of [...new Set(vmiUuids)].sort()) {
    let slot = fnv1a(u) % LABEL_SLOTS;
    while (used.has(slot)) slot = (slot + 1) % LABEL_SLOTS;
    used.add(slot);
    out.set(u, { policy: FIRST_LABEL + 2 * slot, noPolicy: FIRST_LABEL + 2 * slot + 1 });
  }
  return out;
}

/**
 * Sticky key → number maps, one counter per kind. `sweep()` forgets keys not used since the previous sweep
 * (their numbers are not handed out again: a stale flow then misses instead of hitting a new owner).
 */
export class IdAllocator {
  private readonly ids = new Map<string, number>();
  private readonly next = new Map<string, number>();
  private readonly used = new Set<string>();

  constructor(private readonly firstByKind: Record<string, number> = {}) {}

  get(kind: string, key: string): number {
    const k = `${kind}|${key}`;
    this.used.add(k);
    let id = this.ids.get(k);
    if (id === undefined) {
      id = this.next.get(kind) ?? this.firstByKind[kind] ?? 1;
      this.next.set(kind, id + 1);
      this.ids.set(k, id);
    }
    return id;
  }

  /** The allocator's key for `key` of `kind` (what `keep` takes). */
  static key(kind: string, key: string): string {
    return `${kind}|${key}`;
  }

  /**
   * Marks each entry's key (`IdAllocator.key(kind, key)`) used again if it still holds the entry's `id` (what a
   * reused table entry was numbered last time); false, marking nothing, when one does not.
   */
  keep(entries: readonly { allocKey: string; id: number }[]): boolean {
    for (const e of entries) if (this.ids.get(e.allocKey) !== e.id) return false;
    for (const e of entries) this.used.add(e.allocKey);
    return true;
  }

  sweep(): void {
    for (const k of [...this.ids.keys()]) if (!this.used.has(k)) this.ids.delete(k);
    this.used.clear();
  }
}
