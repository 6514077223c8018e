/**
 * The agent's flow setup for the first packet of a flow (PIPELINE.md steps 8–9, `FlowEntry` in the agent).
 * `decide` runs the stages in order; each is a function of (context, tables index, flow setup, what the
 * earlier stages decided) that returns its own part of the decision, or a `Drop`:
 *   1. `sourceNat` (source-nat.ts) → `SourceSide`: the source end; link-local, floating-IP SNAT, fabric SNAT;
 *   2. `destination` (destination.ts) → `DestinationSide`: the route walk, local vif or remote end, ECMP member;
 *   3. `destinationNat` (destination-nat.ts) → `FlowEnds`: floating-IP DNAT (port mappings), the VRFs and
 *      reverse next-hop of the flow pair, the two ends as policy sees them;
 *   4. `policy` (policy-stages.ts) → the deciding step: network-policy ACLs, security groups, firewall policies.
 * Stages push their trace steps onto `ctx.trace` (policy steps always, the rest when tracing) and write
 * nothing else, so `install` and `explain` re-run a decision freely.
 *
 * Example: `decide(ctx, idx, { ingress: { kind: "vif", vif }, tuple, keyText })`
 *          → `{ nat: {}, vrf: 1, reverseVrf: 1, reverseNh: 21, verdict }` or a `Drop`
 */
import type { Route, Vif } from "../../tables";
import { type CallContext, Drop, type Ingress } from "../context";
import type { FlowEntry, NatRewrite, PoolName } from "../flows";
import type { FlowTuple } from "../nat";
import type { PolicyEnd } from "../policy";
import type { TablesIndex } from "../tables-index";
import type { TraceStep } from "../trace";
import { destination } from "./destination";
import { destinationNat } from "./destination-nat";
import { policy } from "./policy-stages";
import { sourceNat } from "./source-nat";

/** The first packet of a flow, as the agent sees it. */
export interface FlowSetup {
  ingress: Ingress;
  tuple: FlowTuple;
  /** The forward flow key's text (its hash picks the ECMP member). */
  keyText: string;
  /** The key's text built when asked (the dry run: only an ECMP choice needs it); then `keyText` is unused. */
  keyOf?: () => string;
  /** Revalidation (`install`): the ECMP member the flow has, kept while it is still a member. */
  sticky?: FlowEntry["ecmp"];
}

/** Stage 1: the source end and the NAT that changes where the flow is routed. */
export interface SourceSide {
  /** The source as policy sees it (a pod: its vif's VN, SGs and tags; else the bare address). */
  end: PolicyEnd;
  vif?: Vif;
  /** VN of the source for network policy (a floating IP's VN after FIP SNAT). */
  vn?: string;
  nat: NatRewrite;
  /** Fabric SNAT / link-local: the source port comes from this pool when the flow is installed. */
  natPool?: PoolName;
  /** VRF the destination is looked up in. */
  vrf: number;
}

/** Stage 2: where the (source-NATted) destination is. */
export interface DestinationSide {
  /** The local vif the packet ends on. */
  vif?: Vif;
  /** The route that decided (none for label ingress: the label names the vif). */
  route?: Route;
  remoteVia?: "tunnel" | "fabric";
  ecmp?: FlowEntry["ecmp"];
}

/** Stage 3: the flow pair as it will be written, and the ends policy judges. */
export interface FlowEnds {
  nat: NatRewrite;
  /** VRF the packet is routed in after NAT (the forward entry's VRF). */
  vrf: number;
  /** VRF the reply is routed in (the reverse entry's VRF). */
  reverseVrf: number;
  /** Flow-key next-hop of the reply (the reverse entry's `nh`). */
  reverseNh: number;
  src: PolicyEnd;
  dst: PolicyEnd;
  /** VN of the destination for network policy (a floating IP's VN after FIP DNAT). */
  dstVn?: string;
}

/** What the flow pair is written from. */
export interface FlowDecision {
  nat: NatRewrite;
  natPool?: PoolName;
  vrf: number;
  reverseVrf: number;
  reverseNh: number;
  ecmp?: FlowEntry["ecmp"];
  /** The policy step that decided (the last one naming an object). */
  verdict?: TraceStep;
}

/** What the agent decides for the first packet of a flow: NAT, destination, policy verdict — or the drop. */
export function decide(ctx: CallContext, idx: TablesIndex, setup: FlowSetup): FlowDecision | Drop {
  const src = sourceNat(ctx, idx, setup);
  const dst = destination(ctx, idx, setup, src);
  if (dst instanceof Drop) return dst;
  const ends = destinationNat(ctx, idx, setup, src, dst);
  if (ends instanceof Drop) return ends;
  const judged = policy(ctx, idx, setup, src, dst, ends);
  if (judged instanceof Drop) return judged;
  return {
    nat: ends.nat,
    natPool: src.natPool,
    vrf: ends.vrf,
    reverseVrf: ends.reverseVrf,
    reverseNh: ends.reverseNh,
    ecmp: dst.ecmp,
    verdict: judged.verdict,
  };
}
