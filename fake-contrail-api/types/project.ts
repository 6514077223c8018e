/**
 * project (upstream ProjectServer): its own owner; created with its `default-application-policy-set`, which
 * it references.
 * Example: `POST project {fq_name: [d, "p"]}` → `d:p:default-application-policy-set`, ref from the project.
 */
import type { TypeRules } from "./rules";

export const project: TypeRules = {
  ownsItself: true,
  postCreate(ctx, obj) {
    const aps = ctx.create("application-policy-set", {
      fq_name: [...obj.fq_name, "default-application-policy-set"],
      parent_type: "project",
    });
    const cur = ctx.store.get(obj.uuid)!;
    ctx.rewrite(cur, { refs: { ...cur.refs, "application-policy-set": [{ uuid: aps.uuid, attr: null }] } });
  },
};
