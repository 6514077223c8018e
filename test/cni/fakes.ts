/**
 * Test doubles for the CNI plugin's edges: a stub vrouter agent port API (usable in-process as a transport
 * or served over HTTP by express) and an in-memory host network with namespaces, veths, addresses, routes.
 *
 * Example: `const agent = new StubAgent(); agent.addPod("k8s__default__web", {...}); agent.transport`.
 */
import type { Server } from "node:http";
import express from "express";
import { CniCode, CniError } from "../../cni/errors";
import type { ContainerAddressing, HostNetwork, LinkInfo, RouteInfo, VethSpec } from "../../cni/netlink";
import type { AddMsg, AgentTransport, HttpReply } from "../../cni/port-api";

export interface StubPod {
  vmUuid: string;
  vmiUuid: string;
  mac: string;
  ip: string;
  plen: number;
  gateway: string;
  dns: string;
  vnId?: string;
  index?: string; // "0/1"
  network?: string;
  /** the VMI's `interface` annotation (the container interface name the pod asked for) */
  interface?: string;
}

export class StubAgent {
  readonly pods = new Map<string, StubPod[]>();
  readonly posted: AddMsg[] = [];
  readonly deleted: string[] = [];
  readonly requests: string[] = [];
  /** When set, every route answers this status instead. */
  forceStatus?: number;

  addPod(vmName: string, pod: StubPod): void {
    this.pods.set(vmName, [...(this.pods.get(vmName) ?? []), pod]);
  }

  handle(method: string, path: string, body?: unknown): HttpReply {
    this.requests.push(`${method} ${path}`);
    if (this.forceStatus) return { status: this.forceStatus, body: "forced" };
    const parts = path
      .split("/")
      .filter((p) => p !== "")
      .map(decodeURIComponent);
    const json = (status: number, x: unknown): HttpReply => ({ status, body: JSON.stringify(x) });
    if (method === "GET" && parts[0] === "vm-cfg" && parts.length === 2) {
      const pods = this.pods.get(parts[1]);
      if (!pods) return json(404, { error: "not found" });
      return json(
        200,
        pods.map((p, i) => ({
          id: p.vmiUuid,
          "vm-uuid": p.vmUuid,
          "vn-id": p.vnId ?? "vn-1",
          "vn-name": "default-domain:k8s-default:k8s-default-pod-network",
          "mac-address": p.mac,
          "sub-interface": false,
          "vlan-id": 0,
          annotations: [
            `{index:${p.index ?? `${i}/${pods.length}`}}`,
            ...(p.network ? [`{network:${p.network}}`] : []),
            ...(p.interface ? [`{interface:${p.interface}}`] : []),
          ],
        })),
      );
    }
    if (method === "POST" && path === "/vm") {
      this.posted.push(body as AddMsg);
      return json(200, {});
    }
    if (method === "GET" && parts[0] === "vm" && parts.length === 3) {
      const posted = this.posted.some((m) => m["vm-uuid"] === parts[1] && m["vmi-uuid"] === parts[2]);
      const pod = [...this.pods.values()].flat().find((p) => p.vmUuid === parts[1] && p.vmiUuid === parts[2]);
      if (!posted || !pod) return json(404, { error: "not found" });
      return json(200, {
        id: pod.vmiUuid,
        "vm-uuid": pod.vmUuid,
        "ip-address": pod.ip,
        plen: pod.plen,
        gateway: pod.gateway,
        "dns-server": pod.dns,
        "mac-address": pod.mac,
      });
    }
    if (method === "DELETE" && parts[0] === "vm" && parts.length === 2) {
      this.deleted.push(parts[1]);
      return json(200, {});
    }
    if (method === "GET" && path === "/port") return json(200, []);
    return json(404, { error: "no route" });
  }

  readonly transport: AgentTransport = async (method, path, body) =>
    this.handle(method, path, body === undefined ? undefined : JSON.parse(JSON.stringify(body)));

  /** Serve on 127.0.0.1 (ephemeral port). */
  async listen(): Promise<{ port: number; close: () => Promise<void> }> {
    const app = express();
    app.use(express.json());
    app.use((req, res) => {
      const r = this.handle(req.method, req.path, req.body);
      res.status(r.status).type("application/json").send(r.body);
    });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    const addr = server.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    return { port, close: () => new Promise((r) => server.close(() => r())) };
  }
}

interface FakeLink extends LinkInfo {
  ns: string;
  peer?: { ns: string; name: string };
  routes: RouteInfo[];
}

/** Namespaces are keyed by name (host side) or path (container side); "" is the plugin's own namespace. */
export class FakeHost implements HostNetwork {
  readonly namespaces = new Set<string>([""]);
  readonly links = new Map<string, FakeLink>();
  failCreate = false;

  private key(ns: string | undefined, name: string): string {
    return `${ns ?? ""}|${name}`;
  }

  async netnsExists(path: string): Promise<boolean> {
    return this.namespaces.has(path);
  }
  async containerLink(netns: string, ifname: string): Promise<LinkInfo | undefined> {
    return this.links.get(this.key(netns, ifname));
  }
  async containerRoutes(netns: string, ifname: string): Promise<RouteInfo[]> {
    return this.links.get(this.key(netns, ifname))?.routes ?? [];
  }
  async hostLink(hostNetns: string | undefined, ifname: string): Promise<LinkInfo | undefined> {
    return this.links.get(this.key(hostNetns, ifname));
  }
  async createVeth(s: VethSpec): Promise<"created" | "exists"> {
    if (this.failCreate) {
      throw new CniError(
        CniCode.InterfaceError,
        `creating veth ${s.hostIfname}/${s.containerIfname} failed`,
        "RTNETLINK answers: File exists",
      );
    }
    const host = this.key(s.hostNetns, s.hostIfname);
    const cont = this.key(s.containerNetns, s.containerIfname);
    if (this.links.has(host) || this.links.has(cont)) return "exists";
    this.links.set(host, {
      ns: s.hostNetns ?? "",
      name: s.hostIfname,
      mac: "aa:bb:cc:00:00:01",
      mtu: s.mtu,
      up: true,
      addresses: [],
      routes: [],
      peer: { ns: s.containerNetns, name: s.containerIfname },
    });
    this.links.set(cont, {
      ns: s.containerNetns,
      name: s.containerIfname,
      mac: s.mac,
      mtu: s.mtu,
      up: false,
      addresses: [],
      routes: [],
      peer: { ns: s.hostNetns ?? "", name: s.hostIfname },
    });
    return "created";
  }
  async configureContainer(netns: string, ifname: string, a: ContainerAddressing): Promise<void> {
    const l = this.links.get(this.key(netns, ifname));
    if (!l) throw new Error(`no ${ifname} in ${netns}`);
    l.up = true;
    if (!l.addresses.includes(a.address)) l.addresses.push(a.address);
    const net = a.address.replace(/\.\d+\/(\d+)$/, ".0/$1");
    l.routes = [{ dst: net, dev: ifname }];
    if (a.defaultRoute && a.gateway) l.routes.push({ dst: "0.0.0.0/0", gateway: a.gateway, dev: ifname });
  }
  async deleteHostLink(hostNetns: string | undefined, ifname: string): Promise<boolean> {
    const l = this.links.get(this.key(hostNetns, ifname));
    if (!l) return false;
    this.links.delete(this.key(hostNetns, ifname));
    if (l.peer) this.links.delete(this.key(l.peer.ns, l.peer.name));
    return true;
  }
}
