/**
 * The contrail-k8s-cni commands (ADD, DEL, CHECK, GC, STATUS, VERSION) over injected edges: the agent's port
 * API, the host network (netlink) and the state files. Mirrors the real plugin: poll `/vm-cfg/<vm-name>`
 * until every interface the `index` annotation announces is there, plumb a veth per interface, record the
 * add message, `POST /vm`, poll the VMI's address, configure it; DEL ignores stale requests.
 *
 * Example: `await runCommand(env, conf, deps)` → the CNI result for ADD, undefined for DEL/CHECK/GC/STATUS.
 */
import type { NetConf } from "./config";
import type { CniEnv } from "./env";
import { CniCode, CniError } from "./errors";
import type { Logger } from "./log";
import type { HostNetwork } from "./netlink";
import type { AddMsg, PortApiClient, VmCfgEntry, VmiAddress } from "./port-api";
import { addInterfaces, buildResult, type CniResult, hostIfname, parsePrevResult, vmName } from "./result";
import type { StateEntry, StateStore } from "./state";
import { type Command, PLUGIN_VERSION, SUPPORTED_VERSIONS } from "./versions";

export interface PluginDeps {
  agent: PortApiClient;
  host: HostNetwork;
  state: StateStore;
  log: Logger;
  now: () => Date;
}

export interface VersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}

export function versionInfo(): VersionInfo {
  return { cniVersion: PLUGIN_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

interface Plumbing {
  entry: VmCfgEntry;
  ifname: string;
  hostIfname: string;
  primary: boolean;
}

/** Which vm-cfg entries this call plumbs, and under which container interface names. */
export async function selectInterfaces(
  entries: VmCfgEntry[],
  env: CniEnv,
  conf: NetConf,
  name: string,
  state: StateStore,
): Promise<Plumbing[]> {
  const ifname = env.ifname!;
  if (conf.contrail.metaPlugin) {
    // Delegated by a meta plugin (multus): one interface, the first of the named network not yet plumbed.
    for (const entry of entries) {
      if (entry.network !== conf.contrail.networkName) continue;
      if (await state.exists(name, entry.vmiUuid)) continue;
      return [{ entry, ifname, hostIfname: hostIfname(ifname, entry.vmUuid), primary: true }];
    }
    throw new CniError(
      CniCode.AgentError,
      `no unplumbed interface of network "${conf.contrail.networkName ?? ""}" in vm-cfg of ${name}`,
    );
  }
  return entries.map((entry) => {
    // a name the kernel would refuse (or `ip` would read as an option) never reaches netlink
    if (entry.interface !== undefined && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/.test(entry.interface))
      throw new CniError(
        CniCode.AgentError,
        `vm-cfg of ${name}: interface annotation ${JSON.stringify(entry.interface)} is not a Linux interface name`,
      );
    // The runtime's CNI_IFNAME names the primary interface (kubelet: eth0); the others are named by their
    // `interface` annotation, else eth<index> (cni.go `buildContainerIntfName`).
    const containerIfname = entry.index === 0 ? ifname : (entry.interface ?? `eth${entry.index}`);
    return {
      entry,
      ifname: containerIfname,
      hostIfname: hostIfname(containerIfname, entry.vmUuid),
      primary: entry.index === 0,
    };
  });
}

async function add(env: CniEnv, conf: NetConf, deps: PluginDeps): Promise<CniResult> {
  const name = vmName(conf.contrail.clusterName, env.args);
  const netns = env.netns!;
  if (!(await deps.host.netnsExists(netns))) {
    throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS ${netns} does not exist`);
  }
  const hostNs = conf.contrail.hostNetns;
  const entries = await deps.agent.vmCfg(name);
  const plumbing = await selectInterfaces(entries, env, conf, name, deps.state);
  for (const p of plumbing) {
    const spec = {
      hostNetns: hostNs,
      hostIfname: p.hostIfname,
      containerNetns: netns,
      containerIfname: p.ifname,
      mac: p.entry.mac,
      mtu: conf.contrail.mtu,
    };
    // Optimistic create (one `ip` run on the usual path); a name clash is sorted out afterwards.
    let outcome = await deps.host.createVeth(spec);
    if (outcome === "exists") {
      if (await deps.host.containerLink(netns, p.ifname)) {
        // A repeated ADD for the same sandbox: keep the interface, re-send the port (the real plugin does too).
        deps.log.info(`ADD ${name}: ${p.ifname} already in ${netns}, reusing it`);
      } else {
        // A tap left by an earlier sandbox of the same pod (same vm-uuid) blocks the new pair.
        await deps.host.deleteHostLink(hostNs, p.hostIfname);
        outcome = await deps.host.createVeth(spec);
        if (outcome === "exists") {
          throw new CniError(CniCode.InterfaceError, `cannot create ${p.hostIfname}: the name stays taken`);
        }
      }
    }
    if (outcome === "created")
      deps.log.info(`ADD ${name}: veth ${p.hostIfname} <-> ${p.ifname} (${p.entry.mac})`);
    const msg: AddMsg = {
      time: deps.now().toISOString(),
      "vm-id": env.containerId!,
      "vm-uuid": p.entry.vmUuid,
      "vm-name": name,
      "host-ifname": p.hostIfname,
      "vm-ifname": p.ifname,
      "vm-namespace": netns,
      "vn-uuid": p.entry.vnId,
      "vmi-uuid": p.entry.vmiUuid,
    };
    await deps.state.write(name, p.entry.vmiUuid, msg);
    await deps.agent.addVm(msg);
  }
  // CNI 1.1: the result lists every interface the call plugged, each address naming its interface
  let result: CniResult | undefined;
  const secondary: { ifname: string; mac: string; address: VmiAddress }[] = [];
  for (const p of plumbing) {
    const address = await deps.agent.vmiAddress(p.entry.vmUuid, p.entry.vmiUuid);
    await deps.host.configureContainer(netns, p.ifname, {
      address: `${address.ip}/${address.plen}`,
      gateway: address.gateway,
      defaultRoute: p.primary,
    });
    deps.log.info(`ADD ${name}: ${p.ifname} ${address.ip}/${address.plen} gw ${address.gateway ?? "-"}`);
    if (p.primary) {
      result = buildResult({
        cniVersion: conf.cniVersion,
        ifname: p.ifname,
        mac: p.entry.mac,
        sandbox: netns,
        address,
        defaultRoute: true,
        dns: conf.dns,
      });
    } else secondary.push({ ifname: p.ifname, mac: p.entry.mac, address });
  }
  if (!result) throw new CniError(CniCode.AgentError, `vm-cfg of ${name} has no primary interface (index 0)`);
  return addInterfaces(result, secondary, netns);
}

/** Remove one pod's attachments: host veth ends (which takes the container ends along), files, agent port. */
async function teardown(entries: StateEntry[], conf: NetConf, deps: PluginDeps): Promise<void> {
  const hostNs = conf.contrail.hostNetns;
  const vmUuids = new Map<string, AddMsg>();
  for (const e of entries) {
    if (e.msg) {
      try {
        const existed = await deps.host.deleteHostLink(hostNs, e.msg["host-ifname"]);
        deps.log.info(`DEL ${e.vmName}: ${e.msg["host-ifname"]} ${existed ? "deleted" : "already gone"}`);
      } catch (err) {
        deps.log.warn(`DEL ${e.vmName}: ${(err as Error).message}`);
      }
      vmUuids.set(e.msg["vm-uuid"], e.msg);
    }
    await deps.state.remove(e.vmName, e.vmiUuid);
  }
  for (const vm of new Set(entries.map((e) => e.vmName))) await deps.state.removeVm(vm);
  for (const [uuid, msg] of vmUuids) {
    const r = await deps.agent.deleteVm(uuid, {
      time: deps.now().toISOString(),
      "vm-id": msg["vm-id"],
      "vm-uuid": uuid,
    });
    if (!r.ok) deps.log.warn(`DEL: agent did not delete vm ${uuid}: ${r.detail}`);
  }
}

async function del(env: CniEnv, conf: NetConf, deps: PluginDeps): Promise<void> {
  let entries: StateEntry[];
  if (env.args.K8S_POD_NAMESPACE && env.args.K8S_POD_NAME) {
    entries = await deps.state.list(vmName(conf.contrail.clusterName, env.args));
  } else {
    // Without pod identity (a runtime that lost CNI_ARGS), find the attachments by container id.
    entries = (await deps.state.listAll()).filter((e) => e.msg?.["vm-id"] === env.containerId);
  }
  if (conf.contrail.metaPlugin) entries = entries.filter((e) => e.msg?.["vm-ifname"] === env.ifname);
  const stale = entries.find((e) => e.msg && e.msg["vm-id"] !== env.containerId);
  if (stale) {
    deps.log.info(
      `DEL ${stale.vmName}: ignored, the attachment belongs to container ${stale.msg!["vm-id"]}, not ${env.containerId}`,
    );
    return;
  }
  if (entries.length === 0) {
    deps.log.info(`DEL container ${env.containerId}: nothing recorded, nothing to do`);
    return;
  }
  await teardown(entries, conf, deps);
}

async function check(env: CniEnv, conf: NetConf, deps: PluginDeps): Promise<void> {
  const name = vmName(conf.contrail.clusterName, env.args);
  const prev = parsePrevResult(conf.prevResult!);
  const entry = (await deps.state.list(name)).find((e) => e.msg?.["vm-ifname"] === env.ifname);
  if (!entry?.msg)
    throw new CniError(CniCode.UnknownContainer, `no attachment ${env.ifname} recorded for ${name}`);
  if (entry.msg["vm-id"] !== env.containerId) {
    throw new CniError(
      CniCode.UnknownContainer,
      `attachment ${env.ifname} of ${name} belongs to container ${entry.msg["vm-id"]}, not ${env.containerId}`,
    );
  }
  const failed = (msg: string) => new CniError(CniCode.CheckFailed, `CHECK ${name}: ${msg}`);
  const idx = prev.interfaces.findIndex(
    (i) => i.name === env.ifname && (i.sandbox === undefined || i.sandbox === env.netns),
  );
  if (idx < 0) throw failed(`prevResult has no interface ${env.ifname} in ${env.netns}`);
  const want = prev.interfaces[idx];
  if (!(await deps.host.hostLink(conf.contrail.hostNetns, entry.msg["host-ifname"]))) {
    throw failed(`host interface ${entry.msg["host-ifname"]} is missing`);
  }
  const link = await deps.host.containerLink(env.netns!, env.ifname!);
  if (!link) throw failed(`interface ${env.ifname} is missing from ${env.netns}`);
  if (want.mac && link.mac !== want.mac)
    throw failed(`${env.ifname} has MAC ${link.mac}, expected ${want.mac}`);
  if (!link.up) throw failed(`${env.ifname} is down`);
  for (const ip of prev.ips.filter((i) => i.interface === undefined || i.interface === idx)) {
    if (!link.addresses.includes(ip.address)) throw failed(`${env.ifname} lacks address ${ip.address}`);
  }
  const routes = await deps.host.containerRoutes(env.netns!, env.ifname!);
  for (const r of prev.routes) {
    if (!routes.some((x) => x.dst === r.dst && (r.gw === undefined || x.gateway === r.gw))) {
      throw failed(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ""} is missing`);
    }
  }
}

async function gc(conf: NetConf, deps: PluginDeps): Promise<void> {
  const valid = new Set((conf.validAttachments ?? []).map((a) => `${a.containerID}\u0000${a.ifname}`));
  const doomed = (await deps.state.listAll()).filter(
    (e) => !e.msg || !valid.has(`${e.msg["vm-id"]}\u0000${e.msg["vm-ifname"]}`),
  );
  if (doomed.length > 0) {
    deps.log.info(
      `GC: removing ${doomed.map((e) => `${e.vmName}/${e.msg?.["vm-ifname"] ?? e.vmiUuid}`).join(", ")}`,
    );
    await teardown(doomed, conf, deps);
  }
}

async function status(deps: PluginDeps): Promise<void> {
  if (await deps.agent.reachable()) return;
  const plumbed = (await deps.state.listAll()).length;
  if (plumbed > 0) {
    throw new CniError(
      CniCode.PluginNotAvailableContainersAffected,
      `vrouter agent unreachable; ${plumbed} existing attachment(s) are not being served`,
    );
  }
  throw new CniError(CniCode.PluginNotAvailable, "vrouter agent unreachable");
}

export type NetworkCommand = Exclude<Command, "VERSION">;

export async function runCommand(
  command: NetworkCommand,
  env: CniEnv,
  conf: NetConf,
  deps: PluginDeps,
): Promise<CniResult | undefined> {
  switch (command) {
    case "ADD":
      return add(env, conf, deps);
    case "DEL":
      await del(env, conf, deps);
      return undefined;
    case "CHECK":
      await check(env, conf, deps);
      return undefined;
    case "GC":
      await gc(conf, deps);
      return undefined;
    case "STATUS":
      await status(deps);
      return undefined;
  }
}
