// The two request recorders and log sinks (FLASKAPP_OBSERVE=plain|tuned) side
// by side: the same requests through both must leave the same log lines and
// the same /metrics series. Only the timestamp may differ; durations come from
// a fixed clock. This is the test that tells, after an upgrade of pino or
// prom-client, whether the tuned recorder still writes what the libraries write.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Request, Response } from "express";
import pino from "pino";
import { Registry } from "prom-client";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { createApp } from "#flaskapp/app.ts";
import { OBSERVE_KINDS, type ObserveKind } from "#flaskapp/config.ts";
import { plainSink, tunedSink } from "#flaskapp/log-sink.ts";
import type { RequestRecorder } from "#flaskapp/observe.ts";
import { plainRecorder } from "#flaskapp/observe-plain.ts";
import { tunedRecorder } from "#flaskapp/observe-tuned.ts";
import { configFrom } from "./helpers.ts";

/** A log line with its timestamp (the one field that legitimately differs) made 0. */
const normalized = (line: string): string => line.replace(/,"time":\d+/, ',"time":0');

/** Each call a fixed 1.25 ms later: every request takes 1.25 ms, whichever recorder times it. */
function steadyClock(): () => number {
  let ms = 0;
  return () => (ms += 1.25);
}

interface Call {
  method: string;
  path: string;
  headers?: Record<string, string>;
}

const CALLS: [string, Call][] = [
  ["a plain GET", { method: "GET", path: "/env/version" }],
  ["HEAD", { method: "HEAD", path: "/" }],
  ["a query (not logged)", { method: "GET", path: "/headers?secret=1" }],
  ["a status label", { method: "POST", path: "/status/503" }],
  ["a status counted by class", { method: "PUT", path: "/status/418" }],
  ["a 405", { method: "PATCH", path: "/env/version" }],
  ["an unmatched path", { method: "GET", path: "/no/such/path" }],
  ["an uncommon method", { method: "PROPFIND", path: "/status/200" }],
  [
    "a request id and a trace",
    {
      method: "GET",
      path: "/healthz",
      headers: { "x-request-id": "demo-1", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    },
  ],
  [
    "b3 trace id and characters to escape",
    {
      method: "GET",
      path: "/headers/x%22y",
      headers: { "x-b3-traceid": "463ac35c9f6413ad", "x-request-id": 'a"b\\c' },
    },
  ],
  ["a path longer than the log keeps", { method: "GET", path: `/env/${"n".repeat(300)}` }],
  ["the same path again", { method: "GET", path: "/env/version" }],
];

/** The app with one recorder: the raw log lines and the request series of /metrics after CALLS. */
async function observed(kind: ObserveKind): Promise<{ lines: string[]; metrics: string }> {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  const app = createApp(configFrom({ FLASKAPP_OBSERVE: kind }), {
    logger,
    env: { version: "v2" },
    lifecycle: { shuttingDown: false },
    now: steadyClock(),
  });
  for (const [, call] of CALLS) {
    const res = await request(app)
      [call.method === "PROPFIND" ? "propfind" : (call.method.toLowerCase() as "get")](call.path)
      .set({ host: "flaskapp", ...call.headers });
    expect(res.status).toBeGreaterThanOrEqual(200);
  }
  const scrape = await request(app).get("/metrics").set("host", "flaskapp");
  const metrics = scrape.text
    .split("\n")
    .filter((line) => /^(# (HELP|TYPE) )?http_request/.test(line))
    .join("\n");
  return { lines: lines.filter((line) => line.includes('"msg":"request"')).map(normalized), metrics };
}

describe("plain and tuned recorders record the same", () => {
  it("log lines and /metrics series for the same requests", async () => {
    const [plain, tuned] = [await observed("plain"), await observed("tuned")];
    // every call, then the scrape itself (recorded once answered)
    expect(tuned.lines).toHaveLength(CALLS.length + 1);
    expect(tuned.lines).toEqual(plain.lines);
    expect(tuned.metrics).toContain('http_requests_total{method="other",route="/status/:code",status="200"} 1');
    expect(tuned.metrics).toContain('http_requests_total{method="PUT",route="/status/:code",status="4xx"} 1');
    expect(tuned.metrics).toContain('http_request_duration_seconds_sum{route="/env/:name",status_class="2xx"} 0.0025');
    expect(tuned.metrics).toEqual(plain.metrics);
  });

  // What HTTP cannot make deterministically: a client gone before its answer, a cut body, no Host.
  const records: [string, Partial<Request>, Record<string, unknown>, number, number, boolean][] = [
    [
      "a client that went away",
      { method: "GET", originalUrl: "/delay/5", headers: { host: "flaskapp" } },
      {},
      499,
      5000.1234567,
      true,
    ],
    [
      "a cut body",
      { method: "GET", originalUrl: "/fetch?url=x", headers: { host: "flaskapp" } },
      { cut: "upstream fell silent" },
      200,
      12.5,
      false,
    ],
    ["no Host header", { method: "DELETE", originalUrl: "/status/204", headers: {} }, {}, 204, 0.0004, false],
    ["an odd status", { method: "GET", originalUrl: "/fetch", headers: { host: "h" } }, {}, 999, 3, false],
  ];

  it.each(records)("%s", async (_what, req, locals, status, ms, aborted) => {
    const outputs = OBSERVE_KINDS.map((kind) => {
      const lines: string[] = [];
      const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
      const registry = new Registry();
      const recorder: RequestRecorder = (kind === "plain" ? plainRecorder : tunedRecorder)(logger, registry);
      recorder.record(req as Request, { locals } as unknown as Response, "/route", status, ms, aborted);
      return { lines: lines.map(normalized), registry };
    });
    expect(outputs[0]!.lines).toHaveLength(1);
    expect(outputs[1]!.lines).toEqual(outputs[0]!.lines);
    expect(await outputs[1]!.registry.metrics()).toEqual(await outputs[0]!.registry.metrics());
  });

  it("no log line below info, metrics still", async () => {
    for (const kind of OBSERVE_KINDS) {
      const lines: string[] = [];
      const registry = new Registry();
      const recorder = (kind === "plain" ? plainRecorder : tunedRecorder)(
        pino({ level: "warn" }, { write: (line: string) => void lines.push(line) }),
        registry,
      );
      recorder.record(
        { method: "GET", originalUrl: "/", headers: {} } as Request,
        { locals: {} } as unknown as Response,
        "/",
        200,
        1,
        false,
      );
      expect(lines).toEqual([]);
      expect(await registry.metrics()).toContain('http_requests_total{method="GET",route="/",status="200"} 1');
    }
  });
});

describe("plain and tuned log sinks write the same bytes", () => {
  it.each([
    ["lines that fit a batch", 64],
    ["lines larger than a batch", 3],
  ])("%s, flushed", (_what, batchBytes) => {
    const dir = mkdtempSync(join(tmpdir(), "flaskapp-sink-"));
    try {
      const lines = ['{"a":1}\n', '{"b":"é…"}\n', `{"c":"${"x".repeat(100)}"}\n`, '{"d":4}\n'];
      const written = [plainSink, tunedSink].map((sink, at) => {
        const file = join(dir, `out-${at}`);
        const fd = openSync(file, "w");
        const { stream, flush } = sink(fd, batchBytes, 60_000);
        for (const line of lines) stream.write(line);
        flush();
        closeSync(fd);
        return readFileSync(file, "utf8");
      });
      expect(written[0]).toBe(lines.join(""));
      expect(written[1]).toBe(written[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
