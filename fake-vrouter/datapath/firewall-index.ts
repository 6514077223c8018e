/**
 * An index over a vif's ordered firewall policies, so a new flow is matched against the rules that can match
 * it instead of every rule of every policy (with one cluster application-policy-set, every pod's list holds every
 * NetworkPolicy's firewall policy: 1,000 policies, several thousand rules).
 *
 * Each rule gets its position in the list's first-match order. A rule whose endpoint is a tag set needs that
 * set's tags on one end of the flow, so it is filed under one of them (the rarest): a one-way rule (`>`) under
 * the end it constrains (endpoint 1's tags on the source, endpoint 2's on the destination), a two-way rule
 * under either end; the others (any, address group, VN, subnet) are filed as generic. A flow's candidates are
 * the generic rules, the one-way rules filed under a tag of their end, and the two-way rules filed under a tag
 * of either end (each list looked at once); the match is the lowest position among candidates that match — the
 * same rule a scan in order finds.
 *
 * Example: `firewallIndex(vif.firewallPolicies, tables.firewallPolicies).first(tuple, matches)`.
 */
import type { FirewallEndpoint, FirewallPolicy, FirewallRule } from "../tables";
import { hotFirewallRule } from "./hot";

export interface IndexedRule {
  pos: number;
  policy: FirewallPolicy;
  rule: FirewallRule;
}

export interface FirewallIndex {
  /** The first policy of the list that exists (the one an implicit deny is charged to). */
  present?: FirewallPolicy;
  /** The first rule in list order for which `matches` holds, looking only at rules that can match the ends' tags. */
  first(
    srcTags: readonly number[],
    dstTags: readonly number[],
    matches: (r: FirewallRule) => boolean,
  ): IndexedRule | undefined;
}

const tagsOf = (ep: FirewallEndpoint): readonly number[] => (ep.kind === "tags" ? ep.tags : []);

/** Where a rule is filed: the end whose tag it needs (`either` for a two-way rule), or generic. */
type Filing = { side: "src" | "dst" | "either"; tag: number } | undefined;

/**
 * The tag to file a rule under: one its match requires on an end of the flow (every tag of a tag endpoint is
 * required), the one fewest rules name, so that a tag every pod carries (the cluster's application tag) does
 * not make a rule a candidate for every flow.
 */
function filing(rule: FirewallRule, uses: Map<number, number>): Filing {
  let best: Filing;
  const consider = (tags: readonly number[], side: "src" | "dst") => {
    for (const tag of tags)
      if (best === undefined || uses.get(tag)! < uses.get(best.tag)!)
        best = { side: rule.direction === ">" ? side : "either", tag };
  };
  consider(tagsOf(rule.endpoint1), "src");
  consider(tagsOf(rule.endpoint2), "dst");
  return best;
}

function build(ids: readonly string[], policies: ReadonlyMap<string, FirewallPolicy>): FirewallIndex {
  let present: FirewallPolicy | undefined;
  const generic: IndexedRule[] = [];
  const filed = { src: new Map<number, IndexedRule[]>(), dst: new Map(), either: new Map() };
  const listed = ids.map((id) => policies.get(id)).filter((p): p is FirewallPolicy => p !== undefined);
  const uses = new Map<number, number>();
  for (const policy of listed)
    for (const rule of policy.rules)
      for (const t of [...tagsOf(rule.endpoint1), ...tagsOf(rule.endpoint2)])
        uses.set(t, (uses.get(t) ?? 0) + 1);
  let pos = 0;
  for (const policy of listed) {
    present ??= policy;
    for (const tableRule of policy.rules) {
      // the matcher reads rules of one shape (hot.ts)
      const rule = hotFirewallRule(tableRule);
      const entry = { pos: pos++, policy, rule };
      const at = filing(rule, uses);
      if (at === undefined) generic.push(entry);
      else {
        const byTag: Map<number, IndexedRule[]> = filed[at.side];
        const list = byTag.get(at.tag);
        if (list) list.push(entry);
        else byTag.set(at.tag, [entry]);
      }
    }
  }
  /** The first entry of a position-sorted list that matches and comes before `best`. */
  const scan = (
    list: IndexedRule[] | undefined,
    best: IndexedRule | undefined,
    matches: (r: FirewallRule) => boolean,
  ) => {
    if (!list) return best;
    for (const e of list) {
      if (best && e.pos >= best.pos) break;
      if (matches(e.rule)) return e;
    }
    return best;
  };
  const { src, dst, either } = filed;
  return {
    present,
    first(srcTags, dstTags, matches) {
      let best = scan(generic, undefined, matches);
      for (const t of srcTags) best = scan(src.get(t), best, matches);
      for (const t of dstTags) best = scan(dst.get(t), best, matches);
      if (either.size > 0) {
        for (const t of srcTags) best = scan(either.get(t), best, matches);
        // a tag both ends carry: its list was looked at already
        for (const t of dstTags) if (!srcTags.includes(t)) best = scan(either.get(t), best, matches);
      }
      return best;
    },
  };
}

/** Indexes per table version: by the list object first (a vif's), then by its contents (vifs share lists). */
const byList = new WeakMap<
  readonly string[],
  { policies: ReadonlyMap<string, FirewallPolicy>; index: FirewallIndex }
>();
const byContents = new WeakMap<ReadonlyMap<string, FirewallPolicy>, Map<string, FirewallIndex>>();

export function firewallIndex(
  ids: readonly string[],
  policies: ReadonlyMap<string, FirewallPolicy>,
): FirewallIndex {
  const hit = byList.get(ids);
  if (hit && hit.policies === policies) return hit.index;
  let shared = byContents.get(policies);
  if (!shared) {
    shared = new Map();
    byContents.set(policies, shared);
  }
  const key = ids.join("\n");
  let index = shared.get(key);
  if (!index) {
    index = build(ids, policies);
    shared.set(key, index);
  }
  byList.set(ids, { policies, index });
  return index;
}
