/**
 * deploy/'s vrouter agent DaemonSet on the testbed's real kubelet nodes: deploy/00-namespace.yaml and
 * deploy/40-vrouter-agent.yaml through the kustomize overlay deploy/overlays/kubelet, with this run's values
 * (the config API's address and admin password, the port API port, the run's directory for the host paths)
 * in a generated kustomization on top, rendered and applied with the kubectl the testbed builds. Each node's
 * agent then serves the CNI port API on `<node ip>:<port>`, the address the node's CNI conf names.
 *
 * Example:
 *   const agents = await deployAgents({ kubectl, kubeconfig, apiUrl, portApiPort: 9091, hostDir, nodes });
 *   agents.portApi("node-1") // → "http://10.84.31.11:9091"
 *   await agents.close();
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The overlays this module puts the run's values on: the agent DaemonSet alone, and all of deploy/. */
export const AGENT_OVERLAY = join(REPO, "deploy", "overlays", "kubelet");
export const STACK_OVERLAY = join(REPO, "deploy", "overlays", "kubelet-stack");
const NAMESPACE = "contrail";
const DAEMONSET = "contrail-vrouter-agent";

export class DeployError extends Error {
  override name = "DeployError";
}

export interface DeployAgentsOptions {
  /** The kubectl binary (the control plane's build) and an admin kubeconfig. */
  kubectl: string;
  kubeconfig: string;
  /** The config API the agents follow, as the testbed's components reach it (its admin URL, credentials in it). */
  apiUrl: string;
  /** The port API port on every node's address. */
  portApiPort: number;
  /** The run's directory for what the DaemonSet writes on the host (node runtime, CNI bundle, port files). */
  hostDir: string;
  nodes: { name: string; ip: string }[];
  readyTimeoutMs?: number;
  log?: (m: string) => void;
}

export interface DeployedAgents {
  /** The base URL of a node's agent port API. */
  portApi(node: string): string;
  /** Where the DaemonSet's init container installed the node runtime and the CNI bundle (deploy/contrail-k8s-cni's CONTRAIL_PREFIX). */
  cniPrefix: string;
  /** Deletes the DaemonSet and waits for its pods to go; removes hostDir. */
  close(): Promise<void>;
}

/** The generated kustomization: the overlay plus this run's values (pure; written by `deployAgents`). */
export function agentKustomization(o: Pick<DeployAgentsOptions, "apiUrl" | "portApiPort" | "hostDir">): {
  kustomization: Record<string, unknown>;
  password: string;
} {
  let api: URL;
  try {
    api = new URL(o.apiUrl);
  } catch {
    throw new DeployError(`config API URL "${o.apiUrl}" is not a URL`);
  }
  if (api.protocol !== "http:" || !api.port)
    throw new DeployError(`config API URL "${o.apiUrl}" must be http://[user:password@]host:port`);
  const user = decodeURIComponent(api.username || "admin");
  // no credentials: an API without authentication ignores the Basic header the agent sends
  const password = decodeURIComponent(api.password || "unused");
  const args = [
    "vrouter",
    "--api",
    `http://${encodeURIComponent(user)}:$(CONTRAIL_ADMIN_PASSWORD)@$(CONTRAIL_API_SERVICE_HOST):$(CONTRAIL_API_SERVICE_PORT_ADMIN)`,
    "--compute",
    "$(NODE_NAME)",
    "--port-api-port",
    String(o.portApiPort),
    "--host",
    "$(HOST_IP)",
  ];
  const patch = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: DAEMONSET, namespace: NAMESPACE },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: "agent",
              args,
              env: [
                { name: "CONTRAIL_API_SERVICE_HOST", value: api.hostname.replace(/^\[|\]$/g, "") },
                { name: "CONTRAIL_API_SERVICE_PORT_ADMIN", value: api.port },
              ],
            },
          ],
          volumes: [
            {
              name: "opt-contrail",
              hostPath: { path: join(o.hostDir, "opt", "contrail"), type: "DirectoryOrCreate" },
            },
            { name: "ports", hostPath: { path: join(o.hostDir, "ports"), type: "DirectoryOrCreate" } },
          ],
        },
      },
    },
  };
  return {
    password,
    kustomization: {
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      // kustomize takes a base only by a relative path
      resources: [relative(join(o.hostDir, "kustomize"), AGENT_OVERLAY)],
      // deploy/kind-up.sh makes this Secret with kubectl; here it carries the testbed API's admin password
      secretGenerator: [
        { name: "contrail-api-identity", namespace: NAMESPACE, envs: ["identity.env"], type: "Opaque" },
      ],
      generatorOptions: { disableNameSuffixHash: true },
      patches: [{ patch: stringify(patch) }],
    },
  };
}

function run(
  cmd: string,
  args: string[],
  input?: string,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolvePromise) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 120_000 }, (e, out, err) =>
      resolvePromise({
        code: e ? (typeof e.code === "number" ? e.code : 1) : 0,
        out,
        err: err || (e?.message ?? ""),
      }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Any HTTP answer from `url` (the port API is up), or false. */
function answers(url: string): Promise<boolean> {
  return new Promise((res) => {
    const req = request(`${url}/metrics`, { timeout: 1000 }, (r) => {
      r.resume();
      res(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => res(false));
    req.end();
  });
}

/**
 * The manifests deployAgents applies: the overlay with this run's values, as `kubectl kustomize` renders it
 * (the generated kustomization and the Secret's env file go under `<hostDir>/kustomize/`).
 */
export async function renderAgents(
  o: Pick<DeployAgentsOptions, "kubectl" | "apiUrl" | "portApiPort" | "hostDir">,
): Promise<string> {
  const { kustomization, password } = agentKustomization(o);
  const dir = join(o.hostDir, "kustomize");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "identity.env"), `admin-password=${password}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "kustomization.yaml"), stringify(kustomization));
  const rendered = await run(o.kubectl, ["kustomize", "--load-restrictor", "LoadRestrictionsNone", dir]);
  if (rendered.code !== 0) throw new DeployError(`kubectl kustomize ${dir}: ${rendered.err.trim()}`);
  return rendered.out;
}

/** Waiting reasons that do not go away by themselves. */
const STUCK = new Set([
  "CreateContainerError",
  "CreateContainerConfigError",
  "RunContainerError",
  "ErrImageNeverPull",
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CrashLoopBackOff",
]);

/** "<pod> <container>: <reason>: <message>" for every container stuck so (pure; `kubectl get pods -o json`). */
export function stuckContainers(podsJson: string): string[] {
  let items: { metadata: { name: string }; status?: Record<string, unknown> }[] = [];
  try {
    items = JSON.parse(podsJson).items ?? [];
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const p of items)
    for (const c of [
      ...((p.status?.initContainerStatuses ?? []) as unknown[]),
      ...((p.status?.containerStatuses ?? []) as unknown[]),
    ] as { name: string; state?: { waiting?: { reason?: string; message?: string } } }[]) {
      const w = c.state?.waiting;
      if (w?.reason && STUCK.has(w.reason))
        out.push(`${p.metadata.name} ${c.name}: ${w.reason}${w.message ? `: ${w.message}` : ""}`);
    }
  return out;
}

export async function deployAgents(o: DeployAgentsOptions): Promise<DeployedAgents> {
  const log = o.log ?? (() => {});
  const k = (args: string[], input?: string) =>
    run(o.kubectl, ["--kubeconfig", o.kubeconfig, ...args], input);
  const applied = await k(["apply", "-f", "-"], await renderAgents(o));
  if (applied.code !== 0) throw new DeployError(`applying deploy/'s agent DaemonSet: ${applied.err.trim()}`);
  log(`deploy: ${applied.out.trim().split("\n").join("; ")}`);

  const urls = new Map(o.nodes.map((n) => [n.name, `http://${n.ip}:${o.portApiPort}`]));
  const timeoutMs = o.readyTimeoutMs ?? 180_000;
  const deadline = Date.now() + timeoutMs;
  const waiting = new Set(o.nodes.map((n) => n.name));
  let lastLook = 0;
  try {
    while (waiting.size > 0) {
      for (const n of [...waiting]) if (await answers(urls.get(n)!)) waiting.delete(n);
      if (waiting.size === 0) break;
      if (Date.now() > deadline) {
        const pods = await k(["-n", NAMESPACE, "get", "pods", "-l", `app=${DAEMONSET}`, "-o", "wide"]);
        throw new DeployError(
          `the vrouter agent DaemonSet did not serve its port API on ${[...waiting].map((n) => urls.get(n)).join(", ")} ` +
            `within ${Math.round(timeoutMs / 1000)} s:\n${pods.out || pods.err}`,
        );
      }
      // a container the runtime will not start does not heal by waiting: say why at once
      if (Date.now() - lastLook > 3000) {
        lastLook = Date.now();
        const stuck = stuckContainers(
          (await k(["-n", NAMESPACE, "get", "pods", "-l", `app=${DAEMONSET}`, "-o", "json"])).out,
        );
        if (stuck.length)
          throw new DeployError(`the vrouter agent DaemonSet cannot run:\n${stuck.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    // an agent answers as soon as its container runs; kubelet reports the pod Running a moment later: deployed
    // means Kubernetes says so too (one pod per node, each Running)
    for (;;) {
      const listed = await k(["-n", NAMESPACE, "get", "pods", "-l", `app=${DAEMONSET}`, "-o", "json"]);
      const pods = (JSON.parse(listed.out || "{}").items ?? []) as { status?: { phase?: string } }[];
      if (pods.length === o.nodes.length && pods.every((p) => p.status?.phase === "Running")) break;
      if (Date.now() > deadline)
        throw new DeployError(
          `the vrouter agent DaemonSet's pods were not all Running within ${Math.round(timeoutMs / 1000)} s: ` +
            `${pods.map((p) => p.status?.phase ?? "?").join(", ") || "none"}`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (e) {
    // nothing half-deployed stays behind a failed start
    await k(["-n", NAMESPACE, "delete", "daemonset", DAEMONSET, "--wait=false"]);
    throw e;
  }
  return {
    portApi: (node) => {
      const u = urls.get(node);
      if (!u)
        throw new DeployError(`no node "${node}" among the agents' nodes (${[...urls.keys()].join(", ")})`);
      return u;
    },
    cniPrefix: join(o.hostDir, "opt", "contrail"),
    close: async () => {
      const del = await k([
        "-n",
        NAMESPACE,
        "delete",
        "daemonset",
        DAEMONSET,
        "--wait=true",
        "--timeout=90s",
      ]);
      if (del.code !== 0 && !/NotFound/.test(del.err))
        log(`deploy: deleting the agent DaemonSet: ${del.err.trim()}`);
      // its pods gone, nothing uses the host paths any more
      const pods = await k([
        "-n",
        NAMESPACE,
        "wait",
        "--for=delete",
        "pod",
        "-l",
        `app=${DAEMONSET}`,
        "--timeout=90s",
      ]);
      if (pods.code !== 0 && !/no matching resources/.test(pods.err))
        log(`deploy: agent pods: ${pods.err.trim()}`);
      rmSync(o.hostDir, { recursive: true, force: true });
    },
  };
}

export interface DeployStackOptions {
  kubectl: string;
  kubeconfig: string;
  /** kube-apiserver as the nodes reach it (the local control plane's https://127.0.0.1:<port>). */
  apiServerUrl: string;
  /** Ports on 127.0.0.1 for the config API (VNC, admin, keystone) and on each node's address for the port API. */
  ports: { vnc: number; admin: number; keystone: number; portApi: number };
  hostDir: string;
  nodes: { name: string; ip: string }[];
  readyTimeoutMs?: number;
  log?: (m: string) => void;
}

export interface DeployedStack {
  /** deploy/'s config API, admin port with the admin's credentials (as the testbed's components use theirs). */
  apiAdminUrl: string;
  portApi(node: string): string;
  /** Deletes what it applied (the namespace with everything in it, the cluster-wide RBAC) and hostDir. */
  close(): Promise<void>;
}

/** The generated kustomization for all of deploy/ with this run's values, and the files it reads (pure). */
export function stackKustomization(
  o: Pick<DeployStackOptions, "apiServerUrl" | "ports" | "hostDir">,
  password: string,
): { kustomization: Record<string, unknown>; files: Record<string, string> } {
  const apiServer = new URL(o.apiServerUrl);
  const { kustomization: agents } = agentKustomization({
    apiUrl: `http://admin:x@127.0.0.1:${o.ports.admin}`,
    portApiPort: o.ports.portApi,
    hostDir: o.hostDir,
  });
  const api = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "contrail-api", namespace: NAMESPACE },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: "api",
              args: [
                "api",
                "--host",
                "127.0.0.1",
                "--port",
                String(o.ports.vnc),
                "--aaa-mode",
                "cloud-admin",
                "--identity",
                "/etc/contrail-api/identity.yaml",
                "--keystone-port",
                String(o.ports.keystone),
                "--admin-port",
                String(o.ports.admin),
                "--db",
                "/var/lib/contrail-api/db.json",
              ],
            },
          ],
        },
      },
    },
  };
  // the container ports are a list merged by port number: replaced whole, names kept (the Service targets them);
  // kubelet probes a hostNetwork pod at the node's address, where this API does not listen: probe 127.0.0.1
  const apiPorts = [
    {
      op: "replace",
      path: "/spec/template/spec/containers/0/readinessProbe/tcpSocket",
      value: { host: "127.0.0.1", port: o.ports.vnc },
    },
    {
      op: "replace",
      path: "/spec/template/spec/containers/0/ports",
      value: [
        { name: "vnc", containerPort: o.ports.vnc },
        { name: "admin", containerPort: o.ports.admin },
        { name: "keystone", containerPort: o.ports.keystone },
      ],
    },
  ];
  const manager = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "contrail-kube-manager", namespace: NAMESPACE },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: "kube-manager",
              env: [
                { name: "KUBERNETES_SERVICE_HOST", value: apiServer.hostname },
                { name: "KUBERNETES_SERVICE_PORT", value: apiServer.port || "443" },
                { name: "CONTRAIL_API_SERVICE_HOST", value: "127.0.0.1" },
                { name: "CONTRAIL_API_SERVICE_PORT_ADMIN", value: String(o.ports.admin) },
              ],
            },
          ],
        },
      },
    },
  };
  return {
    files: {
      "identity.env": `admin-password=${password}\n`,
      // the users file deploy/kind-up.sh writes into the Secret
      "identity.yaml": `users:\n  admin: { password: "${password}", roles: { admin: [admin] } }\n`,
    },
    kustomization: {
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: [relative(join(o.hostDir, "kustomize"), STACK_OVERLAY)],
      secretGenerator: [
        {
          name: "contrail-api-identity",
          namespace: NAMESPACE,
          envs: ["identity.env"],
          files: ["identity.yaml"],
          type: "Opaque",
        },
      ],
      generatorOptions: { disableNameSuffixHash: true },
      patches: [
        ...(agents.patches as unknown[]),
        { patch: stringify(api) },
        { target: { kind: "Deployment", name: "contrail-api" }, patch: stringify(apiPorts) },
        { patch: stringify(manager) },
      ],
    },
  };
}

/** Waits until every URL answers HTTP, failing at once on a pod of the namespace that cannot start. */
async function waitServing(
  k: (args: string[]) => Promise<{ code: number; out: string; err: string }>,
  urls: string[],
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const waiting = new Set(urls);
  let lastLook = 0;
  while (waiting.size > 0) {
    for (const u of [...waiting]) if (await answers(u)) waiting.delete(u);
    if (waiting.size === 0) return;
    if (Date.now() > deadline) {
      const pods = await k(["-n", NAMESPACE, "get", "pods", "-o", "wide"]);
      throw new DeployError(
        `${what} did not answer on ${[...waiting].join(", ")} within ${Math.round(timeoutMs / 1000)} s:\n${pods.out || pods.err}`,
      );
    }
    if (Date.now() - lastLook > 3000) {
      lastLook = Date.now();
      const stuck = stuckContainers((await k(["-n", NAMESPACE, "get", "pods", "-o", "json"])).out);
      if (stuck.length) throw new DeployError(`${what} cannot run:\n${stuck.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * All of deploy/ on the testbed's real kubelet nodes (overlay deploy/overlays/kubelet-stack with this run's
 * ports and a fresh admin password): resolves once the config API and every node's agent answer.
 */
export async function deployStack(o: DeployStackOptions): Promise<DeployedStack> {
  const log = o.log ?? (() => {});
  const k = (args: string[], input?: string) =>
    run(o.kubectl, ["--kubeconfig", o.kubeconfig, ...args], input);
  const password = randomBytes(16).toString("hex");
  const { kustomization, files } = stackKustomization(o, password);
  const dir = join(o.hostDir, "kustomize");
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  writeFileSync(join(dir, "kustomization.yaml"), stringify(kustomization));
  const rendered = await run(o.kubectl, ["kustomize", "--load-restrictor", "LoadRestrictionsNone", dir]);
  if (rendered.code !== 0) throw new DeployError(`kubectl kustomize ${dir}: ${rendered.err.trim()}`);
  const applied = await k(["apply", "-f", "-"], rendered.out);
  if (applied.code !== 0) throw new DeployError(`applying deploy/: ${applied.err.trim()}`);
  log(`deploy: ${applied.out.trim().split("\n").join("; ")}`);
  const close = async () => {
    const del = await k(
      ["delete", "-f", "-", "--wait=true", "--timeout=120s", "--ignore-not-found"],
      rendered.out,
    );
    if (del.code !== 0) log(`deploy: deleting deploy/: ${del.err.trim()}`);
    rmSync(o.hostDir, { recursive: true, force: true });
  };
  const urls = new Map(o.nodes.map((n) => [n.name, `http://${n.ip}:${o.ports.portApi}`]));
  try {
    await waitServing(
      k,
      [`http://127.0.0.1:${o.ports.admin}`, ...urls.values()],
      o.readyTimeoutMs ?? 180_000,
      "deploy/'s config API and vrouter agents",
    );
  } catch (e) {
    await close();
    throw e;
  }
  return {
    apiAdminUrl: `http://admin:${password}@127.0.0.1:${o.ports.admin}`,
    portApi: (node) => {
      const u = urls.get(node);
      if (!u)
        throw new DeployError(`no node "${node}" among deploy/'s nodes (${[...urls.keys()].join(", ")})`);
      return u;
    },
    close,
  };
}
