// tally in the sleep image with less memory than the pod's own limit (k8s/app/sleep.yaml:
// 256Mi, one CPU): a long run at -c 50 against a fast server must finish and print its report,
// not be OOM-killed. Before the latency histogram (issue 29) tally kept every latency: at
// 96m it was killed (exit 137) after 86 s of this run, at about 36k requests a second.
// The server runs in this process on 127.0.0.1 (host network).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SLEEP_IMAGE, assertEngine, baseImage, buildArgs, docker, dockerOk, run } from "./docker.ts";

/** The limits of the run (issue 29): 96 MiB, no swap to hide in, one CPU as the pod has, 90 s at -c 50. */
const MEMORY = "96m";
const CPUS = "1";
const DURATION_S = 90;
const CONCURRENCY = 50;
/** The run's own bound: its duration, requests in flight finishing within tally's --timeout (5 s), start-up, and slack. */
const RUN_LIMIT_MS = (DURATION_S + 5 + 55) * 1000;

const suffix = `${process.pid}-${Date.now()}`;
// An image of this clone's own under a tag of its own, so that a build of the shared tag
// elsewhere on the machine cannot change what this test runs.
const TAG = `istio-lessons-test/sleep-tally:${suffix}`;
const NAME = `istio-lessons-test-tally-${suffix}`;

let server: Server;
let url = "";

beforeAll(async () => {
  await assertEngine();
  const base = await baseImage();
  await dockerOk(buildArgs(SLEEP_IMAGE, base).map((arg) => (arg === SLEEP_IMAGE ? TAG : arg)), 900_000);
  server = createServer((_req, res) => res.end("v1"));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/env/version`;
});

afterAll(async () => {
  await docker(["rm", "-f", NAME]);
  await docker(["rmi", TAG]);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe(`tally in the sleep image at --memory ${MEMORY}`, () => {
  it(`runs ${DURATION_S}s at -c ${CONCURRENCY} to the end and prints its report`, async () => {
    const started = performance.now();
    const result = await run("docker", [
      "run", "--name", NAME, "--network", "host", "--memory", MEMORY, "--memory-swap", MEMORY, "--cpus", CPUS,
      TAG, "tally", "-d", `${DURATION_S}s`, "-c", String(CONCURRENCY), "--json", "--expect", "v1=100", url,
    ], RUN_LIMIT_MS);
    const elapsedS = (performance.now() - started) / 1000;
    const state = JSON.parse(await dockerOk(["inspect", "--format", "{{json .State}}", NAME])) as { OOMKilled: boolean; ExitCode: number };
    expect({ code: result.code, oomKilled: state.OOMKilled, stderr: result.stderr }).toEqual({ code: 0, oomKilled: false, stderr: "" });
    const report = JSON.parse(result.stdout) as { requests: number; rps: number; elapsedMs: number; rows: { key: string; count: number }[]; latencyMs: Record<string, number | null>; pass: boolean };
    console.log(`tally -d ${DURATION_S}s -c ${CONCURRENCY} at --memory ${MEMORY}: ${report.requests} requests, ${Math.round(report.rps)} req/s, exit ${result.code}, ${elapsedS.toFixed(0)} s in all; latency ${JSON.stringify(report.latencyMs)}`);
    expect(report.elapsedMs).toBeGreaterThanOrEqual(DURATION_S * 1000);
    expect(report.rows).toEqual([expect.objectContaining({ key: "v1", count: report.requests })]);
    expect(report.pass).toBe(true);
    for (const stat of ["min", "p50", "p90", "p99", "max"]) expect(report.latencyMs[stat]).toBeTypeOf("number");
  }, RUN_LIMIT_MS + 30_000);
});
