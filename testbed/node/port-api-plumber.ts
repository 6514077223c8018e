/**
 * Plumbs a pod on the simulated datapath the way contrail-k8s-cni does on a real node — through the vrouter
 * agent's port API over HTTP: poll `GET /vm-cfg/<cluster>__<ns>__<pod>` until the controller's VMI reached
 * this compute, `POST /vm` to add the port, poll `GET /vm/<vm-uuid>/<vmi-uuid>` for the address — and then
 * attaches the pod's simulated host stack to the engine port instead of creating a veth.
 *
 * Example: `new PortApiPlumber({ portApiUrl: (node) => urls[node], clusterName: "k8s", attach, detach })`.
 */
import { Agent, request } from "node:http";
import { isDnsPod } from "../../cluster-dns/cluster";
import type { KubeObject } from "../../controller/kube/api";
import type { PodAddress, PodInterface, PodPlumber } from "./emulator";
import {
  type PodAttachmentRef,
  type PodForwarding,
  podAttachments,
  podForwarding,
  vmCfgIndex,
  vmCfgTotal,
} from "./attachments";

export interface PortAttachment {
  node: string;
  endpoint: string; // "<ns>/<pod>"
  vmUuid: string;
  vmiUuid: string;
  ip: string;
  mac: string;
  gateway: string;
  hostIfName: string;
  /** Ports the pod's containers declare: the simulated stack answers on them. */
  listen: { port: number; proto: "tcp" | "udp" | "sctp" }[];
  /** A CoreDNS pod: it answers DNS on port 53 (cluster-dns). */
  dns?: boolean;
  /** The interface's prefix length (the port API's `plen`). */
  plen?: number;
  /** The pod forwards between its interfaces (ip_forward) and drops what its FORWARD rules drop. */
  forwarding?: PodForwarding;
}

export interface PortApiPlumberOptions {
  portApiUrl: (node: string) => string;
  clusterName: string;
  attach: (a: PortAttachment) => Promise<void> | void;
  detach: (node: string, endpoint: string) => Promise<void> | void;
  /** First poll delay, doubled up to maxPollMs; total wait bounded by timeoutMs (contrail-k8s-cni polls too). */
  pollMs?: number;
  maxPollMs?: number;
  timeoutMs?: number;
  /**
   * Waits between two polls until the agent's config or ports change for one of `keys` (or `ms` passed): with
   * it, a pod polls again when something it waits for arrived rather than on a timer (in-process agents only).
   * `ready` tells whether asking `node`'s port API for `path` again would get what the poller waits for; an
   * agent that can answer that in process wakes the poller only then.
   */
  waitForChange?: (
    keys: string[],
    ms: number,
    signal?: AbortSignal,
    ask?: { node: string; path: string; ready: (body: unknown) => boolean },
  ) => Promise<void>;
  /**
   * `waitForChange` with `ask` resolves exactly when asking would get the answer (at once when it would now):
   * then a pod asks only once it would, instead of asking first (in-process agents).
   */
  preciseWait?: boolean;
}

interface VmCfg {
  id: string;
  "vm-uuid": string;
  "vn-id": string;
  "mac-address": string;
  annotations?: unknown;
}

/** An HTTP answer: its status and body text. */
interface Reply {
  status: number;
  ok: boolean;
  text: string;
}

/** A request that gets no answer in this long fails (the poll's own deadline bounds the waiting). */
const REQUEST_TIMEOUT_MS = 30_000;

export class PortApiPlumber implements PodPlumber {
  /** "<ns>/<pod>" → its VM and the endpoints of its interfaces (the default network's first) */
  private readonly attached = new Map<string, { vmUuid: string; node: string; endpoints: string[] }>();
  /**
   * node:http over keep-alive connections rather than fetch: at 1,000 pods starting, undici's per-request
   * promise and stream machinery was the largest single cost of the testbed's start (about 2 s of 12 s of CPU).
   * Idle sockets do not keep the process alive.
   */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });

  constructor(private readonly opts: PortApiPlumberOptions) {}

  async add(pod: KubeObject, node: string, signal?: AbortSignal): Promise<PodAddress> {
    const base = this.opts.portApiUrl(node);
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    const vmName = `${this.opts.clusterName}__${ns}__${name}`;
    const cfgs = await this.poll<VmCfg[]>(
      node,
      `/vm-cfg/${encodeURIComponent(vmName)}`,
      // every interface the index annotation announces (i/N), as the CNI waits for them
      (v) => Array.isArray(v) && v.length > 0 && v.length >= vmCfgTotal(v[0]),
      [vmName, ...(pod.metadata.uid ? [pod.metadata.uid] : [])],
      signal,
    );
    const attachments = podAttachments(pod);
    const forwarding = podForwarding(pod);
    if (typeof forwarding === "string") throw new Error(forwarding);
    const plugged: { cfg: VmCfg; att: PodAttachmentRef; hostIfName: string }[] = [];
    for (const cfg of cfgs) {
      const index = vmCfgIndex(cfg);
      const att = attachments[index];
      if (!att) continue; // an interface the pod's annotation does not name (changed since): not plugged
      const hostIfName = `tap${`${att.ifname}-${cfg["vm-uuid"]}`.slice(0, 11)}`;
      const post = await this.call("POST", `${base}/vm`, {
        time: new Date().toISOString(),
        "vm-id": pod.metadata.uid,
        "vm-uuid": cfg["vm-uuid"],
        "vm-name": vmName,
        "host-ifname": hostIfName,
        "vm-ifname": att.ifname,
        "vm-namespace": `sim:${ns}/${name}`,
        "vn-uuid": cfg["vn-id"],
        "vmi-uuid": cfg.id,
      });
      if (!post.ok) throw new Error(`port API POST /vm: ${post.status} ${post.text}`);
      plugged.push({ cfg, att, hostIfName });
    }
    const interfaces: PodInterface[] = [];
    const endpoints: string[] = [];
    let primaryGateway: string | undefined;
    for (const { cfg, att, hostIfName } of plugged) {
      const port = await this.poll<Record<string, unknown>>(
        node,
        `/vm/${cfg["vm-uuid"]}/${cfg.id}`,
        (v) => typeof v?.["ip-address"] === "string" && v["ip-address"] !== "0.0.0.0",
        [cfg.id, cfg["vm-uuid"]],
        signal,
      );
      const attachment: PortAttachment = {
        node,
        endpoint: att.endpoint,
        vmUuid: cfg["vm-uuid"],
        vmiUuid: cfg.id,
        ip: port["ip-address"] as string,
        mac: (port["mac-address"] as string) ?? cfg["mac-address"],
        gateway: port.gateway as string,
        hostIfName,
        listen: declaredPorts(pod),
        ...(isDnsPod(pod) && !att.network ? { dns: true } : {}),
        ...(typeof port.plen === "number" ? { plen: port.plen } : {}),
        ...(forwarding ? { forwarding } : {}),
      };
      await this.opts.attach(attachment);
      if (!att.network) primaryGateway = attachment.gateway;
      endpoints.push(att.endpoint);
      this.attached.set(`${ns}/${name}`, { vmUuid: cfg["vm-uuid"], node, endpoints: [...endpoints] });
      interfaces.push({
        ifname: att.ifname,
        ...(att.network ? { network: att.network } : {}),
        ip: attachment.ip,
        mac: attachment.mac,
      });
    }
    const primary = interfaces[0];
    if (!primary) throw new Error(`port API: vm-cfg of ${vmName} has no interface of the default network`);
    return { ip: primary.ip, mac: primary.mac, gateway: primaryGateway, interfaces };
  }

  async remove(pod: KubeObject, node: string): Promise<void> {
    const endpoint = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const known = this.attached.get(endpoint);
    this.attached.delete(endpoint);
    for (const e of known?.endpoints ?? [endpoint]) await this.opts.detach(node, e);
    const vmUuid = known?.vmUuid ?? pod.metadata.uid;
    const res = await this.call("DELETE", `${this.opts.portApiUrl(node)}/vm/${vmUuid}`).catch(
      () => undefined,
    );
    // 404: already gone — DEL must be idempotent
    if (res && !res.ok && res.status !== 404) throw new Error(`port API DELETE /vm/${vmUuid}: ${res.status}`);
  }

  private async poll<T>(
    node: string,
    path: string,
    ready: (v: any) => boolean,
    keys: string[],
    signal?: AbortSignal,
  ): Promise<T> {
    const url = `${this.opts.portApiUrl(node)}${path}`;
    const deadline = Date.now() + (this.opts.timeoutMs ?? 30_000);
    let delay = this.opts.pollMs ?? 10;
    // woken by changes, a poller looks on its own only as a fallback, less and less often: 5,000 pods waiting
    // for the controller, each looking every second, were 5,000 requests a second
    let fallback = 1000;
    let last = "";
    let polls = 0;
    if (this.opts.preciseWait && this.opts.waitForChange)
      await this.opts.waitForChange(keys, fallback, signal, { node, path, ready });
    for (; Date.now() < deadline; polls++) {
      if (signal?.aborted) throw new Error(`stopped while polling ${url}`);
      // listening before asking: a change that lands while the answer travels still wakes this poller
      const changed = this.opts.waitForChange?.(keys, fallback, signal, { node, path, ready });
      // not aborted by `signal`: the agent answers at once, and each abortable request costs two listeners
      const res = await this.call("GET", url);
      if (res.ok) {
        let body: T;
        try {
          body = JSON.parse(res.text) as T;
        } catch {
          throw new Error(`port API GET ${url}: not JSON: ${res.text.slice(0, 200)}`);
        }
        if (ready(body)) return body;
        last = "incomplete answer";
      } else {
        last = `${res.status} ${res.text}`;
        if (res.status !== 404) throw new Error(`port API GET ${url}: ${last}`);
      }
      // woken by the change it waits for when the agent can tell; a timer is the fallback
      if (changed) {
        await changed;
        fallback = Math.min(fallback * 2, 30_000);
        continue;
      }
      // backoff: a pod waits for the controller and the agent; a hundred pods polling fast is a load of its own
      await new Promise<void>((r) => {
        const t = setTimeout(done, delay);
        function done() {
          clearTimeout(t);
          signal?.removeEventListener("abort", done);
          r();
        }
        signal?.addEventListener("abort", done, { once: true });
      });
      delay = Math.min(delay * 2, this.opts.maxPollMs ?? 160);
    }
    throw new Error(`port API not ready after ${polls} polls of ${url}: ${last}`);
  }

  private call(method: string, url: string, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: payload
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
            : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            resolve({
              status,
              ok: status >= 200 && status < 300,
              text: Buffer.concat(chunks).toString("utf8"),
            });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`port API ${method} ${url}: no answer in ${REQUEST_TIMEOUT_MS} ms`)),
      );
      req.on("error", reject);
      req.end(payload);
    });
  }
}

export function declaredPorts(pod: KubeObject): PortAttachment["listen"] {
  const out: PortAttachment["listen"] = [];
  for (const c of (pod.spec?.containers ?? []) as {
    ports?: { containerPort: number; protocol?: string }[];
  }[]) {
    for (const p of c.ports ?? []) {
      out.push({
        port: p.containerPort,
        proto: (p.protocol ?? "TCP").toLowerCase() as "tcp" | "udp" | "sctp",
      });
    }
  }
  return out;
}
