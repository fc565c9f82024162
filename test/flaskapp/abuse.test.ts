// The adversarial corpus of issue 12, one table per category, against the app
// in process and real servers on 127.0.0.1: every input gets a deliberate
// status and a problem body, never a 500, an empty reply or a stack.
import { METHODS, get as httpGet, type ServerResponse } from "node:http";
import request from "supertest";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { HOPS_HEADER } from "#flaskapp/input.ts";
import { MAX_METRICS_BYTES, METHOD_LABELS, STATUS_LABELS } from "#flaskapp/observe.ts";
import { PlainRequestMetrics } from "#flaskapp/observe-plain.ts";
import { TunedRequestMetrics } from "#flaskapp/observe-tuned.ts";
import { closedAfterEach, eventually, listen, makeApp, pipeline, rawUpstream, type Running } from "./helpers.ts";

const { track, upstream } = closedAfterEach();
const raw = async (reply: string): Promise<Running> => track(await rawUpstream(reply));

function expectProblem(res: request.Response, status: number, detail: RegExp): void {
  expect(res.status).toBe(status);
  expect(res.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
  expect(JSON.parse(res.text)).toEqual({ title: expect.any(String), status, detail: expect.stringMatching(detail) });
}

describe("names every object has", () => {
  const NAMES = [
    "constructor",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "__proto__",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "__defineGetter__",
    "__lookupSetter__",
  ];

  it.each(NAMES)("/env/%s is an unset variable (404) in a plain object and in process.env", async (name) => {
    for (const env of [{ version: "v2" }, process.env]) {
      const { app, logs } = makeApp({}, env as Record<string, string>);
      expectProblem(await request(app).get(`/env/${name}`), 404, /is not set or not exposed/);
      expect(logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
    }
  });

  it("an own variable of that name is still answered", async () => {
    expect((await request(makeApp({}, { constructor: "mine" }).app).get("/env/constructor")).text).toBe("mine");
  });
});

describe("upstream replies that break HTTP", () => {
  const body = (status: string, extra = ""): string => `HTTP/1.1 ${status} Odd\r\n${extra}Content-Length: 2\r\n\r\nok`;
  it.each([
    ["status 099", body("099"), 502, /malformed response/],
    ["status 100 as the answer", body("100"), 502, /upstream/],
    [
      "status 101 to an ordinary request",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
      502,
      /upstream/,
    ],
    ["status 150", body("150"), 502, /malformed response/],
    ["status 199", body("199"), 502, /malformed response/],
    ["status 600", body("600"), 502, /status 600, which is not a valid final HTTP status/],
    ["status 999", body("999"), 502, /status 999, which is not a valid final HTTP status/],
    ["status 2000", body("2000"), 502, /malformed response/],
    ["a status that is not a number", body("abc"), 502, /malformed response/],
    [
      "a 302 with two Location headers",
      "HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
      502,
      /redirected with 2 Location headers/,
    ],
    [
      "a 17-digit Content-Length",
      "HTTP/1.1 200 OK\r\nContent-Length: 12345678901234567\r\n\r\nok",
      502,
      /upstream body is 12345678901234567 bytes, over FETCH_MAX_BYTES/,
    ],
    ["a 30-digit Content-Length", `HTTP/1.1 200 OK\r\nContent-Length: ${"9".repeat(30)}\r\n\r\nok`, 502, /upstream/],
    [
      "a Content-Length that is not a number",
      "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\nok",
      502,
      /does not match its Content-Length/,
    ],
    ["headers that never end", `HTTP/1.1 200 OK\r\nX-Long: ${"a".repeat(70_000)}`, 502, /upstream/],
  ])("%s → a 502 problem on every fetch route", async (_name, reply, status, detail) => {
    const up = await raw(reply);
    for (const route of ["/fetch", "/fetch_with_header"]) {
      const { app, logs } = makeApp();
      expectProblem(await request(app).get(route).query({ url: up.url }), status, detail);
      expect(logs.filter((l) => l.level === 50)).toEqual([]);
    }
  });

  it.each([200, 201, 204, 304, 418, 500, 599])(
    "relays a valid upstream status %d, for GET and HEAD",
    async (status) => {
      const up = await upstream((_req, res) =>
        res
          .writeHead(status, { "content-type": "text/plain" })
          .end(status === 204 || status === 304 ? undefined : "ok"),
      );
      const { app, logs } = makeApp();
      expect((await request(app).get("/fetch").query({ url: up.url })).status).toBe(status);
      expect((await request(app).head("/fetch").query({ url: up.url })).status).toBe(status);
      expect((await request(app).get("/fetch_with_header").query({ url: up.url })).body.status).toBe(status);
      expect(logs.filter((l) => (l.level as number) >= 40)).toEqual([]);
    },
  );
});

describe("loop guard", () => {
  it("a self-redirecting upstream causes at most FETCH_MAX_HOPS nested fetches, then 508", async () => {
    const { app, logs } = makeApp({ FETCH_MAX_HOPS: "3" });
    const front = await listen(app);
    track(front);
    let hits = 0;
    let self = "";
    // An upstream that sends every caller back into the app's /fetch of itself.
    const up = await upstream((_req, res) => {
      hits++;
      res.writeHead(302, { location: `${front.url}/fetch?url=${encodeURIComponent(self)}` }).end();
    });
    self = `${up.url}/`;
    const res = await request(front.server).get("/fetch").query({ url: self });
    expect(res.status).toBe(508);
    expect(JSON.parse(res.text).detail).toBe(
      "request already passed through flaskapp's fetch 3 times (x-flaskapp-via); FETCH_MAX_HOPS is 3",
    );
    expect(hits).toBe(3);
    await eventually(() => logs.filter((l) => l.msg === "request").length === 4);
    expect(logs.filter((l) => l.msg === "request").map((l) => l.status)).toEqual([508, 508, 508, 508]);
  });

  it("recursion through other flaskapp pods is bounded the same way", async () => {
    const a = makeApp({}, { version: "v1" });
    const b = makeApp({}, { version: "v2" });
    const podA = await listen(a.app);
    const podB = await listen(b.app);
    track(podA);
    track(podB);
    // A fetches B, which fetches A, which fetches B ...: the URL nests the whole chain.
    let url = `${podA.url}/env/version`;
    for (let i = 0; i < 6; i++) url = `${i % 2 === 0 ? podB.url : podA.url}/fetch?url=${encodeURIComponent(url)}`;
    const res = await request(podA.server).get("/fetch").query({ url });
    expect(res.status).toBe(508);
    const fetches = (): number =>
      [...a.logs, ...b.logs].filter((l) => l.msg === "request" && l.route === "/fetch").length;
    // Three fetches and the one refused, never the six the URL asks for.
    await eventually(() => fetches() === 4);
  });

  it("the lessons' chain sleep → flaskapp /fetch → flaskapp works with the default", async () => {
    const v2 = await listen(makeApp({}, { version: "v2" }).app);
    track(v2);
    const res = await request(makeApp().app)
      .get("/fetch")
      .query({ url: `${v2.url}/env/version` });
    expect([res.status, res.text]).toEqual([200, "v2"]);
  });

  it("marks its outgoing fetches, adding its entry to those it received", async () => {
    const seen: (string | undefined)[] = [];
    const up = await upstream((req, res) => {
      seen.push(req.headers[HOPS_HEADER] as string | undefined);
      res.end("ok");
    });
    const { app } = makeApp();
    await request(app).get("/fetch").query({ url: up.url });
    await request(app).get("/fetch").query({ url: up.url }).set(HOPS_HEADER, "v1 flaskapp-v1-xyz");
    expect(seen).toEqual(["v2 flaskapp-v2-abc12", "v1 flaskapp-v1-xyz, v2 flaskapp-v2-abc12"]);
  });

  it.each([
    [1, "", 200],
    [1, "a", 508],
    [2, "a", 200],
    [2, "a, b", 508],
    [2, "a,,b", 508],
    [3, "a, b", 200],
    [3, "a, b, c", 508],
  ])("FETCH_MAX_HOPS=%d with %j received → %d", async (maxHops, received, status) => {
    const up = await upstream((_req, res) => res.end("ok"));
    const req = request(makeApp({ FETCH_MAX_HOPS: String(maxHops) }).app)
      .get("/fetch_with_header")
      .query({ url: up.url });
    const res = await (received === "" ? req : req.set(HOPS_HEADER, received));
    expect(res.status).toBe(status);
    if (status === 508) expectProblem(res, 508, /FETCH_MAX_HOPS is/);
  });
});

describe("FETCH_CONCURRENCY", () => {
  it("answers fetches beyond the cap with 503 and Retry-After, and takes new ones once a slot is free", async () => {
    const waiting: ServerResponse[] = [];
    const up = await upstream((_req, res) => void waiting.push(res));
    const { app } = makeApp({ FETCH_CONCURRENCY: "2" });
    const front = await listen(app);
    track(front);
    const held = [1, 2].map(() => fetch(`${front.url}/fetch?url=${encodeURIComponent(up.url)}`));
    await eventually(() => waiting.length === 2);
    const over = await request(front.server).get("/fetch").query({ url: up.url });
    expectProblem(over, 503, /^2 fetches are already in flight \(FETCH_CONCURRENCY\); try again$/);
    expect(over.headers["retry-after"]).toBe("1");
    // Other routes are not limited by it.
    expect((await request(front.server).get("/healthz")).status).toBe(200);
    waiting.shift()!.end("one");
    expect(await (await held[0]!).text()).toBe("one");
    const next = fetch(`${front.url}/fetch?url=${encodeURIComponent(up.url)}`);
    await eventually(() => waiting.length === 2);
    for (const res of waiting.splice(0)) res.end("done");
    expect((await next).status).toBe(200);
    expect((await held[1]!).status).toBe(200);
  });

  it("a failed fetch, a refused one and one whose client left all give their slot back", async () => {
    const { app } = makeApp({ FETCH_CONCURRENCY: "1" });
    let reached = false;
    let upstreamClosed = false;
    const up = await upstream((req, res) => {
      if (req.url !== "/hang") return void res.end("ok");
      reached = true;
      req.socket.on("close", () => (upstreamClosed = true));
    });
    const front = await listen(app);
    track(front);
    const ok = async (): Promise<void> =>
      expect((await request(front.server).get("/fetch").query({ url: up.url })).status).toBe(200);
    expectProblem(await request(front.server).get("/fetch").query({ url: "http://127.0.0.1:1/" }), 502, /refused/);
    await ok();
    expectProblem(await request(front.server).get("/fetch").query({ url: "file:///etc/passwd" }), 400, /scheme/);
    await ok();
    const gone = httpGet(`${front.url}/fetch?url=${encodeURIComponent(`${up.url}/hang`)}`);
    gone.on("error", () => undefined);
    await eventually(() => reached);
    gone.destroy();
    // The app aborts the upstream call when its client leaves, and frees the slot as it does.
    await eventually(() => upstreamClosed);
    await ok();
  });
});

describe("/fetch_with_header streams its JSON", () => {
  // The container test sends the full 10 MiB (FETCH_MAX_BYTES) under the pod's memory limit.
  it("2 MiB of NUL bytes (12 MiB once escaped) arrive as valid JSON, the first bytes before the upstream has sent the rest", async () => {
    const HALF = 1024 * 1024;
    let release = (): void => undefined;
    const up = await upstream((_req, res) => {
      // The second half goes out only once the client holds the first bytes: without streaming this never happens.
      res.write(Buffer.alloc(HALF));
      release = () => {
        release = () => undefined;
        res.end(Buffer.alloc(HALF));
      };
    });
    const front = track(await listen(makeApp().app));
    const text = await new Promise<string>((resolve, reject) => {
      httpGet(`${front.url}/fetch_with_header?url=${encodeURIComponent(up.url)}`, (res) => {
        const parts: string[] = [];
        res.setEncoding("latin1");
        res.on("data", (part: string) => {
          parts.push(part);
          release();
        });
        res.on("end", () => resolve(parts.join("")));
      }).on("error", reject);
    });
    expect(text.length).toBeGreaterThan(6 * 2 * HALF);
    const parsed = JSON.parse(text) as { status: number; body: string };
    expect(parsed.status).toBe(200);
    expect(parsed.body.length).toBe(2 * HALF);
    expect(/^\0*$/.test(parsed.body)).toBe(true);
  });

  it("decodes a UTF-8 character split across chunks, keeps a BOM, and replaces invalid bytes as before", async () => {
    let second = (): void => undefined;
    const euro = Buffer.from("\ufeff€", "utf8");
    const up = await upstream((_req, res) => {
      res.write(euro.subarray(0, 4));
      second = () => res.end(Buffer.concat([euro.subarray(4), Buffer.from([0xff])]));
    });
    const front = await listen(makeApp().app);
    track(front);
    const text = await new Promise<string>((resolve, reject) => {
      httpGet(`${front.url}/fetch_with_header?url=${encodeURIComponent(up.url)}`, (res) => {
        let all = "";
        res.on("data", (part: Buffer) => {
          all += part.toString("latin1");
          second();
        });
        res.on("end", () => resolve(Buffer.from(all, "latin1").toString("utf8")));
      }).on("error", reject);
    });
    expect(JSON.parse(text).body).toBe(Buffer.concat([euro, Buffer.from([0xff])]).toString("utf8"));
  });
});

describe("metric labels stay bounded", () => {
  it("a flood of 30 methods × 400 statuses leaves /metrics under MAX_METRICS_BYTES, scraped in milliseconds", async () => {
    const methods = METHODS.filter((m) => m !== "CONNECT").slice(0, 30);
    expect(methods).toHaveLength(30);
    const { app } = makeApp({ LOG_LEVEL: "silent" });
    const front = await listen(app);
    track(front);
    const batches = methods.map((method) =>
      Array.from({ length: 400 }, (_, i) => `${method} /status/${200 + i} HTTP/1.1\r\nHost: flaskapp\r\n\r\n`),
    );
    const served = await Promise.all(
      [0, 1, 2].map((lane) => pipeline(front.port, batches.filter((_, i) => i % 3 === lane).flat())),
    );
    expect(served.reduce((sum, n) => sum + n, 0)).toBe(12_000);
    const started = performance.now();
    const res = await request(front.server).get("/metrics");
    const scrapeMs = performance.now() - started;
    expect(res.status).toBe(200);
    const total = [...res.text.matchAll(/^http_requests_total\{[^}]*route="\/status\/:code"[^}]*\} (\d+)$/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
    expect(total).toBe(12_000);
    expect(res.text).toContain('http_requests_total{method="other",route="/status/:code",status="5xx"}');
    expect(res.text).toContain('http_requests_total{method="GET",route="/status/:code",status="503"} 1');
    expect(res.text.length).toBeLessThan(MAX_METRICS_BYTES);
    console.log(`/metrics after the flood: ${res.text.length} bytes, scraped in ${scrapeMs.toFixed(1)} ms`);
    expect(scrapeMs).toBeLessThan(250);
  }, 60_000);

  it.each([
    ["tuned", TunedRequestMetrics],
    ["plain", PlainRequestMetrics],
  ])("every possible series together stays under MAX_METRICS_BYTES (%s)", async (_kind, Metrics) => {
    const { app } = makeApp();
    const routes = (app.router.stack as { route?: { path: string } }[]).flatMap((layer) =>
      layer.route ? [layer.route.path] : [],
    );
    const templates = [...new Set([...routes, "unmatched"])];
    expect(templates.length).toBeGreaterThanOrEqual(12);
    const registry = new Registry();
    const metrics = new Metrics(registry);
    // Every status label and class, and statuses beyond 599 (which Node would send).
    const statuses = [...STATUS_LABELS, 100, 150, 250, 350, 450, 550, 599, 600, 999];
    for (const route of templates) {
      for (const method of [...METHOD_LABELS, ...METHODS])
        for (const status of statuses) metrics.record(method, route, status, 0.01);
    }
    const text = await registry.metrics();
    const lines = text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).length;
    expect(lines).toBe(
      (METHOD_LABELS.length + 1) * templates.length * (STATUS_LABELS.length + 5) + templates.length * 5 * 14,
    );
    expect(text.length + 16 * 1024).toBeLessThan(MAX_METRICS_BYTES);
  });
});
