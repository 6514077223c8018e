/**
 * What the all-packets tests share: a small world with port-restricted NetworkPolicies (ranges, UDP, egress) and
 * a Service with a port mapping, and the ports to try around a set's intervals.
 */
import {
  mergeIntervals,
  PORT_MAX,
  PORT_MIN,
  type PortInterval,
} from "../../fake-vrouter/datapath/port-space";
import { startTestbed } from "../../testbed/env";
import { runScenario } from "../../testbed/runner/run";
import { why } from "../../testbed/runner/why";
import type { Scenario } from "../../testbed/scenario/types";

export const WORLD = (layout: string) => `name: reach-set
controller: { model: r5, netpolLayout: ${layout} }
nodes: [n1, n2]
steps:
  - apply: |
      apiVersion: v1
      kind: Namespace
      metadata: { name: shop }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: web, namespace: shop, labels: { app: web } }
      spec: { nodeName: n1, containers: [{ name: web, image: agnhost, ports: [{ containerPort: 8080 }, { containerPort: 9050 }, { containerPort: 53, protocol: UDP }] }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: client, namespace: shop, labels: { app: client } }
      spec: { nodeName: n2, containers: [{ name: c, image: agnhost, ports: [{ containerPort: 7000 }] }] }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: other, namespace: shop, labels: { app: other } }
      spec: { nodeName: n1, containers: [{ name: c, image: agnhost }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: shop }
      spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }, { name: dns, port: 53, protocol: UDP, targetPort: 53 }] }
      ---
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: web, namespace: shop }
      spec:
        podSelector: { matchLabels: { app: web } }
        policyTypes: [Ingress]
        ingress:
          - from: [{ podSelector: { matchLabels: { app: client } } }]
            ports: [{ port: 8080 }, { port: 9000, endPort: 9100 }, { port: 53, protocol: UDP }]
      ---
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: { name: client-egress, namespace: shop }
      spec:
        podSelector: { matchLabels: { app: client } }
        policyTypes: [Egress]
        egress:
          - ports: [{ port: 8000, endPort: 9060 }, { port: 53, protocol: UDP }, { port: 80 }]
  - pods: [{ namespace: shop, count: 3, phase: Running }]
`;

export /** Ports to try for a set: both ends and a point inside every interval, and of every gap between them. */
function sample(set: PortInterval[]): number[] {
  const out = new Set<number>();
  const gaps: PortInterval[] = [];
  let next = PORT_MIN;
  for (const i of mergeIntervals(set)) {
    if (i.lo > next) gaps.push({ lo: next, hi: i.lo - 1 });
    next = i.hi + 1;
  }
  if (next <= PORT_MAX) gaps.push({ lo: next, hi: PORT_MAX });
  for (const i of [...set, ...gaps]) {
    out.add(i.lo);
    out.add(i.hi);
    out.add(i.lo + Math.floor(Math.random() * (i.hi - i.lo + 1)));
  }
  return [...out];
}

/** The scenario run to its end in a testbed of its own (sim, embedded): what `ctb why` copies. */
export async function up(scenario: Scenario) {
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  await runScenario(scenario, tb, { allowNoExpectations: true });
  return tb;
}

/** `why` asked of the scenario's world, its candidates tried in copies of it. */
export async function ask(scenario: Scenario, flow: Parameters<typeof why>[2]) {
  const tb = await up(scenario);
  try {
    return await why(tb, () => up(scenario), flow);
  } finally {
    await tb.close();
  }
}
