/**
 * The real control plane built by build.sh: it starts, kubectl works against the kubeconfig it writes, a Node
 * registered the way the node emulator does it (through controller/kube/http.ts) gets pods from the real scheduler, and once a pod reports an
 * IP and Ready the real controller-manager publishes it in the Service's EndpointSlice. Then the crash path:
 * everything is stopped from the pid files alone. Skipped (with the command to run) when nothing is built.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type LocalControlPlane,
  LocalControlPlaneError,
  defaultBinDir,
  missingBinaries,
  startLocalControlPlane,
  stopFromPidFiles,
} from "../../testbed/cluster/local";
import type { KubeObject } from "../../controller/kube/api";
import { HttpKubeApi } from "../../controller/kube/http";
import { eventually, kubectl, kubectlResult } from "./kubectl";
import { requireTier } from "../support/tiers";

const missing = missingBinaries(defaultBinDir(), true);
// CI builds the binaries first and sets CTB_REQUIRE_K8S=1, so a failed build cannot pass as a skip.
requireTier(
  "K8S",
  missing.length === 0,
  `${missing.join(", ")} not built in ${defaultBinDir()}: run \`bash testbed/cluster/local/build.sh\``,
);

const NODE = "ctb-node-1";
const DEPLOY = join(import.meta.dirname, "..", "..", "deploy");
const POD_IP = "10.32.0.5";

describe.skipIf(missing.length > 0)(
  "local control plane (real etcd, apiserver, controller-manager, scheduler)",
  () => {
    const workDir = mkdtempSync(join(tmpdir(), "ctb-local-"));
    let cp: LocalControlPlane;
    let api: HttpKubeApi;
    const k = (args: string[], input?: string) => kubectl(cp.kubeconfigPath, args, input);
    const json = async (args: string[]) => JSON.parse(await k([...args, "-o", "json"]));
    const now = () => new Date().toISOString();

    beforeAll(async () => {
      cp = await startLocalControlPlane({ workDir });
    }, 180_000);

    afterAll(async () => {
      // Normally already stopped by the last test; this catches a failure half-way.
      if (cp) await stopFromPidFiles(workDir);
      rmSync(workDir, { recursive: true, force: true });
    }, 60_000);

    it("writes a kubeconfig that kubectl uses to list the system namespaces", async () => {
      expect(cp.kubeconfigPath).toBe(join(workDir, "kubeconfig"));
      expect(cp.apiServerUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const names = (await k(["get", "ns", "-o", "name"])).trim().split("\n");
      expect(names).toEqual(
        expect.arrayContaining(["namespace/default", "namespace/kube-system", "namespace/kube-node-lease"]),
      );
      for (const c of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
        expect(existsSync(join(workDir, "logs", `${c}.log`))).toBe(true);
        expect(Number(readFileSync(join(workDir, "pids", `${c}.pid`), "utf8"))).toBeOneOf(cp.pids);
      }
    });

    it("refuses a second control plane in the same work dir while this one runs", async () => {
      const err = await startLocalControlPlane({ workDir }).catch((e) => e);
      expect(err).toBeInstanceOf(LocalControlPlaneError);
      expect(err.message).toMatch(/still running/);
    });

    it("accepts a Node the way a kubelet registers it, and renews its Lease (through HttpKubeApi)", async () => {
      api = HttpKubeApi.fromKubeconfig(cp.kubeconfigPath);
      await api.create("nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: NODE, labels: { "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux" } },
      });
      await api.patchStatus("nodes", NODE, undefined, {
        status: {
          capacity: { cpu: "4", memory: "8Gi", pods: "110" },
          allocatable: { cpu: "4", memory: "8Gi", pods: "110" },
          addresses: [{ type: "InternalIP", address: "192.0.2.11" }],
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "KubeletReady",
              lastHeartbeatTime: now(),
              lastTransitionTime: now(),
            },
          ],
        },
      });
      const created = await api.create(
        "leases",
        {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: NODE, namespace: "kube-node-lease" },
          spec: {
            holderIdentity: NODE,
            leaseDurationSeconds: 40,
            renewTime: microTime(new Date(Date.now() - 5000)),
          },
        },
        "kube-node-lease",
      );
      const renewTime = microTime(new Date());
      const renewed = await api.patch("leases", NODE, "kube-node-lease", { spec: { renewTime } });
      expect(renewed.spec.renewTime).toBe(renewTime);
      expect(renewed.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
      // kubectl sees the same Node, Ready.
      const node = await json(["get", "node", NODE]);
      expect(node.status.conditions.find((c: { type: string }) => c.type === "Ready").status).toBe("True");
    });

    it("schedules a pod onto the Node with the real scheduler (seen through a watch)", async () => {
      const { resourceVersion } = await api.list("pods", { namespace: "default" });
      const bound = new Promise<string>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error("no binding seen within 60 s")), 60_000);
        void api
          .watch(
            "pods",
            { namespace: "default", resourceVersion },
            (ev) => {
              if (ev.object.metadata.name === "web" && ev.object.spec?.nodeName) {
                clearTimeout(timer);
                ok(ev.object.spec.nodeName);
              }
            },
            (err) => err && fail(err),
          )
          // The outcome is awaited below; this only ends the watch once it is known.
          .then((w) => {
            const end = () => w.stop();
            bound.then(end, end);
          }, fail);
      });
      await api.create(
        "pods",
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "web", namespace: "default", labels: { app: "web" } },
          spec: {
            containers: [{ name: "web", image: "example.invalid/web:1", ports: [{ containerPort: 80 }] }],
          },
        },
        "default",
      );
      expect(await bound).toBe(NODE);
      const events = await k([
        "-n",
        "default",
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
      ]);
      expect(events).toMatch(/Scheduled/);
    });

    it("publishes a Ready pod in its Service's EndpointSlice through the real controller-manager", async () => {
      const svc = await api.create(
        "services",
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "web", namespace: "default" },
          spec: { selector: { app: "web" }, ports: [{ name: "http", port: 8080, targetPort: 80 }] },
        },
        "default",
      );
      expect(svc.spec.clusterIP).toMatch(/^10\.(9[6-9]|10[0-9]|11[01])\./); // inside 10.96.0.0/12
      await api.patchStatus("pods", "web", "default", {
        status: {
          phase: "Running",
          hostIP: "192.0.2.11",
          podIP: POD_IP,
          podIPs: [{ ip: POD_IP }],
          startTime: now(),
          conditions: [
            { type: "PodScheduled", status: "True", lastTransitionTime: now() },
            { type: "Initialized", status: "True", lastTransitionTime: now() },
            { type: "ContainersReady", status: "True", lastTransitionTime: now() },
            { type: "Ready", status: "True", lastTransitionTime: now() },
          ],
        },
      });
      const endpoint = await eventually("an EndpointSlice with the pod's address", async () => {
        const slices = await api.list("endpointslices", {
          namespace: "default",
          labelSelector: "kubernetes.io/service-name=web",
        });
        for (const s of slices.items as KubeObject[]) {
          const ep = (s.endpoints ?? []).find((e: { addresses: string[] }) => e.addresses.includes(POD_IP));
          if (ep) return { ep, ports: s.ports };
        }
        return undefined;
      });
      expect(endpoint.ep.conditions.ready).toBe(true);
      expect(endpoint.ep.nodeName).toBe(NODE);
      expect(endpoint.ep.targetRef).toMatchObject({ kind: "Pod", name: "web" });
      expect(endpoint.ports).toEqual([{ name: "http", port: 80, protocol: "TCP" }]);
    });

    it("accepts every manifest in deploy/ (kubectl apply --dry-run=server)", async () => {
      // Server-side dry run does not create the namespace, so the namespaced objects need it for real.
      await k(["apply", "-f", join(DEPLOY, "00-namespace.yaml")]);
      const out = await k(["apply", "--dry-run=server", "-f", DEPLOY]);
      for (const obj of [
        "namespace/contrail",
        "serviceaccount/contrail-kube-manager",
        "clusterrole.rbac.authorization.k8s.io/contrail-kube-manager",
        "clusterrolebinding.rbac.authorization.k8s.io/contrail-kube-manager",
        "deployment.apps/contrail-api",
        "configmap/contrail-kubernetes-conf",
        "service/contrail-api",
        "deployment.apps/contrail-kube-manager",
        "daemonset.apps/contrail-vrouter-agent",
      ]) {
        expect(out).toMatch(new RegExp(`^${obj.replaceAll(".", "\\.")} \\w+ \\(server dry run\\)$`, "m"));
      }
    });

    it("grants the controller's ServiceAccount what it reads and writes, and nothing more", async () => {
      await k(["apply", "-f", join(DEPLOY, "10-rbac.yaml")]);
      const can = async (verb: string, resource: string) => {
        const [res, sub] = resource.split("/");
        const r = await kubectlResult(cp.kubeconfigPath, [
          "auth",
          "can-i",
          verb,
          res,
          ...(sub ? [`--subresource=${sub}`] : []),
          "--as=system:serviceaccount:contrail:contrail-kube-manager",
          "-A",
        ]);
        return r.stdout.trim();
      };
      const allowed: [string, string][] = [
        ["watch", "pods"],
        ["list", "namespaces"],
        ["get", "nodes"],
        ["list", "endpoints"],
        ["watch", "endpointslices.discovery.k8s.io"],
        ["watch", "networkpolicies.networking.k8s.io"],
        ["list", "ingresses.networking.k8s.io"],
        ["patch", "pods"],
        ["update", "services/status"],
      ];
      const denied: [string, string][] = [
        ["create", "pods"],
        ["delete", "pods"],
        ["patch", "services"],
        ["patch", "pods/status"],
        ["get", "secrets"],
        ["update", "nodes"],
        ["create", "networkpolicies.networking.k8s.io"],
      ];
      for (const [verb, res] of allowed)
        expect(`${verb} ${res}: ${await can(verb, res)}`).toBe(`${verb} ${res}: yes`);
      for (const [verb, res] of denied)
        expect(`${verb} ${res}: ${await can(verb, res)}`).toBe(`${verb} ${res}: no`);
    });

    it("stops every component from the pid files alone (the `ctb down` path after a crash)", async () => {
      const stopped = await stopFromPidFiles(workDir);
      expect([...stopped].sort()).toEqual([...cp.pids].sort());
      for (const pid of cp.pids) expect(existsSync(`/proc/${pid}/cmdline`) && isRunning(pid)).toBe(false);
      expect(await stopFromPidFiles(workDir)).toEqual([]);
    }, 60_000);
  },
);

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe.skipIf(missing.length > 0)("local control plane: stop() and options", () => {
  const workDir = mkdtempSync(join(tmpdir(), "ctb-local-"));
  afterAll(async () => {
    await stopFromPidFiles(workDir);
    rmSync(workDir, { recursive: true, force: true });
  }, 60_000);

  it("uses the given service subnet and stop() ends exactly the processes it started", async () => {
    const cp = await startLocalControlPlane({ workDir, serviceSubnet: "10.100.0.0/16" });
    const svc = JSON.parse(
      await kubectl(cp.kubeconfigPath, ["-n", "default", "get", "svc", "kubernetes", "-o", "json"]),
    );
    expect(svc.spec.clusterIP).toBe("10.100.0.1");
    expect(cp.pids).toHaveLength(4);
    await cp.stop();
    for (const pid of cp.pids) expect(isRunning(pid)).toBe(false);
    expect(readdirSync(join(workDir, "pids"))).toEqual([]);
    // Logs stay for the post-mortem.
    expect(readFileSync(join(workDir, "logs", "kube-apiserver.log"), "utf8").length).toBeGreaterThan(0);
  }, 180_000);
});
