/**
 * `ctb` as a kubectl user drives it: per-verb --help, one-line errors with exit 2 for bad command lines,
 * kubectl's columns, NotFound and "No resources found", -o yaml|json|name, `exec -it -n ns pod -- cmd`, and
 * `trace` with every endpoint form a scenario accepts. One environment (scenarios/section-9.yaml, simulated
 * datapath, embedded cluster) serves the inspection tests.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { humanAge } from "../../testbed/cli/printers";

const CTB = resolve("bin/ctb");
const work = mkdtempSync(join(tmpdir(), "ctb-kubectl-"));
const ENV = { ...process.env, CTB_WORKDIR: join(work, ".ctb"), NO_COLOR: "1", CTB_DEBUG: "" };

function ctb(...args: string[]) {
  const r = spawnSync(process.execPath, [CTB, ...args], { encoding: "utf8", env: ENV, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A usage error as the user sees it: the verb, one line, the pointer to --help, exit 2, no stack. */
function expectUsageError(r: ReturnType<typeof ctb>, verb: string, text: string | RegExp) {
  expect(r.code, r.err).toBe(2);
  const lines = r.err.trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(new RegExp(`^ctb ${verb}: `));
  expect(lines[0]).toMatch(text);
  expect(lines[1]).toBe(`See 'ctb ${verb} --help'.`);
}

const VERBS = [
  "run",
  "up",
  "down",
  "status",
  "capture",
  "get",
  "describe",
  "exec",
  "trace",
  "contrail",
  "api",
  "controller",
  "vrouter",
];

describe("ctb <verb> --help", () => {
  it.each(VERBS)("%s --help and -h print the verb's usage and exit 0", (verb) => {
    for (const flag of ["--help", "-h"]) {
      const r = ctb(verb, flag);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: ctb ${verb}\\b`));
      expect(r.err).toBe("");
    }
  });

  it("help after other arguments too, and `ctb help <verb>`", () => {
    expect(ctb("get", "pods", "-A", "--help").out).toMatch(/^usage: ctb get/);
    expect(ctb("help", "trace").out).toMatch(/^usage: ctb trace/);
  });

  it("the top-level usage points at the verbs' help", () => {
    const r = ctb("--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Run 'ctb <command> --help'");
  });
});

describe("bad command lines", () => {
  it.each(VERBS.filter((v) => v !== "down"))("%s --bogus: one line, a pointer to --help, exit 2", (verb) => {
    expectUsageError(ctb(verb, "--bogus"), verb, /unknown option '--bogus'/);
  });

  it("bad values are usage errors, not stack traces", () => {
    expectUsageError(ctb("api", "--port", "abc"), "api", /--port/);
    expectUsageError(
      ctb("trace", "default/a", "default/b", "--proto", "tcp", "--port", "abc"),
      "trace",
      /--port must be an integer from 1 to 65535, not "abc"/,
    );
    expectUsageError(
      ctb("trace", "default/a", "default/b", "--proto", "tcp", "--port", "70000"),
      "trace",
      /--port/,
    );
    expectUsageError(
      ctb("trace", "default/a", "default/b", "--proto", "gre"),
      "trace",
      /--proto must be icmp, tcp, udp or sctp/,
    );
    expectUsageError(ctb("trace", "default/a", "default/b", "-o", "yaml"), "trace", /-o must be json/);
    expectUsageError(ctb("get", "pods", "-o", "table"), "get", /output format "table"/);
    expectUsageError(ctb("get", "frobs"), "get", /doesn't have a resource type "frobs"/);
    expectUsageError(ctb("get"), "get", /specify the type of resource/);
    expectUsageError(ctb("describe"), "describe", /specify the type of resource/);
    expectUsageError(ctb("exec", "mypod"), "exec", /no command/);
    expectUsageError(ctb("contrail", "frob"), "contrail", /unknown operation "frob"/);
    expectUsageError(ctb("contrail", "list"), "contrail", /needs an object type/);
  });

  it("without an environment: one line saying to run ctb up, exit 2", () => {
    const r = ctb("get", "pods");
    expect(r.code).toBe(2);
    expect(r.err).toBe("ctb get: no environment is up here: run `ctb up <scenario.yaml>` first\n");
  });

  it("an unexpected error is one line; CTB_DEBUG=1 adds the stack", async () => {
    // an environment whose control API answers nonsense: the CLI fails in its own code
    const server = createServer((_req, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end("{}"),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const dir = join(work, "broken", ".ctb");
    mkdirSync(dir, { recursive: true });
    const controlUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    writeFileSync(
      join(dir, "session.json"),
      JSON.stringify({ pid: process.pid, controlUrl, vncUrl: controlUrl, ready: true, datapath: "sim" }),
    );
    const run = (debug: string) =>
      new Promise<{ code: number; err: string }>((done) => {
        execFile(
          process.execPath,
          [CTB, "trace", "default/a", "default/b"],
          { env: { ...ENV, CTB_WORKDIR: dir, CTB_DEBUG: debug } },
          (e, _out, err) => done({ code: (e as { code?: number } | null)?.code ?? 0, err }),
        );
      });
    try {
      const plain = await run("");
      expect(plain.code).toBe(1);
      expect(plain.err).toMatch(/^ctb trace: [^\n]+\n$/);
      expect(plain.err).not.toContain("    at ");
      const debug = await run("1");
      expect(debug.code).toBe(1);
      expect(debug.err).toMatch(/^ctb trace: [^\n]+\n/);
      expect(debug.err).toContain("    at ");
    } finally {
      server.close();
    }
  });
});

describe("AGE column", () => {
  it("reads as kubectl's does", () => {
    const now = Date.parse("2026-01-10T12:00:00Z");
    const ago = (s: number) => new Date(now - s * 1000).toISOString();
    const ages = [5, 119, 150, 600, 7200, 16200, 30 * 3600, 3 * 86400 + 3600, 40 * 86400, 800 * 86400];
    expect(ages.map((s) => humanAge(ago(s), now))).toEqual([
      "5s",
      "119s",
      "2m30s",
      "10m",
      "120m",
      "4h30m",
      "30h",
      "3d1h",
      "40d",
      "2y70d",
    ]);
  });
});

describe("inspection verbs against an environment (section-9, sim)", () => {
  const pods: Record<string, { name: string; ns: string; ip: string }> = {};

  beforeAll(() => {
    const up = ctb("up", "scenarios/section-9.yaml");
    expect(up.code, up.err + up.out).toBe(0);
    const wide = ctb("get", "pods", "-A", "-o", "wide");
    for (const line of wide.out.split("\n").slice(1).filter(Boolean)) {
      const [ns, name, , , , , ip] = line.split(/\s+/);
      pods[name!.split("-")[0]!] = { ns: ns!, name: name!, ip: ip! };
    }
  }, 120_000);

  afterAll(() => {
    ctb("down");
  });

  describe("get", () => {
    it("pods: kubectl's columns; -o wide and -A add theirs", () => {
      const r = ctb("get", "pods");
      expect(r.code).toBe(0);
      const [header, ...rows] = r.out.trimEnd().split("\n");
      expect(header!.split(/\s{2,}/)).toEqual(["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatch(/^example1-\S+\s+1\/1\s+Running\s+0\s+\d+s$/);

      const wide = ctb("get", "po", "-A", "-o", "wide");
      expect(wide.out.split("\n")[0]!.split(/\s{2,}/)).toEqual([
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
      ]);
      expect(Object.keys(pods).sort()).toEqual(["example1", "example2", "example3", "example4"]);
      expect(pods.example3!.ns).toBe("test-isolated-ns");
      expect(pods.example3!.ip).toMatch(/^10\.47\.255\.\d+$/);
    });

    it("services, namespaces, nodes, deployments, endpoints with their own columns", () => {
      const svc = ctb("get", "svc", "-A");
      expect(svc.out.split("\n")[0]!.split(/\s{2,}/)).toEqual([
        "NAMESPACE",
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "EXTERNAL-IP",
        "PORT(S)",
        "AGE",
      ]);
      expect(svc.out).toMatch(/default\s+web\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+8080\/TCP\s+\d+s/);
      const ns = ctb("get", "ns");
      expect(ns.out.split("\n")[0]!.split(/\s{2,}/)).toEqual(["NAME", "STATUS", "AGE"]);
      expect(ns.out).toMatch(/test-isolated-ns\s+Active/);
      expect(ctb("get", "no").out).toMatch(/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\nb3s37\s+Ready/);
      expect(ctb("get", "deploy").out).toMatch(
        /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nexample1\s+1\/1\s+1\s+1/,
      );
      expect(ctb("get", "ep", "web").out).toMatch(
        /^NAME\s+ENDPOINTS\s+AGE\nweb\s+10\.47\.255\.\d+:80,10\.47\.255\.\d+:80/,
      );
      expect(ctb("get", "pods", "-A", "-l", "app=example3").out.trimEnd().split("\n")).toHaveLength(2);
    });

    it("one object by name (both spellings); a missing one is kubectl's NotFound, exit 1", () => {
      const one = ctb("get", "pods", pods.example1!.name);
      expect(one.code).toBe(0);
      expect(one.out.trimEnd().split("\n")).toHaveLength(2);
      expect(ctb("get", `pod/${pods.example1!.name}`).out).toContain(pods.example1!.name);
      const missing = ctb("get", "pods", "nosuch");
      expect(missing.code).toBe(1);
      expect(missing.err).toBe('Error from server (NotFound): pods "nosuch" not found\n');
      expect(missing.out).toBe("");
    });

    it("an empty list says so on stderr, exit 0", () => {
      const ns = ctb("get", "netpol");
      expect(ns).toEqual({ code: 0, out: "", err: "No resources found in default namespace.\n" });
      expect(ctb("get", "netpol", "-A").err).toBe("No resources found\n");
      expect(ctb("get", "pods", "-n", "nosuch").err).toBe("No resources found in nosuch namespace.\n");
    });

    it("-o json and -o yaml print the objects: a v1 List for lists, the object alone by name", () => {
      const list = JSON.parse(ctb("get", "pods", "-o", "json").out);
      expect(list).toMatchObject({ apiVersion: "v1", kind: "List" });
      expect(list.items).toHaveLength(2);
      expect(list.items[0]).toMatchObject({ apiVersion: "v1", kind: "Pod" });
      const pod = parseYaml(
        ctb("get", "pod", pods.example3!.name, "-n", "test-isolated-ns", "-o", "yaml").out,
      );
      expect(pod).toMatchObject({
        kind: "Pod",
        metadata: { name: pods.example3!.name },
        status: { podIP: pods.example3!.ip },
      });
      const svcs = parseYaml(ctb("get", "svc", "-A", "-o", "yaml").out);
      expect(svcs.kind).toBe("List");
      expect(svcs.items.map((s: { metadata: { name: string } }) => s.metadata.name)).toContain("web");
      expect(JSON.parse(ctb("get", "deploy", "example1", "-o", "json").out)).toMatchObject({
        apiVersion: "apps/v1",
        kind: "Deployment",
      });
    });

    it("-o name", () => {
      expect(ctb("get", "pods", "-o", "name").out).toBe(
        `pod/${pods.example1!.name}\npod/${pods.example2!.name}\n`,
      );
      expect(ctb("get", "deploy", "-o", "name").out).toBe(
        "deployment.apps/example1\ndeployment.apps/example2\n",
      );
    });
  });

  describe("describe", () => {
    it("pod, service, node and namespace, as kubectl lays them out", () => {
      const pod = ctb("describe", "pod", pods.example1!.name);
      expect(pod.code).toBe(0);
      expect(pod.out).toMatch(new RegExp(`^Name:\\s+${pods.example1!.name}\\nNamespace:\\s+default\\n`));
      expect(pod.out).toMatch(/Node:\s+b3s3\d\/\d+\.\d+\.\d+\.\d+/);
      expect(pod.out).toContain(`IP:               ${pods.example1!.ip}`);
      expect(pod.out).toMatch(/Controlled By:\s+ReplicaSet\/example1-/);
      expect(pod.out).toMatch(/Conditions:\n\s+Type\s+Status\n\s+PodScheduled\s+True/);

      const svc = ctb("describe", "svc", "web");
      expect(svc.out).toMatch(/Type:\s+ClusterIP/);
      expect(svc.out).toMatch(/Endpoints:\s+10\.47\.255\.\d+:80,10\.47\.255\.\d+:80/);

      const node = ctb("describe", "node", "b3s37");
      expect(node.out).toMatch(/InternalIP:\s+\d+\.\d+\.\d+\.\d+/);
      expect(node.out).toMatch(/Non-terminated Pods:\s+\(2 in total\)/);
      expect(node.out).toContain(pods.example1!.name);

      const ns = ctb("describe", "ns", "test-isolated-ns");
      expect(ns.out).toContain("opencontrail.kubernetes.isolated: true");
      expect(ns.out).toContain("Namespace is isolated");
    });

    it("NotFound like kubectl, exit 1", () => {
      expect(ctb("describe", "pod", "nosuch")).toEqual({
        code: 1,
        out: "",
        err: 'Error from server (NotFound): pods "nosuch" not found\n',
      });
      expect(ctb("describe", "namespace", "nosuch").err).toBe(
        'Error from server (NotFound): namespaces "nosuch" not found\n',
      );
    });
  });

  describe("exec", () => {
    it("kubectl's form: exec -it -n <ns> <pod> -- cmd, exit code of the command", () => {
      const ok = ctb(
        "exec",
        "-it",
        "-n",
        "default",
        pods.example1!.name,
        "--",
        "ping",
        "-c",
        "2",
        pods.example2!.ip,
      );
      expect(ok.out).toContain("2 packets transmitted, 2 packets received, 0% packet loss");
      expect(ok.code).toBe(0);
      // default namespace without -n; --stdin --tty spelled out
      const blocked = ctb(
        "exec",
        "--stdin",
        "--tty",
        pods.example1!.name,
        "--",
        "ping",
        "-c",
        "1",
        pods.example3!.ip,
      );
      expect(blocked.out).toContain("1 packets transmitted, 0 packets received, 100% packet loss");
      expect(blocked.code).toBe(1);
      // the isolated namespace reaches out (section 9.6), flags after the pod, a runner-style glob
      const out = ctb(
        "exec",
        "example3-*",
        "-n",
        "test-isolated-ns",
        "-i",
        "--",
        "ping",
        "-c",
        "1",
        pods.example1!.ip,
      );
      expect(out.code, out.err).toBe(0);
    });

    it("the <ns>/<pod> form still works; a missing pod is NotFound", () => {
      expect(
        ctb("exec", `default/${pods.example1!.name}`, "--", "ping", "-c", "1", pods.example2!.ip).code,
      ).toBe(0);
      expect(ctb("exec", "nosuch", "--", "ping", "1.2.3.4")).toMatchObject({
        code: 1,
        err: 'Error from server (NotFound): pods "nosuch" not found\n',
      });
    });
  });

  describe("trace", () => {
    it("accepts every endpoint form a scenario does; exit 0 when delivered", () => {
      // (not example1 → web: web's pods include example1, and a pod drops its own hairpinned packets)
      const svc = ctb(
        "trace",
        "default/example1-*",
        "service:test-isolated-ns/example3",
        "--proto",
        "tcp",
        "--port",
        "80",
      );
      expect(svc.code, svc.err).toBe(0);
      expect(svc.out.split("\n")[0]).toMatch(
        /^default\/example1-\S+ → service test-isolated-ns\/example3 \(10\.96\.\d+\.\d+\) tcp\/80: delivered$/,
      );
      expect(
        ctb("trace", "test-isolated-ns/example3-*", "svc:default/web", "--proto", "tcp", "--port", "8080")
          .code,
      ).toBe(0);
      expect(ctb("trace", `default/${pods.example1!.name}`, pods.example2!.ip).code).toBe(0);
      expect(ctb("trace", "test-isolated-ns/example3-*", "default/example1-*").code).toBe(0);
    });

    it("exit 1 when the packet is dropped, with where and why", () => {
      const r = ctb("trace", "default/example1-*", "test-isolated-ns/example3-*");
      expect(r.code).toBe(1);
      expect(r.out).toContain(": DROPPED");
      expect(r.out).toMatch(/ {2}drop: \w+ at \S+/);
    });

    it("--json and -o json print the ProbeResult", () => {
      for (const flag of [["--json"], ["-o", "json"]]) {
        const r = ctb("trace", "default/example1-*", "test-isolated-ns/example3-*", ...flag);
        expect(r.code).toBe(1);
        const result = JSON.parse(r.out);
        expect(result).toMatchObject({ sent: 1, received: 0 });
        expect(result.drop.reason).toMatch(/\w+/);
        expect(Array.isArray(result.trace)).toBe(true);
      }
    });

    it("a malformed endpoint is a usage error; a missing one fails with the reason", () => {
      expectUsageError(
        ctb("trace", "foo", pods.example2!.ip),
        "trace",
        /from "foo" must be <namespace>\/<pod>, <namespace>\/<pod>@<network>, host:<fabric host> or external:<external host>/,
      );
      expectUsageError(ctb("trace", "default/example1-*", "nowhere"), "trace", /to "nowhere" must be/);
      const missing = ctb("trace", "default/nosuch", pods.example2!.ip);
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(
        /^ctb trace: no pod default\/nosuch \(pods in default: example1-\S+, example2-\S+\)\n$/,
      );
      expect(
        ctb("trace", "default/example1-*", "service:default/nosuch", "--proto", "tcp", "--port", "80").err,
      ).toBe('Error from server (NotFound): services "nosuch" not found\n');
    });
  });

  describe("contrail", () => {
    it("list and get, with -o json|yaml|name", () => {
      const names = ctb("contrail", "list", "virtual-network", "-o", "name").out.split("\n");
      expect(names).toContain("default-domain:test-isolated-ns:test-isolated-ns-vn");
      const all = JSON.parse(ctb("contrail", "list", "virtual-network", "--json").out);
      expect(
        all.some(
          (vn: { fq_name: string[] }) => vn.fq_name.join(":") === "default-domain:default:cluster-network",
        ),
      ).toBe(true);
      const vn = ctb(
        "contrail",
        "get",
        "virtual-network",
        "default-domain:test-isolated-ns:test-isolated-ns-vn",
        "-o",
        "yaml",
      );
      expect(vn.code).toBe(0);
      expect(parseYaml(vn.out)["virtual-network"].fq_name).toEqual([
        "default-domain",
        "test-isolated-ns",
        "test-isolated-ns-vn",
      ]);
    });

    it("clean errors: a missing object exits 1, an unknown type 2", () => {
      expect(ctb("contrail", "get", "virtual-network", "a:b:c")).toEqual({
        code: 1,
        out: "",
        err: "ctb contrail: virtual-network a:b:c not found\n",
      });
      expectUsageError(
        ctb("contrail", "list", "virtual-netwrk"),
        "contrail",
        /unknown config object type "virtual-netwrk"/,
      );
      expectUsageError(
        ctb("contrail", "get", "virtual-netwrk", "a:b"),
        "contrail",
        /unknown config object type/,
      );
      const down = ctb("contrail", "list", "project", "--api", "http://127.0.0.1:9");
      expect(down.code).toBe(1);
      expect(down.err).toMatch(
        /^ctb contrail: the config API at http:\/\/127\.0\.0\.1:9 does not answer: [^\n]+\n$/,
      );
    });
  });
});
