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

type CapHandle = InstanceType<typeof capModule.Cap>;
const retired: CapHandle[] = [];

/**
 * Closes a capture handle and keeps it reachable for the rest of the process. The addon stops its uv_poll_t on
 * close but never uv_close()s it, so once the garbage collector frees a closed handle, freed memory stays linked
 * in libuv's handle queue and the next handle libuv links beside it writes into it: a vrouter died of SIGSEGV
 * that way, at random, after pod deletions. A retired handle costs a few hundred bytes.
 */
export function closeCapture(cap: CapHandle): void {
  cap.close();
  cap.removeAllListeners();
  retired.push(cap);
}
