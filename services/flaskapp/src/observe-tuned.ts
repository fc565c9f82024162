// The tuned request recorder (FLASKAPP_OBSERVE=tuned): what observe-plain.ts
// does through pino's and prom-client's public APIs, built to cost next to
// nothing per request (bench/RESULTS.md, "changes"): metric series bound once
// per label set and then updated by plain additions, rendered by a stand-in
// prom-client Metric, and the log line concatenated from parts computed once,
// in exactly the shape pino would write, straight to the logger's stream
// (found through pino.symbols). Both reach into library internals: after an
// upgrade of pino or prom-client, test/flaskapp/observe.test.ts says whether
// this still writes what the plain recorder writes.
import type { Request, Response } from "express";
import pino, { type Logger } from "pino";
import type { Metric, Registry } from "prom-client";
import {
  classIndex,
  DURATION_BUCKETS,
  DURATION_HELP,
  loggedMs,
  loggedPath,
  METHOD_LABELS,
  type RequestMetrics,
  type RequestRecorder,
  REQUESTS_HELP,
  STATUS_CLASSES,
  STATUS_LABELS,
} from "./observe.ts";
import { traceIdOf } from "./tracing.ts";

const OTHER_METHOD = "other";
const KNOWN_STATUSES: ReadonlySet<number> = new Set(STATUS_LABELS);

const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHOD_LABELS.map((method, i) => [method, i]));
/** Status label values by index: STATUS_LABELS, then the classes. */
const STATUS_VALUES: readonly string[] = [...STATUS_LABELS.map(String), ...STATUS_CLASSES];
/** Index into STATUS_VALUES for every status Node can send (100-999). */
const STATUS_INDEX: readonly number[] = Array.from({ length: 1000 }, (_, status) =>
  KNOWN_STATUSES.has(status)
    ? (STATUS_LABELS as readonly number[]).indexOf(status)
    : STATUS_LABELS.length + classIndex(status),
);

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
function registryMetric(
  name: string,
  help: string,
  type: "counter" | "histogram",
  values: () => MetricValue[],
): Metric {
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
export class TunedRequestMetrics implements RequestMetrics {
  readonly #routes = new Map<string, RouteSeries>();
  /** in creation order, as prom-client would list them */
  readonly #counts: CountSeries[] = [];
  readonly #durations: DurationSeries[] = [];

  constructor(registry: Registry) {
    registry.registerMetric(
      registryMetric("http_requests_total", REQUESTS_HELP, "counter", () =>
        this.#counts.map((s) => ({ labels: { ...s.labels }, value: s.value })),
      ),
    );
    registry.registerMetric(
      registryMetric("http_request_duration_seconds", DURATION_HELP, "histogram", () =>
        this.#durations.flatMap((s) => {
          let cumulative = 0;
          const name = "http_request_duration_seconds";
          return [
            ...DURATION_BUCKETS.map((le, i) => ({
              labels: { le, ...s.labels },
              value: (cumulative += s.buckets[i]!),
              metricName: `${name}_bucket`,
            })),
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
      count = {
        labels: { method: METHOD_LABELS[methodAt] ?? OTHER_METHOD, route, status: STATUS_VALUES[statusAt]! },
        value: 0,
      };
      series.counts[countAt] = count;
      this.#counts.push(count);
    }
    count.value++;
    const classAt = classIndex(status);
    let duration = series.durations[classAt];
    if (duration === undefined) {
      duration = {
        labels: { route, status_class: STATUS_CLASSES[classAt]! },
        buckets: DURATION_BUCKETS.map(() => 0),
        sum: 0,
        count: 0,
      };
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
function requestLogWriter(
  logger: Logger,
): (req: Request, res: Response, route: string, status: number, ms: number, aborted: boolean) => void {
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
    const path = loggedPath(req.originalUrl);
    const { host, "x-request-id": requestId } = req.headers;
    const traceId = traceIdOf(req.headers);
    const cut = res.locals.cut as string | undefined;
    stream.write(
      `${level}${stamp()}${internals[chindingsSym] as string},"method":${cachedJson(req.method)},"route":${cachedJson(route)},"path":${pathJson(path)}` +
        `${host === undefined ? "" : `,"host":${hostJson(host)}`},"status":${status},"durationMs":${loggedMs(ms)}` +
        `${requestId === undefined ? "" : `,"requestId":${JSON.stringify(requestId)}`}${traceId === undefined ? "" : `,"traceId":${JSON.stringify(traceId)}`}` +
        `${aborted ? ',"aborted":true' : ""}${cut === undefined ? "" : `,"cut":${JSON.stringify(cut)}`}${message}`,
    );
  };
}

/** The tuned RequestRecorder: TunedRequestMetrics and the request line written straight to the logger's stream. */
export function tunedRecorder(logger: Logger, registry: Registry): RequestRecorder {
  const metrics = new TunedRequestMetrics(registry);
  const writeLine = requestLogWriter(logger);
  return {
    record(req, res, route, status, ms, aborted) {
      metrics.record(req.method, route, status, ms / 1000);
      if (logger.isLevelEnabled("info")) writeLine(req, res, route, status, ms, aborted);
    },
  };
}
