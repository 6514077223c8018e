/**
 * security-group (upstream SecurityGroupServer): rule uuids as for network-policy; a `security_group_id` from
 * 8000001 up unless one is given (a taken one is refused), never changed.
 * Example: the first security group created gets `security_group_id: 8000001`.
 */
import { badRequest, conflict } from "../errors";
import { fillRuleUuids } from "./network-policy";
import { firstFree, type TypeRules } from "./rules";

const FIRST_SG_ID = 8_000_001;

export const securityGroup: TypeRules = {
  preCreate(ctx, obj) {
    const p = obj.props;
    fillRuleUuids(p.security_group_entries);
    if (typeof p.security_group_id !== "number")
      p.security_group_id = firstFree(ctx.alloc.sgIds, FIRST_SG_ID);
    else if (ctx.alloc.sgIds.has(p.security_group_id))
      throw conflict(`security_group_id ${p.security_group_id} is already in use`);
  },
  preUpdate(_ctx, prev, next) {
    fillRuleUuids(next.props.security_group_entries);
    if (next.props.security_group_id !== prev.props.security_group_id)
      throw badRequest("security_group_id cannot be changed");
  },
  track(ctx, o) {
    if (typeof o.props.security_group_id === "number") ctx.alloc.sgIds.add(o.props.security_group_id);
  },
  untrack(ctx, o) {
    ctx.alloc.sgIds.delete(o.props.security_group_id as number);
  },
};
