/**
 * Validation of the supported kinds as the real API server does it (after defaulting), with its field paths
 * and messages: names, labels, annotations, ports, label selectors, pod/service/workload/network-policy specs,
 * and the immutable fields of updates. Pure: object in, list of FieldErrors out.
 *
 * Example: validateObject("pods", { ..., spec: {} }) -> [{ path: "spec.containers", kind: "Required" }]
 *          which invalid() renders as `Pod "x" is invalid: spec.containers: Required value`.
 */
import type { KubeObject, ResourceName } from "../../../controller/kube/api";
import type { FieldError } from "./errors";
import { deepEqual, isMap } from "./patch";
import { matchesLabelSelector, matchesMapSelector } from "./selectors";

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped JSON; every access is checked here
type Any = any;

const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const MSG_DNS1123_LABEL =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and " +
  "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
export const MSG_DNS1123_SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must " +
  "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
export const MSG_DNS1035_LABEL =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic " +
  "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for " +
  "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const MSG_QUALIFIED_NAME_PART =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
  "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const MSG_QUALIFIED_NAME =
  "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
  "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. " +
  "'example.com/MyName')";
export const MSG_LABEL_VALUE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must " +
  "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used " +
  "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const MSG_PORT_RANGE = "must be between 1 and 65535, inclusive";
const MSG_CIDR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
const MSG_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
export const PROTOCOLS = ["SCTP", "TCP", "UDP"];

const tooLong = (n: number) => `must be no more than ${n} characters`;

export function dns1123Label(v: string): string[] {
  const out: string[] = [];
  if (v.length > 63) out.push(tooLong(63));
  if (!DNS1123_LABEL_RE.test(v)) out.push(MSG_DNS1123_LABEL);
  return out;
}

export function dns1123Subdomain(v: string): string[] {
  const out: string[] = [];
  if (v.length > 253) out.push(tooLong(253));
  if (!DNS1123_SUBDOMAIN_RE.test(v)) out.push(MSG_DNS1123_SUBDOMAIN);
  return out;
}

export function dns1035Label(v: string): string[] {
  const out: string[] = [];
  if (v.length > 63) out.push(tooLong(63));
  if (!DNS1035_LABEL_RE.test(v)) out.push(MSG_DNS1035_LABEL);
  return out;
}

/** Label and annotation keys: `[prefix/]name` (IsQualifiedName). */
export function qualifiedName(v: string): string[] {
  const parts = v.split("/");
  let name: string;
  const out: string[] = [];
  if (parts.length === 1) name = parts[0];
  else if (parts.length === 2) {
    const [prefix] = parts;
    name = parts[1];
    if (prefix.length === 0) out.push("prefix part must be non-empty");
    else for (const m of dns1123Subdomain(prefix)) out.push(`prefix part ${m}`);
  } else return [MSG_QUALIFIED_NAME];
  if (name.length === 0) out.push("name part must be non-empty");
  else if (name.length > 63) out.push(`name part ${tooLong(63)}`);
  if (name.length > 0 && !QUALIFIED_NAME_RE.test(name)) out.push(MSG_QUALIFIED_NAME_PART);
  return out;
}

export function labelValue(v: string): string[] {
  const out: string[] = [];
  if (v.length > 63) out.push(tooLong(63));
  if (!LABEL_VALUE_RE.test(v)) out.push(MSG_LABEL_VALUE);
  return out;
}

/** IANA service names used as container port names and named targetPorts (IsValidPortName). */
export function portName(v: string): string[] {
  const out: string[] = [];
  if (v.length > 15) out.push(tooLong(15));
  if (!/^[-a-z0-9]+$/.test(v))
    out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!/[a-z]/.test(v)) out.push("must contain at least one letter (a-z)");
  if (v.includes("--")) out.push("must not contain consecutive hyphens");
  if (v.startsWith("-") || v.endsWith("-")) out.push("must not begin or end with a hyphen");
  return out;
}

export function portNumber(v: unknown): string[] {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? [] : [MSG_PORT_RANGE];
}

export function isIPv4(v: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
  return !!m && m.slice(1).every((x) => Number(x) <= 255 && (x === "0" || !x.startsWith("0")));
}

function isIPv6(v: string): boolean {
  return /^[0-9a-fA-F:.]+$/.test(v) && v.includes(":") && (v.match(/::/g) ?? []).length <= 1;
}

export function isIP(v: string): boolean {
  return isIPv4(v) || isIPv6(v);
}

export function isCIDR(v: string): boolean {
  const [ip, bits, extra] = v.split("/");
  if (extra !== undefined || bits === undefined || !/^\d+$/.test(bits)) return false;
  if (isIPv4(ip)) return Number(bits) <= 32;
  return isIPv6(ip) && Number(bits) <= 128;
}

const errs = {
  required: (path: string, detail?: string): FieldError => ({ path, kind: "Required", detail }),
  invalid: (path: string, value: unknown, detail: string): FieldError => ({
    path,
    kind: "Invalid",
    value,
    detail,
  }),
  notSupported: (path: string, value: unknown, supported: string[]): FieldError => ({
    path,
    kind: "NotSupported",
    value,
    supported,
  }),
  duplicate: (path: string, value: unknown): FieldError => ({ path, kind: "Duplicate", value }),
  forbidden: (path: string, detail: string): FieldError => ({ path, kind: "Forbidden", detail }),
};
export { errs as fieldErrors };

export function validateLabels(labels: unknown, path: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (!isMap(labels)) return [errs.invalid(path, labels, "must be a map of string keys to string values")];
  const out: FieldError[] = [];
  for (const [k, v] of Object.entries(labels)) {
    for (const m of qualifiedName(k)) out.push(errs.invalid(path, k, m));
    if (typeof v !== "string") out.push(errs.invalid(path, v, "label values must be strings"));
    else for (const m of labelValue(v)) out.push(errs.invalid(path, v, m));
  }
  return out;
}

const ANNOTATIONS_LIMIT = 256 * 1024;

function validateAnnotations(ann: unknown, path: string): FieldError[] {
  if (ann === undefined || ann === null) return [];
  if (!isMap(ann)) return [errs.invalid(path, ann, "must be a map of string keys to string values")];
  const out: FieldError[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(ann)) {
    for (const m of qualifiedName(k.toLowerCase())) out.push(errs.invalid(path, k, m));
    if (typeof v !== "string") out.push(errs.invalid(path, v, "annotation values must be strings"));
    size += k.length + String(v).length;
  }
  if (size > ANNOTATIONS_LIMIT) {
    out.push({ path, kind: "TooLong", detail: `must have at most ${ANNOTATIONS_LIMIT} bytes` });
  }
  return out;
}

function validateOwnerReferences(refs: unknown): FieldError[] {
  if (refs === undefined || refs === null) return [];
  const path = "metadata.ownerReferences";
  if (!Array.isArray(refs)) return [errs.invalid(path, refs, "must be a list of owner references")];
  const out: FieldError[] = [];
  for (const r of refs as Any[]) {
    if (!r?.apiVersion)
      out.push(errs.invalid(`${path}.apiVersion`, r?.apiVersion ?? "", "version must not be empty"));
    if (!r?.kind) out.push(errs.invalid(`${path}.kind`, r?.kind ?? "", "kind must not be empty"));
    if (!r?.name) out.push(errs.invalid(`${path}.name`, r?.name ?? "", "name must not be empty"));
    if (!r?.uid) out.push(errs.invalid(`${path}.uid`, r?.uid ?? "", "uid must not be empty"));
  }
  const controllers = (refs as Any[]).filter((r) => r?.controller === true);
  if (controllers.length > 1) {
    out.push(
      errs.invalid(
        path,
        "",
        `Only one reference can have Controller set to true. Found "true" in references for ${controllers.map((r) => `${r.kind}/${r.name}`).join(" and ")}`,
      ),
    );
  }
  return out;
}

/** Which name rule a kind's metadata.name follows. */
function nameRule(resource: ResourceName): (v: string) => string[] {
  if (resource === "namespaces") return dns1123Label;
  if (resource === "services") return dns1035Label;
  return dns1123Subdomain;
}

export function validateMetadata(resource: ResourceName, obj: KubeObject): FieldError[] {
  const md = obj.metadata ?? {};
  const out: FieldError[] = [];
  if (!md.name) out.push(errs.required("metadata.name", "name or generateName is required"));
  else if (typeof md.name !== "string") out.push(errs.invalid("metadata.name", md.name, "must be a string"));
  else for (const m of nameRule(resource)(md.name)) out.push(errs.invalid("metadata.name", md.name, m));
  out.push(...validateLabels(md.labels, "metadata.labels"));
  out.push(...validateAnnotations(md.annotations, "metadata.annotations"));
  out.push(...validateOwnerReferences(md.ownerReferences));
  const finalizers: unknown = md.finalizers;
  if (finalizers !== undefined && finalizers !== null) {
    if (!Array.isArray(finalizers))
      out.push(errs.invalid("metadata.finalizers", finalizers, "must be a list of names"));
    else {
      finalizers.forEach((f, i) => {
        for (const m of qualifiedName(String(f))) out.push(errs.invalid(`metadata.finalizers[${i}]`, f, m));
      });
    }
  }
  return out;
}

export function validateLabelSelector(sel: unknown, path: string): FieldError[] {
  if (sel === undefined || sel === null) return [];
  if (!isMap(sel)) return [errs.invalid(path, sel, "must be a label selector")];
  const out: FieldError[] = [];
  const exprs = (sel as Any).matchExpressions ?? [];
  (Array.isArray(exprs) ? exprs : []).forEach((e: Any, i: number) => {
    const p = `${path}.matchExpressions[${i}]`;
    const values = Array.isArray(e?.values) ? e.values : [];
    if (e?.operator === "In" || e?.operator === "NotIn") {
      if (values.length === 0)
        out.push(errs.required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (e?.operator === "Exists" || e?.operator === "DoesNotExist") {
      if (values.length > 0) {
        out.push(
          errs.forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
        );
      }
    } else out.push(errs.invalid(`${p}.operator`, e?.operator ?? "", "not a valid selector operator"));
    for (const m of qualifiedName(String(e?.key ?? ""))) out.push(errs.invalid(`${p}.key`, e?.key ?? "", m));
  });
  out.push(...validateLabels((sel as Any).matchLabels, `${path}.matchLabels`));
  return out;
}

// ---- pods ----

function validateContainers(list: unknown, path: string, names: Set<string>): FieldError[] {
  const out: FieldError[] = [];
  if (!Array.isArray(list)) return out;
  list.forEach((c: Any, i: number) => {
    const p = `${path}[${i}]`;
    if (!c?.name) out.push(errs.required(`${p}.name`));
    else {
      for (const m of dns1123Label(c.name)) out.push(errs.invalid(`${p}.name`, c.name, m));
      if (names.has(c.name)) out.push(errs.duplicate(`${p}.name`, c.name));
      names.add(c.name);
    }
    if (!c?.image) out.push(errs.required(`${p}.image`));
    const messagePolicies = ["File", "FallbackToLogsOnError"];
    if (c?.terminationMessagePolicy && !messagePolicies.includes(c.terminationMessagePolicy)) {
      out.push(
        errs.notSupported(`${p}.terminationMessagePolicy`, c.terminationMessagePolicy, messagePolicies),
      );
    }
    const portNames = new Set<string>();
    (Array.isArray(c?.ports) ? c.ports : []).forEach((port: Any, j: number) => {
      const pp = `${p}.ports[${j}]`;
      if (port?.name) {
        const msgs = portName(port.name);
        for (const m of msgs) out.push(errs.invalid(`${pp}.name`, port.name, m));
        if (msgs.length === 0 && portNames.has(port.name)) out.push(errs.duplicate(`${pp}.name`, port.name));
        portNames.add(port.name);
      }
      if (port?.containerPort === undefined || port.containerPort === 0)
        out.push(errs.required(`${pp}.containerPort`));
      else
        for (const m of portNumber(port.containerPort))
          out.push(errs.invalid(`${pp}.containerPort`, port.containerPort, m));
      if (port?.hostPort)
        for (const m of portNumber(port.hostPort)) out.push(errs.invalid(`${pp}.hostPort`, port.hostPort, m));
      if (!port?.protocol) out.push(errs.required(`${pp}.protocol`));
      else if (!PROTOCOLS.includes(port.protocol))
        out.push(errs.notSupported(`${pp}.protocol`, port.protocol, PROTOCOLS));
    });
    // the rest of validateContainerCommon's enums, in its order
    const pullPolicies = ["Always", "IfNotPresent", "Never"];
    if (c?.imagePullPolicy && !pullPolicies.includes(c.imagePullPolicy))
      out.push(errs.notSupported(`${p}.imagePullPolicy`, c.imagePullPolicy, pullPolicies));
  });
  return out;
}

export function validatePodSpec(
  input: unknown,
  path: string,
  restartPolicies = ["Always", "OnFailure", "Never"],
): FieldError[] {
  const out: FieldError[] = [];
  if (!isMap(input)) return [errs.required(path)];
  const spec = input as Any;
  const names = new Set<string>();
  if (!Array.isArray(spec.containers) || spec.containers.length === 0)
    out.push(errs.required(`${path}.containers`));
  else out.push(...validateContainers(spec.containers, `${path}.containers`, names));
  out.push(...validateContainers(spec.initContainers, `${path}.initContainers`, names));
  if (!restartPolicies.includes(spec.restartPolicy)) {
    out.push(errs.notSupported(`${path}.restartPolicy`, spec.restartPolicy ?? "", restartPolicies));
  }
  const dnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
  if (!dnsPolicies.includes(spec.dnsPolicy))
    out.push(errs.notSupported(`${path}.dnsPolicy`, spec.dnsPolicy ?? "", dnsPolicies));
  out.push(...validateLabels(spec.nodeSelector, `${path}.nodeSelector`));
  if (spec.nodeName)
    for (const m of dns1123Subdomain(spec.nodeName))
      out.push(errs.invalid(`${path}.nodeName`, spec.nodeName, m));
  return out;
}

function validatePodStatus(status: Any): FieldError[] {
  const out: FieldError[] = [];
  if (!isMap(status)) return out;
  const phases = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];
  if (status.phase !== undefined && !phases.includes(status.phase as string)) {
    out.push(errs.notSupported("status.phase", status.phase, phases));
  }
  for (const key of ["podIPs", "hostIPs"] as const) {
    const list = Array.isArray(status[key]) ? (status[key] as Any[]) : [];
    list.forEach((e, i) => {
      if (!isIP(String(e?.ip ?? ""))) out.push(errs.invalid(`status.${key}[${i}].ip`, e?.ip ?? "", MSG_IP));
    });
  }
  return out;
}

const POD_MUTABLE_MSG =
  "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`," +
  "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
  "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/** The parts of a pod spec an update may not touch: everything but images, deadline and tolerations. */
function podSpecFrozen(spec: Any): Any {
  const c = structuredClone(spec ?? {});
  for (const list of [c.containers, c.initContainers])
    if (Array.isArray(list)) for (const x of list) delete x.image;
  delete c.activeDeadlineSeconds;
  delete c.tolerations;
  return c;
}

// ---- services ----

function servicePortGo(p: Any): string {
  const tp = p.targetPort;
  const tpGo =
    typeof tp === "string"
      ? `intstr.IntOrString{Type:1, IntVal:0, StrVal:${JSON.stringify(tp)}}`
      : `intstr.IntOrString{Type:0, IntVal:${tp ?? 0}, StrVal:""}`;
  return (
    `core.ServicePort{Name:${JSON.stringify(p.name ?? "")}, Protocol:${JSON.stringify(p.protocol ?? "")}, ` +
    `AppProtocol:(*string)(nil), Port:${p.port}, TargetPort:${tpGo}, NodePort:${p.nodePort ?? 0}}`
  );
}

const SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

function validateServiceSpec(spec: Any): FieldError[] {
  const out: FieldError[] = [];
  if (!isMap(spec)) return [errs.required("spec")];
  const s = spec as Any;
  if (!SERVICE_TYPES.includes(s.type)) out.push(errs.notSupported("spec.type", s.type ?? "", SERVICE_TYPES));
  const headless = s.clusterIP === "None";
  const ports: Any[] = Array.isArray(s.ports) ? s.ports : [];
  if (s.type === "ExternalName") {
    if (!s.externalName) out.push(errs.required("spec.externalName"));
    else
      for (const m of dns1123Subdomain(s.externalName))
        out.push(errs.invalid("spec.externalName", s.externalName, m));
  } else if (ports.length === 0 && !headless) out.push(errs.required("spec.ports"));
  const names = new Set<string>();
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const path = `spec.ports[${i}]`;
    if (!p?.name) {
      if (ports.length > 1) out.push(errs.required(`${path}.name`));
    } else {
      for (const m of dns1123Label(p.name)) out.push(errs.invalid(`${path}.name`, p.name, m));
      if (names.has(p.name)) out.push(errs.duplicate(`${path}.name`, p.name));
      names.add(p.name);
    }
    for (const m of portNumber(p?.port)) out.push(errs.invalid(`${path}.port`, p?.port ?? 0, m));
    if (!PROTOCOLS.includes(p?.protocol))
      out.push(errs.notSupported(`${path}.protocol`, p?.protocol ?? "", PROTOCOLS));
    if (typeof p?.targetPort === "string") {
      for (const m of portName(p.targetPort)) out.push(errs.invalid(`${path}.targetPort`, p.targetPort, m));
    } else if (p?.targetPort !== undefined) {
      for (const m of portNumber(p.targetPort)) out.push(errs.invalid(`${path}.targetPort`, p.targetPort, m));
    }
    const key = `${p?.port}/${p?.protocol}`;
    if (seen.has(key)) out.push({ path, kind: "Duplicate", rawValue: servicePortGo(p) });
    seen.add(key);
    if (p?.nodePort !== undefined && p.nodePort !== 0) {
      if (s.type === "ClusterIP" || s.type === "ExternalName") {
        out.push(errs.forbidden(`${path}.nodePort`, `may not be used when \`type\` is '${s.type}'`));
      } else
        for (const m of portNumber(p.nodePort)) out.push(errs.invalid(`${path}.nodePort`, p.nodePort, m));
    }
  });
  out.push(...validateLabels(s.selector, "spec.selector"));
  (Array.isArray(s.externalIPs) ? s.externalIPs : []).forEach((ip: Any, i: number) => {
    if (!isIP(String(ip))) out.push(errs.invalid(`spec.externalIPs[${i}]`, ip, MSG_IP));
  });
  if (s.loadBalancerIP && !isIP(String(s.loadBalancerIP))) {
    out.push(errs.invalid("spec.loadBalancerIP", s.loadBalancerIP, MSG_IP));
  }
  if (!["ClientIP", "None"].includes(s.sessionAffinity)) {
    out.push(errs.notSupported("spec.sessionAffinity", s.sessionAffinity ?? "", ["ClientIP", "None"]));
  }
  const ips: Any[] = Array.isArray(s.clusterIPs) ? s.clusterIPs : [];
  ips.forEach((ip, i) => {
    if (ip === "None") {
      if (s.type !== "ClusterIP") {
        out.push(errs.invalid(`spec.clusterIPs[${i}]`, ip, "may only be set to 'None' for ClusterIP type"));
      }
    } else if (!isIP(String(ip))) out.push(errs.invalid(`spec.clusterIPs[${i}]`, ip, MSG_IP));
  });
  if (s.clusterIP !== undefined && ips.length > 0 && s.clusterIP !== ips[0]) {
    out.push(errs.invalid("spec.clusterIPs", ips, "element [0] must match clusterIP"));
  }
  return out;
}

// ---- network policies ----

function validateNetworkPolicyPort(port: Any, path: string): FieldError[] {
  const out: FieldError[] = [];
  if (port?.protocol !== undefined && !PROTOCOLS.includes(port.protocol)) {
    out.push(errs.notSupported(`${path}.protocol`, port.protocol, ["TCP", "UDP", "SCTP"]));
  }
  if (port?.port !== undefined) {
    if (typeof port.port === "number") {
      for (const m of portNumber(port.port)) out.push(errs.invalid(`${path}.port`, port.port, m));
      if (port.endPort !== undefined) {
        if (port.endPort < port.port)
          out.push(errs.invalid(`${path}.endPort`, port.port, "must be greater than or equal to `port`"));
        for (const m of portNumber(port.endPort)) out.push(errs.invalid(`${path}.endPort`, port.endPort, m));
      }
    } else {
      if (port.endPort !== undefined) {
        out.push(
          errs.invalid(`${path}.endPort`, port.endPort, "may not be specified when `port` is non-numeric"),
        );
      }
      for (const m of portName(String(port.port))) out.push(errs.invalid(`${path}.port`, port.port, m));
    }
  } else if (port?.endPort !== undefined) {
    out.push(
      errs.invalid(`${path}.endPort`, port.endPort, "may not be specified when `port` is not specified"),
    );
  }
  return out;
}

function cidrContains(outer: string, inner: string): boolean {
  const toNum = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const [oip, obits] = outer.split("/");
  const [iip, ibits] = inner.split("/");
  if (!isIPv4(oip) || !isIPv4(iip))
    return oip.includes(":") === iip.includes(":") && Number(ibits) > Number(obits);
  const size = 2 ** (32 - Number(obits));
  const base = Math.floor(toNum(oip) / size) * size;
  const v = toNum(iip);
  return v >= base && v < base + size && Number(ibits) > Number(obits);
}

function validatePeer(peer: Any, path: string): FieldError[] {
  const out: FieldError[] = [];
  let n = 0;
  if (peer?.podSelector !== undefined) {
    n++;
    out.push(...validateLabelSelector(peer.podSelector, `${path}.podSelector`));
  }
  if (peer?.namespaceSelector !== undefined) {
    n++;
    out.push(...validateLabelSelector(peer.namespaceSelector, `${path}.namespaceSelector`));
  }
  if (peer?.ipBlock !== undefined) {
    n++;
    const ipb = peer.ipBlock;
    if (!ipb?.cidr) out.push(errs.required(`${path}.ipBlock.cidr`));
    else if (!isCIDR(ipb.cidr)) out.push(errs.invalid(`${path}.ipBlock.cidr`, ipb.cidr, MSG_CIDR));
    else {
      (Array.isArray(ipb.except) ? ipb.except : []).forEach((ex: Any, i: number) => {
        const ep = `${path}.ipBlock.except[${i}]`;
        if (!isCIDR(String(ex))) out.push(errs.invalid(ep, ex, MSG_CIDR));
        else if (!cidrContains(ipb.cidr, ex))
          out.push(errs.invalid(ep, ex, "must be a strict subset of `cidr`"));
      });
    }
  }
  if (n === 0) out.push(errs.required(path, "must specify a peer"));
  else if (n > 1 && peer.ipBlock !== undefined)
    out.push(errs.forbidden(path, "may not specify both ipBlock and another peer"));
  return out;
}

function validateNetworkPolicySpec(spec: Any): FieldError[] {
  const out: FieldError[] = [];
  if (!isMap(spec)) return [errs.required("spec")];
  const s = spec as Any;
  out.push(...validateLabelSelector(s.podSelector, "spec.podSelector"));
  for (const dir of ["ingress", "egress"] as const) {
    const peersKey = dir === "ingress" ? "from" : "to";
    (Array.isArray(s[dir]) ? s[dir] : []).forEach((rule: Any, i: number) => {
      (Array.isArray(rule?.ports) ? rule.ports : []).forEach((p: Any, j: number) => {
        out.push(...validateNetworkPolicyPort(p, `spec.${dir}[${i}].ports[${j}]`));
      });
      (Array.isArray(rule?.[peersKey]) ? rule[peersKey] : []).forEach((peer: Any, j: number) => {
        out.push(...validatePeer(peer, `spec.${dir}[${i}].${peersKey}[${j}]`));
      });
    });
  }
  const types: Any[] = Array.isArray(s.policyTypes) ? s.policyTypes : [];
  if (types.length > 2) {
    out.push(errs.invalid("spec.policyTypes", types, "may not specify more than two policyTypes"));
    return out;
  }
  types.forEach((t, i) => {
    if (t !== "Ingress" && t !== "Egress")
      out.push(errs.notSupported(`spec.policyTypes[${i}]`, t, ["Ingress", "Egress"]));
  });
  return out;
}

// ---- workloads ----

function labelSelectorGo(sel: Any): string {
  const ml = Object.entries(sel?.matchLabels ?? {})
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join(", ");
  return `v1.LabelSelector{MatchLabels:map[string]string{${ml}}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`;
}

function validateWorkload(resource: ResourceName, spec: Any): FieldError[] {
  const out: FieldError[] = [];
  if (!isMap(spec)) return [errs.required("spec")];
  const s = spec as Any;
  if (typeof s.replicas === "number" && s.replicas < 0) {
    out.push(errs.invalid("spec.replicas", s.replicas, "must be greater than or equal to 0"));
  }
  const tplLabels = s.template?.metadata?.labels;
  if (resource === "replicationcontrollers") {
    if (!isMap(s.template)) return [...out, errs.required("spec.template")];
    if (!isMap(s.selector) || Object.keys(s.selector).length === 0) out.push(errs.required("spec.selector"));
    else {
      out.push(...validateLabels(s.selector, "spec.selector"));
      if (!matchesMapSelector(s.selector, tplLabels)) {
        out.push(
          errs.invalid(
            "spec.template.metadata.labels",
            tplLabels ?? {},
            "`selector` does not match template `labels`",
          ),
        );
      }
    }
  } else {
    if (!isMap(s.selector)) out.push(errs.required("spec.selector"));
    else {
      out.push(...validateLabelSelector(s.selector, "spec.selector"));
      const empty =
        Object.keys(s.selector.matchLabels ?? {}).length === 0 &&
        (s.selector.matchExpressions ?? []).length === 0;
      if (empty) {
        out.push({
          path: "spec.selector",
          kind: "Invalid",
          rawValue: labelSelectorGo(s.selector),
          detail: `empty selector is invalid for ${resource === "deployments" ? "deployment" : "replicaset"}`,
        });
      } else if (!matchesLabelSelector(s.selector, tplLabels)) {
        out.push(
          errs.invalid(
            "spec.template.metadata.labels",
            tplLabels ?? {},
            "`selector` does not match template `labels`",
          ),
        );
      }
    }
  }
  out.push(...validateLabels(tplLabels, "spec.template.metadata.labels"));
  // the pod spec's own rules, then the workload's: its pods must always restart
  out.push(...validatePodSpec(s.template?.spec, "spec.template.spec"));
  const restart = s.template?.spec?.restartPolicy;
  if (isMap(s.template?.spec) && restart !== "Always") {
    out.push(errs.notSupported("spec.template.spec.restartPolicy", restart ?? "", ["Always"]));
  }
  return out;
}

// ---- the rest ----

function validateEndpointSlice(obj: Any): FieldError[] {
  const out: FieldError[] = [];
  const types = ["IPv4", "IPv6", "FQDN"];
  if (!obj.addressType) out.push(errs.required("addressType"));
  else if (!types.includes(obj.addressType))
    out.push(errs.notSupported("addressType", obj.addressType, types));
  (Array.isArray(obj.endpoints) ? obj.endpoints : []).forEach((e: Any, i: number) => {
    const addrs: Any[] = Array.isArray(e?.addresses) ? e.addresses : [];
    if (addrs.length === 0)
      out.push(errs.required(`endpoints[${i}].addresses`, "must contain at least 1 address"));
    addrs.forEach((a, j) => {
      if (obj.addressType !== "FQDN" && !isIP(String(a)))
        out.push(errs.invalid(`endpoints[${i}].addresses[${j}]`, a, MSG_IP));
    });
  });
  (Array.isArray(obj.ports) ? obj.ports : []).forEach((p: Any, i: number) => {
    if (p?.port !== undefined)
      for (const m of portNumber(p.port)) out.push(errs.invalid(`ports[${i}].port`, p.port, m));
    if (p?.protocol !== undefined && !PROTOCOLS.includes(p.protocol)) {
      out.push(errs.notSupported(`ports[${i}].protocol`, p.protocol, PROTOCOLS));
    }
  });
  return out;
}

function validateEndpoints(obj: Any): FieldError[] {
  const out: FieldError[] = [];
  (Array.isArray(obj.subsets) ? obj.subsets : []).forEach((s: Any, i: number) => {
    for (const key of ["addresses", "notReadyAddresses"]) {
      (Array.isArray(s?.[key]) ? s[key] : []).forEach((a: Any, j: number) => {
        if (!isIP(String(a?.ip ?? "")))
          out.push(errs.invalid(`subsets[${i}].${key}[${j}].ip`, a?.ip ?? "", MSG_IP));
      });
    }
    (Array.isArray(s?.ports) ? s.ports : []).forEach((p: Any, j: number) => {
      for (const m of portNumber(p?.port))
        out.push(errs.invalid(`subsets[${i}].ports[${j}].port`, p?.port ?? 0, m));
    });
  });
  return out;
}

function validateIngress(spec: Any): FieldError[] {
  const out: FieldError[] = [];
  if (!isMap(spec)) return out;
  const s = spec as Any;
  (Array.isArray(s.rules) ? s.rules : []).forEach((r: Any, i: number) => {
    (Array.isArray(r?.http?.paths) ? r.http.paths : []).forEach((p: Any, j: number) => {
      const path = `spec.rules[${i}].http.paths[${j}]`;
      const types = ["Exact", "ImplementationSpecific", "Prefix"];
      if (!p?.pathType) out.push(errs.required(`${path}.pathType`, "pathType must be specified"));
      else if (!types.includes(p.pathType))
        out.push(errs.notSupported(`${path}.pathType`, p.pathType, types));
      if (!p?.backend?.service && !p?.backend?.resource)
        out.push(errs.invalid(`${path}.backend`, "", "must specify a backend"));
    });
  });
  if (!s.defaultBackend && !(Array.isArray(s.rules) && s.rules.length > 0)) {
    out.push(errs.invalid("spec", "", "either `defaultBackend` or `rules` must be specified"));
  }
  return out;
}

const RBAC_GROUP = "rbac.authorization.k8s.io";

/** rbac/validation ValidatePolicyRule, for each rule of a Role or ClusterRole. */
function validatePolicyRules(rules: Any, namespaced: boolean): FieldError[] {
  const out: FieldError[] = [];
  (Array.isArray(rules) ? rules : []).forEach((r: Any, i: number) => {
    const path = `rules[${i}]`;
    const len = (v: Any) => (Array.isArray(v) ? v.length : 0);
    if (len(r?.verbs) === 0)
      out.push(errs.required(`${path}.verbs`, "verbs must contain at least one value"));
    if (len(r?.nonResourceURLs) > 0) {
      // the server prints this list value as JSON (["/healthz"]), not as a Go literal
      const urls = (detail: string): FieldError => ({
        path: `${path}.nonResourceURLs`,
        kind: "Invalid",
        rawValue: JSON.stringify(r.nonResourceURLs),
        detail,
      });
      if (namespaced) out.push(urls("namespaced rules cannot apply to non-resource URLs"));
      if (len(r.apiGroups) > 0 || len(r.resources) > 0 || len(r.resourceNames) > 0)
        out.push(urls("rules cannot apply to both regular resources and non-resource URLs"));
      return;
    }
    if (len(r?.apiGroups) === 0)
      out.push(errs.required(`${path}.apiGroups`, "resource rules must supply at least one api group"));
    if (len(r?.resources) === 0)
      out.push(errs.required(`${path}.resources`, "resource rules must supply at least one resource"));
  });
  return out;
}

/** rbac/validation ValidateRoleBinding / ValidateClusterRoleBinding (after defaulting). */
function validateRoleBinding(obj: Any, namespaced: boolean): FieldError[] {
  const out: FieldError[] = [];
  const ref = isMap(obj.roleRef) ? (obj.roleRef as Any) : {};
  if (ref.apiGroup !== RBAC_GROUP)
    out.push(errs.notSupported("roleRef.apiGroup", ref.apiGroup ?? "", [RBAC_GROUP]));
  const kinds = namespaced ? ["Role", "ClusterRole"] : ["ClusterRole"];
  if (!kinds.includes(ref.kind)) out.push(errs.notSupported("roleRef.kind", ref.kind ?? "", kinds));
  if (!ref.name) out.push(errs.required("roleRef.name", ""));
  else if (ref.name === "." || ref.name === "..")
    out.push(errs.invalid("roleRef.name", ref.name, `may not be '${ref.name}'`));
  else
    for (const bad of ["/", "%"])
      if (String(ref.name).includes(bad))
        out.push(errs.invalid("roleRef.name", ref.name, `may not contain '${bad}'`));
  (Array.isArray(obj.subjects) ? obj.subjects : []).forEach((s: Any, i: number) => {
    const path = `subjects[${i}]`;
    if (!s?.name) out.push(errs.required(`${path}.name`, ""));
    switch (s?.kind) {
      case "ServiceAccount":
        if (s.name)
          for (const m of dns1123Subdomain(s.name)) out.push(errs.invalid(`${path}.name`, s.name, m));
        if (s.apiGroup) out.push(errs.notSupported(`${path}.apiGroup`, s.apiGroup, [""]));
        if (!namespaced && !s.namespace) out.push(errs.required(`${path}.namespace`, ""));
        break;
      case "User":
      case "Group":
        if (s.apiGroup !== RBAC_GROUP)
          out.push(errs.notSupported(`${path}.apiGroup`, s.apiGroup ?? "", [RBAC_GROUP]));
        break;
      default:
        out.push(errs.notSupported(`${path}.kind`, s?.kind ?? "", ["ServiceAccount", "User", "Group"]));
    }
  });
  return out;
}

/** Everything wrong with a (defaulted) object of the given resource, in the real API server's words. */
export function validateObject(resource: ResourceName, obj: KubeObject): FieldError[] {
  const out = validateMetadata(resource, obj);
  switch (resource) {
    case "pods":
      out.push(...validatePodSpec(obj.spec, "spec"), ...validatePodStatus(obj.status));
      break;
    case "services":
      out.push(...validateServiceSpec(obj.spec));
      break;
    case "networkpolicies":
      out.push(...validateNetworkPolicySpec(obj.spec));
      break;
    case "deployments":
    case "replicasets":
    case "replicationcontrollers":
      out.push(...validateWorkload(resource, obj.spec));
      break;
    case "endpointslices":
      out.push(...validateEndpointSlice(obj));
      break;
    case "endpoints":
      out.push(...validateEndpoints(obj));
      break;
    case "ingresses":
      out.push(...validateIngress(obj.spec));
      break;
    case "roles":
    case "clusterroles":
      out.push(...validatePolicyRules((obj as Any).rules, resource === "roles"));
      break;
    case "rolebindings":
    case "clusterrolebindings":
      out.push(...validateRoleBinding(obj, resource === "rolebindings"));
      break;
    default:
      break;
  }
  return out;
}

/** Fields an update may not change (checked in addition to validateObject on the new object). */
export function validateUpdate(resource: ResourceName, next: KubeObject, prev: KubeObject): FieldError[] {
  const out: FieldError[] = [];
  if (resource === "pods" && !deepEqual(podSpecFrozen(next.spec), podSpecFrozen(prev.spec))) {
    out.push(errs.forbidden("spec", POD_MUTABLE_MSG));
  }
  if (resource === "services") {
    const a = prev.spec?.clusterIPs ?? [];
    const b = next.spec?.clusterIPs ?? [];
    if (a.length > 0 && b.length > 0 && a[0] !== b[0] && prev.spec?.type !== "ExternalName") {
      out.push(errs.invalid("spec.clusterIPs[0]", b, "may not change once set"));
    }
  }
  if (
    (resource === "rolebindings" || resource === "clusterrolebindings") &&
    !deepEqual(next.roleRef, prev.roleRef)
  ) {
    const r = (next.roleRef ?? {}) as Any;
    out.push({
      path: "roleRef",
      kind: "Invalid",
      // the server prints the internal struct as JSON with Go field names
      rawValue: JSON.stringify({ APIGroup: r.apiGroup ?? "", Kind: r.kind ?? "", Name: r.name ?? "" }),
      detail: "cannot change roleRef",
    });
  }
  if (resource === "endpointslices" && next.addressType !== prev.addressType) {
    out.push(errs.invalid("addressType", next.addressType, "field is immutable"));
  }
  if (
    (resource === "deployments" || resource === "replicasets") &&
    !deepEqual(next.spec?.selector, prev.spec?.selector)
  ) {
    out.push({
      path: "spec.selector",
      kind: "Invalid",
      rawValue: labelSelectorGo(next.spec?.selector),
      detail: "field is immutable",
    });
  }
  return out;
}
