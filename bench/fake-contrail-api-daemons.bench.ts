/**
 * How long the config daemons take to turn a change into derived objects, against the fake config API on
 * 127.0.0.1, each figure with a ratio to a baseline measured in the same run:
 *  1. policy attach/detach → the VN's ACL written and echoed (`whenCaughtUp`), vs. one plain PUT round trip
 *     (on a project, which no daemon follows);
 *  2. LB member add/remove → the VIP floating IP updated, vs. the same PUT round trip;
 *  3. cold start: daemons catching up with N VNs that each carry a policy (N ACLs to create), vs. the time
 *     it took to create those N VNs through the API.
 *
 * Run: `npx tsx bench/fake-contrail-api-daemons.bench.ts [iterations=30] [vns=200]`
 */
import { startConfigDaemons } from "../fake-contrail-api/daemons";
import { startApiServer } from "../fake-contrail-api/server";

const N = Number(process.argv[2] ?? 30);
const VNS = Number(process.argv[3] ?? 200);
const P = ["default-domain", "bench"];

type Obj = { uuid: string; fq_name: string[] };

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const line = (what: string, xs: number[], base: number[]) =>
  console.log(
    `${what.padEnd(44)} p50 ${pct(xs, 50).toFixed(2)} ms  p99 ${pct(xs, 99).toFixed(2)} ms  ` +
      `(x${(pct(xs, 50) / pct(base, 50)).toFixed(1)} of a PUT round trip, n=${xs.length})`,
  );

async function main(): Promise<void> {
  const api = await startApiServer({ port: 0, quiet: true });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(new URL(path, api.url), {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const create = async (type: string, body: Record<string, unknown>): Promise<Obj> => {
    const out = (await call("POST", `/${type}s`, { [type]: body })) as Record<string, Obj>;
    return out[type];
  };
  const put = (type: string, uuid: string, body: Record<string, unknown>) =>
    call("PUT", `/${type}/${uuid}`, { [type]: body });
  const ref = (o: Obj, attr?: unknown) => ({ to: o.fq_name, uuid: o.uuid, ...(attr ? { attr } : {}) });
  const seqAttr = { sequence: { major: 0, minor: 0 } };
  const rule = (dst: string) => ({
    direction: "<>",
    protocol: "tcp",
    src_addresses: [{ virtual_network: "local" }],
    dst_addresses: [{ virtual_network: dst }],
    src_ports: [{ start_port: 0, end_port: 65535 }],
    dst_ports: [{ start_port: 80, end_port: 80 }],
    action_list: { simple_action: "pass" },
  });

  const project = await create("project", { fq_name: P, parent_type: "domain" });
  const ipamUuid = (
    (await call("POST", "/fqname-to-id", {
      type: "network-ipam",
      fq_name: ["default-domain", "default-project", "default-network-ipam"],
    })) as { uuid: string }
  ).uuid;
  const ipam = { uuid: ipamUuid, fq_name: ["default-domain", "default-project", "default-network-ipam"] };
  const vn = (name: string, i: number, extra: Record<string, unknown> = {}) =>
    create("virtual-network", {
      fq_name: [...P, name],
      parent_type: "project",
      network_ipam_refs: [
        ref(ipam, {
          ipam_subnets: [{ subnet: { ip_prefix: `10.${(i >> 8) & 255}.${i & 255}.0`, ip_prefix_len: 24 } }],
        }),
      ],
      ...extra,
    });
  const np = await create("network-policy", {
    fq_name: [...P, "np"],
    parent_type: "project",
    network_policy_entries: { policy_rule: [rule("any")] },
  });

  // 3. cold start: N VNs with a policy each exist before the daemons start
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < VNS; i++) await vn(`cold-${i}`, 1000 + i, { network_policy_refs: [ref(np, seqAttr)] });
  const createMs = ms(t0);
  t0 = process.hrtime.bigint();
  const daemons = await startConfigDaemons({ apiUrl: api.url, log: () => {} });
  const settle = async () => {
    for (;;) {
      const { seq } = (await call("GET", "/watch-position")) as { seq: number };
      await daemons.whenCaughtUp(seq);
      if (((await call("GET", "/watch-position")) as { seq: number }).seq === seq) return;
    }
  };
  await settle();
  const coldMs = ms(t0);
  const acls = (
    (await call("GET", "/access-control-lists?count=true")) as { "access-control-lists": { count: number } }
  )["access-control-lists"].count;

  const a = await vn("a", 1);
  const baseline: number[] = [];
  for (let i = 0; i < N; i++) {
    t0 = process.hrtime.bigint();
    // a type no daemon follows: the round trip without daemon work
    await put("project", project.uuid, { display_name: `bench-${i}` });
    baseline.push(ms(t0));
  }

  // 1. policy attach / detach
  const policy: number[] = [];
  for (let i = 0; i < N; i++) {
    t0 = process.hrtime.bigint();
    await put("virtual-network", a.uuid, { network_policy_refs: i % 2 === 0 ? [ref(np, seqAttr)] : [] });
    await settle();
    policy.push(ms(t0));
  }

  // 2. LB member add / remove
  const vmi = (name: string) =>
    create("virtual-machine-interface", {
      fq_name: [...P, name],
      parent_type: "project",
      virtual_network_refs: [ref(a)],
    });
  const vip = await vmi("vip");
  const pod = await vmi("pod");
  await create("instance-ip", {
    fq_name: ["bench-vip"],
    virtual_network_refs: [ref(a)],
    virtual_machine_interface_refs: [ref(vip)],
  });
  const lb = await create("loadbalancer", {
    fq_name: [...P, "lb"],
    parent_type: "project",
    loadbalancer_provider: "native",
    virtual_machine_interface_refs: [ref(vip)],
  });
  const ll = await create("loadbalancer-listener", {
    fq_name: [...P, "ll"],
    parent_type: "project",
    loadbalancer_listener_properties: { protocol: "TCP", protocol_port: 80 },
    loadbalancer_refs: [ref(lb)],
  });
  const pool = await create("loadbalancer-pool", {
    fq_name: [...P, "pool"],
    parent_type: "project",
    loadbalancer_listener_refs: [ref(ll)],
  });
  const lbTimes: number[] = [];
  for (let i = 0; i < N; i++) {
    t0 = process.hrtime.bigint();
    const m = await create("loadbalancer-member", {
      fq_name: [...pool.fq_name, `m-${i}`],
      parent_type: "loadbalancer-pool",
      loadbalancer_member_properties: { protocol_port: 8080 },
      annotations: { key_value_pair: [{ key: "vmi", value: pod.uuid }] },
    });
    await settle();
    await call("DELETE", `/loadbalancer-member/${m.uuid}`);
    await settle();
    lbTimes.push(ms(t0) / 2);
  }

  line("policy attach/detach → ACL written", policy, baseline);
  line("LB member add/remove → VIP floating IP", lbTimes, baseline);
  console.log(
    `cold start, ${VNS} VNs with a policy → ${acls} ACLs: ${coldMs.toFixed(0)} ms ` +
      `(x${(coldMs / createMs).toFixed(2)} of the ${createMs.toFixed(0)} ms it took to create the VNs)`,
  );
  await daemons.stop();
  await api.close();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
