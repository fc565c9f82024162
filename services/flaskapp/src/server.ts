// The HTTP server around the app, with the limits that bound what clients can
// make one process hold: MAX_CONNECTIONS and MAX_REQUESTS_PER_CONNECTION.
import type { Server } from "node:http";
import type { Express } from "express";
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { createServer, IncomingMessage, ServerResponse } from "./node-http.ts";

type Limits = Pick<Config, "maxConnections" | "maxRequestsPerConnection">;

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
export function appObjectClasses(app: Pick<Express, "request" | "response">): { IncomingMessage: RequestClass; ServerResponse: ResponseClass } {
  function AppRequest(...args: ConstructorParameters<RequestClass>): InstanceType<RequestClass> {
    return Reflect.construct(IncomingMessage, args, AppRequest) as InstanceType<RequestClass>;
  }
  AppRequest.prototype = app.request;
  function AppResponse(...args: ConstructorParameters<ResponseClass>): InstanceType<ResponseClass> {
    return Reflect.construct(ServerResponse, args, AppResponse) as InstanceType<ResponseClass>;
  }
  AppResponse.prototype = app.response;
  return { IncomingMessage: AppRequest as unknown as RequestClass, ServerResponse: AppResponse as unknown as ResponseClass };
}

export function createHttpServer(app: Express, limits: Limits, logger: Logger, dropLogMs = 1000): Server {
  const server = createServer(appObjectClasses(app), app);
  // Beyond MAX_CONNECTIONS new connections are closed as they arrive (each
  // connection holds buffers, so this bounds memory); logged at most once per dropLogMs.
  server.maxConnections = limits.maxConnections;
  let dropped = 0;
  server.on("drop", () => {
    if (dropped++ > 0) return;
    setTimeout(() => {
      logger.warn({ dropped, maxConnections: limits.maxConnections }, "connections refused: MAX_CONNECTIONS reached");
      dropped = 0;
    }, dropLogMs).unref();
  });
  // Node parses every request pipelined in one read and serves them all before
  // it reads another socket: thousands per read starve the probes. The answer
  // to request MAX_REQUESTS_PER_CONNECTION asks the client to close, and Node
  // answers requests pipelined beyond it with a bare 503 without serving them.
  server.maxRequestsPerSocket = limits.maxRequestsPerConnection;
  return server;
}
