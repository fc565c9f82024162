// tally in the sleep image with less memory than the pod's own limit (k8s/app/sleep.yaml:
// 256Mi): a long run at -c 50 against a fast server must finish and print its report, not be
// OOM-killed. Before the latency histogram (issue 29) tally kept every latency: at 96m it was
// killed (exit 137) after 86 s of this run, at about 36k requests a second. How many requests a
// run makes depends on what else the machine runs (at a load average of 30, the old tally made
// 670k in 90 s and survived); test/sleep/tally.test.ts checks, whatever the rate, that a run
// keeps no memory per request. The server is a process of its own on 127.0.0.1 (host network),
// so that it keeps up with tally.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SLEEP_IMAGE, assertEngine, baseImage, buildArgs, docker, dockerOk, run } from "./docker.ts";

/** The limits of the run (issue 29): 96 MiB and no swap to hide in, 90 s at -c 50. */
const MEMORY = "96m";
const DURATION_S = 90;
const CONCURRENCY = 50;
/** The run's own bound: its duration, requests in flight finishing within tally's --timeout (5 s), start-up, and slack. */
const RUN_LIMIT_MS = (DURATION_S + 5 + 55) * 1000;

const suffix = `${process.pid}-${Date.now()}`;
// An image of this clone's own under a tag of its own, so that a build of the shared tag
// elsewhere on the machine cannot change what this test runs.
const TAG = `istio-lessons-test/sleep-tally:${suffix}`;
const NAME = `istio-lessons-test-tally-${suffix}`;

/** A keep-alive server answering "v1" to everything, which prints its port when it listens. */
const SERVER = `const s = require("node:http").createServer((q, r) => r.end("v1"));
s.keepAliveTimeout = 60000;
s.listen(0, "127.0.0.1", () => console.log(s.address().port));`;

let server: ChildProcess | undefined;
let url = "";

beforeAll(async () => {
  await assertEngine();
  const base = await baseImage();
  await dockerOk(
    buildArgs(SLEEP_IMAGE, base).map((arg) => (arg === SLEEP_IMAGE ? TAG : arg)),
    900_000,
  );
  server = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(server, "exit").then(([code]) => {
    throw new Error(`the server exited (${code}) before it listened`);
  });
  const [port] = (await Promise.race([once(server.stdout!, "data"), exited])) as [Buffer];
  exited.catch(() => undefined);
  url = `http://127.0.0.1:${port.toString().trim()}/env/version`;
});

afterAll(async () => {
  await docker(["rm", "-f", NAME]);
  await docker(["rmi", TAG]);
  if (server !== undefined && server.exitCode === null) {
    server.kill();
    await once(server, "exit");
  }
});

describe(`tally in the sleep image at --memory ${MEMORY}`, () => {
  it(
    `runs ${DURATION_S}s at -c ${CONCURRENCY} to the end and prints its report`,
    async () => {
      const started = performance.now();
      const result = await run(
        "docker",
        [
          "run",
          "--name",
          NAME,
          "--network",
          "host",
          "--memory",
          MEMORY,
          "--memory-swap",
          MEMORY,
          TAG,
          "tally",
          "-d",
          `${DURATION_S}s`,
          "-c",
          String(CONCURRENCY),
          "--json",
          "--expect",
          "v1=100",
          url,
        ],
        RUN_LIMIT_MS,
      );
      const elapsedS = (performance.now() - started) / 1000;
      const state = JSON.parse(await dockerOk(["inspect", "--format", "{{json .State}}", NAME])) as {
        OOMKilled: boolean;
        ExitCode: number;
      };
      expect({ code: result.code, oomKilled: state.OOMKilled, stderr: result.stderr }).toEqual({
        code: 0,
        oomKilled: false,
        stderr: "",
      });
      const report = JSON.parse(result.stdout) as {
        requests: number;
        rps: number;
        elapsedMs: number;
        rows: { key: string; count: number }[];
        latencyMs: Record<string, number | null>;
        pass: boolean;
      };
      console.log(
        `tally -d ${DURATION_S}s -c ${CONCURRENCY} at --memory ${MEMORY}: ${report.requests} requests, ${Math.round(report.rps)} req/s, exit ${result.code}, ${elapsedS.toFixed(0)} s in all; latency ${JSON.stringify(report.latencyMs)}`,
      );
      expect(report.elapsedMs).toBeGreaterThanOrEqual(DURATION_S * 1000);
      expect(report.rows).toEqual([expect.objectContaining({ key: "v1", count: report.requests })]);
      expect(report.pass).toBe(true);
      for (const stat of ["min", "p50", "p90", "p99", "max"]) expect(report.latencyMs[stat]).toBeTypeOf("number");
    },
    RUN_LIMIT_MS + 30_000,
  );
});
