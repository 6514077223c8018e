/**
 * A matrix step at scale: every cell is decided by the datapath's dry run (`Testbed.reach`) when it has one,
 * packets (with their trace) are sent only for the cells the report explains — the first EXPLAINED_CELLS
 * divergences and every divergence the step lists with a rule — and the rest are counted and marked, so a
 * 1,000-pod matrix neither sends a million traced packets nor prints a quarter of a million explanations.
 * Where the dry run and the packet disagree, the packet's verdict stands.
 */
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../controller/kube/api";
import { createEmbeddedCluster } from "../../testbed/cluster/embedded/index";
import { checkMatrix, EXPLAINED_CELLS } from "../../testbed/runner/matrix-check";
import type { ProbeRequest, ProbeResult, Testbed } from "../../testbed/runner/testbed";
import type { Step } from "../../testbed/scenario/types";

type MatrixStep = Extract<Step, { kind: "matrix" }>;

async function world(pods: number) {
  const kube = createEmbeddedCluster();
  await kube.create("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } });
  for (let i = 0; i < pods; i++) {
    const pod: KubeObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `p${String(i).padStart(2, "0")}`, namespace: "x" },
      spec: { nodeName: "n", containers: [{ name: "c", image: "i" }] },
    };
    await kube.create("pods", pod, "x");
    await kube.patchStatus("pods", pod.metadata.name!, "x", {
      status: { phase: "Running", podIP: `10.0.0.${i + 1}` },
    });
  }
  return kube;
}

/** A datapath that blocks everything (Kubernetes, with no policy, allows everything): every cell diverges. */
function blockingTestbed(kube: Testbed["kube"], packetsAllow: (r: ProbeRequest) => boolean = () => false) {
  const probes: ProbeRequest[] = [];
  let dryRuns = 0;
  const tb: Testbed = {
    kube,
    vncUrl: "http://127.0.0.1:1",
    datapath: "sim",
    settle: async () => {},
    reach: () => {
      dryRuns++;
      return false;
    },
    probe: async (req): Promise<ProbeResult> => {
      probes.push(req);
      const ok = packetsAllow(req);
      return {
        sent: 1,
        received: ok ? 1 : 0,
        servedByCounts: {},
        refused: 0,
        trace: [],
        firewall: ok
          ? []
          : [{ where: "source", compute: "n", action: "deny", policy: "fp", rule: "r-deny", sequence: "1" }],
      };
    },
    fabricHostIp: () => undefined,
    close: async () => {},
  };
  return { tb, probes, dryRuns: () => dryRuns };
}

const step = (divergences?: MatrixStep["divergences"]): MatrixStep => ({
  kind: "matrix",
  line: 1,
  index: 0,
  proto: "tcp",
  port: 80,
  via: "pod",
  ...(divergences ? { divergences } : {}),
});

describe("matrix step at scale", () => {
  it("decides every cell by dry run, explains the first divergences with packets and counts the rest", async () => {
    const kube = await world(12); // 132 cells, all diverging
    const { tb, probes, dryRuns } = blockingTestbed(kube);
    const r = await checkMatrix(tb, step(), { layout: "upstream", clusterName: "k8s", compare: false });
    expect(dryRuns()).toBe(132);
    expect(probes.length).toBe(EXPLAINED_CELLS);
    expect(r.verdict).toBe("fail");
    expect(r.output).toContain("132 cell(s) where Contrail (upstream layout) and Kubernetes disagree:");
    expect(r.output).toContain(`… and ${132 - EXPLAINED_CELLS} more (the table marks them with *`);
    // an explained divergence names the rule; the report is bounded too
    expect(r.output).toContain("firewall-rule r-deny");
    expect(r.detail?.split("\n").length).toBe(EXPLAINED_CELLS + 1);
    expect(r.detail).toContain(`… and ${132 - EXPLAINED_CELLS} more`);
    kube.close();
  });

  it("a listed divergence with a rule is always explained, and a packet that disagrees with the dry run wins", async () => {
    const kube = await world(12);
    const last = { from: "x/p11", to: "x/p10" };
    // packets get through to x/p00: those cells are no divergence after all
    const { tb, probes } = blockingTestbed(kube, (req) => req.toIp === "10.0.0.1");
    const r = await checkMatrix(tb, step({ upstream: [{ ...last, contrail: "deny", rule: "r-deny" }] }), {
      layout: "upstream",
      clusterName: "k8s",
      compare: false,
    });
    expect(probes.some((p) => p.from === last.from && p.toIp === "10.0.0.11")).toBe(true);
    expect(r.output).not.toContain("x/p11 → x/p10: Contrail denies, Kubernetes allows\n");
    // the 11 cells towards x/p00 that the packets allowed are not divergences
    expect(r.output).toMatch(/^(\d+) cell\(s\)/m);
    const n = Number(/(\d+) cell\(s\)/.exec(r.output!)![1]);
    expect(n).toBeLessThan(132);
    kube.close();
  });
});
