/**
 * network-ipam (upstream NetworkIpamServer): its own subnets (flat IPAM) completed and checked for overlaps;
 * a subnet with addresses in use cannot be dropped; when a flat IPAM's subnets change, the VNs using it get
 * their refs' `[{subnet_uuid}]` rewritten.
 * Example: `PUT {ipam_subnets: {subnets: [...]}}` on a flat IPAM → every referring VN's ref attr follows.
 */
import type { TypeRules } from "./rules";
import { checkSubnetsStillServe, completeIpamSubnets, refreshFlatRefs } from "./subnets";

export const networkIpam: TypeRules = {
  preCreate(_ctx, obj) {
    completeIpamSubnets(obj.props, {});
  },
  preUpdate(ctx, prev, next, body) {
    if ("ipam_subnets" in body || "ipam_subnet_method" in body) {
      completeIpamSubnets(next.props, prev.props);
      checkSubnetsStillServe(ctx, prev, next);
    }
  },
  postUpdate(ctx, _prev, next, body) {
    if (
      ("ipam_subnets" in body || "ipam_subnet_method" in body) &&
      next.props.ipam_subnet_method === "flat-subnet"
    )
      refreshFlatRefs(ctx, next);
  },
};
