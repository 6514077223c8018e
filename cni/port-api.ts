/**
 * The vrouter agent's port API as the plugin sees it: the real field names (`/vm-cfg/<name>`, `POST /vm`,
 * `GET /vm/<vm-uuid>/<vmi-uuid>`, `DELETE /vm/<vm-uuid>`), payload decoding, and the poll loop where
 * 404 means "not ready yet". The HTTP transport is an injected edge so the loop is testable without sockets.
 *
 * Example: `await new PortApiClient(httpTransport("127.0.0.1", 9091, 5000), poll).vmCfg("k8s__default__web")`.
 */
import { isIP } from "node:net";
import { CniCode, CniError } from "./errors";

export interface HttpReply {
  status: number;
  body: string;
}

/** One HTTP exchange with the agent; rejects only when the agent cannot be reached. */
export type AgentTransport = (method: string, path: string, body?: unknown) => Promise<HttpReply>;

export interface PollPolicy {
  retries: number;
  intervalMs: number;
  sleep: (ms: number) => Promise<void>;
  /** How long refused connections are retried (default REFUSED_GRACE_MS). */
  refusedGraceMs?: number;
}

/**
 * A refused connection means nothing listens on the port API: an agent (re)starting opens it within moments,
 * so refusals are retried in short steps for this long only, where waiting out every poll interval took ~70 s.
 */
export const REFUSED_GRACE_MS = 3000;
const REFUSED_STEP_MS = 250;

function isRefused(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return e?.code === "ECONNREFUSED" || /ECONNREFUSED/.test(String(e?.message));
}

/** One interface of the pod as kube-manager configured it (`GET /vm-cfg/<name>`). */
export interface VmCfgEntry {
  vmiUuid: string;
  vmUuid: string;
  vnId: string;
  vnName: string;
  mac: string;
  /** From the `index` annotation "i/N". */
  index: number;
  total: number;
  network?: string;
  /** From the `interface` annotation: the container interface name the pod asked for (else eth<index>). */
  interface?: string;
  subInterface: boolean;
  vlanId: number;
}

/** Addressing of one VMI once the agent has it (`GET /vm/<vm-uuid>/<vmi-uuid>`). */
export interface VmiAddress {
  ip: string;
  plen: number;
  gateway?: string;
  dnsServer?: string;
  mac: string;
}

/** `POST /vm` body, also the state file's content. */
export interface AddMsg {
  time: string;
  "vm-id": string;
  "vm-uuid": string;
  "vm-name": string;
  "host-ifname": string;
  "vm-ifname": string;
  "vm-namespace": string;
  "vn-uuid": string;
  "vmi-uuid": string;
}

type Json = Record<string, unknown>;

function agentError(msg: string, details = ""): CniError {
  return new CniError(CniCode.AgentError, msg, details);
}

/**
 * Annotations come as a list of "{key:value}" strings (the agent's format) or, from newer agents, as an
 * object; both become a flat map.
 */
export function parseAnnotations(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    for (const item of v) {
      if (typeof item !== "string") continue;
      const body = item.replace(/^\{/, "").replace(/\}$/, "");
      const colon = body.indexOf(":");
      if (colon > 0) out[body.slice(0, colon).trim()] = body.slice(colon + 1).trim();
    }
  } else if (typeof v === "object" && v !== null) {
    for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  }
  return out;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Decode `/vm-cfg/<name>`; undefined while fewer interfaces than the index annotation announces exist. */
export function parseVmCfg(body: string): VmCfgEntry[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw agentError("vrouter agent sent /vm-cfg that is not JSON", body.slice(0, 200));
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (list.length === 0) return undefined;
  const entries = list.map((raw, pos): VmCfgEntry => {
    if (typeof raw !== "object" || raw === null)
      throw agentError("vrouter agent sent a /vm-cfg entry that is not an object");
    const e = raw as Json;
    const need = (k: string): string => {
      const x = e[k];
      if (typeof x !== "string" || x === "")
        throw agentError(`vrouter agent /vm-cfg entry lacks "${k}"`, JSON.stringify(e));
      return x;
    };
    const mac = need("mac-address");
    if (!MAC.test(mac)) throw agentError(`vrouter agent /vm-cfg entry has a bad mac-address "${mac}"`);
    const ann = parseAnnotations(e.annotations);
    let index = pos;
    let total = list.length;
    if (ann.index !== undefined) {
      const m = /^(\d+)\/(\d+)$/.exec(ann.index);
      if (!m) throw agentError(`vrouter agent /vm-cfg entry has a bad index annotation "${ann.index}"`);
      index = Number(m[1]);
      total = Number(m[2]);
    }
    return {
      vmiUuid: need("id"),
      vmUuid: need("vm-uuid"),
      vnId: typeof e["vn-id"] === "string" ? e["vn-id"] : "",
      vnName: typeof e["vn-name"] === "string" ? e["vn-name"] : "",
      mac: mac.toLowerCase(),
      index,
      total,
      network: ann.network,
      ...(ann.interface ? { interface: ann.interface } : {}),
      subInterface: e["sub-interface"] === true,
      vlanId: typeof e["vlan-id"] === "number" ? e["vlan-id"] : 0,
    };
  });
  if (entries.length < entries[0].total) return undefined;
  return entries.sort((a, b) => a.index - b.index);
}

/** Decode `/vm/<vm-uuid>/<vmi-uuid>`; undefined while the agent has no IP for the VMI yet. */
export function parseVmiAddress(body: string, vmiUuid: string): VmiAddress | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw agentError("vrouter agent sent /vm that is not JSON", body.slice(0, 200));
  }
  const list = (Array.isArray(parsed) ? parsed : [parsed]) as Json[];
  const e = list.find((x) => x && x.id === vmiUuid) ?? list[0];
  if (!e || typeof e !== "object") return undefined;
  const ip = e["ip-address"];
  if (typeof ip !== "string" || ip === "" || ip === "0.0.0.0") return undefined;
  if (isIP(ip) !== 4) throw agentError(`vrouter agent gave ip-address "${ip}", not an IPv4 address`);
  const plen = e.plen;
  if (typeof plen !== "number" || !Number.isInteger(plen) || plen < 0 || plen > 32) {
    throw agentError(`vrouter agent gave plen ${JSON.stringify(plen)} for ${ip}`);
  }
  const gw =
    typeof e.gateway === "string" && isIP(e.gateway) === 4 && e.gateway !== "0.0.0.0" ? e.gateway : undefined;
  const dns = typeof e["dns-server"] === "string" && isIP(e["dns-server"]) ? e["dns-server"] : undefined;
  const mac = typeof e["mac-address"] === "string" ? e["mac-address"].toLowerCase() : "";
  return { ip, plen, gateway: gw, dnsServer: dns, mac };
}

/**
 * GET `path` until `parse` yields a value. 404 and incomplete answers are "not ready" (code 11 when retries
 * run out); an unreachable agent gives 101; other statuses 100.
 */
export async function pollAgent<T>(
  transport: AgentTransport,
  path: string,
  parse: (body: string) => T | undefined,
  policy: PollPolicy,
): Promise<T> {
  let last = "";
  let lastKind: "not-ready" | "unreachable" | "status" = "not-ready";
  const grace = policy.refusedGraceMs ?? REFUSED_GRACE_MS;
  let refusedMs = 0;
  let wait = policy.intervalMs;
  for (let attempt = 0; attempt < policy.retries; attempt++) {
    if (attempt > 0) await policy.sleep(wait);
    wait = policy.intervalMs;
    let reply: HttpReply;
    try {
      reply = await transport("GET", path);
    } catch (err) {
      lastKind = "unreachable";
      last = (err as Error).message;
      if (isRefused(err)) {
        if (refusedMs >= grace)
          throw new CniError(
            CniCode.AgentUnreachable,
            `vrouter agent refuses connections for GET ${path}: nothing listens on its port API (is the vrouter agent running?); gave up after ${grace} ms`,
            last,
          );
        // Short steps that do not use up a poll attempt: the whole wait is bounded by the grace.
        wait = Math.min(REFUSED_STEP_MS, grace - refusedMs);
        refusedMs += wait;
        attempt--;
      }
      continue;
    }
    if (reply.status === 200) {
      const value = parse(reply.body);
      if (value !== undefined) return value;
      lastKind = "not-ready";
      last = "incomplete answer";
    } else if (reply.status === 404) {
      lastKind = "not-ready";
      last = "404 not found";
    } else {
      lastKind = "status";
      last = `HTTP ${reply.status}: ${reply.body.slice(0, 200)}`;
    }
  }
  const tries = `after ${policy.retries} tries`;
  if (lastKind === "unreachable")
    throw new CniError(CniCode.AgentUnreachable, `vrouter agent unreachable for GET ${path} ${tries}`, last);
  if (lastKind === "status") throw agentError(`vrouter agent failed GET ${path} ${tries}`, last);
  throw new CniError(
    CniCode.TryAgainLater,
    `vrouter agent has no ready answer for GET ${path} ${tries}`,
    last,
  );
}

/** The plugin's view of the agent. */
export class PortApiClient {
  constructor(
    private readonly transport: AgentTransport,
    private readonly policy: PollPolicy,
  ) {}

  vmCfg(vmName: string): Promise<VmCfgEntry[]> {
    return pollAgent(this.transport, `/vm-cfg/${encodeURIComponent(vmName)}`, parseVmCfg, this.policy);
  }

  vmiAddress(vmUuid: string, vmiUuid: string): Promise<VmiAddress> {
    return pollAgent(
      this.transport,
      `/vm/${encodeURIComponent(vmUuid)}/${encodeURIComponent(vmiUuid)}`,
      (b) => parseVmiAddress(b, vmiUuid),
      this.policy,
    );
  }

  async addVm(msg: AddMsg): Promise<void> {
    let reply: HttpReply;
    try {
      reply = await this.transport("POST", "/vm", msg);
    } catch (err) {
      throw new CniError(
        CniCode.AgentUnreachable,
        "vrouter agent unreachable for POST /vm",
        (err as Error).message,
      );
    }
    if (reply.status !== 200 && reply.status !== 201) {
      throw agentError(
        `vrouter agent refused POST /vm for ${msg["vm-name"]} (HTTP ${reply.status})`,
        reply.body.slice(0, 200),
      );
    }
  }

  /** Best effort, like the real plugin: a failed delete is the agent's to reconcile later. */
  async deleteVm(vmUuid: string, msg: Partial<AddMsg>): Promise<{ ok: boolean; detail: string }> {
    try {
      const reply = await this.transport("DELETE", `/vm/${encodeURIComponent(vmUuid)}`, msg);
      return {
        ok: reply.status === 200 || reply.status === 204 || reply.status === 404,
        detail: `HTTP ${reply.status}`,
      };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }

  /** STATUS: does the agent answer HTTP at all? */
  async reachable(): Promise<boolean> {
    try {
      await this.transport("GET", "/port");
      return true;
    } catch {
      return false;
    }
  }
}
