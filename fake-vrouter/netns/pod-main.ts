/**
 * A pod's workload in the netns datapath, running inside the pod's network namespace: TCP and UDP echo
 * servers on the pod's declared container ports (a TCP connection that starts with an HTTP request gets an
 * HTTP 200 whose body is the address it reached: the pod's own, as a responder printing its name would), and a prober that answers the testbed's probe requests
 * (ICMP via `ping`, TCP connect, UDP exchange) with the same answers the simulated host stack gives:
 * "reply", "refused" (RST / ICMP port unreachable: the packet got there) or nothing.
 *
 * Started by `PodProcess.start` as `ip netns exec <pod-ns> node --import tsx pod-main.ts tcp:8080 udp:5353`;
 * reports `{type: "ready"}` over IPC once every socket listens.
 */
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { request } from "node:http";
import { connect, createServer } from "node:net";
import { ClusterDnsServer } from "../../cluster-dns/server";
import { buildZone, query, readResponse, type ZoneInput } from "../../cluster-dns/zone";
import type { FromPod, PodProbe, ProbeOutcome, ToPod } from "./protocol";

interface ServedPort {
  /** dns: the cluster DNS server (UDP and TCP) of a CoreDNS pod. */
  proto: "tcp" | "udp" | "dns";
  port: number;
}

function parsePorts(args: string[]): ServedPort[] {
  return args.map((a) => {
    const m = /^(tcp|udp|dns):(\d+)$/.exec(a);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
      throw new Error(`bad port "${a}": expected tcp:<n>, udp:<n> or dns:<n>`);
    return { proto: m[1] as ServedPort["proto"], port: Number(m[2]) };
  });
}

let dnsServer: ClusterDnsServer | undefined;

async function serve(p: ServedPort): Promise<void> {
  if (p.proto === "dns") {
    dnsServer = await ClusterDnsServer.start({ port: p.port });
    return;
  }
  return new Promise((resolve, reject) => {
    if (p.proto === "tcp") {
      const server = createServer((sock) => {
        sock.on("error", () => sock.destroy());
        sock.once("data", (first: Buffer) => {
          if (HTTP_REQUEST.test(first.toString("latin1", 0, 8))) {
            const body = `${sock.localAddress?.replace(/^::ffff:/, "") ?? ""}\n`;
            sock.end(
              `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
            );
            return;
          }
          sock.write(first);
          sock.pipe(sock);
        });
      });
      server.once("error", reject);
      server.listen(p.port, "0.0.0.0", () => resolve());
    } else {
      const sock = createSocket("udp4");
      sock.on("message", (msg, from) => sock.send(msg, from.port, from.address));
      sock.once("error", reject);
      sock.bind(p.port, "0.0.0.0", () => resolve());
    }
  });
}

const REFUSED = new Set(["ECONNREFUSED", "ECONNRESET"]);
const HTTP_REQUEST = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) /;

/** One HTTP GET (no keep-alive): the status and body, or why nothing came. */
function httpGet(p: PodProbe): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: p.dst,
        port: p.port ?? 80,
        path: p.path ?? "/",
        headers: { Host: p.host ?? p.dst, Connection: "close" },
        agent: false,
        timeout: p.timeoutMs,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () =>
          resolve({ answer: "reply", detail: `HTTP ${res.statusCode}`, status: res.statusCode, body }),
        );
        res.on("error", (err) => resolve({ answer: undefined, detail: err.message }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${p.timeoutMs} ms`)));
    req.on("error", (err: NodeJS.ErrnoException) =>
      resolve({
        answer: REFUSED.has(err.code ?? "") ? "refused" : undefined,
        detail: err.code ?? err.message,
      }),
    );
    req.end();
  });
}

/** One DNS query over UDP (as a stub resolver: one try, no retry): the response as read, or why none came. */
function dnsQuery(p: PodProbe): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const id = Math.floor(Math.random() * 0xffff);
    const finish = (o: ProbeOutcome) => {
      clearTimeout(timer);
      s.close();
      resolve(o);
    };
    const timer = setTimeout(
      () => finish({ answer: undefined, detail: `no DNS response within ${p.timeoutMs} ms` }),
      p.timeoutMs,
    );
    s.on("message", (msg) => {
      try {
        const dns = readResponse(msg);
        finish({ answer: "reply", detail: dns.rcode, dns });
      } catch (e) {
        finish({ answer: "reply", detail: `undecodable DNS response: ${(e as Error).message}` });
      }
    });
    s.on("error", (err: NodeJS.ErrnoException) =>
      finish({
        answer: REFUSED.has(err.code ?? "") ? "refused" : undefined,
        detail: err.code ?? err.message,
      }),
    );
    s.connect(p.port ?? 53, p.dst, () => s.send(query(p.name!, p.qtype ?? "A", id)));
  });
}

function probe(p: PodProbe): Promise<ProbeOutcome> {
  if (p.proto === "http") return httpGet(p);
  if (p.proto === "dns") return dnsQuery(p);
  return new Promise((resolve) => {
    let done = false;
    const finish = (answer: ProbeOutcome["answer"], detail: string) => {
      if (!done) resolve({ answer, detail });
      done = true;
    };
    if (p.proto === "icmp") {
      const wait = Math.max(1, Math.ceil(p.timeoutMs / 1000));
      const from = p.src ? ["-I", p.src] : [];
      execFile("ping", ["-n", "-c", "1", "-W", String(wait), ...from, p.dst], (err, stdout) =>
        err
          ? finish(undefined, "no echo reply")
          : finish("reply", /time=[\d.]+ ms/.exec(stdout)?.[0] ?? "echo reply"),
      );
      return;
    }
    const timer = setTimeout(() => finish(undefined, `no answer within ${p.timeoutMs} ms`), p.timeoutMs);
    if (p.proto === "tcp") {
      const s = connect({ host: p.dst, port: p.port!, ...(p.src ? { localAddress: p.src } : {}) });
      s.once("connect", () => {
        clearTimeout(timer);
        s.destroy();
        finish("reply", "connected");
      });
      s.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        finish(REFUSED.has(err.code ?? "") ? "refused" : undefined, err.code ?? err.message);
      });
      s.setTimeout(p.timeoutMs, () => s.destroy());
      return;
    }
    // UDP: a connected socket reports ICMP port-unreachable as ECONNREFUSED.
    const s = createSocket("udp4");
    const close = () => {
      clearTimeout(timer);
      s.close();
    };
    s.on("message", () => {
      close();
      finish("reply", "datagram echoed");
    });
    s.on("error", (err: NodeJS.ErrnoException) => {
      close();
      finish(REFUSED.has(err.code ?? "") ? "refused" : undefined, err.code ?? err.message);
    });
    const go = () => s.connect(p.port!, p.dst, () => s.send("ctb-probe"));
    if (p.src) s.bind(0, p.src, go);
    else go();
    setTimeout(() => {
      if (!done) close();
    }, p.timeoutMs).unref();
  });
}

function send(m: FromPod): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  // the testbed went away (however it died): a pod without its testbed has nothing to do
  process.on("disconnect", () => process.exit(0));
  const ports = parsePorts(process.argv.slice(2));
  await Promise.all(ports.map(serve));
  process.on("message", (raw) => {
    const m = raw as ToPod;
    if (m.type === "probe")
      void probe(m.probe).then((outcome) => send({ type: "probe-result", id: m.id, outcome }));
    else if (m.type === "dns-zone") {
      dnsServer?.setZone(buildZone(m.input as ZoneInput));
      send({ type: "dns-zone-set", id: m.id });
    }
  });
  send({ type: "ready", pid: process.pid });
  process.on("SIGTERM", () => process.exit(0));
}

main().catch((err) => {
  send({ type: "error", msg: (err as Error).message });
  process.exit(1);
});
