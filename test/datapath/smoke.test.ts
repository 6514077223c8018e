import { describe, expect, it } from "vitest";
import { formatTrace } from "../../fake-vrouter/datapath/trace";
import { simNetwork, twoComputes } from "./world";

describe("smoke", () => {
  it("pings within and across computes", () => {
    const net = simNetwork(twoComputes());
    const local = net.probe({ from: "a", to: "10.1.0.4", proto: "icmp" });
    expect(local.verdict, formatTrace(local.trace)).toBe("allow");
    const remote = net.probe({ from: "a", to: "10.1.0.5", proto: "icmp", count: 3 });
    console.log(formatTrace(remote.trace));
    expect(remote.replies).toBe(3);
    const blue = net.probe({ from: "a", to: "10.2.0.3", proto: "icmp" });
    expect(blue.verdict).toBe("deny");
    expect(blue.drop?.reason).toBe("NOWHERE_TO_GO");
  });
});
