/**
 * What a backend needs from the machine, checked before anything starts, so a user is told exactly what is
 * missing and how to get it instead of meeting a Pending pod or a half-started control plane.
 *
 *   netns datapath: root, iproute2 (`ip`), ping, libpcap with its Node addon, the CNI bundle
 *   local cluster:  the control-plane binaries built by testbed/cluster/local/build.sh
 *   kubeconfig:     the file exists
 *   kubelet nodes:  root, containerd, runc, the loopback CNI plugin, iptables, the kubelet binary, overlayfs,
 *                   cgroups (the nodes' images are built right after, before anything starts)
 *
 * The CNI bundle is the one thing built here on demand (esbuild, about a second): a checkout plus `npm ci`
 * is then enough, and a bundle older than its sources is never used.
 *
 * Example: `const missing = await missingPrerequisites({ datapath: "netns", cluster: { kind: "embedded" } })`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { EnvOptions } from "./env";

const REPO = join(import.meta.dirname, "..");
const CNI_BUNDLE = join(REPO, "dist/contrail-k8s-cni.js");

export class PrerequisiteError extends Error {
  override name = "PrerequisiteError";
  constructor(readonly missing: string[]) {
    super(
      `cannot start: ${missing.length === 1 ? missing[0] : `\n${missing.map((m) => `  - ${m}`).join("\n")}`}`,
    );
  }
}

/** Every missing prerequisite of `opts`, one line each, naming the fix; empty when all is there. */
export async function missingPrerequisites(
  opts: Pick<EnvOptions, "datapath" | "cluster" | "nodes">,
): Promise<string[]> {
  const missing: string[] = [];
  if (opts.nodes === "kubelet") {
    const { defaultBinDir } = await import("./cluster/local/index");
    const { kubeletNodesMissing } = await import("./cluster/kubelet/index");
    missing.push(...kubeletNodesMissing(defaultBinDir()));
  }
  if (opts.datapath === "netns") missing.push(...netnsMissing());
  if (opts.cluster.kind === "local") {
    const { defaultBinDir, missingBinaries } = await import("./cluster/local/index");
    const bins = missingBinaries(defaultBinDir());
    if (bins.length) {
      missing.push(
        `the local Kubernetes control plane is not built (${bins.join(", ")} missing in ${defaultBinDir()}): ` +
          "run `bash testbed/cluster/local/build.sh` (about 9 minutes the first time; `npm test` does it too)",
      );
    }
  }
  if (opts.cluster.kind === "kubeconfig" && !existsSync(opts.cluster.path)) {
    missing.push(`kubeconfig ${opts.cluster.path} does not exist`);
  }
  return missing;
}

/** Throws a PrerequisiteError listing everything missing (after building the CNI bundle if it is stale). */
export async function assertPrerequisites(
  opts: Pick<EnvOptions, "datapath" | "cluster" | "nodes">,
): Promise<void> {
  const missing = await missingPrerequisites(opts);
  if (missing.length) throw new PrerequisiteError(missing);
}

function netnsMissing(): string[] {
  const missing: string[] = [];
  const setup =
    "run `npm start` (as root; it installs the Debian packages and builds the addon) or `bash .ci/setup.sh --runtime`";
  if (process.getuid?.() !== 0)
    missing.push(
      "the netns datapath needs root (it creates network namespaces): run as root, or use --datapath sim",
    );
  if (!onPath("ip")) missing.push(`iproute2 (\`ip\`) is not installed: ${setup}`);
  if (!onPath("ping")) missing.push(`ping (iputils-ping) is not installed: ${setup}`);
  const havePcap = existsSync("/usr/include/pcap/pcap.h") || existsSync("/usr/include/pcap.h");
  const addon =
    existsSync(join(REPO, ".cache/cap-ndebug/build/Release/cap.node")) ||
    existsSync(join(REPO, "node_modules/cap/build/Release/cap.node"));
  if (!havePcap) missing.push(`libpcap (libpcap-dev) is not installed: ${setup}`);
  else if (!addon) missing.push(`the libpcap Node addon (cap) is not built: ${setup}`);
  const cni = ensureCniBundle();
  if (cni) missing.push(cni);
  return missing;
}

/** Builds dist/contrail-k8s-cni.js when it is missing or older than any CNI source; the problem, if any. */
export function ensureCniBundle(): string | undefined {
  if (existsSync(CNI_BUNDLE) && statSync(CNI_BUNDLE).mtimeMs >= newestSource(join(REPO, "cni")))
    return undefined;
  if (!existsSync(join(REPO, "node_modules/esbuild"))) {
    return "the CNI plugin is not built and esbuild is missing: run `npm ci`, then `npm run build`";
  }
  const r = spawnSync(process.execPath, [join(REPO, "build.mjs")], { cwd: REPO, encoding: "utf8" });
  if (r.status !== 0)
    return `building the CNI plugin failed (\`npm run build\`): ${(r.stderr || r.stdout || "").trim().split("\n")[0]}`;
  return undefined;
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(".ts"))
      newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => d && existsSync(join(d, cmd)));
}
