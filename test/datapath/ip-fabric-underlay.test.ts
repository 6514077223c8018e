/**
 * What the underlay knows under ip-fabric forwarding: a host on the fabric without a vrouter reaches pods of
 * ip-fabric-forwarded VNs and answers them, but not overlay pods — even when a network-policy leaks their
 * routes into the fabric VRF — so an overlay pod gets out only through fabric SNAT. Frames to an on-link
 * fabric address carry that address's own MAC.
 */
import { describe, expect, it } from "vitest";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import { FABRIC_SNAT_POOLS } from "../../fake-vrouter/tables";
import { ip, pod } from "./frames";
import { FABRIC_VRF, fabricMac, simNetwork, tablesFor, twoComputes, type World } from "./world";

const HOST = "192.168.0.50";

/** red (overlay, pods a–c) and green (ip-fabric-forwarded, pod e on compute-2), plus a fabric host. */
function world(): World {
  const w = twoComputes();
  w.vns.push({ name: "green", vrf: 3, subnet: "10.3.0.0/24", gateway: "10.3.0.1", fabricForwarded: true });
  w.pods.push({
    name: "e",
    compute: "compute-2",
    vif: 5,
    ip: "10.3.0.5",
    vn: "green",
    listen: { tcp: [80] },
  });
  w.fabricHosts = [{ name: "h", ip: HOST, listen: { tcp: [443], udp: [123] } }];
  return w;
}

/**
 * The network with what an ip-fabric network-policy does on compute-1: the fabric subnet leaked into red's VRF
 * (on-link fabric next-hop) and pod a's route leaked into the fabric VRF.
 */
function leakedNetwork(w: World) {
  const net = simNetwork(w);
  const t = tablesFor(w, "compute-1");
  t.nextHops.set(900, { id: 900, type: "fabric", via: "0.0.0.0" });
  const fabric = ["default-domain:default-project:ip-fabric"];
  t.vrfs.get(1)!.routes.push({ prefix: "192.168.0.0/24", nh: 900, destVns: fabric, sgIds: [], tags: [] });
  const a = t.vrfs.get(1)!.routes.find((r) => r.prefix === "10.1.0.3/32")!;
  t.vrfs.get(FABRIC_VRF)!.routes.push({ ...a, leakedBy: "network-policy ip-fabric-np" });
  net.setTables("compute-1", t);
  return net;
}

describe("the underlay under ip-fabric forwarding", () => {
  it("a fabric host reaches an ip-fabric-forwarded pod, unencapsulated", () => {
    const net = leakedNetwork(world());
    const r = net.probe({ from: "h", to: "10.3.0.5", proto: "tcp", port: 80 });
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(r.servedBy).toBe("e");
  });

  it("a fabric host cannot reach an overlay pod whose route was only leaked into the fabric VRF", () => {
    const r = leakedNetwork(world()).probe({ from: "h", to: "10.1.0.3", proto: "tcp", port: 80 });
    expect(r.verdict, formatTrace(r.trace)).toBe("deny");
  });

  it("an overlay pod's packet reaches the fabric host, which has no route to answer it", () => {
    const r = leakedNetwork(world()).probe({ from: "a", to: HOST, proto: "udp", port: 123 });
    expect(r.verdict, formatTrace(r.trace)).toBe("deny");
    expect(r.drop?.compute).toBe("h");
    expect(r.drop?.reason).toBe("NOWHERE_TO_GO");
  });

  it("with fabric SNAT the overlay pod's leaked fabric route is SNATed; the frame goes to the host's own MAC", () => {
    const w = world();
    pod(w, "a").fabricSnat = true;
    const net = leakedNetwork(w);
    const frames: Uint8Array[] = [];
    const stop = net.capture("fabric", (f) => frames.push(f));
    const r = net.probe({ from: "a", to: HOST, proto: "udp", port: 123 });
    stop();
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    const out = frames.find((f) => ip(f).dst === HOST)!;
    expect(ip(out).src).toBe("192.168.0.11");
    const sport = (ip(out).payload as { sport: number }).sport;
    expect(sport).toBeGreaterThanOrEqual(FABRIC_SNAT_POOLS.udp[0]);
    expect(sport).toBeLessThanOrEqual(FABRIC_SNAT_POOLS.udp[1]);
    const dstMac = [...out.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
    expect(dstMac).toBe(fabricMac(HOST));
  });

  it("an ip-fabric-forwarded pod is never fabric-SNATed: it is part of the underlay", () => {
    const w = world();
    pod(w, "e").fabricSnat = true;
    const net = leakedNetwork(w);
    const frames: Uint8Array[] = [];
    const stop = net.capture("fabric", (f) => frames.push(f));
    const r = net.probe({ from: "e", to: HOST, proto: "tcp", port: 443 });
    stop();
    expect(r.verdict, formatTrace(r.trace)).toBe("allow");
    expect(frames.map((f) => ip(f)).find((p) => p.dst === HOST)?.src).toBe("10.3.0.5");
  });
});
