// flaskapp's entry point: configuration from the environment, the logger, the
// HTTP server and the signals. Everything else is in createApp.
import { createServer } from "./node-http.ts";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { createApp } from "./app.ts";
import { describeConfig, listenError, parseConfig } from "./config.ts";
import type { Lifecycle } from "./observe.ts";
import { handleShutdown } from "./shutdown.ts";

const config = parseConfig(process.env);
if (config instanceof Error) {
  process.stderr.write(`flaskapp: ${config.message}\n`);
  process.exit(1);
}

// Asynchronous writes keep logging off the request path, and buffering lines up
// to LOG_BATCH_BYTES makes one write per batch instead of one per request (less
// CPU per request: bench/RESULTS.md, "changes"). A quiet server still shows each
// line within LOG_FLUSH_MS; exit() flushes what is left.
const LOG_BATCH_BYTES = 4096;
const LOG_FLUSH_MS = 100;
const destination = pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS });
const logger = pino({ level: config.logLevel, base: undefined }, destination);
const lifecycle: Lifecycle = { shuttingDown: false };
const server = createServer(createApp(config, { logger, env: process.env, lifecycle }));

function exit(code: number): never {
  destination.flushSync();
  process.exit(code);
}

// Beyond MAX_CONNECTIONS new connections are closed as they arrive (each
// connection holds buffers, so this bounds memory). Logged at most once a second.
server.maxConnections = config.maxConnections;
let dropped = 0;
server.on("drop", () => {
  if (dropped++ > 0) return;
  setTimeout(() => {
    logger.warn({ dropped, maxConnections: config.maxConnections }, "connections refused: MAX_CONNECTIONS reached");
    dropped = 0;
  }, 1000).unref();
});

server.on("error", (error: NodeJS.ErrnoException) => {
  process.stderr.write(`flaskapp: ${listenError(error, config.port, config.host)}\n`);
  exit(1);
});
server.listen({ port: config.port, host: config.host }, () => {
  const { address, port } = server.address() as AddressInfo;
  logger.info({ address, port, config: describeConfig(config) }, "listening");
  destination.flush();
});
handleShutdown({ server, lifecycle, logger, shutdownDelayMs: config.shutdownDelayMs, drainTimeoutMs: config.drainTimeoutMs, exit });
