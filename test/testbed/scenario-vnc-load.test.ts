/**
 * Loading the Contrail side of scenarios: `vnc` steps (create/update/delete of config objects) and the graph
 * parts of `contrail` expectations (`of:`, `refs:`). A mistake is a `file:line` error before anything runs.
 */
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../testbed/scenario/load";
import { ScenarioError, type Step } from "../../testbed/scenario/types";

function errorOf(text: string, file = "s.yaml"): ScenarioError {
  try {
    parseScenario(text, file);
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error("expected a ScenarioError");
}

const stepOf = <K extends Step["kind"]>(text: string, kind: K): Extract<Step, { kind: K }> => {
  const step = parseScenario(text, "s.yaml").steps[0]!;
  expect(step.kind).toBe(kind);
  return step as Extract<Step, { kind: K }>;
};

describe("vnc steps", () => {
  it("normalises create, update and delete: fq_names, the parent type, refs by fq_name with attrs, each entry's line", () => {
    const step = stepOf(
      `name: x
steps:
  - vnc:
      - create: { type: project, fqName: default-domain:admin }
      - create:
          type: virtual-network
          fqName: [default-domain, admin, public]
          fields: { router_external: true }
          refs:
            network_ipam:
              - to: default-domain:default-project:default-network-ipam
                attr: { ipam_subnets: [{ subnet: { ip_prefix: 203.0.113.0, ip_prefix_len: 24 } }] }
      - create: { type: floating-ip-pool, parent: default-domain:admin:public, name: pool }
      - create: { type: address-group, parentType: project, fqName: default-domain:admin:ag, refs: { tag: [default-domain:admin:label=x, "label=y"] } }
      - update: { type: virtual-network, fqName: default-domain:admin:public, fields: { router_external: false } }
      - delete: { type: floating-ip-pool, fqName: default-domain:admin:public:pool }
`,
      "vnc",
    );
    expect(step.ops.map((o) => [o.op, o.type, o.fqName.join(":"), o.parentType, o.line])).toEqual([
      ["create", "project", "default-domain:admin", "domain", 4],
      ["create", "virtual-network", "default-domain:admin:public", "project", 5],
      ["create", "floating-ip-pool", "default-domain:admin:public:pool", "virtual-network", 13],
      ["create", "address-group", "default-domain:admin:ag", "project", 14],
      ["update", "virtual-network", "default-domain:admin:public", undefined, 15],
      ["delete", "floating-ip-pool", "default-domain:admin:public:pool", undefined, 16],
    ]);
    expect(step.ops[1]!.refs).toEqual({
      "network-ipam": [
        {
          to: ["default-domain", "default-project", "default-network-ipam"],
          attr: { ipam_subnets: [{ subnet: { ip_prefix: "203.0.113.0", ip_prefix_len: 24 } }] },
        },
      ],
    });
    expect(step.ops[3]!.refs.tag!.map((r) => r.to)).toEqual([
      ["default-domain", "admin", "label=x"],
      ["label=y"],
    ]);
  });

  it("takes one entry without a list, and a config-root tag with a one-element fq_name", () => {
    const step = stepOf(
      `name: x
steps:
  - vnc: { create: { type: tag, fqName: "app=web", fields: { tag_type_name: app, tag_value: web } } }
`,
      "vnc",
    );
    expect(step.ops).toEqual([
      {
        op: "create",
        type: "tag",
        fqName: ["app=web"],
        parentType: "config-root",
        fields: { tag_type_name: "app", tag_value: "web" },
        refs: {},
        line: 3,
      },
    ]);
  });

  const bad: [string, string, number, RegExp][] = [
    [
      "an unknown type",
      "      - create: { type: virtual-netwrok, fqName: a:b:c }",
      4,
      /^s\.yaml:4: vnc create: unknown Contrail type "virtual-netwrok" \(did you mean virtual-network\?\)$/,
    ],
    [
      "a property the type does not have",
      "      - create:\n          type: virtual-network\n          fqName: default-domain:admin:blue\n          fields: { router_externel: true }",
      7,
      /^s\.yaml:7: vnc create virtual-network default-domain:admin:blue: virtual-network has no property "router_externel"; did you mean router_external\?$/,
    ],
    [
      "a ref given as a field",
      "      - create: { type: virtual-network, fqName: d:p:blue, fields: { network_ipam_refs: [] } }",
      4,
      /has no property "network_ipam_refs"; refs go under refs: \(refs: \{network-ipam: \[<fq_name>\]\}\)/,
    ],
    [
      "a ref the type cannot hold",
      "      - create:\n          type: floating-ip-pool\n          fqName: d:p:vn:pool\n          refs: { virtual_network: d:p:vn }",
      7,
      /floating-ip-pool has no refs to virtual-network \(its refs: tag\)/,
    ],
    [
      "neither fqName nor parent",
      "      - create: { type: virtual-network, name: blue }",
      4,
      /vnc create virtual-network: needs fqName, or a parent for name "blue"/,
    ],
    [
      "fqName and name together",
      "      - create: { type: virtual-network, fqName: d:p:blue, name: blue }",
      4,
      /give either fqName, or parent and name, not both/,
    ],
    [
      "an ambiguous parent",
      "      - create: { type: address-group, fqName: default-domain:admin:ag }",
      4,
      /address-group can sit under project or policy-management: give parentType/,
    ],
    [
      "a parent type the type does not allow",
      "      - create:\n          type: virtual-network\n          fqName: d:p:blue\n          parentType: domain",
      7,
      /parentType domain is not a parent of virtual-network \(project\)/,
    ],
    [
      "an fq_name too short for the type",
      "      - create: { type: virtual-network, fqName: blue }",
      4,
      /virtual-network sits under project: its fq_name needs the parent's fq_name first/,
    ],
    [
      "a delete with fields",
      "      - delete: { type: virtual-network, fqName: d:p:blue, fields: { router_external: true } }",
      4,
      /a delete takes only type and fqName/,
    ],
    [
      "an update changing nothing",
      "      - update: { type: virtual-network, fqName: d:p:blue }",
      4,
      /an update needs fields or refs to change/,
    ],
    [
      "two operations in one entry",
      "      - { create: { type: project, fqName: d:a }, delete: { type: project, fqName: d:b } }",
      4,
      /steps\.0\.vnc\.0: each entry is exactly one of create, update or delete/,
    ],
    [
      "a property misspelt beyond recognition",
      "      - create: { type: floating-ip-pool, fqName: d:p:vn:pool, fields: { subnets: [] } }",
      4,
      /floating-ip-pool has no property "subnets"; floating-ip-pool has annotations, display_name, floating_ip_pool_subnets, id_perms, perms2$/,
    ],
    [
      "an unknown key in an entry",
      "      - create: { type: project, fqName: d:a, feilds: {} }",
      4,
      /unknown field "feilds"/,
    ],
  ];
  it.each(bad)("rejects %s at its line", (_what, entry, line, message) => {
    const e = errorOf(`name: x
steps:
  - vnc:
${entry}
`);
    expect(e.line).toBe(line);
    expect(e.message).toMatch(message);
  });
});

describe("contrail expectations on the graph", () => {
  it("reads of: as the Kubernetes object and refs: as globs per target type", () => {
    const step = stepOf(
      `name: x
steps:
  - contrail:
      - { type: virtual-machine-interface, of: pod x/a, refs: { virtual_network: k8s-x-pod-network, security-group_refs: [] } }
      - { type: loadbalancer, of: service x/s, fields: { loadbalancer_provider: native } }
      - { type: project, of: namespace x }
`,
      "contrail",
    );
    expect(step.expectations.map((e) => [e.of, e.refs])).toEqual([
      [
        { kind: "Pod", namespace: "x", name: "a" },
        { "virtual-network": ["k8s-x-pod-network"], "security-group": [] },
      ],
      [{ kind: "Service", namespace: "x", name: "s" }, undefined],
      [{ kind: "Namespace", name: "x" }, undefined],
    ]);
  });

  const bad: [string, string, number, RegExp][] = [
    [
      "an unknown kind in of",
      "{ type: virtual-machine, of: deployment x/a }",
      4,
      /steps\.0\.contrail\.0\.of: "deployment x\/a" must be pod <namespace>\/<name>, service <namespace>\/<name>, namespace <name> or node <name>$/,
    ],
    [
      "a pod without its namespace",
      "{ type: virtual-machine, of: pod a }",
      4,
      /of: "pod a": a pod is named <namespace>\/<name>/,
    ],
    [
      "a namespace with a slash",
      "{ type: project, of: namespace x/y }",
      4,
      /of: "namespace x\/y": a namespace is named by its name alone/,
    ],
    [
      "a ref the type cannot hold",
      "\n        type: virtual-machine-interface\n        refs: { loadbalancer: x }",
      6,
      /virtual-machine-interface has no refs to loadbalancer \(its refs: .*virtual-network/,
    ],
    [
      "a ref glob that is not a string",
      "{ type: virtual-machine-interface, refs: { virtual_network: 3 } }",
      4,
      /refs\.virtual_network/,
    ],
  ];
  it.each(bad)("rejects %s at its line", (_what, entry, line, message) => {
    const e = errorOf(`name: x
steps:
  - contrail:
      - ${entry}
`);
    expect(e.line).toBe(line);
    expect(e.message).toMatch(message);
  });
});
