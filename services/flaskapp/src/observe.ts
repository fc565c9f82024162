// Per-request observation: one JSON log line and the Prometheus request
// metrics, both computed once when the response closes. This runs on every
// request, so it stays cheap: no per-request closures beyond one listener,
// and metric children cached by label values.
import type { RequestHandler } from "express";
import type { Logger } from "pino";
import { Counter, Histogram, type LabelValues, type Registry } from "prom-client";
import { traceIdOf } from "./tracing.ts";

/** Route label for requests no route matched; keeps label cardinality bounded. */
export const UNMATCHED_ROUTE = "unmatched";
/** Status logged when the client went away before the response was sent (nginx's convention). */
export const CLIENT_CLOSED = 499;
const MAX_LOGGED_PATH = 256;

type Labels = "method" | "route" | "status";
interface Children {
  count: { inc(): void };
  duration: { observe(seconds: number): void };
}

export interface Lifecycle {
  /** Set when SIGTERM/SIGINT arrived: /readyz answers 503 and responses ask clients to reconnect. */
  shuttingDown: boolean;
}

export function observeRequests(logger: Logger, registry: Registry, lifecycle: Lifecycle): RequestHandler {
  const count = new Counter<Labels>({
    name: "http_requests_total",
    help: "HTTP requests served, by method, route template and status",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const duration = new Histogram<Labels>({
    name: "http_request_duration_seconds",
    help: "Time from request to response end, by method, route template and status",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const children = new Map<string, Children>();
  function childrenFor(method: string, route: string, status: number): Children {
    const key = `${method} ${status} ${route}`;
    let found = children.get(key);
    if (found === undefined) {
      const labels: LabelValues<Labels> = { method, route, status };
      found = { count: count.labels(labels), duration: duration.labels(labels) };
      children.set(key, found);
    }
    return found;
  }

  return (req, res, next) => {
    const started = performance.now();
    if (lifecycle.shuttingDown) res.setHeader("connection", "close");
    res.once("close", () => {
      const seconds = (performance.now() - started) / 1000;
      const route: string = req.route?.path ?? UNMATCHED_ROUTE;
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED;
      const metrics = childrenFor(req.method, route, status);
      metrics.count.inc();
      metrics.duration.observe(seconds);
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
        },
        "request",
      );
    });
    next();
  };
}
