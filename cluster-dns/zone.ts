/**
 * Cluster DNS, the kube-dns / CoreDNS role (CoreDNS's `kubernetes` plugin, the DNS specification of
 * kubernetes/dns docs/specification.md): the pure core. A zone is built from the cluster's own state (Services,
 * EndpointSlices, Pods) and answers questions; the UDP/TCP server (server.ts) and the simulated datapath
 * (testbed/sim-datapath.ts) are two transports around the same `answer`.
 *
 * Records, for the cluster domain `cluster.local`:
 * - `<svc>.<ns>.svc.cluster.local` A: the ClusterIP; a headless Service (clusterIP None): its ready endpoints.
 * - `_<port name>._<proto>.<svc>.<ns>.svc.cluster.local` SRV: the port, target the Service name (headless: each
 *   endpoint's `<hostname or a-b-c-d>.<svc>.<ns>.svc.cluster.local`, which has an A record).
 * - `<a-b-c-d>.<ns>.pod.cluster.local` A: a-b-c-d as an address, when a pod of that namespace has it
 *   (CoreDNS `pods verified`).
 * - a name under the domain that none of these gives: NXDOMAIN; a known name without records of the asked
 *   type: no answers (NODATA); a name outside the domain: REFUSED (CoreDNS would forward to the node's resolver;
 *   nothing here leaves the machine); a message that does not decode: FORMERR.
 *
 * Example:
 *   const zone = buildZone({ services, slices, pods });
 *   zone.lookup("web.default.svc.cluster.local", "A") // { rcode: "NOERROR", answers: [{ type: "A", data: "10.96.0.20", … }] }
 *   answerWire(zone, queryBuffer) // the response's bytes
 */
import * as dnsPacket from "dns-packet";

export const CLUSTER_DOMAIN = "cluster.local";
/** CoreDNS's kubernetes plugin default TTL. */
const TTL = 5;

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects as listed
type Obj = Record<string, any>;

export interface ZoneInput {
  services: Obj[];
  /** discovery.k8s.io/v1 EndpointSlices. */
  slices: Obj[];
  pods: Obj[];
  domain?: string;
}

export type Rcode = "NOERROR" | "NXDOMAIN" | "FORMERR" | "REFUSED" | "NOTIMP";

export interface Lookup {
  rcode: Rcode;
  answers: dnsPacket.Answer[];
}

interface Srv {
  port: number;
  target: string;
}

const RCODE: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

export class Zone {
  readonly a = new Map<string, string[]>();
  readonly srv = new Map<string, Srv[]>();
  /** Names that exist without records of their own (`<ns>.svc.<domain>`, …): NODATA, not NXDOMAIN. */
  readonly names = new Set<string>();
  /** Pod addresses by namespace (for `<a-b-c-d>.<ns>.pod.<domain>`). */
  readonly podIps = new Map<string, Set<string>>();

  constructor(readonly domain: string) {}

  lookup(qname: string, qtype: string): Lookup {
    const name = qname.toLowerCase().replace(/\.$/, "");
    if (name !== this.domain && !name.endsWith(`.${this.domain}`)) return { rcode: "REFUSED", answers: [] };
    const a = this.a.get(name) ?? this.podA(name);
    const srv = this.srv.get(name);
    const exists = a !== undefined || srv !== undefined || this.names.has(name) || this.hasBelow(name);
    if (!exists) return { rcode: "NXDOMAIN", answers: [] };
    const answers: dnsPacket.Answer[] = [];
    if ((qtype === "A" || qtype === "ANY") && a)
      for (const ip of a) answers.push({ type: "A", name, ttl: TTL, class: "IN", data: ip });
    if ((qtype === "SRV" || qtype === "ANY") && srv)
      for (const s of srv)
        answers.push({
          type: "SRV",
          name,
          ttl: TTL,
          class: "IN",
          data: { priority: 0, weight: Math.floor(100 / srv.length), port: s.port, target: s.target },
        });
    return { rcode: "NOERROR", answers };
  }

  private podA(name: string): string[] | undefined {
    const m = /^(\d+)-(\d+)-(\d+)-(\d+)\.([^.]+)\.pod\./.exec(name);
    if (!m || name !== `${m[0]}${this.domain}`) return undefined;
    const ip = m.slice(1, 5).join(".");
    return this.podIps.get(m[5]!)?.has(ip) ? [ip] : undefined;
  }

  /** An empty non-terminal (`svc.cluster.local`, `_http._tcp.web…`'s parents) exists (RFC 8020: not NXDOMAIN). */
  private hasBelow(name: string): boolean {
    const suffix = `.${name}`;
    for (const k of this.a.keys()) if (k.endsWith(suffix)) return true;
    for (const k of this.srv.keys()) if (k.endsWith(suffix)) return true;
    return false;
  }
}

function add<T>(m: Map<string, T[]>, k: string, v: T): void {
  const cur = m.get(k);
  if (cur) {
    if (!cur.some((x) => JSON.stringify(x) === JSON.stringify(v))) cur.push(v);
  } else m.set(k, [v]);
}

export function buildZone(input: ZoneInput): Zone {
  const domain = input.domain ?? CLUSTER_DOMAIN;
  const zone = new Zone(domain);
  zone.names.add(domain);
  zone.names.add(`svc.${domain}`);
  zone.names.add(`pod.${domain}`);
  for (const pod of input.pods) {
    const ip: string | undefined = pod.status?.podIP;
    const ns: string = pod.metadata?.namespace ?? "default";
    if (!ip || pod.spec?.hostNetwork) continue;
    if (!zone.podIps.has(ns)) zone.podIps.set(ns, new Set());
    zone.podIps.get(ns)!.add(ip);
  }
  const slicesOf = new Map<string, Obj[]>();
  for (const s of input.slices) {
    const svc = s.metadata?.labels?.["kubernetes.io/service-name"];
    if (!svc) continue;
    add(slicesOf, `${s.metadata.namespace}/${svc}`, s);
  }
  for (const svc of input.services) {
    const ns: string = svc.metadata.namespace ?? "default";
    const base = `${svc.metadata.name}.${ns}.svc.${domain}`.toLowerCase();
    zone.names.add(`${ns}.svc.${domain}`);
    zone.names.add(base);
    const ports: Obj[] = svc.spec?.ports ?? [];
    if (svc.spec?.type === "ExternalName") continue; // a CNAME in CoreDNS; not modelled (no name outside)
    const headless = svc.spec?.clusterIP === "None";
    if (!headless) {
      const ip: string | undefined = svc.spec?.clusterIP;
      if (ip) add(zone.a, base, ip);
      for (const p of ports)
        if (p.name)
          add(zone.srv, `_${p.name}._${(p.protocol ?? "TCP").toLowerCase()}.${base}`, {
            port: p.port,
            target: base,
          });
      continue;
    }
    // headless: the ready endpoints' addresses, each also under its own name (hostname or dashed address)
    for (const slice of slicesOf.get(`${ns}/${svc.metadata.name}`) ?? []) {
      if (slice.addressType && slice.addressType !== "IPv4") continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        for (const ip of ep.addresses ?? []) {
          add(zone.a, base, ip);
          const host = `${(ep.hostname ?? ip.replaceAll(".", "-")).toLowerCase()}.${base}`;
          add(zone.a, host, ip);
          for (const p of slice.ports ?? [])
            if (p.name)
              add(zone.srv, `_${p.name}._${(p.protocol ?? "TCP").toLowerCase()}.${base}`, {
                port: p.port,
                target: host,
              });
        }
      }
    }
  }
  return zone;
}

/**
 * One DNS message in, its response out (bytes on both sides): what the server sends. A message that does not
 * decode, is not a query or asks no question gets FORMERR (the id echoed when there are two bytes of it);
 * an opcode other than QUERY gets NOTIMP.
 */
export function answerWire(zone: Zone, msg: Buffer): Buffer {
  let q: dnsPacket.DecodedPacket;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    return formerr(msg);
  }
  const opcode = ((q.flags ?? 0) >> 11) & 0xf;
  if (q.type !== "query" || !q.questions?.length) return formerr(msg);
  const question = q.questions[0]!;
  if (opcode !== 0) return respond(q.id ?? 0, [question], "NOTIMP", []);
  const r = zone.lookup(question.name, question.type);
  return respond(q.id ?? 0, [question], r.rcode, r.answers, q.flag_rd);
}

function respond(
  id: number,
  questions: dnsPacket.Question[],
  rcode: Rcode,
  answers: dnsPacket.Answer[],
  rd = false,
): Buffer {
  return dnsPacket.encode({
    type: "response",
    id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (rd ? dnsPacket.RECURSION_DESIRED : 0) | RCODE[rcode],
    questions,
    answers,
  });
}

function formerr(msg: Buffer): Buffer {
  // header only: id, QR=1, RCODE=1, no sections (the question could not be read)
  const out = Buffer.alloc(12);
  if (msg.length >= 2) msg.copy(out, 0, 0, 2);
  out.writeUInt16BE(0x8000 | RCODE.FORMERR, 2);
  return out;
}

/** A response's rcode and addresses as a client reads them (the prober, the simulated resolver, tests). */
export interface Resolution {
  rcode: string;
  addresses: string[];
  answers: string[];
}

export function readResponse(buf: Buffer): Resolution {
  const r = dnsPacket.decode(buf) as dnsPacket.DecodedPacket & { rcode?: string };
  const answers = (r.answers ?? []).map((a) =>
    a.type === "SRV"
      ? `${a.name} SRV ${a.data.priority} ${a.data.weight} ${a.data.port} ${a.data.target}`
      : `${a.name} ${a.type} ${String((a as { data?: unknown }).data)}`,
  );
  return {
    rcode: r.rcode ?? "NOERROR",
    addresses: (r.answers ?? []).flatMap((a) => (a.type === "A" ? [a.data] : [])),
    answers,
  };
}

/** A query for `name` (type A unless given), recursion desired, as a stub resolver sends it. */
export function query(name: string, type: dnsPacket.RecordType = "A", id = 1): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: "IN" }],
  });
}
