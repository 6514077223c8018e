/**
 * Subnets and addresses, the rules several types share: a VN's IPAM refs and a network-ipam's own subnets are
 * completed (uuids, gateway, DNS) and checked for overlaps; a subnet still serving addresses cannot be
 * dropped; instance-ips and floating-ips take addresses from a VN's subnets in its allocation order.
 * Example: `const { address, subnet } = pickAddress(ctx, vnSubnets(ctx.store, vn), "virtual-network x", undefined, undefined, "v4")`.
 */
import { randomUUID } from "node:crypto";
import { ApiError, badRequest, conflict } from "../errors";
import {
  allocate,
  checkRequested,
  completeSubnet,
  contains,
  IpamError,
  planSubnet,
  type SubnetPlan,
} from "../ipam";
import type { IpamSubnet } from "../schema";
import type { Store, StoredObject, StoredRef } from "../store";
import type { Json, ServerContext } from "./rules";

/** Fills subnet uuids/gateways in VN→IPAM attrs (user-defined) or writes `[{subnet_uuid}]` (flat IPAMs). */
export function completeVnIpamRefs(
  ctx: ServerContext,
  refs: Record<string, StoredRef[]>,
  prevRefs: Record<string, StoredRef[]>,
): Record<string, StoredRef[]> {
  const list = refs["network-ipam"];
  if (!list) return refs;
  const out = list.map((r) => {
    const ipam = ctx.store.get(r.uuid)!;
    const prevAttr = prevRefs["network-ipam"]?.find((x) => x.uuid === r.uuid)?.attr as
      | { ipam_subnets?: IpamSubnet[] }
      | undefined;
    const attr = structuredClone((r.attr ?? {}) as { ipam_subnets?: IpamSubnet[]; host_routes?: unknown });
    if (ipam.props.ipam_subnet_method === "flat-subnet") {
      const subnets = (
        (ipam.props.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? []
      ).map((s) => ({
        subnet_uuid: s.subnet_uuid,
      }));
      return { ...r, attr: { ...attr, ipam_subnets: subnets } };
    }
    attr.ipam_subnets = completeSubnets(attr.ipam_subnets ?? [], prevAttr?.ipam_subnets ?? []);
    return { ...r, attr };
  });
  return { ...refs, "network-ipam": out };
}

export function completeIpamSubnets(p: Json, prev: Json): void {
  const cur = p.ipam_subnets as { subnets?: IpamSubnet[] } | undefined;
  if (!cur?.subnets) return;
  const old = (prev.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? [];
  p.ipam_subnets = { ...cur, subnets: completeSubnets(cur.subnets, old) };
}

/** Validates subnets, keeps uuids of unchanged prefixes, fills gateway/DNS, rejects overlaps. */
function completeSubnets(subnets: IpamSubnet[], previous: IpamSubnet[]): IpamSubnet[] {
  const out = subnets.map((s) => {
    const same = previous.find(
      (o) =>
        o.subnet?.ip_prefix === s.subnet?.ip_prefix && o.subnet?.ip_prefix_len === s.subnet?.ip_prefix_len,
    );
    const withUuid = s.subnet_uuid || !same?.subnet_uuid ? s : { ...s, subnet_uuid: same.subnet_uuid };
    return ipamErrors(() => completeSubnet(withUuid, randomUUID));
  });
  const plans = out.map((s) => ipamErrors(() => planSubnet(s, s.subnet_uuid!)));
  for (let i = 0; i < plans.length; i++)
    for (let j = i + 1; j < plans.length; j++)
      if (
        plans[i].family === plans[j].family &&
        plans[i].network <= plans[j].broadcast &&
        plans[j].network <= plans[i].broadcast
      )
        throw badRequest(`Overlapping subnets ${plans[i].cidr} and ${plans[j].cidr}`);
  return out;
}

/** Refuses to drop a subnet that still has addresses allocated from it. */
export function checkSubnetsStillServe(ctx: ServerContext, prev: StoredObject, next: StoredObject): void {
  const before = ownSubnets(ctx.store, prev);
  const after = new Set(ownSubnets(ctx.store, next).map((s) => s.subnet_uuid));
  for (const s of before) {
    if (after.has(s.subnet_uuid)) continue;
    const used = ctx.alloc.taken.get(s.subnet_uuid!)?.size ?? 0;
    if (used > 0)
      throw conflict(
        `Cannot delete IP block ${s.subnet?.ip_prefix}/${s.subnet?.ip_prefix_len}: ${used} address(es) in use`,
      );
  }
}

function ownSubnets(store: Store, o: StoredObject): IpamSubnet[] {
  if (o.type === "network-ipam")
    return (o.props.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? [];
  return (o.refs["network-ipam"] ?? []).flatMap((r) => {
    const ipam = store.get(r.uuid);
    if (ipam?.props.ipam_subnet_method === "flat-subnet") return [];
    return (r.attr as { ipam_subnets?: IpamSubnet[] } | null)?.ipam_subnets ?? [];
  });
}

/** Rewrites the IPAM refs of every VN using a flat IPAM whose subnets changed. */
export function refreshFlatRefs(ctx: ServerContext, ipam: StoredObject): void {
  for (const vn of ctx.store.referrers(ipam.uuid)) {
    if (vn.type !== "virtual-network") continue;
    ctx.rewrite(vn, { refs: completeVnIpamRefs(ctx, vn.refs, vn.refs) });
  }
}

/** The VN's subnets in allocation preference order (address_allocation_mode). */
export function vnSubnets(store: Store, vn: StoredObject): SubnetPlan[] {
  const user: SubnetPlan[] = [];
  const flat: SubnetPlan[] = [];
  for (const r of vn.refs["network-ipam"] ?? []) {
    const ipam = store.get(r.uuid);
    if (!ipam) continue;
    if (ipam.props.ipam_subnet_method === "flat-subnet") {
      for (const s of (ipam.props.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? [])
        flat.push(planSubnet(s, s.subnet_uuid!));
    } else {
      for (const s of (r.attr as { ipam_subnets?: IpamSubnet[] } | null)?.ipam_subnets ?? [])
        user.push(planSubnet(s, s.subnet_uuid!));
    }
  }
  switch (vn.props.address_allocation_mode) {
    case "flat-subnet-only":
      return flat;
    case "user-defined-subnet-only":
      return user;
    case "flat-subnet-preferred":
      return [...flat, ...user];
    default:
      return [...user, ...flat];
  }
}

/** The requested address (checked) or the next free one of `family`, from the first subnet that has one. */
export function pickAddress(
  ctx: ServerContext,
  plans: SubnetPlan[],
  owner: string,
  requested: string | undefined,
  subnetUuid: string | undefined,
  family: "v4" | "v6" | undefined,
): { address: string; subnet: string } {
  if (subnetUuid) {
    plans = plans.filter((s) => s.subnetUuid === subnetUuid);
    if (plans.length === 0) throw badRequest(`Subnet ${subnetUuid} is not a subnet of ${owner}`);
  }
  if (plans.length === 0) throw badRequest(`${owner} has no subnets to allocate from`);
  if (requested) {
    if (typeof requested !== "string") throw badRequest("address must be a string");
    const plan = plans.find((s) => ipamErrors(() => contains(s, requested)));
    if (!plan) throw badRequest(`${requested} is not in any subnet of ${owner}`);
    const address = ipamErrors(() => checkRequested(plan, requested, ctx.alloc.takenIn(plan.subnetUuid)));
    return { address, subnet: plan.subnetUuid };
  }
  for (const plan of plans) {
    if (family && plan.family !== family) continue;
    const address = allocate(plan, ctx.alloc.takenIn(plan.subnetUuid), ctx.alloc.hints.get(plan.subnetUuid));
    if (address) {
      ctx.alloc.hints.set(plan.subnetUuid, address);
      return { address, subnet: plan.subnetUuid };
    }
  }
  throw conflict(`${owner} has exhausted its ${family ?? ""} subnets`);
}

/** The allocator's errors as API errors (same status and reason). */
function ipamErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof IpamError) throw new ApiError(e.status, e.message);
    throw e;
  }
}
