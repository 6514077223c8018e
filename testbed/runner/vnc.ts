/**
 * The Contrail side of a run: `vnc` steps sent to the config API over HTTP as any VNC client would (refs by
 * fq_name resolved through POST /fqname-to-id), and the graph reading of `contrail` expectations — which
 * objects stand for a Kubernetes object (`of:`), and whether their refs point where expected (`refs:` globs).
 *
 * Example: `await applyVncOps(tb.vncUrl, step.ops)` → undefined when every change was accepted, else
 * `{ line: 14, name: "vnc create virtual-network …", detail: "config API: 409 … already exists …" }`.
 */
import type { KubeObject } from "../../controller/kube/api";
import type { OwnerRef, VncOp } from "../scenario/types";
import { vncEndpoint } from "../../fake-contrail-api/auth/client";
import { fillTemplates } from "./templates";
import type { Testbed } from "./testbed";

export interface VncFailure {
  line: number;
  name: string;
  detail: string;
}

/** A config API answer other than 2xx: its status and plain-text message, as the step's error. */
export class VncHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

/** Where requests go and what they carry: the admin port's Basic credentials, or a user's X-Auth-Token. */
export interface VncEndpoint {
  base: string;
  headers: Record<string, string>;
}

/** The testbed's own (admin) access to the config API. */
export const adminEndpoint = (tb: Testbed): VncEndpoint => vncEndpoint(tb.vncUrl);

async function call(ep: VncEndpoint, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${ep.base}${path}`, {
    method,
    headers: { ...ep.headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok)
    throw new VncHttpError(
      res.status,
      `config API: ${method} ${path} → ${res.status} ${res.statusText}: ${text.trim()}`,
    );
  return text ? (JSON.parse(text) as Json) : {};
}

async function uuidOf(ep: VncEndpoint, type: string, fq: string[], what: string): Promise<string> {
  try {
    return (await call(ep, "POST", "/fqname-to-id", { type, fq_name: fq })).uuid as string;
  } catch (e) {
    if (e instanceof VncHttpError && e.status === 404)
      throw new VncHttpError(404, `${what}: no ${type} ${fq.join(":")} (${e.message})`);
    throw e;
  }
}

/** What `vnc` entry `op` does, in one line: `vnc create virtual-network default-domain:admin:public`. */
export function describeVncOp(op: VncOp): string {
  return `vnc ${op.op} ${op.type} ${op.of ? `of ${describeOwner(op.of)}` : op.fqName.join(":")}`;
}

const LB_TEMPLATE = /\$\{lb:([^/}\s]+)\/([^}\s]+)\}/g;

/**
 * `value` with the run's templates filled in: `${ip:<ns>/<pod>}` (the pod's IP, as in manifests) and
 * `${lb:<ns>/<service>}` (the Service's load balancer address from its status, as `kubectl get svc` shows it).
 */
export async function fillRunTemplates<T>(tb: Testbed, value: T): Promise<T> {
  let text = JSON.stringify(value);
  for (const [whole, ns, name] of [...text.matchAll(LB_TEMPLATE)]) {
    if (!text.includes(whole)) continue; // filled already (the same template twice)
    const svc = await tb.kube.get("services", name!, ns!).catch(() => undefined);
    const ip = (svc?.status?.loadBalancer?.ingress as { ip?: string }[] | undefined)?.find((i) => i.ip)?.ip;
    if (!ip) {
      throw new Error(
        `${whole}: ${svc ? `service ${ns}/${name} has no load balancer address in its status` : `no service ${ns}/${name}`}`,
      );
    }
    text = text.split(whole).join(ip);
  }
  for (const [whole, ns, name] of [...text.matchAll(CLUSTER_IP_TEMPLATE)]) {
    if (!text.includes(whole)) continue;
    const svc = await tb.kube.get("services", name!, ns!).catch(() => undefined);
    const ip: string | undefined = svc?.spec?.clusterIP;
    if (!ip || ip === "None")
      throw new Error(
        `${whole}: ${svc ? `service ${ns}/${name} has no cluster IP` : `no service ${ns}/${name}`}`,
      );
    text = text.split(whole).join(ip);
  }
  return (await fillTemplates(tb, JSON.parse(text) as KubeObject)) as T;
}

/** `${clusterip:<ns>/<svc>}`: the Service's cluster IP (an Ingress's members are at it). */
const CLUSTER_IP_TEMPLATE = /\$\{clusterip:([^/}]+)\/([^}]+)\}/g;

/**
 * `${pool:<ns>/<service>:<port>}`: the fq_name of the native load balancer pool kube-manager made for that
 * Service port (its name carries a uuid): the load balancer's uuid is the Service's uid, its listener has the port.
 */
const POOL_TEMPLATE = /\$\{pool:([^/}\s]+)\/([^:}\s]+):(\d+)\}/g;

async function fillPoolTemplates<T>(tb: Testbed, value: T): Promise<T> {
  const base = adminEndpoint(tb);
  let text = JSON.stringify(value);
  if (!text.includes("${pool:")) return value;
  type Obj = { uuid: string; fq_name: string[]; [k: string]: unknown };
  const list = async (type: string) =>
    ((await call(base, "GET", `/${type}s?detail=true`))[`${type}s`] as { [k: string]: Obj }[]).map(
      (e) => e[type]!,
    );
  const [lbs, listeners, pools] = await Promise.all([
    list("loadbalancer"),
    list("loadbalancer-listener"),
    list("loadbalancer-pool"),
  ]);
  for (const [whole, ns, name, port] of [...text.matchAll(POOL_TEMPLATE)]) {
    if (!text.includes(whole)) continue;
    const uid = (await tb.kube.get("services", name!, ns!).catch(() => undefined))?.metadata.uid;
    const lb = uid === undefined ? undefined : lbs.find((l) => l.uuid === uid);
    const listener =
      lb &&
      listeners.find(
        (l) =>
          (l.loadbalancer_refs as { uuid: string }[] | undefined)?.some((r) => r.uuid === lb.uuid) &&
          (l.loadbalancer_listener_properties as { protocol_port?: number } | undefined)?.protocol_port ===
            Number(port),
      );
    const pool =
      listener &&
      pools.find((p) =>
        (p.loadbalancer_listener_refs as { uuid: string }[] | undefined)?.some(
          (r) => r.uuid === listener.uuid,
        ),
      );
    if (!pool)
      throw new Error(
        `${whole}: ${!lb ? `no load balancer for service ${ns}/${name}` : !listener ? `service ${ns}/${name}'s load balancer has no listener on port ${port}` : `no pool on the listener of ${ns}/${name} port ${port}`}`,
      );
    text = text.split(whole).join(pool.fq_name.join(":"));
  }
  return JSON.parse(text) as T;
}

/**
 * `${vmi:<ns>/<pod>@<network>}`: the fq_name of the pod's interface on a secondary network (kube-manager's VMI
 * with the `network` annotation of that attachment; its name carries a uuid), e.g. to put it in a port tuple.
 */
const VMI_TEMPLATE = /\$\{vmi:([^/}\s]+)\/([^@}\s]+)@([^}\s]+)\}/g;

async function fillVmiTemplates<T>(tb: Testbed, value: T): Promise<T> {
  let text = JSON.stringify(value);
  if (!text.includes("${vmi:")) return value;
  type Obj = {
    uuid: string;
    fq_name: string[];
    annotations?: { key_value_pair?: { key: string; value: string }[] };
  };
  const vmis = (
    (await call(adminEndpoint(tb), "GET", "/virtual-machine-interfaces?detail=true"))[
      "virtual-machine-interfaces"
    ] as { "virtual-machine-interface": Obj }[]
  ).map((e) => e["virtual-machine-interface"]);
  for (const [whole, ns, pod, network] of [...text.matchAll(VMI_TEMPLATE)]) {
    if (!text.includes(whole)) continue;
    const net = network!.split("/").at(-1);
    const vmi = vmis.find((v) => {
      const kv = Object.fromEntries((v.annotations?.key_value_pair ?? []).map((p) => [p.key, p.value]));
      return kv.kind === "Pod" && kv.namespace === ns && kv.name === pod && kv.network === net;
    });
    if (!vmi) throw new Error(`${whole}: pod ${ns}/${pod} has no interface on network ${network}`);
    text = text.split(whole).join(vmi.fq_name.join(":"));
  }
  return JSON.parse(text) as T;
}

/** Applies the entries in order; the first one refused stops the step and is returned. */
export async function applyVncOps(tb: Testbed, ops: VncOp[]): Promise<VncFailure | undefined> {
  for (const op of ops) {
    try {
      await runVncOp(tb, op);
    } catch (e) {
      return { line: op.line, name: describeVncOp(op), detail: e instanceof Error ? e.message : String(e) };
    }
  }
  return undefined;
}

/**
 * Sends one entry: as the testbed (admin) or, in a step with `as:`, as that user with a keystone token scoped
 * to the project of the object it touches (or the step's project). Names are resolved as the admin, so a refusal
 * is the request's own (a read's 403), not the name look-up's. Throws VncHttpError on a refusal.
 */
export async function runVncOp(tb: Testbed, written: VncOp): Promise<void> {
  const filled = await fillRunTemplates(tb, await fillVmiTemplates(tb, await fillPoolTemplates(tb, written)));
  const op: VncOp = {
    ...filled,
    fqName: filled.fqName.flatMap((e) => e.split(":")),
    refs: Object.fromEntries(
      Object.entries(filled.refs).map(([t, rs]) => [
        t,
        rs.map((r) => ({ ...r, to: r.to.flatMap((e) => e.split(":")) })),
      ]),
    ),
  };
  const admin = adminEndpoint(tb);
  const target = op.op === "create" ? undefined : await locate(tb, admin, op);
  const fq = target?.fq_name ?? op.fqName;
  const ep = await actingEndpoint(tb, admin, fq);
  const body: Record<string, unknown> = { ...op.fields };
  for (const [t, refs] of Object.entries(op.refs)) {
    body[`${t.replace(/-/g, "_")}_refs`] = await Promise.all(
      refs.map(async (r) => ({
        to: r.to,
        uuid: await uuidOf(admin, t, r.to, "ref"),
        ...(r.attr !== undefined ? { attr: r.attr } : {}),
      })),
    );
  }
  if (op.op === "create") {
    await call(ep, "POST", `/${op.type}s`, {
      [op.type]: { ...body, fq_name: op.fqName, ...(op.parentType ? { parent_type: op.parentType } : {}) },
    });
    return;
  }
  const uuid = target!.uuid;
  if (op.op === "read") await call(ep, "GET", `/${op.type}/${uuid}`);
  else if (op.op === "update") await call(ep, "PUT", `/${op.type}/${uuid}`, { [op.type]: body });
  else await call(ep, "DELETE", `/${op.type}/${uuid}`);
}

/** The object an entry names (by fq_name, or as the one made for a Kubernetes object), looked up as the admin. */
async function locate(
  tb: Testbed,
  admin: VncEndpoint,
  op: VncOp,
): Promise<{ uuid: string; fq_name: string[] }> {
  if (!op.of) return { uuid: await uuidOf(admin, op.type, op.fqName, op.op), fq_name: op.fqName };
  const of = op.of;
  const uid =
    of.kind === "Pod" || of.kind === "Service"
      ? (
          await tb.kube
            .get(of.kind === "Pod" ? "pods" : "services", of.name, of.namespace)
            .catch(() => undefined)
        )?.metadata.uid
      : undefined;
  const all = ((await call(admin, "GET", `/${op.type}s?detail=true`))[`${op.type}s`] ?? []) as Record<
    string,
    Json
  >[];
  const found = all.map((w) => w[op.type]!).filter((o) => ownedBy(o, of, uid));
  if (found.length !== 1)
    throw new VncHttpError(
      404,
      `${describeVncOp(op)}: ${found.length === 0 ? "no" : `${found.length}`} ${op.type} made for ${describeOwner(of)}${found.length ? " (name it by fqName)" : ""}`,
    );
  return { uuid: found[0]!.uuid as string, fq_name: found[0]!.fq_name as string[] };
}

/** The step's user's endpoint: their token, scoped to the project `fq` lies in (or the step's own project). */
async function actingEndpoint(tb: Testbed, admin: VncEndpoint, fq: string[]): Promise<VncEndpoint> {
  if (!tb.actor) return admin;
  const project = tb.actor.project ?? (fq[0] === "default-domain" && fq.length > 2 ? fq[1] : undefined);
  if (!tb.userEndpoint)
    throw new Error(`as: ${tb.actor.user}: this testbed has no users (the scenario needs auth:)`);
  return tb.userEndpoint(tb.actor.user, project);
}

// ---- reading the graph -----------------------------------------------------------------------------------

export function describeOwner(of: OwnerRef): string {
  return `${of.kind.toLowerCase()} ${of.namespace ? `${of.namespace}/` : ""}${of.name}`;
}

/**
 * Whether `obj` was made for the Kubernetes object `of`: its owner annotations name it (`kind`, `namespace`,
 * `name`, as the controller marks every object), or — for a pod or service, as the real kube-manager does —
 * its uuid is the object's uid (VM, load balancer) or it refers to that uuid (a VMI's virtual_machine_refs).
 */
export function ownedBy(obj: Json, of: OwnerRef, uid?: string): boolean {
  const pairs = (obj.annotations as { key_value_pair?: { key: string; value: string }[] } | undefined)
    ?.key_value_pair;
  const kv = new Map<string, string>((pairs ?? []).map((p) => [p.key, p.value]));
  if (kv.get("kind") === of.kind && kv.get("name") === of.name && kv.get("namespace") === of.namespace)
    return true;
  if (!uid) return false;
  if (obj.uuid === uid) return true;
  return Object.entries(obj).some(
    ([k, v]) => k.endsWith("_refs") && Array.isArray(v) && v.some((r: { uuid?: string }) => r?.uuid === uid),
  );
}

/** `*` matches any text; a glob without `:` is matched against the last fq_name element only. */
export function fqGlobMatch(fq: string[], glob: string): boolean {
  const subject = glob.includes(":") ? fq.join(":") : fq.at(-1)!;
  const re = new RegExp(`^${glob.split("*").map(escapeRegExp).join(".*")}$`);
  return re.test(subject);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Each glob must match one ref of its target type; an empty list means no ref of that type at all. */
export function refMismatches(obj: Json, refs: Record<string, string[]>): string[] {
  const out: string[] = [];
  for (const [target, globs] of Object.entries(refs)) {
    const field = `${target.replace(/-/g, "_")}_refs`;
    const got = ((obj[field] ?? []) as { to: string[] }[]).map((r) => r.to);
    const shown = got.map((fq) => fq.join(":")).join(", ") || "none";
    if (globs.length === 0 && got.length > 0) out.push(`${field}: expected none, got ${shown}`);
    for (const g of globs)
      if (!got.some((fq) => fqGlobMatch(fq, g))) out.push(`${field}: no ref matches "${g}" (refs: ${shown})`);
  }
  return out;
}
