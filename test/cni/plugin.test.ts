/**
 * Every command and every error code of the CNI plugin, through `invoke` (env + stdin → stdout + exit code)
 * with the agent and the host network replaced by in-memory doubles and real state files in a temp dir.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Logger } from "../../cni/log";
import { PortApiClient } from "../../cni/port-api";
import { type Edges, invoke } from "../../cni/run";
import { FileStateStore } from "../../cni/state";
import { FakeHost, StubAgent, type StubPod } from "./fakes";

const NETNS = "/var/run/netns/ctb-pod-web";
const WEB: StubPod = {
  vmUuid: "5f0c2a1e-1111-4c3b-9a57-0123456789ab",
  vmiUuid: "9d1e7f00-2222-4b1a-8c33-abcdefabcdef",
  mac: "02:9d:1e:7f:00:22",
  ip: "10.32.0.5",
  plen: 12,
  gateway: "10.47.255.254",
  dns: "10.47.255.253",
};
const WEB_VM = "k8s__default__web";
const ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=c0ffee01";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** `unreachable`: every connection refused (true) or timing out; `refusals`: refused that many times, then up. */
function harness(opts: { confFile?: string; unreachable?: boolean | "timeout"; refusals?: number } = {}) {
  const agent = new StubAgent();
  const host = new FakeHost();
  host.namespaces.add(NETNS);
  host.namespaces.add("ctb-c1");
  const stateDir = mkdtempSync(join(tmpdir(), "ctb-cni-state-"));
  dirs.push(stateDir);
  const log = new Logger("debug");
  const sleeps: number[] = [];
  let refusals = opts.refusals ?? 0;
  const edges: Edges = {
    log,
    readConfFile: async (dir) =>
      opts.confFile ? { path: join(dir, "10-contrail.conf"), text: opts.confFile } : undefined,
    makeDeps: (conf) => ({
      agent: new PortApiClient(
        opts.unreachable === "timeout"
          ? async () => {
              throw new Error("no answer within 10 ms");
            }
          : opts.unreachable
            ? async () => {
                throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9091"), {
                  code: "ECONNREFUSED",
                });
              }
            : async (method, path, body) => {
                if (refusals-- > 0)
                  throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9091"), {
                    code: "ECONNREFUSED",
                  });
                return agent.transport(method, path, body);
              },
        {
          retries: conf.contrail.pollRetries,
          intervalMs: 0,
          sleep: async (ms) => {
            sleeps.push(ms);
          },
        },
      ),
      host,
      state: new FileStateStore(conf.contrail.configDir),
      log,
      now: () => new Date(0),
    }),
  };
  const baseConf = (extra: Record<string, unknown> = {}, contrail: Record<string, unknown> = {}) => ({
    cniVersion: "1.0.0",
    name: "contrail-k8s",
    type: "contrail-k8s-cni",
    contrail: {
      "config-dir": stateDir,
      "host-netns": "ctb-c1",
      "poll-retries": 3,
      "poll-timeout": 0.01,
      ...contrail,
    },
    ...extra,
  });
  const call = async (
    command: string,
    o: {
      env?: Record<string, string | undefined>;
      conf?: Record<string, unknown>;
      contrail?: Record<string, unknown>;
      stdin?: string;
    } = {},
  ) => {
    const env: Record<string, string | undefined> = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: "c0ffee01",
      CNI_NETNS: NETNS,
      CNI_IFNAME: "eth0",
      CNI_ARGS: ARGS,
      CNI_PATH: "/opt/cni/bin",
      ...o.env,
    };
    const stdin = o.stdin ?? JSON.stringify(baseConf(o.conf, o.contrail));
    const out = await invoke({ env, stdin }, edges);
    return { ...out, json: out.stdout ? JSON.parse(out.stdout) : undefined };
  };
  return { agent, host, stateDir, call, log, sleeps };
}

describe("VERSION", () => {
  it("lists every supported spec version without needing a config", async () => {
    const h = harness();
    const r = await h.call("VERSION", { stdin: "" });
    expect(r.exitCode).toBe(0);
    expect(r.json).toEqual({
      cniVersion: "1.1.0",
      supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    });
  });
});

describe("ADD", () => {
  it("plumbs a veth with the agent's MAC and address and prints the 1.0.0 result", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    const r = await h.call("ADD");
    expect(r.exitCode).toBe(0);
    expect(r.json).toEqual({
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", mac: WEB.mac, sandbox: NETNS }],
      ips: [{ address: "10.32.0.5/12", gateway: "10.47.255.254", interface: 0 }],
      routes: [{ dst: "0.0.0.0/0", gw: "10.47.255.254" }],
      dns: { nameservers: ["10.47.255.253"] },
    });
    // host end: "tap" + first 11 chars of "eth0-<vm-uuid>", in the compute namespace
    const tap = await h.host.hostLink("ctb-c1", "tapeth0-5f0c2a");
    expect(tap?.up).toBe(true);
    expect(await h.host.hostLink(undefined, "tapeth0-5f0c2a")).toBeUndefined();
    const eth0 = await h.host.containerLink(NETNS, "eth0");
    expect(eth0).toMatchObject({ mac: WEB.mac, up: true, addresses: ["10.32.0.5/12"] });
  });

  it("sends POST /vm with the real field names and records it as the state file", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    await h.call("ADD");
    const expected = {
      time: "1970-01-01T00:00:00.000Z",
      "vm-id": "c0ffee01",
      "vm-uuid": WEB.vmUuid,
      "vm-name": WEB_VM,
      "host-ifname": "tapeth0-5f0c2a",
      "vm-ifname": "eth0",
      "vm-namespace": NETNS,
      "vn-uuid": "vn-1",
      "vmi-uuid": WEB.vmiUuid,
    };
    expect(h.agent.posted).toEqual([expected]);
    expect(JSON.parse(readFileSync(join(h.stateDir, WEB_VM, WEB.vmiUuid), "utf8"))).toEqual(expected);
    expect(h.agent.requests).toEqual([
      `GET /vm-cfg/${WEB_VM}`,
      "POST /vm",
      `GET /vm/${WEB.vmUuid}/${WEB.vmiUuid}`,
    ]);
  });

  it("shapes the result for a 0.3.1 config (ips carry version)", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    const r = await h.call("ADD", { conf: { cniVersion: "0.3.1" } });
    expect(r.json.cniVersion).toBe("0.3.1");
    expect(r.json.ips[0]).toEqual({
      version: "4",
      address: "10.32.0.5/12",
      gateway: "10.47.255.254",
      interface: 0,
    });
  });

  it("adds the config's dns domain and search to the agent's nameserver", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    const r = await h.call("ADD", {
      conf: { dns: { nameservers: ["10.96.0.10"], search: ["default.svc.cluster.local"] } },
    });
    expect(r.json.dns).toEqual({
      nameservers: ["10.47.255.253", "10.96.0.10"],
      search: ["default.svc.cluster.local"],
    });
  });

  it("plumbs every interface the index annotation announces, default route only on eth0", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, { ...WEB, index: "0/2" });
    h.agent.addPod(WEB_VM, {
      ...WEB,
      vmiUuid: "aaaa0000-3333",
      mac: "02:aa:aa:00:00:33",
      ip: "192.168.1.4",
      plen: 24,
      gateway: "192.168.1.1",
      index: "1/2",
    });
    const r = await h.call("ADD");
    expect(r.exitCode).toBe(0);
    expect(r.json.interfaces[0].name).toBe("eth0");
    const eth1 = await h.host.containerLink(NETNS, "eth1");
    expect(eth1?.addresses).toEqual(["192.168.1.4/24"]);
    expect(await h.host.containerRoutes(NETNS, "eth1")).not.toContainEqual(
      expect.objectContaining({ dst: "0.0.0.0/0" }),
    );
    expect(await h.host.hostLink("ctb-c1", "tapeth1-5f0c2a")).toBeDefined();
    expect(readdirSync(join(h.stateDir, WEB_VM)).sort()).toEqual([WEB.vmiUuid, "aaaa0000-3333"].sort());
  });

  it("names a secondary interface as its interface annotation asks and lists every interface in the result (CNI 1.1)", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, { ...WEB, index: "0/2" });
    h.agent.addPod(WEB_VM, {
      ...WEB,
      vmiUuid: "aaaa0000-4444",
      mac: "02:aa:aa:00:00:44",
      ip: "10.10.0.3",
      plen: 24,
      gateway: "10.10.0.254",
      index: "1/2",
      network: "blue",
      interface: "blue0",
    });
    const r = await h.call("ADD", { conf: { cniVersion: "1.1.0" } });
    expect(r.exitCode).toBe(0);
    expect(r.json.interfaces.map((i: { name: string }) => i.name)).toEqual(["eth0", "blue0"]);
    expect(r.json.ips[1]).toEqual({ address: "10.10.0.3/24", gateway: "10.10.0.254", interface: 1 });
    expect(r.json.routes).toEqual([{ dst: "0.0.0.0/0", gw: WEB.gateway }]);
    expect((await h.host.containerLink(NETNS, "blue0"))?.addresses).toEqual(["10.10.0.3/24"]);
    expect(await h.host.containerLink(NETNS, "eth1")).toBeUndefined();
  });

  it("refuses an interface annotation that is not a Linux interface name", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, { ...WEB, index: "0/2" });
    h.agent.addPod(WEB_VM, {
      ...WEB,
      vmiUuid: "aaaa0000-5555",
      mac: "02:aa:aa:00:00:55",
      index: "1/2",
      interface: "-bad",
    });
    const r = await h.call("ADD");
    expect(r.exitCode).not.toBe(0);
    expect(r.json.msg).toMatch(/not a Linux interface name/);
  });

  it("with meta-plugin plumbs only the named network's interface under CNI_IFNAME", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, { ...WEB, index: "0/2", network: "pod-net" });
    h.agent.addPod(WEB_VM, {
      ...WEB,
      vmiUuid: "bbbb",
      mac: "02:bb:00:00:00:01",
      ip: "172.16.0.9",
      plen: 16,
      index: "1/2",
      network: "blue",
    });
    const r = await h.call("ADD", {
      env: { CNI_IFNAME: "net1" },
      contrail: { "meta-plugin": true, "network-name": "blue" },
    });
    expect(r.exitCode).toBe(0);
    expect(r.json.interfaces[0]).toMatchObject({ name: "net1", mac: "02:bb:00:00:00:01" });
    expect(await h.host.containerLink(NETNS, "eth0")).toBeUndefined();
  });

  it("a repeated ADD keeps the existing interface and answers the same result", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    const first = await h.call("ADD");
    const again = await h.call("ADD");
    expect(again.exitCode).toBe(0);
    expect(again.json).toEqual(first.json);
    expect(h.log.lines.join("\n")).toMatch(/eth0 already in .*reusing it/);
  });

  it("replaces a tap left behind by an earlier sandbox of the same pod", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    h.host.namespaces.add("/var/run/netns/ctb-pod-old");
    await h.host.createVeth({
      hostNetns: "ctb-c1",
      hostIfname: "tapeth0-5f0c2a",
      containerNetns: "/var/run/netns/ctb-pod-old",
      containerIfname: "eth0",
      mac: "02:00:00:00:00:01",
      mtu: 1500,
    });
    const r = await h.call("ADD");
    expect(r.exitCode).toBe(0);
    expect(await h.host.containerLink(NETNS, "eth0")).toMatchObject({ mac: WEB.mac });
    expect(await h.host.containerLink("/var/run/netns/ctb-pod-old", "eth0")).toBeUndefined();
  });

  it("reads the deployed conf file and lets stdin keys override it", async () => {
    const h = harness({
      confFile: JSON.stringify({ cniVersion: "0.3.1", contrail: { "cluster-name": "prod", mtu: 1400 } }),
    });
    h.agent.addPod("dev__default__web", WEB);
    const r = await h.call("ADD", { contrail: { "cluster-name": "dev" } });
    expect(r.exitCode).toBe(0);
    expect(h.agent.requests[0]).toBe("GET /vm-cfg/dev__default__web");
    expect((await h.host.hostLink("ctb-c1", "tapeth0-5f0c2a"))?.mtu).toBe(1400);
  });
});

describe("DEL", () => {
  it("removes the veth, the state file and the agent's port; a repeated DEL still succeeds", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    await h.call("ADD");
    const r = await h.call("DEL");
    expect(r).toMatchObject({ exitCode: 0, stdout: "" });
    expect(await h.host.hostLink("ctb-c1", "tapeth0-5f0c2a")).toBeUndefined();
    expect(await h.host.containerLink(NETNS, "eth0")).toBeUndefined();
    expect(readdirSync(h.stateDir)).toEqual([]);
    expect(h.agent.deleted).toEqual([WEB.vmUuid]);
    const again = await h.call("DEL");
    expect(again.exitCode).toBe(0);
    expect(h.agent.deleted).toEqual([WEB.vmUuid]);
  });

  it("ignores a stale DEL from an earlier sandbox of the same pod", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    await h.call("ADD", { env: { CNI_CONTAINERID: "new-sandbox" } });
    const r = await h.call("DEL", { env: { CNI_CONTAINERID: "old-sandbox" } });
    expect(r.exitCode).toBe(0);
    expect(await h.host.containerLink(NETNS, "eth0")).toBeDefined();
    expect(readdirSync(join(h.stateDir, WEB_VM))).toEqual([WEB.vmiUuid]);
    expect(h.agent.deleted).toEqual([]);
    expect(h.log.lines.join("\n")).toMatch(/ignored, the attachment belongs to container new-sandbox/);
  });

  it("finds the attachment by container id when CNI_ARGS is missing, and needs no CNI_NETNS", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    await h.call("ADD");
    const r = await h.call("DEL", {
      env: { CNI_ARGS: undefined, CNI_NETNS: undefined },
      conf: { cniVersion: "1.1.0" },
    });
    expect(r.exitCode).toBe(0);
    expect(await h.host.hostLink("ctb-c1", "tapeth0-5f0c2a")).toBeUndefined();
  });

  it("succeeds with the agent down (the agent reconciles its ports itself)", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    await h.call("ADD");
    h.agent.forceStatus = 503;
    const r = await h.call("DEL");
    expect(r.exitCode).toBe(0);
    expect(readdirSync(h.stateDir)).toEqual([]);
  });
});

describe("CHECK", () => {
  async function added() {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    const add = await h.call("ADD");
    return { h, prevResult: add.json };
  }

  it("passes silently while the attachment is intact", async () => {
    const { h, prevResult } = await added();
    const r = await h.call("CHECK", { conf: { prevResult } });
    expect(r).toMatchObject({ exitCode: 0, stdout: "" });
  });

  it("fails with 103 when the address is gone", async () => {
    const { h, prevResult } = await added();
    (await h.host.containerLink(NETNS, "eth0"))!.addresses.length = 0;
    const r = await h.call("CHECK", { conf: { prevResult } });
    expect(r.exitCode).toBe(1);
    expect(r.json).toMatchObject({ code: 103, msg: expect.stringContaining("lacks address 10.32.0.5/12") });
  });

  it("fails with 103 when the interface is gone", async () => {
    const { h, prevResult } = await added();
    await h.host.deleteHostLink("ctb-c1", "tapeth0-5f0c2a");
    const r = await h.call("CHECK", { conf: { prevResult } });
    expect(r.json).toMatchObject({
      code: 103,
      msg: expect.stringContaining("host interface tapeth0-5f0c2a is missing"),
    });
  });

  it("fails with 103 when prevResult names a different MAC", async () => {
    const { h, prevResult } = await added();
    prevResult.interfaces[0].mac = "02:00:00:00:00:99";
    const r = await h.call("CHECK", { conf: { prevResult } });
    expect(r.json).toMatchObject({ code: 103, msg: expect.stringContaining("expected 02:00:00:00:00:99") });
  });

  it("fails with 103 when the default route is gone", async () => {
    const { h, prevResult } = await added();
    const routes = await h.host.containerRoutes(NETNS, "eth0");
    routes.splice(
      routes.findIndex((x) => x.dst === "0.0.0.0/0"),
      1,
    );
    const r = await h.call("CHECK", { conf: { prevResult } });
    expect(r.json).toMatchObject({
      code: 103,
      msg: expect.stringContaining("route 0.0.0.0/0 via 10.47.255.254 is missing"),
    });
  });

  it("answers 3 (container unknown) for a container it never plumbed or that was replaced", async () => {
    const { h, prevResult } = await added();
    const other = await h.call("CHECK", { conf: { prevResult }, env: { CNI_CONTAINERID: "someone-else" } });
    expect(other.json.code).toBe(3);
    const unknown = await h.call("CHECK", {
      conf: { prevResult },
      env: { CNI_ARGS: "K8S_POD_NAMESPACE=default;K8S_POD_NAME=ghost" },
    });
    expect(unknown.json.code).toBe(3);
  });

  it("rejects a malformed prevResult with 7", async () => {
    const { h } = await added();
    const r = await h.call("CHECK", { conf: { prevResult: { ips: [{ address: "not-an-ip" }] } } });
    expect(r.json.code).toBe(7);
  });
});

describe("GC", () => {
  it("removes attachments the runtime no longer lists and keeps the valid ones", async () => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    const DB = {
      ...WEB,
      vmUuid: "77770000-aaaa",
      vmiUuid: "88880000-bbbb",
      mac: "02:00:00:00:77:77",
      ip: "10.32.0.6",
    };
    h.agent.addPod("k8s__default__db", DB);
    h.host.namespaces.add("/var/run/netns/ctb-pod-db");
    await h.call("ADD");
    await h.call("ADD", {
      env: {
        CNI_CONTAINERID: "dbdb01",
        CNI_NETNS: "/var/run/netns/ctb-pod-db",
        CNI_ARGS: "K8S_POD_NAMESPACE=default;K8S_POD_NAME=db",
      },
    });
    const r = await h.call("GC", {
      env: { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined, CNI_ARGS: undefined },
      conf: {
        cniVersion: "1.1.0",
        "cni.dev/valid-attachments": [{ containerID: "c0ffee01", ifname: "eth0" }],
      },
    });
    expect(r).toMatchObject({ exitCode: 0, stdout: "" });
    expect(readdirSync(h.stateDir)).toEqual([WEB_VM]);
    expect(await h.host.hostLink("ctb-c1", "tapeth0-77770")).toBeUndefined();
    expect(await h.host.hostLink("ctb-c1", "tapeth0-5f0c2a")).toBeDefined();
    expect(h.agent.deleted).toEqual(["77770000-aaaa"]);
  });
});

describe("STATUS", () => {
  it("is silent and 0 while the agent answers", async () => {
    const h = harness();
    expect(await h.call("STATUS", { conf: { cniVersion: "1.1.0" } })).toMatchObject({
      exitCode: 0,
      stdout: "",
    });
  });
  it("answers 50 when the agent is unreachable and nothing is plumbed", async () => {
    const h = harness({ unreachable: true });
    expect((await h.call("STATUS", { conf: { cniVersion: "1.1.0" } })).json.code).toBe(50);
  });
  it("answers 51 when the agent is unreachable and pods are plumbed", async () => {
    const h = harness({ unreachable: true });
    await new FileStateStore(h.stateDir).write(WEB_VM, WEB.vmiUuid, {
      time: "",
      "vm-id": "c0ffee01",
      "vm-uuid": WEB.vmUuid,
      "vm-name": WEB_VM,
      "host-ifname": "tapeth0-5f0c2a",
      "vm-ifname": "eth0",
      "vm-namespace": NETNS,
      "vn-uuid": "vn-1",
      "vmi-uuid": WEB.vmiUuid,
    });
    expect((await h.call("STATUS", { conf: { cniVersion: "1.1.0" } })).json.code).toBe(51);
  });
});

describe("error codes", () => {
  const cases: [
    string,
    number,
    (h: ReturnType<typeof harness>) => ReturnType<ReturnType<typeof harness>["call"]>,
  ][] = [
    ["1: unsupported cniVersion", 1, (h) => h.call("ADD", { conf: { cniVersion: "0.2.0" } })],
    ["1: cniVersion that is not a version", 1, (h) => h.call("ADD", { conf: { cniVersion: "latest" } })],
    [
      "1: CHECK with a 0.3.1 config",
      1,
      (h) => h.call("CHECK", { conf: { cniVersion: "0.3.1", prevResult: {} } }),
    ],
    ["1: GC with a 1.0.0 config", 1, (h) => h.call("GC", { conf: { "cni.dev/valid-attachments": [] } })],
    ["2: vif-type macvlan", 2, (h) => h.call("ADD", { contrail: { "vif-type": "macvlan" } })],
    ["2: mode mesos", 2, (h) => h.call("ADD", { contrail: { mode: "mesos" } })],
    ["4: no CNI_COMMAND", 4, (h) => h.call("", {})],
    ["4: unknown CNI_COMMAND", 4, (h) => h.call("UPDATE", {})],
    ["4: ADD without CNI_NETNS", 4, (h) => h.call("ADD", { env: { CNI_NETNS: undefined } })],
    ["4: DEL without CNI_PATH", 4, (h) => h.call("DEL", { env: { CNI_PATH: undefined } })],
    ["4: bad container id", 4, (h) => h.call("ADD", { env: { CNI_CONTAINERID: "-bad id" } })],
    ["4: interface name over 15 chars", 4, (h) => h.call("ADD", { env: { CNI_IFNAME: "eth0123456789012" } })],
    ["4: interface name with '/'", 4, (h) => h.call("ADD", { env: { CNI_IFNAME: "eth/0" } })],
    ["4: CNI_ARGS item without '='", 4, (h) => h.call("ADD", { env: { CNI_ARGS: "K8S_POD_NAME" } })],
    ["4: CNI_ARGS without pod identity", 4, (h) => h.call("ADD", { env: { CNI_ARGS: "IgnoreUnknown=1" } })],
    [
      "4: CNI_NETNS that does not exist",
      4,
      (h) => h.call("ADD", { env: { CNI_NETNS: "/var/run/netns/ctb-nope" } }),
    ],
    ["6: stdin not JSON", 6, (h) => h.call("ADD", { stdin: "{cniVersion: 1" })],
    ["6: stdin not an object", 6, (h) => h.call("ADD", { stdin: "[1,2]" })],
    ["7: missing name", 7, (h) => h.call("ADD", { conf: { name: undefined } })],
    ["7: missing cniVersion", 7, (h) => h.call("ADD", { conf: { cniVersion: undefined } })],
    ["7: vrouter-port as a string", 7, (h) => h.call("ADD", { contrail: { "vrouter-port": "9091" } })],
    ["7: mtu out of range", 7, (h) => h.call("ADD", { contrail: { mtu: 20 } })],
    ["7: relative config-dir", 7, (h) => h.call("ADD", { contrail: { "config-dir": "ports" } })],
    ["7: CHECK without prevResult", 7, (h) => h.call("CHECK", {})],
    ["7: GC without valid-attachments", 7, (h) => h.call("GC", { conf: { cniVersion: "1.1.0" } })],
    ["11: pod unknown to the agent", 11, (h) => h.call("ADD")],
    [
      "11: fewer interfaces than announced",
      11,
      (h) => {
        h.agent.addPod(WEB_VM, { ...WEB, index: "0/2" });
        return h.call("ADD");
      },
    ],
    [
      "100: agent answers 500",
      100,
      (h) => {
        h.agent.forceStatus = 500;
        return h.call("ADD");
      },
    ],
    [
      "102: veth creation fails",
      102,
      (h) => {
        h.agent.addPod(WEB_VM, WEB);
        h.host.failCreate = true;
        return h.call("ADD");
      },
    ],
    [
      "5: state directory not writable",
      5,
      (h) => {
        h.agent.addPod(WEB_VM, WEB);
        return h.call("ADD", { contrail: { "config-dir": "/dev/null/ports" } });
      },
    ],
  ];
  it.each(cases)("%s", async (_name, code, run) => {
    const r = await run(harness());
    expect(r.exitCode).toBe(1);
    expect(r.json.code).toBe(code);
    expect(typeof r.json.msg).toBe("string");
  });

  it("101 when the agent does not answer, after poll-retries attempts", async () => {
    const h = harness({ unreachable: "timeout" });
    const r = await h.call("ADD");
    expect(r.json).toMatchObject({ code: 101, msg: expect.stringContaining("after 3 tries") });
  });

  it("101 within seconds when nothing listens on the agent's port (connection refused), saying so", async () => {
    const h = harness({ unreachable: true });
    const r = await h.call("ADD", { contrail: { "poll-retries": 15, "poll-timeout": 5 } });
    expect(r.json).toMatchObject({
      code: 101,
      msg: expect.stringContaining("vrouter agent refuses connections"),
    });
    expect(r.json.msg).toContain("is the vrouter agent running?");
    // Waited at most the 3 s grace in total, where 15 polls 5 s apart waited ~70 s.
    expect(h.sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3000);
  });

  it("an agent that opens its port within the grace (restarting) still gets the pod plumbed", async () => {
    const h = harness({ refusals: 4 });
    h.agent.addPod(WEB_VM, WEB);
    const r = await h.call("ADD");
    expect(r.exitCode).toBe(0);
    expect(r.json.ips[0].address).toBe("10.32.0.5/12");
  });

  it.each([
    ["K8S_POD_NAME", "../../../../tmp/x"],
    ["K8S_POD_NAME", "Web"],
    ["K8S_POD_NAME", "a/b"],
    ["K8S_POD_NAMESPACE", ".."],
    ["K8S_POD_NAMESPACE", "a.b"],
  ])("4 for a %s that is not a Kubernetes name (%s), touching no file", async (key, value) => {
    const h = harness();
    h.agent.addPod(WEB_VM, WEB);
    const args = ARGS.replace(
      key === "K8S_POD_NAME" ? "K8S_POD_NAME=web" : "K8S_POD_NAMESPACE=default",
      `${key}=${value}`,
    );
    for (const command of ["ADD", "DEL"]) {
      const r = await h.call(command, { env: { CNI_ARGS: args } });
      expect([command, r.exitCode, r.json.code]).toEqual([command, 1, 4]);
      expect(r.json.msg).toContain(`${key} ${JSON.stringify(value)} is not a Kubernetes`);
    }
    expect(readdirSync(h.stateDir)).toEqual([]);
  });

  it("polls vm-cfg poll-retries times before giving up with 11", async () => {
    const h = harness();
    await h.call("ADD", { contrail: { "poll-retries": 4 } });
    expect(h.agent.requests.filter((r) => r.startsWith("GET /vm-cfg/"))).toHaveLength(4);
  });

  it("7 names the deployed file when it is not JSON", async () => {
    const h = harness({ confFile: "{oops" });
    const r = await h.call("ADD");
    expect(r.json).toMatchObject({ code: 7, msg: expect.stringContaining("10-contrail.conf") });
  });

  it("answers errors in the config's cniVersion", async () => {
    const h = harness();
    const r = await h.call("ADD", { conf: { cniVersion: "0.4.0" } });
    expect(r.json).toMatchObject({ cniVersion: "0.4.0", code: 11 });
  });
});
