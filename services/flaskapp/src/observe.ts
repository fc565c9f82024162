// Per-request observation: one JSON log line and the Prometheus request
// metrics, both computed once when the response closes. This runs on every
// request, so it stays cheap: no per-request closures beyond one listener,
// and metric children cached by label values. Every label takes a value from
// a fixed set (methods, statuses, route templates), so no traffic can grow
// /metrics beyond MAX_SERIES.
import type { RequestHandler, Response } from "express";
import type { Logger } from "pino";
import { Counter, Histogram, type LabelValues, type Registry } from "prom-client";
import { traceIdOf } from "./tracing.ts";

/** Route label for requests no route matched; keeps label cardinality bounded. */
export const UNMATCHED_ROUTE = "unmatched";
/** Status logged when the client went away before the response was sent (nginx's convention). */
export const CLIENT_CLOSED = 499;
const MAX_LOGGED_PATH = 256;

/** Methods counted under their own name; any other is `other`. */
export const METHOD_LABELS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;
const OTHER_METHOD = "other";
/**
 * Statuses counted under their own code: what flaskapp sends itself and the
 * ones the lessons use. Any other is counted by class (`2xx` ... `5xx`).
 */
export const STATUS_LABELS = [
  200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308,
  400, 401, 403, 404, 405, 408, 409, 410, 413, 429, 431, CLIENT_CLOSED,
  500, 501, 502, 503, 504, 508,
] as const;
const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHOD_LABELS);
const KNOWN_STATUSES: ReadonlySet<number> = new Set(STATUS_LABELS);

/** The `method` label: the method itself if it is a common one, else `other`. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : OTHER_METHOD;
}

/** The status class label: `1xx` to `5xx` (flaskapp never sends anything outside 100-599). */
export function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100) - 1] ?? "5xx";
}

/** The `status` label: the code if it is in STATUS_LABELS, else its class. */
export function statusLabel(status: number): string {
  return KNOWN_STATUSES.has(status) ? String(status) : statusClass(status);
}

/** Buckets of the duration histogram (prom-client's defaults, in seconds). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The most /metrics can weigh, whatever the traffic: every label comes from a
 * fixed set, so the request series are at most (7 methods + other) × routes ×
 * (STATUS_LABELS + 5 classes) counters plus routes × 5 classes histograms of
 * 14 lines each (about 4,100 lines for flaskapp's 12 route labels). A test
 * records every one of those series and checks the size stays under this.
 */
export const MAX_METRICS_BYTES = 512 * 1024;

type CountLabels = "method" | "route" | "status";
type DurationLabels = "route" | "status_class";
interface Children {
  count: { inc(): void };
  duration: { observe(seconds: number): void };
}

/**
 * Marks a response whose connection flaskapp cut on purpose after part of it
 * was sent (an upstream that fell silent or sent too much): the request log
 * says why, instead of the response looking like a client that went away.
 */
export function markCut(res: Response, reason: string): void {
  res.locals.cut = reason;
}

export interface Lifecycle {
  /** Set when SIGTERM/SIGINT arrived: /readyz answers 503 and responses ask clients to reconnect. */
  shuttingDown: boolean;
}

/**
 * The request metrics in `registry`: returns the function that records one
 * request. Children are cached by label values, so this cache is bounded by
 * the same fixed sets as the series.
 */
export function requestMetrics(registry: Registry): (method: string, route: string, status: number, seconds: number) => void {
  const count = new Counter<CountLabels>({
    name: "http_requests_total",
    help: "HTTP requests served, by method (other for uncommon ones), route template and status (a class for uncommon ones)",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const duration = new Histogram<DurationLabels>({
    name: "http_request_duration_seconds",
    help: "Time from request to response end, by route template and status class",
    labelNames: ["route", "status_class"],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const children = new Map<string, Children>();
  return (rawMethod, route, rawStatus, seconds) => {
    const method = methodLabel(rawMethod);
    const status = statusLabel(rawStatus);
    const key = `${method} ${status} ${route}`;
    let found = children.get(key);
    if (found === undefined) {
      const counted: LabelValues<CountLabels> = { method, route, status };
      const timed: LabelValues<DurationLabels> = { route, status_class: statusClass(rawStatus) };
      found = { count: count.labels(counted), duration: duration.labels(timed) };
      children.set(key, found);
    }
    found.count.inc();
    found.duration.observe(seconds);
  };
}

export function observeRequests(logger: Logger, registry: Registry, lifecycle: Lifecycle): RequestHandler {
  const record = requestMetrics(registry);
  return (req, res, next) => {
    const started = performance.now();
    if (lifecycle.shuttingDown) res.setHeader("connection", "close");
    res.once("close", () => {
      const seconds = (performance.now() - started) / 1000;
      const route: string = req.route?.path ?? UNMATCHED_ROUTE;
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED;
      record(req.method, route, status, seconds);
      if (!logger.isLevelEnabled("info")) return;
      const url = req.originalUrl;
      const query = url.indexOf("?");
      const path = query === -1 ? url : url.slice(0, query);
      logger.info(
        {
          method: req.method,
          route,
          path: path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path,
          host: req.headers.host,
          status,
          durationMs: Math.round(seconds * 1e6) / 1000,
          requestId: req.headers["x-request-id"],
          traceId: traceIdOf(req.headers),
          aborted: res.writableFinished ? undefined : true,
          cut: res.locals.cut,
        },
        "request",
      );
    });
    next();
  };
}
