// A/B of two flaskapp bundles (before and after a change), in interleaved wrk
// rounds so that the shared machine's slow moments hit both. Used to measure
// what each optimisation gained (bench/RESULTS.md, "changes").
// Usage: npx node bench/ab.ts [--path /env/version] [--rounds 5] [--duration 5s] [--connections 32] [--cold RUNS] [--ready /readyz]
//        [--history PATH] [--] BEFORE AFTER
// BEFORE and AFTER are a bundle, optionally preceded by environment variables and node
// flags in one argument (after "--" when it starts with a flag): "--max-semi-space-size=1 dist/flaskapp.js".
// A path containing {upstream} gets the URL of a bare node:http upstream (e.g. "/fetch?url={upstream}").
// --ready PATH is each side's first request: keep /readyz for flaskapp, as in a pod (before change 14 the
// route that answered a process's first request changed what every later request cost: bench/RESULTS.md).
// --history PATH: before the rounds, AFTER serves a 2-s load of PATH that BEFORE does not, so the
// same bundle twice measures what having served PATH costs the other routes (bench/RESULTS.md).
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DURATION_FORM, parseDuration } from "#common/duration.ts";
import {
  cpuMs,
  freePort,
  killAll,
  killAllOnExit,
  runMain,
  samplePeaks,
  start,
  timeColdStart,
  waitFor200,
  withUpstream,
  type ColdStart,
} from "./procs.ts";
import { fmtMb, fmtMs, fmtRatio, median, roundRatio, roundRatios } from "./report.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

const ROOT = new URL("..", import.meta.url).pathname;

export interface Side {
  /** the argument as given, to name the side in the output */
  name: string;
  env: Record<string, string>;
  /** node's arguments: flags, then the bundle */
  args: string[];
}

/** "NAME=value ... --flag ... bundle.js": environment, node flags, bundle (the last word). */
export function parseSide(text: string): Side {
  const words = text
    .trim()
    .split(/\s+/)
    .filter((w) => w !== "");
  const bundle = words.pop();
  if (bundle === undefined || bundle.startsWith("-") || bundle.includes("="))
    throw new Error(`"${text}": the last word must be the bundle`);
  const env: Record<string, string> = {};
  const flags: string[] = [];
  for (const word of words) {
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(word);
    if (assignment) env[assignment[1]!] = assignment[2]!;
    else if (word.startsWith("-")) flags.push(word);
    else throw new Error(`"${text}": "${word}" is neither NAME=value nor a node flag`);
  }
  return { name: text, env, args: [...flags, resolve(bundle)] };
}

export interface AbOptions {
  before: Side;
  after: Side;
  path: string;
  rounds: number;
  durationMs: number;
  connections: number;
  coldRuns: number;
  ready: string;
  /** a path AFTER serves (for 2 s) before the rounds and BEFORE does not */
  history: string | undefined;
}

/** The command line, checked: every number within its bounds, every path starting with /. */
export function readAbOptions(args: string[]): AbOptions {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      path: { type: "string", default: "/env/version" },
      rounds: { type: "string", default: "5" },
      duration: { type: "string", default: "5s" },
      connections: { type: "string", default: "32" },
      cold: { type: "string", default: "0" },
      ready: { type: "string", default: "/readyz" },
      history: { type: "string" },
    },
  });
  if (positionals.length !== 2) throw new Error("give two bundles: BEFORE.js AFTER.js");
  const [before, after] = positionals.map(parseSide) as [Side, Side];
  const rounds = Number(values.rounds);
  const durationMs = parseDuration(values.duration);
  const connections = Number(values.connections);
  const coldRuns = Number(values.cold);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error("--rounds: an integer from 1 to 20");
  if (durationMs === undefined || durationMs < 1000 || durationMs > 30_000)
    throw new Error(`--duration: ${DURATION_FORM}, 1s to 30s`);
  if (!Number.isInteger(connections) || connections < 1 || connections > 1000)
    throw new Error("--connections: an integer from 1 to 1000");
  if (!Number.isInteger(coldRuns) || coldRuns < 0 || coldRuns > 50) throw new Error("--cold: an integer from 0 to 50");
  for (const [name, path] of [
    ["path", values.path],
    ["ready", values.ready],
    ["history", values.history],
  ] as const) {
    if (path !== undefined && !path.startsWith("/")) throw new Error(`--${name}: a path starting with /`);
  }
  return {
    before,
    after,
    path: values.path,
    rounds,
    durationMs,
    connections,
    coldRuns,
    ready: values.ready,
    history: values.history,
  };
}

async function main(): Promise<void> {
  const { before, after, rounds, durationMs, connections, coldRuns, ready, ...paths } = readAbOptions(
    process.argv.slice(2),
  );
  killAllOnExit();
  const work = mkdtempSync(join(tmpdir(), "bench-ab-"));
  try {
    const path = await withUpstream(paths.path, ROOT);
    const history = paths.history === undefined ? undefined : await withUpstream(paths.history, ROOT);

    const sides = await Promise.all(
      [before, after].map(async (side, i) => {
        const port = await freePort();
        const log = openSync(join(work, `${i}.log`), "w");
        const child = start(process.execPath, side.args, {
          env: {
            PATH: process.env.PATH,
            ...side.env,
            NODE_ENV: "production",
            version: "v1",
            PORT: String(port),
            HOST: "127.0.0.1",
            SHUTDOWN_DELAY: "0s",
          },
          stdio: ["ignore", log, log],
          cwd: ROOT,
        });
        closeSync(log);
        const base = `http://127.0.0.1:${port}`;
        await waitFor200(child, base + ready, 15_000, 20);
        return {
          name: side.name,
          child,
          base,
          url: base + path,
          rounds: [] as WrkResult[],
          cpuMs: 0,
          cpuUs: Number.NaN,
        };
      }),
    );
    const memory = samplePeaks(sides.map((side) => side.child.pid!));
    if (history !== undefined) {
      const served = await runWrk(sides[1]!.base + history, { threads: 1, connections, durationMs: 2000 });
      if (served.requests === 0 || served.errors > 0)
        throw new Error(`--history ${paths.history}: ${served.requests} requests, ${served.errors} errors`);
      console.log(`${sides[1]!.name} first served ${served.requests} requests of ${paths.history}`);
    }
    for (const side of sides) await runWrk(side.url, { threads: 1, connections, durationMs: 2000 });
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const cpuBefore = cpuMs(side.child.pid!);
        side.rounds.push(await runWrk(side.url, { threads: 1, connections, durationMs }));
        side.cpuMs += cpuMs(side.child.pid!) - cpuBefore;
      }
    }
    memory.stop();
    for (const [at, side] of sides.entries()) {
      const peak = memory.peaks[at]!;
      const rates = side.rounds.map((r) => Math.round(r.reqPerSec));
      const cpuUs = (side.cpuMs * 1000) / side.rounds.reduce((sum, r) => sum + r.requests, 0);
      side.cpuUs = cpuUs;
      console.log(
        `${side.name}: median ${Math.round(median(rates))} req/s [${rates.join(", ")}], p99 ${median(side.rounds.map((r) => r.p99Ms)).toFixed(2)} ms, CPU ${cpuUs.toFixed(1)} µs/request, peak RSS ${fmtMb(peak.rssKb)}, peak anonymous ${fmtMb(peak.anonKb)}`,
      );
    }
    const perRound = roundRatios(sides[1]!.rounds, sides[0]!.rounds);
    console.log(
      `after/before: ${fmtRatio(roundRatio(sides[1]!.rounds, sides[0]!.rounds))} by req/s (median of per-round ratios), ${fmtRatio(sides[0]!.cpuUs / sides[1]!.cpuUs)} by CPU per request`,
    );
    console.log(
      `after/before per round: [${perRound.map((r) => r.toFixed(3)).join(", ")}], spread ${fmtRatio(Math.min(...perRound))} to ${fmtRatio(Math.max(...perRound))}`,
    );
    if (coldRuns > 0) {
      const env = { NODE_ENV: "production", version: "v1", HOST: "127.0.0.1" };
      const cold: ColdStart[][] = [[], []];
      for (let i = 0; i < coldRuns; i++) {
        for (const [at, side] of [before, after].entries())
          cold[at]!.push(await timeColdStart(() => side.args, { ...side.env, ...env }, ready, ROOT));
      }
      for (const [at, side] of [before, after].entries()) {
        const runs = cold[at]!;
        console.log(
          `${side.name}: cold start median ${fmtMs(median(runs.map((r) => r.ms)))} [${runs.map((r) => Math.round(r.ms)).join(", ")}], CPU until ready median ${fmtMs(median(runs.map((r) => r.cpuMs)))}`,
        );
      }
    }
  } finally {
    killAll();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) runMain("ab", main);
