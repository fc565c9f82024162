// Per-request observation: one JSON log line and the Prometheus request
// metrics, both recorded once when the response is done. This runs on every
// request, so it is built to cost next to nothing (bench/RESULTS.md, "changes"):
// no listener for responses answered at once, metric series bound once per
// label set and then updated by plain additions, and the log line
// concatenated from parts computed once, in exactly the shape pino would write.
// Every label takes a value from a fixed set (methods, statuses, route
// templates), so no traffic can grow /metrics beyond MAX_METRICS_BYTES.
import type { RequestHandler, Request, Response } from "express";
import pino, { type Logger } from "pino";
import type { Metric, Registry } from "prom-client";
import { traceIdOf } from "./tracing.ts";

/** Route label for requests no route matched; keeps label cardinality bounded. */
export const UNMATCHED_ROUTE = "unmatched";
/** Status logged when the client went away before the response was sent (nginx's convention). */
export const CLIENT_CLOSED = 499;
const MAX_LOGGED_PATH = 256;
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
  return STATUS_CLASSES[classIndex(status)]!;
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

// ---- metrics ------------------------------------------------------------------

const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHOD_LABELS.map((method, i) => [method, i]));
/** Status label values by index: STATUS_LABELS, then the classes. */
const STATUS_VALUES: readonly string[] = [...STATUS_LABELS.map(String), ...STATUS_CLASSES];
/** Index into STATUS_VALUES for every status Node can send (100-999). */
const STATUS_INDEX: readonly number[] = Array.from({ length: 1000 }, (_, status) =>
  KNOWN_STATUSES.has(status) ? (STATUS_LABELS as readonly number[]).indexOf(status) : STATUS_LABELS.length + classIndex(status),
);

function classIndex(status: number): number {
  const index = Math.floor(status / 100) - 1;
  return index >= 0 && index < STATUS_CLASSES.length ? index : STATUS_CLASSES.length - 1;
}

interface CountSeries {
  labels: { method: string; route: string; status: string };
  value: number;
}

interface DurationSeries {
  labels: { route: string; status_class: string };
  /** observations per bucket (not cumulative): bucket i counts values in (DURATION_BUCKETS[i-1], DURATION_BUCKETS[i]] */
  buckets: number[];
  sum: number;
  count: number;
}

/** One route label's series, made on first use: counters by method × status, histograms by status class. */
interface RouteSeries {
  counts: (CountSeries | undefined)[];
  durations: (DurationSeries | undefined)[];
}

type MetricValue = { labels: Record<string, string | number>; value: number; metricName?: string };

/**
 * A metric for prom-client's Registry that renders our own series: the
 * registry formats it exactly as it formats its own counters and histograms.
 */
function registryMetric(name: string, help: string, type: "counter" | "histogram", values: () => MetricValue[]): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: "sum",
    get: async () => ({ name, help, type, aggregator: "sum", values: values() }),
    reset: () => undefined,
  };
  return metric as unknown as Metric;
}

/**
 * `http_requests_total` and `http_request_duration_seconds`. A series is
 * created the first time its label set is seen and kept in an array slot, so
 * recording a request is a Map lookup by route, two array reads and a few additions.
 */
export class RequestMetrics {
  readonly #routes = new Map<string, RouteSeries>();
  /** in creation order, as prom-client would list them */
  readonly #counts: CountSeries[] = [];
  readonly #durations: DurationSeries[] = [];

  constructor(registry: Registry) {
    registry.registerMetric(
      registryMetric(
        "http_requests_total",
        "HTTP requests served, by method (other for uncommon ones), route template and status (a class for uncommon ones)",
        "counter",
        () => this.#counts.map((s) => ({ labels: { ...s.labels }, value: s.value })),
      ),
    );
    registry.registerMetric(
      registryMetric("http_request_duration_seconds", "Time from request to response end, by route template and status class", "histogram", () =>
        this.#durations.flatMap((s) => {
          let cumulative = 0;
          const name = "http_request_duration_seconds";
          return [
            ...DURATION_BUCKETS.map((le, i) => ({ labels: { le, ...s.labels }, value: (cumulative += s.buckets[i]!), metricName: `${name}_bucket` })),
            { labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: `${name}_bucket` },
            { labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` },
            { labels: { ...s.labels }, value: s.count, metricName: `${name}_count` },
          ];
        }),
      ),
    );
  }

  record(method: string, route: string, status: number, seconds: number): void {
    let series = this.#routes.get(route);
    if (series === undefined) {
      series = { counts: [], durations: [] };
      this.#routes.set(route, series);
    }
    const methodAt = METHOD_INDEX.get(method) ?? METHOD_LABELS.length;
    const statusAt = STATUS_INDEX[status] ?? STATUS_LABELS.length + classIndex(status);
    const countAt = methodAt * STATUS_VALUES.length + statusAt;
    let count = series.counts[countAt];
    if (count === undefined) {
      count = { labels: { method: METHOD_LABELS[methodAt] ?? OTHER_METHOD, route, status: STATUS_VALUES[statusAt]! }, value: 0 };
      series.counts[countAt] = count;
      this.#counts.push(count);
    }
    count.value++;
    const classAt = classIndex(status);
    let duration = series.durations[classAt];
    if (duration === undefined) {
      duration = { labels: { route, status_class: STATUS_CLASSES[classAt]! }, buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      series.durations[classAt] = duration;
      this.#durations.push(duration);
    }
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    if (bucket < DURATION_BUCKETS.length) duration.buckets[bucket]!++;
    duration.sum += seconds;
    duration.count++;
  }
}

// ---- the request log line -----------------------------------------------------

/** A value as pino writes it: a JSON string (cached for the few fixed ones: methods, routes). */
const jsonCache = new Map<string, string>();
function cachedJson(text: string): string {
  let json = jsonCache.get(text);
  if (json === undefined) {
    json = JSON.stringify(text);
    // Only methods and route templates come here; the bound keeps a flood of odd methods harmless.
    if (jsonCache.size < 256) jsonCache.set(text, json);
  }
  return json;
}

/** `,"time":<ms since the epoch>` as pino's default timestamp writes it, made once per millisecond instead of once per line. */
function epochStamp(): () => string {
  let ms = Number.NaN;
  let text = "";
  return () => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      text = `,"time":${now}`;
    }
    return text;
  };
}

/** JSON.stringify for a value that is usually the same as the last one (a pod's Host, a probe's path): that one is remembered. */
function lastJson(): (text: string) => string {
  let last: string | undefined;
  let json = "";
  return (text) => {
    if (text !== last) {
      last = text;
      json = JSON.stringify(text);
    }
    return json;
  };
}

/**
 * Writes `request` lines straight to the logger's destination, in the shape
 * `logger.info({method, route, path, ...}, "request")` gives them (level,
 * time, the logger's bindings, the fields in that order, msg), without
 * building the object pino would walk for every request.
 */
function requestLogWriter(logger: Logger): (req: Request, res: Response, route: string, status: number, ms: number, aborted: boolean) => void {
  const { lsCacheSym, timeSym, chindingsSym, endSym, streamSym, messageKeySym } = pino.symbols;
  const internals = logger as unknown as Record<symbol, unknown>;
  const level = (internals[lsCacheSym] as Record<number, string>)[logger.levels.values.info!]!;
  const time = internals[timeSym] as () => string;
  const stamp = time === pino.stdTimeFunctions.epochTime ? epochStamp() : time;
  const pathJson = lastJson();
  const hostJson = lastJson();
  const stream = internals[streamSym] as { write(line: string): unknown };
  const message = `,${JSON.stringify(internals[messageKeySym])}:"request"${internals[endSym] as string}`;
  return (req, res, route, status, ms, aborted) => {
    const url = req.originalUrl;
    const query = url.indexOf("?");
    let path = query === -1 ? url : url.slice(0, query);
    if (path.length > MAX_LOGGED_PATH) path = `${path.slice(0, MAX_LOGGED_PATH)}…`;
    const { host, "x-request-id": requestId } = req.headers;
    const traceId = traceIdOf(req.headers);
    const cut = res.locals.cut as string | undefined;
    stream.write(
      `${level}${stamp()}${internals[chindingsSym] as string},"method":${cachedJson(req.method)},"route":${cachedJson(route)},"path":${pathJson(path)}` +
        `${host === undefined ? "" : `,"host":${hostJson(host)}`},"status":${status},"durationMs":${Math.round(ms * 1000) / 1000}` +
        `${requestId === undefined ? "" : `,"requestId":${JSON.stringify(requestId)}`}${traceId === undefined ? "" : `,"traceId":${JSON.stringify(traceId)}`}` +
        `${aborted ? ',"aborted":true' : ""}${cut === undefined ? "" : `,"cut":${JSON.stringify(cut)}`}${message}`,
    );
  };
}

// ---- the middleware -----------------------------------------------------------

/** When the request arrived (performance.now()), kept on the response for the shared close listener. */
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
 */
export function observeRequests(logger: Logger, registry: Registry, lifecycle: Lifecycle, version: string, afterFirstResponse?: () => void): RequestHandler {
  const metrics = new RequestMetrics(registry);
  const writeLine = requestLogWriter(logger);
  let first = afterFirstResponse;
  function record(res: Observed, aborted: boolean): void {
    const req = res.req;
    const ms = performance.now() - res[STARTED];
    const route: string = req.route?.path ?? UNMATCHED_ROUTE;
    const status = res.headersSent ? res.statusCode : CLIENT_CLOSED;
    metrics.record(req.method, route, status, ms / 1000);
    if (logger.isLevelEnabled("info")) writeLine(req, res, route, status, ms, aborted);
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
    (res as Observed)[STARTED] = performance.now();
    res.setHeader(VERSION_HEADER, version);
    if (lifecycle.shuttingDown) res.setHeader("connection", "close");
    next();
    if (res.writableEnded) record(res as Observed, false);
    else res.on("close", onClose);
  };
}
