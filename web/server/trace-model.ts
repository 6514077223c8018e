/**
 * The Trace page's view model: a probe's trace lines (the datapath engine's, `ProbeResult.trace`) cut into
 * stages — where (compute or pod), which stage (ingress, floating-ip, route, security-group, firewall, flow,
 * nat, deliver, tunnel), its outcome, the Contrail object that decided and the Kubernetes object behind it —
 * with the deciding stage marked and Kubernetes' own verdict beside it. Pure.
 *
 * A trace line reads `<compute> <stage>(<outcome>): <text> [<contrail type> <fq_name> ← <Kind> <ns/name>]`.
 */
import type { ProbeResult } from "../../testbed/runner/testbed";
import type { ObjectRefView, TraceStage, TraceView } from "../shared/views";

export type { ObjectRefView, TraceStage, TraceView };

const LINE = /^(\S+(?: host)?) ([a-z][a-z0-9-]*)(?:\(([^)]*)\))?: (.*)$/;
const OBJECT = /^(.*) \[([a-z][a-z-]*) (\S+)(?: ← (\S+) (\S+))?\]$/;

export function parseTraceLine(line: string): TraceStage {
  const m = LINE.exec(line);
  if (!m) {
    // a pod's own stack: "<ns>/<pod> host: ICMP echo reply"
    const host = /^(\S+) host: (.*)$/.exec(line);
    return host ? { where: host[1]!, stage: "host", text: host[2]! } : { where: "", stage: "", text: line };
  }
  const [, where, stage, outcome, rest] = m;
  const stageView: TraceStage = {
    where: where!,
    stage: stage!,
    text: rest!,
    ...(outcome ? { outcome } : {}),
  };
  const o = OBJECT.exec(rest!);
  if (o) {
    stageView.text = o[1]!;
    stageView.contrail = { type: o[2]!, fqName: o[3]! };
    if (o[4] && o[5]) stageView.kube = { kind: o[4], name: o[5] };
  } else {
    // a route lookup names its VRF, whose routing instance is the deciding object of a missing route
    const vrf = /in VRF \d+ \(([^)]+)\)/.exec(rest!);
    if (vrf) stageView.contrail = { type: "routing-instance", fqName: vrf[1]! };
  }
  return stageView;
}

const FAILED = /^(drop|deny|discard)/;

export function traceStages(r: ProbeResult): TraceStage[] {
  const stages = r.trace.map(parseTraceLine);
  // the first stage that dropped or denied decides; without one, a delivered packet was decided by nothing
  const deciding = stages.findIndex((s) => s.outcome !== undefined && FAILED.test(s.outcome));
  if (deciding >= 0) stages[deciding]!.deciding = true;
  return stages;
}
