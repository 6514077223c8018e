/**
 * What upstream's own NetworkPolicy tests assert, checked on the golden cases built from them
 * (`golden/r5-upstream-*.input.yaml`, each naming its test in a `# upstream:` header line; upstream file
 * tf-controller src/container/kube-manager/kube_manager/tests/vnc/test_vnc_network_policy.py):
 *
 * - `_validate_spec`: the firewall-policy `<c>-<ns>-<np>` exists and holds exactly as many rules as
 *   `_get_spec_number_of_rules` counts for the spec (ported below as upstream writes it);
 * - the scaling / periodic-validate / ordering tests: on the cluster APS, `<c>-Ingress` comes first, then the
 *   user policies with increasing sequences in the order they were added, then `<c>-denyall`, then
 *   `<c>-allowall`;
 * - every deny-all a policy implies sits in `<c>-denyall` (`<ns>-ingress-<np>-denyall` for Ingress,
 *   `<ns>-egress-<np>-default-deny-all` for Egress; policyTypes defaults to [Ingress]).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { parseConfig } from "../../controller/config";
import type { KubeObject } from "../../controller/kube/api";
import { cacheKey, emptySnapshot, emptyView, translateAll } from "../../controller/translate";

const DIR = join(import.meta.dirname, "golden");
const PM = "default-policy-management";

// biome-ignore lint/suspicious/noExplicitAny: a port of Python code over untyped specs
type Spec = any;

/** Upstream's `_get_spec_number_of_rules`, as written (its egress `except` count reads the ingress loop's variable). */
function upstreamSpecRuleCount(spec: Spec): number {
  let numRules = 0;
  const policyTypes: string[] = spec.policyTypes ?? ["Ingress"];
  let fromRule: Spec;
  for (const ingress of spec.ingress ?? []) {
    let n = 0;
    const fromRules = ingress.from ?? [];
    if (fromRules.length) {
      for (fromRule of fromRules) {
        if ("namespaceSelector" in fromRule && "podSelector" in fromRule) n += 1;
        else {
          if ("podSelector" in fromRule) n += 1;
          if ("namespaceSelector" in fromRule) n += 1;
        }
        if ("ipBlock" in fromRule) {
          if ("except" in fromRule.ipBlock) n += fromRule.ipBlock.except.length;
          if ("cidr" in fromRule.ipBlock) n += 1;
        }
      }
    } else n += 1; // implicit allow all
    const ports = ingress.ports ?? [];
    if (ports.length) n *= ports.length;
    numRules += n;
  }
  if (!policyTypes.includes("Egress")) return numRules;
  for (const egress of spec.egress ?? []) {
    let n = 0;
    const toRules = egress.to ?? [];
    if (toRules.length) {
      for (const toRule of toRules) {
        if ("namespaceSelector" in toRule && "podSelector" in toRule) n += 1;
        else {
          if ("podSelector" in toRule) n += 1;
          if ("namespaceSelector" in toRule) n += 1;
        }
        if ("ipBlock" in toRule) {
          if ("except" in toRule.ipBlock) n += fromRule.ipBlock.except.length;
          if ("cidr" in toRule.ipBlock) n += 1;
        }
      }
    } else n += 1; // allow to any
    const ports = egress.ports ?? [];
    if (ports.length) n *= ports.length;
    numRules += n;
  }
  return numRules;
}

function load(file: string) {
  const text = readFileSync(join(DIR, file), "utf8");
  const upstream = [...text.matchAll(/^# upstream: (\S+)$/gm)].map((m) => m[1]!);
  const docs = YAML.parseAllDocuments(text).map((d) => d.toJSON());
  const head = docs[0] as { model?: "r4" | "r5"; conf?: string };
  const cfg = parseConfig(head.conf ?? "", { model: head.model });
  const snap = emptySnapshot();
  const plural: Record<string, "namespaces" | "pods" | "networkpolicies"> = {
    Namespace: "namespaces",
    Pod: "pods",
    NetworkPolicy: "networkpolicies",
  };
  for (const d of docs.slice(1) as KubeObject[]) snap[plural[d.kind]!].set(cacheKey(d), d);
  const objects = translateAll(snap, cfg, emptyView()).flatMap((u) => u.objects);
  const policies = [...snap.networkpolicies.values()];
  return { upstream, cfg, objects, policies };
}

const files = readdirSync(DIR).filter((f) => f.startsWith("r5-upstream-") && f.endsWith(".input.yaml"));

describe("golden cases taken from upstream's test_vnc_network_policy.py hold what those tests assert", () => {
  it("covers the upstream tests that build a NetworkPolicy", () => {
    const named = new Set(files.flatMap((f) => load(f).upstream.map((u) => u.split("::").at(-1))));
    for (const m of [
      "test_add_network_policy",
      "test_add_np_allow_all",
      "test_add_np_allow_app_to_web_in_same_namespace",
      "test_add_np_allow_app_to_web_in_different_namespace",
      "test_add_np_allow_app_to_web_with_egress_cidr",
      "test_add_np_allow_app_to_web_with_egress_cidr_multiple_ipblocks",
      "test_add_np_allow_app_to_web_with_egress_cidr_multiple_ports",
      "test_add_np_default_allow_all_ingress",
      "test_add_np_default_deny_all_ingress",
      "test_add_np_default_deny_all_egress",
      "test_add_np_default_allow_all_egress",
      "test_add_np_default_deny_all_ingress_egress",
      "test_add_network_policy_scaling",
      "test_ingress_policy_periodic_validate",
      "test_deny_all_policy_periodic_validate",
      "test_allow_all_policy_periodic_validate",
      "test_periodic_validate_with_user_policies",
      "test_network_policy_ordering_resolve_during_modify",
      "test_add_np_allow_app_to_web_with_ingress_podnsselector",
      "test_add_np_allow_app_to_web_with_ingress_podnsselector_allowany",
      "test_add_np_allow_app_to_web_with_egress_podnsselector",
      "test_add_np_allow_app_to_web_with_egress_podnsselector_allowany",
      "test_add_np_allow_app_to_web_with_egress_sctp",
      "test_add_match_expression_in_podselector",
      "test_allow_only_same_ns_empty_podselector",
    ])
      expect(named, m).toContain(m);
  });

  for (const f of files) {
    it(f.replace(/\.input\.yaml$/, ""), () => {
      const { upstream, cfg, objects, policies } = load(f);
      expect(upstream.length, `${f}: no "# upstream:" header line`).toBeGreaterThan(0);
      const c = cfg.clusterName;
      const find = (type: string, name: string) =>
        objects.find((o) => o.type === type && o.fq_name.join(":") === `${PM}:${name}`);
      const refs = (type: string, name: string, field: string) =>
        (find(type, name)?.refs[field] ?? []).map((r) => ({
          name: r.to.at(-1)!,
          seq: (r.attr as { sequence: string }).sequence,
        }));
      const denyall = refs("firewall-policy", `${c}-denyall`, "firewall_rule_refs").map((r) => r.name);
      for (const np of policies) {
        const { name, namespace: ns } = np.metadata as { name: string; namespace: string };
        const fp = `${c}-${ns}-${name}`;
        expect(find("firewall-policy", fp), `firewall-policy ${fp}`).toBeDefined();
        // _validate_spec
        expect(refs("firewall-policy", fp, "firewall_rule_refs").length, `rules of ${fp}`).toBe(
          upstreamSpecRuleCount(np.spec),
        );
        const types: string[] = np.spec?.policyTypes ?? ["Ingress"];
        if (types.includes("Ingress")) expect(denyall).toContain(`${ns}-ingress-${name}-denyall`);
        if (types.includes("Egress")) expect(denyall).toContain(`${ns}-egress-${name}-default-deny-all`);
      }
      // the cluster APS: Ingress, user policies in the order they were added, denyall, allowall
      const aps = refs("application-policy-set", cfg.apsName ?? c, "firewall_policy_refs");
      const added = [...policies]
        .sort((a, b) =>
          String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)),
        )
        .map((np) => `${c}-${np.metadata.namespace}-${np.metadata.name}`);
      expect(aps.map((r) => r.name)).toEqual([`${c}-Ingress`, ...added, `${c}-denyall`, `${c}-allowall`]);
      const seqs = aps.map((r) => Number(r.seq));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
    });
  }
});
