// The HTTP server around the app, with the limits that bound what clients can
// make one process hold: MAX_CONNECTIONS and MAX_REQUESTS_PER_CONNECTION.
import type { RequestListener, Server } from "node:http";
import type { Logger } from "pino";
import type { Config } from "./config.ts";
import { createServer } from "./node-http.ts";

type Limits = Pick<Config, "maxConnections" | "maxRequestsPerConnection">;

export function createHttpServer(app: RequestListener, limits: Limits, logger: Logger, dropLogMs = 1000): Server {
  const server = createServer(app);
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
