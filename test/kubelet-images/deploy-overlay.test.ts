/**
 * deploy/overlays/kubelet with a run's values, rendered by the real kubectl: deploy/'s vrouter agent DaemonSet
 * with only the documented differences (port API on the node's address, the config API reached directly,
 * host paths under the run's directory, the Secret carrying the testbed API's password); everything else —
 * image, privilege, host network, tolerations, the init container — exactly as deploy/ has it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { defaultBinDir, missingBinaries } from "../../testbed/cluster/local";
import {
  agentKustomization,
  DeployError,
  renderAgents,
  stackKustomization,
  stuckContainers,
} from "../../testbed/cluster/kubelet/deploy";
import { requireTier } from "../support/tiers";

const ROOT = join(import.meta.dirname, "..", "..");
const missing = missingBinaries(defaultBinDir(), true);
const usable = requireTier(
  "K8S",
  missing.length === 0,
  `${missing.join(", ")} not built in ${defaultBinDir()}: run \`bash testbed/cluster/local/build.sh\``,
);
const tmp = mkdtempSync(join(tmpdir(), "ctb-overlay-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("agentKustomization", () => {
  it("refuses a config API URL it cannot point the agents at", () => {
    expect(() => agentKustomization({ apiUrl: "127.0.0.1:8095", portApiPort: 1, hostDir: tmp })).toThrow(
      DeployError,
    );
    expect(() => agentKustomization({ apiUrl: "https://a:b@h:1", portApiPort: 1, hostDir: tmp })).toThrow(
      /must be http:\/\/\[user:password@\]host:port/,
    );
  });
});

describe("stuckContainers", () => {
  it("names the containers the runtime will not start, with the runtime's words, and nothing else", () => {
    const pods = {
      items: [
        {
          metadata: { name: "agent-a" },
          status: {
            initContainerStatuses: [{ name: "install-cni-runtime", state: { terminated: { exitCode: 0 } } }],
            containerStatuses: [
              {
                name: "agent",
                state: {
                  waiting: {
                    reason: "CreateContainerError",
                    message: 'path "/var/run/netns" is mounted on "/" but it is not a shared mount',
                  },
                },
              },
            ],
          },
        },
        // still starting: not stuck
        {
          metadata: { name: "agent-b" },
          status: {
            containerStatuses: [{ name: "agent", state: { waiting: { reason: "ContainerCreating" } } }],
          },
        },
      ],
    };
    expect(stuckContainers(JSON.stringify(pods))).toEqual([
      'agent-a agent: CreateContainerError: path "/var/run/netns" is mounted on "/" but it is not a shared mount',
    ]);
    expect(stuckContainers("not json")).toEqual([]);
  });
});

describe.runIf(usable)("deploy/overlays/kubelet rendered for a run", async () => {
  const hostDir = join(tmp, "host");
  const docs = (
    await renderAgents({
      kubectl: join(defaultBinDir(), "kubectl"),
      apiUrl: "http://root%40ctb:p%3Ass@127.0.0.1:40123",
      portApiPort: 19091,
      hostDir,
    })
  )
    .split(/^---$/m)
    .map((d) => parse(d));
  const ds = docs.find((d) => d.kind === "DaemonSet");
  const base = parseAllDocuments(
    readFileSync(join(ROOT, "deploy", "40-vrouter-agent.yaml"), "utf8"),
  )[0]!.toJS();

  it("is deploy/'s namespace, the identity Secret and the agent DaemonSet", () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      "DaemonSet/contrail-vrouter-agent",
      "Namespace/contrail",
      "Secret/contrail-api-identity",
    ]);
    const secret = docs.find((d) => d.kind === "Secret");
    expect(secret.metadata.namespace).toBe("contrail");
    expect(Buffer.from(secret.data["admin-password"], "base64").toString()).toBe("p:ss");
  });

  it("keeps deploy/'s image, privilege, host network, tolerations, init container and mounts", () => {
    const spec = ds.spec.template.spec;
    const b = base.spec.template.spec;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.tolerations).toEqual(b.tolerations);
    expect(spec.initContainers).toEqual(b.initContainers);
    const [agent] = spec.containers;
    expect([agent.image, agent.imagePullPolicy]).toEqual([
      b.containers[0].image,
      b.containers[0].imagePullPolicy,
    ]);
    expect(agent.securityContext).toEqual({ privileged: true });
    // the one mount difference: no propagation for /var/run/netns (Bidirectional needs a shared / here)
    expect(agent.volumeMounts).toEqual(
      b.containers[0].volumeMounts.map((m: { mountPath: string }) =>
        m.mountPath === "/var/run/netns" ? { ...m, mountPropagation: "None" } : m,
      ),
    );
  });

  it("serves the port API on the node's own address and follows the run's config API", () => {
    const [agent] = ds.spec.template.spec.containers;
    expect(agent.args).toEqual([
      "vrouter",
      "--api",
      "http://root%40ctb:$(CONTRAIL_ADMIN_PASSWORD)@$(CONTRAIL_API_SERVICE_HOST):$(CONTRAIL_API_SERVICE_PORT_ADMIN)",
      "--compute",
      "$(NODE_NAME)",
      "--port-api-port",
      "19091",
      "--host",
      "$(HOST_IP)",
    ]);
    const env = Object.fromEntries(
      agent.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [
        e.name,
        e.value ?? e.valueFrom,
      ]),
    );
    expect(env).toEqual({
      HOST_IP: { fieldRef: { fieldPath: "status.hostIP" } },
      CONTRAIL_API_SERVICE_HOST: "127.0.0.1",
      CONTRAIL_API_SERVICE_PORT_ADMIN: "40123",
      NODE_NAME: { fieldRef: { fieldPath: "spec.nodeName" } },
      CONTRAIL_ADMIN_PASSWORD: { secretKeyRef: { name: "contrail-api-identity", key: "admin-password" } },
    });
  });

  it("writes on the host only under the run's directory (and the machine's /var/run/netns, as deploy/)", () => {
    const paths = Object.fromEntries(
      ds.spec.template.spec.volumes.map((v: { name: string; hostPath: { path: string } }) => [
        v.name,
        v.hostPath.path,
      ]),
    );
    expect(paths).toEqual({
      "opt-contrail": join(hostDir, "opt", "contrail"),
      ports: join(hostDir, "ports"),
      "var-run-netns": "/var/run/netns",
    });
  });
});

describe.runIf(usable)("deploy/overlays/kubelet-stack rendered for a run", () => {
  it("is all of deploy/, with the API on 127.0.0.1 and the controller reaching both APIs directly", async () => {
    const hostDir = join(tmp, "stack");
    const { kustomization, files } = stackKustomization(
      {
        apiServerUrl: "https://127.0.0.1:41234",
        ports: { vnc: 18082, admin: 18095, keystone: 15000, portApi: 19091 },
        hostDir,
      },
      "pw",
    );
    const dir = join(hostDir, "kustomize");
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, "kustomization.yaml"), stringify(kustomization));
    const out = execFileSync(
      join(defaultBinDir(), "kubectl"),
      ["kustomize", "--load-restrictor", "LoadRestrictionsNone", dir],
      { encoding: "utf8" },
    );
    const docs = out.split(/^---$/m).map((d) => parse(d));
    const names = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    // everything deploy/ applies on kind, plus the Secret kind-up.sh creates
    for (const f of readdirSync(join(ROOT, "deploy")).filter((x) => x.endsWith(".yaml")))
      for (const d of parseAllDocuments(readFileSync(join(ROOT, "deploy", f), "utf8")).map((x) => x.toJS()))
        expect(names).toContain(`${d.kind}/${d.metadata.name}`);
    expect(names).toContain("Secret/contrail-api-identity");

    const api = docs.find((d) => d.metadata.name === "contrail-api" && d.kind === "Deployment").spec.template
      .spec.containers[0];
    const flag = (n: string) => api.args[api.args.indexOf(n) + 1];
    expect([flag("--host"), flag("--port"), flag("--admin-port"), flag("--keystone-port")]).toEqual([
      "127.0.0.1",
      "18082",
      "18095",
      "15000",
    ]);
    expect(api.readinessProbe.tcpSocket).toEqual({ host: "127.0.0.1", port: 18082 });
    expect(
      api.ports.map((p: { name: string; containerPort: number }) => `${p.name}=${p.containerPort}`),
    ).toEqual(["vnc=18082", "admin=18095", "keystone=15000"]);

    const km = docs.find((d) => d.metadata.name === "contrail-kube-manager" && d.kind === "Deployment").spec
      .template.spec;
    const env = Object.fromEntries(
      km.containers[0].env
        .filter((e: { value?: string }) => e.value)
        .map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    expect(env).toEqual({
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: "41234",
      CONTRAIL_API_SERVICE_HOST: "127.0.0.1",
      CONTRAIL_API_SERVICE_PORT_ADMIN: "18095",
    });
    expect(
      km.volumes.find((v: { name: string }) => v.name === "kube-api-access").projected.sources,
    ).toContainEqual({
      serviceAccountToken: { path: "token", expirationSeconds: 3607 },
    });
    const secret = docs.find((d) => d.kind === "Secret");
    expect(Buffer.from(secret.data["identity.yaml"], "base64").toString()).toContain(
      'admin: { password: "pw"',
    );
  });
});
