/**
 * The kind deployment files, checked without a cluster: kind-config.yaml matches the controller's subnets
 * and mounts existing files as single files on every node, the CNI config is one the plugin's own parser
 * accepts, and the CNI shim answers with a CNI error (not a crash) on a node where the agent is missing.
 * (The manifests themselves are validated by the real apiserver in control-plane.test.ts.)
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { decodeStdin, parseNetConf } from "../../cni/config";
import { parseConfig } from "../../controller/config";
import { DEFAULT_SERVICE_SUBNET } from "../../testbed/cluster/local";
import { ensureCniBundle } from "../../testbed/prereqs";

const ROOT = join(import.meta.dirname, "..", "..");
const DEPLOY = join(ROOT, "deploy");
const SHIM = join(DEPLOY, "contrail-k8s-cni");
const tmp = mkdtempSync(join(tmpdir(), "ctb-deploy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("kind-config.yaml", () => {
  const config = parseYaml(readFileSync(join(ROOT, "kind-config.yaml"), "utf8"));

  it("is a kind v1alpha4 cluster without the default CNI, on the controller's subnets", () => {
    expect(config.apiVersion).toBe("kind.x-k8s.io/v1alpha4");
    expect(config.kind).toBe("Cluster");
    expect(config.networking).toMatchObject({
      disableDefaultCNI: true,
      podSubnet: "10.32.0.0/12",
      serviceSubnet: DEFAULT_SERVICE_SUBNET,
    });
    expect(config.nodes.map((n: { role: string }) => n.role)).toEqual(["control-plane", "worker", "worker"]);
  });

  it("mounts the CNI entry and its config as single existing files into every node", () => {
    for (const node of config.nodes) {
      const mounts = Object.fromEntries(
        node.extraMounts.map((m: { hostPath: string; containerPath: string }) => [
          m.containerPath,
          m.hostPath,
        ]),
      );
      expect(Object.keys(mounts).sort()).toEqual([
        "/etc/cni/net.d/10-contrail.conf",
        "/opt/cni/bin/contrail-k8s-cni",
      ]);
      for (const hostPath of Object.values(mounts) as string[]) {
        expect(statSync(join(ROOT, hostPath)).isFile(), hostPath).toBe(true);
      }
    }
    expect(statSync(join(DEPLOY, "contrail-k8s-cni")).mode & 0o111).not.toBe(0);
  });
});

describe("deploy/10-contrail.conf", () => {
  it("is a network config the Contrail CNI plugin accepts as-is", () => {
    const conf = parseNetConf(decodeStdin(readFileSync(join(DEPLOY, "10-contrail.conf"), "utf8")), "ADD");
    expect(conf.type).toBe("contrail-k8s-cni");
    expect(conf.contrail).toMatchObject({ vrouterIp: "127.0.0.1", vrouterPort: 9091, clusterName: "k8s" });
  });
});

describe("deploy/contrail-k8s-cni (the shim on kind nodes)", () => {
  it("reports a retryable CNI error while the agent has not installed the runtime", () => {
    const r = spawnSync(SHIM, [], {
      encoding: "utf8",
      env: { CNI_COMMAND: "ADD", CONTRAIL_PREFIX: join(tmp, "nothing-here") },
    });
    expect(r.status).toBe(1);
    const err = JSON.parse(r.stdout);
    expect(err).toMatchObject({ code: 11, msg: expect.stringMatching(/not installed/) });
  });

  it("runs the bundled plugin where the init container installs it, outside the repository", () => {
    const bundle = join(ROOT, "dist", "contrail-k8s-cni.js");
    expect(ensureCniBundle()).toBeUndefined(); // builds it when missing or stale
    // The same two copies the DaemonSet's init container makes onto the node.
    const prefix = join(tmp, "opt-contrail");
    mkdirSync(join(prefix, "bin"), { recursive: true });
    mkdirSync(join(prefix, "cni"), { recursive: true });
    symlinkSync(process.execPath, join(prefix, "bin", "node"));
    copyFileSync(bundle, join(prefix, "cni", "contrail-k8s-cni.mjs"));
    const r = spawnSync(SHIM, [], {
      encoding: "utf8",
      input: JSON.stringify({ cniVersion: "1.0.0", name: "contrail-k8s-cni", type: "contrail-k8s-cni" }),
      env: { CNI_COMMAND: "VERSION", CONTRAIL_PREFIX: prefix },
    });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).supportedVersions).toEqual(expect.arrayContaining(["0.3.1", "1.0.0"]));
  });

  it("is valid POSIX sh", () => {
    expect(() => execFileSync("sh", ["-n", SHIM])).not.toThrow();
  });
});

describe("deploy/*.yaml", () => {
  const docs = readdirSync(DEPLOY)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(DEPLOY, f), "utf8")).map((d) => d.toJS()));

  it("runs one image, loaded by kind, never pulled", () => {
    const containers = docs
      .filter((d) => d.spec?.template?.spec)
      .flatMap((d) => [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers]);
    expect(containers.length).toBeGreaterThanOrEqual(4);
    for (const c of containers)
      expect([c.name, c.image, c.imagePullPolicy]).toEqual([
        c.name,
        "contrail-k8s-testbed:dev",
        "IfNotPresent",
      ]);
  });

  it("configures the controller with kind-config.yaml's subnets", () => {
    const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === "contrail-kubernetes-conf");
    const config = parseConfig(cm.data["contrail-kubernetes.conf"]);
    const kind = parseYaml(readFileSync(join(ROOT, "kind-config.yaml"), "utf8"));
    expect(config.podSubnets).toEqual([kind.networking.podSubnet]);
    expect(config.serviceSubnets).toEqual([kind.networking.serviceSubnet]);
  });

  it("runs the vrouter agent privileged on the host network of every node", () => {
    const ds = docs.find((d) => d.kind === "DaemonSet");
    expect(ds.spec.template.spec.hostNetwork).toBe(true);
    expect(ds.spec.template.spec.tolerations).toContainEqual({ operator: "Exists" });
    expect(ds.spec.template.spec.containers[0].securityContext.privileged).toBe(true);
  });

  it("does not serve the config API on the node's network without authentication", () => {
    const api = docs.find((d) => d.kind === "Deployment" && d.metadata.name === "contrail-api");
    const spec = api.spec.template.spec;
    const args: string[] = spec.containers[0].args;
    const flag = (name: string) => args[args.indexOf(name) + 1];
    // hostNetwork puts every listener on the node's addresses: then a mode that checks credentials is required
    if (spec.hostNetwork && flag("--host") !== "127.0.0.1") {
      expect(["cloud-admin", "rbac"]).toContain(flag("--aaa-mode"));
      expect(flag("--identity")).toBe("/etc/contrail-api/identity.yaml");
      expect(spec.volumes).toContainEqual(
        expect.objectContaining({ secret: expect.objectContaining({ secretName: "contrail-api-identity" }) }),
      );
    }
    // its clients reach it with the admin's credentials from the same Secret, never without
    for (const d of docs.filter((x) => x.spec?.template?.spec && x !== api)) {
      const c = d.spec.template.spec.containers[0];
      const url = (c.args as string[]).find((a) => a.includes("CONTRAIL_API_SERVICE_HOST"));
      if (!url) continue;
      expect([d.metadata.name, url]).toEqual([
        d.metadata.name,
        "http://admin:$(CONTRAIL_ADMIN_PASSWORD)@$(CONTRAIL_API_SERVICE_HOST):$(CONTRAIL_API_SERVICE_PORT_ADMIN)",
      ]);
      expect(c.env).toContainEqual({
        name: "CONTRAIL_ADMIN_PASSWORD",
        valueFrom: { secretKeyRef: { name: "contrail-api-identity", key: "admin-password" } },
      });
    }
    // kind-up.sh makes the Secret with a random password; none is in the repository
    expect(readFileSync(join(DEPLOY, "kind-up.sh"), "utf8")).toContain(
      "create secret generic contrail-api-identity",
    );
    expect(docs.some((d) => d.kind === "Secret")).toBe(false);
  });
});
