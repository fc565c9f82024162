// flaskapp's entry point: configuration from the environment, the logger, the
// HTTP server and the signals. Everything else is in createApp.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getHeapStatistics } from "node:v8";
import pino from "pino";
import { createApp } from "./app.ts";
import { describeConfig, fallbackHost, listenError, parseConfig } from "./config.ts";
import type { Lifecycle } from "./observe.ts";
import { logSink } from "./log-sink.ts";
import { probeHandler } from "./routes/health.ts";
import { createHttpServer, createProbeServer } from "./server.ts";
import { handleShutdown } from "./shutdown.ts";

const config = parseConfig(process.env);
if (config instanceof Error) {
  process.stderr.write(`flaskapp: ${config.message}\n`);
  process.exit(1);
}

// Lines are batched into one write per batch (log-sink.ts); exit() flushes what is left.
const destination = logSink(config.observe, 1);
const logger = pino({ level: config.logLevel, base: undefined }, destination.stream);
const lifecycle: Lifecycle = { shuttingDown: false };
const server = createHttpServer(createApp(config, { logger, env: process.env, lifecycle }), config, logger);

function exit(code: number): never {
  destination.flush();
  process.exit(code);
}

const probeServer = config.probePort === null ? undefined : createProbeServer(probeHandler(lifecycle), config, logger);

/**
 * Listens on config.host (or, for "::" on a kernel without IPv6, on 0.0.0.0).
 * A failure to listen ends the process with one line; an error after that (a
 * failed accept, which Node reports on the server) is logged at most once a
 * second and the server keeps serving: no client should end the process.
 */
function listen(target: Server, port: number, configuredHost: string, onListening: () => void): void {
  let host = configuredHost;
  let listening = false;
  let errors = 0;
  target.on("error", (error: NodeJS.ErrnoException) => {
    if (!listening) {
      const fallback = fallbackHost(error, host);
      if (fallback !== undefined) return void target.listen({ port, host: (host = fallback) });
      process.stderr.write(`flaskapp: ${listenError(error, port, host)}\n`);
      exit(1);
    }
    if (errors++ > 0) return;
    setTimeout(() => {
      logger.warn({ errors, code: error.code, port }, "server error; still serving");
      errors = 0;
    }, 1000).unref();
  });
  target.once("listening", () => {
    listening = true;
    onListening();
  });
  target.listen({ port, host });
}

let listeners = 0;
const onListening = (): void => {
  if (++listeners < (probeServer === undefined ? 1 : 2)) return;
  const { address: host, port } = server.address() as AddressInfo;
  const probePort = probeServer === undefined ? undefined : (probeServer.address() as AddressInfo).port;
  // V8's heap limit, as the image's --max-old-space-size-percentage sized it from the container's memory limit.
  const heapLimitMiB = Math.round(getHeapStatistics().heap_size_limit / 1024 / 1024);
  logger.info({ address: host, port, probePort, heapLimitMiB, config: describeConfig(config) }, "listening");
  destination.flush();
};
listen(server, config.port, config.host, onListening);
if (probeServer !== undefined) listen(probeServer, config.probePort!, config.host, onListening);
handleShutdown({
  server,
  lifecycle,
  logger,
  shutdownDelayMs: config.shutdownDelayMs,
  drainTimeoutMs: config.drainTimeoutMs,
  exit,
});
