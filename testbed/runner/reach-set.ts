/**
 * All-packets reachability between two endpoints: the complete set of (protocol, destination port) that gets
 * through, not one probe's verdict.
 *
 * The port space of each protocol is cut where any compute's tables or any listening socket decide on a port
 * (fake-vrouter/datapath/port-space.ts); every piece meets the same rules, NAT and sockets, so one packet per
 * piece decides it. On the simulated datapath that packet is the engines' dry run (the same flow-setup stages as
 * a real packet, hop by hop), and its piece is its own port window (fake-vrouter/datapath/port-window.ts: the
 * ports every comparison the stages made answers the same for), tried from several source ports — source
 * ports are cut by the tables, and within a
 * piece the only thing a source port changes is the ECMP member a hash picks — so the answer is exact, and where
 * it depends on the source port that is said. On the netns datapath each piece gets one real packet (a random
 * source port), so a source-port dependence is not seen there.
 *
 * Example: `formatProtoPorts((await reachSet(tb, "default/a", "10.32.0.5")).delivered)` → "tcp 80,443; icmp"
 */
import { attachmentIp, splitAttachment } from "./attachment-target";
import {
  emptyProtoPorts,
  formatPortSet,
  formatProtoPorts,
  mergeIntervals,
  PORT_MAX,
  PORT_MIN,
  PORTED,
  type PortedProto,
  type PortInterval,
  pieces,
  type ProtoPorts,
  sameProtoPorts,
} from "../../fake-vrouter/datapath/port-space";
import type { KubeObject } from "../../controller/kube/api";
import { type Connection, kubernetesAllows, kubernetesVerdict, type World } from "../oracle/kubernetes";
import { clusterWorld, describeDecision, type MatrixContext } from "./matrix-check";
import type { Arrival } from "../../fake-vrouter/datapath/sim-network";
import { PortWindow } from "../../fake-vrouter/datapath/port-window";
import type { ReachOutcome, Testbed } from "./testbed";

/** Ports whose fate depended on the source port: the source ports that got through, and whether ECMP made it so. */
export interface SourcePortDependence {
  proto: PortedProto;
  ports: PortInterval[];
  /** Source ports from which these destination ports were delivered (under a rule's source-port range). */
  deliveredFrom: PortInterval[];
  /** The outcome also changed within one piece of source ports: the ECMP member the flow hash picks decides. */
  ecmp: boolean;
}

/** A class of flows on which Contrail and Kubernetes NetworkPolicy semantics disagree. */
export interface KubernetesDifference {
  proto: PortedProto | "icmp";
  /** Destination ports of the class (empty for icmp). */
  ports: PortInterval[];
  contrail: "allow" | "deny";
  kubernetes: "allow" | "deny";
  /** Why Kubernetes decides so (the policies that isolate or admit). */
  why: string;
  /** What decided in Contrail: the firewall rule (and the NetworkPolicy behind it), or the drop. */
  decidedBy: string;
}

/** The same question asked of Kubernetes' NetworkPolicy semantics (testbed/oracle/kubernetes.ts), pod to pod. */
export interface KubernetesComparison {
  allows: ProtoPorts;
  differences: KubernetesDifference[];
}

/** Destination ports that arrive the same way: at these endpoints (`<endpoint> <ip>:<port>`), from this source. */
export interface ArrivalClass {
  proto: PortedProto;
  ports: PortInterval[];
  at: string[];
  /** The source address the endpoint sees, when a SNAT changed it. */
  source?: string;
  /** Internal: how classes are merged. */
  key?: string;
}

export interface ReachSet {
  /** What the network delivers to the destination (answered, or refused because nothing listens there). */
  delivered: ProtoPorts;
  /** Of those, what is answered: a listening socket, or the vrouter's own answer to an ICMP echo. */
  answered: ProtoPorts;
  /** Destination ports delivered only from some source ports (left out of `delivered` and `answered`). */
  bySourcePort: SourcePortDependence[];
  /** How each piece was decided. */
  method: "dry run" | "one packet per piece";
  /** Packets (or dry runs) it took. */
  evaluated: number;
  /** Protocols this datapath cannot send (netns has no SCTP prober): their sets are empty, not known. */
  unprobed: PortedProto[];
  /**
   * Where packets arrive when the network changes them on the way (simulated datapath): a Service's DNAT and
   * port mapping, the ECMP members a flow hash spreads them over, the source address a SNAT gives them.
   */
  arrivals: ArrivalClass[];
  /** Between two pods (and given the layout): what Kubernetes allows, and each class where the two disagree. */
  kubernetes?: KubernetesComparison;
}

/**
 * Source ports tried in every source-port piece: its ends and points between, where the flow hash may pick
 * another ECMP member; one where no ECMP choice is on the way (nothing else in a piece depends on it).
 */
function samples(piece: PortInterval): number[] {
  const span = piece.hi - piece.lo;
  const out = new Set([piece.lo, piece.hi]);
  for (const f of [0.31, 0.57, 0.83]) out.add(piece.lo + Math.floor(span * f));
  return [...out];
}

const delivered = (o: ReachOutcome) => o !== "dropped";

/** The pieces of each protocol's destination and source port spaces (computed once for many pairs). */
export type PortPieces = Record<PortedProto, { dst: PortInterval[]; src: PortInterval[] }>;

export async function portPieces(tb: Testbed): Promise<PortPieces> {
  if (!tb.portCuts) throw new Error(`the ${tb.datapath} datapath cannot list its port decisions`);
  const out = {} as PortPieces;
  for (const proto of PORTED) {
    const cuts = await tb.portCuts(proto);
    out[proto] = { dst: pieces(cuts.dst), src: pieces(cuts.src) };
  }
  return out;
}

export interface ReachSetOptions {
  /** Name the firewall rules of the differences from Kubernetes (between two pods) by this layout's objects. */
  netpol?: Pick<MatrixContext, "layout" | "clusterName" | "apsName">;
  /** The port pieces, when asking for many pairs of one environment. */
  pieces?: PortPieces;
  /** The source pod's address, when the caller knows it (else looked up). */
  srcIp?: string;
  /** The ICMP identifier of the dry run (default: the next ephemeral one). */
  icmpId?: number;
}

export async function reachSet(
  tb: Testbed,
  from: string,
  toIp: string,
  opts: ReachSetOptions = {},
): Promise<ReachSet> {
  const { netpol } = opts;
  const allPieces = opts.pieces ?? (await portPieces(tb));
  const out: ReachSet = {
    delivered: emptyProtoPorts(),
    answered: emptyProtoPorts(),
    bySourcePort: [],
    method: tb.reachOutcome ? "dry run" : "one packet per piece",
    evaluated: 0,
    unprobed: [],
    arrivals: [],
  };
  const dry = tb.reachOutcome?.bind(tb);
  const ecmpHere = tb.ecmpPossible?.(toIp) ?? true;
  // the source's own address (a SNAT shows as another); a caller asking for many pairs knows it; a pod's
  // secondary interface ("<ns>/<pod>@<network>") sends from that interface's address
  const { pod: srcPod, network: srcNet } = splitAttachment(from);
  const srcObj =
    opts.srcIp || from.startsWith("host:") || from.startsWith("external:")
      ? undefined
      : (await clusterWorld(tb)).pods.find((p) => `${p.metadata.namespace}/${p.metadata.name}` === srcPod);
  const srcIp =
    opts.srcIp ??
    (from.startsWith("host:")
      ? tb.fabricHostIp(from.slice("host:".length))
      : from.startsWith("external:")
        ? tb.externalHostIp?.(from.slice("external:".length))
        : srcObj && srcNet
          ? attachmentIp(srcObj, srcNet)
          : srcObj?.status?.podIP);
  const icmp = dry
    ? dry({ from, toIp, proto: "icmp", ...(opts.icmpId !== undefined ? { sport: opts.icmpId } : {}) })
    : outcomeOf(await tb.probe({ from, toIp, proto: "icmp", count: 1 }));
  out.evaluated++;
  out.delivered.icmp = delivered(icmp);
  out.answered.icmp = icmp === "answered";

  for (const proto of PORTED) {
    // the netns pods run TCP and UDP servers only, and its prober sends no SCTP
    if (!dry && proto === "sctp" && tb.datapath === "netns") {
      out.unprobed.push(proto);
      continue;
    }
    const { dst: dstPieces, src: srcPieces } = allPieces[proto];
    const deliveredPorts: PortInterval[] = [];
    const answeredPorts: PortInterval[] = [];
    if (!dry) {
      for (const piece of dstPieces) {
        const o = outcomeOf(await tb.probe({ from, toIp, proto, port: piece.lo, count: 1 }));
        out.evaluated++;
        if (delivered(o)) deliveredPorts.push(piece);
        if (o === "answered") answeredPorts.push(piece);
      }
      out.delivered[proto] = mergeIntervals(deliveredPorts);
      out.answered[proto] = mergeIntervals(answeredPorts);
      continue;
    }
    // The dry run says how far its answer holds: each port it is asked about comes back with the window of
    // ports that take the same path through the engine (port-window.ts), so the next question starts after it
    // — a pair denied before any port is compared is one dry run for the whole protocol.
    for (let port = PORT_MIN; port <= PORT_MAX; ) {
      const window = new PortWindow(port);
      // every source-port piece, from a few source ports each
      const from_: PortInterval[] = [];
      let all = true;
      let none = true;
      let allAnswered = true;
      let ecmp = false;
      const arrivals: Arrival[] = [];
      const arrived = (a: Arrival) => {
        arrivals.push(a);
      };
      for (const sp of srcPieces) {
        let every = true;
        let some = false;
        for (const sport of ecmpHere ? samples(sp) : [sp.lo]) {
          const o = dry({ from, toIp, proto, port, sport }, arrived, window);
          out.evaluated++;
          if (delivered(o)) some = true;
          else every = false;
          if (o !== "answered") allAnswered = false;
        }
        if (some && !every) ecmp = true;
        if (every) from_.push(sp);
        else all = false;
        if (some) none = false;
      }
      if (window.lo > port || window.hi < port)
        throw new Error(
          `internal: the dry run's port window ${window.lo}-${window.hi} does not hold ${port}`,
        );
      const piece: PortInterval = { lo: port, hi: window.hi };
      port = window.hi + 1;
      // what arrives where, when the network changed it (DNAT, a port mapping, ECMP, SNAT); a port no mapping
      // rewrote is not written: each port of the window arrives on itself
      // (arrived on itself from its own address, the common case, says nothing)
      const plain =
        arrivals.length === 0 ||
        (window.symbolic &&
          arrivals.every((a) => a.dip === toIp && a.sip === srcIp && a.endpoint === arrivals[0]!.endpoint));
      const targets = plain
        ? []
        : [
            ...new Set(
              arrivals.map((a) =>
                window.symbolic ? `${a.endpoint} ${a.dip}` : `${a.endpoint} ${a.dip}:${a.dport}`,
              ),
            ),
          ].sort();
      const seenAs = new Set(arrivals.map((a) => a.sip));
      const natted =
        targets.length > 1 ||
        targets.some((t) => !t.endsWith(` ${toIp}`)) ||
        [...seenAs].some((ip) => ip !== srcIp);
      if (targets.length && natted) {
        const last = out.arrivals.at(-1);
        const source = [...seenAs].filter((ip) => ip !== srcIp);
        // consecutive pieces that arrive the same way are one line (a mapped range keeps its offset per port;
        // ports the network leaves alone arrive on themselves)
        if (
          last &&
          last.proto === proto &&
          last.ports.at(-1)!.hi + 1 === piece.lo &&
          last.key === `${targets.join()}|${source.join()}` &&
          (piece.lo === piece.hi || !targets.some((t) => t.includes(":")))
        )
          last.ports.push(piece);
        else
          out.arrivals.push({
            proto,
            ports: [piece],
            at: targets,
            ...(source.length ? { source: source.join(", ") } : {}),
            key: `${targets.join()}|${source.join()}`,
          });
      }
      if (all) {
        deliveredPorts.push(piece);
        if (allAnswered) answeredPorts.push(piece);
      } else if (!none)
        out.bySourcePort.push({ proto, ports: [piece], deliveredFrom: mergeIntervals(from_), ecmp });
    }
    out.delivered[proto] = mergeIntervals(deliveredPorts);
    out.answered[proto] = mergeIntervals(answeredPorts);
  }
  for (const a of out.arrivals) delete a.key;
  if (netpol) {
    const k = await compareWithKubernetes(tb, from, toIp, out, netpol);
    if (k) out.kubernetes = k;
  }
  return out;
}

/** Where NetworkPolicy decides on a port: its ports and port ranges, and the container ports its names name. */
export function policyCuts(world: World, proto: PortedProto): number[] {
  const cuts: number[] = [];
  const names = new Set<string>();
  for (const np of world.policies)
    for (const rule of [...(np.spec?.ingress ?? []), ...(np.spec?.egress ?? [])] as {
      ports?: { protocol?: string; port?: number | string; endPort?: number }[];
    }[])
      for (const p of rule.ports ?? []) {
        if ((p.protocol ?? "TCP").toLowerCase() !== proto) continue;
        if (typeof p.port === "number") cuts.push(p.port, (p.endPort ?? p.port) + 1);
        else if (typeof p.port === "string") names.add(p.port);
      }
  if (names.size)
    for (const pod of world.pods)
      for (const c of (pod.spec?.containers ?? []) as {
        ports?: { name?: string; containerPort: number; protocol?: string }[];
      }[])
        for (const cp of c.ports ?? [])
          if (cp.name && names.has(cp.name) && (cp.protocol ?? "TCP").toLowerCase() === proto)
            cuts.push(cp.containerPort, cp.containerPort + 1);
  return cuts;
}

/**
 * What Kubernetes would allow between the same two pods, over the pieces both Contrail's tables and the
 * NetworkPolicies tell apart, and for each class where they disagree the rule that decided in Contrail (one
 * traced packet per class). Undefined unless both ends are pods.
 */
async function compareWithKubernetes(
  tb: Testbed,
  from: string,
  toIp: string,
  set: ReachSet,
  netpol: Pick<MatrixContext, "layout" | "clusterName" | "apsName">,
): Promise<KubernetesComparison | undefined> {
  const world = await clusterWorld(tb);
  const src = world.pods.find((p) => `${p.metadata.namespace}/${p.metadata.name}` === from);
  const dst = world.pods.find((p) => p.status?.podIP === toIp && !p.spec?.hostNetwork);
  if (!src || !dst) return undefined;
  const conn = (proto: Connection["proto"], port?: number): Connection => ({
    from: { pod: src as KubeObject, ip: src.status?.podIP ?? "" },
    to: { pod: dst as KubeObject, ip: toIp },
    proto,
    ...(port !== undefined ? { port } : {}),
  });
  const allows = emptyProtoPorts();
  const differences: KubernetesDifference[] = [];
  const explain = async (proto: PortedProto | "icmp", ports: PortInterval[], contrail: boolean) => {
    const port = ports[0]?.lo;
    const r = await tb.probe({ from, toIp, proto, ...(port !== undefined ? { port } : {}), count: 1 });
    differences.push({
      proto,
      ports,
      contrail: contrail ? "allow" : "deny",
      kubernetes: contrail ? "deny" : "allow",
      why: kubernetesVerdict(world, conn(proto, port)).reason,
      decidedBy: describeDecision(r, world, netpol),
    });
  };
  allows.icmp = kubernetesAllows(world, conn("icmp"));
  if (allows.icmp !== set.delivered.icmp) await explain("icmp", [], set.delivered.icmp);
  for (const proto of PORTED) {
    if (set.unprobed.includes(proto)) continue;
    const cuts = new Set([
      ...(tb.portCuts ? (await tb.portCuts(proto)).dst : []),
      ...policyCuts(world, proto),
    ]);
    const kAllowed: PortInterval[] = [];
    // runs of pieces on which the two disagree the same way
    let run: { ports: PortInterval[]; contrail: boolean } | undefined;
    const flush = async () => {
      if (run) await explain(proto, mergeIntervals(run.ports), run.contrail);
      run = undefined;
    };
    for (const piece of pieces(cuts)) {
      const k = kubernetesAllows(world, conn(proto, piece.lo));
      if (k) kAllowed.push(piece);
      const c = set.delivered[proto].some((i) => piece.lo >= i.lo && piece.lo <= i.hi);
      if (k === c) {
        await flush();
        continue;
      }
      if (run && run.contrail !== c) await flush();
      run ??= { ports: [], contrail: c };
      run.ports.push(piece);
    }
    await flush();
    allows[proto] = mergeIntervals(kAllowed);
  }
  return { allows, differences };
}

/**
 * What Kubernetes' NetworkPolicy semantics allow from pod `src` to pod `dst`, over the pieces `cuts` (each
 * protocol's destination-port cuts; NetworkPolicy's own are added). No packet: the oracle alone.
 */
export function kubernetesProtoPorts(
  world: World,
  src: KubeObject,
  dst: KubeObject,
  cuts: Record<PortedProto, Iterable<number>>,
): ProtoPorts {
  const conn = (proto: Connection["proto"], port?: number): Connection => ({
    from: { pod: src, ip: src.status?.podIP ?? "" },
    to: { pod: dst, ip: dst.status?.podIP ?? "" },
    proto,
    ...(port !== undefined ? { port } : {}),
  });
  const out = emptyProtoPorts();
  out.icmp = kubernetesAllows(world, conn("icmp"));
  for (const proto of PORTED)
    out[proto] = mergeIntervals(
      pieces(new Set([...cuts[proto], ...policyCuts(world, proto)])).filter((piece) =>
        kubernetesAllows(world, conn(proto, piece.lo)),
      ),
    );
  return out;
}

function outcomeOf(r: { received: number; refused: number }): ReachOutcome {
  return r.received > 0 ? "answered" : r.refused > 0 ? "refused" : "dropped";
}

/** The lines `ctb reach` prints. */
export function formatReachSet(from: string, to: string, r: ReachSet): string {
  const lines = [
    `${from} → ${to}`,
    `  gets through: ${formatProtoPorts(r.delivered)}`,
    `  answered:     ${formatProtoPorts(r.answered)}${sameProtoPorts(r.delivered, r.answered) ? "" : " (the rest arrives where nothing listens)"}`,
  ];
  for (const d of r.bySourcePort)
    lines.push(
      `  ${d.proto} ${formatPortSet(d.ports)}: ${
        d.ecmp
          ? "delivered or not by the ECMP member the flow's hash picks (it depends on the source port)"
          : `delivered only from source ports ${formatPortSet(d.deliveredFrom)}`
      }`,
    );
  if (r.kubernetes) {
    const k = r.kubernetes;
    lines.push(
      `  Kubernetes:   ${formatProtoPorts(k.allows)}${k.differences.length ? "" : " (NetworkPolicy semantics agree)"}`,
    );
    for (const d of k.differences)
      lines.push(
        `  ${d.proto}${d.ports.length ? ` ${formatPortSet(d.ports)}` : ""}: Contrail ${d.contrail === "allow" ? "allows" : "denies"}, Kubernetes ${d.kubernetes === "allow" ? "allows" : "denies"} (${d.why}); Contrail: ${d.decidedBy}`,
      );
  }
  for (const a of r.arrivals)
    lines.push(
      `  ${a.proto} ${formatPortSet(a.ports)} arrives at ${a.at.join(", ")}${a.at.length > 1 ? " (ECMP: the flow hash picks one)" : ""}${a.source ? `, from ${a.source} (SNAT)` : ""}`,
    );
  if (r.unprobed.length)
    lines.push(
      `  ${r.unprobed.join(", ")}: not probed (this datapath has no prober for it; the sets leave it out)`,
    );
  lines.push(
    `  (${r.method === "dry run" ? `the engines' dry run of ${r.evaluated} packets` : `${r.evaluated} packets, one per piece`} over the pieces of the port space the tables tell apart)`,
  );
  return `${lines.join("\n")}\n`;
}
