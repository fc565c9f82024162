import { createHook } from "node:async_hooks";
import { request as httpRequest } from "node:http";
import express from "express";
import pino from "pino";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { createApp } from "#flaskapp/app.ts";
import { errorHandler, Problem } from "#flaskapp/problem.ts";
import { configFrom, eventually, listen, makeApp, rawReply } from "./helpers.ts";

function expectProblem(res: request.Response, status: number, detail: string | RegExp): void {
  expect(res.status).toBe(status);
  expect(res.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
  const body = JSON.parse(res.text);
  expect(Object.keys(body).sort()).toEqual(["detail", "status", "title"]);
  expect(body.status).toBe(status);
  expect(body.detail).toMatch(detail);
}

describe("/env/:name", () => {
  const processEnv = { version: "v2", EMPTY: "", SECRET: "s3cr3t", ünï: "code", MULTI: "a\nb " };
  it.each([
    ["/env/version", {}, "v2"],
    ["/env/EMPTY", {}, ""],
    ["/env/MULTI", {}, "a\nb "],
    ["/env/%C3%BCn%C3%AF", {}, "code"],
    ["/env/version", { ENV_ALLOW: "version" }, "v2"],
  ])("GET %s with %j → 200, the exact value", async (path, env, value) => {
    const res = await request(makeApp(env, processEnv).app).get(path);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(res.text).toBe(value);
  });

  it.each([
    ["/env/UNSET", {}, /"UNSET" is not set or not exposed/],
    ["/env/SECRET", { ENV_ALLOW: "version" }, /"SECRET" is not set or not exposed/],
    ["/env/UNSET", { ENV_ALLOW: "version,UNSET" }, /"UNSET"/],
    ["/env/" + "A".repeat(5000), {}, /"A{100}…"/],
    ["/env/constructor", {}, /"constructor" is not set/],
    ["/env/__proto__", {}, /"__proto__" is not set/],
    ["/env/toString", {}, /"toString" is not set/],
  ])("GET %s with %j → 404 naming the variable", async (path, env, detail) => {
    expectProblem(await request(makeApp(env, processEnv).app).get(path), 404, detail);
  });

  it("answers GET and HEAD byte for byte as express's res.type(...).send(value) would", async () => {
    const reference = express();
    reference.disable("x-powered-by");
    reference.set("etag", false);
    reference.get("/env/:name", (req, res) => {
      res.setHeader("x-flaskapp-version", "v2");
      res.type("text/plain; charset=utf-8").send(processEnv[req.params.name as keyof typeof processEnv]);
    });
    const [flaskapp, expected] = [await listen(makeApp({}, processEnv).app), await listen(reference)];
    try {
      for (const method of ["GET", "HEAD"]) {
        for (const path of ["/env/version", "/env/EMPTY", "/env/MULTI", "/env/%C3%BCn%C3%AF"]) {
          const head = `${method} ${path} HTTP/1.1\r\nHost: flaskapp\r\nConnection: close\r\n\r\n`;
          const [got, want] = await Promise.all([rawReply(flaskapp.port, head), rawReply(expected.port, head)]);
          const withoutDate = (reply: string): string => reply.replace(/^Date: .*\r\n/m, "");
          expect(withoutDate(got)).toBe(withoutDate(want));
          expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        }
      }
    } finally {
      await Promise.all([flaskapp.close(), expected.close()]);
    }
  });

  it("HEAD answers like GET without a body", async () => {
    const res = await request(makeApp({}, processEnv).app).head("/env/version");
    expect(res.status).toBe(200);
    expect(res.headers["content-length"]).toBe("2");
  });

  it("never logs the value", async () => {
    const { app, logs } = makeApp({}, processEnv);
    await request(app).get("/env/SECRET").expect(200);
    expect(JSON.stringify(logs)).not.toContain("s3cr3t");
  });
});

describe("/", () => {
  it.each([
    [undefined, "text/plain; charset=utf-8", "flaskapp v2 (pod flaskapp-v2-abc12)"],
    ["*/*", "text/plain; charset=utf-8", "flaskapp v2 (pod flaskapp-v2-abc12)"],
    ["text/plain", "text/plain; charset=utf-8", "flaskapp v2 (pod flaskapp-v2-abc12)"],
    ["text/html, application/json;q=0.9", "application/json; charset=utf-8", undefined],
    ["application/json", "application/json; charset=utf-8", undefined],
  ])("Accept %j → %s", async (accept, type, text) => {
    const req = request(makeApp().app).get("/");
    const res = await (accept === undefined ? req : req.set("accept", accept));
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe(type);
    if (text !== undefined) expect(res.text).toBe(text);
    else expect(res.body).toEqual({ service: "flaskapp", version: "v2", hostname: expect.any(String) });
  });
});

describe("/headers", () => {
  it("returns the request headers as received", async () => {
    const res = await request(makeApp().app).get("/headers").set("lab", "canary").set("x-request-id", "r-1");
    expect(res.status).toBe(200);
    expect(res.body.headers).toMatchObject({ lab: "canary", "x-request-id": "r-1" });
  });
});

describe("/headers/:name", () => {
  it.each([
    [
      "a header that arrived, any case",
      "/headers/X-Lesson",
      { "x-lesson": "header-manipulation" },
      200,
      "header-manipulation",
    ],
    ["an empty value", "/headers/x-empty", { "x-empty": "" }, 200, ""],
    ["a header that did not arrive", "/headers/x-debug", {}, 404, /request header "x-debug" did not arrive/],
    ["a name every object has", "/headers/constructor", {}, 404, /request header "constructor" did not arrive/],
  ] as const)("%s: GET %s", async (_name, path, headers, status, body) => {
    const res = await request(makeApp().app).get(path).set(headers);
    expect(res.status).toBe(status);
    if (status === 200) {
      expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8");
      expect(res.text).toBe(body);
    } else expectProblem(res, status, body as RegExp);
  });
});

describe("/status/:code", () => {
  it.each([
    ["get", "/status/200", 200, "200 OK"],
    ["get", "/status/418", 418, "418 I'm a Teapot"],
    ["post", "/status/503", 503, "503 Service Unavailable"],
    ["put", "/status/599", 599, "599"],
    ["delete", "/status/500", 500, "500 Internal Server Error"],
    ["get", "/status/204", 204, ""],
    ["get", "/status/304", 304, ""],
    ["get", "/status/503:1,200:0", 503, "503 Service Unavailable"],
    ["get", "/status/503:0,200:1", 200, "200 OK"],
  ] as const)("%s %s → %d", async (method, path, status, text) => {
    const res = await request(makeApp().app)[method](path);
    expect(res.status).toBe(status);
    expect(res.text ?? "").toBe(text);
  });

  it.each([
    ["/status/99", /invalid status "99"/],
    ["/status/600", /invalid status "600"/],
    ["/status/abc", /expected a status code from 200 to 599/],
    ["/status/503:x,200:1", /invalid status/],
    ["/status/503:0,200:0", /at least one weight/],
    // A weight of 309 digits was Infinity, and the last choice always won.
    [`/status/503:1,200:${"9".repeat(309)}`, /weights from 0 to 1000000/],
    ["/status/503:1000001,200:1", /weights from 0 to 1000000/],
  ])("GET %s → 400", async (path, detail) => {
    expectProblem(await request(makeApp().app).get(path), 400, detail);
  });

  it("picks weighted statuses with the injected randomness", async () => {
    const draws = [0.1, 0.6, 0.59, 0.99];
    const { app } = makeApp({}, {}, () => draws.shift()!);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await request(app).get("/status/503:0.6,200:0.4")).status);
    expect(statuses).toEqual([503, 200, 503, 200]);
  });
});

describe("/delay/:seconds", () => {
  it.each([
    ["/delay/0", 0],
    ["/delay/0.05", 0.05],
    ["/delay/.1", 0.1],
  ])("GET %s → 200 {delay} after waiting", async (path, delay) => {
    const started = performance.now();
    const res = await request(makeApp().app).get(path);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ delay });
    expect(performance.now() - started).toBeGreaterThanOrEqual(delay * 1000 - 5);
  });

  it("accepts exactly MAX_DELAY and rejects one millisecond more", async () => {
    const { app } = makeApp({ MAX_DELAY: "100ms" });
    expect((await request(app).get("/delay/0.1")).status).toBe(200);
    expectProblem(await request(app).get("/delay/0.101"), 400, /above MAX_DELAY/);
  });

  it.each(["-1", "abc", "1e1", "NaN", "11"])("GET /delay/%s → 400", async (seconds) => {
    expectProblem(await request(makeApp().app).get(`/delay/${seconds}`), 400, /delay/);
  });

  it("a client that disconnects ends the wait and leaves no timer behind", async () => {
    const { app, logs } = makeApp();
    const server = await listen(app);
    // Follows every timer of exactly the requested delay from creation to clear/fire.
    const pending = new Set<number>();
    const hook = createHook({
      init(id, type, _trigger, resource) {
        if (type === "Timeout" && (resource as { _idleTimeout?: number })._idleTimeout === 8000) pending.add(id);
      },
      destroy(id) {
        pending.delete(id);
      },
    }).enable();
    try {
      const req = httpRequest(`${server.url}/delay/8`);
      req.on("error", () => undefined);
      req.end();
      await eventually(() => pending.size === 1);
      req.destroy();
      await eventually(() => pending.size === 0, 2000);
      await eventually(() => logs.some((l) => l.route === "/delay/:seconds"));
      expect(logs.find((l) => l.route === "/delay/:seconds")).toMatchObject({ status: 499, aborted: true });
    } finally {
      hook.disable();
      await server.close();
    }
  });
});

describe("/healthz and /readyz", () => {
  it("readyz turns 503 when shutdown begins; healthz stays 200 and responses ask to reconnect", async () => {
    const { app, lifecycle } = makeApp();
    expect((await request(app).get("/readyz")).status).toBe(200);
    const before = await request(app).get("/healthz").set("connection", "keep-alive");
    expect([before.status, before.text, before.headers.connection]).toEqual([200, "ok", "keep-alive"]);
    lifecycle.shuttingDown = true;
    expectProblem(await request(app).get("/readyz"), 503, "shutting down");
    const after = await request(app).get("/healthz").set("connection", "keep-alive");
    expect(after.status).toBe(200);
    expect(after.headers.connection).toBe("close");
  });
});

describe("/metrics", () => {
  it("counts requests by method, status and route template, and exposes process metrics", async () => {
    const { app } = makeApp();
    await request(app).get("/env/version");
    await request(app).get("/env/nope");
    await request(app).get("/no/such/path/123");
    await request(app).post("/headers");
    const res = await request(app).get("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toContain('http_requests_total{method="GET",route="/env/:name",status="200"} 1');
    expect(res.text).toContain('http_requests_total{method="GET",route="/env/:name",status="404"} 1');
    expect(res.text).toContain('http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(res.text).toContain('http_requests_total{method="POST",route="/headers",status="405"} 1');
    expect(res.text).toContain(
      'http_request_duration_seconds_bucket{le="0.005",route="/env/:name",status_class="2xx"}',
    );
    expect(res.text).toContain('http_request_duration_seconds_count{route="/env/:name",status_class="4xx"} 1');
    expect(res.text).not.toContain("/no/such/path");
    expect(res.text).toContain("process_cpu_seconds_total");
    expect(res.text).toContain("nodejs_eventloop_lag_seconds");
  });
});

describe("unknown paths and wrong methods", () => {
  it.each([
    ["get", "/nope", 404, undefined],
    ["get", "/env", 404, undefined],
    ["get", "/env/a/b", 404, undefined],
    ["post", "/nope", 404, undefined],
    ["post", "/env/version", 405, "GET, HEAD"],
    ["put", "/", 405, "GET, HEAD"],
    ["delete", "/fetch", 405, "GET, HEAD"],
    ["patch", "/delay/1", 405, "GET, HEAD"],
    ["post", "/healthz", 405, "GET, HEAD"],
    ["post", "/readyz", 405, "GET, HEAD"],
    ["post", "/metrics", 405, "GET, HEAD"],
    ["post", "/fetch_with_header", 405, "GET, HEAD"],
    ["post", "/fetch_with_trace", 405, "GET, HEAD"],
  ] as const)("%s %s → %d", async (method, path, status, allow) => {
    const res = await request(makeApp().app)[method](path);
    expectProblem(res, status, status === 404 ? /no route for/ : /is not allowed/);
    expect(res.headers.allow).toBe(allow);
  });

  it("a malformed percent-encoding is a 400, not a 500", async () => {
    expectProblem(await request(makeApp().app).get("/env/%E0%A4%A"), 400, /Failed to decode/);
  });
});

describe("request log", () => {
  it("writes one line per request with route template, status, duration and trace ids", async () => {
    const { app, logs } = makeApp();
    await request(app)
      .get("/env/version?x=1")
      .set("host", "flaskapp-shadow")
      .set("x-request-id", "req-42")
      .set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    await eventually(() => logs.some((l) => l.msg === "request"));
    const line = logs.find((l) => l.msg === "request")!;
    expect(line).toMatchObject({
      level: 30,
      msg: "request",
      method: "GET",
      route: "/env/:name",
      path: "/env/version",
      host: "flaskapp-shadow",
      status: 200,
      requestId: "req-42",
      traceId: "0af7651916cd43dd8448eb211c80319c",
    });
    expect(line.time).toEqual(expect.any(Number));
    expect(line.durationMs).toEqual(expect.any(Number));
  });

  it("writes each line byte for byte as pino would write the same fields, whatever the host and path", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const app = createApp(configFrom({}), { logger, env: { version: "v2" }, lifecycle: { shuttingDown: false } });
    const before = Date.now();
    // The host and path change, come back and carry characters JSON escapes: each line has its own.
    for (const [path, host] of [
      ["/env/version?x=1", "flaskapp"],
      ["/env/version", 'a"b\\c'],
      ["/nowhere", "flaskapp"],
      ["/env/version", "flaskapp"],
    ] as const) {
      await request(app).get(path).set("host", host).set("x-request-id", `req-${lines.length}`);
    }
    const after = Date.now();
    await eventually(() => lines.length === 4);
    expect(lines.map((line) => [JSON.parse(line).path, JSON.parse(line).host])).toEqual([
      ["/env/version", "flaskapp"],
      ["/env/version", 'a"b\\c'],
      ["/nowhere", "flaskapp"],
      ["/env/version", "flaskapp"],
    ]);
    for (const line of lines) {
      // level, time, the logger's bindings (pid, hostname) and msg are pino's own; the rest are the request's fields.
      const { level, time, pid, hostname, msg, ...fields } = JSON.parse(line) as {
        level: number;
        time: number;
        pid: number;
        hostname: string;
        msg: string;
      };
      expect([pid, hostname]).toEqual([process.pid, expect.any(String)]);
      expect([level, msg]).toEqual([30, "request"]);
      expect(time).toBeGreaterThanOrEqual(before);
      expect(time).toBeLessThanOrEqual(after);
      const expected: string[] = [];
      pino({ level: "info", timestamp: () => `,"time":${time}` }, { write: (l: string) => void expected.push(l) }).info(
        fields,
        "request",
      );
      expect(line).toBe(expected[0]);
    }
  });

  it("takes the B3 trace id when there is no traceparent", async () => {
    const { app, logs } = makeApp();
    await request(app).get("/healthz").set("x-b3-traceid", "463ac35c9f6413ad");
    await eventually(() => logs.length > 0);
    expect(logs[0]).toMatchObject({ traceId: "463ac35c9f6413ad" });
  });
});

describe("error handler", () => {
  const logs: string[] = [];
  const app = express();
  app.get("/boom", () => {
    throw new Error("secret internals at /srv/app.js:12");
  });
  app.get("/problem", () => {
    throw new Problem(409, "conflict detail");
  });
  app.get("/client", () => {
    throw Object.assign(new Error("too large"), { status: 413 });
  });
  app.use(errorHandler(pino({}, { write: (line: string) => void logs.push(line) })));

  it("answers an unexpected error with a 500 problem and no stack; the log has it", async () => {
    const res = await request(app).get("/boom");
    expectProblem(res, 500, "internal error; see the server log");
    expect(res.text).not.toContain("secret internals");
    expect(logs.join("")).toContain("secret internals");
  });

  it.each([
    ["/problem", 409, "conflict detail"],
    ["/client", 413, "too large"],
  ])("keeps the status of %s", async (path, status, detail) => {
    expectProblem(await request(app).get(path), status, detail);
  });
});

describe("FAIL_STATUS", () => {
  it.each([
    ["get", "/"],
    ["get", "/env/version"],
    ["get", "/headers"],
    ["get", "/status/200"],
    ["post", "/status/200"],
    ["get", "/delay/0"],
    ["get", "/fetch?url=http://127.0.0.1:1/"],
    ["get", "/fetch_with_header"],
    ["get", "/no/such/path"],
    ["post", "/env/version"],
    ["head", "/env/version"],
  ] as const)("FAIL_STATUS=503: %s %s → 503 problem saying the pod fails on purpose", async (method, path) => {
    const res = await request(makeApp({ FAIL_STATUS: "503" }).app)[method](path);
    if (method === "head") expect(res.status).toBe(503);
    else expectProblem(res, 503, "this pod fails on purpose (FAIL_STATUS=503)");
  });

  it.each(["/healthz", "/readyz", "/metrics"])(
    "FAIL_STATUS=500 leaves %s alone: 200, so only the mesh takes the pod out",
    async (path) => {
      expect((await request(makeApp({ FAIL_STATUS: "500" }).app).get(path)).status).toBe(200);
    },
  );

  it("logs and counts the failed requests under their route like any other", async () => {
    const { app, logs } = makeApp({ FAIL_STATUS: "599" });
    await request(app).get("/env/version");
    await request(app).get("/nope");
    await eventually(() => logs.filter((l) => l.msg === "request").length === 2);
    expect(logs.filter((l) => l.msg === "request")).toMatchObject([
      { route: "/env/:name", status: 599 },
      { route: "unmatched", status: 599 },
    ]);
    const metrics = (await request(app).get("/metrics")).text;
    expect(metrics).toContain('http_requests_total{method="GET",route="/env/:name",status="5xx"} 1');
    expect(metrics).toContain('http_requests_total{method="GET",route="unmatched",status="5xx"} 1');
  });

  it("serves normally when unset", async () => {
    expect((await request(makeApp().app).get("/env/version")).status).toBe(200);
  });
});

describe("x-flaskapp-version", () => {
  it.each([
    ["/env/version", {}, 200],
    ["/env/UNSET", {}, 404],
    ["/status/503", {}, 503],
    ["/delay/x", {}, 400],
    ["/nope", {}, 404],
    ["/healthz", {}, 200],
    ["/metrics", {}, 200],
    ["/", { FAIL_STATUS: "502" }, 502],
    ["/fetch?url=file:///etc/passwd", {}, 400],
  ] as const)("GET %s with %j → %d names the version that answered", async (path, env, status) => {
    const res = await request(makeApp(env).app).get(path);
    expect(res.status).toBe(status);
    expect(res.headers["x-flaskapp-version"]).toBe("v2");
  });

  it("names this pod's version when /fetch relays another pod's body", async () => {
    const v1 = await listen(makeApp({ version: "v1" }, { version: "v1" }).app);
    try {
      const res = await request(makeApp().app)
        .get("/fetch")
        .query({ url: `${v1.url}/env/version` });
      expect([res.status, res.text, res.headers["x-flaskapp-version"]]).toEqual([200, "v1", "v2"]);
    } finally {
      await v1.close();
    }
  });

  it("is also on 405 answers", async () => {
    const res = await request(makeApp().app).post("/healthz");
    expect([res.status, res.headers["x-flaskapp-version"]]).toEqual([405, "v2"]);
  });
});
