/**
 * A pod's workload in the netns datapath: TCP and UDP echo servers on the pod's declared container ports,
 * running inside the pod's network namespace, so probes see real accept/refuse/echo behaviour.
 *
 * Started by the topology as `ip netns exec <pod-ns> node --import tsx echo-main.ts tcp:8080 udp:5353`;
 * reports `{type: "ready"}` over IPC once every socket listens.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";

interface EchoPort {
  proto: "tcp" | "udp";
  port: number;
}

function parseEchoPorts(args: string[]): EchoPort[] {
  return args.map((a) => {
    const m = /^(tcp|udp):(\d+)$/.exec(a);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
      throw new Error(`bad port "${a}": expected tcp:<n> or udp:<n>`);
    return { proto: m[1] as "tcp" | "udp", port: Number(m[2]) };
  });
}

function listen(p: EchoPort): Promise<void> {
  return new Promise((resolve, reject) => {
    if (p.proto === "tcp") {
      const server = createServer((sock) => {
        sock.on("error", () => sock.destroy());
        sock.pipe(sock);
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

async function main(): Promise<void> {
  const ports = parseEchoPorts(process.argv.slice(2));
  await Promise.all(ports.map(listen));
  process.send?.({ type: "ready", pid: process.pid });
  process.on("disconnect", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
}

main().catch((err) => {
  process.send?.({ type: "error", msg: (err as Error).message });
  process.exit(1);
});
