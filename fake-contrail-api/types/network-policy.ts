/**
 * network-policy (upstream NetworkPolicyServer): every rule gets a `rule_uuid` when the client gave none (the
 * agent keys ACL entries by it), on create and on update; security-group entries get the same.
 * Example: `POST {network_policy_entries: {policy_rule: [{direction: ">", …}]}}` → the rule has a `rule_uuid`.
 */
import { randomUUID } from "node:crypto";
import { isJsonObject, type TypeRules } from "./rules";

export const networkPolicy: TypeRules = {
  preCreate(_ctx, obj) {
    fillRuleUuids(obj.props.network_policy_entries);
  },
  preUpdate(_ctx, _prev, next) {
    fillRuleUuids(next.props.network_policy_entries);
  },
};

/** Policy rules get a rule_uuid when the client gave none. */
export function fillRuleUuids(entries: unknown): void {
  const rules = (entries as { policy_rule?: Record<string, unknown>[] } | undefined)?.policy_rule;
  for (const r of rules ?? []) if (isJsonObject(r) && !r.rule_uuid) r.rule_uuid = randomUUID();
}
