/**
 * The libpcap binding the netns processes use: the assertion-free build from tools/build-cap.sh when present
 * (a tap deleted under an open handle just stops it), else the stock `cap`, which aborts the process then.
 *
 * Example: `const c = new capBinding.Cap(); c.open("fabric0", "", 4 << 20, Buffer.alloc(65535))`.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type capModule from "cap";

const NDEBUG_DIR = join(import.meta.dirname, "../../.cache/cap-ndebug");
const NDEBUG_CAP = join(NDEBUG_DIR, "lib/Cap.js");

export const captureAddon: "ndebug" | "stock" = existsSync(join(NDEBUG_DIR, "build/Release/cap.node"))
  ? "ndebug"
  : "stock";

export const capBinding = createRequire(import.meta.url)(
  captureAddon === "ndebug" ? NDEBUG_CAP : "cap",
) as typeof capModule;
