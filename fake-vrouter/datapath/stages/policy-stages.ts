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
import {
  type AclVerdict,
  evaluateAcls,
  evaluateFirewall,
  type FirewallVerdict,
  type PolicyTuple,
} from "../policy";
import type { TablesIndex } from "../tables-index";
import type { TraceStep } from "../trace";
import type { DestinationSide, FlowEnds, FlowSetup, SourceSide } from "./flow-setup";
import { portWindow } from "../port-window";

type PolicyCheck =
  | { stage: "network-policy"; acls: string[]; side: "source" | "destination"; vn: string | undefined }
  | { stage: "security-group"; acls: string[]; side: "egress" | "ingress"; vif: Vif }
  | { stage: "firewall-policy"; vif: Vif; side: "source" | "destination" };

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
    checks.push({ stage: "network-policy", acls: srcAcl ? [srcAcl] : [], side: "source", vn: src.vn });
  if (dstPolicy && dstAcl !== srcAcl)
    checks.push({
      stage: "network-policy",
      acls: dstAcl ? [dstAcl] : [],
      side: "destination",
      vn: ends.dstVn,
    });
  if (srcPolicy)
    checks.push({ stage: "security-group", acls: srcVif!.sgEgressAcls, side: "egress", vif: srcVif! });
  if (dstPolicy)
    checks.push({ stage: "security-group", acls: dstVif!.sgIngressAcls, side: "ingress", vif: dstVif! });
  if (srcPolicy) checks.push({ stage: "firewall-policy", vif: srcVif!, side: "source" });
  if (dstPolicy && dstVif !== srcVif)
    checks.push({ stage: "firewall-policy", vif: dstVif!, side: "destination" });

  const policyTuple: PolicyTuple = {
    proto: tuple.proto,
    sport: tuple.sport,
    dport: ends.nat.dport ?? tuple.dport,
    src: ends.src,
    dst: ends.dst,
  };
  // a destination port a mapping rewrote is a constant, not the port an all-packets dry run asks about
  const w = ends.nat.dport !== undefined ? portWindow() : undefined;
  const symbolic = w?.symbolic;
  if (w) w.symbolic = false;
  try {
    return judge(ctx, idx, checks, policyTuple);
  } finally {
    if (w) w.symbolic = symbolic!;
  }
}

function judge(
  ctx: CallContext,
  idx: TablesIndex,
  checks: PolicyCheck[],
  policyTuple: PolicyTuple,
): { verdict?: TraceStep } | Drop {
  let verdict: TraceStep | undefined;
  for (const check of checks) {
    let v: AclVerdict | FirewallVerdict;
    if (check.stage === "firewall-policy") {
      if (check.vif.firewallPolicies.length === 0) continue;
      v = evaluateFirewall(check.vif.firewallPolicies, idx.tables.firewallPolicies, policyTuple);
    } else {
      // an empty list has nothing to evaluate: implicit allow, no step
      if (check.acls.length === 0) continue;
      v = evaluateAcls(check.acls, idx.tables.acls, policyTuple);
    }
    // a dry run reads only a denial; the steps of what was allowed are the flow's `decidedBy`, built otherwise
    if (ctx.verdictOnly && v.action !== "deny") continue;
    const s = describe(ctx, check, v);
    ctx.trace.push(s);
    if (s.ref) verdict = s;
    if (s.action === "deny")
      return drop("FLOW_ACTION_DROP", s.stage, s.detail, { ref: s.ref, rule: s.rule, installFlow: true });
  }
  return { verdict };
}

/** A check's verdict as its trace step. */
function describe(ctx: CallContext, check: PolicyCheck, v: AclVerdict | FirewallVerdict): TraceStep {
  if (check.stage === "firewall-policy") {
    const f = v as FirewallVerdict;
    const what = f.rule
      ? `${fqText(f.policy!)} rule ${f.rule.sequence} ${f.rule.action}`
      : "no firewall rule matched: implicit deny";
    return step(ctx, "firewall-policy", `${check.side} vif ${check.vif.index}: ${what}`, {
      action: f.action,
      ref: f.rule?.origin ?? f.policy?.origin,
      policy: f.policy?.origin,
      sequence: f.rule?.sequence,
    });
  }
  const a = v as AclVerdict;
  const whose =
    check.stage === "network-policy"
      ? `${check.side} VN ${check.vn ?? "?"}`
      : `${check.side} of vif ${check.vif.index}`;
  const what = a.rule
    ? `rule ${a.rule.uuid} ${a.rule.action}`
    : a.acl
      ? "no rule matched: implicit deny"
      : "no ACL: implicit allow";
  return step(ctx, check.stage, `${whose}: ${what}`, {
    action: a.action,
    ref: a.acl?.origin,
    rule: a.rule?.uuid,
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
