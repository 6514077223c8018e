/**
 * The per-type rules of the config API, one `TypeRules` object per resource type that has rules of its own
 * (the hooks and their order: `rules.ts`). Types not listed follow the generic semantics of `service.ts` only.
 * Example: `rulesFor("security-group").preCreate?.(ctx, obj, parent)`.
 */
import { applicationPolicySet } from "./application-policy-set";
import { firewallRule } from "./firewall-rule";
import { floatingIp } from "./floating-ip";
import { instanceIp } from "./instance-ip";
import { networkIpam } from "./network-ipam";
import { networkPolicy } from "./network-policy";
import { project } from "./project";
import type { TypeRules } from "./rules";
import { securityGroup } from "./security-group";
import { tag, tagType } from "./tag";
import { virtualMachineInterface } from "./virtual-machine-interface";
import { virtualNetwork } from "./virtual-network";

const RULES = new Map<string, TypeRules>(
  Object.entries({
    "application-policy-set": applicationPolicySet,
    "firewall-rule": firewallRule,
    "floating-ip": floatingIp,
    "instance-ip": instanceIp,
    "network-ipam": networkIpam,
    "network-policy": networkPolicy,
    project,
    "security-group": securityGroup,
    tag,
    "tag-type": tagType,
    "virtual-machine-interface": virtualMachineInterface,
    "virtual-network": virtualNetwork,
  }),
);

const NONE: TypeRules = {};

export function rulesFor(type: string): TypeRules {
  return RULES.get(type) ?? NONE;
}

export { Allocations, isJsonObject, type Json, type ServerContext, sameList } from "./rules";
