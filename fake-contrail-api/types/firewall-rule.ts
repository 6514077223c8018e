/**
 * firewall-rule (upstream FirewallRuleServer): each endpoint names exactly one of tags, address_group,
 * virtual_network, subnet, any — on create and on update.
 * Example: `endpoint_1: {tags: ["app=web"], any: true}` → 400.
 */
import { badRequest } from "../errors";
import { isJsonObject, type Json, type TypeRules } from "./rules";

export const firewallRule: TypeRules = {
  preCreate(_ctx, obj) {
    checkEndpoints(obj.props);
  },
  preUpdate(_ctx, _prev, next) {
    checkEndpoints(next.props);
  },
};

function checkEndpoints(p: Json): void {
  for (const f of ["endpoint_1", "endpoint_2"]) {
    const e = p[f];
    if (!isJsonObject(e)) continue;
    const set = ["tags", "address_group", "virtual_network", "subnet", "any"].filter((k) => {
      const v = e[k];
      return v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0);
    });
    if (set.length !== 1)
      throw badRequest(
        `firewall-rule ${f} must name exactly one of tags, address_group, virtual_network, subnet, any`,
      );
  }
}
