/**
 * Flow setup, stage 4 (PIPELINE.md step 9): policy in the agent's order (`FlowEntry::DoPolicy`, minus the
 * VRF-assign, mirror and FWaaS stages the testbed does not model), each stopping the flow on deny:
 *   `network-policy`  the source VN's ACL, then the destination VN's when the destination is local;
 *   `security-group`  egress ACLs of the source vif, then ingress ACLs of a local destination vif;
 *   `firewall-policy` the source vif's ordered policy list, then the destination vif's.
 * Stages run only for policy-enabled vifs, and the destination's not through a no-policy label. Their steps
 * are recorded even without tracing: they are the flow's `decidedBy`, and the last one naming an object is
 * its `verdict`.
 *
 * Example: a source vif with SG egress ACL "sg-a" and no rule for tcp/80 → a `Drop` FLOW_ACTION_DROP at
 *          `security-group` ("egress of vif 3: no rule matched: implicit deny"), installFlow: true
 */
import type { Vif } from "../../tables";
import { type CallContext, type Drop, drop, step } from "../context";
import { evaluateAcls, evaluateFirewall, type PolicyTuple } from "../policy";
import type { TablesIndex } from "../tables-index";
import type { TraceStep } from "../trace";
import type { DestinationSide, FlowEnds, FlowSetup, SourceSide } from "./flow-setup";

type PolicyCheck =
  | { stage: "network-policy" | "security-group"; acls: string[]; whose: string }
  | { stage: "firewall-policy"; vif: Vif; whose: string };

/** The policy verdict of a new flow: the deciding step (none when no stage ran or none named an object). */
export function policy(
  ctx: CallContext,
  idx: TablesIndex,
  setup: FlowSetup,
  src: SourceSide,
  dst: DestinationSide,
  ends: FlowEnds,
): { verdict?: TraceStep } | Drop {
  const { ingress, tuple } = setup;
  const srcVif = src.vif;
  const dstVif = dst.vif;
  const srcPolicy = srcVif?.policyEnabled === true;
  const dstPolicy = dstVif?.policyEnabled === true && !(ingress.kind === "label" && !ingress.nh.policy);
  if (!srcPolicy && !dstPolicy) return {};
  const checks: PolicyCheck[] = [];
  const srcAcl = srcPolicy ? idx.networkPolicyAcl(src.vn) : undefined;
  const dstAcl = dstPolicy ? idx.networkPolicyAcl(ends.dstVn) : undefined;
  if (srcPolicy)
    checks.push({
      stage: "network-policy",
      acls: srcAcl ? [srcAcl] : [],
      whose: `source VN ${src.vn ?? "?"}`,
    });
  if (dstPolicy && dstAcl !== srcAcl)
    checks.push({
      stage: "network-policy",
      acls: dstAcl ? [dstAcl] : [],
      whose: `destination VN ${ends.dstVn ?? "?"}`,
    });
  if (srcPolicy)
    checks.push({
      stage: "security-group",
      acls: srcVif!.sgEgressAcls,
      whose: `egress of vif ${srcVif!.index}`,
    });
  if (dstPolicy)
    checks.push({
      stage: "security-group",
      acls: dstVif!.sgIngressAcls,
      whose: `ingress of vif ${dstVif!.index}`,
    });
  if (srcPolicy) checks.push({ stage: "firewall-policy", vif: srcVif!, whose: "source" });
  if (dstPolicy && dstVif !== srcVif)
    checks.push({ stage: "firewall-policy", vif: dstVif!, whose: "destination" });

  const policyTuple: PolicyTuple = {
    proto: tuple.proto,
    sport: tuple.sport,
    dport: ends.nat.dport ?? tuple.dport,
    src: ends.src,
    dst: ends.dst,
  };
  let verdict: TraceStep | undefined;
  for (const check of checks) {
    const s =
      check.stage === "firewall-policy"
        ? firewallStep(ctx, idx, check.vif, policyTuple, check.whose)
        : aclStep(ctx, idx, check.stage, check.acls, policyTuple, check.whose);
    if (!s) continue;
    ctx.trace.push(s);
    if (s.ref) verdict = s;
    if (s.action === "deny")
      return drop("FLOW_ACTION_DROP", s.stage, s.detail, { ref: s.ref, rule: s.rule, installFlow: true });
  }
  return { verdict };
}

/** An ACL list's verdict as a trace step; none for an empty list (nothing to evaluate: implicit allow). */
function aclStep(
  ctx: CallContext,
  idx: TablesIndex,
  stage: "network-policy" | "security-group",
  ids: string[],
  t: PolicyTuple,
  whose: string,
): TraceStep | undefined {
  if (ids.length === 0) return undefined;
  const v = evaluateAcls(ids, idx.tables.acls, t);
  const what = v.rule
    ? `rule ${v.rule.uuid} ${v.rule.action}`
    : v.acl
      ? "no rule matched: implicit deny"
      : "no ACL: implicit allow";
  return step(ctx, stage, `${whose}: ${what}`, { action: v.action, ref: v.acl?.origin, rule: v.rule?.uuid });
}

function firewallStep(
  ctx: CallContext,
  idx: TablesIndex,
  vif: Vif,
  t: PolicyTuple,
  whose: string,
): TraceStep | undefined {
  if (vif.firewallPolicies.length === 0) return undefined;
  const v = evaluateFirewall(vif.firewallPolicies, idx.tables.firewallPolicies, t);
  const what = v.rule
    ? `${fqText(v.policy!)} rule ${v.rule.sequence} ${v.rule.action}`
    : "no firewall rule matched: implicit deny";
  return step(ctx, "firewall-policy", `${whose} vif ${vif.index}: ${what}`, {
    action: v.action,
    ref: v.rule?.origin ?? v.policy?.origin,
    policy: v.policy?.origin,
    sequence: v.rule?.sequence,
  });
}

/** A policy's fq_name as text, joined once per policy (every new flow's step names it). */
const fqTexts = new WeakMap<object, string>();
function fqText(p: { origin: { fqName: string[] } }): string {
  let t = fqTexts.get(p);
  if (t === undefined) {
    t = p.origin.fqName.join(":");
    fqTexts.set(p, t);
  }
  return t;
}
