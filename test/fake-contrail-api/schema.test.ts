/** The schema table: derived relations, naming, defaults, validation, and the exported TypeScript types. */
import { describe, expect, it } from "vitest";
import {
  BY_PLURAL,
  defaultFqName,
  type Resource,
  SCHEMA,
  type VirtualNetwork,
} from "../../fake-contrail-api/schema";
import { checkSpec } from "../../fake-contrail-api/schema-types";

describe("schema table", () => {
  it("derives children, back-ref and ref fields from parents and refs", () => {
    const vn = SCHEMA.get("virtual-network")!;
    expect(vn.childFields.get("routing_instances")).toBe("routing-instance");
    expect(vn.childFields.get("access_control_lists")).toBe("access-control-list");
    expect(vn.backRefFields.get("instance_ip_back_refs")).toBe("instance-ip");
    expect(vn.refFields.get("network_ipam_refs")).toBe("network-ipam");
    expect(vn.refFields.get("tag_refs")).toBe("tag");
    expect(SCHEMA.get("security-group")!.childFields.has("access_control_lists")).toBe(true);
    expect(SCHEMA.get("virtual-DNS")!.refFields.size).toBe(1);
  });

  it("uses the naive plurals of the real URLs", () => {
    expect(BY_PLURAL.get("network-policys")?.type).toBe("network-policy");
    expect(BY_PLURAL.get("virtual-DNSs")?.type).toBe("virtual-DNS");
    expect(BY_PLURAL.get("virtual-networks")?.type).toBe("virtual-network");
  });

  it("builds the client's default fq_names", () => {
    expect(defaultFqName("virtual-network", "red")).toEqual(["default-domain", "default-project", "red"]);
    expect(defaultFqName("global-vrouter-config", "g")).toEqual(["default-global-system-config", "g"]);
    expect(defaultFqName("virtual-machine", "vm")).toEqual(["vm"]);
    expect(defaultFqName("routing-instance", "ri")).toEqual([
      "default-domain",
      "default-project",
      "default-virtual-network",
      "ri",
    ]);
  });

  it("validates nested property values with a path in the reason", () => {
    const acl = SCHEMA.get("access-control-list")!.props.access_control_list_entries.spec;
    const ok = {
      dynamic: false,
      acl_rule: [
        {
          match_condition: {
            protocol: "tcp",
            src_address: { virtual_network: "default-domain:p:vn" },
            src_port: { start_port: 0, end_port: 65535 },
            dst_address: { subnet: { ip_prefix: "10.0.0.0", ip_prefix_len: 8 } },
            dst_port: { start_port: 80, end_port: 80 },
            ethertype: "IPv4",
          },
          action_list: { simple_action: "pass" },
          rule_uuid: "r1",
          direction: ">",
        },
      ],
    };
    expect(checkSpec(acl, ok, "acl")).toBeUndefined();
    const bad = structuredClone(ok);
    (bad.acl_rule[0].match_condition.dst_port as Record<string, unknown>).start_port = "80";
    expect(checkSpec(acl, bad, "acl")).toBe(
      'acl.acl_rule[0].match_condition.dst_port.start_port: expected integer, got string "80"',
    );
  });

  it("exports TypeScript types derived from the same table", () => {
    const vn: VirtualNetwork = {
      virtual_network_properties: { forwarding_mode: "l3" },
      network_ipam_refs: [
        {
          to: ["d", "p", "ipam"],
          attr: { ipam_subnets: [{ subnet: { ip_prefix: "10.0.0.0", ip_prefix_len: 24 } }] },
        },
      ],
    };
    // @ts-expect-error forwarding_mode is an enum
    const wrong: Resource<"virtual-network"> = { virtual_network_properties: { forwarding_mode: "l9" } };
    expect(vn.network_ipam_refs?.[0].attr?.ipam_subnets?.[0].subnet?.ip_prefix_len).toBe(24);
    expect(wrong).toBeDefined();
  });
});
