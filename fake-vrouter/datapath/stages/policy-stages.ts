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
    return judge(
      ctx,
      idx,
      policyTuple,
      srcPolicy ? srcVif : undefined,
      dstPolicy ? dstVif : undefined,
      src,
      ends,
    );
  } finally {
    if (w) w.symbolic = symbolic!;
  }
}

/**
 * The checks in the agent's order — the source VN's ACL, the destination VN's (when another), SG egress of the
 * source vif, SG ingress of the destination vif, the source vif's firewall policies, the destination vif's —
 * each skipped when its list is empty (implicit allow, no step). A check's step is built only where it is read
 * (a dry run reads only a denial).
 */
function judge(
  ctx: CallContext,
  idx: TablesIndex,
  t: PolicyTuple,
  srcVif: Vif | undefined,
  dstVif: Vif | undefined,
  src: SourceSide,
  ends: FlowEnds,
): { verdict?: TraceStep } | Drop {
  const out: { verdict?: TraceStep } = {};
  const { acls, firewallPolicies } = idx.tables;
  const srcAcl = srcVif ? idx.networkPolicyAcl(src.vn) : undefined;
  const dstAcl = dstVif ? idx.networkPolicyAcl(ends.dstVn) : undefined;
  if (srcAcl !== undefined) {
    const v = evaluateAcls([srcAcl], acls, t);
    if (read(ctx, v)) {
      const d = record(ctx, v, out, { stage: "network-policy", acls: [srcAcl], side: "source", vn: src.vn });
      if (d) return d;
    }
  }
  if (dstAcl !== undefined && dstAcl !== srcAcl) {
    const v = evaluateAcls([dstAcl], acls, t);
    if (read(ctx, v)) {
      const d = record(ctx, v, out, {
        stage: "network-policy",
        acls: [dstAcl],
        side: "destination",
        vn: ends.dstVn,
      });
      if (d) return d;
    }
  }
  if (srcVif && srcVif.sgEgressAcls.length > 0) {
    const v = evaluateAcls(srcVif.sgEgressAcls, acls, t);
    if (read(ctx, v)) {
      const d = record(ctx, v, out, {
        stage: "security-group",
        acls: srcVif.sgEgressAcls,
        side: "egress",
        vif: srcVif,
      });
      if (d) return d;
    }
  }
  if (dstVif && dstVif.sgIngressAcls.length > 0) {
    const v = evaluateAcls(dstVif.sgIngressAcls, acls, t);
    if (read(ctx, v)) {
      const d = record(ctx, v, out, {
        stage: "security-group",
        acls: dstVif.sgIngressAcls,
        side: "ingress",
        vif: dstVif,
      });
      if (d) return d;
    }
  }
  if (srcVif && srcVif.firewallPolicies.length > 0) {
    const v = evaluateFirewall(srcVif.firewallPolicies, firewallPolicies, t);
    if (read(ctx, v)) {
      const d = record(ctx, v, out, { stage: "firewall-policy", vif: srcVif, side: "source" });
      if (d) return d;
    }
  }
  if (dstVif && dstVif !== srcVif && dstVif.firewallPolicies.length > 0) {
    const v = evaluateFirewall(dstVif.firewallPolicies, firewallPolicies, t);
    if (read(ctx, v)) {
      const d = record(ctx, v, out, { stage: "firewall-policy", vif: dstVif, side: "destination" });
      if (d) return d;
    }
  }
  return out;
}

/** Whether a check's step is read: always, but by a dry run only for a denial (what it allowed is no one's). */
function read(ctx: CallContext, v: AclVerdict | FirewallVerdict): boolean {
  return !ctx.verdictOnly || v.action === "deny";
}

/** A policy denial nobody reads the words of (`CallContext.outcomeOnly`). */
const UNDESCRIBED_DENY = drop("FLOW_ACTION_DROP", "firewall-policy", "denied by policy (not described)", {
  installFlow: true,
});

/** One check's step recorded (the last naming an object is the verdict); a denial's drop. */
function record(
  ctx: CallContext,
  v: AclVerdict | FirewallVerdict,
  out: { verdict?: TraceStep },
  check: PolicyCheck,
): Drop | undefined {
  if (ctx.outcomeOnly) return UNDESCRIBED_DENY;
  const s = describe(ctx, check, v);
  ctx.trace.push(s);
  if (s.ref) out.verdict = s;
  if (s.action === "deny")
    return drop("FLOW_ACTION_DROP", s.stage, s.detail, { ref: s.ref, rule: s.rule, installFlow: true });
  return undefined;
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
