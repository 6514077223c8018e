/**
 * The whole real path on the netns datapath: config objects in the fake config API → vrouter agents (tables,
 * port API per compute) → the contrail-k8s-cni executable plumbs each pod (tap in the compute namespace) →
 * vrouter processes forward real frames. Same-VN pods on two computes ping each other; a pod of another VN
 * gets nothing back. Needs root, iproute2, libpcap.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostIfname } from "../../cni/result";
import { VncClient } from "../../controller/vnc/client";
import { startApiServer } from "../../fake-contrail-api/server";
import { type Agents, startAgents } from "../../fake-vrouter/agent/index";
import {
  attachAgents,
  ensureCaptureAddon,
  listNetns,
  NetnsTopology,
  netnsUsable,
} from "../../fake-vrouter/netns";
import { exec, ownedPrefix } from "../../fake-vrouter/netns/ns";
import { ping } from "./helpers";
import { requireTier } from "../support/tiers";

const ROOT = resolve(import.meta.dirname, "../..");
const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns` (network namespaces)");
const PREFIX = ownedPrefix("ns");
const PROJ = ["default-domain", "demo"];
const COMPUTES = [
  { name: "compute-1", fabricIp: "10.99.1.11" },
  { name: "compute-2", fabricIp: "10.99.1.12" },
];

describe.skipIf(!usable)("netns datapath fed by the agent, pods plumbed by the CNI", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let topo: NetnsTopology;
  let agents: Agents;
  let vnc: VncClient;
  let settle: () => Promise<void>;
  const portApis = new Map<string, number>();
  const vmUuids = new Map<string, string>();
  const ips = new Map<string, string>();
  let stateDir: string;

  async function network(name: string, prefix: string) {
    const ipam = await vnc.create("network-ipam", {
      fq_name: [...PROJ, `${name}-ipam`],
      parent_type: "project",
    });
    return vnc.create("virtual-network", {
      fq_name: [...PROJ, name],
      parent_type: "project",
      network_ipam_refs: [
        {
          to: [...PROJ, `${name}-ipam`],
          uuid: ipam.uuid,
          attr: { ipam_subnets: [{ subnet: { ip_prefix: prefix, ip_prefix_len: 24 } }] },
        },
      ],
    });
  }

  async function pod(name: string, vn: { uuid: string; fq_name: string[] }, vrUuid: string) {
    const vm = await vnc.create("virtual-machine", { fq_name: [`k8s__demo__${name}`] });
    const vmi = await vnc.create("virtual-machine-interface", {
      fq_name: [...PROJ, `${name}__vmi`],
      parent_type: "project",
      virtual_network_refs: [{ to: vn.fq_name, uuid: vn.uuid }],
      virtual_machine_refs: [{ to: vm.fq_name, uuid: vm.uuid }],
    });
    await vnc.create("instance-ip", {
      fq_name: [`${name}__iip`],
      virtual_network_refs: [{ to: vn.fq_name, uuid: vn.uuid }],
      virtual_machine_interface_refs: [{ to: vmi.fq_name, uuid: vmi.uuid }],
    });
    await vnc.refUpdate("virtual-router", vrUuid, "virtual-machine", vm.uuid, "ADD");
    vmUuids.set(name, vm.uuid);
  }

  function cni(command: string, name: string, compute: string): Promise<{ code: number; out: string }> {
    const conf = {
      cniVersion: "1.0.0",
      name: "contrail-k8s",
      type: "contrail-k8s-cni",
      contrail: {
        "vrouter-port": portApis.get(compute),
        "config-dir": join(stateDir, "ports"),
        "conf-dir": stateDir,
        "host-netns": topo.computeNs(compute),
        "poll-timeout": 0.1,
        "poll-retries": 50,
      },
    };
    return new Promise((res, rej) => {
      const child = spawn(join(ROOT, "bin/contrail-k8s-cni"), [], {
        env: {
          PATH: process.env.PATH ?? "",
          CNI_COMMAND: command,
          CNI_CONTAINERID: `sandbox-${name}`,
          CNI_NETNS: `/var/run/netns/${topo.podNs(name)}`,
          CNI_IFNAME: "eth0",
          CNI_PATH: join(ROOT, "bin"),
          CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=${name}`,
        },
      });
      let out = "";
      child.stdout.on("data", (c) => {
        out += c;
      });
      child.on("error", rej);
      child.on("close", (code) => res({ code: code ?? -1, out }));
      child.stdin.end(JSON.stringify(conf));
    });
  }

  async function plumb(name: string, compute: string) {
    await topo.createPodNamespace(name);
    const r = await cni("ADD", name, compute);
    if (r.code !== 0) throw new Error(`CNI ADD ${name}: ${r.out}`);
    ips.set(name, JSON.parse(r.out).ips[0].address.split("/")[0]);
    await settle();
    await topo.vrouter(compute).waitForPorts([hostIfname("eth0", vmUuids.get(name)!)]);
  }

  beforeAll(async () => {
    const b = await exec("node", [join(ROOT, "build.mjs")]);
    if (b.code !== 0) throw new Error(`build failed: ${b.stderr}`);
    // CNI DEL deletes a tap the vrouter captures on: only the assertion-free addon survives that.
    const addon = await ensureCaptureAddon();
    if (addon.addon !== "ndebug") throw new Error(`cannot build the capture addon: ${addon.detail}`);
    stateDir = mkdtempSync(join(tmpdir(), "ctb-stack-"));
    const api = await startApiServer({ port: 0, quiet: true });
    cleanup.push(() => api.close());
    vnc = new VncClient(api.url);
    await vnc.create("project", { fq_name: PROJ, parent_type: "domain" });
    const red = await network("red", "10.40.0.0");
    const blue = await network("blue", "10.41.0.0");
    const vrs: string[] = [];
    for (const c of COMPUTES) {
      const vr = await vnc.create("virtual-router", {
        fq_name: ["default-global-system-config", c.name],
        parent_type: "global-system-config",
        virtual_router_ip_address: c.fabricIp,
      });
      vrs.push(vr.uuid);
    }
    agents = await startAgents({ apiUrl: api.url, computes: COMPUTES.map((c) => c.name) });
    cleanup.push(() => agents.stop());
    settle = () => agents.whenCaughtUp(api.seq());
    for (const c of COMPUTES) {
      const p = await agents.startPortApi(c.name, { port: 0 });
      portApis.set(c.name, Number(new URL(p.url).port));
    }
    topo = await NetnsTopology.create({
      prefix: PREFIX,
      computes: COMPUTES,
      stateDir: join(stateDir, "run"),
    });
    cleanup.push(() => topo.destroy());
    await topo.startVrouters();
    const detach = attachAgents(topo, agents);
    cleanup.push(async () => detach());
    await pod("a", red, vrs[0]);
    await pod("b", red, vrs[1]);
    await pod("c", blue, vrs[0]);
    await settle();
    await plumb("a", "compute-1");
    await plumb("b", "compute-2");
    await plumb("c", "compute-1");
  });

  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
    rmSync(stateDir, { recursive: true, force: true });
    expect(await listNetns(PREFIX)).toEqual([]);
  });

  it("gives pods addresses from their VN's subnet", () => {
    expect(ips.get("a")).toMatch(/^10\.40\.0\./);
    expect(ips.get("b")).toMatch(/^10\.40\.0\./);
    expect(ips.get("c")).toMatch(/^10\.41\.0\./);
  });

  it("pods of one VN on two computes reach each other over the real underlay", async () => {
    expect((await ping(topo.podNs("a"), ips.get("b")!)).received).toBe(3);
    expect((await ping(topo.podNs("b"), ips.get("a")!)).received).toBe(3);
  });

  it("a pod of another VN without a policy gets no reply", async () => {
    expect((await ping(topo.podNs("a"), ips.get("c")!, 3, { waitS: 0.5 })).received).toBe(0);
  });

  it("CNI DEL takes the pod off the vrouter", async () => {
    const r = await cni("DEL", "b", "compute-2");
    expect(r.code).toBe(0);
    await settle();
    const status = await topo.vrouter("compute-2").status();
    expect(status.ports).not.toContain(hostIfname("eth0", vmUuids.get("b")!));
    expect((await ping(topo.podNs("a"), ips.get("b")!, 2, { waitS: 0.5 })).received).toBe(0);
  });

  it("a pod re-added under the same name (same tap name, new interface) is forwarded again", async () => {
    const r = await cni("ADD", "b", "compute-2");
    expect(r.code).toBe(0);
    await settle();
    await topo.vrouter("compute-2").waitForPorts([hostIfname("eth0", vmUuids.get("b")!)]);
    expect((await ping(topo.podNs("a"), ips.get("b")!)).received).toBe(3);
  });
});
