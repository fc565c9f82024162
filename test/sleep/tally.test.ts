// tally's exported functions against real servers on 127.0.0.1.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCommand, runCli, runTally, type TallyOptions, type TallyResult } from "#sleep/tally.ts";
import { MAX_TRACKED_KEYS, runLoad } from "#sleep/load.ts";
import { GROUPED_KEY, MAX_ROWS } from "#sleep/report.ts";
import {
  closedPortUrl,
  startDistinct,
  startDropping,
  startEchoUser,
  startSilent,
  startVersions,
  type Running,
  type Versions,
} from "./servers.ts";
import { rawUpstream } from "../flaskapp/helpers.ts";

function options(argv: string[]): TallyOptions {
  const command = parseCommand(argv);
  if (command.kind !== "run") throw new Error(`expected a run, got ${command.kind}`);
  return command.options;
}

const tally = (argv: string[]): Promise<TallyResult> => runTally(options(argv));

function rowsOf(result: TallyResult): Record<string, number> {
  return Object.fromEntries(result.rows.map((r) => [r.key, r.count]));
}

const sum = (result: TallyResult) => result.rows.reduce((total, r) => total + r.count, 0);

async function cli(argv: string[], stderrIsTTY = false) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { isTTY: stderrIsTTY, write: (t: string) => (stderr += t) },
  });
  return { code, stdout, stderr };
}

let versions: Versions;
const closers: Running[] = [];

beforeAll(async () => {
  versions = await startVersions();
  closers.push(versions);
});
afterAll(async () => {
  await Promise.all(closers.map((c) => c.close()));
});

describe("splitting traffic between two versions", () => {
  it("shows v1 and v2 at 50% each behind a round-robin server", async () => {
    const result = await tally(["-n", "100", `${versions.url}/env/version`]);
    expect(rowsOf(result)).toEqual({ v1: 50, v2: 50 });
    expect(result.rows.map((r) => r.percent)).toEqual([50, 50]);
  });

  it("counts -n 1000 requests to exactly 1000, with concurrency", async () => {
    const before = versions.received();
    const result = await tally(["-n", "1000", "-c", "8", `${versions.url}/env/version`]);
    expect(result.requests).toBe(1000);
    expect(sum(result)).toBe(1000);
    expect(versions.received() - before).toBe(1000);
    expect(rowsOf(result)).toEqual({ v1: 500, v2: 500 });
  });

  it("groups by status", async () => {
    const result = await tally(["-n", "20", "--by", "status", `${versions.url}/flaky`]);
    expect(rowsOf(result)).toEqual({ 200: 10, 503: 10 });
    expect(result.by).toBe("status");
  });

  it("groups by a response header", async () => {
    const result = await tally(["-n", "20", "--by", "header:X-Version", `${versions.url}/anything`]);
    expect(rowsOf(result)).toEqual({ v1: 10, v2: 10 });
    expect(result.by).toBe("header:x-version");
  });

  it("keys a large body by its first 60 characters after trimming, reading all of it", async () => {
    const result = await tally(["-n", "20", "-c", "2", `${versions.url}/big`]);
    expect(rowsOf(result)).toEqual({ [`v1 ${"x".repeat(57)}`]: 10, [`v2 ${"x".repeat(57)}`]: 10 });
  });

  it("counts a header the server does not send as (none)", async () => {
    expect(rowsOf(await tally(["-n", "4", "--by", "header:x-missing", `${versions.url}/`]))).toEqual({ "(none)": 4 });
  });
});

describe("concurrency", () => {
  it.each([1, 4])("never has more than -c %d requests in flight, and does use them all", async (c) => {
    const front = await startVersions(5);
    closers.push(front);
    const result = await tally(["-n", "60", "-c", String(c), `${front.url}/slow`]);
    expect(sum(result)).toBe(60);
    expect(front.maxInFlight()).toBe(c);
  });
});

describe("errors are counted, never fatal", () => {
  it.each(["reset", "close"] as const)(
    "counts connections dropped by %s as error:reset, beside the answers",
    async (how) => {
      const server = await startDropping(3, how);
      closers.push(server);
      const result = await tally(["-n", "30", server.url]);
      expect(rowsOf(result)).toEqual({ ok: 20, "error:reset": 10 });
      expect(result.errors).toBe(10);
      expect(result.rows.find((r) => r.error)?.detail).toMatch(/ECONNRESET|other side closed/);
    },
  );

  it("counts a server that never answers as error:timeout within --timeout", async () => {
    const server = await startSilent();
    closers.push(server);
    const result = await tally(["-n", "4", "-c", "2", "--timeout", "200ms", server.url]);
    expect(rowsOf(result)).toEqual({ "error:timeout": 4 });
    expect(result.rows[0]?.detail).toBe("no complete response within 200ms");
    expect(result.elapsedMs).toBeLessThan(2 * 200 + 2000);
    expect(result.latencyMs).toEqual({ min: null, p50: null, p90: null, p99: null, max: null });
  });

  it("counts a closed port as error:refused", async () => {
    const result = await tally(["-n", "5", await closedPortUrl()]);
    expect(rowsOf(result)).toEqual({ "error:refused": 5 });
  });

  it("lets --expect check an error row like any other key", async () => {
    const { code, stdout } = await cli(["-n", "3", "--expect", "error:refused=100", await closedPortUrl()]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^pass {2}error:refused=100 +expected 100%, observed 100% \(3 of 3\)$/m);
  });
});

describe("duration mode", () => {
  it("stops starting requests when the duration is up", async () => {
    const result = await tally(["-d", "300ms", "-c", "2", `${versions.url}/env/version`]);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(300);
    expect(result.elapsedMs).toBeLessThan(300 + 2000);
    expect(result.requests).toBeGreaterThan(0);
    expect(sum(result)).toBe(result.requests);
  });

  it("is bounded by duration plus one timeout when nothing answers", async () => {
    const server = await startSilent();
    closers.push(server);
    const result = await tally(["-d", "200ms", "-c", "2", "--timeout", "150ms", server.url]);
    expect(result.elapsedMs).toBeLessThan(200 + 150 + 1500);
    // Each worker starts one request at 0ms and (unless its timer fired late) one at
    // about 150ms, then finds the deadline passed.
    expect(result.requests).toBeGreaterThanOrEqual(2);
    expect(result.requests).toBeLessThanOrEqual(4);
    expect(rowsOf(result)).toEqual({ "error:timeout": result.requests });
  });
});

describe("runCli", () => {
  it("exits 0 when every expectation holds", async () => {
    const { code, stdout } = await cli([
      "-n",
      "40",
      "--expect",
      "v1=50",
      "--expect",
      "v2=50±5",
      "--expect",
      "v2>=40",
      `${versions.url}/env/version`,
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^40 requests to GET http:\/\/127\.0\.0\.1:\d+\/env\/version, concurrency 1: [\d.]+s, \d+ req\/s$/m,
    );
    expect(stdout).toMatch(/^ {2}v1 +20 +50\.0% +█{20}$/m);
  });

  it("exits 1 when an expectation fails, saying what was expected and observed", async () => {
    const { code, stdout } = await cli(["-n", "40", "--expect", "v2=100", `${versions.url}/env/version`]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^FAIL {2}v2=100 +expected 100%, observed 50% \(20 of 40\)$/m);
  });

  it("exits 1 on a failed latency expectation", async () => {
    const { code, stdout } = await cli(["-n", "4", "--expect-latency", "min>=10s", `${versions.url}/env/version`]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^FAIL {2}min>=10s +expected min at least 10s, observed [\d.]+ms$/m);
  });

  it("with --quiet prints no table, only the failed expectations on stderr", async () => {
    const pass = await cli(["-n", "10", "--quiet", "--expect", "v1=50", `${versions.url}/env/version`], true);
    expect(pass).toEqual({ code: 0, stdout: "", stderr: "" });
    const fail = await cli([
      "-n",
      "10",
      "--quiet",
      "--expect",
      "v1=100",
      "--expect",
      "v2=50",
      `${versions.url}/env/version`,
    ]);
    expect(fail).toEqual({
      code: 1,
      stdout: "",
      stderr: "tally: FAIL  v1=100  expected 100%, observed 50% (5 of 10)\n",
    });
  });

  it("prints the --json object", async () => {
    const { code, stdout } = await cli([
      "-n",
      "10",
      "--json",
      "--expect",
      "v1=50",
      "--expect-latency",
      "p99<=1m",
      `${versions.url}/env/version`,
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(Object.keys(result)).toEqual([
      "url",
      "method",
      "requests",
      "concurrency",
      "elapsedMs",
      "rps",
      "by",
      "rows",
      "errors",
      "latencyMs",
      "expectations",
      "pass",
    ]);
    expect(result).toMatchObject({
      url: `${versions.url}/env/version`,
      method: "GET",
      requests: 10,
      concurrency: 1,
      by: "body",
      rows: [
        { key: "v1", count: 5, percent: 50, error: false },
        { key: "v2", count: 5, percent: 50, error: false },
      ],
      errors: 0,
      expectations: [
        { kind: "share", expr: "v1=50", key: "v1", op: "=", expected: 50, tolerance: 0, observed: 50, pass: true },
        { kind: "latency", expr: "p99<=1m", key: "p99", op: "<=", expected: 60_000, tolerance: 0, pass: true },
      ],
      pass: true,
    });
    for (const stat of ["min", "p50", "p90", "p99", "max"]) expect(result.latencyMs[stat]).toBeTypeOf("number");
    expect(result.elapsedMs).toBeGreaterThan(0);
    expect(result.rps).toBeGreaterThan(0);
  });

  it.each([
    [["/echo/lab", "lab:canary"], "canary"],
    [["/echo/lab", "lab:phoenix"], "phoenix"],
    [["/echo/x-b3-sampled", "-H", "X-B3-Sampled: 1"], "1"],
    [["/echo/host", "Host:flaskapp"], "flaskapp"],
  ])("sends header items and -H headers: %j", async ([path, ...rest], key) => {
    const result = await tally(["-n", "2", `${versions.url}${path}`, ...rest]);
    expect(rowsOf(result)).toEqual({ [key]: 2 });
  });

  it("shows a progress line on a terminal for a run over a second, and none with --quiet", async () => {
    // Side by side: both last as long, only one may draw.
    const [shown, quiet] = await Promise.all([
      cli(["-d", "1300ms", `${versions.url}/env/version`], true),
      cli(["-d", "1300ms", "--quiet", `${versions.url}/env/version`], true),
    ]);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toMatch(/\r\x1b\[2K\d+ requests, [\d.]+s of 1\.3s {2}\d+ req\/s/);
    expect(shown.stderr.endsWith("\r\x1b[2K")).toBe(true);
    expect(quiet.stderr).toBe("");
  });
});

describe("memory per request", () => {
  // Issue 29: every latency was kept in a list, and a long run was OOM-killed. Whatever the
  // machine's speed (test/containers/tally.test.ts runs 90 s in the image), a run keeps none.
  it("is none: the latency histogram is as large after 3000 requests as after 10, and no list grows", async () => {
    const few = await runLoad(options(["-n", "10", `${versions.url}/env/version`]));
    const many = await runLoad(options(["-n", "3000", "-c", "4", `${versions.url}/env/version`]));
    expect(many.latency.count).toBe(3000);
    expect(many.latency.footprintBytes).toBe(few.latency.footprintBytes);
    expect(Object.entries(many).filter(([, value]) => Array.isArray(value))).toEqual([]);
  });
});

describe("many distinct answers", () => {
  it("keeps its report: MAX_ROWS rows, the rest grouped, every request counted once, memory bounded", async () => {
    const server = await startDistinct();
    closers.push(server);
    const n = MAX_TRACKED_KEYS + 200;
    const { code, stdout } = await cli([
      "-n",
      String(n),
      "-c",
      "8",
      "--json",
      "--expect",
      `n${n - 1}=${100 / n}`,
      server.url,
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as TallyResult;
    expect(result.requests).toBe(n);
    expect(sum(result)).toBe(n);
    expect(result.rows).toHaveLength(MAX_ROWS + 1);
    const grouped = result.rows.find((r) => r.key === GROUPED_KEY)!;
    expect(grouped).toEqual({
      key: GROUPED_KEY,
      count: n - MAX_ROWS,
      percent: Number((((n - MAX_ROWS) * 100) / n).toFixed(3)),
      error: false,
      detail: expect.stringMatching(/^\d+ or more other distinct answers$/),
      grouped: true,
    });
    // A key named by --expect is counted exactly even when it comes after the first MAX_TRACKED_KEYS.
    expect(result.expectations[0]).toMatchObject({ pass: true });
  }, 30_000);

  it("prints the table with the grouped row", async () => {
    const server = await startDistinct();
    closers.push(server);
    const { code, stdout } = await cli(["-n", String(MAX_ROWS + 5), server.url]);
    expect(code).toBe(0);
    expect(stdout.split("\n").filter((line) => /^ {2}n\d+ /.test(line))).toHaveLength(MAX_ROWS);
    expect(stdout).toMatch(/^ {2}\(other answers\) +5 +.*5 other distinct answers$/m);
  });
});

describe("answers that are not HTTP/1.1", () => {
  const reply = (status: string) => `HTTP/1.1 ${status} Odd\r\nContent-Length: 2\r\n\r\nok`;
  it.each([
    ["099", reply("099"), "a status below 100, or 101 Switching Protocols"],
    ["101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", "101 Switching Protocols"],
    ["100", reply("100"), "an informational (1xx) status where the answer should be"],
    ["150", reply("150"), "Response does not match the HTTP/1.1 protocol"],
    ["abc", reply("abc"), "Response does not match the HTTP/1.1 protocol (Invalid status code)"],
  ])("status %s is an error:protocol row with a readable detail", async (_status, raw, detail) => {
    const server = await rawUpstream(raw);
    closers.push(server);
    const result = await tally(["-n", "3", "--by", "status", server.url]);
    expect(rowsOf(result)).toEqual({ "error:protocol": 3 });
    expect(result.rows[0]!.detail).toContain(detail);
  });

  // Issue 29: 600 was counted as an answer. Only 100 to 599 are statuses (RFC 9110 section 15).
  it.each([
    ["600", "body"],
    ["999", "status"],
    ["600", "header:x-a"],
  ])("status %s is an error:protocol row, like a status below 100 (--by %s)", async (status, by) => {
    const server = await rawUpstream(reply(status));
    closers.push(server);
    const result = await tally(["-n", "3", "-c", "2", "--by", by, server.url]);
    expect(rowsOf(result)).toEqual({ "error:protocol": 3 });
    expect(result.rows[0]!.detail).toBe(`the response is not valid HTTP/1.1: status ${status}, above 599`);
    expect(result.latencyMs.min).toBeNull();
  });

  it("a connection that answered status 600 is closed, not reused", async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.on("error", () => undefined);
      socket.on("data", () => socket.write(reply("600"), "latin1"));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const result = await tally(["-n", "4", `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`]);
      expect(rowsOf(result)).toEqual({ "error:protocol": 4 });
      expect(connections).toBe(4);
    } finally {
      server.close();
    }
  });

  it.each(["200", "599"])("status %s, at the edge, is an answer", async (status) => {
    const server = await rawUpstream(reply(status));
    closers.push(server);
    expect(rowsOf(await tally(["-n", "2", "--by", "status", server.url]))).toEqual({ [status]: 2 });
  });
});

describe("hostile answers reach the terminal with their control characters made visible", () => {
  // Raw responses, as bytes (latin1): bodies in UTF-8, header values as the bytes a server may send.
  const answer = (body: string, header = "") => {
    const bytes = Buffer.from(body, "utf8");
    return `HTTP/1.1 200 OK\r\n${header}Content-Length: ${bytes.length}\r\n\r\n${bytes.toString("latin1")}`;
  };
  // Anything a terminal acts on, but the line feeds tally writes itself.
  const ACTING = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
  it.each<[string, string[], string, string, string]>([
    ["a window title (OSC ... BEL)", [], answer("\x1b]0;owned\x07"), "\x1b]0;owned\x07", "\\x1b]0;owned\\x07"],
    ["a cleared screen (ESC [ 2 J)", [], answer("\x1b[2J\x1b[Hv1"), "\x1b[2J\x1b[Hv1", "\\x1b[2J\\x1b[Hv1"],
    [
      "a fake green PASS",
      [],
      answer("\x1b[32mPASS  v2=100\x1b[0m"),
      "\x1b[32mPASS v2=100\x1b[0m",
      "\\x1b[32mPASS v2=100\\x1b[0m",
    ],
    ["a C1 CSI (U+009B) in a body", [], answer("\u009b2J"), "\u009b2J", "\\x9b2J"],
    ["a bidi override in a body", [], answer("v1\u202e2v"), "v1\u202e2v", "v1\\u202e2v"],
    [
      "a C1 CSI byte in a header value",
      ["--by", "header:x-evil"],
      answer("ok", "X-Evil: \x9b2J\x9b31mPASS\r\n"),
      "\u009b2J\u009b31mPASS",
      "\\x9b2J\\x9b31mPASS",
    ],
  ])("%s", async (_name, by, raw, key, shown) => {
    const server = await rawUpstream(raw);
    closers.push(server);
    const text = await cli(["-n", "2", ...by, "--expect", `${key}=100`, server.url]);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(ACTING);
    expect(text.stdout).toContain(`  ${shown}  2  100.0%`);
    expect(text.stdout).toContain(`pass  ${shown}=100`);
    // --json keeps the answer as it was: JSON escapes every control character itself.
    const json = await cli(["-n", "2", ...by, "--json", server.url]);
    expect(json.stdout).not.toMatch(ACTING);
    expect((JSON.parse(json.stdout) as TallyResult).rows).toEqual([{ key, count: 2, percent: 100, error: false }]);
  });

  it("an ESC in a header value is refused by the parser, and its message is shown escaped too", async () => {
    const server = await rawUpstream(answer("ok", "X-Evil: \x1b[2J\r\n"));
    closers.push(server);
    const { code, stdout } = await cli(["-n", "2", "--by", "header:x-evil", server.url]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}error:protocol +2 /m);
    expect(stdout).not.toMatch(ACTING);
  });

  it("with --quiet, a failed expectation's own text is shown escaped on stderr", async () => {
    const { code, stdout, stderr } = await cli([
      "-n",
      "2",
      "--quiet",
      "--expect",
      "\x1b[32mPASS\x1b[0m=100",
      `${versions.url}/env/version`,
    ]);
    expect({ code, stdout }).toEqual({ code: 1, stdout: "" });
    expect(stderr).toBe("tally: FAIL  \\x1b[32mPASS\\x1b[0m=100  expected 100%, observed 0% (0 of 2)\n");
  });

  it("an error message that quotes the server is shown escaped", async () => {
    const server = await rawUpstream("HTTP/1.1 200 \x1b]0;owned\x07\r\nContent-Length: x\x1b[2J\r\n\r\n");
    closers.push(server);
    const { stdout } = await cli(["-n", "1", server.url]);
    expect(stdout).toMatch(/^ {2}error:protocol +1 /m);
    expect(stdout).not.toMatch(ACTING);
  });
});

describe("credentials in the URL", () => {
  it("are sent as Basic auth and never printed", async () => {
    const url = new URL(`${versions.url}/echo/authorization`);
    url.username = "learner";
    url.password = "s3cret";
    const { code, stdout, stderr } = await cli(["-n", "2", "--json", url.href]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as TallyResult;
    expect(result.url).toBe(`${versions.url}/echo/authorization`);
    expect(rowsOf(result)).toEqual({ [`Basic ${Buffer.from("learner:s3cret").toString("base64")}`]: 2 });
    expect(stdout + stderr).not.toContain("s3cret");
    const text = await cli(["-n", "1", url.href]);
    expect(text.stdout).toContain(`1 requests to GET ${versions.url}/echo/authorization,`);
    expect(text.stdout).not.toContain("s3cret");
  });
});

describe("--expect-distinct and {n} in header values", () => {
  let echo: Running;
  beforeAll(async () => {
    echo = await startEchoUser();
    closers.push(echo);
  });

  it("{n} is each request's number: five requests, five users", async () => {
    const result = await tally([
      "-n",
      "5",
      "-c",
      "2",
      "-H",
      "x-user: user-{n}",
      "--expect-distinct",
      "5",
      `${echo.url}/`,
    ]);
    expect(Object.keys(rowsOf(result)).sort()).toEqual(["user-1", "user-2", "user-3", "user-4", "user-5"]);
    expect(result.pass).toBe(true);
  });

  it.each([
    ["=1 holds when every answer is the same", ["-H", "x-user: alice"], "1", true],
    [">=2 fails when every answer is the same", ["-H", "x-user: alice"], ">=2", false],
    ["<=3 fails with five distinct answers", ["-H", "x-user: u{n}"], "<=3", false],
    [">=5 holds with five distinct answers", ["-H", "x-user: u{n}"], ">=5", true],
  ])("%s", async (_name, headers, expr, pass) => {
    const result = await tally(["-n", "5", ...headers, "--expect-distinct", expr, `${echo.url}/`]);
    expect(result.expectations[0]).toMatchObject({ kind: "distinct", pass });
  });

  it("says what it expected and saw", async () => {
    const { code, stdout } = await cli(["-n", "4", "--expect-distinct", "1", `${versions.url}/env/version`]);
    expect(code).toBe(1);
    expect(stdout).toContain("FAIL  1  expected 1 distinct answers, observed 2");
  });
});
