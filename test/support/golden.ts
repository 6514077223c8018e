/**
 * Golden files (kwok style): hand-written `<case>.input.yaml` cases, generated outputs compared byte for byte
 * and regenerated with `UPDATE_GOLDEN=1`. `.ci/check-goldens.sh` regenerates every output from scratch in a
 * copy of the tree and fails when that would change a committed file.
 *
 * A translation case (`test/controller/golden/<case>.input.yaml`) is a `TestCase` document (model, config
 * overrides, pre-existing virtual-routers) followed by Kubernetes objects.
 *
 * Example:
 *   const { cfg, snap, view } = loadTranslationCase(join(DIR, `${c}.input.yaml`));
 *   expectGolden(join(DIR, `${c}.output.yaml`), goldenYaml(render(translateAll(snap, cfg, view))));
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { expect } from "vitest";
import YAML from "yaml";
import { defaultConfig, parseConfig } from "../../controller/config";
import type { KubeObject } from "../../controller/kube/api";
import { emptySnapshot, emptyView, type KubeSnapshot, putObject } from "../../controller/translate";

export const CONTROLLER_GOLDEN_DIR = new URL("../controller/golden/", import.meta.url).pathname;

/** The case names of `dir` (its `<case>.input.yaml` files), sorted. */
export function goldenCases(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".input.yaml"))
        .map((f) => f.replace(/\.input\.yaml$/, ""))
        .sort()
    : [];
}

export function loadTranslationCase(file: string) {
  const docs = YAML.parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJSON());
  const head = docs[0] as {
    kind: string;
    model?: "r4" | "r5";
    conf?: string;
    routers?: Record<string, string>;
  };
  if (head?.kind !== "TestCase") throw new Error(`${file}: first document must be kind: TestCase`);
  const cfg = head.conf ? parseConfig(head.conf, { model: head.model }) : defaultConfig(head.model ?? "r5");
  const snap: KubeSnapshot = emptySnapshot();
  const plural: Record<string, keyof KubeSnapshot> = {
    Namespace: "namespaces",
    Pod: "pods",
    Service: "services",
    EndpointSlice: "endpointslices",
    Endpoints: "endpoints",
    Node: "nodes",
    NetworkPolicy: "networkpolicies",
  };
  for (const d of docs.slice(1) as KubeObject[]) {
    const r = plural[d.kind];
    if (!r) throw new Error(`${file}: unsupported kind ${d.kind}`);
    putObject(snap, r, d);
  }
  const view = emptyView();
  for (const [name, ip] of Object.entries(head.routers ?? {})) {
    const fq = ["default-global-system-config", name];
    view.routersByName.set(name, fq);
    view.routersByIp.set(ip, fq);
  }
  return { cfg, snap, view };
}

/** The YAML form every golden output is written in. */
export function goldenYaml(v: unknown): string {
  return YAML.stringify(v, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Compares `out` with the golden file, after writing it there when `UPDATE_GOLDEN` is set. */
export function expectGolden(goldenFile: string, out: string): void {
  if (process.env.UPDATE_GOLDEN) writeFileSync(goldenFile, out);
  expect(existsSync(goldenFile), `${goldenFile} missing: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(out).toBe(readFileSync(goldenFile, "utf8"));
}
