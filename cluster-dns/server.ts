/**
 * The cluster DNS server: real DNS over UDP and TCP (RFC 1035 §4.2.2: a two-byte length before each message)
 * on one port, answering from the zone it was last given (`setZone`). It runs inside the CoreDNS pod's network
 * namespace on the netns datapath (fake-vrouter/netns/pod-main.ts), fed with the zone the testbed builds from
 * the cluster after each settle — the role CoreDNS's kubernetes plugin plays by watching the API.
 *
 * Example: `const s = await ClusterDnsServer.start({ port: 53 }); s.setZone(buildZone(input)); … s.close()`.
 */
import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server } from "node:net";
import { answerWire, buildZone, type Zone } from "./zone";

export class ClusterDnsServer {
  private zone: Zone = buildZone({ services: [], slices: [], pods: [] });
  queries = 0;

  private constructor(
    private readonly udp: Socket,
    private readonly tcp: Server,
  ) {}

  static async start(o: { port: number; host?: string }): Promise<ClusterDnsServer> {
    const host = o.host ?? "0.0.0.0";
    const udp = createSocket("udp4");
    const tcp = createServer();
    const self = new ClusterDnsServer(udp, tcp);
    udp.on("message", (msg, from) => {
      self.queries++;
      udp.send(answerWire(self.zone, msg), from.port, from.address);
    });
    tcp.on("connection", (sock) => {
      let buf = Buffer.alloc(0);
      sock.on("error", () => sock.destroy());
      sock.setTimeout(10_000, () => sock.destroy());
      sock.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          self.queries++;
          const out = answerWire(self.zone, Buffer.from(msg));
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(o.port, host, () => resolve());
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(udp.address().port, host, () => resolve());
    });
    return self;
  }

  get port(): number {
    return this.udp.address().port;
  }

  setZone(zone: Zone): void {
    this.zone = zone;
  }

  close(): void {
    this.udp.close();
    this.tcp.close();
  }
}
