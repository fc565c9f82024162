// flaskapp's entry point: configuration from the environment, the logger, the
// HTTP server and the signals. Everything else is in createApp.
import type { AddressInfo } from "node:net";
import { getHeapStatistics } from "node:v8";
import pino from "pino";
import { createApp } from "./app.ts";
import { describeConfig, listenError, parseConfig } from "./config.ts";
import type { Lifecycle } from "./observe.ts";
import { LineBatch, writeAllSync } from "./line-batch.ts";
import { createHttpServer } from "./server.ts";
import { handleShutdown } from "./shutdown.ts";

const config = parseConfig(process.env);
if (config instanceof Error) {
  process.stderr.write(`flaskapp: ${config.message}\n`);
  process.exit(1);
}

// Lines gathered up to LOG_BATCH_BYTES make one write per batch instead of one
// per request (less CPU per request: bench/RESULTS.md, "changes"). A quiet
// server still shows each line within LOG_FLUSH_MS; exit() flushes what is left.
const LOG_BATCH_BYTES = 16 * 1024;
const LOG_FLUSH_MS = 100;
const destination = new LineBatch((bytes) => writeAllSync(1, bytes), LOG_BATCH_BYTES, LOG_FLUSH_MS);
const logger = pino({ level: config.logLevel, base: undefined }, destination);
const lifecycle: Lifecycle = { shuttingDown: false };
const server = createHttpServer(createApp(config, { logger, env: process.env, lifecycle }), config, logger);

function exit(code: number): never {
  destination.flush();
  process.exit(code);
}

server.on("error", (error: NodeJS.ErrnoException) => {
  process.stderr.write(`flaskapp: ${listenError(error, config.port, config.host)}\n`);
  exit(1);
});
server.listen({ port: config.port, host: config.host }, () => {
  const { address, port } = server.address() as AddressInfo;
  // V8's heap limit, as the image's --max-old-space-size-percentage sized it from the container's memory limit.
  const heapLimitMiB = Math.round(getHeapStatistics().heap_size_limit / 1024 / 1024);
  logger.info({ address, port, heapLimitMiB, config: describeConfig(config) }, "listening");
  destination.flush();
});
handleShutdown({ server, lifecycle, logger, shutdownDelayMs: config.shutdownDelayMs, drainTimeoutMs: config.drainTimeoutMs, exit });
