import { describe, expect, it } from "vitest";
import { ConfigEventError, ConfigModel } from "../../fake-vrouter/agent/config-model";

const VN = "11111111-1111-4111-8111-111111111111";
const VMI = "22222222-2222-4222-8222-222222222222";
const VN2 = "33333333-3333-4333-8333-333333333333";
const PROJ = "44444444-4444-4444-8444-444444444444";

function model() {
  const m = new ConfigModel();
  m.apply({
    seq: 1,
    op: "CREATE",
    type: "project",
    uuid: PROJ,
    fq_name: ["d", "p"],
    obj: { parent_type: "domain" },
  });
  m.apply({
    seq: 2,
    op: "CREATE",
    type: "virtual-network",
    uuid: VN,
    fq_name: ["d", "p", "vn"],
    obj: { parent_type: "project", parent_uuid: PROJ },
  });
  m.apply({
    seq: 3,
    op: "CREATE",
    type: "virtual-machine-interface",
    uuid: VMI,
    fq_name: ["d", "p", "vmi"],
    obj: { parent_type: "project", virtual_network_refs: [{ to: ["d", "p", "vn"], uuid: VN }] },
  });
  return m;
}

describe("ConfigModel", () => {
  it("indexes objects by uuid, type and fq_name, and rebuilds back-refs and children", () => {
    const m = model();
    expect(m.byFqName("virtual-network", ["d", "p", "vn"])?.uuid).toBe(VN);
    expect(m.byFqName("virtual-network", "d:p:vn")?.uuid).toBe(VN);
    expect(m.backRefs(VN, "virtual-machine-interface").map((o) => o.uuid)).toEqual([VMI]);
    // the VMI names its parent only by parent_type + fq_name: still found
    expect(m.children(PROJ, "virtual-machine-interface").map((o) => o.uuid)).toEqual([VMI]);
    expect(m.children(PROJ, "virtual-network").map((o) => o.uuid)).toEqual([VN]);
    expect(m.appliedSeq()).toBe(3);
  });

  it("moves back-refs when an update changes a ref, and drops them on delete", () => {
    const m = model();
    m.apply({
      seq: 4,
      op: "CREATE",
      type: "virtual-network",
      uuid: VN2,
      fq_name: ["d", "p", "vn2"],
      obj: {},
    });
    m.apply({
      seq: 5,
      op: "UPDATE",
      type: "virtual-machine-interface",
      uuid: VMI,
      fq_name: ["d", "p", "vmi"],
      obj: { virtual_network_refs: [{ to: ["d", "p", "vn2"] }] }, // by fq_name only
    });
    expect(m.backRefs(VN, "virtual-machine-interface")).toEqual([]);
    expect(m.backRefs(VN2, "virtual-machine-interface").map((o) => o.uuid)).toEqual([VMI]);
    expect(m.refs(m.get(VMI)!, "virtual-network")[0].target.uuid).toBe(VN2);
    m.apply({
      seq: 6,
      op: "DELETE",
      type: "virtual-machine-interface",
      uuid: VMI,
      fq_name: ["d", "p", "vmi"],
    });
    expect(m.get(VMI)).toBeUndefined();
    expect(m.backRefs(VN2, "virtual-machine-interface")).toEqual([]);
    expect(m.byFqName("virtual-machine-interface", ["d", "p", "vmi"])).toBeUndefined();
  });

  it("ignores changes at or below the applied position (a replay after resume)", () => {
    const m = model();
    const v = m.version();
    expect(
      m.apply({ seq: 2, op: "DELETE", type: "virtual-network", uuid: VN, fq_name: ["d", "p", "vn"] }),
    ).toBe(false);
    expect(m.get(VN)).toBeDefined();
    expect(m.version()).toBe(v);
  });

  it("replaces everything with a snapshot", () => {
    const m = model();
    m.loadSnapshot([{ type: "virtual-network", uuid: VN2, fq_name: ["d", "p", "vn2"], obj: {} }], 40);
    expect(m.get(VN)).toBeUndefined();
    expect(m.backRefs(VN, "virtual-machine-interface")).toEqual([]);
    expect(m.get(VN2)?.type).toBe("virtual-network");
    expect(m.appliedSeq()).toBe(40);
  });

  it("rejects malformed events with a typed error", () => {
    const m = model();
    expect(() =>
      m.apply({ seq: 9, op: "CREATE", type: "virtual-network", uuid: VN2, fq_name: ["d", "p", "x"] }),
    ).toThrow(ConfigEventError);
    expect(() =>
      m.apply({
        seq: 9,
        op: "MERGE" as "CREATE",
        type: "virtual-network",
        uuid: VN2,
        fq_name: ["x"],
        obj: {},
      }),
    ).toThrow(/unknown change op/);
    expect(() =>
      m.apply({ seq: 9, op: "CREATE", type: "virtual-network", uuid: VN2, fq_name: [], obj: {} }),
    ).toThrow(/no fq_name/);
  });
});
