// Shared test fixtures: a configured app with captured logs, real HTTP servers
// on 127.0.0.1 ephemeral ports, and raw requests for input supertest would tidy up.
import { createServer, type RequestListener } from "node:http";
import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer as createNetServer } from "node:net";
import pino from "pino";
import type { Express } from "express";
import { createApp } from "../../services/flaskapp/src/app.ts";
import { type Config, parseConfig } from "../../services/flaskapp/src/config.ts";
import type { Lifecycle } from "../../services/flaskapp/src/observe.ts";

export function configFrom(env: Record<string, string>): Config {
  const config = parseConfig({ POD_NAME: "flaskapp-v2-abc12", version: "v2", ...env });
  if (config instanceof Error) throw config;
  return config;
}

export interface TestApp {
  app: Express;
  logs: Record<string, unknown>[];
  lifecycle: Lifecycle;
}

export function makeApp(env: Record<string, string> = {}, processEnv: Record<string, string> = { version: "v2" }, random?: () => number): TestApp {
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const lifecycle: Lifecycle = { shuttingDown: false };
  const app = createApp(configFrom(env), { logger, env: processEnv, lifecycle, ...(random ? { random } : {}) });
  return { app, logs, lifecycle };
}

export interface Running {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 with an ephemeral port. */
export async function listen(handler: RequestListener): Promise<Running> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends bytes exactly as given and returns the status code of the reply (0 if the connection closed without one). */
export function rawRequest(port: number, head: string, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply within ${timeoutMs} ms to ${JSON.stringify(head.slice(0, 80))}`));
    }, timeoutMs);
    socket.on("data", (data) => {
      reply += data.toString("latin1");
      const match = /^HTTP\/1\.1 (\d{3})/.exec(reply);
      if (match) {
        clearTimeout(timer);
        socket.destroy();
        resolve(Number(match[1]));
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(0);
    });
    socket.write(head, "latin1");
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

/** A TCP server on 127.0.0.1 that answers every request with exactly these bytes (for replies no HTTP library would send). */
export async function rawUpstream(reply: string): Promise<Running> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.once("data", () => socket.write(reply, "latin1"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
