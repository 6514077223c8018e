/**
 * The plugin's only contact with the kernel: veth pairs, addresses and routes, behind the `HostNetwork`
 * interface so the command logic can be tested with a fake. `IpRoute2` implements it with iproute2's `ip`
 * (JSON output, batch mode) run as child processes.
 *
 * The pair is created with each end born in its namespace (`ip link add tap… netns <host> type veth peer
 * name eth0 netns <container>`), so when the host side is a testbed compute namespace nothing ever
 * appears in the namespace the plugin runs in.
 *
 * Example: `await new IpRoute2().createVeth({hostNetns: "ctb-c1", hostIfname: "tapeth0-1a2b3c", ...})`.
 */
import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { CniCode, CniError } from "./errors";

export interface LinkInfo {
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  /** "10.32.0.5/12" */
  addresses: string[];
}

export interface RouteInfo {
  dst: string;
  gateway?: string;
  dev?: string;
}

export interface VethSpec {
  /** undefined = the namespace the plugin runs in. */
  hostNetns?: string;
  hostIfname: string;
  /** Path of the container's namespace (CNI_NETNS). */
  containerNetns: string;
  containerIfname: string;
  mac: string;
  mtu: number;
}

export interface ContainerAddressing {
  address: string; // CIDR
  gateway?: string;
  defaultRoute: boolean;
}

export interface HostNetwork {
  netnsExists(path: string): Promise<boolean>;
  containerLink(netns: string, ifname: string): Promise<LinkInfo | undefined>;
  containerRoutes(netns: string, ifname: string): Promise<RouteInfo[]>;
  hostLink(hostNetns: string | undefined, ifname: string): Promise<LinkInfo | undefined>;
  /** "exists" when the host or the container name is already taken (nothing was created). */
  createVeth(spec: VethSpec): Promise<"created" | "exists">;
  configureContainer(netns: string, ifname: string, addressing: ContainerAddressing): Promise<void>;
  /** false when the link was already gone. */
  deleteHostLink(hostNetns: string | undefined, ifname: string): Promise<boolean>;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: "utf8", timeout: 10_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") {
        reject(new CniError(CniCode.InterfaceError, `cannot run ${cmd}: ${err.message}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    // `ip` may exit before reading its batch (the namespace vanished): its exit status reports that, and the
    // EPIPE on its stdin must not crash the plugin
    child.stdin?.on("error", () => {});
    if (input !== undefined) child.stdin?.end(input);
  });
}

const NAMED_NETNS = /^\/(?:var\/)?run\/netns\/([^/]+)$/;

/** `ip` argv prefix that runs inside a namespace given by name or by path. */
export function ipPrefix(ns: { name?: string; path?: string }): { cmd: string; args: string[] } {
  if (ns.name) return { cmd: "ip", args: ["-n", ns.name] };
  if (ns.path) {
    const m = NAMED_NETNS.exec(ns.path);
    if (m) return { cmd: "ip", args: ["-n", m[1]] };
    return { cmd: "nsenter", args: [`--net=${ns.path}`, "ip"] };
  }
  return { cmd: "ip", args: [] };
}

const ABSENT = /does not exist|Cannot find device/;

interface IpAddrJson {
  ifname: string;
  address?: string;
  mtu: number;
  flags: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

function toLink(j: IpAddrJson): LinkInfo {
  return {
    name: j.ifname,
    mac: (j.address ?? "").toLowerCase(),
    mtu: j.mtu,
    up: j.flags.includes("UP"),
    addresses: (j.addr_info ?? []).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`),
  };
}

export class IpRoute2 implements HostNetwork {
  private async ip(ns: { name?: string; path?: string }, args: string[], input?: string): Promise<Run> {
    const p = ipPrefix(ns);
    return run(p.cmd, [...p.args, ...args], input);
  }

  private fail(what: string, r: Run): CniError {
    return new CniError(CniCode.InterfaceError, `${what} failed`, r.stderr.trim());
  }

  async netnsExists(path: string): Promise<boolean> {
    try {
      await access(path);
      return true;
    } catch {
      return false;
    }
  }

  private async link(ns: { name?: string; path?: string }, ifname: string): Promise<LinkInfo | undefined> {
    const r = await this.ip(ns, ["-j", "addr", "show", "dev", ifname]);
    if (r.code !== 0) {
      if (ABSENT.test(r.stderr)) return undefined;
      throw this.fail(`ip addr show dev ${ifname}`, r);
    }
    const list = JSON.parse(r.stdout) as IpAddrJson[];
    return list[0] ? toLink(list[0]) : undefined;
  }

  containerLink(netns: string, ifname: string): Promise<LinkInfo | undefined> {
    return this.link({ path: netns }, ifname);
  }

  hostLink(hostNetns: string | undefined, ifname: string): Promise<LinkInfo | undefined> {
    return this.link({ name: hostNetns }, ifname);
  }

  async containerRoutes(netns: string, ifname: string): Promise<RouteInfo[]> {
    const r = await this.ip({ path: netns }, ["-j", "-4", "route", "show", "dev", ifname]);
    if (r.code !== 0) {
      if (ABSENT.test(r.stderr)) return [];
      throw this.fail(`ip route show dev ${ifname}`, r);
    }
    return (JSON.parse(r.stdout) as { dst: string; gateway?: string; dev?: string }[]).map((x) => ({
      dst: x.dst === "default" ? "0.0.0.0/0" : x.dst,
      gateway: x.gateway,
      dev: x.dev ?? ifname,
    }));
  }

  async createVeth(s: VethSpec): Promise<"created" | "exists"> {
    // One `ip` run inside the host namespace: create the pair there with the peer born in the container's
    // namespace (`netns` takes a path when it contains '/'), then bring the host end up.
    const lines = [
      `link add ${s.hostIfname} mtu ${s.mtu} type veth peer name ${s.containerIfname} address ${s.mac} mtu ${s.mtu} netns ${s.containerNetns}`,
      `link set dev ${s.hostIfname} up`,
    ];
    const r = await this.ip({ name: s.hostNetns }, ["-batch", "-"], `${lines.join("\n")}\n`);
    if (r.code === 0) return "created";
    if (/File exists/.test(r.stderr)) return "exists";
    throw this.fail(`creating veth ${s.hostIfname}/${s.containerIfname}`, r);
  }

  async configureContainer(netns: string, ifname: string, a: ContainerAddressing): Promise<void> {
    const lines = [`link set dev ${ifname} up`, `addr replace ${a.address} dev ${ifname}`];
    // onlink: the gateway is reachable on the link even when the prefix is a /32.
    if (a.defaultRoute && a.gateway)
      lines.push(`route replace default via ${a.gateway} dev ${ifname} onlink`);
    const r = await this.ip({ path: netns }, ["-batch", "-"], `${lines.join("\n")}\n`);
    if (r.code !== 0) throw this.fail(`configuring ${ifname} in ${netns}`, r);
  }

  async deleteHostLink(hostNetns: string | undefined, ifname: string): Promise<boolean> {
    const r = await this.ip({ name: hostNetns }, ["link", "del", "dev", ifname]);
    if (r.code === 0) return true;
    if (ABSENT.test(r.stderr)) return false;
    throw this.fail(`deleting ${ifname}`, r);
  }
}
