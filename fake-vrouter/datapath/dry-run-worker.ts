/**
 * A worker thread of the dry-run pool (dry-run-pool.ts): builds the network from the image it is handed and
 * answers its slice of cells, posting back one outcome code per cell.
 */
import { parentPort, workerData } from "node:worker_threads";
import { answerSlice, type WorkerJob } from "./dry-run-pool";
import { SimNetwork } from "./sim-network";

const job = workerData as WorkerJob;
const net = SimNetwork.fromImage(job.image);
const out = new Uint8Array(job.batch.from.length);
answerSlice(net, job.batch, job.sports, 0, out.length, out);
parentPort!.postMessage(out, [out.buffer]);
