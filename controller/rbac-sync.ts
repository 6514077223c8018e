/**
 * Keeps Contrail's RBAC in step with Kubernetes RBAC (the edge of controller/translate/rbac.ts): informers on
 * namespaces, Roles, ClusterRoles, RoleBindings and ClusterRoleBindings mark the mapping dirty; one worker
 * plans it afresh (pure) and applies the difference — each project's `k8s-rbac` api-access-list through the
 * VNC client, the `k8s-*` role assignments through keystone. Level-triggered: a failed sync is retried; a
 * project that does not exist yet (its namespace's unit still at work) is retried shortly.
 *
 * Example: `const sync = await startRbacSync({ kube, vnc, keystone, layout, log }); await sync.waitIdle()`.
 */
import type { KubeApi, ResourceName } from "./kube/api";
import { Informer } from "./kube/informer";
import { planRbac, RBAC_LIST_NAME, ROLE_PREFIX } from "./translate/rbac";
import { NoIdError, type VncClient } from "./vnc/client";
import type { Assignment, KeystoneClient } from "./vnc/keystone";

const WATCHED: ResourceName[] = [
  "namespaces",
  "roles",
  "clusterroles",
  "rolebindings",
  "clusterrolebindings",
];

export interface RbacSyncOptions {
  kube: KubeApi;
  vnc: VncClient;
  keystone: KeystoneClient;
  projectOf(ns: string): string[];
  warn(msg: string): void;
}

export interface RbacSync {
  isIdle(): boolean;
  waitIdle(): Promise<void>;
  warnings(): string[];
  stop(): void;
}

export async function startRbacSync(opts: RbacSyncOptions): Promise<RbacSync> {
  let dirty = true;
  let running = false;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let attempts = 0;
  let warnings: string[] = [];
  const waiters: (() => void)[] = [];
  const informers = WATCHED.map(
    (r) =>
      new Informer(opts.kube, r, {
        onChange: () => kick(),
        onError: (err) => opts.warn(`watch ${r}: ${err.message}`),
      }),
  );
  const idle = () => !dirty && !running && retry === undefined;
  const settleWaiters = () => {
    if (idle()) for (const w of waiters.splice(0)) w();
  };

  function kick() {
    dirty = true;
    if (retry) {
      clearTimeout(retry);
      retry = undefined;
    }
    void run();
  }

  async function run() {
    if (running || stopped || !dirty) return settleWaiters();
    running = true;
    dirty = false;
    let again = false;
    try {
      again = await syncOnce();
      attempts = again ? attempts + 1 : 0;
    } catch (e) {
      opts.warn(`kubernetes rbac → contrail: ${(e as Error).message}; retrying`);
      again = true;
      attempts++;
    } finally {
      running = false;
    }
    // a project still being made is retried a while (about 10 s), then left to the next Kubernetes change
    if (again && !stopped && attempts < 50) {
      retry = setTimeout(() => {
        retry = undefined;
        dirty = true;
        void run();
      }, 200);
      retry.unref();
    }
    if (dirty) void run();
    settleWaiters();
  }

  /** One pass; true when something could not be applied yet (to be retried). */
  async function syncOnce(): Promise<boolean> {
    const items = (r: ResourceName) => [...informers[WATCHED.indexOf(r)]!.cache.values()];
    const users = new Set(await opts.keystone.names("users"));
    const groups = new Set(await opts.keystone.names("groups"));
    const namespaces = items("namespaces").map((n) => n.metadata.name!);
    const plan = planRbac({
      namespaces,
      roles: items("roles"),
      clusterroles: items("clusterroles"),
      rolebindings: items("rolebindings"),
      clusterrolebindings: items("clusterrolebindings"),
      users,
      groups,
      projectOf: opts.projectOf,
    });
    let pending = false;
    // api-access-lists: create or update the planned ones, delete those no binding needs any more
    const existing = (await opts.vnc.list("api-access-list", { detail: true })).filter(
      (l) => l.fq_name.at(-1) === RBAC_LIST_NAME && l.fq_name.length === 3,
    );
    for (const want of plan.lists.values()) {
      const fq = [...want.project, RBAC_LIST_NAME];
      const body = { api_access_list_entries: { rbac_rule: want.rules } };
      const have = existing.find((l) => l.fq_name.join(":") === fq.join(":"));
      if (have) {
        if (JSON.stringify(have.api_access_list_entries) !== JSON.stringify(body.api_access_list_entries))
          await opts.vnc.update("api-access-list", have.uuid, body);
        continue;
      }
      try {
        await opts.vnc.create("api-access-list", { fq_name: fq, parent_type: "project", ...body });
      } catch (e) {
        // the namespace's project is not there yet: its unit makes it; try again shortly
        if (/not found/i.test((e as Error).message) || e instanceof NoIdError) pending = true;
        else throw e;
      }
    }
    for (const l of existing)
      if (!plan.lists.has(l.fq_name.slice(0, 2).join(":"))) await opts.vnc.delete("api-access-list", l.uuid);
    // keystone: the k8s-* assignments on the cluster's projects, as planned
    const projects = [
      ...new Set(
        namespaces
          .map((ns) => opts.projectOf(ns))
          .filter((p) => p[0] === "default-domain")
          .map((p) => p[1]!),
      ),
    ];
    const have = (
      await opts.keystone.assignments(projects, { users: [...users], groups: [...groups] })
    ).filter((a) => a.role.startsWith(ROLE_PREFIX));
    const wanted: Assignment[] = [
      ...plan.grants.map(
        (g): Assignment => ({ kind: "users", name: g.user, project: g.project, role: g.role }),
      ),
      ...plan.groupGrants.map(
        (g): Assignment => ({ kind: "groups", name: g.group, project: g.project, role: g.role }),
      ),
    ];
    const key = (a: Assignment) => `${a.kind}\0${a.name}\0${a.project}\0${a.role}`;
    const want = new Set(wanted.map(key));
    for (const a of have) if (!want.has(key(a))) await opts.keystone.revoke(a);
    const haveKeys = new Set(have.map(key));
    for (const g of wanted) {
      if (haveKeys.has(key(g))) continue;
      try {
        await opts.keystone.grant(g);
      } catch (e) {
        if ((e as { status?: number }).status === 404) pending = true;
        else throw e;
      }
    }
    if (plan.warnings.join("\n") !== warnings.join("\n"))
      for (const w of plan.warnings) if (!warnings.includes(w)) opts.warn(w);
    warnings = plan.warnings;
    return pending;
  }

  await Promise.all(informers.map((i) => i.start()));
  kick();
  return {
    isIdle: idle,
    waitIdle: () =>
      idle()
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiters.push(resolve);
          }),
    warnings: () => [...warnings],
    stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      retry = undefined;
      for (const i of informers) i.stop();
      for (const w of waiters.splice(0)) w();
    },
  };
}
