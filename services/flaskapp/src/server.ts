// The HTTP servers: the app's, with the limits that bound what clients can make
// one process hold (MAX_CONNECTIONS, MAX_REQUESTS_PER_CONNECTION, HEADERS_TIMEOUT,
// REQUEST_TIMEOUT), and the probe listener (PROBE_PORT), which answers only
// /healthz and /readyz with a connection budget of its own, so the kubelet's
// probes get through whatever fills the app's connections.
import type { IncomingMessage as Request, RequestListener, Server, ServerOptions } from "node:http";
import type { Express } from "express";
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { createServer, IncomingMessage, ServerResponse } from "./node-http.ts";

type Limits = Pick<Config, "maxConnections" | "maxRequestsPerConnection" | "headersTimeoutMs" | "requestTimeoutMs">;

type RequestClass = typeof IncomingMessage;
type ResponseClass = typeof ServerResponse;

/**
 * Node's request and response classes, whose instances are born with the app's
 * request and response prototypes. Express gives every request and response
 * those prototypes with Object.setPrototypeOf, and V8 answers that by moving
 * the object to another hidden class: about a tenth of the CPU per request
 * (bench/RESULTS.md, "changes"). On an object that has the prototype already,
 * it does nothing.
 */
export function appObjectClasses(app: Pick<Express, "request" | "response">): {
  IncomingMessage: RequestClass;
  ServerResponse: ResponseClass;
} {
  function AppRequest(...args: ConstructorParameters<RequestClass>): InstanceType<RequestClass> {
    return Reflect.construct(IncomingMessage, args, AppRequest) as InstanceType<RequestClass>;
  }
  AppRequest.prototype = app.request;
  function AppResponse(...args: ConstructorParameters<ResponseClass>): InstanceType<ResponseClass> {
    return Reflect.construct(ServerResponse, args, AppResponse) as InstanceType<ResponseClass>;
  }
  AppResponse.prototype = app.response;
  return {
    IncomingMessage: AppRequest as unknown as RequestClass,
    ServerResponse: AppResponse as unknown as ResponseClass,
  };
}

/**
 * How often Node looks for requests past HEADERS_TIMEOUT or REQUEST_TIMEOUT: a
 * tenth of the headers timeout, from 10 ms to 1 s (Node's default is 30 s, which
 * kept a half-sent request 88 s before its 408 with the default 60 s timeout).
 */
export function checkingIntervalMs(headersTimeoutMs: number): number {
  return Math.min(1000, Math.max(10, Math.round(headersTimeoutMs / 10)));
}

/** Node's options for the request timeouts; a fresh connection that sends nothing is timed from its opening. */
export function timeoutOptions(limits: Pick<Limits, "headersTimeoutMs" | "requestTimeoutMs">): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(limits.headersTimeoutMs),
  };
}

/** Beyond `max`, new connections are closed as they arrive (each holds buffers, so this bounds memory); logged at most once per dropLogMs. */
function capConnections(
  server: Server,
  max: number,
  setting: "MAX_CONNECTIONS" | "PROBE_MAX_CONNECTIONS",
  logger: Logger,
  dropLogMs: number,
): void {
  const field = setting === "MAX_CONNECTIONS" ? "maxConnections" : "probeMaxConnections";
  server.maxConnections = max;
  let dropped = 0;
  server.on("drop", () => {
    if (dropped++ > 0) return;
    setTimeout(() => {
      logger.warn({ dropped, [field]: max }, `connections refused: ${setting} reached`);
      dropped = 0;
    }, dropLogMs).unref();
  });
}

export function createHttpServer(app: Express, limits: Limits, logger: Logger, dropLogMs = 1000): Server {
  const server = createServer({ ...appObjectClasses(app), ...timeoutOptions(limits) }, app);
  capConnections(server, limits.maxConnections, "MAX_CONNECTIONS", logger, dropLogMs);
  // Node parses every request pipelined in one read and serves them all before
  // it reads another socket: thousands per read starve the probes. The answer
  // to request MAX_REQUESTS_PER_CONNECTION asks the client to close, and Node
  // answers requests pipelined beyond it with a bare 503 without serving them.
  server.maxRequestsPerSocket = limits.maxRequestsPerConnection;
  return server;
}

/** The probe listener's answers per connection: the kubelet sends one request per connection; a pipelined flood gets Node's bare 503. */
export const PROBE_REQUESTS_PER_CONNECTION = 1;

/**
 * The probe listener: `handler` (only the probes) behind PROBE_MAX_CONNECTIONS,
 * the same request timeouts as the app, and one request per connection. No
 * request log, no metrics: nothing but the answer.
 */
export function createProbeServer(
  handler: RequestListener<typeof Request>,
  limits: Pick<Config, "probeMaxConnections" | "headersTimeoutMs" | "requestTimeoutMs">,
  logger: Logger,
  dropLogMs = 1000,
): Server {
  const server = createServer(timeoutOptions(limits), handler);
  capConnections(server, limits.probeMaxConnections, "PROBE_MAX_CONNECTIONS", logger, dropLogMs);
  server.maxRequestsPerSocket = PROBE_REQUESTS_PER_CONNECTION;
  return server;
}
