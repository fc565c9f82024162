import { type ChildProcessByStdio, spawn } from "node:child_process";
import { once } from "node:events";
import { get as httpGet, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import type { Readable } from "node:stream";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import request from "supertest";
import { describe, expect, it, onTestFinished } from "vitest";
import { RELAY_TURN_BYTES, upstreamProblem } from "#flaskapp/routes/fetch.ts";
import { Problem } from "#flaskapp/problem.ts";
import { TRACING_HEADERS } from "#flaskapp/tracing.ts";
import { closedAfterEach, eventually, listen, makeApp, type Running } from "./helpers.ts";

const { track, upstream } = closedAfterEach();

/** Serves the app on a real port so tests can watch bytes arrive and connections close. */
async function serve(env: Record<string, string> = {}): Promise<Running & { logs: Record<string, unknown>[] }> {
  const { app, logs } = makeApp(env);
  return { ...track(await listen(app)), logs };
}

interface Received {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
}

/** A GET that reports whether the body arrived complete instead of failing on a cut connection. */
function fetchRaw(url: string, onData?: (received: number) => void): Promise<Received> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let done = false;
      const finish = (complete: boolean): void => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), complete });
      };
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        onData?.(received);
      });
      res.on("end", () => finish(true));
      res.on("error", () => finish(false));
      res.on("close", () => finish(res.complete));
    }).on("error", reject);
  });
}

function expectProblem(
  res: { status: number; headers: IncomingHttpHeaders; body?: unknown; text?: string },
  status: number,
  detail: RegExp,
): void {
  expect(res.status).toBe(status);
  expect(res.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
  expect(JSON.parse(res.text ?? "")).toEqual({
    title: expect.any(String),
    status,
    detail: expect.stringMatching(detail),
  });
}

describe("/fetch and /fetch_with_trace", () => {
  it.each(["/fetch", "/fetch_with_trace"])(
    "%s answers with the upstream's status, content type and body",
    async (route) => {
      const up = await upstream((_req, res) => {
        res.writeHead(201, { "content-type": "text/html", "x-upstream": "yes" });
        res.end("<script>alert(1)</script>");
      });
      const res = await request(makeApp().app)
        .get(route)
        .query({ url: `${up.url}/page` });
      expect(res.status).toBe(201);
      expect(res.headers["content-type"]).toBe("text/html");
      expect(res.text).toBe("<script>alert(1)</script>");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["content-security-policy"]).toBe("default-src 'none'; sandbox");
      expect(res.headers["x-upstream"]).toBeUndefined();
    },
  );

  it.each([
    [404, "missing"],
    [500, "upstream broke"],
    [503, "overloaded"],
  ])("relays upstream status %d with its body", async (status, body) => {
    const up = await upstream((_req, res) => {
      res.statusCode = status;
      res.end(body);
    });
    const res = await request(makeApp().app).get("/fetch").query({ url: up.url });
    expect([res.status, res.text]).toEqual([status, body]);
  });

  it.each(["/fetch", "/fetch_with_trace", "/fetch_with_header"])(
    "%s copies exactly the 17 tracing headers to the upstream",
    async (route) => {
      let seen: IncomingHttpHeaders = {};
      const up = await upstream((req, res) => {
        seen = req.headers;
        res.end("ok");
      });
      const incoming = Object.fromEntries(TRACING_HEADERS.map((name, i) => [name, `value-${i}`]));
      const res = await request(makeApp().app)
        .get(route)
        .query({ url: up.url })
        .set(incoming)
        .set({ cookie: "session=1", authorization: "Bearer t", lab: "canary" });
      expect(res.status).toBe(200);
      expect(TRACING_HEADERS).toHaveLength(17);
      for (const name of TRACING_HEADERS) expect(seen[name], name).toBe(incoming[name]);
      expect(seen.cookie).toBeUndefined();
      expect(seen.authorization).toBeUndefined();
      expect(seen.lab).toBeUndefined();
    },
  );

  it("streams: the first bytes reach the client before the upstream has finished", async () => {
    let finishUpstream = (): void => undefined;
    const up = await upstream((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first part;");
      finishUpstream = () => res.end("second part");
    });
    const app = await serve();
    let releasedAfter = -1;
    const res = await fetchRaw(`${app.url}/fetch?url=${encodeURIComponent(up.url)}`, (received) => {
      // The upstream only ends once the client holds the first part: without streaming this never happens.
      if (releasedAfter === -1) {
        releasedAfter = received;
        finishUpstream();
      }
    });
    expect(releasedAfter).toBe("first part;".length);
    expect(res.complete).toBe(true);
    expect(res.body.toString()).toBe("first part;second part");
  });

  it("uses HEAD upstream for a HEAD request", async () => {
    let method = "";
    const up = await upstream((req, res) => {
      method = req.method!;
      res.setHeader("content-length", "5");
      res.end(req.method === "HEAD" ? undefined : "hello");
    });
    const res = await request(makeApp().app).head("/fetch").query({ url: up.url });
    expect([res.status, method, res.headers["content-length"]]).toEqual([200, "HEAD", "5"]);
  });

  it("a client that leaves while waiting for the upstream aborts the upstream request", async () => {
    let upstreamReached = false;
    let upstreamClosed = false;
    const up = await upstream((req) => {
      upstreamReached = true;
      req.socket.on("close", () => (upstreamClosed = true));
    });
    const app = await serve();
    const req = httpGet(`${app.url}/fetch?url=${encodeURIComponent(up.url)}`);
    req.on("error", () => undefined);
    await eventually(() => upstreamReached);
    req.destroy();
    await eventually(() => upstreamClosed);
  });
});

describe("RELAY_TURN_BYTES", () => {
  /** A program in its own Node process, so it works while this one is busy (as a real peer does). */
  function nodeProcess(program: string, ...args: string[]): ChildProcessByStdio<null, Readable, null> {
    const child = spawn(process.execPath, ["-e", program, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    onTestFinished(() => void child.kill());
    return child;
  }

  /** An upstream process that answers every request with `size` bytes of "x", keeping flaskapp's socket full while flaskapp works. */
  async function upstreamProcess(size: number): Promise<string> {
    const child = nodeProcess(`require("node:http").createServer((req, res) => res.end(Buffer.alloc(${size}, "x")))
      .listen(0, "127.0.0.1", function () { console.log(this.address().port); });`);
    const [port] = (await once(child.stdout, "data")) as [Buffer];
    return `http://127.0.0.1:${Number(port)}`;
  }

  /**
   * Fetches `url` through flaskapp's /fetch with a client process that reads
   * as fast as it can, and returns the most response bytes flaskapp wrote
   * between two turns of this process's event loop (two runs of a
   * setImmediate chain), with how many bytes the client received.
   */
  async function mostBytesInOneTurn(url: string): Promise<{ most: number; received: number }> {
    const app = await serve();
    let socket: Socket | undefined;
    app.server.once("connection", (connection: Socket) => (socket = connection));
    let running = true;
    let last = 0;
    let most = 0;
    const turn = (): void => {
      const written = socket?.bytesWritten ?? 0;
      most = Math.max(most, written - last);
      last = written;
      if (running) setImmediate(turn);
    };
    setImmediate(turn);
    const client = nodeProcess(
      "fetch(process.argv[1]).then(async (res) => { let n = 0; for await (const c of res.body) n += c.length; console.log(n); })",
      `${app.url}/fetch?url=${encodeURIComponent(url)}`,
    );
    let output = "";
    client.stdout.on("data", (data: Buffer) => (output += data));
    const [code] = (await once(client, "exit")) as [number | null];
    running = false;
    expect(code).toBe(0);
    return { most, received: Number(output) };
  }

  it("a large body goes out a turn at a time: at most RELAY_TURN_BYTES and one socket read between two turns", async () => {
    const size = 8 * 1024 * 1024;
    const url = await upstreamProcess(size);
    // One socket read is at most 64 KiB (libuv's read buffer), and what the socket
    // buffered while the relay waited for its turn is at most another 64 KiB
    // (its high-water mark); the first turn also carries the response head.
    // Without the pause for a turn, a turn carried up to 2 MiB.
    const bound = RELAY_TURN_BYTES + 2 * 64 * 1024 + 1024;
    for (let fetches = 0; fetches < 4; fetches++) {
      const { most, received } = await mostBytesInOneTurn(url);
      expect(received).toBe(size);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(bound);
    }
  });
});

describe("FETCH_MAX_BYTES", () => {
  const MAX = 1000;
  const body = (size: number): string => "x".repeat(size);

  it.each([
    ["announced", MAX, 200],
    ["announced", MAX + 1, 502],
  ] as const)("Content-Length %s at %d bytes → %d", async (_kind, size, status) => {
    const up = await upstream((_req, res) => {
      res.setHeader("content-length", String(size));
      res.end(body(size));
    });
    const res = await request(makeApp({ FETCH_MAX_BYTES: String(MAX) }).app)
      .get("/fetch")
      .query({ url: up.url });
    if (status === 200) {
      expect([res.status, res.text.length]).toEqual([200, MAX]);
    } else {
      expectProblem(res, 502, /upstream body is 1001 bytes, over FETCH_MAX_BYTES \(1000 bytes\)/);
    }
  });

  it("an unannounced body of exactly the limit arrives whole", async () => {
    const up = await upstream((_req, res) => {
      res.write(body(600));
      res.end(body(MAX - 600));
    });
    const app = await serve({ FETCH_MAX_BYTES: String(MAX) });
    const res = await fetchRaw(`${app.url}/fetch?url=${encodeURIComponent(up.url)}`);
    expect([res.status, res.complete, res.body.length]).toEqual([200, true, MAX]);
  });

  it.each(["/fetch", "/fetch_with_header"])(
    "%s: an unannounced body one byte over, after the first bytes went out, is cut and the connection closed",
    async (route) => {
      let finishUpstream = (): void => undefined;
      const up = await upstream((_req, res) => {
        res.write(body(600));
        finishUpstream = () => res.end(body(MAX + 1 - 600));
      });
      const app = await serve({ FETCH_MAX_BYTES: String(MAX) });
      // The rest is sent only once the client holds the first bytes, so the cut surely comes after them.
      const res = await fetchRaw(`${app.url}${route}?url=${encodeURIComponent(up.url)}`, () => finishUpstream());
      expect(res.status).toBe(200);
      expect(res.complete).toBe(false);
      expect(res.body.toString()).toContain(body(600));
      expect(res.body.toString()).not.toContain(body(601));
      const reason = `upstream body is over FETCH_MAX_BYTES (${MAX} bytes)`;
      await eventually(() => app.logs.some((l) => l.msg === "request"));
      expect(app.logs.find((l) => l.msg === "upstream body cut; connection closed")).toMatchObject({
        level: 40,
        reason,
      });
      expect(app.logs.find((l) => l.msg === "request")).toMatchObject({ status: 200, aborted: true, cut: reason });
    },
  );

  it.each([
    ["/fetch", MAX, 200],
    ["/fetch", MAX + 1, 502],
    ["/fetch_with_header", MAX, 200],
    ["/fetch_with_header", MAX + 1, 502],
  ])("%s with an unannounced body of %d bytes in one piece → %d", async (route, size, status) => {
    const up = await upstream((_req, res) => res.end(body(size)));
    const res = await request(makeApp({ FETCH_MAX_BYTES: String(MAX) }).app)
      .get(route)
      .query({ url: up.url });
    if (status === 502) expectProblem(res, 502, /over FETCH_MAX_BYTES/);
    else expect(route === "/fetch" ? res.text : res.body.body).toHaveLength(MAX);
  });
});

describe("FETCH_TIMEOUT", () => {
  const env = { FETCH_TIMEOUT: "300ms" };

  it("headers well inside the timeout → 200, even when the body then takes longer than it", async () => {
    const up = await upstream((_req, res) => {
      setTimeout(() => res.write("a"), 50);
      setTimeout(() => res.write("b"), 250);
      setTimeout(() => res.end("c"), 450);
    });
    const res = await request(makeApp(env).app).get("/fetch").query({ url: up.url });
    expect([res.status, res.text]).toEqual([200, "abc"]);
  });

  it.each(["/fetch", "/fetch_with_header"])("%s: no headers within the timeout → 504", async (route) => {
    const up = await upstream(() => undefined);
    const res = await request(makeApp(env).app).get(route).query({ url: up.url });
    expectProblem(res, 504, /no response headers from upstream within FETCH_TIMEOUT \(300 ms\)/);
  });

  it.each(["/fetch", "/fetch_with_header"])(
    "%s: headers, then silence for longer than the timeout → 504, logged as such",
    async (route) => {
      const up = await upstream((_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.flushHeaders();
      });
      const app = await serve(env);
      const res = await fetchRaw(`${app.url}${route}?url=${encodeURIComponent(up.url)}`);
      expect(res.status).toBe(504);
      expect(JSON.parse(res.body.toString()).detail).toBe(
        "upstream went silent for FETCH_TIMEOUT (300 ms) after its response headers",
      );
      await eventually(() => app.logs.some((l) => l.msg === "request"));
      expect(app.logs.find((l) => l.msg === "request")).toMatchObject({ status: 504 });
    },
  );

  it.each([
    ["/fetch", "a"],
    ["/fetch_with_header", '"body":"a'],
  ])(
    "%s: part of the body, then silence → the connection is cut and logged as an upstream timeout, not 499",
    async (route, sent) => {
      const up = await upstream((_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("a");
      });
      const app = await serve(env);
      const res = await fetchRaw(`${app.url}${route}?url=${encodeURIComponent(up.url)}`);
      expect([res.status, res.complete]).toEqual([200, false]);
      expect(res.body.toString()).toContain(sent);
      await eventually(() => app.logs.some((l) => l.msg === "request"));
      const cut = "upstream went silent for FETCH_TIMEOUT (300 ms) after its response headers";
      expect(app.logs.find((l) => l.msg === "request")).toMatchObject({ status: 200, aborted: true, cut });
    },
  );

  it("the deadline covers the whole redirect chain", async () => {
    const up = await upstream((req, res) => {
      const hop = Number(req.url!.slice(1));
      setTimeout(() => res.writeHead(302, { location: `/${hop + 1}` }).end(), 100);
    });
    const res = await request(makeApp(env).app)
      .get("/fetch")
      .query({ url: `${up.url}/0` });
    expectProblem(res, 504, /FETCH_TIMEOUT/);
  });
});

describe("FETCH_DEADLINE", () => {
  // FETCH_TIMEOUT bounds each silence; the deadline bounds the whole fetch, so a trickle cannot outlast it.
  const DEADLINE_MS = 1500;
  const env = { FETCH_TIMEOUT: "1s", FETCH_DEADLINE: `${DEADLINE_MS}ms`, FETCH_CONCURRENCY: "1" };
  // Slack for a loaded machine: the slot comes back at the deadline, not whenever the trickle ends.
  const LATEST_MS = DEADLINE_MS + 2000;
  const reason = `upstream response not complete within FETCH_DEADLINE (${DEADLINE_MS} ms)`;

  /** An upstream that sends headers, then one byte every `everyMs` until flaskapp hangs up; `/small` answers "ok". */
  async function trickling(everyMs: number) {
    let arrived = false;
    let hungUp = false;
    const server = await upstream((req, res) => {
      if (req.url === "/small") return void res.end("ok");
      arrived = true;
      res.writeHead(200, { "content-type": "text/plain" });
      const timer = setInterval(() => res.write("."), everyMs);
      res.on("close", () => {
        clearInterval(timer);
        hungUp = true;
      });
    });
    return { url: `${server.url}/trickle`, small: `${server.url}/small`, arrived: () => arrived, hungUp: () => hungUp };
  }

  it.each(["/fetch", "/fetch_with_header"])(
    "%s: an upstream that trickles a byte inside every FETCH_TIMEOUT is cut at the deadline, and its slot is free by then",
    async (route) => {
      const up = await trickling(100);
      const app = await serve(env);
      const started = performance.now();
      const trickle = fetchRaw(`${app.url}${route}?url=${encodeURIComponent(up.url)}`);
      await eventually(() => up.arrived());
      // Its one slot (FETCH_CONCURRENCY 1) is held meanwhile.
      expect((await fetchRaw(`${app.url}/fetch?url=${encodeURIComponent(up.small)}`)).status).toBe(503);
      const res = await trickle;
      const elapsed = performance.now() - started;
      expect([res.status, res.complete]).toEqual([200, false]);
      expect(res.body.toString()).toContain("..");
      expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 5);
      expect(elapsed).toBeLessThan(LATEST_MS);
      await eventually(() => up.hungUp());
      const next = await fetchRaw(`${app.url}/fetch?url=${encodeURIComponent(up.small)}`);
      expect([next.status, next.body.toString()]).toEqual([200, "ok"]);
      await eventually(() => app.logs.some((l) => l.msg === "request" && l.cut !== undefined));
      expect(app.logs.find((l) => l.msg === "request" && l.cut !== undefined)).toMatchObject({
        route,
        status: 200,
        aborted: true,
        cut: reason,
      });
    },
  );

  it("headers late but inside FETCH_TIMEOUT, then silence: 504 at the deadline, before FETCH_TIMEOUT's body silence", async () => {
    const up = await upstream((_req, res) => {
      setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).flushHeaders(), 300);
    });
    const app = await serve({ FETCH_TIMEOUT: "1s", FETCH_DEADLINE: "1s" });
    const started = performance.now();
    const res = await fetchRaw(`${app.url}/fetch?url=${encodeURIComponent(up.url)}`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(995);
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body.toString()).detail).toBe(
      "upstream response not complete within FETCH_DEADLINE (1000 ms)",
    );
  });

  it("a body that ends inside the deadline arrives whole", async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      let sent = 0;
      const timer = setInterval(() => {
        if (++sent < 3) return void res.write(String(sent));
        clearInterval(timer);
        res.end("3");
      }, 100);
    });
    const app = await serve(env);
    const res = await fetchRaw(`${app.url}/fetch?url=${encodeURIComponent(up.url)}`);
    expect([res.status, res.complete, res.body.toString()]).toEqual([200, true, "123"]);
  });

  it("a client that never reads holds its slot no longer than the deadline", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 0x78);
    const up = await upstream((req, res) => res.end(req.url === "/small" ? "ok" : big));
    const app = await serve(env);
    const socket = connect(app.port, "127.0.0.1", () => {
      socket.pause();
      socket.write(`GET /fetch?url=${encodeURIComponent(`${up.url}/big`)} HTTP/1.1\r\nHost: flaskapp\r\n\r\n`);
    });
    socket.on("error", () => undefined);
    onTestFinished(() => void socket.destroy());
    await eventually(() => app.logs.some((l) => l.msg === "upstream body cut; connection closed"), LATEST_MS + 1000);
    expect(app.logs.find((l) => l.msg === "upstream body cut; connection closed")).toMatchObject({ reason });
    expect((await fetchRaw(`${app.url}/fetch?url=${encodeURIComponent(`${up.url}/small`)}`)).status).toBe(200);
  });
});

describe("Content-Encoding", () => {
  const hello = gzipSync("hello, encoded");

  it.each([
    ["gzip", hello],
    ["br", brotliCompressSync("hello, encoded")],
    ["deflate, gzip", gzipSync(deflateSync("hello, encoded"))],
  ])("/fetch relays a %s body as it is, with its Content-Encoding", async (encoding, bytes) => {
    let asked: string | undefined;
    const up = await upstream((req, res) => {
      asked = req.headers["accept-encoding"];
      res
        .writeHead(200, { "content-type": "text/plain", "content-encoding": encoding, "content-length": bytes.length })
        .end(bytes);
    });
    const app = await serve();
    const res = await fetchRaw(`${app.url}/fetch?url=${encodeURIComponent(up.url)}`);
    expect(asked).toBe("identity");
    expect([res.status, res.headers["content-encoding"], res.headers["content-type"]]).toEqual([
      200,
      encoding,
      "text/plain",
    ]);
    expect(res.body.equals(bytes)).toBe(true);
  });

  it.each([
    [undefined, 200],
    ["identity", 200],
    ["Identity", 200],
    ["gzip", 502],
    ["identity, gzip", 502],
    ["br", 502],
  ])(
    "/fetch_with_header with Content-Encoding %j: %d (it shows the body as text, so only identity)",
    async (encoding, status) => {
      const up = await upstream((_req, res) => {
        res.writeHead(200, {
          "content-type": "text/plain",
          ...(encoding === undefined ? {} : { "content-encoding": encoding }),
        });
        res.end(encoding === undefined || encoding.toLowerCase() === "identity" ? "plain" : hello);
      });
      const res = await request(makeApp().app).get("/fetch_with_header").query({ url: up.url });
      if (status === 200) expect([res.status, res.body.body]).toEqual([200, "plain"]);
      else
        expectProblem(
          res,
          502,
          /^upstream sent a body with Content-Encoding ".*" though asked for identity; \/fetch relays it as it is$/,
        );
    },
  );
});

describe("redirects", () => {
  async function chain(): Promise<Running> {
    return upstream((req, res) => {
      const [, hops, target] = /^\/(\d+)(?:\?to=(.*))?$/.exec(req.url!) ?? [];
      if (Number(hops) > 0)
        res.writeHead(302, { location: `/${Number(hops) - 1}${target ? `?to=${target}` : ""}` }).end();
      else if (target) res.writeHead(301, { location: decodeURIComponent(target) }).end();
      else res.end("arrived");
    });
  }

  it("follows 5 redirects", async () => {
    const up = await chain();
    const res = await request(makeApp().app)
      .get("/fetch")
      .query({ url: `${up.url}/5` });
    expect([res.status, res.text]).toEqual([200, "arrived"]);
  });

  it("refuses a 6th redirect with 502", async () => {
    const up = await chain();
    expectProblem(
      await request(makeApp().app)
        .get("/fetch")
        .query({ url: `${up.url}/6` }),
      502,
      /redirected more than 5 times/,
    );
  });

  it.each([
    ["file:///etc/passwd", {}, 502, /scheme "file:" is not allowed/],
    ["ftp://127.0.0.1/", {}, 502, /scheme "ftp:" is not allowed/],
    ["http://user:pw@127.0.0.1/", {}, 502, /credentials/],
    ["http://localhost/", { FETCH_ALLOW: "127.0.0.1" }, 403, /host "localhost" is not in FETCH_ALLOW/],
  ])("a redirect to %s is refused", async (location, env, status, detail) => {
    const up = await chain();
    const res = await request(makeApp(env).app)
      .get("/fetch")
      .query({ url: `${up.url}/1?to=${encodeURIComponent(location)}` });
    expectProblem(res, status, detail);
  });

  it("a redirect to an allowed host is followed", async () => {
    const final = await upstream((_req, res) => res.end("other host"));
    const up = await chain();
    const res = await request(makeApp({ FETCH_ALLOW: "127.0.0.1" }).app)
      .get("/fetch")
      .query({ url: `${up.url}/0?to=${encodeURIComponent(final.url)}` });
    expect([res.status, res.text]).toEqual([200, "other host"]);
  });
});

describe("/fetch_with_header", () => {
  it("returns the incoming headers, the upstream status and its body as text", async () => {
    const up = await upstream((_req, res) => {
      res.statusCode = 418;
      res.end("héllo");
    });
    const res = await request(makeApp().app).get("/fetch_with_header").query({ url: up.url }).set("lab", "canary");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.body).toEqual({ headers: expect.objectContaining({ lab: "canary" }), status: 418, body: "héllo" });
  });
});

describe("fetch errors", () => {
  async function closedPort(): Promise<number> {
    const server = await listen(() => undefined);
    await server.close();
    return server.port;
  }

  it.each([
    ["", {}, 400, /missing url/],
    ["?url=", {}, 400, /missing url/],
    ["?url=a&url=b", {}, 400, /exactly once/],
    ["?url=nonsense", {}, 400, /invalid url/],
    ["?url=file:///etc/passwd", {}, 400, /scheme "file:"/],
    ["?url=javascript:alert(1)", {}, 400, /scheme "javascript:"/],
    ["?url=gopher://127.0.0.1/", {}, 400, /scheme "gopher:"/],
    ["?url=http://u:p@127.0.0.1/", {}, 400, /credentials/],
    ["?url=http://example.com/", { FETCH_ALLOW: "127.0.0.1" }, 403, /"example.com" is not in FETCH_ALLOW/],
  ])("GET /fetch%s with %j → %d", async (query, env, status, detail) => {
    for (const route of ["/fetch", "/fetch_with_header"]) {
      expectProblem(await request(makeApp(env).app).get(`${route}${query}`), status, detail);
    }
  });

  it("a refused connection → 502", async () => {
    const port = await closedPort();
    for (const route of ["/fetch", "/fetch_with_trace", "/fetch_with_header"]) {
      const res = await request(makeApp().app)
        .get(route)
        .query({ url: `http://127.0.0.1:${port}/` });
      expectProblem(res, 502, /upstream refused the connection \(ECONNREFUSED\)/);
    }
  });

  it("an upstream that closes without answering → 502", async () => {
    const up = await upstream((req) => req.socket.destroy());
    expectProblem(await request(makeApp().app).get("/fetch").query({ url: up.url }), 502, /upstream/);
  });
});

describe("upstreamProblem", () => {
  // DNS failures cannot be provoked here without asking a real resolver, so the mapping is checked directly.
  const failure = (code: string): Error => Object.assign(new Error("x"), { code });
  it.each([
    [failure("ENOTFOUND"), false, 502, "cannot resolve the upstream host (ENOTFOUND)"],
    [failure("EAI_AGAIN"), false, 502, "cannot resolve the upstream host (EAI_AGAIN)"],
    [failure("ECONNREFUSED"), false, 502, "upstream refused the connection (ECONNREFUSED)"],
    [failure("ECONNRESET"), false, 502, "upstream reset the connection (ECONNRESET)"],
    [failure("UND_ERR_SOCKET"), false, 502, "upstream request failed (UND_ERR_SOCKET)"],
    [failure("UND_ERR_CONNECT_TIMEOUT"), false, 504, "no response headers from upstream within FETCH_TIMEOUT (300 ms)"],
    [failure("UND_ERR_HEADERS_TIMEOUT"), false, 504, "no response headers from upstream within FETCH_TIMEOUT (300 ms)"],
    [
      failure("UND_ERR_BODY_TIMEOUT"),
      false,
      504,
      "upstream went silent for FETCH_TIMEOUT (300 ms) after its response headers",
    ],
    [failure("ERR_ASSERTION"), false, 502, "upstream sent a malformed response (ERR_ASSERTION)"],
    [
      Object.assign(new Error("Response does not match the HTTP/1.1 protocol"), { name: "HTTPParserError" }),
      false,
      502,
      "upstream sent a malformed response",
    ],
    [new Error("aborted"), true, 504, "no response headers from upstream within FETCH_TIMEOUT (300 ms)"],
    [new Error("odd"), false, 502, "upstream request failed"],
    ["not even an error", false, 502, "upstream request failed"],
    [new Problem(403, "kept"), false, 403, "kept"],
  ])("%o (timed out: %s) → %d", (error, timedOut, status, detail) => {
    const problem = upstreamProblem(error, timedOut, 300);
    expect([problem.status, problem.message]).toEqual([status, detail]);
  });
});

describe("FETCH_PROXY", () => {
  interface Seen {
    method: string;
    url: string;
    host: string | undefined;
    headers: IncomingHttpHeaders;
  }

  /** A stand-in sidecar: an HTTP proxy on 127.0.0.1 that records what it gets and serves the host names it knows. */
  async function proxy(hosts: Record<string, string>): Promise<Running & { seen: Seen[]; tunnels: string[] }> {
    const seen: Seen[] = [];
    const tunnels: string[] = [];
    const server = await upstream((req, res) => {
      seen.push({ method: req.method!, url: req.url!, host: req.headers.host, headers: req.headers });
      const target = URL.canParse(req.url!) ? new URL(req.url!) : undefined;
      const origin = target && hosts[target.host];
      if (origin === undefined) return void res.writeHead(502).end("proxy: unknown host");
      httpGet(`${origin}${target!.pathname}${target!.search}`, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
    });
    server.server.on("connect", (req: IncomingMessage, socket: import("node:net").Socket) => {
      tunnels.push(req.url!);
      socket.destroy();
    });
    return { ...server, seen, tunnels };
  }

  it("sends a plain http:// fetch to the proxy in absolute form, with the target's Host, and no CONNECT", async () => {
    const v2 = await upstream((req, res) => res.end(`v2 saw ${req.url}`));
    const sidecar = await proxy({ flaskapp: v2.url });
    const { app } = makeApp({ FETCH_PROXY: sidecar.url, FETCH_ALLOW: "flaskapp" });
    const res = await request(app)
      .get("/fetch")
      .query({ url: "http://flaskapp/env/version?x=1" })
      .set("x-request-id", "r-1");
    expect([res.status, res.text]).toEqual([200, "v2 saw /env/version?x=1"]);
    expect(sidecar.seen).toMatchObject([{ method: "GET", url: "http://flaskapp/env/version?x=1", host: "flaskapp" }]);
    expect(sidecar.seen[0]!.headers).toMatchObject({ "x-request-id": "r-1", "x-flaskapp-via": "v2 flaskapp-v2-abc12" });
    expect(sidecar.tunnels).toEqual([]);
  });

  it("checks FETCH_ALLOW against the target, not the proxy, and re-checks every redirect", async () => {
    const v2 = await upstream((req, res) => {
      if (req.url === "/away") res.writeHead(302, { location: "http://elsewhere/" }).end();
      else if (req.url === "/next") res.writeHead(302, { location: "/env/version" }).end();
      else res.end("v2");
    });
    const sidecar = await proxy({ flaskapp: v2.url, elsewhere: v2.url });
    const { app } = makeApp({ FETCH_PROXY: sidecar.url, FETCH_ALLOW: "flaskapp" });
    expectProblem(
      await request(app).get("/fetch").query({ url: "http://elsewhere/" }),
      403,
      /"elsewhere" is not in FETCH_ALLOW/,
    );
    expect(sidecar.seen).toEqual([]);
    expectProblem(
      await request(app).get("/fetch").query({ url: "http://flaskapp/away" }),
      403,
      /"elsewhere" is not in FETCH_ALLOW/,
    );
    const res = await request(app).get("/fetch").query({ url: "http://flaskapp/next" });
    expect([res.status, res.text]).toEqual([200, "v2"]);
    expect(sidecar.seen.map((s) => s.url)).toEqual([
      "http://flaskapp/away",
      "http://flaskapp/next",
      "http://flaskapp/env/version",
    ]);
  });

  it("a proxy that is not there → 502", async () => {
    const closed = await listen(() => undefined);
    await closed.close();
    const { app } = makeApp({ FETCH_PROXY: closed.url });
    expectProblem(await request(app).get("/fetch").query({ url: "http://flaskapp/" }), 502, /refused the connection/);
  });
});
