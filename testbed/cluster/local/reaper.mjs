// The control plane's dead-man switch. etcd and the Kubernetes components cannot watch their parent, so the
// testbed starts this small process with a pipe on its stdin and tells it, line by line, which processes it
// started ("add <pid> <starttime>") and stopped ("del <pid>"). When the pipe reaches EOF — the testbed exited,
// however it died, even by SIGKILL — it stops every process still registered, but only while /proc shows the
// same start time (a recycled pid is never signalled), then exits. Plain JavaScript: it must start fast.
import { readFileSync } from "node:fs";

const watched = new Map();

function startTime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  const lines = buffered.split("\n");
  buffered = lines.pop() ?? "";
  for (const line of lines) {
    const [op, pid, start] = line.trim().split(" ");
    if (op === "add" && Number(pid) > 0 && start) watched.set(Number(pid), start);
    else if (op === "del") watched.delete(Number(pid));
  }
});
process.stdin.on("end", async () => {
  // newest first: the scheduler and controller-manager before the apiserver, etcd last
  const pids = [...watched.keys()].reverse();
  const ours = (pid) => startTime(pid) === watched.get(pid);
  for (const pid of pids) {
    if (!ours(pid)) continue;
    signal(pid, "SIGTERM");
    for (let i = 0; i < 50 && ours(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (ours(pid)) signal(pid, "SIGKILL");
  }
  process.exit(0);
});
// Ctrl-C or a hang-up reaches the whole process group: the testbed handles those; EOF ends this watch.
for (const sig of ["SIGINT", "SIGHUP"]) process.on(sig, () => {});
