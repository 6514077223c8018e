/**
 * Prometheus metrics of the config API, served at `GET /metrics` beside the VNC routes (no VNC type is named
 * "metric", so the path cannot shadow a collection): requests by method and status with their latency,
 * the change-stream position, and the objects stored per type (counted when scraped).
 *
 * Example: `curl -s 127.0.0.1:8082/metrics | grep contrail_api_objects`
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Store } from "./store";

export interface ApiMetrics {
  registry: Registry;
  /** Counts the request when its response finishes. */
  observe(req: IncomingMessage, res: ServerResponse): void;
  /** Answers `GET /metrics`; false for any other request. */
  serve(req: IncomingMessage, res: ServerResponse): boolean;
}

export function apiMetrics(store: Store): ApiMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: "contrail_api_requests_total",
    help: "HTTP requests answered, by method and status code",
    labelNames: ["method", "code"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "contrail_api_request_duration_seconds",
    help: "Time to answer a request (watch streams excluded)",
    labelNames: ["method"] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  new Gauge({
    name: "contrail_api_change_seq",
    help: "Last committed change (what GET /watch-position reports)",
    registers: [registry],
    collect() {
      this.set(store.seq());
    },
  });
  new Gauge({
    name: "contrail_api_objects",
    help: "Objects stored, by type",
    labelNames: ["type"] as const,
    registers: [registry],
    collect() {
      const counts = new Map<string, number>();
      for (const o of store.committed.all()) counts.set(o.type, (counts.get(o.type) ?? 0) + 1);
      this.reset();
      for (const [type, n] of counts) this.set({ type }, n);
    },
  });
  return {
    registry,
    observe(req, res) {
      if (req.url?.startsWith("/watch")) return; // long-lived streams would skew the latencies
      const t0 = process.hrtime.bigint();
      res.once("finish", () => {
        const method = req.method ?? "GET";
        requests.inc({ method, code: String(res.statusCode) });
        latency.observe({ method }, Number(process.hrtime.bigint() - t0) / 1e9);
      });
    },
    serve(req, res) {
      if (req.method !== "GET" || (req.url !== "/metrics" && !req.url?.startsWith("/metrics?"))) return false;
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
      return true;
    },
  };
}
