/**
 * The applier's answers to the API (a recording fake client, no HTTP): a create refused with 409 adopts the
 * existing object and updates only what differs; an update answered 404 creates the object again; a tag
 * still in use is deferred, not a failure; a missing parent blocks the unit.
 */
import { describe, expect, it } from "vitest";
import { Reconciler, UnitBlocked } from "../../controller/reconcile";
import type { DesiredObject, UnitDesired } from "../../controller/translate/types";
import { NoIdError, RefsExistError, type VncClient, type VncObject } from "../../controller/vnc/client";

/** A client that records calls and answers from `objects` (uuid → object), with scripted failures. */
function fakeVnc(objects: VncObject[], fail: { create?: Error; update?: Error; delete?: Error } = {}) {
  const calls: string[] = [];
  const byUuid = new Map(objects.map((o) => [o.uuid, o]));
  const vnc = {
    async create(type: string, body: VncObject) {
      calls.push(`create ${type}`);
      if (fail.create) throw fail.create;
      byUuid.set(body.uuid, body);
      return { uuid: body.uuid, fq_name: body.fq_name, name: body.fq_name.at(-1) };
    },
    async update(type: string, uuid: string, body: Partial<VncObject>) {
      calls.push(`update ${type} ${uuid} ${Object.keys(body).join(",")}`);
      if (fail.update) throw fail.update;
    },
    async delete(type: string, uuid: string) {
      calls.push(`delete ${type} ${uuid}`);
      if (fail.delete) throw fail.delete;
    },
    async fqNameToId(type: string, fq: string[]) {
      calls.push(`fqname-to-id ${type}`);
      const o = [...byUuid.values()].find((x) => x.fq_name.join(":") === fq.join(":"));
      if (!o) throw new NoIdError(404, `${type} ${fq.join(":")} not found`);
      return o.uuid;
    },
    async read(type: string, uuid: string) {
      calls.push(`read ${type} ${uuid}`);
      const o = byUuid.get(uuid);
      if (!o) throw new NoIdError(404, `${type} ${uuid} not found`);
      return o;
    },
  };
  return { vnc: vnc as unknown as VncClient, calls };
}

const P = ["default-domain", "k8s-a"];
const sg: DesiredObject = {
  type: "security-group",
  fq_name: [...P, "k8s-a-default-sg"],
  uuid: "our-uuid",
  props: { display_name: "k8s-a-default-sg", security_group_entries: { policy_rule: [] } },
  refs: {},
};
const unit = (objects: DesiredObject[]): UnitDesired => ({
  key: "Namespace/a",
  objects,
  edges: [],
  warnings: [],
});
const project: VncObject = { uuid: "project-uuid", fq_name: P };

describe("Reconciler.apply", () => {
  it("409 on create: adopts the existing object (its uuid) and updates only what differs", async () => {
    const theirs: VncObject = {
      uuid: "their-uuid",
      fq_name: sg.fq_name,
      display_name: "k8s-a-default-sg",
      security_group_entries: { policy_rule: [{ rule_uuid: "x" }] },
    };
    const { vnc, calls } = fakeVnc([project, theirs], { create: new RefsExistError(409, "exists") });
    const r = new Reconciler(vnc, "k8s");
    r.known.set(`project ${P.join(":")}`, "project-uuid");
    expect(await r.apply(unit([sg]))).toEqual({ writes: 1 });
    expect(calls).toEqual([
      "create security-group",
      "fqname-to-id security-group",
      "read security-group their-uuid",
      "update security-group their-uuid security_group_entries",
    ]);
    expect(r.owned.get("Namespace/a")?.get(`security-group ${sg.fq_name.join(":")}`)?.uuid).toBe(
      "their-uuid",
    );
  });

  it("404 on update: the object was deleted behind our back and is created again", async () => {
    const { vnc, calls } = fakeVnc([project], { update: new NoIdError(404, "gone") });
    const r = new Reconciler(vnc, "k8s");
    r.known.set(`project ${P.join(":")}`, "project-uuid");
    r.owned.set(
      "Namespace/a",
      new Map([[`security-group ${sg.fq_name.join(":")}`, { ...sg, uuid: "our-uuid", props: {}, refs: {} }]]),
    );
    expect(await r.apply(unit([sg]))).toEqual({ writes: 1 });
    expect(calls).toEqual([
      "update security-group our-uuid display_name,security_group_entries",
      "create security-group",
    ]);
  });

  it("a tag still in use is deferred, not a failure", async () => {
    const { vnc } = fakeVnc([], { delete: new RefsExistError(409, "tag has back-refs") });
    const r = new Reconciler(vnc, "k8s");
    const tag = { type: "tag", fq_name: ["app=web"], uuid: "t", props: {}, refs: {} };
    r.owned.set("Tags", new Map([["tag app=web", tag]]));
    const res = await r.apply({ key: "Tags", objects: [], edges: [], warnings: [] });
    expect(res).toEqual({ writes: 0, deferred: "tag app=web still in use" });
    expect(r.owned.get("Tags")?.size).toBe(1);
  });

  it("a parent nobody creates blocks the unit before any create", async () => {
    const { vnc, calls } = fakeVnc([]);
    const r = new Reconciler(vnc, "k8s");
    await expect(r.apply(unit([sg]))).rejects.toBeInstanceOf(UnitBlocked);
    expect(calls).toEqual(["fqname-to-id project"]);
  });
});
