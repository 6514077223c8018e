/**
 * The vrouter agent's port API (the REST endpoint contrail-k8s-cni talks to on 127.0.0.1:9091), one server
 * per compute, with the real routes and field names:
 * - `GET /vm-cfg/<vm-name>`: the VMIs of the VM `<cluster>__<ns>__<pod>` once the controller has placed it
 *   on this compute (404 until then): `[{id, vm-uuid, vn-id, vn-name, mac-address, annotations,
 *   sub-interface, vlan-id}]`.
 * - `POST /vm {time, vm-id, vm-uuid, vm-name, host-ifname, vm-ifname, vm-namespace, vn-uuid, vmi-uuid}`: add
 *   a port (the vif appears in the tables). `GET /vm/<vm-uuid>[/<vmi-uuid>]`: ip-address, plen, gateway,
 *   dns-server, mac-address (404 until the port is added and its address known). `DELETE /vm/<vm-uuid>`.
 * - `POST /port {id, instance-id, system-name, …}`, `GET|DELETE /port/<vmi-uuid>`: the same by VMI.
 * - `POST /syncports [port adds]`: make the port table exactly this list. `POST /enable-port/<vmi-uuid>`,
 *   `POST /disable-port/<vmi-uuid>`: admin state. `/gateway` (vgw interfaces) is answered 501: not modelled.
 * Bad bodies get 400 with the reason, in plain text like the real agent's errors.
 *
 * Example: `curl -s 127.0.0.1:9091/vm-cfg/k8s__default__web-0`
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import express, { type Request, type Response } from "express";
import ipaddr from "ipaddr.js";
import type { PluggedPort } from "./compute-tables";
import { type ConfigModel, type ConfigObject, fqString } from "./config-model";
import { annotations, vmiMac, vnSubnets } from "./config-views";
import type { AgentRuntime, PortAdd } from "./index";
import { type DatapathStatsSource, vrouterRegistry } from "./metrics";

export class PortBodyError extends Error {
  override name = "PortBodyError";
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function str(
  body: Record<string, unknown>,
  key: string,
  required: boolean,
  uuid = false,
): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === "") {
    if (required) throw new PortBodyError(`missing "${key}"`);
    return undefined;
  }
  if (typeof v !== "string") throw new PortBodyError(`"${key}" must be a string, got ${typeof v}`);
  if (uuid && !UUID.test(v)) throw new PortBodyError(`"${key}" is not a uuid: "${v.slice(0, 60)}"`);
  return v;
}

function asObject(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw new PortBodyError("body must be a JSON object");
  return body as Record<string, unknown>;
}

/** `POST /vm` body → PortAdd. */
export function parseVmBody(body: unknown): PortAdd {
  const b = asObject(body);
  return {
    vmUuid: str(b, "vm-uuid", true, true)!,
    vmiUuid: str(b, "vmi-uuid", true, true)!,
    hostIfname: str(b, "host-ifname", true)!,
    vmIfname: str(b, "vm-ifname", false),
    vmName: str(b, "vm-name", false),
    vmNamespace: str(b, "vm-namespace", false),
    vnUuid: str(b, "vn-uuid", false, true),
    containerId: str(b, "vm-id", false),
  };
}

/** `POST /port` body (the agent's older port IPC names) → PortAdd. */
export function parsePortBody(body: unknown): PortAdd {
  const b = asObject(body);
  return {
    vmiUuid: str(b, "id", true, true)!,
    vmUuid: str(b, "instance-id", true, true)!,
    hostIfname: str(b, "system-name", true)!,
    vmName: str(b, "display-name", false),
    vnUuid: str(b, "vn-id", false, true),
  };
}

/** `GET /vm-cfg/<name>` answer, or undefined while the VM is not (yet) on this compute. */
export function vmConfig(
  model: ConfigModel,
  compute: string,
  vmName: string,
): Record<string, unknown>[] | undefined {
  const vm = model.byFqName("virtual-machine", [vmName]) ?? model.byName("virtual-machine", vmName);
  if (!vm) return undefined;
  const onCompute = model
    .backRefs(vm.uuid, "virtual-router")
    .some((vr) => vr.fqName[vr.fqName.length - 1] === compute);
  if (!onCompute) return undefined;
  const vmis = model.backRefs(vm.uuid, "virtual-machine-interface");
  const out: Record<string, unknown>[] = [];
  for (const vmi of vmis) {
    const vn = model.refs(vmi, "virtual-network")[0]?.target;
    if (!vn) continue;
    const vlan = (
      vmi.data.virtual_machine_interface_properties as { sub_interface_vlan_tag?: number } | undefined
    )?.sub_interface_vlan_tag;
    out.push({
      id: vmi.uuid,
      "vm-uuid": vm.uuid,
      "vn-id": vn.uuid,
      "vn-name": fqString(vn.fqName),
      "mac-address": vmiMac(vmi),
      annotations: annotations(vmi),
      "sub-interface": typeof vlan === "number" && vlan > 0,
      "vlan-id": typeof vlan === "number" && vlan > 0 ? vlan : -1,
    });
  }
  // primary interface first, as the "index" annotation orders them
  out.sort((a, b) => indexOf(a) - indexOf(b));
  return out.length ? out : undefined;
}

function indexOf(cfg: Record<string, unknown>): number {
  const idx = (cfg.annotations as Record<string, string>).index;
  const n = Number(idx?.split("/")[0]);
  return Number.isInteger(n) ? n : 0;
}

/**
 * What the port API answers a polled GET now, in process: `{ body }` (body undefined: it answers 404), or
 * undefined for a path that is not one of the polled ones. The routes below answer from the same functions,
 * so an in-process poller woken by a change can tell whether asking again would get what it waits for.
 */
export function polledAnswer(
  runtime: AgentRuntime,
  compute: string,
  path: string,
): { body: unknown } | undefined {
  const parts = path.split("/").map((p) => decodeURIComponent(p));
  if (parts.length === 3 && parts[1] === "vm-cfg")
    return { body: vmConfig(runtime.model, compute, parts[2]!) };
  if (parts.length === 4 && parts[1] === "vm") {
    const port = runtime.port(compute, parts[3]!);
    return { body: port && port.vmUuid === parts[2] ? portInfo(runtime.model, port) : undefined };
  }
  return undefined;
}

/** `GET /vm/<vm>/<vmi>` answer for a plugged port, or undefined while its address is unknown. */
export function portInfo(model: ConfigModel, port: PluggedPort): Record<string, unknown> | undefined {
  const vmi = model.getTyped("virtual-machine-interface", port.vmiUuid);
  if (!vmi) return undefined;
  const vn = model.refs(vmi, "virtual-network")[0]?.target;
  const iips = model
    .backRefs(vmi.uuid, "instance-ip")
    .filter((i) => typeof i.data.instance_ip_address === "string" && i.data.instance_ip_address !== "")
    .filter((i) => i.data.instance_ip_secondary !== true);
  const v4 = iips.find((i) => !String(i.data.instance_ip_address).includes(":"));
  if (!vn || !v4) return undefined;
  const ip = String(v4.data.instance_ip_address);
  const sub = subnetOf(model, vn, ip);
  const v6 = iips.find((i) => String(i.data.instance_ip_address).includes(":"));
  const info: Record<string, unknown> = {
    id: vmi.uuid,
    "vm-uuid": port.vmUuid,
    "vn-id": vn.uuid,
    "vn-name": fqString(vn.fqName),
    "ip-address": ip,
    plen: sub?.plen ?? 32,
    gateway: sub?.gateway ?? "0.0.0.0",
    "dns-server": sub?.dns ?? "0.0.0.0",
    "mac-address": vmiMac(vmi),
    "host-ifname": port.hostIfname,
    "vm-ifname": port.vmIfname ?? "",
  };
  if (v6) {
    const a6 = String(v6.data.instance_ip_address);
    info["ip6-address"] = a6;
    info["ip6-plen"] = subnetOf(model, vn, a6)?.plen ?? 128;
  }
  return info;
}

function subnetOf(model: ConfigModel, vn: ConfigObject, ip: string) {
  if (!ipaddr.isValid(ip)) return undefined;
  const addr = ipaddr.parse(ip);
  for (const s of vnSubnets(model, vn)) {
    const [net, len] = ipaddr.parseCIDR(s.cidr);
    if (net.kind() === addr.kind() && addr.match(net, len))
      return { plen: len, gateway: s.gateway, dns: s.dns };
  }
  return undefined;
}

/** An answer of the port API: a JSON body, or a plain-text one (errors, not-yet 404s). */
type Answer = { status: number; json: unknown } | { status: number; text: string };

const notYet = (text: string): Answer => ({ status: 404, text });

/** The hot answers — the three requests a starting pod makes — shared by the express routes and the fast path. */
const hot = {
  vmCfg(runtime: AgentRuntime, compute: string, name: string): Answer {
    const cfg = vmConfig(runtime.model, compute, name);
    return cfg ? { status: 200, json: cfg } : notYet(`no interfaces of ${name} on ${compute} yet`);
  },
  vmPort(runtime: AgentRuntime, compute: string, vm: string, vmi: string): Answer {
    const p = runtime.port(compute, vmi);
    if (!p || p.vmUuid !== vm) return notYet(`port ${vmi} of ${vm} not added on ${compute}`);
    const info = portInfo(runtime.model, p);
    return info ? { status: 200, json: info } : notYet(`address of ${vmi} not known yet`);
  },
  plugVm(runtime: AgentRuntime, compute: string, body: unknown): Answer {
    const p = parseVmBody(body);
    runtime.plug(compute, p);
    return { status: 200, json: { "vm-uuid": p.vmUuid, "vmi-uuid": p.vmiUuid, "host-ifname": p.hostIfname } };
  },
};

/** A handler's failure as the API answers it: a bad body is the caller's (400), anything else ours (500). */
function failure(err: unknown): Answer {
  return { status: err instanceof PortBodyError ? 400 : 500, text: (err as Error).message };
}

function sendAnswer(res: Response, a: Answer): void {
  if ("json" in a) res.status(a.status).json(a.json);
  else res.status(a.status).type("text/plain").send(a.text);
}

/**
 * An answer written as express writes it (`X-Powered-By`, the charset, a weak ETag of the body as express's
 * default `etag` setting makes it), so the fast path's answers are byte for byte the routes' answers.
 */
function writeAnswer(res: ServerResponse, a: Answer): void {
  const body = "json" in a ? JSON.stringify(a.json) : a.text;
  const length = Buffer.byteLength(body, "utf8");
  const hash = createHash("sha1").update(body, "utf8").digest("base64").substring(0, 27);
  res.writeHead(a.status, {
    "X-Powered-By": "Express",
    "Content-Type": "json" in a ? "application/json; charset=utf-8" : "text/plain; charset=utf-8",
    "Content-Length": length,
    ETag: `W/"${length.toString(16)}-${hash}"`,
  });
  res.end(body); // a string goes out with the headers in one write
}

/** Every route's body parser: JSON bodies up to 1 MB. */
const jsonBody = express.json({ limit: "1mb" });

/** What a body the parser refused is answered (express.json's error, its status when a client's). */
function bodyFailure(err: Error & { status?: number }): Answer {
  return {
    status: err.status && err.status < 500 ? err.status : 400,
    text: `bad request body: ${err.message}`,
  };
}

/**
 * The three requests every starting pod makes — `GET /vm-cfg/<name>`, `POST /vm`, `GET /vm/<vm>/<vmi>` — served
 * without express routing (which costs more than the answer), with the same answers. Anything else, or anything
 * unusual (a query, a trailing slash, a conditional GET, an undecodable name), returns false and express answers.
 */
function fastPortApi(runtime: AgentRuntime, compute: string) {
  const VM_CFG = /^\/vm-cfg\/([^/?#]+)$/;
  const VM_PORT = /^\/vm\/([^/?#]+)\/([^/?#]+)$/;
  const decode = (s: string): string | undefined => {
    try {
      return decodeURIComponent(s);
    } catch {
      return undefined;
    }
  };
  const answer = (res: ServerResponse, fn: () => Answer): void => {
    let a: Answer;
    try {
      a = fn();
    } catch (e) {
      a = failure(e);
    }
    writeAnswer(res, a);
  };
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? "";
    if (req.method === "GET") {
      if (req.headers["if-none-match"] !== undefined || req.headers["if-modified-since"] !== undefined)
        return false;
      let m = VM_CFG.exec(url);
      if (m) {
        const name = decode(m[1]!);
        if (name === undefined) return false;
        answer(res, () => hot.vmCfg(runtime, compute, name));
        return true;
      }
      m = VM_PORT.exec(url);
      if (m) {
        const vm = decode(m[1]!);
        const vmi = decode(m[2]!);
        if (vm === undefined || vmi === undefined) return false;
        answer(res, () => hot.vmPort(runtime, compute, vm, vmi));
        return true;
      }
      return false;
    }
    if (req.method === "POST" && url === "/vm") {
      jsonBody(req as Request, res as Response, (err?: unknown) => {
        if (err) writeAnswer(res, bodyFailure(err as Error & { status?: number }));
        else answer(res, () => hot.plugVm(runtime, compute, (req as Request).body));
      });
      return true;
    }
    return false;
  };
}

/**
 * Serve the port API of one compute; `port: 0` picks a free port. `GET /metrics` answers the compute's
 * Prometheus metrics (tables, and the datapath's counters when `datapathStats` is given).
 */
export async function startPortApi(
  runtime: AgentRuntime,
  compute: string,
  opts: { host?: string; port: number; datapathStats?: DatapathStatsSource },
): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  const registry = vrouterRegistry(compute, () => runtime.tables(compute), opts.datapathStats);
  app.get("/metrics", (_req, res) => {
    registry.metrics().then(
      (text) => res.type(registry.contentType).send(text),
      (e: Error) => res.status(500).type("text/plain").send(e.message),
    );
  });
  app.use(jsonBody);
  const model = runtime.model;
  const notFound = (res: Response, what: string) => res.status(404).type("text/plain").send(what);

  const guard = (fn: (req: Request, res: Response) => void) => (req: Request, res: Response) => {
    try {
      fn(req, res);
    } catch (err) {
      sendAnswer(res, failure(err));
    }
  };

  app.get(
    "/vm-cfg/:name",
    guard((req, res) => sendAnswer(res, hot.vmCfg(runtime, compute, String(req.params.name)))),
  );

  app.post(
    "/vm",
    guard((req, res) => sendAnswer(res, hot.plugVm(runtime, compute, req.body))),
  );

  const vmPorts = (vmUuid: string, vmiUuid?: string) =>
    runtime
      .portsOf(compute)
      .filter((p) => p.vmUuid === vmUuid && (vmiUuid === undefined || p.vmiUuid === vmiUuid));

  app.get(
    "/vm/:vm/:vmi",
    guard((req, res) =>
      sendAnswer(res, hot.vmPort(runtime, compute, String(req.params.vm), String(req.params.vmi))),
    ),
  );

  app.get(
    "/vm/:vm",
    guard((req, res) => {
      const ports = vmPorts(String(req.params.vm));
      const infos = ports.map((p) => portInfo(model, p)).filter((i) => i !== undefined);
      if (ports.length === 0) return void notFound(res, `no ports of ${req.params.vm} on ${compute}`);
      if (infos.length < ports.length)
        return void notFound(res, `addresses of ${req.params.vm} not known yet`);
      res.json(infos);
    }),
  );

  app.delete(
    "/vm/:vm",
    guard((req, res) => {
      if (!runtime.unplug(compute, String(req.params.vm)))
        return void notFound(res, `no ports of ${req.params.vm} on ${compute}`);
      res.json({});
    }),
  );

  app.post(
    "/port",
    guard((req, res) => {
      const p = parsePortBody(req.body);
      runtime.plug(compute, p);
      res.json({ id: p.vmiUuid });
    }),
  );

  app.get(
    "/port/:vmi",
    guard((req, res) => {
      const p = runtime.port(compute, String(req.params.vmi));
      if (!p) return void notFound(res, `port ${req.params.vmi} not added on ${compute}`);
      res.json(portInfo(model, p) ?? { id: p.vmiUuid, "vm-uuid": p.vmUuid, "host-ifname": p.hostIfname });
    }),
  );

  app.delete(
    "/port/:vmi",
    guard((req, res) => {
      if (!runtime.unplugVmi(compute, String(req.params.vmi)))
        return void notFound(res, `port ${req.params.vmi} not added on ${compute}`);
      res.json({});
    }),
  );

  app.post(
    "/syncports",
    guard((req, res) => {
      if (!Array.isArray(req.body))
        throw new PortBodyError("body must be a JSON list of port adds (POST /vm bodies)");
      const wanted = (req.body as unknown[]).map(parseVmBody);
      const keep = new Set(wanted.map((p) => p.vmiUuid));
      let removed = 0;
      for (const p of runtime.portsOf(compute))
        if (!keep.has(p.vmiUuid) && runtime.unplugVmi(compute, p.vmiUuid)) removed++;
      for (const p of wanted) runtime.plug(compute, p);
      res.json({ ports: wanted.length, removed });
    }),
  );

  for (const [path, enabled] of [
    ["/enable-port/:vmi", true],
    ["/disable-port/:vmi", false],
  ] as const)
    app.post(
      path,
      guard((req, res) => {
        if (!runtime.setEnabled(compute, String(req.params.vmi), enabled))
          return void notFound(res, `port ${req.params.vmi} not added on ${compute}`);
        res.json({ id: req.params.vmi, enabled });
      }),
    );

  app.all("/gateway", (_req, res) => {
    res.status(501).type("text/plain").send("gateway (vgw) interfaces are not modelled by this agent");
  });

  // express.json parse failures arrive here
  app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: express.NextFunction) =>
    sendAnswer(res, bodyFailure(err)),
  );

  const fast = fastPortApi(runtime, compute);
  const host = opts.host ?? "127.0.0.1";
  const server: Server = await new Promise((resolve, reject) => {
    const s = createServer((req, res) => {
      if (!fast(req, res)) app(req, res);
    });
    s.listen(opts.port, host, () => resolve(s));
    s.on("error", reject);
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
