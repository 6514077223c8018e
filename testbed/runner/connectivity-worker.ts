/**
 * A worker thread of `ctb connectivity` (connectivity.ts `reachSets`): builds the simulated network from the
 * image it is handed and answers its share of the pairs with the same all-packets analysis (reach-set.ts),
 * posting back one reach set per pair, in order.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type DryRunImage, SimNetwork } from "../../fake-vrouter/datapath/sim-network";
import type { ConnectivityJob } from "./connectivity";
import { type ReachSet, reachSet } from "./reach-set";
import type { Testbed } from "./testbed";

const { image, job } = workerData as { image: DryRunImage; job: ConnectivityJob };
const net = SimNetwork.fromImage(image);
// the two questions the analysis asks of a simulated datapath
const tb: Pick<Testbed, "datapath" | "reachOutcome" | "ecmpPossible"> = {
  datapath: "sim",
  reachOutcome: (req, onArrival, window) =>
    net.reachOutcome(req.from, req.toIp, req.proto, req.port ?? 0, req.sport, onArrival, window),
  ecmpPossible: (ip) => net.ecmpPossible(ip),
};
const sets: ReachSet[] = [];
for (const q of job.pairs)
  sets.push(
    await reachSet(tb as Testbed, q.from, q.toIp, { pieces: job.pieces, srcIp: q.srcIp, icmpId: q.icmpId }),
  );
parentPort!.postMessage(sets);
