/**
 * floating-ip (upstream FloatingIpServer): under a floating-ip-pool, an address from the pool VN's subnets
 * (limited to `floating_ip_pool_subnets` when set); under an instance-ip (a service VIP), the instance-ip's
 * own address. Never changed afterwards. Which pool subnet an address came from is derived, not stored.
 * Example: `POST {fq_name: [d, p, vn, pool, "fip"]}` → the next free address of `vn`'s subnets.
 */
import { badRequest } from "../errors";
import { contains, type SubnetPlan } from "../ipam";
import type { StoredObject } from "../store";
import type { ServerContext, TypeRules } from "./rules";
import { pickAddress, vnSubnets } from "./subnets";

export const floatingIp: TypeRules = {
  preCreate(ctx, obj, parent) {
    allocateFloatingIp(ctx, obj, parent!);
  },
  preUpdate(_ctx, prev, next) {
    const f = "floating_ip_address";
    if (next.props[f] !== prev.props[f])
      throw badRequest(`${f} cannot be changed (${String(prev.props[f])})`);
  },
  track(ctx, o) {
    const s = floatingSubnet(ctx, o);
    if (s) ctx.alloc.takenIn(s).add(o.props.floating_ip_address as string);
  },
  untrack(ctx, o) {
    const s = floatingSubnet(ctx, o);
    if (s) ctx.alloc.taken.get(s)?.delete(o.props.floating_ip_address as string);
  },
};

function allocateFloatingIp(ctx: ServerContext, obj: StoredObject, parent: StoredObject): void {
  const p = obj.props;
  let plans: SubnetPlan[];
  let owner: string;
  if (parent.type === "floating-ip-pool") {
    const vn = ctx.store.get(parent.parent_uuid!)!;
    plans = vnSubnets(ctx.store, vn);
    const only = (parent.props.floating_ip_pool_subnets as { subnet_uuid?: string[] } | undefined)
      ?.subnet_uuid;
    if (only?.length) plans = plans.filter((s) => only.includes(s.subnetUuid));
    owner = `floating-ip-pool ${parent.fq_name.join(":")}`;
  } else {
    // Under an instance-ip (a service VIP) the floating IP shares the parent's address: nothing to allocate.
    const vip = parent.props.instance_ip_address;
    if (typeof vip !== "string") throw badRequest(`instance-ip ${parent.fq_name.join(":")} has no address`);
    if (p.floating_ip_address !== undefined && p.floating_ip_address !== vip)
      throw badRequest(
        `a floating-ip under instance-ip ${parent.fq_name.join(":")} must use its address ${vip}`,
      );
    p.floating_ip_address = vip;
    if (!p.floating_ip_address_family) p.floating_ip_address_family = vip.includes(":") ? "v6" : "v4";
    return;
  }
  const family = p.floating_ip_address_family === "v6" ? "v6" : "v4";
  const requested = p.floating_ip_address as string | undefined;
  const { address } = pickAddress(ctx, plans, owner, requested, undefined, requested ? undefined : family);
  p.floating_ip_address = address;
  if (!p.floating_ip_address_family) p.floating_ip_address_family = address.includes(":") ? "v6" : "v4";
}

/** The pool subnet a floating IP's address came from (derived: floating IPs do not record it). */
function floatingSubnet(ctx: ServerContext, o: StoredObject): string | undefined {
  const addr = o.props.floating_ip_address;
  if (typeof addr !== "string" || !o.parent_uuid) return undefined;
  const parent = ctx.store.get(o.parent_uuid);
  if (!parent) return undefined;
  if (parent.type !== "floating-ip-pool") return undefined;
  const vn = parent.parent_uuid ? ctx.store.get(parent.parent_uuid) : undefined;
  if (!vn) return undefined;
  return vnSubnets(ctx.store, vn).find((s) => contains(s, addr))?.subnetUuid;
}
