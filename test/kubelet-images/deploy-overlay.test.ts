/**
 * deploy/overlays/kubelet with a run's values, rendered by the real kubectl: deploy/'s vrouter agent DaemonSet
 * with only the documented differences (port API on the node's address, the config API reached directly,
 * host paths under the run's directory, the Secret carrying the testbed API's password); everything else —
 * image, privilege, host network, tolerations, the init container — exactly as deploy/ has it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { defaultBinDir, missingBinaries } from "../../testbed/cluster/local";
import {
  agentKustomization,
  DeployError,
  renderAgents,
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
