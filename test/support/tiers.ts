/**
 * Test tiers that need something from the machine (root and network namespaces, the Python vnc_api venv,
 * cnitool, the built control plane, the network-config-analyzer venv of the NetworkPolicy cross-check: NETPOL_REF,
 * Debian's chromium for the web view's browser test: BROWSER, containerd + runc for real kubelet nodes: KUBELET).
 * Outside CI a missing tier is skipped with a line saying how to get it; with `CTB_REQUIRE_<TIER>=1` (CI sets
 * every one, as does CTB_REQUIRE_ALL=1) a missing tier fails the file, so a broken setup can never pass as a
 * row of skips.
 *
 * Example: `const usable = requireTier("NETNS", await netnsUsable(), "needs root and `ip netns`")`.
 */
export type Tier = "NETNS" | "VNC_API" | "CNITOOL" | "K8S" | "NETPOL_REF" | "BROWSER" | "KUBELET";

export function tierRequired(tier: Tier): boolean {
  return process.env[`CTB_REQUIRE_${tier}`] === "1" || process.env.CTB_REQUIRE_ALL === "1";
}

/** `available`, after failing loudly when the tier is required but missing. */
export function requireTier(tier: Tier, available: boolean, why: string): boolean {
  if (available) return true;
  if (tierRequired(tier)) throw new Error(`CTB_REQUIRE_${tier}=1 but this tier is not available: ${why}`);
  console.warn(`skipped (tier ${tier}): ${why}`);
  return false;
}
