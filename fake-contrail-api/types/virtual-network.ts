/**
 * virtual-network (upstream VirtualNetworkServer): a network id from 1 up unless one is given, never changed;
 * IPAM refs completed like the IPAM's own subnets; the primary routing instance `<vn>:<vn>` created with it;
 * the fabric's own VNs cannot be deleted.
 * Example: `POST {fq_name: [d, p, "red"]}` → `virtual_network_network_id: 1` and routing instance `d:p:red:red`.
 */
import { badRequest, conflict } from "../errors";
import { firstFree, type TypeRules } from "./rules";
import { checkSubnetsStillServe, completeVnIpamRefs } from "./subnets";

/** VNs the server itself needs; deleting them would break the fabric. */
const UNDELETABLE_VNS = new Set(["ip-fabric", "__link_local__"]);

export const virtualNetwork: TypeRules = {
  preCreate(ctx, obj) {
    const p = obj.props;
    obj.refs = completeVnIpamRefs(ctx, obj.refs, {});
    const id = p.virtual_network_network_id;
    if (typeof id === "number") {
      if (ctx.alloc.networkIds.has(id)) throw conflict(`virtual_network_network_id ${id} is already in use`);
    } else p.virtual_network_network_id = firstFree(ctx.alloc.networkIds, 1);
  },
  postCreate(ctx, obj) {
    ctx.create("routing-instance", {
      fq_name: [...obj.fq_name, obj.fq_name[obj.fq_name.length - 1]],
      parent_type: "virtual-network",
      routing_instance_is_default: true,
    });
  },
  preUpdate(ctx, prev, next, body) {
    if ("network_ipam_refs" in body) next.refs = completeVnIpamRefs(ctx, next.refs, prev.refs);
    if (next.props.virtual_network_network_id !== prev.props.virtual_network_network_id)
      throw badRequest("virtual_network_network_id cannot be changed");
    checkSubnetsStillServe(ctx, prev, next);
  },
  preDelete(_ctx, obj) {
    if (UNDELETABLE_VNS.has(obj.fq_name[obj.fq_name.length - 1]))
      throw conflict(
        `Cannot delete the ${obj.fq_name.join(":")} virtual network: it is needed by the fabric`,
      );
  },
  track(ctx, o) {
    if (typeof o.props.virtual_network_network_id === "number")
      ctx.alloc.networkIds.add(o.props.virtual_network_network_id);
  },
  untrack(ctx, o) {
    ctx.alloc.networkIds.delete(o.props.virtual_network_network_id as number);
  },
};
