/**
 * What every pipeline stage is handed and what it hands back. A `CallContext` lives for one call of the
 * engine (`receive` of one frame, the revalidation of one flow in `install`, one `explain`) and is passed
 * down, never stored: no call leaves tracing flags or frame sizes behind for the next. A stage that kills the
 * packet returns a `Drop` (the kernel's VP_DROP_* reason and the step to report); the engine counts it.
 *
 * Example: `const ctx = callContext("compute-1", { tracing: true, now: 0, frameBytes: 74 })`;
 *          `if (ctx.tracing) ctx.trace.push(step(ctx, "arp", "ARP op 2 absorbed"))`
 */
import type { DropReason, NextHop, Route, Vif } from "../tables";
import type { Ipv4Packet } from "./packet";
import { FABRIC_KEY_NH, type TablesIndex } from "./tables-index";
import type { TraceStage, TraceStep } from "./trace";

export interface CallContext {
  readonly compute: string;
  /** Build the step-by-step trace. Policy steps and the drop step are recorded either way (flow `decidedBy`). */
  readonly tracing: boolean;
  /** Logical time (ms) of the call: flow creation, use and aging. */
  readonly now: number;
  /** Size of the frame being processed (flow byte counters); 0 when there is no frame. */
  readonly frameBytes: number;
  /** The trace being built, in stage order. */
  readonly trace: TraceStep[];
  /**
   * Only the outcome is read (a dry run: forward or the drop): stages need not build the steps of what they
   * allow, which no one reads — a million-cell matrix would otherwise spend its time writing their texts.
   */
  readonly verdictOnly?: boolean;
  /**
   * Not even a denial's words are read (a matrix's dry runs: only forward or drop): a policy denial is the
   * shared `UNDESCRIBED_DENY` instead of a described step.
   */
  readonly outcomeOnly?: boolean;
}

export function callContext(
  compute: string,
  opts: { tracing: boolean; now: number; frameBytes: number; verdictOnly?: boolean; outcomeOnly?: boolean },
): CallContext {
  return {
    compute,
    tracing: opts.tracing,
    now: opts.now,
    frameBytes: opts.frameBytes,
    trace: [],
    verdictOnly: opts.verdictOnly === true && !opts.tracing,
    outcomeOnly: opts.outcomeOnly === true && opts.verdictOnly === true && !opts.tracing,
  };
}

/** Where a packet entered the L3 pipeline. */
export type Ingress =
  | { kind: "vif"; vif: Vif }
  /** From the fabric with an MPLS label (or VNI) naming a local interface NH. */
  | {
      kind: "label";
      label: number;
      nh: Extract<NextHop, { type: "encap" }>;
      /** The tunnel's outer source: the compute that sent it (which ECMP member a reply should go back to). */
      from?: string;
    }
  /** From the fabric unencapsulated (or a VNI naming a VRF): routed in `vrf`, delivered only locally. */
  | { kind: "fabric"; vrf: number };

/** The `nh` of the flow keys of packets entering here: the vif's (or the label's vif's) interface NH. */
export function keyNhOf(idx: TablesIndex, ingress: Ingress): number {
  if (ingress.kind === "vif") return idx.vifNh(ingress.vif.index);
  if (ingress.kind === "label") return idx.vifNh(ingress.nh.vif);
  return FABRIC_KEY_NH;
}

/** An ingress stage's result when the packet goes on to the flow stage. */
export interface ToL3 {
  ingress: Ingress;
  ip: Ipv4Packet;
}

/** Frames out of the vrouter, per vif. */
export type Frames = { vif: number; frame: Uint8Array }[];

type DropExtra = Pick<TraceStep, "vif" | "label" | "nh" | "ref" | "rule"> & { installFlow?: boolean };

/**
 * Why a stage ended the packet; `dropped` in the engine turns it into the trace's last step and a counter.
 * A class, so that telling a drop from a stage's value is one `instanceof` on the per-packet path.
 */
export class Drop {
  /** Nominal: a plain object with the same fields is not a `Drop` (stages test results with `instanceof Drop`). */
  declare private readonly nominal: never;
  readonly vif?: number;
  readonly label?: number;
  readonly nh?: number;
  readonly ref?: TraceStep["ref"];
  readonly rule?: string;
  /** A policy denial leaves a one-way DROP flow, so later packets of the connection hit it. */
  readonly installFlow?: boolean;

  constructor(
    readonly reason: DropReason,
    readonly stage: TraceStage,
    readonly detail: string,
    extra?: DropExtra,
  ) {
    this.vif = extra?.vif;
    this.label = extra?.label;
    this.nh = extra?.nh;
    this.ref = extra?.ref;
    this.rule = extra?.rule;
    this.installFlow = extra?.installFlow;
  }
}

export function drop(reason: DropReason, stage: TraceStage, detail: string, extra?: DropExtra): Drop {
  return new Drop(reason, stage, detail, extra);
}

export function step(
  ctx: CallContext,
  stage: TraceStage,
  detail: string,
  extra?: Partial<TraceStep>,
): TraceStep {
  const s: TraceStep = { compute: ctx.compute, stage, detail };
  if (extra) {
    const target = s as unknown as Record<string, unknown>;
    const source = extra as Record<string, unknown>;
    for (const k in source) if (source[k] !== undefined) target[k] = source[k];
  }
  return s;
}

/** The trace step of a drop (its extras in a fixed order: vif, label, nh, ref, rule). */
export function dropStep(ctx: CallContext, d: Drop): TraceStep {
  return step(ctx, d.stage, d.detail, {
    vif: d.vif,
    label: d.label,
    nh: d.nh,
    ref: d.ref,
    rule: d.rule,
    action: "drop",
    reason: d.reason,
  });
}

export function routeStep(ctx: CallContext, vrf: number, route: Route, dst: string): TraceStep {
  const origin = route.origin ? ` from ${route.origin.type} ${route.origin.fqName.join(":")}` : "";
  const leak = route.leakedBy ? `, leaked by ${route.leakedBy}` : "";
  return step(
    ctx,
    "route",
    `${dst} matches ${route.prefix} in VRF ${vrf} → NH ${route.nh}${route.label !== undefined ? ` label ${route.label}` : ""}${origin}${leak}`,
    { vrf, prefix: route.prefix, nh: route.nh, label: route.label, ref: route.origin },
  );
}
