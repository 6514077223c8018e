/**
 * Golden tests of the pure translation (kwok style): each `golden/<case>.input.yaml` holds a `TestCase`
 * document (model, config overrides, pre-existing virtual-routers) followed by Kubernetes objects; the
 * desired Contrail objects per unit are compared with `golden/<case>.output.yaml`.
 * Regenerate with `UPDATE_GOLDEN=1 npx vitest run test/controller`.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { translateAll, type UnitDesired, type UuidOf } from "../../controller/translate";
import {
  CONTROLLER_GOLDEN_DIR as DIR,
  expectGolden,
  goldenCases,
  goldenYaml,
  loadTranslationCase,
} from "../support/golden";

/** `$uuidOf` placeholders on one line: `uuid of project default-domain:k8s-dev (else <uuid>)`. */
function uuidPlaceholders(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(uuidPlaceholders);
  if (!x || typeof x !== "object") return x;
  const uo = (x as Partial<UuidOf>).$uuidOf;
  if (uo) return `uuid of ${uo.type} ${uo.fq.join(":")} (else ${uo.otherwise})`;
  return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, uuidPlaceholders(v)]));
}

/** Readable form: owner annotations dropped (they repeat the unit key), empty fields omitted. */
function render(units: UnitDesired[]) {
  return units
    .filter((u) => u.objects.length || u.edges.length || u.entries?.length || u.warnings.length || u.blocked)
    .map((u) => ({
      unit: u.key,
      ...(u.blocked ? { blocked: u.blocked } : {}),
      ...(u.external?.length ? { external: u.external.map((x) => `${x.type} ${x.fq_name.join(":")}`) } : {}),
      ...(u.warnings.length ? { warnings: u.warnings } : {}),
      objects: u.objects.map((o) => {
        const {
          annotations,
          display_name: _d,
          ...props
        } = o.props as {
          annotations: { key_value_pair: { key: string; value: string }[] };
          display_name: string;
        };
        const extra = annotations.key_value_pair.slice(
          annotations.key_value_pair.findIndex((p) => p.key === "name") + 1,
        );
        return {
          type: o.type,
          fq_name: o.fq_name.join(":"),
          uuid: o.uuid,
          ...(Object.keys(props).length ? { props: uuidPlaceholders(props) } : {}),
          ...(o.createOnly ? { createOnly: o.createOnly } : {}),
          ...(o.optional ? { optional: o.optional } : {}),
          ...(Object.keys(o.refs).length
            ? {
                refs: Object.fromEntries(
                  Object.entries(o.refs).map(([f, rs]) => [
                    f,
                    rs.map((r) =>
                      r.attr === undefined ? r.to.join(":") : { to: r.to.join(":"), attr: r.attr },
                    ),
                  ]),
                ),
              }
            : {}),
          ...(extra.length ? { annotations: Object.fromEntries(extra.map((p) => [p.key, p.value])) } : {}),
        };
      }),
      ...(u.edges.length
        ? { edges: u.edges.map((e) => `${e.fromType} ${e.from.join(":")} -> ${e.refType} ${e.to.join(":")}`) }
        : {}),
      ...(u.entries?.length
        ? {
            entries: u.entries.map((e) => ({
              in: `${e.holderType} ${e.holder.join(":")} ${e.prop}.${e.list}`,
              entry: e.entry,
            })),
          }
        : {}),
    }));
}

const cases = goldenCases(DIR);

describe("translation golden files", () => {
  it("has cases", () => {
    expect(cases.length).toBeGreaterThan(0);
  });
  for (const c of cases) {
    it(c, () => {
      const { cfg, snap, view } = loadTranslationCase(join(DIR, `${c}.input.yaml`));
      const out = goldenYaml(render(translateAll(snap, cfg, view)));
      expectGolden(join(DIR, `${c}.output.yaml`), out);
      // translation is deterministic: a second run gives the same objects and uuids
      expect(goldenYaml(render(translateAll(snap, cfg, view)))).toBe(out);
    });
  }
});
