/**
 * The vrouter's own debugging tools, by the name a runbook calls them: `vif`, `nh`, `rt`, `flow`, `dropstats`,
 * `mpls`, `vrfstats`. Each reads a `VrouterView` and answers as the real utility (tf-vrouter utils/) does.
 *
 * Example: `runTool("nh", ["--list"], view)`.
 */
import { dropstats, mpls, vrfstats } from "./counters";
import { flow } from "./flow";
import { nh } from "./nh";
import { rt } from "./rt";
import type { ToolResult, VrouterView } from "./view";
import { vif } from "./vif";

export type { ToolResult, VrouterView } from "./view";

export const TOOLS = { vif, nh, rt, flow, dropstats, mpls, vrfstats } as const;
export type ToolName = keyof typeof TOOLS;

export function isTool(name: string): name is ToolName {
  return Object.hasOwn(TOOLS, name);
}

/** Tools whose entries span lines up to a blank line (the rest print one row per line). */
const ENTRY_TOOLS: readonly string[] = ["vif", "nh", "flow", "vrfstats"];

/**
 * The rows of a tool's output, for checks that look for one: an entry of vif, nh, flow and vrfstats (its lines
 * up to a blank line), a line of rt, mpls and dropstats.
 */
export function toolRows(tool: string, stdout: string): string[] {
  const rows = ENTRY_TOOLS.includes(tool) ? stdout.split(/\n\s*\n/) : stdout.split("\n");
  return rows.map((r) => r.trim()).filter((r) => r !== "");
}

/** Runs one tool; an unknown name answers as a shell would (exit 127). */
export function runTool(name: string, argv: string[], view: VrouterView): ToolResult {
  if (!isTool(name))
    return {
      stdout: "",
      stderr: `${name}: command not found (the vrouter tools are ${Object.keys(TOOLS).join(", ")})\n`,
      code: 127,
    };
  return TOOLS[name](argv, view);
}
