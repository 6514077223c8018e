/**
 * What the controller reports: prom-client metrics (queue depth, failing units, reconcile latency, VNC calls
 * and errors) and the status endpoint on 127.0.0.1 (`/status` as JSON, `/metrics` as Prometheus text).
 *
 * Example:
 *   const m = controllerMetrics(queue);
 *   const vnc = new VncClient(url, { onCall: m.onCall });
 *   const s = await serveStatus(8108, () => status(), m.registry);   // s.url, s.close()
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { VncCallInfo } from "./vnc/client";

export interface ControllerStatus {
  inSync: boolean;
  queueDepth: number;
  inflight: number;
  /** Units whose last attempt failed or that are blocked (retried with backoff). */
  failing: number;
  lastError?: string;
}

export interface ControllerMetrics {
  registry: Registry;
  /** Time to translate and apply one unit, by unit kind. */
  latency: Histogram<"kind">;
  /** For the VNC client's `onCall`. */
  onCall: (info: VncCallInfo) => void;
}

/** The controller's metrics; queue depth and failing units are read from `queue` when scraped. */
export function controllerMetrics(queue: { depth(): number; failing(): number }): ControllerMetrics {
  const registry = new Registry();
  new Gauge({
    name: "ctb_controller_queue_depth",
    help: "units waiting",
    registers: [registry],
    collect() {
      this.set(queue.depth());
    },
  });
  new Gauge({
    name: "ctb_controller_units_failing",
    help: "units retrying",
    registers: [registry],
    collect() {
      this.set(queue.failing());
    },
  });
  const latency = new Histogram({
    name: "ctb_controller_reconcile_seconds",
    help: "time to translate and apply one unit",
    labelNames: ["kind"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const calls = new Counter({
    name: "ctb_controller_vnc_calls_total",
    help: "VNC API calls",
    labelNames: ["method", "what"],
    registers: [registry],
  });
  const errors = new Counter({
    name: "ctb_controller_vnc_errors_total",
    help: "VNC API calls answered with an error status",
    labelNames: ["status"],
    registers: [registry],
  });
  return {
    registry,
    latency,
    onCall: ({ method, what, status }) => {
      calls.inc({ method, what });
      if (status >= 400 || status === 0) errors.inc({ status: String(status) });
    },
  };
}

/** Serve `/status` and `/metrics` on 127.0.0.1:`port` (0: a free port). */
export async function serveStatus(
  port: number,
  status: () => ControllerStatus,
  registry: Registry,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.url === "/status") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(status()));
    } else if (req.url === "/metrics") {
      registry.metrics().then(
        (text) => {
          res.setHeader("content-type", registry.contentType);
          res.end(text);
        },
        (e: Error) => {
          res.statusCode = 500;
          res.end(e.message);
        },
      );
    } else {
      res.statusCode = 404;
      res.end("not found: try /status or /metrics\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
