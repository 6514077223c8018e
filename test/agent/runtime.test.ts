import { afterEach, describe, expect, it } from "vitest";
import { type Agents, startAgents } from "../../fake-vrouter/agent/index";
import type { VrouterTables } from "../../fake-vrouter/tables";
import { Cluster, PROJECT } from "./fixtures";
import { type StubWatch, startStubWatch } from "./stub-watch";

const RED_VRF = [...PROJECT, "red", "red"].join(":");

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup() {
  const watch = await startStubWatch();
  cleanup.push(() => watch.close());
  const c = new Cluster((ev) => watch.push(ev));
  const red = c.vn("red", "10.1.0.0/24");
  const c1 = c.vrouter("compute-1", "192.168.0.11");
  const c2 = c.vrouter("compute-2", "192.168.0.12");
  const a = c.pod("a", red, "10.1.0.10", c1, { k8s: true });
  const b = c.pod("b", red, "10.1.0.20", c2);
  const agents = await startAgents({ apiUrl: watch.url });
  cleanup.push(() => agents.stop());
  const api = await agents.startPortApi("compute-1", { port: 0 });
  cleanup.push(() => api.close());
  return { watch, c, red, c1, c2, a, b, agents, api };
}

function vmBody(vm: string, vmi: string, extra: Record<string, unknown> = {}) {
  return {
    time: new Date().toISOString(),
    "vm-id": "c0ffee",
    "vm-uuid": vm,
    "vm-name": "k8s__ns__a",
    "host-ifname": "tapeth0-1234",
    "vm-ifname": "eth0",
    "vm-namespace": "/var/run/netns/x",
    "vn-uuid": undefined,
    "vmi-uuid": vmi,
    ...extra,
  };
}

async function post(url: string, body: unknown) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

function route(t: VrouterTables | undefined, prefix: string) {
  return [...(t?.vrfs.values() ?? [])]
    .find((v) => v.name === RED_VRF)
    ?.routes.find((r) => r.prefix === prefix);
}

async function caughtUp(agents: Agents, watch: StubWatch) {
  await agents.whenCaughtUp(watch.seq());
}

describe("agent runtime over the change stream", () => {
  it("builds tables for every virtual-router from the snapshot and follows live changes", async () => {
    const { watch, c, red, c2, a, agents } = await setup();
    expect(agents.appliedSeq()).toBe(watch.seq());
    // a compute has a VN's VRF once it has a port in that VN
    expect(route(agents.tables("compute-1"), "10.1.0.10/32")).toBeUndefined();
    agents.plugPort("compute-1", { vmUuid: a.vm, vmiUuid: a.vmi, hostIfname: "tapa" });
    await caughtUp(agents, watch);
    expect(agents.tables("compute-1")?.compute.fabricIp).toBe("192.168.0.11");
    expect(agents.tables("compute-2")?.compute.fabricIp).toBe("192.168.0.12");
    // b's port is not plugged on compute-2 yet: no route for it anywhere
    expect(route(agents.tables("compute-1"), "10.1.0.20/32")).toBeUndefined();

    const seen: string[] = [];
    const off = agents.onTables((compute) => seen.push(compute));
    const d = c.pod("d", red, "10.1.0.40", c2);
    agents.plugPort("compute-2", { vmUuid: d.vm, vmiUuid: d.vmi, hostIfname: "tapd" });
    await caughtUp(agents, watch);
    off();
    expect(seen).toContain("compute-1");
    const r = route(agents.tables("compute-1"), "10.1.0.40/32");
    expect(r && agents.tables("compute-1")?.nextHops.get(r.nh)?.type).toBe("tunnel");
  });

  it("resolves link-local services given by DNS name (localhost = the compute); a name that does not resolve is a warning", async () => {
    const watch = await startStubWatch();
    cleanup.push(() => watch.close());
    const c = new Cluster((ev) => watch.push(ev));
    c.vn("red", "10.1.0.0/24");
    c.vrouter("compute-1", "192.168.0.11");
    const entry = (name: string, ip: string, dns: string) => ({
      linklocal_service_name: name,
      linklocal_service_ip: ip,
      linklocal_service_port: 443,
      ip_fabric_service_ip: [""],
      ip_fabric_DNS_service_name: dns,
      ip_fabric_service_port: 8443,
    });
    c.put("global-vrouter-config", ["default-global-system-config", "default-global-vrouter-config"], {
      linklocal_services: {
        linklocal_service_entry: [
          entry("default-domain-k8s-default-kubernetes-443", "10.96.0.1", "localhost"),
          entry("nowhere", "10.96.0.3", "ctb-no-such-host.invalid"),
        ],
      },
    });
    const logs: string[] = [];
    const agents = await startAgents({ apiUrl: watch.url, log: (m) => logs.push(m) });
    cleanup.push(() => agents.stop());
    await caughtUp(agents, watch);
    expect(agents.tables("compute-1")?.linkLocal).toEqual([
      {
        name: "default-domain-k8s-default-kubernetes-443",
        ip: "10.96.0.1",
        port: 443,
        fabricIp: "192.168.0.11",
        fabricPort: 8443,
      },
    ]);
    expect(logs.join("\n")).toMatch(
      /ip_fabric_DNS_service_name "ctb-no-such-host.invalid" does not resolve \(.+\); its link-local services have no fabric address/,
    );
  });

  it("resumes after a dropped stream without losing or replaying changes", async () => {
    const { watch, c, red, c2, a, agents } = await setup();
    agents.plugPort("compute-1", { vmUuid: a.vm, vmiUuid: a.vmi, hostIfname: "tapa" });
    watch.dropClients();
    const d = c.pod("d", red, "10.1.0.40", c2);
    agents.plugPort("compute-2", { vmUuid: d.vm, vmiUuid: d.vmi, hostIfname: "tapd" });
    await caughtUp(agents, watch);
    expect(watch.connects.at(-1)).toBeGreaterThan(0); // resumed with since=<seq>, not a fresh snapshot
    expect(route(agents.tables("compute-1"), "10.1.0.40/32")).toBeDefined();
  });

  it("replaces its state when a resume is answered with a fresh snapshot", async () => {
    const { watch, c, a, b, agents } = await setup();
    agents.plugPort("compute-1", { vmUuid: a.vm, vmiUuid: a.vmi, hostIfname: "tapa" });
    agents.plugPort("compute-2", { vmUuid: b.vm, vmiUuid: b.vmi, hostIfname: "tapb" });
    await caughtUp(agents, watch);
    expect(route(agents.tables("compute-1"), "10.1.0.20/32")).toBeDefined();
    watch.dropClients();
    const iip = c.model.byFqName("instance-ip", ["b__iip"])!;
    c.delete(iip.uuid);
    watch.truncateHistory();
    c.update(c.model.byFqName("virtual-router", ["default-global-system-config", "compute-2"])!.uuid, {
      display_name: "compute-2",
    });
    await caughtUp(agents, watch);
    expect(route(agents.tables("compute-1"), "10.1.0.20/32")).toBeUndefined();
  });
});

describe("port API", () => {
  it("serves /vm-cfg for a VM placed on this compute with the real field names, 404 otherwise", async () => {
    const { api, a, red } = await setup();
    const res = await fetch(`${api.url}/vm-cfg/k8s__ns__a`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>[];
    expect(body).toEqual([
      {
        id: a.vmi,
        "vm-uuid": a.vm,
        "vn-id": red,
        "vn-name": [...PROJECT, "red"].join(":"),
        "mac-address": expect.stringMatching(/^02:/),
        annotations: expect.objectContaining({ index: "0/1", network: "default", kind: "Pod" }),
        "sub-interface": false,
        "vlan-id": -1,
      },
    ]);
    expect((await fetch(`${api.url}/vm-cfg/k8s__ns__nope`)).status).toBe(404);
    // b lives on compute-2: compute-1's agent does not serve it
    expect((await fetch(`${api.url}/vm-cfg/k8s__ns__b`)).status).toBe(404);
  });

  it("becomes ready when the controller places the VM later", async () => {
    const { api, c, red, c1, watch, agents } = await setup();
    expect((await fetch(`${api.url}/vm-cfg/k8s__ns__late`)).status).toBe(404);
    c.pod("late", red, "10.1.0.50", c1);
    await caughtUp(agents, watch);
    expect((await fetch(`${api.url}/vm-cfg/k8s__ns__late`)).status).toBe(200);
  });

  it("wakes a poller that says what it waits for only once the port API would answer it", async () => {
    const { c, red, c1, watch, agents } = await setup();
    const path = "/vm-cfg/k8s__ns__later";
    expect(agents.polledAnswer("compute-1", path)).toEqual({ body: undefined });
    let woken = false;
    let asked = 0;
    const until = () => {
      asked++;
      return agents.polledAnswer("compute-1", path)?.body !== undefined;
    };
    const vm = "0c0c0c0c-0000-4000-8000-000000000060";
    // kube-manager writes the VM, then its interface, then places it on a compute: each touches the VM, and
    // only the last makes /vm-cfg answer, so the poller is woken once
    const waiting = agents.whenTouched(["k8s__ns__later", vm], 60_000, undefined, until).then(() => {
      woken = true;
    });
    c.put("virtual-machine", ["k8s__ns__later"], { server_type: "container" }, vm);
    c.put("virtual-machine-interface", [...PROJECT, "later__vmi"], {
      parent_type: "project",
      virtual_network_refs: [c.ref(red)],
      virtual_machine_refs: [c.ref(vm)],
    });
    await caughtUp(agents, watch);
    expect(asked).toBe(3); // when it starts waiting, and at each of the two touches
    expect(woken).toBe(false);
    const vr = c.data(c1);
    c.update(c1, { virtual_machine_refs: [...((vr.virtual_machine_refs as unknown[]) ?? []), c.ref(vm)] });
    await caughtUp(agents, watch);
    await waiting;
    expect(woken).toBe(true);
    expect(agents.polledAnswer("compute-1", path)?.body).toHaveLength(1);
    // asked when the answer is already there, it does not wait for a touch
    await agents.whenTouched(["k8s__ns__later"], 60_000, undefined, until);
    // a path the agent cannot judge in process
    expect(agents.polledAnswer("compute-1", "/port/x")).toBeUndefined();
  });

  it("asks a waiter's until again each second, so a change by a key it did not name wakes it soon", async () => {
    const { agents } = await setup();
    let ready = false;
    setTimeout(() => {
      ready = true;
    }, 50);
    const started = Date.now();
    await agents.whenTouched(["k8s__ns__nobody-touches-this"], 60_000, undefined, () => ready);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a stopped agent wakes every poller, whatever it waits for", async () => {
    const { agents } = await setup();
    const waiting = agents.whenTouched(["k8s__ns__never"], 60_000, undefined, () => false);
    await agents.stop();
    await waiting;
  });

  it("adds a port with POST /vm: the vif appears and GET /vm answers the address", async () => {
    const { api, a, agents, watch } = await setup();
    expect((await fetch(`${api.url}/vm/${a.vm}/${a.vmi}`)).status).toBe(404);
    const res = await post(`${api.url}/vm`, vmBody(a.vm, a.vmi));
    expect(res.status).toBe(200);
    await caughtUp(agents, watch);
    const vif = [...agents.tables("compute-1")!.vifs.values()].find((v) => v.vmi?.uuid === a.vmi);
    expect(vif).toMatchObject({ name: "tapeth0-1234", ip: "10.1.0.10", type: "virtual" });
    const info = await (await fetch(`${api.url}/vm/${a.vm}/${a.vmi}`)).json();
    expect(info).toMatchObject({
      "ip-address": "10.1.0.10",
      plen: 24,
      gateway: "10.1.0.254",
      "dns-server": "10.1.0.253",
      "mac-address": vif!.mac,
    });
    const all = await (await fetch(`${api.url}/vm/${a.vm}`)).json();
    expect(all).toHaveLength(1);
  });

  it("rejects bad bodies with 400 and the reason", async () => {
    const { api, a } = await setup();
    const missing = await post(`${api.url}/vm`, vmBody(a.vm, a.vmi, { "vmi-uuid": undefined }));
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain('missing "vmi-uuid"');
    const notUuid = await post(`${api.url}/vm`, vmBody("xyz", a.vmi));
    expect(notUuid.status).toBe(400);
    expect(await notUuid.text()).toContain('"vm-uuid" is not a uuid');
    const badJson = await post(`${api.url}/vm`, "{not json");
    expect(badJson.status).toBe(400);
    const list = await post(`${api.url}/vm`, []);
    expect(list.status).toBe(400);
    expect((await post(`${api.url}/syncports`, { nope: 1 })).status).toBe(400);
  });

  it("withdraws routes on /disable-port and restores them on /enable-port", async () => {
    const { api, a, b, agents, watch } = await setup();
    agents.plugPort("compute-2", { vmUuid: b.vm, vmiUuid: b.vmi, hostIfname: "tapb" });
    await post(`${api.url}/vm`, vmBody(a.vm, a.vmi));
    await caughtUp(agents, watch);
    expect(route(agents.tables("compute-1"), "10.1.0.10/32")).toBeDefined();
    expect(route(agents.tables("compute-2"), "10.1.0.10/32")).toBeDefined();
    expect((await post(`${api.url}/disable-port/${a.vmi}`, {})).status).toBe(200);
    await caughtUp(agents, watch);
    expect(route(agents.tables("compute-1"), "10.1.0.10/32")).toBeUndefined();
    expect(route(agents.tables("compute-2"), "10.1.0.10/32")).toBeUndefined();
    await post(`${api.url}/enable-port/${a.vmi}`, {});
    await caughtUp(agents, watch);
    expect(route(agents.tables("compute-2"), "10.1.0.10/32")).toBeDefined();
    expect((await post(`${api.url}/enable-port/${a.vm}`, {})).status).toBe(404);
  });

  it("removes the port on DELETE /vm (404 the second time) and syncs the table on /syncports", async () => {
    const { api, a, agents, watch } = await setup();
    await post(`${api.url}/vm`, vmBody(a.vm, a.vmi));
    expect((await fetch(`${api.url}/vm/${a.vm}`, { method: "DELETE" })).status).toBe(200);
    await caughtUp(agents, watch);
    expect([...agents.tables("compute-1")!.vifs.values()].some((v) => v.vmi?.uuid === a.vmi)).toBe(false);
    expect((await fetch(`${api.url}/vm/${a.vm}`, { method: "DELETE" })).status).toBe(404);
    const sync = await post(`${api.url}/syncports`, [vmBody(a.vm, a.vmi)]);
    expect(await sync.json()).toEqual({ ports: 1, removed: 0 });
    await caughtUp(agents, watch);
    expect([...agents.tables("compute-1")!.vifs.values()].some((v) => v.vmi?.uuid === a.vmi)).toBe(true);
    expect(await (await post(`${api.url}/syncports`, [])).json()).toEqual({ ports: 0, removed: 1 });
  });

  it("answers /port by VMI and says /gateway is not modelled", async () => {
    const { api, a } = await setup();
    const add = await post(`${api.url}/port`, { id: a.vmi, "instance-id": a.vm, "system-name": "tapx" });
    expect(add.status).toBe(200);
    expect(await (await fetch(`${api.url}/port/${a.vmi}`)).json()).toMatchObject({
      "ip-address": "10.1.0.10",
    });
    expect((await fetch(`${api.url}/port/${a.vmi}`, { method: "DELETE" })).status).toBe(200);
    expect((await fetch(`${api.url}/port/${a.vmi}`)).status).toBe(404);
    expect((await post(`${api.url}/gateway`, {})).status).toBe(501);
  });
});
