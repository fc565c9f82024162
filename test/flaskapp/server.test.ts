// The HTTP servers main.ts builds, in process: the app's limits (MAX_CONNECTIONS,
// MAX_REQUESTS_PER_CONNECTION, HEADERS_TIMEOUT, REQUEST_TIMEOUT), the request and
// response objects it makes, and the probe listener (PROBE_PORT).
import { Agent, IncomingMessage, ServerResponse, get as httpGet } from "node:http";
import { Socket, connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { probeAnswer, probeHandler } from "#flaskapp/routes/health.ts";
import { appObjectClasses, checkingIntervalMs, createHttpServer, createProbeServer } from "#flaskapp/server.ts";
import { configFrom, eventually, makeApp, onLoopback, rawRequest, type Running } from "./helpers.ts";

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** The app behind the server main.ts builds, with the given settings, on 127.0.0.1. */
async function serve(env: Record<string, string>): Promise<Running & { logs: Record<string, unknown>[] }> {
  const { app, logs, logger } = makeApp(env);
  const server = createHttpServer(app, configFrom(env), logger, 10);
  running = await onLoopback(server, () => server.closeAllConnections());
  return { ...running, logs };
}

describe("MAX_CONNECTIONS", () => {
  it("holds that many connections, closes one more as it arrives and says so, and serves again once one is gone", async () => {
    const app = await serve({ MAX_CONNECTIONS: "2" });
    const held = [new Agent({ keepAlive: true, maxSockets: 1 }), new Agent({ keepAlive: true, maxSockets: 1 })];
    try {
      // Two keep-alive connections stay open after their answers.
      for (const agent of held) {
        const status = await new Promise<number>((resolve, reject) =>
          httpGet({ host: "127.0.0.1", port: app.port, path: "/healthz", agent }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode!));
          }).on("error", reject),
        );
        expect(status).toBe(200);
      }
      expect(await rawRequest(app.port, "GET /healthz HTTP/1.1\r\nHost: flaskapp\r\n\r\n")).toBe(0);
      await eventually(() => app.logs.some((l) => l.msg === "connections refused: MAX_CONNECTIONS reached"));
      expect(app.logs.find((l) => l.msg === "connections refused: MAX_CONNECTIONS reached")).toMatchObject({
        level: 40,
        dropped: 1,
        maxConnections: 2,
      });
    } finally {
      for (const agent of held) agent.destroy();
    }
    // With those closed, new connections are served again (once the server has seen the closes).
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = await rawRequest(app.port, "GET /healthz HTTP/1.1\r\nHost: flaskapp\r\nConnection: close\r\n\r\n");
    }
    expect(status).toBe(200);
  });
});

describe("MAX_REQUESTS_PER_CONNECTION", () => {
  it("serves that many requests on a connection, asks to close with the last, and leaves pipelined extras to Node's 503", async () => {
    const app = await serve({ MAX_REQUESTS_PER_CONNECTION: "3" });
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(app.port, "127.0.0.1");
      let text = "";
      socket.on("data", (data: Buffer) => {
        text += data.toString("latin1");
        if ((text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length === 5) socket.destroy();
      });
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
      socket.write("GET /env/version HTTP/1.1\r\nHost: flaskapp\r\n\r\n".repeat(5));
    });
    const answers = reply.split(/(?=HTTP\/1\.1 \d{3} )/);
    expect(answers.map((a) => a.slice(9, 12))).toEqual(["200", "200", "200", "503", "503"]);
    expect(answers.map((a) => /^connection: close\r$/im.test(a))).toEqual([false, false, true, true, true]);
    // Only the three flaskapp served carry its header, and only they are logged.
    expect(answers.map((a) => /^x-flaskapp-version: v2\r$/im.test(a))).toEqual([true, true, true, false, false]);
    await eventually(() => app.logs.filter((l) => l.msg === "request").length >= 3);
    expect(app.logs.filter((l) => l.msg === "request")).toHaveLength(3);
  });
});

describe("the request and response objects", () => {
  it("reach express with the app's prototypes already, so its Object.setPrototypeOf changes nothing", async () => {
    const { app, logger } = makeApp({});
    const server = createHttpServer(app, configFrom({}), logger, 10);
    const arrived: [boolean, boolean][] = [];
    server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
      arrived.push([Object.getPrototypeOf(req) === app.request, Object.getPrototypeOf(res) === app.response]);
    });
    running = await onLoopback(server, () => server.closeAllConnections());
    expect(
      await rawRequest(running.port, "GET /env/version HTTP/1.1\r\nHost: flaskapp\r\nConnection: close\r\n\r\n"),
    ).toBe(200);
    expect(arrived).toEqual([[true, true]]);
  });

  it("are still Node's own, built by Node's constructors", () => {
    const { app } = makeApp({});
    const { IncomingMessage: AppRequest, ServerResponse: AppResponse } = appObjectClasses(app);
    const req = new AppRequest(new Socket());
    expect(Object.getPrototypeOf(req)).toBe(app.request);
    expect(req).toBeInstanceOf(IncomingMessage);
    expect(req.headers).toEqual({});
    const res = new AppResponse(req);
    expect(Object.getPrototypeOf(res)).toBe(app.response);
    expect(res).toBeInstanceOf(ServerResponse);
    expect([res.statusCode, res.headersSent]).toEqual([200, false]);
  });
});

/** Connects, sends `parts` one after another every `everyMs` (until the server answers or closes), and resolves with the reply and how long after connecting the server closed. */
function trickle(port: number, parts: string[], everyMs: number): Promise<{ reply: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    let next = 0;
    const timer = setInterval(() => {
      if (next < parts.length) socket.write(parts[next++]!);
    }, everyMs);
    socket.on("connect", () => {
      if (next < parts.length) socket.write(parts[next++]!);
    });
    socket.on("data", (data: Buffer) => (reply += data.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ reply, closedAfterMs: performance.now() - started });
    });
  });
}

describe("HEADERS_TIMEOUT and REQUEST_TIMEOUT", () => {
  // Node looks for late requests every checkingIntervalMs; a shared machine adds its own delay on top.
  const TIMEOUT_MS = 300;
  // Slack for a loaded machine: what matters is a timeout of this order, not Node's default 60 s checked every 30 s.
  const LATEST_MS = TIMEOUT_MS + checkingIntervalMs(TIMEOUT_MS) + 2000;
  const headerLines = Array.from({ length: 100 }, (_, i) => `x-slow-${i}: ${i}\r\n`);

  it.each([
    ["a connection that sends nothing", [] as string[]],
    [
      "a request whose headers trickle in and never end",
      ["GET /env/version HTTP/1.1\r\nHost: flaskapp\r\n", ...headerLines],
    ],
    ["a request line sent a byte at a time", [..."GET /env/version HTTP/1.1\r\nHost: flaskapp"]],
  ])("%s gets 408 and is closed HEADERS_TIMEOUT after it opened, not before", async (_name, parts) => {
    const app = await serve({ HEADERS_TIMEOUT: `${TIMEOUT_MS}ms`, REQUEST_TIMEOUT: "10s" });
    const { reply, closedAfterMs } = await trickle(app.port, parts, 20);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(closedAfterMs).toBeLessThan(LATEST_MS);
  });

  it("serves a request whose headers trickle in for longer than a check interval, inside HEADERS_TIMEOUT", async () => {
    // 6 parts 100 ms apart: the headers are complete after about 500 ms, with room for a loaded machine.
    const app = await serve({ HEADERS_TIMEOUT: "2s" });
    const parts = [
      "GET /env/version HTTP/1.1\r\n",
      "Host: flaskapp\r\n",
      "x-a: 1\r\n",
      "x-b: 2\r\n",
      "Connection: close\r\n",
      "\r\n",
    ];
    const { reply } = await trickle(app.port, parts, 100);
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply.endsWith("v2")).toBe(true);
  });

  it("closes a connection whose request body trickles in for longer than REQUEST_TIMEOUT", async () => {
    // The headers go in one write, well inside HEADERS_TIMEOUT; the body a byte every 20 ms, for 4 s.
    const app = await serve({ HEADERS_TIMEOUT: `${TIMEOUT_MS}ms`, REQUEST_TIMEOUT: `${2 * TIMEOUT_MS}ms` });
    const body = Array.from({ length: 200 }, () => "x");
    const { reply, closedAfterMs } = await trickle(
      app.port,
      ["POST /status/200 HTTP/1.1\r\nHost: flaskapp\r\nContent-Length: 200\r\n\r\n", ...body],
      20,
    );
    // flaskapp answered /status at once; the body that never finished still frees the connection.
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(2 * TIMEOUT_MS - 5);
    expect(closedAfterMs).toBeLessThan(LATEST_MS + TIMEOUT_MS);
  });

  it.each([
    [1, 10],
    [300, 30],
    [10_000, 1000],
    [3_600_000, 1000],
  ])(
    "looks for late requests every tenth of HEADERS_TIMEOUT (%d ms: every %d ms), from 10 ms to 1 s",
    (timeout, interval) => {
      expect(checkingIntervalMs(timeout)).toBe(interval);
    },
  );
});

describe("the probe listener (PROBE_PORT)", () => {
  it.each([
    ["GET", "/healthz", false, 200, "ok"],
    ["HEAD", "/healthz", false, 200, "ok"],
    ["GET", "/healthz?x=1", true, 200, "ok"],
    ["GET", "/readyz", false, 200, "ready"],
    ["GET", "/readyz", true, 503, "shutting down"],
    ["GET", "/env/version", false, 404, "only /healthz and /readyz"],
    ["GET", "/healthz/", false, 404, "only /healthz and /readyz"],
    ["GET", "/metrics", false, 404, "only /healthz and /readyz"],
    ["POST", "/healthz", false, 405, "use GET, HEAD"],
  ])("%s %s (shutting down: %s) is %d", (method, target, shuttingDown, status, body) => {
    const answer = probeAnswer(method, target, shuttingDown);
    expect(answer.status).toBe(status);
    expect(answer.body).toContain(body);
    expect(answer.type).toBe(status === 200 ? "text/plain; charset=utf-8" : "application/problem+json");
  });

  /** The app at its MAX_CONNECTIONS, beside a probe listener of its own; both on 127.0.0.1. */
  async function appAndProbes(env: Record<string, string>) {
    const { app, logs, logger, lifecycle } = makeApp(env);
    const config = configFrom(env);
    const appServer = createHttpServer(app, config, logger, 10);
    const probeServer = createProbeServer(probeHandler(lifecycle), config, logger, 10);
    running = await onLoopback(appServer, () => appServer.closeAllConnections());
    const probes = await onLoopback(probeServer, () => probeServer.closeAllConnections());
    const appRunning = running;
    running = { ...appRunning, close: async () => void (await Promise.all([appRunning.close(), probes.close()])) };
    return { app: appRunning, probes, logs, lifecycle };
  }

  /** Opens `count` connections that send nothing, once each is accepted (the server counts it). */
  async function idle(port: number, count: number): Promise<Socket[]> {
    const sockets: Socket[] = [];
    for (let i = 0; i < count; i++) {
      sockets.push(
        await new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => resolve(socket));
          socket.on("error", reject);
        }),
      );
    }
    return sockets;
  }

  it("answers the probes while the app's connections are all held, and refuses beyond its own cap", async () => {
    const { app, probes, logs, lifecycle } = await appAndProbes({ MAX_CONNECTIONS: "3", PROBE_MAX_CONNECTIONS: "2" });
    const held = await idle(app.port, 3);
    try {
      expect(await rawRequest(app.port, "GET /healthz HTTP/1.1\r\nHost: flaskapp\r\n\r\n")).toBe(0);
      expect(await rawRequest(probes.port, "GET /healthz HTTP/1.1\r\nHost: flaskapp\r\n\r\n")).toBe(200);
      expect(await rawRequest(probes.port, "GET /readyz HTTP/1.1\r\nHost: flaskapp\r\n\r\n")).toBe(200);
      lifecycle.shuttingDown = true;
      expect(await rawRequest(probes.port, "GET /readyz HTTP/1.1\r\nHost: flaskapp\r\n\r\n")).toBe(503);
      // Its own budget: two held connections, and a third is refused and logged.
      const heldProbes = await idle(probes.port, 2);
      expect(await rawRequest(probes.port, "GET /healthz HTTP/1.1\r\nHost: flaskapp\r\n\r\n")).toBe(0);
      await eventually(() => logs.some((l) => l.msg === "connections refused: PROBE_MAX_CONNECTIONS reached"));
      expect(logs.find((l) => l.msg === "connections refused: PROBE_MAX_CONNECTIONS reached")).toMatchObject({
        level: 40,
        probeMaxConnections: 2,
      });
      for (const socket of heldProbes) socket.destroy();
    } finally {
      for (const socket of held) socket.destroy();
    }
    // Probes are neither logged nor counted as requests.
    expect(logs.filter((l) => l.msg === "request")).toEqual([]);
  });

  it("answers one request per connection: the kubelet's way; pipelined extras get Node's bare 503", async () => {
    const { probes } = await appAndProbes({});
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(probes.port, "127.0.0.1");
      let text = "";
      socket.on("data", (data: Buffer) => {
        text += data.toString("latin1");
        if ((text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length === 3) socket.destroy();
      });
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
      socket.write("GET /healthz HTTP/1.1\r\nHost: flaskapp\r\n\r\n".repeat(3));
    });
    const answers = reply.split(/(?=HTTP\/1\.1 \d{3} )/);
    expect(answers.map((a) => a.slice(9, 12))).toEqual(["200", "503", "503"]);
    expect(/^connection: close\r$/im.test(answers[0]!)).toBe(true);
  });

  it("closes a connection that sends nothing after HEADERS_TIMEOUT, as the app's port does", async () => {
    const { probes } = await appAndProbes({ HEADERS_TIMEOUT: "200ms" });
    const { reply, closedAfterMs } = await trickle(probes.port, [], 20);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(195);
  });
});
