/**
 * The vrouters' own tools on a running environment (issue 23): `ctb vrouter <node> <tool>` and `ctb exec <node>
 * -- <tool>` print what tf-vrouter's utilities print, from the live tables and flows; bad input answers as the
 * tools do; each vrouter's agent introspect is listed by `ctb status` and answers Sandesh XML. One environment
 * (scenarios/section-9.yaml, simulated datapath, embedded cluster).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CTB = resolve("bin/ctb");
const work = mkdtempSync(join(tmpdir(), "ctb-vtools-"));
const ENV = { ...process.env, CTB_WORKDIR: join(work, ".ctb"), NO_COLOR: "1", CTB_DEBUG: "" };

function ctb(...args: string[]) {
  const r = spawnSync(process.execPath, [CTB, ...args], { encoding: "utf8", env: ENV, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let pods: { ns: string; name: string; ip: string; node: string }[] = [];

beforeAll(() => {
  const up = ctb("up", "scenarios/section-9.yaml");
  expect(up.code, up.err + up.out).toBe(0);
  pods = ctb("get", "pods", "-A", "-o", "wide", "--no-headers")
    .out.trim()
    .split("\n")
    .map((l) => l.split(/\s+/))
    .map(([ns, name, , , , , ip, node]) => ({ ns: ns!, name: name!, ip: ip!, node: node! }));
}, 180_000);

afterAll(() => {
  ctb("down");
});

describe("ctb vrouter <node> <tool>", () => {
  it("vif --list shows every pod of the node with its address, as vif.c prints it", () => {
    const r = ctb("vrouter", "b3s37", "vif", "--list");
    expect(r.code, r.err).toBe(0);
    expect(r.out.startsWith("Vrouter Interface Table\n\nFlags: P=Policy,")).toBe(true);
    for (const p of pods.filter((x) => x.node === "b3s37"))
      expect(r.out).toMatch(
        new RegExp(
          `^vif0/\\d+ +OS: tap\\S+ NH: \\d+\\n {12}Type:Virtual HWaddr:00:00:5e:00:01:00 IPaddr:${p.ip.replaceAll(".", "\\.")}$`,
          "m",
        ),
      );
  });

  it("a ping's flow pair is in flow -l and flow --match, with its packets", () => {
    const a = pods.find((p) => p.name.startsWith("example1-"))!;
    const b = pods.find((p) => p.name.startsWith("example2-"))!;
    expect(ctb("exec", `${a.ns}/${a.name}`, "--", "ping", "-c", "2", b.ip).code).toBe(0);
    const r = ctb("vrouter", a.node, "flow", "--match", `${a.ip},${b.ip} & proto icmp`);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`Listing flows matching ([${a.ip}]:*, [${b.ip}]:*, Protocol ICMP)`);
    const rows = [
      ...r.out.matchAll(
        /^ +(\d+)<=>(\d+) +(\S+):\d+ +1 \(\d+\)\n {25}(\S+):\d+ *\n\(Gen: \d+, K\(nh\):\d+, Action:F, .*Stats:(\d+)\//gm,
      ),
    ];
    // the scenario's own pings left flows too: this pair is among them, both directions
    const ends = new Set(rows.map((m) => `${m[3]}>${m[4]}`));
    expect([...ends].sort()).toEqual([`${a.ip}>${b.ip}`, `${b.ip}>${a.ip}`].sort());
    expect(rows.every((m) => Number(m[5]) >= 1)).toBe(true);
  });

  it("ctb exec <node> -- <tool> answers the same", () => {
    const direct = ctb("vrouter", "b3s38", "nh", "--list");
    const viaExec = ctb("exec", "b3s38", "--", "nh", "--list");
    expect(viaExec.code).toBe(0);
    expect(viaExec.out).toBe(direct.out);
    expect(direct.out).toMatch(/^Id:\d+ +Type:Tunnel +Fmly: AF_INET/m);
  });

  it("bad input answers as the tools do; an unknown node or tool is ctb's error", () => {
    const bad = ctb("vrouter", "b3s37", "nh", "--bogus");
    expect(bad.err).toBe("nh: unrecognized option '--bogus'\n");
    expect(bad.out.split("\n")[0]).toBe("Usage: nh --list");
    expect(bad.code).toBe(234); // nh.c's usage() exits -EINVAL
    expect(ctb("vrouter", "b3s37", "vif", "--get", "4242").out).toContain(
      "vRouter(Response): No such file or directory (2)",
    );
    const node = ctb("vrouter", "nope", "vif", "--list");
    expect(node.code).toBe(1);
    expect(node.err).toBe('ctb vrouter: no vrouter "nope" in this testbed (there are: b3s37, b3s38)\n');
    const tool = ctb("vrouter", "b3s37", "ls");
    expect(tool.code).toBe(2);
    expect(tool.err.split("\n")[0]).toBe(
      'ctb vrouter: "ls" is not a vrouter tool (vif, nh, rt, flow, dropstats, mpls, vrfstats)',
    );
    const exec = ctb("exec", "b3s37", "--", "ls");
    expect(exec.code).toBe(2);
    expect(exec.err).toMatch(/^ctb exec: on the simulated datapath a node runs only the vrouter tools/);
    expect(ctb("vrouter", "b3s37", "--help").out).toMatch(/^usage: ctb vrouter <node> <tool>/);
  });
});

describe("agent introspect", () => {
  it("ctb status lists one per vrouter; Snh_ItfReq and Snh_FetchAllFlowRecords answer Sandesh XML", async () => {
    const status = JSON.parse(ctb("status", "-o", "json").out) as {
      environment: { introspect: Record<string, string> };
    };
    const urls = status.environment.introspect;
    expect(Object.keys(urls).sort()).toEqual(["b3s37", "b3s38"]);
    expect(ctb("status").out).toMatch(
      /agent introspect .*:\n {4}b3s37 +http:\/\/127\.0\.0\.1:\d+\n {4}b3s38 +http/,
    );
    const a = pods.find((p) => p.name.startsWith("example1-"))!;
    const itf = await (await fetch(`${urls[a.node]}/Snh_ItfReq?ipv4_address=${a.ip}`)).text();
    expect(
      itf.startsWith(
        '<?xml-stylesheet type="text/xsl" href="/universal_parse.xsl"?><ItfResp type="sandesh"><itf_list type="list" identifier="1"><list type="struct" size="1"><ItfSandeshData>',
      ),
    ).toBe(true);
    expect(itf).toContain(`<ip_addr type="string" identifier="13">${a.ip}</ip_addr>`);
    expect(itf).toContain('<type type="string" identifier="8">vport</type>');
    const flows = await (await fetch(`${urls[a.node]}/Snh_FetchAllFlowRecords`)).text();
    expect(flows).toContain('<FlowRecordsResp type="sandesh"><flow_list type="list" identifier="1">');
    expect(flows).toContain(`<sip type="string" identifier="2">${a.ip}</sip>`);
    const unknown = await fetch(`${urls[a.node]}/Snh_NoSuchReq`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toMatch(
      /^no such request: NoSuchReq \(this introspect answers Snh_ItfReq, /,
    );
  });
});
