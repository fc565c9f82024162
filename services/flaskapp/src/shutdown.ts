// Graceful shutdown as Kubernetes needs it: on SIGTERM/SIGINT readiness fails
// at once while the app keeps serving for SHUTDOWN_DELAY (endpoints take a
// moment to drop the pod), then the listener closes, in-flight requests get
// DRAIN_TIMEOUT to finish, idle keep-alive sockets close, and the process exits 0.
// A second signal exits at once. Signal handlers are installed explicitly, so
// this also works as PID 1, where Node has no default ones.
import type { Server } from "node:http";
import type { Logger } from "pino";
import type { Lifecycle } from "./observe.ts";

export interface ShutdownOptions {
  server: Server;
  lifecycle: Lifecycle;
  logger: Logger;
  shutdownDelayMs: number;
  drainTimeoutMs: number;
  exit: (code: number) => never;
}

export function handleShutdown({
  server,
  lifecycle,
  logger,
  shutdownDelayMs,
  drainTimeoutMs,
  exit,
}: ShutdownOptions): void {
  function drain(): void {
    logger.info({ drainTimeoutMs }, "closing listener; draining in-flight requests");
    // close() only ends connections idle right now; a keep-alive connection whose
    // response finishes later would otherwise stay open until keepAliveTimeout.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const finish = (): never => {
      clearInterval(sweep);
      logger.info("shutdown complete");
      return exit(0);
    };
    const forced = setTimeout(() => {
      logger.warn({ drainTimeoutMs }, "drain timeout: closing remaining connections");
      server.closeAllConnections();
      finish();
    }, drainTimeoutMs);
    server.close(() => {
      clearTimeout(forced);
      finish();
    });
  }

  function onSignal(signal: NodeJS.Signals): void {
    if (lifecycle.shuttingDown) {
      logger.warn({ signal }, "second signal: exiting now");
      exit(1);
    }
    lifecycle.shuttingDown = true;
    logger.info({ signal, shutdownDelayMs }, "shutdown: readiness now 503, still serving");
    setTimeout(drain, shutdownDelayMs);
  }
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
