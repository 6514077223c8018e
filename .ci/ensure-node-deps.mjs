// Installs the npm dependencies when a fresh clone has none (or the lock file changed), so `npm start` and
// `npm test` work as the first command on a new machine.
import { execSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";

const lockHash = createHash("sha256").update(readFileSync("package-lock.json")).digest("hex");
const marker = "node_modules/.ctb-lock-hash";
if (!existsSync(marker) || readFileSync(marker, "utf8") !== lockHash) {
  console.error("ctb: installing npm dependencies (npm ci)…");
  execSync("npm ci --no-audit --no-fund", { stdio: "inherit" });
  writeFileSync(marker, lockHash);
}
