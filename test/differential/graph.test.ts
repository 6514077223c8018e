/**
 * The graph normalisation the differential test relies on: per-run identity (uuids, timestamps, generated pod
 * names, allocated addresses, placement) must not count, while names, refs and properties must — including a
 * ref or annotation that points at the wrong object behind a uuid.
 */
import { describe, expect, it } from "vitest";
import { type KubeFacts, diffGraphs, normaliseGraph } from "./graph";

// biome-ignore lint/suspicious/noExplicitAny: config API objects are untyped JSON
type Obj = Record<string, any>;

interface Run {
  podUid: string;
  otherPodUid: string;
  vmiUuid: string;
  otherVmiUuid: string;
  pod: string;
  otherPod: string;
  podIp: string;
  created: string;
  node: string;
}

const A: Run = {
  podUid: "11111111-1111-4111-8111-111111111111",
  otherPodUid: "22222222-2222-4222-8222-222222222222",
  vmiUuid: "33333333-3333-5333-8333-333333333333",
  otherVmiUuid: "44444444-4444-5444-8444-444444444444",
  pod: "web-5d46c96dd4-x7k2p",
  otherPod: "client",
  podIp: "10.47.255.252",
  created: "2026-11-22T12:53:55.274000",
  node: "node-1",
};
const B: Run = {
  podUid: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
  otherPodUid: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
  vmiUuid: "cccccccc-cccc-5ccc-8ccc-cccccccccccc",
  otherVmiUuid: "dddddddd-dddd-5ddd-8ddd-dddddddddddd",
  pod: "web-7f9c8d6b45-m2n4p",
  otherPod: "client",
  podIp: "10.47.255.250",
  created: "2026-11-22T13:01:02.000000",
  node: "node-2",
};

function vm(r: Run, uid: string, pod: string): Obj {
  return {
    uuid: uid,
    fq_name: [`k8s__default__${pod}`],
    name: `k8s__default__${pod}`,
    id_perms: { created: r.created },
  };
}

function vmi(uuid: string, vmUid: string, pod: string): Obj {
  return {
    uuid,
    fq_name: ["default-domain", "default", `${pod}__${uuid}`],
    parent_type: "project",
    parent_uuid: "99999999-9999-5999-8999-999999999999",
    virtual_machine_interface_mac_addresses: { mac_address: [`02:${uuid.slice(0, 2)}:00:11:22:33`] },
    virtual_machine_refs: [{ to: [`k8s__default__${pod}`], uuid: vmUid }],
  };
}

/** One run's graph: a Deployment pod and a client pod with VMIs, a member pointing at the first VMI. */
function raw(
  r: Run,
  opts: { memberPort?: number; memberPointsAtOther?: boolean } = {},
): Record<string, Obj[]> {
  const target = opts.memberPointsAtOther ? r.otherVmiUuid : r.vmiUuid;
  return {
    "virtual-machine": [vm(r, r.podUid, r.pod), vm(r, r.otherPodUid, r.otherPod)],
    "virtual-machine-interface": [
      vmi(r.vmiUuid, r.podUid, r.pod),
      vmi(r.otherVmiUuid, r.otherPodUid, r.otherPod),
    ],
    "instance-ip": [
      {
        uuid: "55555555-5555-5555-8555-555555555555",
        fq_name: [`${r.pod}__${r.vmiUuid}`],
        instance_ip_address: r.podIp,
      },
    ],
    "loadbalancer-member": [
      {
        uuid: "66666666-6666-5666-8666-666666666666",
        fq_name: ["default-domain", "default", "web-pool", "66666666-6666-5666-8666-666666666666"],
        loadbalancer_member_properties: { protocol_port: opts.memberPort ?? 80 },
        annotations: { key_value_pair: [{ key: "vmi", value: target }] },
      },
    ],
    tag: [
      {
        uuid: "88888888-8888-5888-8888-888888888888",
        fq_name: [`pod-template-hash=${r.pod.split("-")[1]}`],
        tag_id: r === A ? "0x00ff0001" : "0x00ff0002",
      },
    ],
    "virtual-router": ["node-1", "node-2"].map((n, i) => ({
      uuid: `7777777${i}-7777-5777-8777-777777777777`,
      fq_name: ["default-global-system-config", n],
      virtual_machine_refs: n === r.node ? [{ to: [`k8s__default__${r.pod}`] }] : [],
    })),
  };
}

function facts(r: Run): KubeFacts {
  return {
    addresses: new Set([r.podIp]),
    templateHashes: new Set([r.pod.split("-")[1]!]),
    uids: new Map([
      [r.podUid, "Pod default/web-<hash>-<rand>"],
      [r.otherPodUid, `Pod default/${r.otherPod}`],
    ]),
  };
}

describe("Contrail graph normalisation", () => {
  it("ignores uuids, timestamps, MACs, generated pod names, allocated addresses and placement", () => {
    const d = diffGraphs(normaliseGraph(raw(A), facts(A)), normaliseGraph(raw(B), facts(B)));
    expect(d).toEqual([]);
  });

  it("reports a property that differs, with its path and both values", () => {
    const d = diffGraphs(
      normaliseGraph(raw(A), facts(A)),
      normaliseGraph(raw(B, { memberPort: 8080 }), facts(B)),
    );
    expect(d).toHaveLength(1);
    expect(d[0]).toContain("loadbalancer_member_properties.protocol_port: embedded 80 / local 8080");
  });

  it("sees an annotation that names another VMI, although both are uuids", () => {
    const d = diffGraphs(
      normaliseGraph(raw(A), facts(A)),
      normaliseGraph(raw(B, { memberPointsAtOther: true }), facts(B)),
    );
    expect(d.join("\n")).toContain("annotations.key_value_pair");
  });

  it("reports an object present on one side only", () => {
    const b = raw(B);
    b["virtual-machine"]!.pop();
    const d = diffGraphs(normaliseGraph(raw(A), facts(A)), normaliseGraph(b, facts(B)));
    expect(d).toEqual(["only on embedded: virtual-machine k8s__default__client"]);
  });
});
