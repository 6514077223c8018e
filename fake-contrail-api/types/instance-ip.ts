/**
 * instance-ip (upstream InstanceIpServer): an address from its VN's subnets (or an IPAM's) — the one asked
 * for, checked, or the next free one of its family — recorded with its subnet; never changed afterwards.
 * Example: `POST {virtual_network_refs: [red]}` → `instance_ip_address: "10.1.0.252", subnet_uuid: …`.
 */
import { badRequest } from "../errors";
import { planSubnet, type SubnetPlan } from "../ipam";
import type { IpamSubnet } from "../schema";
import type { StoredObject } from "../store";
import type { ServerContext, TypeRules } from "./rules";
import { pickAddress, vnSubnets } from "./subnets";

export const instanceIp: TypeRules = {
  preCreate(ctx, obj) {
    allocateInstanceIp(ctx, obj);
  },
  preUpdate(_ctx, prev, next) {
    const f = "instance_ip_address";
    if (next.props[f] !== prev.props[f])
      throw badRequest(`${f} cannot be changed (${String(prev.props[f])})`);
  },
  track(ctx, o) {
    const p = o.props;
    if (typeof p.instance_ip_address === "string" && typeof p.subnet_uuid === "string")
      ctx.alloc.takenIn(p.subnet_uuid).add(p.instance_ip_address);
  },
  untrack(ctx, o) {
    const p = o.props;
    if (typeof p.subnet_uuid === "string")
      ctx.alloc.taken.get(p.subnet_uuid)?.delete(p.instance_ip_address as string);
  },
};

function allocateInstanceIp(ctx: ServerContext, obj: StoredObject): void {
  const p = obj.props;
  const vnRef = obj.refs["virtual-network"]?.[0];
  let plans: SubnetPlan[];
  let owner: string;
  if (vnRef) {
    const vn = ctx.store.get(vnRef.uuid)!;
    plans = vnSubnets(ctx.store, vn);
    owner = `virtual-network ${vn.fq_name.join(":")}`;
  } else if (obj.refs["network-ipam"]?.length) {
    const ipam = ctx.store.get(obj.refs["network-ipam"][0].uuid)!;
    plans = ((ipam.props.ipam_subnets as { subnets?: IpamSubnet[] } | undefined)?.subnets ?? []).map((s) =>
      planSubnet(s, s.subnet_uuid!),
    );
    owner = `network-ipam ${ipam.fq_name.join(":")}`;
  } else throw badRequest("instance-ip needs a virtual_network_refs (or network_ipam_refs) entry");
  const family = p.instance_ip_family === "v6" ? "v6" : "v4";
  const requested = p.instance_ip_address as string | undefined;
  if (requested && !p.instance_ip_family) p.instance_ip_family = requested.includes(":") ? "v6" : "v4";
  const { address, subnet } = pickAddress(
    ctx,
    plans,
    owner,
    requested,
    p.subnet_uuid as string | undefined,
    requested ? undefined : family,
  );
  p.instance_ip_address = address;
  p.subnet_uuid = subnet;
}
