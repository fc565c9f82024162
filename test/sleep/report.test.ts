import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseCommand } from "#sleep/args.ts";
import { histogramOf } from "#sleep/latency.ts";
import { bodyKey, classifyError, headerKey } from "#sleep/load.ts";
import { PROGRESS_DELAY_MS, progressLine, startProgress } from "#sleep/progress.ts";
import { bar, latencyFigures, renderText, summarize } from "#sleep/report.ts";

describe("bodyKey", () => {
  it.each([
    ["v2", "v2"],
    ["  v2\n", "v2"],
    ['{\n  "a": 1\n}', '{ "a": 1 }'],
    ["", "(empty)"],
    [" \n\t", "(empty)"],
    ["x".repeat(61), "x".repeat(60)],
    ["é".repeat(70), "é".repeat(60)],
    ["😀".repeat(61), "😀".repeat(60)],
  ])("keys %j as %j", (body, key) => {
    expect(bodyKey(body)).toBe(key);
  });

  it.each([
    ["", 503, "503 (empty)"],
    ["", 502, "502 (empty)"],
    ["", 204, "(empty)"],
    ["upstream request timeout", 504, "upstream request timeout"],
  ])("keys %j with status %i as %j: a sidecar's empty answer by its status", (body, status, key) => {
    expect(bodyKey(body, status)).toBe(key);
  });
});

describe("headerKey", () => {
  it.each<[string | string[] | undefined, string]>([
    ["v1", "v1"],
    [undefined, "(none)"],
    ["", "(empty)"],
    [["a", "b"], "a, b"],
    ["y".repeat(80), "y".repeat(60)],
  ])("keys %j as %j", (value, key) => {
    expect(headerKey(value)).toBe(key);
  });
});

describe("classifyError", () => {
  const withCode = (code: string, cause?: unknown) => Object.assign(new Error(code), { code, cause });
  it.each([
    [withCode("ECONNREFUSED"), "refused"],
    [withCode("ECONNRESET"), "reset"],
    [withCode("EPIPE"), "reset"],
    [withCode("UND_ERR_SOCKET"), "reset"],
    [withCode("ENOTFOUND"), "dns"],
    [withCode("EAI_AGAIN"), "dns"],
    [withCode("UND_ERR_CONNECT_TIMEOUT"), "timeout"],
    [withCode("UND_ERR_HEADERS_TIMEOUT"), "timeout"],
    [new DOMException("The operation was aborted due to timeout", "TimeoutError"), "timeout"],
    [new TypeError("fetch failed", { cause: withCode("ECONNREFUSED") }), "refused"],
    [withCode("ERR_TLS_CERT_ALTNAME_INVALID"), "other"],
    [withCode("ERR_ASSERTION"), "protocol"],
    [
      Object.assign(new Error("Response does not match the HTTP/1.1 protocol"), { name: "HTTPParserError" }),
      "protocol",
    ],
    [Object.assign(new Error("bad upgrade"), { code: "UND_ERR_SOCKET" }), "protocol"],
    [Object.assign(new Error("bad response"), { code: "UND_ERR_SOCKET" }), "protocol"],
    [Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }), "reset"],
    [new Error("boom"), "other"],
    ["a string", "other"],
    [undefined, "other"],
  ])("classifies %s as %s", (err, kind) => {
    expect(classifyError(err)).toBe(kind);
  });
});

describe("latencyFigures (the histogram's precision against exact percentiles: latency.test.ts)", () => {
  it("gives nearest-rank percentiles, exact to the microsecond below 2.048 ms", () => {
    const ms = Array.from({ length: 100 }, (_, i) => (100 - i) / 100); // 1ms..0.01ms, unsorted
    expect(latencyFigures(histogramOf(ms))).toEqual({ min: 0.01, p50: 0.5, p90: 0.9, p99: 0.99, max: 1 });
  });
  it("gives the single value for one response", () => {
    expect(latencyFigures(histogramOf([7]))).toEqual({ min: 7, p50: 7, p90: 7, p99: 7, max: 7 });
  });
  it("gives nulls when nothing answered", () => {
    expect(latencyFigures(histogramOf([]))).toEqual({ min: null, p50: null, p90: null, p99: null, max: null });
  });
});

describe("bar", () => {
  it.each([
    [100, "█".repeat(40)],
    [50, "█".repeat(20)],
    [0, ""],
    [0.01, "▏"],
    [1.25, "▌"],
  ])("draws %d%% as %j", (percent, drawn) => {
    expect(bar(percent)).toBe(drawn);
  });
});

describe("summarize and renderText", () => {
  const command = parseCommand([
    "-n",
    "4",
    "--expect",
    "v1=50",
    "--expect",
    "v2=100",
    "--expect-latency",
    "p99<=1s",
    "http://h/env/version",
  ]);
  if (command.kind !== "run") throw new Error("expected a run");
  const result = summarize(command.options, {
    counts: new Map([
      ["v2", 1],
      ["error:refused", 1],
      ["v1", 2],
    ]),
    untracked: 0,
    errorDetails: new Map([["error:refused", "connect ECONNREFUSED 127.0.0.1:1"]]),
    latency: histogramOf([1, 2, 3]),
    requests: 4,
    elapsedMs: 500,
  });

  it("orders rows by count, then answers before errors", () => {
    expect(result.rows).toEqual([
      { key: "v1", count: 2, percent: 50, error: false },
      { key: "v2", count: 1, percent: 25, error: false },
      { key: "error:refused", count: 1, percent: 25, error: true, detail: "connect ECONNREFUSED 127.0.0.1:1" },
    ]);
    expect(result).toMatchObject({ requests: 4, errors: 1, rps: 8, pass: false });
  });

  it("puts a frequent error row above rarer answers", () => {
    const many = summarize(command.options, {
      counts: new Map([
        ["v1", 1],
        ["error:refused", 3],
      ]),
      untracked: 0,
      errorDetails: new Map([["error:refused", "refused"]]),
      latency: histogramOf([1]),
      requests: 4,
      elapsedMs: 10,
    });
    expect(many.rows.map((r) => r.key)).toEqual(["error:refused", "v1"]);
  });

  it("renders the header, the bars, the latency line and each expectation", () => {
    const text = renderText(result);
    expect(text).toContain("4 requests to GET http://h/env/version, concurrency 1: 0.50s, 8 req/s");
    expect(text).toMatch(/^ {2}v1 +2 +50\.0% +█{20}$/m);
    expect(text).toMatch(/^ {2}error:refused +1 +25\.0% +█{10} +connect ECONNREFUSED 127\.0\.0\.1:1$/m);
    expect(text).toContain("latency  min 1.0ms  p50 2.0ms  p90 3.0ms  p99 3.0ms  max 3.0ms");
    expect(text).toMatch(/^pass {2}v1=50 +expected 50%, observed 50% \(2 of 4\)$/m);
    expect(text).toMatch(/^FAIL {2}v2=100 +expected 100%, observed 25% \(1 of 4\)$/m);
    expect(text).toMatch(/^pass {2}p99<=1s +expected p99 at most 1s, observed 3\.0ms$/m);
  });
});

describe("progress", () => {
  const collect = (isTTY: boolean) => {
    const written: string[] = [];
    return { stream: { isTTY, write: (t: string) => written.push(t) }, written };
  };

  it.each([
    [{ kind: "requests", count: 1000 } as const, 512, 2000, "512/1000 requests  2.0s  256 req/s"],
    [{ kind: "duration", ms: 10_000 } as const, 300, 1500, "300 requests, 1.5s of 10.0s  200 req/s"],
  ])("describes %j", (amount, done, elapsed, line) => {
    expect(progressLine(done, amount, elapsed)).toBe(line);
  });

  describe("on a clock the test moves", () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "performance"] });
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it("draws on a terminal once PROGRESS_DELAY_MS is over, not a millisecond before, redraws, and erases itself when stopped", () => {
      const { stream, written } = collect(true);
      const progress = startProgress(stream, { kind: "requests", count: 10 });
      progress.tick();
      progress.tick();
      vi.advanceTimersByTime(PROGRESS_DELAY_MS - 1);
      expect(written).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(written).toEqual(["\r\x1b[2K2/10 requests  1.0s  2 req/s"]);
      progress.tick();
      vi.advanceTimersByTime(200);
      expect(written.at(-1)).toBe("\r\x1b[2K3/10 requests  1.2s  3 req/s");
      progress.stop();
      expect(written.at(-1)).toBe("\r\x1b[2K");
      const count = written.length;
      vi.advanceTimersByTime(10_000);
      expect(written).toHaveLength(count);
    });

    it("writes nothing for a run stopped before the delay, not even the erase", () => {
      const { stream, written } = collect(true);
      const progress = startProgress(stream, { kind: "requests", count: 10 });
      vi.advanceTimersByTime(PROGRESS_DELAY_MS - 1);
      progress.stop();
      vi.advanceTimersByTime(10_000);
      expect(written).toEqual([]);
    });

    it("writes nothing when the stream is not a terminal", () => {
      const { stream, written } = collect(false);
      const progress = startProgress(stream, { kind: "requests", count: 10 }, 0);
      progress.tick();
      vi.advanceTimersByTime(10_000);
      progress.stop();
      expect(written).toEqual([]);
    });
  });
});
