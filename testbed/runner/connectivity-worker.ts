/**
 * A worker thread of `ctb connectivity` (connectivity.ts `reachSets`): builds the simulated network from the
 * image it is handed and answers the chunks of pairs it claims with the same all-packets analysis
 * (reach-set.ts), posting back one reach set per pair of each, in order.
 */
import { parentPort, workerData } from "node:worker_threads";
import { answerChunks, type WorkerData } from "../../fake-vrouter/datapath/dry-run-pool";
import { SimNetwork } from "../../fake-vrouter/datapath/sim-network";
import { askPair, type ConnectivityJob } from "./connectivity";
import type { ReachSet } from "./reach-set";
import type { Testbed } from "./testbed";

const { image, job, queue } = workerData as WorkerData<ConnectivityJob>;
const net = SimNetwork.fromImage(image);
// the two questions the analysis asks of a simulated datapath
const tb: Pick<Testbed, "datapath" | "reachOutcome" | "ecmpPossible"> = {
  datapath: "sim",
  reachOutcome: (req, onArrival, window) =>
    net.reachOutcome(req.from, req.toIp, req.proto, req.port ?? 0, req.sport, onArrival, window),
  ecmpPossible: (ip) => net.ecmpPossible(ip),
};
await answerChunks(
  queue,
  async (lo, hi) => {
    const sets: ReachSet[] = [];
    for (let k = lo; k < hi; k++) sets.push(await askPair(tb as Testbed, job, k));
    return sets;
  },
  (m) => parentPort!.postMessage(m),
);
