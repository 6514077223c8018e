/**
 * TCP connections that are over (a FIN each way) no longer hold their flow entries, as the vrouter evicts a
 * dead TCP flow: a client that reuses its source port, towards the same pod or towards a Service VIP whose
 * DNAT lands on that pod, gets a new flow with a fresh policy decision instead of a reverse-key conflict.
 */
import { describe, expect, it } from "vitest";
import { VrouterDatapath } from "../../fake-vrouter/datapath/engine";
import { TCP_ACK, TCP_FIN, TCP_SYN, tcp } from "../../fake-vrouter/datapath/packet";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import { podFrame } from "./frames";
import { tablesFor, type World } from "./world";

const CLIENT = "10.32.0.10";
const SERVER = "10.32.0.12";
const VIP = "10.96.0.102"; // one member: the server

function world(): World {
  const listen = { tcp: [8080], udp: [] };
  return {
    computes: [{ name: "compute-1", fabricIp: "192.168.0.11" }],
    vns: [
      { name: "pods", vrf: 1, subnet: "10.32.0.0/24", gateway: "10.32.0.1" },
      { name: "svc", vrf: 2, subnet: "10.96.0.0/24", gateway: "10.96.0.1", imports: ["pods"] },
    ],
    pods: [
      { name: "client", compute: "compute-1", vif: 3, ip: CLIENT, vn: "pods", listen },
      { name: "server", compute: "compute-1", vif: 4, ip: SERVER, vn: "pods", listen },
    ],
    services: [
      {
        vn: "svc",
        ip: VIP,
        members: ["server"],
        portMappings: [{ protocol: 6, srcPort: 80, dstPort: 8080 }],
        exportTo: ["pods"],
      },
    ],
  };
}

/** One TCP segment from `from` (a pod of the world) on its vif, through the engine. */
function send(
  dp: VrouterDatapath,
  w: World,
  from: "client" | "server",
  dst: string,
  sport: number,
  dport: number,
  flags: number,
  now: number,
) {
  const vif = from === "client" ? 3 : 4;
  return dp.receive(vif, podFrame(w, from, dst, tcp({ sport, dport, flags })), now);
}

describe("closed TCP connections and their flows", () => {
  it("a Service connection reusing the source port of a closed direct connection is not a reverse-key conflict", () => {
    const w = world();
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
    // client:40000 → server:8080 directly, then closed with a FIN each way
    expect(send(dp, w, "client", SERVER, 40000, 8080, TCP_SYN, 1).out[0]?.vif).toBe(4);
    send(dp, w, "server", CLIENT, 8080, 40000, TCP_SYN | TCP_ACK, 2);
    send(dp, w, "client", SERVER, 40000, 8080, TCP_FIN | TCP_ACK, 3);
    send(dp, w, "server", CLIENT, 8080, 40000, TCP_FIN | TCP_ACK, 4);
    send(dp, w, "client", SERVER, 40000, 8080, TCP_ACK, 5);
    // the same source port to the VIP: DNAT to server:8080 makes the reverse key the old flow's
    const syn = send(dp, w, "client", VIP, 40000, 80, TCP_SYN, 6);
    expect(syn.drop, formatTrace(syn.trace)).toBeUndefined();
    expect(syn.out[0]?.vif).toBe(4);
    const synAck = send(dp, w, "server", CLIENT, 8080, 40000, TCP_SYN | TCP_ACK, 7);
    expect(synAck.out[0]?.vif, formatTrace(synAck.trace)).toBe(3);
  });

  it("while the connection is still open (one FIN only) the conflict stands, as on a real vrouter", () => {
    const w = world();
    const dp = new VrouterDatapath(tablesFor(w, "compute-1"));
    send(dp, w, "client", SERVER, 40001, 8080, TCP_SYN, 1);
    send(dp, w, "server", CLIENT, 8080, 40001, TCP_SYN | TCP_ACK, 2);
    send(dp, w, "client", SERVER, 40001, 8080, TCP_FIN | TCP_ACK, 3);
    const syn = send(dp, w, "client", VIP, 40001, 80, TCP_SYN, 4);
    expect(syn.drop).toBe("FLOW_NAT_NO_RFLOW");
    expect(syn.trace.at(-1)?.detail).toMatch(/reverse key .* is held by reverse flow/);
  });
});
