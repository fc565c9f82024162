// The HTTP server main.ts builds, in process: its limits (MAX_CONNECTIONS and
// MAX_REQUESTS_PER_CONNECTION) and the request and response objects it makes.
import { Agent, IncomingMessage, ServerResponse, get as httpGet } from "node:http";
import { Socket, connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { appObjectClasses, createHttpServer } from "../../services/flaskapp/src/server.ts";
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
      expect(app.logs.find((l) => l.msg === "connections refused: MAX_CONNECTIONS reached")).toMatchObject({ level: 40, dropped: 1, maxConnections: 2 });
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
    expect(await rawRequest(running.port, "GET /env/version HTTP/1.1\r\nHost: flaskapp\r\nConnection: close\r\n\r\n")).toBe(200);
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
