// The app factory: configuration and dependencies in, express app out. No
// listening, no signals, no process.env: main.ts does those, tests call this.
import express, { type Express, type RequestHandler } from "express";
import type { Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { Config } from "./config.ts";
import { quote } from "./input.ts";
import { type Lifecycle, observeRequests, type RequestRecorder } from "./observe.ts";
import { plainRecorder } from "./observe-plain.ts";
import { tunedRecorder } from "./observe-tuned.ts";
import { errorHandler, sendProblem } from "./problem.ts";
import { primeRouteParams } from "./route-params.ts";
import type { Routes } from "./routes/routes.ts";
import { envRoutes } from "./routes/env.ts";
import { fetchRoutes } from "./routes/fetch.ts";
import { healthRoutes } from "./routes/health.ts";
import { infoRoutes } from "./routes/info.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { statusRoutes } from "./routes/status.ts";

export interface Deps {
  logger: Logger;
  /** Where /env/:name reads from (process.env in production), once, when the app is made. */
  env: Readonly<Record<string, string | undefined>>;
  lifecycle: Lifecycle;
  /** Source of randomness for weighted /status; Math.random by default. */
  random?: () => number;
  /** The clock request durations are measured with, in milliseconds; performance.now by default. */
  now?: () => number;
}

/** The request recorder FLASKAPP_OBSERVE chose (observe.ts, RequestRecorder). */
function recorderFor(config: Config, logger: Logger, registry: Registry): RequestRecorder {
  return config.observe === "plain" ? plainRecorder(logger, registry) : tunedRecorder(logger, registry);
}

const GET_METHODS = "GET, HEAD";
/** Paths FAIL_STATUS leaves alone: the probes and the scrape keep working, so the mesh, not Kubernetes, takes the pod out. */
export const FAIL_STATUS_EXEMPT: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);

export function createApp(config: Config, deps: Deps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  const registry = new Registry();
  // Node's process metrics (prom-client's defaults: the event loop monitor, the GC
  // observer, heap spaces) start after the first response, or at the first scrape
  // if that comes first: the probes need none of them, and loading them is a tenth
  // of the start-up (bench/RESULTS.md, "changes").
  let processMetrics = false;
  const startProcessMetrics = (): void => {
    if (processMetrics) return;
    processMetrics = true;
    collectDefaultMetrics({ register: registry });
  };
  // One middleware ahead of the routes (each one more is a step for every request): log, metrics, version header.
  const recorder = recorderFor(config, deps.logger, registry);
  app.use(observeRequests(recorder, deps.lifecycle, config.version, () => setImmediate(startProcessMetrics), deps.now));

  // FAIL_STATUS answers ahead of each route's own handler (registered for every
  // method, so a wrong method fails too), keeping the route template in the log
  // and metrics; unknown paths fail ahead of the 404.
  const failStatus = config.failStatus;
  const fail: RequestHandler | undefined =
    failStatus === null
      ? undefined
      : (_req, res) => sendProblem(res, failStatus, `this pod fails on purpose (FAIL_STATUS=${failStatus})`);
  const failFirst = (path: string): void => {
    if (fail !== undefined && !FAIL_STATUS_EXEMPT.has(path)) app.all(path, fail);
  };

  const getOnly: string[] = [];
  const routes: Routes = {
    get(path, handler) {
      failFirst(path);
      app.get(path, handler);
      getOnly.push(path);
    },
    any(path, handler) {
      failFirst(path);
      app.all(path, handler);
    },
  };
  // The lessons' route first: express tries the routes in order, and none overlap.
  envRoutes(routes, config, deps.env);
  infoRoutes(routes, config);
  fetchRoutes(routes, config, deps.logger);
  statusRoutes(routes, config, deps.random ?? Math.random);
  healthRoutes(routes, deps.lifecycle);
  metricsRoutes(routes, registry, startProcessMetrics);

  // Express 5 answers a known path with the wrong method as a 404; the HTTP answer is 405 with Allow.
  for (const path of getOnly) {
    app.all(path, (req, res) => {
      res.setHeader("allow", GET_METHODS);
      sendProblem(res, 405, `${req.method} is not allowed on ${path}: use ${GET_METHODS}`);
    });
  }
  // Every parameterized route matched once now, so its parameter stores stay on V8's fast path (route-params.ts).
  primeRouteParams(app.router);
  if (fail !== undefined) app.use(fail);
  app.use((req, res) => sendProblem(res, 404, `no route for ${req.method} ${quote(req.path)}`));
  app.use(errorHandler(deps.logger));
  return app;
}
