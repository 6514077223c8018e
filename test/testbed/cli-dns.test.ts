/** `ctb exec <pod> -- nslookup` on the simulated datapath: one query through the engines, answered by the cluster DNS core. */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CTB = resolve("bin/ctb");
const work = mkdtempSync(join(tmpdir(), "ctb-dns-"));
const ENV = { ...process.env, CTB_WORKDIR: join(work, ".ctb"), NO_COLOR: "1", CTB_DEBUG: "" };

function ctb(...args: string[]) {
  const r = spawnSync(process.execPath, [CTB, ...args], { encoding: "utf8", env: ENV, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("ctb exec nslookup (simulated datapath)", () => {
  beforeAll(() => {
    const up = ctb("up", "scenarios/dns.yaml");
    expect(up.code, up.err + up.out).toBe(0);
  }, 120_000);
  afterAll(() => {
    ctb("down");
  });

  it("answers a Service's name and SRV record from the kube-dns ClusterIP, NXDOMAIN for an unknown name", () => {
    const a = ctb("exec", "default/client", "--", "nslookup", "web.default.svc.cluster.local");
    expect(a.code, a.err).toBe(0);
    expect(a.out).toContain("Server:\t\t10.96.0.10");
    expect(a.out).toMatch(/web\.default\.svc\.cluster\.local A 10\.96\.\d+\.\d+/);
    const srv = ctb(
      "exec",
      "client",
      "--",
      "nslookup",
      "-type=SRV",
      "_http._tcp.web.default.svc.cluster.local",
    );
    expect(srv.out).toContain("SRV 0 100 80 web.default.svc.cluster.local");
    // the pod's search path (kubelet's resolv.conf, ndots:5): a short name is its namespace's Service
    const short = ctb("exec", "default/client", "--", "nslookup", "web");
    expect(short.code, short.err).toBe(0);
    expect(short.out).toMatch(/web\.default\.svc\.cluster\.local A 10\.96\.\d+\.\d+/);
    expect(ctb("exec", "default/client", "--", "nslookup", "web.default").out).toMatch(
      /web\.default\.svc\.cluster\.local A /,
    );
    // the search path ends on "nope." itself, outside cluster.local: REFUSED, as the real nslookup on netns says
    expect(ctb("exec", "default/client", "--", "nslookup", "nope").out).toContain(
      "server can't find nope: REFUSED",
    );
    // a name with 5 dots is tried as given first; REFUSED ends the search there
    expect(ctb("exec", "default/client", "--", "nslookup", "a.b.c.d.e.example").out).toContain(
      "server can't find a.b.c.d.e.example: REFUSED",
    );
    const nx = ctb("exec", "client", "--", "nslookup", "nothing.default.svc.cluster.local");
    expect(nx).toMatchObject({ code: 1 });
    expect(nx.out).toContain("server can't find nothing.default.svc.cluster.local: NXDOMAIN");
  });

  it("a namespace the NetworkPolicy keeps from CoreDNS gets no answer, and says where the query was dropped", () => {
    const r = ctb("exec", "-n", "locked", "client", "--", "nslookup", "web.default.svc.cluster.local");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /no servers could be reached \(dropped at node-\d firewall-policy: FLOW_ACTION_DROP\)/,
    );
  });

  it("ctb trace takes a DNS name: resolved from the source, then the packet's fate; a name that does not resolve says why", () => {
    const ok = ctb(
      "trace",
      "default/client",
      "dns:web.default.svc.cluster.local",
      "--proto",
      "tcp",
      "--port",
      "80",
    );
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(
      /^default\/client → dns:web\.default\.svc\.cluster\.local \(10\.96\.\d+\.\d+\) tcp\/80: delivered/,
    );
    const nx = ctb(
      "trace",
      "default/client",
      "dns:nothing.default.svc.cluster.local",
      "--proto",
      "tcp",
      "--port",
      "80",
    );
    expect(nx.code).toBe(1);
    expect(nx.err).toContain(
      "dns:nothing.default.svc.cluster.local does not resolve from default/client: → NXDOMAIN",
    );
  });

  it("other programs are a usage error naming what works", () => {
    const r = ctb("exec", "client", "--", "dig", "x");
    expect(r.code).toBe(2);
    expect(r.err).toContain("exec supports: ping [-c N] <ip>, nslookup [-type=A|SRV] <name> [server]");
  });
});
