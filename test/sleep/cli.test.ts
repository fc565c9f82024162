// The bundle as a learner runs it: dist/tally.js spawned as its own process,
// stdout and stderr piped, against real servers on 127.0.0.1.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTally } from "#lessons/checks/preview.ts";
import { TALLY_BUNDLE } from "#lessons/core/paths.ts";
import { runProgram } from "#lessons/core/run.ts";
import { builtinsAtExit, UNNEEDED_FOR_PLAIN_HTTP } from "../processes.ts";
import { closedPortUrl, startVersions, type Versions } from "./servers.ts";
import { rawUpstream } from "../flaskapp/helpers.ts";
import { USAGE_ERRORS } from "./usage-cases.ts";

const RUN_LIMIT_MS = 15_000;

const tally = (args: string[]) => runTally(args, TALLY_BUNDLE, RUN_LIMIT_MS);

let versions: Versions;

beforeAll(async () => {
  versions = await startVersions();
});
afterAll(() => versions.close());

describe("tally bundle", () => {
  it("loads undici's Pool only, not node:tls, crypto, http2, zlib or web streams with the rest of undici", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tally-builtins-"));
    try {
      const builtins = builtinsAtExit(dir);
      const run = await runProgram(
        process.execPath,
        ["--require", builtins.preload, TALLY_BUNDLE, "-n", "4", `${versions.url}/env/version`],
        RUN_LIMIT_MS,
      );
      expect(run.code).toBe(0);
      const loaded = builtins.loaded();
      expect(loaded).toContain("NativeModule net");
      expect(loaded.filter((name) => UNNEEDED_FOR_PLAIN_HTTP.test(name))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints the split of a round-robin server and exits 0", async () => {
    const run = await tally(["-n", "1000", "-c", "4", `${versions.url}/env/version`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^1000 requests to GET http:\/\/127\.0\.0\.1:\d+\/env\/version, concurrency 4: /m);
    expect(run.stdout).toMatch(/^ {2}v1 +500 +50\.0% +█{20}$/m);
    expect(run.stdout).toMatch(/^ {2}v2 +500 +50\.0% +█{20}$/m);
    expect(run.stdout).toMatch(/^latency {2}min \S+ {2}p50 \S+ {2}p90 \S+ {2}p99 \S+ {2}max \S+$/m);
    expect(run.stderr).toBe("");
  });

  it("exits 0 when --expect holds and 1 with expected and observed when it does not", async () => {
    const url = `${versions.url}/env/version`;
    // One after the other: the front alternates between versions across all its clients.
    const pass = await tally(["-n", "200", "--expect", "v2=50±5", "--expect", "v1>=50", url]);
    const fail = await tally(["-n", "200", "--expect", "v1=100", url]);
    expect(pass.code).toBe(0);
    expect(fail.code).toBe(1);
    expect(fail.stdout).toMatch(/^FAIL {2}v1=100 +expected 100%, observed 50% \(100 of 200\)$/m);
  });

  it("prints one JSON object with --json", async () => {
    const run = await tally(["-n", "10", "--json", "--by", "header:x-version", `${versions.url}/`]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ requests: 10, by: "header:x-version", errors: 0, pass: true, expectations: [] });
    expect(result.rows.map((r: { key: string; count: number }) => [r.key, r.count])).toEqual([
      ["v1", 5],
      ["v2", 5],
    ]);
  });

  it("counts refused connections as rows and still exits 0", async () => {
    const run = await tally(["-n", "3", "--by", "status", await closedPortUrl()]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ {2}error:refused +3 +100\.0% +█{40} +connect ECONNREFUSED 127\.0\.0\.1:\d+$/m);
  });

  it("explains a status below 100 in words, not with a message about its own minified source", async () => {
    const server = await rawUpstream("HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok");
    try {
      const run = await tally(["-n", "2", "--by", "status", server.url]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(
        /^ {2}error:protocol +2 +100\.0% +█{40} +the response is not valid HTTP\/1\.1: a status below 100/m,
      );
    } finally {
      await server.close();
    }
  });

  it("prints the help and exits 0", async () => {
    const run = await tally(["--help"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toMatch(/^usage: tally \[options\] URL \[Name:Value \.\.\.\]$/m);
  });
});

// Runs that go side by side, each with a server of its own or none.
describe.concurrent("tally bundle, side by side", () => {
  it("writes no progress line when stderr is piped, even for a run over a second", async ({ expect }) => {
    const own = await startVersions();
    try {
      const run = await tally(["-d", "1200ms", `${own.url}/env/version`]);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe("");
      expect(run.stdout).not.toContain("\r");
    } finally {
      await own.close();
    }
  });

  // Every usage error is checked in process (args.test.ts, through runCli); these
  // prove the bundle's wiring: exit code 2, nothing on stdout, one line on stderr
  // (the malformed credentials exited 3 before, issue 29).
  it.for(USAGE_ERRORS.filter(([argv]) => argv.length === 0 || argv[0] === "--nope" || argv[0]?.includes("secret%zz")))(
    "exits 2 for %j with one line pointing to --help",
    async ([argv, message], { expect }) => {
      const run = await tally(argv);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^tally: [^\n]+ \(see tally --help\)\n$/);
      expect(run.stderr).toMatch(message);
    },
  );
});
