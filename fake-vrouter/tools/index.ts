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
