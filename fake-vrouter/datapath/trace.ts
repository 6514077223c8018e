/**
 * What the engine reports about each packet: the ordered stages it went through and, for each, the
 * Contrail object (and Kubernetes origin when the controller annotated one) that decided.
 *
 * Example: `{ compute: "compute-1", stage: "firewall-policy", action: "deny", detail: "rule 00002.0 deny",
 *            ref: { type: "firewall-rule", uuid, fqName, k8s: { kind: "NetworkPolicy", ... } } }`
 */
import type { DropReason, ObjectRef } from "../tables";

export type TraceStage =
  | "ingress"
  | "arp"
  | "rpf"
  | "ttl"
  | "receive"
  | "flow"
  | "link-local"
  | "floating-ip"
  | "fabric-snat"
  | "route"
  | "nexthop"
  | "ecmp"
  | "network-policy"
  | "security-group"
  | "firewall-policy"
  | "decap"
  | "label"
  | "deliver"
  | "tunnel"
  | "fabric"
  | "underlay"
  | "host"
  | "drop";

export interface TraceStep {
  compute: string;
  stage: TraceStage;
  detail: string;
  action?: "pass" | "deny" | "forward" | "drop" | "nat";
  vif?: number;
  vrf?: number;
  prefix?: string;
  nh?: number;
  label?: number;
  /** Uuid of the ACL rule (ACL rules have no object of their own; `ref` is their ACL's origin). */
  rule?: string;
  ref?: ObjectRef;
  /** firewall-policy stage: the policy holding the deciding rule, and the rule's sequence in it. */
  policy?: ObjectRef;
  sequence?: string;
  reason?: DropReason;
}

/** One line per step, for CLI output and test failure messages. */
export function formatTrace(steps: readonly TraceStep[]): string {
  return steps
    .map((s) => {
      const who = s.ref
        ? ` [${s.ref.type} ${s.ref.fqName.join(":")}${s.ref.k8s ? ` ← ${s.ref.k8s.kind} ${s.ref.k8s.namespace ? `${s.ref.k8s.namespace}/` : ""}${s.ref.k8s.name}` : ""}]`
        : "";
      return `${s.compute} ${s.stage}${s.action ? `(${s.action})` : ""}: ${s.detail}${who}`;
    })
    .join("\n");
}
