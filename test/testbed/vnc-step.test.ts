/**
 * The Contrail side of a run on the embedded testbed: `vnc` steps change config objects through the config
 * API (the API's refusals are the step's error at the entry's line), and `contrail` expectations find objects
 * by the Kubernetes object they stand for (`of:`) and check refs by fq_name glob.
 */
import { describe, expect, it } from "vitest";
import { startTestbed } from "../../testbed/env";
import { type RunReport, runScenario } from "../../testbed/runner/run";
import { fqGlobMatch, ownedBy } from "../../testbed/runner/vnc";
import { parseScenario } from "../../testbed/scenario/load";

async function run(text: string): Promise<RunReport> {
  const scenario = parseScenario(text, "t.yaml");
  const tb = await startTestbed(scenario, { datapath: "sim", cluster: { kind: "embedded" } });
  try {
    return await runScenario(scenario, tb);
  } finally {
    await tb.close();
  }
}

const verdicts = (r: RunReport) => r.checks.map((c) => `${c.line} ${c.verdict} ${c.name}`);

describe("vnc steps", () => {
  it("create, update and delete objects with refs by fq_name; expectations see each change", async () => {
    const r = await run(`name: vnc
steps:
  - vnc:
      - create: { type: project, fqName: default-domain:ops }
      - create: { type: tag, parent: default-domain:ops, name: "label=db", fields: { tag_type_name: label, tag_value: db } }
      - create:
          type: address-group
          parentType: project
          fqName: default-domain:ops:dbs
          fields: { address_group_prefix: { subnet: [{ ip_prefix: 10.9.0.0, ip_prefix_len: 16 }] } }
          refs: { tag: ["default-domain:ops:label=db"] }
      - create:
          type: virtual-network
          fqName: default-domain:ops:blue
          refs:
            network-ipam:
              - to: default-domain:default-project:default-network-ipam
                attr: { ipam_subnets: [{ subnet: { ip_prefix: 192.168.7.0, ip_prefix_len: 24 } }] }
  - contrail:
      - type: address-group
        fqName: default-domain:ops:dbs
        fields: { address_group_prefix: { subnet: [{ ip_prefix: 10.9.0.0, ip_prefix_len: 16 }] } }
        refs: { tag: "label=db" }
      - type: virtual-network
        fqName: default-domain:ops:blue
        fields: { network_ipam_refs: [{ attr: { ipam_subnets: [{ subnet: { ip_prefix: 192.168.7.0 } }] } }] }
        refs: { network_ipam: "default-domain:default-project:*" }
  - vnc:
      - update: { type: address-group, fqName: default-domain:ops:dbs, fields: { address_group_prefix: { subnet: [{ ip_prefix: 10.10.0.0, ip_prefix_len: 16 }] } }, refs: { tag: [] } }
      - delete: { type: virtual-network, fqName: default-domain:ops:blue }
  - contrail:
      - { type: address-group, fqName: default-domain:ops:dbs, fields: { address_group_prefix: { subnet: [{ ip_prefix: 10.10.0.0 }] } }, refs: { tag: [] } }
      - { type: virtual-network, fqName: default-domain:ops:blue, exists: false }
`);
    expect(verdicts(r)).toEqual([
      "19 pass address-group default-domain:ops:dbs exists",
      "19 pass virtual-network default-domain:ops:blue exists",
      "31 pass address-group default-domain:ops:dbs exists",
      "31 pass virtual-network default-domain:ops:blue does not exist",
    ]);
  });

  it("reports the config API's refusal (400, 404, 409) with its message at the entry's line, and goes on with the next step", async () => {
    const r = await run(`name: refused
steps:
  - vnc:
      - create: { type: project, fqName: default-domain:ops }
      - create: { type: project, fqName: default-domain:ops }
      - create: { type: project, fqName: default-domain:never }
  - vnc:
      - create:
          type: virtual-network
          fqName: default-domain:ops:blue
          refs: { network-ipam: [default-domain:ops:no-such-ipam] }
  - vnc:
      - create: { type: virtual-network, fqName: default-domain:ops:red, fields: { router_external: "yes" } }
  - vnc:
      - delete: { type: virtual-network, fqName: default-domain:ops:green }
  - vnc:
      - create: { type: floating-ip-pool, parent: default-domain:nowhere:vn, name: pool }
  - contrail:
      - { type: project, fqName: default-domain:ops }
      - { type: project, fqName: default-domain:never, exists: false }
`);
    const [dup, noRef, badValue, noObject, noParent, ...rest] = r.checks;
    expect(dup).toMatchObject({
      line: 5,
      step: 1,
      verdict: "error",
      name: "vnc create project default-domain:ops",
    });
    expect(dup!.detail).toMatch(/→ 409 .*already exists/);
    expect(noRef).toMatchObject({
      line: 8,
      verdict: "error",
      name: "vnc create virtual-network default-domain:ops:blue",
    });
    expect(noRef!.detail).toMatch(
      /ref: no network-ipam default-domain:ops:no-such-ipam \(config API: POST \/fqname-to-id → 404/,
    );
    expect(badValue).toMatchObject({ line: 13, verdict: "error" });
    expect(badValue!.detail).toMatch(/POST \/virtual-networks → 400 .*router_external/);
    expect(noObject).toMatchObject({
      line: 15,
      verdict: "error",
      name: "vnc delete virtual-network default-domain:ops:green",
    });
    expect(noObject!.detail).toMatch(/delete: no virtual-network default-domain:ops:green/);
    expect(noParent!.detail).toMatch(/→ 400 .*default-domain:nowhere:vn/);
    // the first refusal stopped its step: default-domain:never was not created
    expect(rest.map((c) => c.verdict)).toEqual(["pass", "pass"]);
  });
});

const APP = `
  - apply: |
      apiVersion: v1
      kind: Namespace
      metadata: { name: x }
      ---
      apiVersion: v1
      kind: Pod
      metadata: { name: a, namespace: x, labels: { app: a } }
      spec: { containers: [{ name: c, image: agnhost }] }
      ---
      apiVersion: v1
      kind: Service
      metadata: { name: s, namespace: x }
      spec: { selector: { app: a }, ports: [{ port: 80 }] }`;

describe("contrail expectations on the graph", () => {
  it("find the objects of a pod, a service and a namespace, and compare refs by glob", async () => {
    const r = await run(`name: graph
controller: { model: r5 }
steps:${APP}
  - contrail:
      - { type: virtual-machine-interface, of: pod x/a, count: 1, refs: { virtual_network: k8s-default-pod-network, virtual-machine: "*" } }
      - { type: virtual-machine, of: pod x/a, count: 1 }
      - { type: instance-ip, of: pod x/a, refs: { virtual-network: "default-domain:k8s-default:*-pod-network" } }
      - { type: loadbalancer, of: service x/s, count: 1, fields: { loadbalancer_provider: native } }
      - { type: virtual-machine-interface, of: service x/s, refs: { virtual-network: k8s-default-service-network } }
      - { type: project, of: namespace x, count: 1, fields: { fq_name: [default-domain, k8s-x] } }
      - { type: virtual-machine, of: pod x/gone, exists: false }
`);
    expect(verdicts(r)).toEqual([
      "18 pass virtual-machine-interface of pod x/a exists (count 1)",
      "18 pass virtual-machine of pod x/a exists (count 1)",
      "18 pass instance-ip of pod x/a exists",
      "18 pass loadbalancer of service x/s exists (count 1)",
      "18 pass virtual-machine-interface of service x/s exists",
      "18 pass project of namespace x exists (count 1)",
      "18 pass virtual-machine of pod x/gone does not exist",
    ]);
  });

  it("fails a ref that points elsewhere, naming the refs it found", async () => {
    const r = await run(`name: graph-fail
controller: { model: r5 }
steps:${APP}
  - contrail:
      - { type: virtual-machine-interface, of: pod x/a, refs: { virtual_network: k8s-x-pod-network } }
      - { type: virtual-machine-interface, of: pod x/a, refs: { security-group: [] } }
      - { type: virtual-machine-interface, of: pod x/b }
`);
    const [vn, sg, absent] = r.checks;
    expect(vn!.verdict).toBe("fail");
    expect(vn!.detail).toBe(
      'virtual_network_refs: no ref matches "k8s-x-pod-network" (refs: default-domain:k8s-default:k8s-default-pod-network)',
    );
    expect(sg!.verdict).toBe("fail");
    expect(sg!.detail).toMatch(/^security_group_refs: expected none, got default-domain:k8s-x:/);
    expect(absent).toMatchObject({ verdict: "fail", name: "virtual-machine-interface of pod x/b exists" });
    expect(absent!.detail).toMatch(
      /^not found; virtual-machine-interface objects present: .*default-domain:k8s-x:a__/,
    );
  });
});

describe("templates in vnc steps and contrail expectations", () => {
  it("fill the ip: and lb: templates; a Service without an external address is the check's error", async () => {
    const r = await run(`name: templates
controller: { model: r5 }
steps:${APP}
  - vnc:
      - create: { type: project, fqName: default-domain:ops }
      - create:
          type: address-group
          parentType: project
          fqName: default-domain:ops:pod-a
          fields: { address_group_prefix: { subnet: [{ ip_prefix: "\${ip:x/a}", ip_prefix_len: 32 }] } }
  - contrail:
      - { type: address-group, fqName: default-domain:ops:pod-a, fields: { address_group_prefix: { subnet: [{ ip_prefix: "\${ip:x/a}" }] } } }
      - { type: instance-ip, of: pod x/a, fields: { instance_ip_address: "\${ip:x/a}" } }
      - { type: floating-ip, of: service x/s, fields: { floating_ip_address: "\${lb:x/s}" } }
  - vnc:
      - create: { type: address-group, parentType: project, fqName: default-domain:ops:b, fields: { address_group_prefix: { subnet: [{ ip_prefix: "\${ip:x/b}", ip_prefix_len: 32 }] } } }
`);
    expect(r.checks.map((c) => [c.line, c.verdict])).toEqual([
      [25, "pass"],
      [25, "pass"],
      [25, "error"],
      [30, "error"],
    ]);
    expect(r.checks[2]!.detail).toBe(`\${lb:x/s}: service x/s has no load balancer address in its status`);
    expect(r.checks[3]).toMatchObject({
      name: "vnc create address-group default-domain:ops:b",
      detail: `\${ip:x/b}: no pod x/b`,
    });
  });
});

describe("what of: and refs: match", () => {
  const of = { kind: "Pod", namespace: "x", name: "a" } as const;
  const uid = "8c1e0f5a-6b7d-4e2f-9a3b-1c2d3e4f5a6b";
  it("an object of a pod: its owner annotations, or (the real kube-manager) the pod's uid as its uuid or a ref's", () => {
    const annotated = {
      annotations: {
        key_value_pair: [
          { key: "kind", value: "Pod" },
          { key: "namespace", value: "x" },
          { key: "name", value: "a" },
        ],
      },
    };
    expect(ownedBy(annotated, of)).toBe(true);
    expect(ownedBy(annotated, { ...of, namespace: "y" })).toBe(false);
    expect(ownedBy({ uuid: uid }, of, uid)).toBe(true); // the VM
    expect(ownedBy({ uuid: "other", virtual_machine_refs: [{ to: ["x"], uuid: uid }] }, of, uid)).toBe(true); // its VMI
    expect(ownedBy({ uuid: "other", virtual_machine_refs: [{ to: ["x"], uuid: "else" }] }, of, uid)).toBe(
      false,
    );
    expect(ownedBy({ uuid: uid }, of)).toBe(false); // the pod is gone: no uid to go by
  });
  it("a glob with ':' matches the whole fq_name, one without matches the last element", () => {
    const fq = ["default-domain", "k8s-x", "k8s-x-pod-network"];
    expect(fqGlobMatch(fq, "k8s-x-pod-network")).toBe(true);
    expect(fqGlobMatch(fq, "*-pod-network")).toBe(true);
    expect(fqGlobMatch(fq, "default-domain:*:k8s-x-pod-network")).toBe(true);
    expect(fqGlobMatch(fq, "default-domain:k8s-x")).toBe(false);
    expect(fqGlobMatch(fq, "k8s-x")).toBe(false);
    expect(fqGlobMatch(["a.b"], "a?b")).toBe(false); // only * is special
  });
});
