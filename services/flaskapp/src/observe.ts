// Per-request observation: one JSON log line and the Prometheus request
// metrics, both recorded once when the response is done. This file holds what
// both recorders share (the labels, the log line's fields, the middleware that
// times a request and hands it to a RequestRecorder); the recorders are
// observe-plain.ts (pino's and prom-client's public APIs only) and
// observe-tuned.ts (built to cost next to nothing, reaching into both
// libraries), chosen by FLASKAPP_OBSERVE. The middleware adds no listener for
// responses answered at once (bench/RESULTS.md, "changes").
// Every label takes a value from a fixed set (methods, statuses, route
// templates), so no traffic can grow /metrics beyond MAX_METRICS_BYTES.
import type { RequestHandler, Request, Response } from "express";

/** Route label for requests no route matched; keeps label cardinality bounded. */
export const UNMATCHED_ROUTE = "unmatched";
/** Status logged when the client went away before the response was sent (nginx's convention). */
export const CLIENT_CLOSED = 499;
/** Longer request paths are cut to this many characters (and `…`) in the log line. */
export const MAX_LOGGED_PATH = 256;
/** Every response names the version that answered, even when its body came from elsewhere (/fetch). */
export const VERSION_HEADER = "x-flaskapp-version";

/** Methods counted under their own name; any other is `other`. */
export const METHOD_LABELS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;
const OTHER_METHOD = "other";
/**
 * Statuses counted under their own code: what flaskapp sends itself and the
 * ones the lessons use. Any other is counted by class (`2xx` ... `5xx`).
 */
export const STATUS_LABELS = [
  200,
  201,
  202,
  204,
  206,
  301,
  302,
  303,
  304,
  307,
  308,
  400,
  401,
  403,
  404,
  405,
  408,
  409,
  410,
  413,
  429,
  431,
  CLIENT_CLOSED,
  500,
  501,
  502,
  503,
  504,
  508,
] as const;
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHOD_LABELS);
const KNOWN_STATUSES: ReadonlySet<number> = new Set(STATUS_LABELS);

/** The `method` label: the method itself if it is a common one, else `other`. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : OTHER_METHOD;
}

/** The status class label: `1xx` to `5xx` (flaskapp never sends anything outside 100-599). */
export function statusClass(status: number): string {
  return STATUS_CLASSES[classIndex(status)]!;
}

/** Index into STATUS_CLASSES; anything outside 100-599 counts as `5xx`. */
export function classIndex(status: number): number {
  const index = Math.floor(status / 100) - 1;
  return index >= 0 && index < STATUS_CLASSES.length ? index : STATUS_CLASSES.length - 1;
}

/** The `status` label: the code if it is in STATUS_LABELS, else its class. */
export function statusLabel(status: number): string {
  return KNOWN_STATUSES.has(status) ? String(status) : statusClass(status);
}

/** Buckets of the duration histogram (prom-client's defaults, in seconds). */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The most /metrics can weigh, whatever the traffic: every label comes from a
 * fixed set, so the request series are at most (7 methods + other) × routes ×
 * (STATUS_LABELS + 5 classes) counters plus routes × 5 classes histograms of
 * 14 lines each (about 4,100 lines for flaskapp's 12 route labels). A test
 * records every one of those series and checks the size stays under this.
 */
export const MAX_METRICS_BYTES = 512 * 1024;

/**
 * Marks a response whose connection flaskapp cut on purpose after part of it
 * was sent (an upstream that fell silent or sent too much): the request log
 * says why, instead of the response looking like a client that went away.
 */
export function markCut(res: Response, reason: string): void {
  res.locals.cut = reason;
}

/** The help texts of the request metrics, the same in both recorders. */
export const REQUESTS_HELP =
  "HTTP requests served, by method (other for uncommon ones), route template and status (a class for uncommon ones)";
export const DURATION_HELP = "Time from request to response end, by route template and status class";

/** The `path` field of the log line: the URL without its query, at most MAX_LOGGED_PATH characters. */
export function loggedPath(originalUrl: string): string {
  const query = originalUrl.indexOf("?");
  const path = query === -1 ? originalUrl : originalUrl.slice(0, query);
  return path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path;
}

/** The log line's durationMs: milliseconds rounded to the microsecond. */
export function loggedMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * The seam between the middleware and what a request leaves behind: its
 * metrics and, when `info` is enabled, its `request` log line with the fields
 * method, route, path, host?, status, durationMs, requestId?, traceId?,
 * aborted? (only when true) and cut? (markCut), in that order.
 */
export interface RequestRecorder {
  record(req: Request, res: Response, route: string, status: number, ms: number, aborted: boolean): void;
}

/** The request metrics alone (`http_requests_total`, `http_request_duration_seconds`): `method` raw, labels made here. */
export interface RequestMetrics {
  record(method: string, route: string, status: number, seconds: number): void;
}

export interface Lifecycle {
  /** Set when SIGTERM/SIGINT arrived: /readyz answers 503 and responses ask clients to reconnect. */
  shuttingDown: boolean;
}

// ---- the middleware -----------------------------------------------------------

function monotonicMs(): number {
  return performance.now();
}

/** When the request arrived (`now()`), kept on the response for the shared close listener. */
const STARTED = Symbol("flaskapp.started");
type Observed = Response & { [STARTED]: number };

/**
 * The first middleware: stamps the version header (and `Connection: close`
 * once shutdown began) and records the request once its response is done. A
 * handler that answered at once (most do) is recorded as soon as it returns:
 * a close listener on every response cost a tenth of the requests per second
 * (bench/RESULTS.md, "changes"). The others (fetches, delays, scrapes) are
 * recorded when their response closes, which also sees a client that left
 * before its answer. `afterFirstResponse` is called once, after the first record.
 * `now` is the clock durations are measured with (milliseconds; tests pass a fixed one).
 */
export function observeRequests(
  recorder: RequestRecorder,
  lifecycle: Lifecycle,
  version: string,
  afterFirstResponse?: () => void,
  now: () => number = monotonicMs,
): RequestHandler {
  let first = afterFirstResponse;
  function record(res: Observed, aborted: boolean): void {
    const req = res.req;
    const ms = now() - res[STARTED];
    const route: string = req.route?.path ?? UNMATCHED_ROUTE;
    const status = res.headersSent ? res.statusCode : CLIENT_CLOSED;
    recorder.record(req, res, route, status, ms, aborted);
    if (first !== undefined) {
      const call = first;
      first = undefined;
      call();
    }
  }
  function onClose(this: Observed): void {
    record(this, !this.writableFinished);
  }
  return (_req, res, next) => {
    (res as Observed)[STARTED] = now();
    res.setHeader(VERSION_HEADER, version);
    if (lifecycle.shuttingDown) res.setHeader("connection", "close");
    next();
    if (res.writableEnded) record(res as Observed, false);
    else res.on("close", onClose);
  };
}
