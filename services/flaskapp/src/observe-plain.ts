// The plain request recorder (FLASKAPP_OBSERVE=plain): the same metrics and
// the same request log line as observe-tuned.ts, through pino's and
// prom-client's public APIs only (logger.info, Counter, Histogram), so it
// keeps working across upgrades of either library.
import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import {
  DURATION_BUCKETS,
  DURATION_HELP,
  loggedMs,
  loggedPath,
  methodLabel,
  type RequestMetrics,
  type RequestRecorder,
  REQUESTS_HELP,
  statusClass,
  statusLabel,
} from "./observe.ts";
import { traceIdOf } from "./tracing.ts";

/** `http_requests_total` and `http_request_duration_seconds` as prom-client's own Counter and Histogram. */
export class PlainRequestMetrics implements RequestMetrics {
  readonly #requests: Counter<"method" | "route" | "status">;
  readonly #durations: Histogram<"route" | "status_class">;

  constructor(registry: Registry) {
    this.#requests = new Counter({
      name: "http_requests_total",
      help: REQUESTS_HELP,
      labelNames: ["method", "route", "status"],
      registers: [registry],
    });
    this.#durations = new Histogram({
      name: "http_request_duration_seconds",
      help: DURATION_HELP,
      labelNames: ["route", "status_class"],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
  }

  record(method: string, route: string, status: number, seconds: number): void {
    this.#requests.inc({ method: methodLabel(method), route, status: statusLabel(status) });
    this.#durations.observe({ route, status_class: statusClass(status) }, seconds);
  }
}

/** The plain RequestRecorder: PlainRequestMetrics and `logger.info({...}, "request")` (pino leaves out the undefined fields). */
export function plainRecorder(logger: Logger, registry: Registry): RequestRecorder {
  const metrics = new PlainRequestMetrics(registry);
  return {
    record(req, res, route, status, ms, aborted) {
      metrics.record(req.method, route, status, ms / 1000);
      logger.info(
        {
          method: req.method,
          route,
          path: loggedPath(req.originalUrl),
          host: req.headers.host,
          status,
          durationMs: loggedMs(ms),
          requestId: req.headers["x-request-id"],
          traceId: traceIdOf(req.headers),
          aborted: aborted || undefined,
          cut: res.locals.cut as string | undefined,
        },
        "request",
      );
    },
  };
}
