/**
 * The vrouter's own tools answer as tf-vrouter's utilities do: their printf layouts (utils/vif.c, nh.c, rt.c,
 * flow.c, mpls.c, vrfstats.c, vr_util.c's drop stats), their usage texts and exit codes, read from the live
 * tables and the engine's flow table and counters after real packets.
 */
import { describe, expect, it } from "vitest";
import type { SimNetwork } from "../../fake-vrouter/datapath/sim-network";
import { runTool, type VrouterView } from "../../fake-vrouter/tools/index";
import { encapNhId, simNetwork, twoComputes } from "../datapath/world";

function view(net: SimNetwork, compute: string): VrouterView {
  const dp = net.datapath(compute)!;
  return { tables: dp.tables, datapath: dp.snapshot() };
}

function withTraffic() {
  const net = simNetwork(twoComputes());
  // a → c (compute-1 → compute-2) over UDP/53 (a TCP probe's RST would remove its flows), a → b by ICMP
  expect(net.probe({ from: "a", to: "10.1.0.5", proto: "udp", port: 53, sport: 40001 }).verdict).toBe(
    "allow",
  );
  expect(net.probe({ from: "a", to: "10.1.0.4", proto: "icmp" }).verdict).toBe("allow");
  return net;
}

describe("vif", () => {
  it("--list prints vif.c's header and one entry per vif with the live counters", () => {
    const net = withTraffic();
    const r = runTool("vif", ["--list"], view(net, "compute-1"));
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 3)).toEqual([
      "Vrouter Interface Table",
      "",
      "Flags: P=Policy, X=Cross Connect, S=Service Chain, Mr=Receive Mirror",
    ]);
    expect(lines[3]).toBe("       Mt=Transmit Mirror, Tc=Transmit Checksum Offload, L3=Layer 3, L2=Layer 2");
    const at = lines.indexOf(
      `vif0/3      OS: ${net.datapath("compute-1")!.tables.vifs.get(3)!.name} NH: ${encapNhId(3, true)}`,
    );
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe("            Type:Virtual HWaddr:00:00:5e:00:01:00 IPaddr:10.1.0.3");
    expect(lines[at + 2]).toMatch(/^ {12}Vrf:1 Mcast Vrf:1 Flags:(P)?L3L2DEr QOS:-1 Ref:\d+$/);
    // a sent a UDP datagram and an echo request (and ARPed): packets in on vif 3, answers out of it
    expect(lines[at + 3]).toMatch(/^ {12}RX packets:[1-9]\d* {2}bytes:[1-9]\d* errors:0$/);
    expect(lines[at + 4]).toMatch(/^ {12}TX packets:[1-9]\d* {2}bytes:[1-9]\d* errors:0$/);
    expect(lines[at + 5]).toBe("            Drops:0");
    expect(lines[at + 6]).toBe("");
  });

  it("--get of a missing vif is the kernel's ENOENT, exit 0; bad options print the usage", () => {
    const v = view(withTraffic(), "compute-1");
    const r = runTool("vif", ["--get", "99"], v);
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("vRouter(Response): No such file or directory (2)");
    expect(r.code).toBe(0);
    const bad = runTool("vif", ["--lisst"], v);
    expect(bad.stderr).toBe("vif: unrecognized option '--lisst'\n");
    expect(bad.stdout.startsWith("Usage: vif [--create <intf_name> --mac <mac>]\n")).toBe(true);
    expect(bad.code).toBe(0);
    expect(runTool("vif", ["--li"], v).stdout).toContain("vif0/0"); // getopt_long takes a unique prefix
    expect(runTool("vif", [], v).stdout.startsWith("Usage: vif")).toBe(true);
  });
});

describe("vif --get-drop-stats", () => {
  it("prints the interface's own drop counters as dropstats names them", () => {
    const net = simNetwork(twoComputes());
    // d (blue) has no route to red: its packets die on its own vif
    expect(net.probe({ from: "d", to: "10.1.0.3", proto: "icmp", count: 2 }).verdict).toBe("deny");
    const v = view(net, "compute-2");
    const r = runTool("vif", ["--get", "4", "--get-drop-stats"], v);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n").filter((l) => /^\S.* {2}\d+$/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^(Nowhere to go|Discards|Flow Action Drop) +2$/);
    const other = runTool("vif", ["--get", "3", "--get-drop-stats"], v).stdout;
    expect(other.split("\n").filter((l) => /^\S.* {2}\d+$/.test(l))).toEqual([]);
    expect(runTool("vif", ["--list", "--get-drop-stats"], v).stdout.startsWith("Usage: vif")).toBe(true);
  });
});

describe("nh", () => {
  it("--get prints nh.c's layout: encap rewrite data, tunnel addresses", () => {
    const v = view(withTraffic(), "compute-1");
    const r = runTool("nh", ["--get", String(encapNhId(3, true))], v);
    const [first, flags, encap, data] = r.stdout.split("\n");
    expect(first).toMatch(
      new RegExp(
        `^Id:${encapNhId(3, true)} +  Type:Encap          Fmly: AF_INET  Rid:0  Ref_cnt:\\d+ +Vrf:1$`,
      ),
    );
    expect(flags).toBe("              Flags:Valid, Policy, Etree Root, ");
    expect(encap).toBe("              EncapFmly:0806 Oif:3 Len:14");
    expect(data).toMatch(/^ {14}Encap Data: ([0-9a-f]{2} ){6}00 00 5e 00 01 00 08 00 $/);
    const tunnels = runTool("nh", ["--list"], v)
      .stdout.split("\n\n")
      .filter((e) => e.includes("Type:Tunnel"));
    expect(tunnels.length).toBeGreaterThan(0);
    expect(tunnels[0]).toContain("Flags:Valid, MPLSoUDP, Etree Root, ");
    expect(tunnels[0]).toContain("Sip:192.168.0.11 Dip:192.168.0.12");
  });

  it("an unknown id is ENOENT; no command is nh's usage, exit -EINVAL", () => {
    const v = view(withTraffic(), "compute-1");
    expect(runTool("nh", ["--get", "4242"], v).stdout).toBe(
      "vRouter(Response): No such file or directory (2)\n",
    );
    const u = runTool("nh", [], v);
    expect(u.stdout.split("\n")[0]).toBe("Usage: nh --list");
    expect(u.code).toBe(234);
  });
});

describe("rt", () => {
  it("--dump <vrf> prints rt.c's legend, header and rows", () => {
    const v = view(withTraffic(), "compute-1");
    const lines = runTool("rt", ["--dump", "1"], v).stdout.split("\n");
    expect(lines[0]).toBe(
      "Flags: L=Label Valid, P=Proxy ARP, T=Trap ARP, F=Flood ARP, Ml=MAC-IP learnt route",
    );
    expect(lines[1]).toBe("vRouter inet4 routing table 0/1/unicast");
    expect(lines[2]).toBe(
      "Destination           PPL        Flags        Label         Nexthop    Stitched MAC(Index)",
    );
    // the remote pod: a labelled tunnel route
    const c = lines.find((l) => l.startsWith("10.1.0.5/32"))!;
    expect(c).toMatch(/^10\.1\.0\.5\/32 {12}32 {11}LP {6} *\d+ {8} *\d+ {8}-$/);
    expect(runTool("rt", ["--dump"], v).code).toBe(1);
    expect(runTool("rt", ["--dump"], v).stderr).toBe("rt: option '--dump' requires an argument\n");
  });
});

describe("flow", () => {
  it("-l lists both entries of a flow pair linked by index, with K(nh), action and stats", () => {
    const v = view(withTraffic(), "compute-1");
    const r = runTool("flow", ["-l"], v);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "Action:F=Forward, D=Drop N=NAT(S=SNAT, D=DNAT, Ps=SPAT, Pd=DPAT, L=Link Local Port)\n",
    );
    const rows = [
      ...r.stdout.matchAll(/^ +(\d+)<=>(\d+) +10\.1\.0\.3:40001 +17 \(1\)\n {25}10\.1\.0\.5:53 *\n\((.*)/gm),
    ];
    expect(rows).toHaveLength(1);
    const [, index, rindex, detail] = rows[0]!;
    expect(detail).toContain(`K(nh):${encapNhId(3, true)}, Action:F, Flags:, QOS:-1, S(nh):`);
    // the reverse entry points back
    expect(r.stdout).toMatch(new RegExp(`^ +${rindex}<=>${index} +10\\.1\\.0\\.5:53 `, "m"));
  });

  it("--match filters by address, port and protocol, and says what it matched", () => {
    const v = view(withTraffic(), "compute-1");
    const r = runTool("flow", ["--match", "10.1.0.4 & proto icmp"], v);
    expect(r.stdout).toContain("Listing flows matching ([10.1.0.4]:*, Protocol ICMP)\n");
    expect(r.stdout).not.toContain("10.1.0.5");
    expect(r.stdout).toMatch(/10\.1\.0\.4:\d+ +1 \(1\)/);
    const bad = runTool("flow", ["--match", "10.1.0.4 & proto igmp"], v);
    expect(bad.stdout).toBe('Unsupported protocol "igmp"\n');
    expect(bad.code).toBe(234);
  });
});

describe("flow --get", () => {
  it("prints flow.c's flow_dump_entry fields, padded to 30; an index with no flow says so", () => {
    const v = view(withTraffic(), "compute-1");
    const list = runTool("flow", ["--match", "10.1.0.3:40001"], v).stdout;
    const [, index, rindex] = /^ +(\d+)<=>(\d+) +10\.1\.0\.3:40001/m.exec(list)!;
    const lines = runTool("flow", ["--get", index!], v).stdout.split("\n");
    expect(lines.slice(0, 9)).toEqual([
      `Flow Index:                   ${index}`,
      "Flow Generation ID:           0",
      `Reverse Flow Index:           ${rindex}`,
      "VRF:                          1",
      "Destination VRF:              1",
      "Flow Source:                  [10.1.0.3]:40001",
      "Flow Destination:             [10.1.0.5]:53   ",
      "Flow Protocol:                UDP",
      "Flow Action:                  FORWARD",
    ]);
    expect(lines).toContain(
      `Expected Source:              NextHop(Index, VRF, Type): ${encapNhId(3, true)}, 1, ENCAP`,
    );
    expect(lines).toContain("                              Tunnel Source: 192.168.0.12");
    expect(lines).toContain("Flow Statistics:              1/51");
    expect(runTool("flow", ["-g", "1"], v).stdout).toBe("Flow index 1 is not active\n");
    const big = runTool("flow", ["--get", "999999999"], v);
    expect(big.stdout).toBe("Flow index 999999999 is greater than available indices (524287)\n");
    expect(big.code).toBe(255);
  });
});

describe("dropstats, mpls, vrfstats", () => {
  it("dropstats prints only non-zero counters in vr_util.c's order and format", () => {
    const net = simNetwork(twoComputes());
    // d (blue) cannot reach a (red): no route in blue's VRF
    net.probe({ from: "d", to: "10.1.0.3", proto: "icmp" });
    const r = runTool("dropstats", [], view(net, "compute-2"));
    expect(r.stdout).toMatch(/^Nowhere to go {17}\d+\n$|^Discards {22}\d+\n$|^Flow Action Drop {12}\d+\n$/);
  });

  it("mpls --dump lists the label map; vrfstats counts what carried the packets", () => {
    const v = view(withTraffic(), "compute-1");
    const m = runTool("mpls", ["--dump"], v).stdout.split("\n");
    expect(m.slice(0, 4)).toEqual(["MPLS Input Label Map", "", "   Label    NextHop", "-------------------"]);
    expect(m[4]).toMatch(/^ {0,7}\d+ {4} *\d+$/);
    const s = runTool("vrfstats", ["--get", "1"], v).stdout.split("\n");
    expect(s[0]).toBe("Vrf: 1");
    expect(s[3]).toMatch(
      /^Udp Tunnels 0, Udp Mpls Tunnels [1-9]\d*, Gre Mpls Tunnels 0, Vxlan Tunnels 0, Pbb Tunnels 0, Mpls over Mpls Tunnels 0$/,
    );
    expect(s[4]).toMatch(/^L2 Encaps 0, Encaps [1-9]\d*$/);
    expect(runTool("vrfstats", [], v).code).toBe(234);
    expect(runTool("vrfstats", ["--get", "77"], v).stdout).toBe(
      "vRouter(Response): No such file or directory (2)\n",
    );
  });
});

describe("exact layouts (the utilities' printf formats, spelled out)", () => {
  const net = simNetwork(twoComputes());
  expect(net.probe({ from: "a", to: "10.1.0.5", proto: "udp", port: 53, sport: 40001 }).verdict).toBe(
    "allow",
  );
  const v = view(net, "compute-1");
  const pad = (n: number) => " ".repeat(n);

  it("vif.c list_get_print: 'vif%d/%d' padded to 12, then 12-space continuation lines, a blank line after", () => {
    const out = runTool("vif", ["--get", "4"], v).stdout;
    const entry = out.slice(out.indexOf("vif0/4"));
    expect(entry).toBe(
      [
        `${"vif0/4".padEnd(12)}OS: tap-b NH: ${encapNhId(4, true)}`,
        `${pad(12)}Type:Virtual HWaddr:00:00:5e:00:01:00 IPaddr:10.1.0.4`,
        `${pad(12)}Vrf:1 Mcast Vrf:1 Flags:PL3L2DEr QOS:-1 Ref:3`,
        `${pad(12)}RX packets:0  bytes:0 errors:0`,
        `${pad(12)}TX packets:0  bytes:0 errors:0`,
        `${pad(12)}Drops:0`,
        "",
        "",
      ].join("\n"),
    );
  });

  it("nh.c: 'Id:%-9d  Type:%-13s  Fmly:%8s  Rid:%d  Ref_cnt:%-10d Vrf:%d', then '\\n%14c' lines", () => {
    const tunnel = [...v.tables.nextHops.values()].find((n) => n.type === "tunnel")!;
    const out = runTool("nh", ["--get", String(tunnel.id)], v).stdout;
    expect(out).toBe(
      `Id:${String(tunnel.id).padEnd(9)}  Type:${"Tunnel".padEnd(13)}  Fmly:${"AF_INET".padStart(8)}  Rid:0  Ref_cnt:${"2".padEnd(10)} Vrf:0` +
        `\n${pad(14)}Flags:Valid, MPLSoUDP, Etree Root, ` +
        `\n${pad(14)}Oif:0 Len:14 Data:02 fa c0 a8 00 0c 02 fa c0 a8 00 0b 08 00 ` +
        `\n${pad(14)}Sip:192.168.0.11 Dip:192.168.0.12\n\n`,
    );
  });

  it("rt.c route_req_process: '%s/%-2d' to 21, '%4d', 8 spaces, '%5s', 6, '%5d', 8, '%7d', 8, then the MAC or '-'", () => {
    const route = v.tables.vrfs.get(1)!.routes.find((r) => r.prefix === "10.1.0.5/32")!;
    const line = runTool("rt", ["--dump", "1"], v)
      .stdout.split("\n")
      .find((l) => l.startsWith("10.1.0.5/"));
    expect(line).toBe(
      `${"10.1.0.5/32".padEnd(21)}${"32".padStart(4)}${pad(8)}${"LP".padStart(5)}${pad(6)}${String(route.label).padStart(5)}${pad(8)}${String(route.nh).padStart(7)}${pad(8)}-`,
    );
  });

  it("mpls.c: '%8d    %6d' under its three header lines", () => {
    const [label, nh] = [...v.tables.labels].sort((a, b) => a[0] - b[0])[0]!;
    expect(runTool("mpls", ["--get", String(label)], v).stdout).toBe(
      `MPLS Input Label Map\n\n   Label    NextHop\n-------------------\n${String(label).padStart(8)}    ${String(nh).padStart(6)}\n`,
    );
  });

  it("flow.c flow_dump_table: '%9d', '<=>%-9d', 4 spaces, 'sip:%-5d' to 46, 4 spaces, '%3d (%d)', then 25 spaces and the destination", () => {
    const out = runTool("flow", ["--match", "10.1.0.3:40001"], v).stdout;
    const m = /^( {4}\d{5}|\s*\d+)<=>(\d+) */m.exec(out)!;
    const [index, rindex] = [m[1]!.trim(), m[2]!];
    expect(out).toContain(
      `${index.padStart(9)}<=>${rindex.padEnd(9)}${pad(4)}${"10.1.0.3:40001".padEnd(46)}${pad(4)}${"17".padStart(3)} (1)\n${pad(25)}${"10.1.0.5:53".padEnd(11 + 3)}\n(Gen: 0, K(nh):${encapNhId(3, true)}, Action:F, Flags:, QOS:-1, S(nh):${encapNhId(3, true)}, `,
    );
  });
});
