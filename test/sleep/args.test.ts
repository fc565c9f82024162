import { describe, expect, it } from "vitest";
import { UsageError } from "#common/usage-error.ts";
import { HELP, LIMITS, parseCommand, type TallyOptions } from "#sleep/args.ts";
import { evaluate, parseLatencyExpectation, parseShareExpectation, type Latencies } from "#sleep/expect.ts";
import { EXIT, runCli } from "#sleep/tally.ts";
import { USAGE_ERRORS } from "./usage-cases.ts";

const URL_TEXT = "http://127.0.0.1:9/env/version";

function options(argv: string[]): TallyOptions {
  const command = parseCommand(argv);
  if (command.kind !== "run") throw new Error(`expected a run, got ${command.kind}`);
  return command.options;
}

describe("parseCommand", () => {
  it("applies the documented defaults", () => {
    const o = options([URL_TEXT]);
    expect(o).toEqual({
      url: new URL(URL_TEXT),
      method: "GET",
      headers: [],
      amount: { kind: "requests", count: 100 },
      concurrency: 1,
      by: { kind: "body" },
      timeoutMs: 5000,
      expectations: [],
      json: false,
      quiet: false,
    });
  });

  it.each<[string[], Partial<TallyOptions>]>([
    [["-n", "1", URL_TEXT], { amount: { kind: "requests", count: LIMITS.requests.min } }],
    [["--requests", "1000000", URL_TEXT], { amount: { kind: "requests", count: LIMITS.requests.max } }],
    [["-n50", URL_TEXT, "-c4"], { amount: { kind: "requests", count: 50 }, concurrency: 4 }],
    [[URL_TEXT, "--", "x-a:1"], { headers: [["x-a", "1"]] }],
    [["-c", "1", URL_TEXT], { concurrency: 1 }],
    [["--concurrency=1000", URL_TEXT], { concurrency: LIMITS.concurrency.max }],
    [["-d", "1ms", URL_TEXT], { amount: { kind: "duration", ms: 1 } }],
    [["--duration", "1h", URL_TEXT], { amount: { kind: "duration", ms: LIMITS.durationMs.max } }],
    [["-d", "1.5s", URL_TEXT], { amount: { kind: "duration", ms: 1500 } }],
    [["--timeout", "1ms", URL_TEXT], { timeoutMs: 1 }],
    [["--timeout", "10m", URL_TEXT], { timeoutMs: LIMITS.timeoutMs.max }],
    [["-X", "post", URL_TEXT], { method: "POST" }],
    [["--by", "status", URL_TEXT], { by: { kind: "status" } }],
    [["--by", "header:X-Version", URL_TEXT], { by: { kind: "header", name: "x-version" } }],
    [[URL_TEXT, "lab:canary"], { headers: [["lab", "canary"]] }],
    [
      [URL_TEXT, "Host:flaskapp", "x-empty:"],
      {
        headers: [
          ["host", "flaskapp"],
          ["x-empty", ""],
        ],
      },
    ],
    [
      ["-H", "Lab: canary", URL_TEXT, "x-b3-sampled:1"],
      {
        headers: [
          ["lab", "canary"],
          ["x-b3-sampled", "1"],
        ],
      },
    ],
    [[URL_TEXT, "x-url:http://a:b/c"], { headers: [["x-url", "http://a:b/c"]] }],
    [["--json", "--quiet", URL_TEXT], { json: true, quiet: true }],
    [["https://[::1]:8443/a?b=c"], { url: new URL("https://[::1]:8443/a?b=c") }],
    // The edges of what a header value may hold: tab, space to ~, and Latin-1 up to U+00FF.
    [[URL_TEXT, "x-a:café\tà ~\u00ff"], { headers: [["x-a", "café\tà ~\u00ff"]] }],
    [[URL_TEXT, "x-a: !~"], { headers: [["x-a", "!~"]] }],
  ])("accepts %j", (argv, expected) => {
    expect(options(argv)).toMatchObject(expected);
  });

  it.each(USAGE_ERRORS)("refuses %j", (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
    // A password given in a URL is never repeated back.
    expect(() => parseCommand(argv)).not.toThrow(/secret/);
  });

  it.each(USAGE_ERRORS)("tally %j exits 2 with one line on stderr pointing to --help", async (argv, message) => {
    let stdout = "";
    let stderr = "";
    const code = await runCli(argv, {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t) },
    });
    expect({ code, stdout }).toEqual({ code: EXIT.usage, stdout: "" });
    expect(stderr).toMatch(/^tally: [^\n]+ \(see tally --help\)\n$/);
    expect(stderr).toMatch(message);
    // Whatever the command line held, no character the terminal would act on.
    expect(stderr.slice(0, -1)).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e]/);
  });

  it("echoes hostile text from the command line with its control characters made visible", async () => {
    let stderr = "";
    const code = await runCli(["--expect", "\x1b[32mPASS\x1b[0m\x9b2J", URL_TEXT], {
      stdout: { write: () => true },
      stderr: { write: (t: string) => (stderr += t) },
    });
    expect(code).toBe(EXIT.usage);
    expect(stderr).toBe(
      'tally: --expect "\\x1b[32mPASS\\x1b[0m\\x9b2J" is not KEY=PCT, KEY=PCT±TOL (or +-TOL), KEY>=PCT or KEY<=PCT, with PCT and TOL from 0 to 100 (see tally --help)\n',
    );
  });

  it.each([
    ["http://user:pass@127.0.0.1:9/x", "http://127.0.0.1:9/x", "user:pass"],
    ["http://user@127.0.0.1:9/x", "http://127.0.0.1:9/x", "user:"],
    ["https://u%40corp:p%3Ass@h/", "https://h/", "u@corp:p:ss"],
  ])("takes the credentials out of %s and sends them as Basic auth", (text, href, credentials) => {
    const o = options([text, "lab:canary"]);
    expect(o.url.href).toBe(href);
    expect(o.headers).toEqual([
      ["lab", "canary"],
      ["authorization", `Basic ${Buffer.from(credentials).toString("base64")}`],
    ]);
  });

  it.each([[["--help"]], [["-h", URL_TEXT]], [["--nope", "--help"]]])("%j asks for help", (argv) => {
    expect(parseCommand(argv)).toEqual({ kind: "help" });
  });

  it("collects repeated expectations of both kinds in order", () => {
    const o = options([
      "--expect",
      "v1=70±10",
      "--expect-latency",
      "p99<=200ms",
      "--expect",
      "error:timeout<=5",
      URL_TEXT,
    ]);
    expect(o.expectations.map((e) => [e.kind, e.key, e.op, e.expected, e.tolerance])).toEqual([
      ["share", "v1", "=", 70, 10],
      ["share", "error:timeout", "<=", 5, 0],
      ["latency", "p99", "<=", 200, 0],
    ]);
  });

  it("documents every option it parses", () => {
    for (const flag of [
      "--requests",
      "--duration",
      "--concurrency",
      "--method",
      "--header",
      "--by",
      "--timeout",
      "--expect",
      "--expect-latency",
      "--json",
      "--quiet",
      "--help",
    ]) {
      expect(HELP).toContain(flag);
    }
  });
});

describe("parseShareExpectation", () => {
  it.each([
    ["v2=100", { key: "v2", op: "=", expected: 100, tolerance: 0 }],
    ["v1=70±10", { key: "v1", op: "=", expected: 70, tolerance: 10 }],
    ["v1=70+-10", { key: "v1", op: "=", expected: 70, tolerance: 10 }],
    ["v1=0", { key: "v1", op: "=", expected: 0, tolerance: 0 }],
    ["v1=33.3±0.5", { key: "v1", op: "=", expected: 33.3, tolerance: 0.5 }],
    ["503>=1", { key: "503", op: ">=", expected: 1, tolerance: 0 }],
    ["error:timeout<=5", { key: "error:timeout", op: "<=", expected: 5, tolerance: 0 }],
    ["a=b=50", { key: "a=b", op: "=", expected: 50, tolerance: 0 }],
    ["I am FINE!=100", { key: "I am FINE!", op: "=", expected: 100, tolerance: 0 }],
    // A comma in a key is text (a body, or header values joined with ", "); only a list of expectations is refused.
    ["Hello, world=100", { key: "Hello, world", op: "=", expected: 100, tolerance: 0 }],
    ["a, b=50±5", { key: "a, b", op: "=", expected: 50, tolerance: 5 }],
    ["x=1 items, y=50", { key: "x=1 items, y", op: "=", expected: 50, tolerance: 0 }],
  ])("parses %j", (expr, expected) => {
    expect(parseShareExpectation(expr)).toEqual({ ok: true, value: { kind: "share", expr, ...expected } });
  });

  it.each([
    "",
    "v1",
    "v1=",
    "=5",
    "v1=x",
    "v1=-1",
    "v1=101",
    "v1=5±",
    "v1>=5±1",
    "v1<=5+-1",
    "v1=5%",
    "v2=100,v1=0",
    "v2=100 ,v1=0",
    "a=1;b=2",
    "v1=5±1,v2=3",
  ])("refuses %j", (expr) => {
    expect(parseShareExpectation(expr).ok).toBe(false);
  });
});

describe("parseLatencyExpectation", () => {
  it.each([
    ["min>=1s", { key: "min", op: ">=", expected: 1000 }],
    ["p50<=20ms", { key: "p50", op: "<=", expected: 20 }],
    ["p90<=1.5s", { key: "p90", op: "<=", expected: 1500 }],
    ["p99<=200ms", { key: "p99", op: "<=", expected: 200 }],
    ["max<=1m", { key: "max", op: "<=", expected: 60_000 }],
  ])("parses %j", (expr, expected) => {
    expect(parseLatencyExpectation(expr)).toEqual({
      ok: true,
      value: { kind: "latency", expr, tolerance: 0, ...expected },
    });
  });

  it.each(["", "p99", "p95<=1s", "p99=1s", "p99<1s", "p99<=1", "p99<=-1s", "avg<=1s", "P99<=1s"])(
    "refuses %j",
    (expr) => {
      expect(parseLatencyExpectation(expr).ok).toBe(false);
    },
  );
});

describe("evaluate", () => {
  const counts = new Map([
    ["v1", 70],
    ["v2", 29],
    ["error:timeout", 1],
  ]);
  const latency: Latencies = { min: 3000, p50: 3100, p90: 3200, p99: 3300, max: 3400 };
  const noLatency: Latencies = { min: null, p50: null, p90: null, p99: null, max: null };
  const share = (expr: string) => {
    const parsed = parseShareExpectation(expr);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  };
  const lat = (expr: string) => {
    const parsed = parseLatencyExpectation(expr);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  };

  it.each([
    ["v1=70", true, 70],
    ["v1=71", false, 70],
    ["v1=60±10", true, 70],
    ["v1=59.9±10", false, 70],
    ["v2=30±1", true, 29],
    ["v2>=29", true, 29],
    ["v2>=30", false, 29],
    ["v2<=29", true, 29],
    ["error:timeout<=1", true, 1],
    ["error:timeout=0", false, 1],
    ["error:refused=0", true, 0],
    ["v3=0", true, 0],
  ])("share %s passes: %s (observed %d%%)", (expr, pass, observed) => {
    expect(evaluate([share(expr)], counts, 100, noLatency)).toEqual([expect.objectContaining({ pass, observed })]);
  });

  it("compares repeating fractions without rounding surprises", () => {
    const thirds = new Map([
      ["a", 1],
      ["b", 2],
    ]);
    expect(
      evaluate([share("a=33.333333333333336"), share("b=66.66666666666667")], thirds, 3, noLatency).map((r) => r.pass),
    ).toEqual([true, true]);
  });

  it.each([
    ["min>=3s", true],
    ["min>=3.001s", false],
    ["p99<=3300ms", true],
    ["max<=3s", false],
  ])("latency %s passes: %s", (expr, pass) => {
    expect(evaluate([lat(expr)], counts, 100, latency)[0]?.pass).toBe(pass);
  });

  it("fails a latency expectation when no request got a response", () => {
    expect(evaluate([lat("max<=1h")], new Map([["error:refused", 5]]), 5, noLatency)[0]).toMatchObject({
      observed: null,
      pass: false,
    });
  });
});
