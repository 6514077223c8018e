// Installs the npm dependencies when a fresh clone has none, when the lock file changed, or when libpcap has
// appeared since the last install: the optional `cap` addon is skipped by `npm ci` on a machine without
// libpcap-dev (npm removes it), so an install made before `apt-get install libpcap-dev` must be redone once it
// is there. `npm start` and `npm test` can then come in either order on a new machine.
import { execSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const lockHash = createHash("sha256").update(readFileSync("package-lock.json")).digest("hex");
const havePcap = existsSync("/usr/include/pcap/pcap.h") || existsSync("/usr/include/pcap.h");
// the marker says what the install was made against: the lock and whether libpcap could be built against
const want = `${lockHash} pcap=${havePcap ? "yes" : "no"}`;
const marker = "node_modules/.ctb-lock-hash";
const have = existsSync(marker) ? readFileSync(marker, "utf8").trim() : "";
const capMissing = havePcap && !existsSync("node_modules/cap/binding.gyp");
if (have !== want || capMissing) {
  const why = !have
    ? ""
    : have.split(" ")[0] !== lockHash
      ? " (the lock file changed)"
      : " (libpcap is now installed: the cap addon can be built)";
  console.error(`ctb: installing npm dependencies (npm ci)${why}…`);
  execSync("npm ci --no-audit --no-fund", { stdio: "inherit" });
  writeFileSync(marker, want);
}
