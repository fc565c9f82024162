// Shared test fixtures: a configured app with captured logs, real HTTP servers
// on 127.0.0.1 ephemeral ports, and raw requests for input supertest would tidy up.
import { createServer, type RequestListener } from "node:http";
import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer as createNetServer } from "node:net";
import pino, { type Logger } from "pino";
import { afterEach } from "vitest";
import type { Express } from "express";
import { createApp } from "#flaskapp/app.ts";
import { type Config, parseConfig } from "#flaskapp/config.ts";
import type { Lifecycle } from "#flaskapp/observe.ts";

export function configFrom(env: Record<string, string>): Config {
  const config = parseConfig({ POD_NAME: "flaskapp-v2-abc12", version: "v2", ...env });
  if (config instanceof Error) throw config;
  return config;
}

export interface TestApp {
  app: Express;
  logs: Record<string, unknown>[];
  lifecycle: Lifecycle;
  /** The app's logger, whose lines land in `logs`. */
  logger: Logger;
}

export function makeApp(
  env: Record<string, string> = {},
  processEnv: Record<string, string> = { version: "v2" },
  random?: () => number,
): TestApp {
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const lifecycle: Lifecycle = { shuttingDown: false };
  const app = createApp(configFrom(env), { logger, env: processEnv, lifecycle, ...(random ? { random } : {}) });
  return { app, logs, lifecycle, logger };
}

export interface Running {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 with an ephemeral port; close() ends the open connections first. */
export async function onLoopback(server: Server, closeConnections: () => void): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        closeConnections();
        server.close(() => resolve());
      }),
  };
}

/** An HTTP server on 127.0.0.1 with an ephemeral port. */
export async function listen(handler: RequestListener): Promise<Running> {
  const server = createServer(handler);
  return onLoopback(server, () => server.closeAllConnections());
}

/**
 * For a test file's servers: each one started through `track` or `upstream` is
 * closed after the test that started it.
 */
export function closedAfterEach(): {
  track<T extends Running>(server: T): T;
  upstream(handler: RequestListener): Promise<Running>;
} {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.close()));
  });
  const track = <T extends Running>(server: T): T => {
    running.push(server);
    return server;
  };
  return { track, upstream: async (handler) => track(await listen(handler)) };
}

/**
 * Sends bytes exactly as given to 127.0.0.1:port and settles with what `settled`
 * makes of the reply so far, after each read, or at the latest with what `closed`
 * makes of it once the connection closed.
 */
function rawExchange<T>(
  port: number,
  head: string,
  timeoutMs: number,
  settled: (reply: string) => T | undefined,
  closed: (reply: string) => T,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${JSON.stringify(head.slice(0, 80))}`));
    }, timeoutMs);
    socket.on("data", (data) => {
      reply += data.toString("latin1");
      const result = settled(reply);
      if (result !== undefined) {
        clearTimeout(timer);
        socket.destroy();
        resolve(result);
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(closed(reply));
    });
    socket.write(head, "latin1");
  });
}

/** Sends bytes exactly as given and returns the status code of the reply (0 if the connection closed without one). */
export function rawRequest(port: number, head: string, timeoutMs = 5000): Promise<number> {
  const status = (reply: string): number | undefined => {
    const match = /^HTTP\/1\.1 (\d{3})/.exec(reply);
    return match ? Number(match[1]) : undefined;
  };
  return rawExchange(port, head, timeoutMs, status, () => 0);
}

/** Sends bytes exactly as given (a request with `Connection: close`) and returns the whole reply, once the server closed. */
export function rawReply(port: number, head: string, timeoutMs = 5000): Promise<string> {
  return rawExchange(
    port,
    head,
    timeoutMs,
    () => undefined,
    (reply) => reply,
  );
}

/** Whether this machine has an IPv6 loopback: something can listen on ::1. */
export function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.once("error", () => resolve(false));
    server.listen(0, "::1", () => server.close(() => resolve(true)));
  });
}

/** Polls a condition every 10 ms, failing after timeoutMs. */
export async function eventually(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A TCP server on 127.0.0.1 that answers every request (every packet it reads)
 * with exactly these bytes, for replies no HTTP library would send. tally's
 * tests use it too.
 */
export async function rawUpstream(reply: string): Promise<Running> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.on("data", () => socket.write(reply, "latin1"));
  });
  return onLoopback(server, () => {
    for (const socket of sockets) socket.destroy();
  });
}

/**
 * Sends raw requests pipelined on one connection to 127.0.0.1:port and resolves,
 * once every one has an answer, with how many flaskapp served (Node answers those
 * beyond MAX_REQUESTS_PER_CONNECTION itself with a bare 503, without x-flaskapp-version).
 */
export function pipeline(port: number, requests: string[]): Promise<number> {
  // Each count resumes after its last match, so a long pipeline is scanned once.
  const counter = (pattern: RegExp) => {
    let from = 0;
    let found = 0;
    return (text: string): number => {
      pattern.lastIndex = from;
      while (pattern.exec(text) !== null) {
        found++;
        from = pattern.lastIndex;
      }
      return found;
    };
  };
  const answers = counter(/HTTP\/1\.1 \d{3} /g);
  const served = counter(/\r\nx-flaskapp-version: /gi);
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (data: Buffer) => {
      text += data.toString("latin1");
      if (answers(text) >= requests.length) socket.destroy();
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(served(text)));
    socket.write(requests.join(""));
  });
}
