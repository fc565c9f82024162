import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { processCpuMs, processTree } from "../../bench/procs.ts";
import { ownerOf, selfTimes } from "../../bench/profile.ts";
import { parseSide, readAbOptions } from "../../bench/ab.ts";
import { parseShipped } from "../../bench/image.ts";
import { median, medianRatio, NOTES_MARKER, roundRatio, targetMet, withNotes } from "../../bench/report.ts";
import { parseWrkDuration, parseWrkOutput, type WrkResult } from "../../bench/wrk.ts";

const WRK_OUTPUT = `Running 2s test @ http://127.0.0.1:18999/env/version
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.37ms   26.53ms 243.78ms   95.18%
    Req/Sec    21.55k    12.27k   38.41k    50.00%
  Latency Distribution
     50%  850.00us
     75%    2.10ms
     90%    6.59ms
     99%    1.20s
  42809 requests in 2.01s, 6.74MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  21282.49
Transfer/sec:      3.35MB
`;

describe("parseWrkDuration", () => {
  it.each([
    ["850.00us", 0.85],
    ["1.05ms", 1.05],
    ["2.00s", 2000],
    ["1.50m", 90_000],
    ["12ms", 12],
  ])("%s -> %s ms", (text, ms) => expect(parseWrkDuration(text)).toBeCloseTo(ms, 6));

  it.each(["", "ms", "1.0", "1.0 ms", "-1ms", "1.0ns", "abc"])("rejects %j", (text) =>
    expect(parseWrkDuration(text)).toBeUndefined(),
  );
});

describe("parseWrkOutput", () => {
  it("reads throughput, percentiles and errors", () => {
    expect(parseWrkOutput(WRK_OUTPUT)).toEqual({
      requests: 42809,
      reqPerSec: 21282.49,
      p50Ms: 0.85,
      p99Ms: 1200,
      errors: 12,
    });
  });

  it("counts no errors when wrk reports none", () => {
    const clean = WRK_OUTPUT.replace(/^\s*Socket errors.*\n/m, "").replace(/^\s*Non-2xx.*\n/m, "");
    expect(parseWrkOutput(clean).errors).toBe(0);
  });

  it.each([
    ["no Requests/sec", WRK_OUTPUT.replace(/^Requests\/sec.*$/m, "")],
    ["no latency distribution (run without --latency)", WRK_OUTPUT.replace(/^\s*99%.*$/m, "")],
    ["no request count", WRK_OUTPUT.replace(/^\s*42809 requests.*$/m, "")],
    ["an error message instead of a report", "unable to connect to 127.0.0.1:1 Connection refused\n"],
  ])("fails clearly on %s", (_what, text) => expect(() => parseWrkOutput(text)).toThrow(/wrk output has no/));
});

const rounds = (...rates: number[]): WrkResult[] =>
  rates.map((reqPerSec) => ({ requests: 0, reqPerSec, p50Ms: 0, p99Ms: 0, errors: 0 }));

describe("report", () => {
  it.each([
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[7], 7],
  ])("median of %j is %d", (values, expected) => expect(median(values)).toBe(expected));

  it("median of nothing is NaN, not 0", () => expect(median([])).toBeNaN());

  it("ratios pair the interleaved rounds, so a slow round hits both sides", () => {
    // round 2 was slow for everyone: the ratio of medians would be 0.5, the per-round ratio is 0.8
    expect(roundRatio(rounds(800, 400, 840), rounds(1000, 500, 1050))).toBeCloseTo(0.8, 6);
  });

  it("pairs any two series the same way (cold starts run in turn)", () => {
    expect(medianRatio([120, 300, 110], [60, 100, 55])).toBe(2);
    expect(medianRatio([1, 2], [1])).toBe(1);
  });

  it.each([
    [{ measured: 0.8, bound: 0.75, atMost: false }, true],
    [{ measured: 0.75, bound: 0.75, atMost: false }, true],
    [{ measured: 0.74, bound: 0.75, atMost: false }, false],
    [{ measured: 149, bound: 150, atMost: true }, true],
    [{ measured: 151, bound: 150, atMost: true }, false],
  ])("target %j met: %s", (target, met) => expect(targetMet({ ...target, what: "x", format: String })).toBe(met));

  it("keeps the hand-written notes of the previous file and replaces the rest", () => {
    const previous = `# old figures\n\n${NOTES_MARKER}\n\n## changes\n| a | b |\n`;
    expect(withNotes("# new figures\n", previous)).toBe(`# new figures\n\n${NOTES_MARKER}\n\n## changes\n| a | b |\n`);
  });

  it("starts an empty notes part when there is no previous file or no marker", () => {
    expect(withNotes("# new", undefined)).toBe(`# new\n\n${NOTES_MARKER}\n`);
    expect(withNotes("# new", "# old, hand-edited without marker")).toBe(`# new\n\n${NOTES_MARKER}\n`);
  });
});

describe("profile", () => {
  it.each([
    ["file:///work/main/node_modules/express/lib/router.js", "handle", "express"],
    ["file:///work/main/node_modules/@scope/pkg/index.js", "f", "@scope/pkg"],
    ["node:internal/http", "write", "node internals"],
    ["file:///work/main/services/flaskapp/src/observe.ts", "log", "services/flaskapp"],
    ["", "(garbage collector)", "(garbage collector)"],
    ["", "writev", "(native)"],
  ])("%s %s belongs to %s", (url, fn, owner) => expect(ownerOf(url, fn)).toBe(owner));

  it("adds self time per function and per owner, most expensive first", () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", "") },
        { id: 2, callFrame: frame("asJson", "file:///w/node_modules/pino/lib/tools.js") },
        { id: 3, callFrame: frame("handle", "file:///w/node_modules/express/lib/application.js") },
      ],
      samples: [2, 3, 2, 2, 1],
      timeDeltas: [1000, 2000, 1000, 1000, 500],
    };
    const { functions, owners, totalMs } = selfTimes(profile);
    expect(totalMs).toBe(5.5);
    expect(owners[0]).toEqual({ key: "pino", ms: 3 });
    expect(owners[1]).toEqual({ key: "express", ms: 2 });
    expect(functions[0]).toEqual({ key: "asJson pino/lib/tools.js:10", ms: 3 });
  });
});

describe("flaskapp as shipped", () => {
  const dockerfile = [
    "FROM node:24 AS build",
    "ENV BUILD_ONLY=1",
    'CMD ["node", "--inspect", "build.js"]',
    "FROM node:24",
    "ENV NODE_ENV=production",
    "# comment",
    "ENV MALLOC_ARENA_MAX=2 \\",
    "    MALLOC_TRIM_THRESHOLD_=131072",
    "ENTRYPOINT []",
    'CMD ["node", "--max-old-space-size-percentage=50", "--max-semi-space-size=2", "/app/flaskapp.js"]',
  ].join("\n");

  it("reads the final stage's node flags and environment, not the build stage's", () => {
    expect(parseShipped(dockerfile)).toEqual({
      nodeFlags: ["--max-old-space-size-percentage=50", "--max-semi-space-size=2"],
      env: { NODE_ENV: "production", MALLOC_ARENA_MAX: "2", MALLOC_TRIM_THRESHOLD_: "131072" },
    });
  });

  it.each([
    ["no CMD", dockerfile.replace(/^CMD .*\/app.*$/m, "")],
    ["a shell-form CMD", dockerfile.replace(/^CMD .*\/app.*$/m, "CMD node /app/flaskapp.js")],
    [
      "a CMD that is not node",
      dockerfile.replace(/^CMD .*\/app.*$/m, 'CMD ["tini", "--", "node", "/app/flaskapp.js"]'),
    ],
    ["an ENV without =", dockerfile.replace("ENV NODE_ENV=production", "ENV NODE_ENV production")],
  ])("refuses %s", (_what, text) => expect(() => parseShipped(text)).toThrow());
});

describe("ab sides", () => {
  it("splits environment, node flags and the bundle", () => {
    const side = parseSide("MALLOC_ARENA_MAX=2 --max-semi-space-size=2 dist/flaskapp.js");
    expect(side.env).toEqual({ MALLOC_ARENA_MAX: "2" });
    expect(side.args.slice(0, -1)).toEqual(["--max-semi-space-size=2"]);
    expect(side.args.at(-1)).toMatch(/\/dist\/flaskapp\.js$/);
  });

  it.each(["--flag", "A=1", "dist/a.js stray dist/b.js"])("refuses %j", (text) =>
    expect(() => parseSide(text)).toThrow(),
  );
});

describe("ab options", () => {
  const sides = ["dist/a.js", "dist/b.js"];
  it("has defaults for everything but the two sides", () => {
    const options = readAbOptions(sides);
    expect(options).toMatchObject({
      path: "/env/version",
      rounds: 5,
      durationMs: 5000,
      connections: 32,
      coldRuns: 0,
      ready: "/readyz",
      history: undefined,
    });
    expect([options.before.name, options.after.name]).toEqual(sides);
  });

  it.each([
    [["--rounds", "20"], { rounds: 20 }],
    [["--duration", "1s"], { durationMs: 1000 }],
    [["--duration", "30s"], { durationMs: 30_000 }],
    [["--connections", "1000"], { connections: 1000 }],
    [["--cold", "50"], { coldRuns: 50 }],
    [["--history", "/fetch?url={upstream}"], { history: "/fetch?url={upstream}" }],
  ])("takes %j", (args, expected) => expect(readAbOptions([...args, ...sides])).toMatchObject(expected));

  it.each([
    [[]],
    [["dist/a.js"]],
    [["dist/a.js", "dist/b.js", "dist/c.js"]],
    [["--rounds", "0", ...sides]],
    [["--rounds", "21", ...sides]],
    [["--duration", "999ms", ...sides]],
    [["--duration", "31s", ...sides]],
    [["--connections", "1001", ...sides]],
    [["--cold", "51", ...sides]],
    [["--path", "env/version", ...sides]],
    [["--ready", "readyz", ...sides]],
    [["--history", "fetch", ...sides]],
  ])("refuses %j", (args) => expect(() => readAbOptions(args)).toThrow());
});

describe("processCpuMs", () => {
  it("still counts a thread's CPU time once the thread has ended", async () => {
    // A child whose worker thread burns 300 ms of its own CPU time (not of the wall clock, which a
    // loaded machine stretches) and ends; the child stays up until told to go.
    const burn = `
      const { Worker } = require("node:worker_threads");
      new Worker("while (process.threadCpuUsage().user + process.threadCpuUsage().system < 300000);", { eval: true })
        .on("exit", () => console.log("worker gone"));
      process.stdin.resume();`;
    const child = spawn(process.execPath, ["-e", burn], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
      expect(line).toBe("worker gone");
      expect(existsSync(`/proc/${child.pid}/task`)).toBe(true);
      // The burn happened on a thread /proc/PID/task no longer lists.
      expect(processCpuMs(child.pid!)).toBeGreaterThanOrEqual(250);
    } finally {
      child.kill();
    }
  });
});

describe("processTree", () => {
  it("finds children and grandchildren", async () => {
    // sh starts a sleep and a second sh that starts its own; each PID is printed once started.
    const script = `sleep 30 & echo $!; sh -c 'sleep 30 & echo $!; wait' & echo $!; wait`;
    const child = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "inherit"], detached: true });
    try {
      const pids: number[] = [];
      for await (const line of createInterface({ input: child.stdout! })) if (pids.push(Number(line)) === 3) break;
      const numerically = (a: number, b: number): number => a - b;
      expect(processTree(child.pid!).sort(numerically)).toEqual([child.pid!, ...pids].sort(numerically));
    } finally {
      process.kill(-child.pid!, "SIGKILL");
    }
  });

  it("is the process alone when it has no children or is gone", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    await once(child, "spawn");
    expect(processTree(child.pid!)).toEqual([child.pid!]);
    child.kill("SIGKILL");
    await once(child, "exit");
    expect(processTree(child.pid!)).toEqual([child.pid!]);
  });
});
