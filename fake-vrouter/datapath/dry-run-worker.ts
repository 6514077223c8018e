/**
 * A worker thread of the dry-run pool (dry-run-pool.ts): builds the network from the image it is handed and
 * answers the chunks of cells it claims, posting back one outcome code per cell of each.
 */
import { parentPort, workerData } from "node:worker_threads";
import { answerChunks, answerSlice, type WorkerData, type WorkerJob } from "./dry-run-pool";
import { SimNetwork } from "./sim-network";

const { image, job, queue } = workerData as WorkerData<WorkerJob>;
const net = SimNetwork.fromImage(image);
await answerChunks(
  queue,
  (lo, hi) => {
    const out = new Uint8Array(hi - lo);
    answerSlice(net, job.batch, job.sports, lo, hi, out, lo);
    return out;
  },
  (m) => parentPort!.postMessage(m),
);
