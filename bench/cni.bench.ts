/**
 * CNI ADD latency of bin/contrail-k8s-cni (bundled JS) against a stub agent on 127.0.0.1, plumbing real
 * veths between testbed namespaces, compared in the same run with Debian's reference `ptp` plugin (Go,
 * static IPAM) doing the same veth + address + default route work. Needs root and iproute2; the baseline
 * needs the containernetworking-plugins package (/usr/lib/cni/ptp) and is skipped without it.
 *
 * Run: `npx tsx bench/cni.bench.ts [iterations]` (default 30). Prints p50/p99 per plugin and the ratio.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { addNetns, delNetns, exec, netnsUsable, ownedPrefix } from "../fake-vrouter/netns/ns";
import { StubAgent } from "../test/cni/fakes";

const ROOT = resolve(import.meta.dirname, "..");
const N = Number(process.argv[2] ?? 30);
const TAG = `${ownedPrefix()}bcni`;
const HOST = `${TAG}-h`;
const POD = `${TAG}-p`;
const PTP = "/usr/lib/cni/ptp";

function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  stdin: string,
): Promise<{ ms: number; code: number; out: string }> {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? "", ...env } });
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.on("error", rej);
    child.on("close", (code) =>
      res({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code: code ?? -1, out }),
    );
    child.stdin.end(stdin);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(1)} ms  p99 ${pct(xs, 99).toFixed(1)} ms  (n=${xs.length})`;

async function main(): Promise<void> {
  if (!(await netnsUsable())) {
    console.log("cni bench: needs root and iproute2 — skipped");
    return;
  }
  const b = await exec("node", [join(ROOT, "build.mjs")]);
  if (b.code !== 0) throw new Error(b.stderr);
  const agent = new StubAgent();
  const server = await agent.listen();
  const stateDir = mkdtempSync(join(tmpdir(), "ctb-bcni-"));
  agent.addPod("k8s__bench__p", {
    vmUuid: "e5e5e5e5-0000",
    vmiUuid: "f6f6f6f6-1111",
    mac: "02:e5:e5:00:00:01",
    ip: "10.32.9.9",
    plen: 12,
    gateway: "10.47.255.254",
    dns: "10.47.255.253",
  });
  await addNetns(HOST);
  await addNetns(POD);
  try {
    const env = (cmd: string) => ({
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: "bench01",
      CNI_NETNS: `/var/run/netns/${POD}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
      CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p",
    });
    const contrailConf = JSON.stringify({
      cniVersion: "1.0.0",
      name: "contrail-k8s",
      type: "contrail-k8s-cni",
      contrail: {
        "vrouter-port": server.port,
        "config-dir": stateDir,
        "host-netns": HOST,
        "conf-dir": stateDir,
      },
    });
    const ours: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < N; i++) {
      const add = await run(join(ROOT, "bin/contrail-k8s-cni"), [], env("ADD"), contrailConf);
      if (add.code !== 0) throw new Error(`ADD failed: ${add.out}`);
      ours.push(add.ms);
      await run(join(ROOT, "bin/contrail-k8s-cni"), [], env("DEL"), contrailConf);
      floor.push((await run(join(ROOT, "bin/contrail-k8s-cni"), [], { CNI_COMMAND: "VERSION" }, "")).ms);
    }
    console.log(`contrail-k8s-cni ADD            ${fmt(ours)}`);
    console.log(`contrail-k8s-cni VERSION (start) ${fmt(floor)}`);
    if (existsSync(PTP)) {
      const ptpConf = JSON.stringify({
        cniVersion: "1.0.0",
        name: "bench-ptp",
        type: "ptp",
        ipam: {
          type: "static",
          addresses: [{ address: "10.99.0.2/24", gateway: "10.99.0.1" }],
          routes: [{ dst: "0.0.0.0/0" }],
        },
      });
      // The reference plugin puts its host end in the namespace it runs in: run it inside the testbed's.
      const nsArgs = [`--net=/var/run/netns/${HOST}`, PTP];
      const base: number[] = [];
      for (let i = 0; i < N; i++) {
        const add = await run("nsenter", nsArgs, env("ADD"), ptpConf);
        if (add.code !== 0) throw new Error(`ptp ADD failed: ${add.out}`);
        base.push(add.ms);
        await run("nsenter", nsArgs, env("DEL"), ptpConf);
      }
      console.log(`reference ptp (Go) ADD          ${fmt(base)}`);
      console.log(
        `ratio contrail/ptp p50 ${(pct(ours, 50) / pct(base, 50)).toFixed(2)}  p99 ${(pct(ours, 99) / pct(base, 99)).toFixed(2)}`,
      );
    } else {
      console.log(
        `baseline ${PTP} absent (apt-get install containernetworking-plugins); ratio to node start-up floor p50 ${(pct(ours, 50) / pct(floor, 50)).toFixed(2)}`,
      );
    }
  } finally {
    await delNetns(POD);
    await delNetns(HOST);
    await server.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
