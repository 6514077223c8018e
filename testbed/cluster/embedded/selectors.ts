/**
 * Label and field selectors: the query strings of list/watch (`app=web,tier in (a,b),!canary`,
 * `spec.nodeName=node-1`) and the structured LabelSelector of workloads, services and network policies.
 * Pure functions; parse errors are 400 BadRequest like the real API server.
 *
 * Example: matchesLabelQuery(parseLabelQuery("app=web,env!=prod"), { app: "web" }) === true
 */
import type { ResourceName } from "../../../controller/kube/api";
import type { KubeObject } from "../../../controller/kube/api";
import { badRequest } from "./errors";

export type LabelOp = "=" | "!=" | "in" | "notin" | "exists" | "!" | "gt" | "lt";
export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export type Labels = Record<string, string> | undefined;

/** Split at top-level commas (commas inside `in (a,b)` belong to the requirement). */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x !== "");
}

const KEY = "[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?";
const VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const SET_RE = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`);
const CMP_RE = new RegExp(`^(${KEY})\\s*(==|=|!=|>|<)\\s*(${VALUE})$`);
const EXISTS_RE = new RegExp(`^(!?)\\s*(${KEY})$`);

/** Parse a label selector query string; "" selects everything. */
export function parseLabelQuery(query: string | undefined): LabelRequirement[] {
  if (!query) return [];
  return splitTopLevel(query).map((part) => {
    let m = SET_RE.exec(part);
    if (m) {
      const values = m[4].split(",").map((v) => v.trim());
      if (values.some((v) => !new RegExp(`^${VALUE}$`).test(v)))
        throw badRequest(`unable to parse requirement: invalid label value in "${part}"`);
      return { key: m[1], op: m[3] as LabelOp, values };
    }
    m = CMP_RE.exec(part);
    if (m) {
      const opMap: Record<string, LabelOp> = { "=": "=", "==": "=", "!=": "!=", ">": "gt", "<": "lt" };
      const op = opMap[m[3]];
      if ((op === "gt" || op === "lt") && !/^-?\d+$/.test(m[4]))
        throw badRequest(
          `unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`,
        );
      return { key: m[1], op, values: [m[4]] };
    }
    m = EXISTS_RE.exec(part);
    if (m) return { key: m[2], op: m[1] ? "!" : "exists", values: [] };
    throw badRequest(
      `unable to parse requirement: found '${part}', expected: key, '!key', 'key=value' or set`,
    );
  });
}

export function matchesRequirement(r: LabelRequirement, labels: Labels): boolean {
  const has = labels !== undefined && Object.hasOwn(labels, r.key);
  const v = has ? labels![r.key] : undefined;
  switch (r.op) {
    case "=":
      return has && v === r.values[0];
    case "!=":
      return !has || v !== r.values[0];
    case "in":
      return has && r.values.includes(v!);
    case "notin":
      return !has || !r.values.includes(v!);
    case "exists":
      return has;
    case "!":
      return !has;
    case "gt":
      return has && /^-?\d+$/.test(v!) && Number(v) > Number(r.values[0]);
    case "lt":
      return has && /^-?\d+$/.test(v!) && Number(v) < Number(r.values[0]);
  }
}

export function matchesLabelQuery(reqs: LabelRequirement[], labels: Labels): boolean {
  return reqs.every((r) => matchesRequirement(r, labels));
}

/** metav1.LabelSelector as it appears in specs. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** A structured selector: `{}` selects everything; callers decide what an absent selector means. */
export function matchesLabelSelector(sel: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels?.[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const opMap: Record<string, LabelOp> = { In: "in", NotIn: "notin", Exists: "exists", DoesNotExist: "!" };
    const op = opMap[e.operator];
    if (!op) return false;
    if (!matchesRequirement({ key: e.key, op, values: e.values ?? [] }, labels)) return false;
  }
  return true;
}

/** A map selector (Service.spec.selector, ReplicationController.spec.selector): every pair must match. */
export function matchesMapSelector(sel: Record<string, string>, labels: Labels): boolean {
  return Object.entries(sel).every(([k, v]) => labels?.[k] === v);
}

export interface FieldRequirement {
  field: string;
  equal: boolean;
  value: string;
}

const COMMON_FIELDS = ["metadata.name", "metadata.namespace"];
/** Field labels each resource supports in addition to metadata.name/namespace (as registered upstream). */
const FIELDS: Partial<Record<ResourceName, string[]>> = {
  pods: [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ],
  nodes: ["spec.unschedulable"],
  namespaces: ["status.phase"],
  replicasets: ["status.replicas"],
  replicationcontrollers: ["status.replicas"],
};

export function parseFieldQuery(resource: ResourceName, query: string | undefined): FieldRequirement[] {
  if (!query) return [];
  const allowed = [...COMMON_FIELDS, ...(FIELDS[resource] ?? [])];
  return splitTopLevel(query).map((part) => {
    const m = /^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${query}'; can't understand '${part}'`);
    if (!allowed.includes(m[1])) throw badRequest(`field label not supported: ${m[1]}`);
    return { field: m[1], equal: m[2] !== "!=", value: m[3].trim() };
  });
}

function fieldValue(obj: KubeObject, field: string): string {
  let cur: unknown = obj;
  for (const part of field.split(".")) {
    if (cur === null || typeof cur !== "object") return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null)
    return field === "spec.hostNetwork" || field === "spec.unschedulable" ? "false" : "";
  return String(cur);
}

export function matchesFieldQuery(reqs: FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === r.equal);
}
