/**
 * application-policy-set (upstream ApplicationPolicySetServer): the global one cannot be deleted.
 * Example: `DELETE` of `default-policy-management:global-application-policy-set` → 400.
 */
import { GLOBAL_APS } from "../boot";
import { badRequest } from "../errors";
import { sameList, type TypeRules } from "./rules";

export const applicationPolicySet: TypeRules = {
  preDelete(_ctx, obj) {
    if (sameList(obj.fq_name, GLOBAL_APS))
      throw badRequest("The global application policy set cannot be deleted");
  },
};
