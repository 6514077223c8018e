/**
 * What the scenario runner needs from a running environment, whatever the backends behind it (embedded or
 * real cluster, simulated or netns datapath). `testbed/env.ts` builds one; tests can build smaller ones.
 */
import type { KubeApi } from "../../controller/kube/api";
import type { PortCuts } from "../../fake-vrouter/datapath/port-space";
import type { Arrival, DryRunImage } from "../../fake-vrouter/datapath/sim-network";
import type { DryRunBatch } from "../../fake-vrouter/datapath/dry-run-pool";
import type { PortWindow } from "../../fake-vrouter/datapath/port-window";
import type { HaproxyServer, RouteDecision } from "../../fake-vrouter/haproxy/route";
import type { ToolResult } from "../../fake-vrouter/tools/index";

export type ProbeProto = "icmp" | "tcp" | "udp" | "sctp";

export interface ProbeRequest {
  /** Endpoint name: "<namespace>/<pod>", "host:<fabric host>" or "external:<external host>". */
  from: string;
  toIp: string;
  proto: ProbeProto;
  port?: number;
  /** Packets (icmp) or connection attempts (tcp/udp/sctp); each attempt is a new flow (new source port). */
  count: number;
  /** sim only: the source port (ICMP identifier) of every attempt, re-opening one 5-tuple (ECMP stickiness). */
  sport?: number;
}

/** What one new connection meets: an answer, a refusal (delivered, nothing listens), or a drop on the way. */
export type ReachOutcome = "answered" | "refused" | "dropped";

export interface ProbeResult {
  sent: number;
  received: number;
  /** Who answered first (endpoint name); undefined when nothing answered. */
  servedBy?: string;
  /** Answers per endpoint over all attempts (ECMP spread). */
  servedByCounts: Record<string, number>;
  /** Answers proving delivery but no listener (TCP RST, ICMP port unreachable, SCTP ABORT). */
  refused: number;
  /** TTL seen on the first reply. */
  replyTtl?: number;
  /** Why the first lost packet was dropped, and the trace that explains it. */
  drop?: { where: string; reason: string };
  trace: string[];
  /**
   * The firewall decisions the first packet met, one per end that evaluated policy (sim datapath; the netns
   * datapath reports none): what the divergence report names as the deciding rule.
   */
  firewall?: FirewallDecision[];
}

/** One HTTP request (GET) from an endpoint to an address: an Ingress's, or a pod's HTTP responder. */
export interface HttpRequest {
  from: string;
  toIp: string;
  port: number;
  /** The Host header (default: the address). */
  host?: string;
  path: string;
}

export interface HttpResult {
  /** The TCP connection to toIp:port was answered (false: `drop`/`trace` say why). */
  connected: boolean;
  /** Not connected, but refused (TCP RST): the address was reached and nothing listens on the port. */
  refused?: boolean;
  /** HTTP status (200 from a backend pod, 503 from haproxy when no rule or no server takes it). */
  status?: number;
  /** The pod whose responder answered (its name is the body). */
  servedBy?: string;
  /** When an Ingress's haproxy took the request: its load balancer, the decision, the server it used. */
  proxy?: {
    lbUuid: string;
    decision: RouteDecision;
    server?: HaproxyServer;
    serverDrop?: string;
    /** haproxy's own address (its service instance's port), the source of its connection to the server. */
    sourceIp?: string;
    /** The firewall decisions haproxy's connection to the server met (sim datapath, as `ProbeResult.firewall`). */
    firewall?: FirewallDecision[];
  };
  drop?: { where: string; reason: string };
  trace: string[];
}

/** One DNS query from an endpoint to a DNS server's address (UDP/53), through the datapath like any packet. */
export interface DnsRequest {
  from: string;
  server: string;
  name: string;
  qtype?: "A" | "SRV";
}

export interface DnsResult {
  /** The response's rcode (NOERROR, NXDOMAIN, REFUSED, FORMERR); undefined when no response came. */
  rcode?: string;
  addresses: string[];
  /** The answer records as lines (`web.default.svc.cluster.local A 10.96.0.20`). */
  answers: string[];
  /** The DNS pod that answered (its endpoint name), when known. */
  servedBy?: string;
  /** Why the query (or its response) was lost, and the trace that explains it. */
  drop?: { where: string; reason: string };
  trace: string[];
}

export interface FirewallDecision {
  where: "source" | "destination";
  compute: string;
  action: "pass" | "deny";
  /** fq_name (joined) of the firewall-policy and of the rule; no rule = implicit deny. */
  policy?: string;
  rule?: string;
  sequence?: string;
}

export interface Testbed {
  readonly kube: KubeApi;
  /** The config API; it may carry the admin port's credentials (fake-contrail-api/auth/client.ts reads them). */
  readonly vncUrl: string;
  /**
   * How a user reaches the config API (the scenario's `auth:`): its public address (not the admin port the
   * testbed itself uses) and, with authentication on, their keystone token — scoped to `project` when they
   * hold a role there, else to the first project they do.
   */
  userEndpoint?(user: string, project?: string): Promise<{ base: string; headers: Record<string, string> }>;
  /** Set by the runner while a step with `as:` runs: the user its requests are made as. */
  readonly actor?: { user: string; project?: string };
  readonly datapath: "sim" | "netns";
  /** Wait until every component has processed every change (the settle barrier of docs/architecture.md). */
  settle(): Promise<void>;
  probe(req: ProbeRequest): Promise<ProbeResult>;
  /**
   * Make pod "<ns>/<pod>"'s readiness probes fail or pass from now on (its node's kubelet stand-in sets the
   * Ready condition; EndpointSlices and the load balancer's members follow). Rejects when no node runs it.
   */
  setReadiness?(pod: string, passing: boolean): Promise<void>;
  /**
   * Make what pod "<ns>/<pod>"'s application answers the vrouter agent's service-health-checks fail or pass
   * from now on; resolves to the checks its interface refers to (none: the step cannot change anything).
   */
  setHealth?(pod: string, passing: boolean): Promise<string[]>;
  /** One DNS query through the datapath to a DNS server (the kube-dns Service's address). */
  resolve?(req: DnsRequest): Promise<DnsResult>;
  /** One HTTP request; undefined where the datapath cannot carry HTTP yet (the runner says so). */
  http?(req: HttpRequest): Promise<HttpResult>;
  /**
   * Whether one new connection would be answered, decided by the datapath's dry run: the engines' own
   * flow-setup stages hop by hop, no frames, no flows, no trace (held equal to the packet verdicts by
   * test/datapath/conformance.test.ts). Only the simulated datapath has one; a matrix uses it for every cell and
   * sends packets only for the cells it has to explain.
   */
  reach?(req: Omit<ProbeRequest, "count">): boolean;
  /**
   * Runs one of a vrouter's own tools (`["flow", "-l"]`, `["vif", "--list"]`) on its live tables and counters;
   * rejects for a vrouter the testbed does not have.
   */
  vrouterTool?(node: string, argv: string[]): Promise<ToolResult>;
  /**
   * The dry run's full outcome of one new connection (`sport` chosen by the caller): answered, refused (it
   * reached the address, nothing listens) or dropped. The simulated datapath's; the all-packets analysis
   * (reach-set.ts) uses it, else one packet per piece of the port space.
   */
  reachOutcome?(
    req: Omit<ProbeRequest, "count">,
    onArrival?: (a: Arrival) => void,
    /** Records the destination ports this outcome holds for (fake-vrouter/datapath/port-window.ts). */
    window?: PortWindow,
  ): ReachOutcome;
  /**
   * The dry-run outcomes (dry-run-pool.ts OUTCOME codes) of a batch of cells of one protocol and port, as
   * `reach` would give them asked in order, on several cores where the datapath can (the simulated one).
   */
  reachMany?(batch: DryRunBatch, progress?: (done: number) => void): Promise<Uint8Array>;
  /** What a copy of the simulated network needs to answer dry runs on a worker thread. */
  dryRunImage?(): DryRunImage;
  /** The next `n` ephemeral source ports the simulated network would give new connections. */
  takeEphemeral?(n: number): Uint16Array;
  /**
   * Where the port space of a protocol must be cut so that each piece meets the same rules, NAT and sockets in
   * the computes' tables (fake-vrouter/datapath/port-space.ts); what the all-packets analysis needs.
   */
  portCuts?(proto: "tcp" | "udp" | "sctp"): Promise<PortCuts>;
  /**
   * Whether a flow to this address can meet an ECMP choice (the simulated datapath's tables say): if not, its
   * source port changes nothing the flow hash decides, and the all-packets analysis tries one per piece.
   */
  ecmpPossible?(ip: string): boolean;
  /** Warnings of the controller's translation now in force (input it could not translate as asked). */
  warnings?(): string[];
  /** Address of a fabric host (a host on the underlay without a vrouter) declared by the scenario. */
  fabricHostIp(name: string): string | undefined;
  /** Address of an external host (outside the cluster, behind the SDN gateway) declared by the scenario. */
  externalHostIp?(name: string): string | undefined;
  close(): Promise<void>;
}
