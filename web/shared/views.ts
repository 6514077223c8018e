/**
 * The shapes the web view's server sends and its pages read: one definition for both sides (the client bundle
 * takes types only from here, never the server's code). Types only.
 */

/** A firewall decision as a trace reports it (testbed/runner/testbed.ts `FirewallDecision`). */
export interface FirewallDecisionView {
  where: "source" | "destination";
  compute: string;
  action: "pass" | "deny";
  policy?: string;
  rule?: string;
  sequence?: string;
}

/** The Per-vrouter page: one compute's interfaces, VRFs and routes, counters, and the tools' own tables. */
export interface VrouterPage {
  node: string;
  fabricIp: string;
  configVersion: number;
  interfaces: {
    index: number;
    name: string;
    type: string;
    ip?: string;
    mac: string;
    vrf: number;
    vn?: string;
    vmi?: string;
    policy: boolean;
    floatingIps: string[];
    rx: number;
    tx: number;
    drops: number;
    dropReasons: Record<string, number>;
  }[];
  vrfs: {
    id: number;
    name: string;
    vn: string;
    routes: { prefix: string; nh: number; label?: number; destVns: string[]; origin?: string }[];
  }[];
  flowCount: number;
  drops: Record<string, number>;
  /** As the vrouter's utilities print them. */
  text: { nh: string; flow: string; dropstats: string };
}

export interface ObjectRefView {
  type: string;
  fqName: string;
  /** Filled by the edge when the object is in the config index. */
  uuid?: string;
}

export interface TraceStage {
  where: string;
  stage: string;
  outcome?: string;
  text: string;
  contrail?: ObjectRefView;
  kube?: { kind: string; name: string };
  /** This stage settled the packet's fate (the drop, or the policy that denied it). */
  deciding?: boolean;
}

/** The Trace page: a probe's stages, what decided, and Kubernetes' verdict beside it. */
export interface TraceView {
  from: string;
  to: string;
  toIp: string;
  proto: string;
  port?: number;
  /** What Contrail did with the first packet. */
  contrail: "allow" | "deny";
  /** Whether Kubernetes NetworkPolicy semantics admit it (pod to pod only). */
  kubernetes?: "allow" | "deny";
  kubernetesReason?: string;
  /** One line naming what decided in Contrail (the firewall rule and the NetworkPolicy behind it, or the drop). */
  decidedBy: string;
  /** The Contrail object that decided (the deciding stage's), and the Kubernetes object it stands for. */
  decidingObject?: ObjectRefView;
  kubernetesObject?: string;
  /** Why that object decided so, when the trace alone does not say (a missing route: the networks apart). */
  why?: string;
  drop?: { where: string; reason: string };
  stages: TraceStage[];
  firewall: FirewallDecisionView[];
}
