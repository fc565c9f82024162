// npm run bench: flaskapp as shipped (the image's node flags and environment)
// against the platform's limit (bare node:http), the framework's limit (a
// minimal express route) and the original stack (the seed's Flask app on
// Flask's dev server and on gunicorn), in one run, in interleaved rounds; /fetch
// against calling its upstream directly; tally against wrk; cold start against
// a minimal node:http script; and tally against the book's httpie loop. Every
// target is a ratio to a reference measured in the same run (issue 16).
// Writes bench/RESULTS.md.
//
// Options: --rounds N (5), --duration 5s, --warmup 2s, --connections 32, --threads 1,
// --no-write (print only).
import { execFileSync, type ChildProcess } from "node:child_process";
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { bundleOptions } from "../scripts/build.ts";
import { DURATION_FORM, formatDuration, parseDuration } from "#common/duration.ts";
import {
  cpuMs,
  exited,
  freePort,
  get,
  kill,
  killAll,
  killAllOnExit,
  runMain,
  samplePeaks,
  start,
  timeColdStart,
  waitFor200,
  type ColdStart,
} from "./procs.ts";
import { readShipped } from "./image.ts";
import {
  cpuUsPerRequest,
  fmtMs,
  fmtRatio,
  loadsTable,
  median,
  medianRatio,
  roundRatio,
  roundsTable,
  targetMet,
  targetsTable,
  withNotes,
  type Load,
  type Target,
} from "./report.ts";
import { ensureTools } from "./tools.ts";
import { runWrk, type WrkOptions } from "./wrk.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BUNDLE = join(ROOT, "dist/flaskapp.js");
const TALLY = join(ROOT, "dist/tally.js");
const RESULTS = join(ROOT, "bench/RESULTS.md");
const DOCKERFILE = join(ROOT, "Dockerfile.flaskapp");
const MINIMAL = join(ROOT, "bench/minimal-server.js");
const COLD_RUNS = 15;
const RUN_LIMIT_MS = 15 * 60_000;
const PYTHON = "/usr/bin/python3"; // Debian's, the one python3-flask installs into
const GUNICORN = "/usr/bin/gunicorn";
const HTTPIE = "/usr/bin/http";

interface Settings extends WrkOptions {
  rounds: number;
  warmupMs: number;
  write: boolean;
}

function usage(message: string): never {
  console.error(`bench: ${message}`);
  console.error(
    "usage: npm run bench -- [--rounds N] [--duration 5s] [--warmup 2s] [--connections 32] [--threads 1] [--no-write]",
  );
  process.exit(2);
}

const BENCH_OPTIONS = {
  rounds: { type: "string", default: "5" },
  duration: { type: "string", default: "5s" },
  warmup: { type: "string", default: "2s" },
  connections: { type: "string", default: "32" },
  threads: { type: "string", default: "1" },
  "no-write": { type: "boolean", default: false },
} as const;

function readSettings(argv: string[]): Settings {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof BENCH_OPTIONS }>>["values"];
  try {
    parsed = parseArgs({ args: argv, options: BENCH_OPTIONS }).values;
  } catch (error) {
    usage((error as Error).message);
  }
  const int = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      usage(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
    return n;
  };
  const duration = (name: string, text: string, min: number, max: number): number => {
    const ms = parseDuration(text);
    if (ms === undefined || ms < min || ms > max)
      usage(`--${name} must be ${DURATION_FORM}, from ${formatDuration(min)} to ${formatDuration(max)}; got "${text}"`);
    return ms;
  };
  return {
    rounds: int("rounds", parsed.rounds, 3, 20),
    durationMs: duration("duration", parsed.duration, 1000, 30_000),
    warmupMs: duration("warmup", parsed.warmup, 0, 10_000),
    connections: int("connections", parsed.connections, 1, 1000),
    threads: int("threads", parsed.threads, 1, 16),
    write: !parsed["no-write"],
  };
}

interface Server {
  name: string;
  child: ChildProcess;
  base: string;
}

async function startServer(
  name: string,
  command: string,
  args: string[],
  port: number,
  env: NodeJS.ProcessEnv,
  stdoutFile: string,
  readyPath: string,
): Promise<Server> {
  const out = openSync(stdoutFile, "w");
  const child = start(command, args, {
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", out, out],
    cwd: ROOT,
  });
  closeSync(out);
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor200(child, base + readyPath, 15_000, 20);
  } catch (error) {
    throw new Error(`${name}: ${(error as Error).message}\n${readFileSync(stdoutFile, "utf8").slice(-2000)}`);
  }
  return { name, child, base };
}

/**
 * The reference servers run as esbuild bundles, like flaskapp: started from .ts,
 * Node would load its type stripper first, which costs memory and start-up time
 * that the platform's limit should not carry.
 */
async function bundleReference(entry: string, work: string): Promise<string> {
  const outfile = join(work, entry.replace(/^.*\//, "").replace(/\.ts$/, ".js"));
  await build(bundleOptions(join(ROOT, entry), outfile));
  return outfile;
}

async function expectV1(url: string, contentType: string | undefined): Promise<void> {
  const reply = await get(url, 5000);
  if (reply.status !== 200 || reply.body !== "v1" || (contentType !== undefined && reply.contentType !== contentType)) {
    throw new Error(
      `${url}: expected 200 "v1"${contentType ? ` (${contentType})` : ""}, got ${reply.status} ${JSON.stringify(reply.body.slice(0, 200))} (${reply.contentType})`,
    );
  }
}

async function countLines(file: string, needle: string): Promise<number> {
  let count = 0;
  let carry = "";
  for await (const chunk of createReadStream(file, { encoding: "utf8" })) {
    const lines = (carry + chunk).split("\n");
    carry = lines.pop() ?? "";
    for (const line of lines) if (line.includes(needle)) count++;
  }
  return count + (carry.includes(needle) ? 1 : 0);
}

function coldRow(program: string, runs: readonly ColdStart[]): string {
  const wall = runs.map((r) => r.ms);
  return `| ${program} | ${fmtMs(median(wall))} | ${fmtMs(Math.min(...wall))}–${fmtMs(Math.max(...wall))} | ${fmtMs(median(runs.map((r) => r.cpuMs)))} |`;
}

async function timeProcess(
  command: string,
  args: string[],
): Promise<{ ms: number; code: number | null; output: string }> {
  const began = performance.now();
  const child = start(command, args, { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk));
  const timer = setTimeout(() => kill(child), 60_000);
  const code = await exited(child);
  clearTimeout(timer);
  return { ms: performance.now() - began, code, output };
}

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      .split("\n")[0]!
      .trim();
  } catch (error) {
    const stdout = (error as { stdout?: string }).stdout ?? "";
    return stdout.split("\n")[0]?.trim() || "unknown";
  }
}

/** tally's own figures for one run: `tally -d D -c C --json URL`. */
async function runTally(
  url: string,
  durationMs: number,
  connections: number,
): Promise<{ requests: number; reqPerSec: number }> {
  const run = await timeProcess(process.execPath, [
    TALLY,
    "-d",
    formatDuration(durationMs),
    "-c",
    String(connections),
    "--json",
    url,
  ]);
  if (run.code !== 0)
    throw new Error(
      `tally -d ${formatDuration(durationMs)} -c ${connections} ${url} exited ${run.code}:\n${run.output.slice(-2000)}`,
    );
  const result = JSON.parse(run.output) as { requests: number; elapsedMs: number };
  return { requests: result.requests, reqPerSec: (result.requests * 1000) / result.elapsedMs };
}

async function main(): Promise<void> {
  const settings = readSettings(process.argv.slice(2));
  killAllOnExit();
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${formatDuration(RUN_LIMIT_MS)}; stopping`);
    killAll();
    process.exit(1);
  }, RUN_LIMIT_MS);
  watchdog.unref();

  const toolError = ensureTools((line) => console.error(line));
  if (toolError) {
    console.error(toolError);
    process.exit(1);
  }
  for (const file of [BUNDLE, TALLY])
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build (npm run bench builds first)`);
  // flaskapp as the image runs it: node's flags and the environment of Dockerfile.flaskapp.
  const shipped = readShipped(DOCKERFILE);
  const shippedCommand = `${Object.entries(shipped.env)
    .map(([k, v]) => `${k}=${v} `)
    .join("")}node ${[...shipped.nodeFlags, "dist/flaskapp.js"].join(" ")}`;

  const work = mkdtempSync(join(tmpdir(), "bench-"));
  const log = (line: string): void => console.error(line);
  try {
    const ports = (await Promise.all(Array.from({ length: 6 }, freePort))) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const [barePort, expressPort, flaskappPort, unrecycledPort, flaskDevPort, gunicornPort] = ports;
    const bareJs = await bundleReference("bench/bare-server.ts", work);
    const expressJs = await bundleReference("bench/express-min.ts", work);
    const flaskappLog = join(work, "flaskapp.log");
    const flaskappEnv = { ...shipped.env, version: "v1", HOST: "127.0.0.1", SHUTDOWN_DELAY: "0s" };
    const python = { version: "v1", PYTHONDONTWRITEBYTECODE: "1" }; // no __pycache__ left in bench/
    log(`bench: starting servers (flaskapp as shipped: ${shippedCommand})`);
    const servers: Server[] = await Promise.all([
      startServer(
        "bare node:http",
        process.execPath,
        [bareJs, String(barePort)],
        barePort,
        {},
        join(work, "bare.log"),
        "/",
      ),
      startServer(
        "express minimal",
        process.execPath,
        [expressJs, String(expressPort)],
        expressPort,
        { NODE_ENV: "production", version: "v1" },
        join(work, "express.log"),
        "/env/version",
      ),
      // As shipped: request log and metrics on, the JSON log on stdout, here a file.
      startServer(
        "flaskapp",
        process.execPath,
        [...shipped.nodeFlags, BUNDLE],
        flaskappPort,
        { ...flaskappEnv, PORT: String(flaskappPort) },
        flaskappLog,
        "/readyz",
      ),
      // The same with connections never recycled: what MAX_REQUESTS_PER_CONNECTION's default costs under this load.
      startServer(
        "flaskapp, connections kept",
        process.execPath,
        [...shipped.nodeFlags, BUNDLE],
        unrecycledPort,
        { ...flaskappEnv, PORT: String(unrecycledPort), MAX_REQUESTS_PER_CONNECTION: "1000000" },
        join(work, "flaskapp-kept.log"),
        "/readyz",
      ),
      startServer(
        "Flask dev server",
        PYTHON,
        ["bench/flaskapp.py"],
        flaskDevPort,
        { ...python, BENCH_HOST: "127.0.0.1", BENCH_PORT: String(flaskDevPort) },
        join(work, "flask-dev.log"),
        "/env/version",
      ),
      startServer(
        "gunicorn",
        GUNICORN,
        [
          "--workers",
          "1",
          "--worker-class",
          "sync",
          "--bind",
          `127.0.0.1:${gunicornPort}`,
          "--chdir",
          "bench",
          "flaskapp:app",
        ],
        gunicornPort,
        python,
        join(work, "gunicorn.log"),
        "/env/version",
      ),
    ]);
    const [bare, express, flaskapp, unrecycled, flaskDev, gunicorn] = servers as [
      Server,
      Server,
      Server,
      Server,
      Server,
      Server,
    ];
    const plain = "text/plain; charset=utf-8";
    const fetchUrl = `${flaskapp.base}/fetch?url=${encodeURIComponent(`${bare.base}/env/version`)}`;
    for (const server of [bare, express, flaskapp, unrecycled]) await expectV1(`${server.base}/env/version`, plain);
    for (const server of [flaskDev, gunicorn]) await expectV1(`${server.base}/env/version`, undefined);
    await expectV1(fetchUrl, undefined);

    const load = (name: string, what: string, url: string, server: Server): Load & { server: Server } => ({
      name,
      what,
      url,
      server,
      rounds: [],
      peakRssKb: 0,
      peakAnonKb: 0,
      cpuMs: 0,
    });
    const loads = [
      load("bare node:http", "the platform's limit", `${bare.base}/env/version`, bare),
      load("express minimal", "one express 5 route, no log, no metrics", `${express.base}/env/version`, express),
      load("flaskapp", "as shipped, /env/version, log + metrics on", `${flaskapp.base}/env/version`, flaskapp),
      load(
        "flaskapp, connections kept",
        "the same with MAX_REQUESTS_PER_CONNECTION=1000000",
        `${unrecycled.base}/env/version`,
        unrecycled,
      ),
      load("Flask dev server", "seed app, python3 flaskapp.py (threaded)", `${flaskDev.base}/env/version`, flaskDev),
      load("gunicorn", "seed app, gunicorn 1 sync worker", `${gunicorn.base}/env/version`, gunicorn),
      load("flaskapp /fetch", "flaskapp /fetch?url=<bare node:http>", fetchUrl, flaskapp),
    ];
    const wrk = { threads: settings.threads, connections: settings.connections };
    const memory = samplePeaks(servers.map((s) => s.child.pid!));
    if (settings.warmupMs > 0) {
      for (const each of loads) {
        log(`bench: warm-up ${each.name}`);
        await runWrk(each.url, { ...wrk, durationMs: settings.warmupMs });
      }
    }
    for (let round = 1; round <= settings.rounds; round++) {
      for (const each of loads) {
        const cpuBefore = cpuMs(each.server.child.pid!);
        const result = await runWrk(each.url, { ...wrk, durationMs: settings.durationMs });
        each.cpuMs += cpuMs(each.server.child.pid!) - cpuBefore;
        each.rounds.push(result);
        log(
          `bench: round ${round}/${settings.rounds} ${each.name}: ${Math.round(result.reqPerSec)} req/s, p50 ${fmtMs(result.p50Ms)}, p99 ${fmtMs(result.p99Ms)}, errors ${result.errors}`,
        );
      }
    }
    memory.stop();
    for (const each of loads) {
      if (each.name === "flaskapp /fetch") continue; // same process as the flaskapp row
      const peak = memory.peaks[servers.indexOf(each.server)]!;
      each.peakRssKb = peak.rssKb;
      each.peakAnonKb = peak.anonKb;
    }

    log("bench: tally against wrk");
    const wrkRates: number[] = [];
    const tallyRates: number[] = [];
    for (let round = 1; round <= settings.rounds; round++) {
      wrkRates.push(
        (
          await runWrk(`${bare.base}/env/version`, {
            threads: 1,
            connections: settings.connections,
            durationMs: settings.durationMs,
          })
        ).reqPerSec,
      );
      tallyRates.push(
        (await runTally(`${bare.base}/env/version`, settings.durationMs, settings.connections)).reqPerSec,
      );
      log(
        `bench: round ${round}/${settings.rounds} wrk ${Math.round(wrkRates.at(-1)!)} req/s, tally ${Math.round(tallyRates.at(-1)!)} req/s`,
      );
    }

    log("bench: tally -n 1000 and the httpie loop");
    const target = `${flaskapp.base}/env/version`;
    const tallyRuns: number[] = [];
    let tallyOutput = "";
    for (let i = 0; i < 3; i++) {
      const run = await timeProcess(process.execPath, [TALLY, "-n", "1000", target]);
      if (run.code !== 0) throw new Error(`tally -n 1000 ${target} exited ${run.code}:\n${run.output}`);
      tallyRuns.push(run.ms);
      tallyOutput = run.output;
    }
    const httpieCalls: number[] = [];
    for (let i = 0; i < 10; i++) {
      const run = await timeProcess(HTTPIE, ["--ignore-stdin", "--body", target]);
      if (run.code !== 0 || run.output.trim() !== "v1")
        throw new Error(`http --body ${target} exited ${run.code}: ${run.output}`);
      httpieCalls.push(run.ms);
    }
    const httpieTotal10 = httpieCalls.reduce((a, b) => a + b, 0);

    for (const server of servers) kill(server.child);
    await Promise.all(servers.map((s) => exited(s.child)));
    const logLines = await countLines(flaskappLog, '"msg":"request"');
    const flaskappRequests = loads
      .filter((l) => l.server === flaskapp)
      .reduce((sum, l) => sum + l.rounds.reduce((s, r) => s + r.requests, 0), 0);

    log("bench: cold start");
    const coldFlaskapp: ColdStart[] = [];
    const coldMinimal: ColdStart[] = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      coldMinimal.push(await timeColdStart(() => [MINIMAL], {}, "/", ROOT));
      coldFlaskapp.push(
        await timeColdStart(
          () => [...shipped.nodeFlags, BUNDLE],
          { ...shipped.env, version: "v1", HOST: "127.0.0.1" },
          "/readyz",
          ROOT,
        ),
      );
    }

    const byName = (name: string): Load => loads.find((l) => l.name === name)!;
    const ratio = (a: string, b: string): number => roundRatio(byName(a).rounds, byName(b).rounds);
    const coldRatio = medianRatio(
      coldFlaskapp.map((r) => r.ms),
      coldMinimal.map((r) => r.ms),
    );
    const memoryRatio = byName("flaskapp").peakAnonKb / byName("bare node:http").peakAnonKb;
    const tallyRatio = medianRatio(tallyRates, wrkRates);
    const targets: Target[] = [
      {
        what: "flaskapp /env/version req/s ÷ minimal express 5 (log and metrics on, as shipped)",
        measured: ratio("flaskapp", "express minimal"),
        bound: 0.9,
        atMost: false,
        format: fmtRatio,
      },
      {
        what: "flaskapp cold start (spawn → first 200 on /readyz) ÷ a minimal node:http script's",
        measured: coldRatio,
        bound: 1.5,
        atMost: true,
        format: fmtRatio,
      },
      {
        what: "flaskapp peak anonymous RSS under the bench load ÷ bare node:http's",
        measured: memoryRatio,
        bound: 1.5,
        atMost: true,
        format: fmtRatio,
      },
      {
        what: "flaskapp /fetch req/s ÷ calling the upstream directly",
        measured: ratio("flaskapp /fetch", "bare node:http"),
        bound: 0.4,
        atMost: false,
        format: fmtRatio,
      },
      {
        what: `tally -c ${settings.connections} req/s ÷ wrk -t1 -c${settings.connections} against the same bare server`,
        measured: tallyRatio,
        bound: 0.7,
        atMost: false,
        format: fmtRatio,
      },
    ];

    const cpuModel = cpus()[0]?.model.trim() ?? "unknown";
    const report = [
      "# bench results",
      "",
      `Written by \`npm run bench\` on ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}.`,
      "",
      `Machine: ${availableParallelism()} cores (${cpuModel}), Linux ${release()}, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")} at the end; Node ${process.version}; ${version("wrk", ["-v"]).split(" [")[0]}; ` +
        `${version(PYTHON, ["--version"])}, Flask ${version(PYTHON, ["-c", "import importlib.metadata as m; print(m.version('flask'))"])}, gunicorn ${version(PYTHON, ["-c", "import importlib.metadata as m; print(m.version('gunicorn'))"])}, HTTPie ${version(HTTPIE, ["--version"])}.`,
      "",
      `Load: \`wrk --latency -t${settings.threads} -c${settings.connections} -d${formatDuration(settings.durationMs)}\` on 127.0.0.1, ${settings.rounds} interleaved rounds ` +
        `(every load once per round, in the order of the table), after a ${formatDuration(settings.warmupMs)} warm-up of each. Figures are medians over the rounds; ` +
        "ratios are the median of the per-round ratios. wrk and the servers share the machine's cores (wrk's one thread takes most of one core), " +
        `so the figures are relative, not capacities. flaskapp runs as shipped, with the flags and environment of Dockerfile.flaskapp (\`${shippedCommand}\`), ` +
        `JSON request log and metrics on, its stdout written to a file; it wrote ${logLines.toLocaleString("en-US")} request log lines for the ` +
        `${flaskappRequests.toLocaleString("en-US")} requests wrk counted in the rounds (plus warm-up and checks).`,
      "",
      "## Targets",
      "",
      targetsTable(targets),
      "",
      `${targets.filter(targetMet).length} of ${targets.length} targets met.`,
      "",
      "## Throughput, latency and memory",
      "",
      loadsTable(loads),
      "",
      "Peak RSS is the highest VmHWM (summed over the server's process tree: gunicorn's master and worker) seen during the load, sampled every 250 ms; " +
        '"of which anonymous" is the highest RssAnon, the memory that is the process\'s own (the rest maps the node or python binary and libraries). ' +
        "The /fetch load runs in the flaskapp process (its memory is in the flaskapp row); its upstream is the bare node:http server, so " +
        '"direct" is the bare node:http row, whose memory also holds serving as that upstream. The Flask servers answer `text/html` (Flask\'s default), ' +
        "the Node servers `text/plain`; the body is `v1` everywhere.",
      "",
      "| ratio | by req/s | by server CPU per request |",
      "|---|--:|--:|",
      ...(
        [
          ["flaskapp", "express minimal"],
          ["flaskapp, connections kept", "express minimal"],
          ["flaskapp", "bare node:http"],
          ["express minimal", "bare node:http"],
          ["flaskapp", "Flask dev server"],
          ["flaskapp", "gunicorn"],
          ["flaskapp /fetch", "bare node:http"],
        ] as const
      ).map(
        ([a, b]) =>
          `| ${a === "flaskapp /fetch" ? "flaskapp /fetch / upstream direct" : `${a} / ${b}`} | ${fmtRatio(ratio(a, b))} | ${fmtRatio(cpuUsPerRequest(byName(b)) / cpuUsPerRequest(byName(a)))} |`,
      ),
      "",
      "The CPU column is the inverse ratio of the server's CPU time per request (the larger of the live threads' schedstat and /proc/PID/stat, which also counts threads that have ended): what the req/s ratio would be if each " +
        "server had a core to itself. It moves much less than req/s when other work competes for the 2 cores.",
      "",
      "Per round (req/s):",
      "",
      roundsTable(loads),
      "",
      "## tally against wrk",
      "",
      `\`wrk -t1 -c${settings.connections} -d${formatDuration(settings.durationMs)}\` and \`tally -c ${settings.connections} -d ${formatDuration(settings.durationMs)} --json\` in turn against the bare node:http server, ${settings.rounds} rounds; ` +
        "tally's rate is its request count over its own elapsed time.",
      "",
      "| round | wrk req/s | tally req/s | tally / wrk |",
      "|---|--:|--:|--:|",
      ...wrkRates.map(
        (w, i) =>
          `| ${i + 1} | ${Math.round(w).toLocaleString("en-US")} | ${Math.round(tallyRates[i]!).toLocaleString("en-US")} | ${fmtRatio(tallyRates[i]! / w)} |`,
      ),
      "",
      "## Cold start",
      "",
      `Spawn of \`node\` to the first 200, polled every millisecond, ${COLD_RUNS} runs each, interleaved; the ratio is the median of the per-pair ratios. ` +
        "CPU is the process's run time until then, measured the same way.",
      "",
      "| program | median | min–max | CPU used until ready (median) |",
      "|---|--:|--:|--:|",
      coldRow(`flaskapp as shipped (\`${shippedCommand}\`, /readyz)`, coldFlaskapp),
      coldRow("minimal node:http script (`node bench/minimal-server.js`, not bundled, /)", coldMinimal),
      "",
      "## tally against the book's httpie loop",
      "",
      "| command | 1000 requests |",
      "|---|--:|",
      `| \`tally -n 1000 ${"<flaskapp>"}/env/version\` (median of 3: ${tallyRuns.map(fmtMs).join(", ")}) | ${fmtMs(median(tallyRuns))} |`,
      `| \`for i in $(seq 1000); do http --body <flaskapp>/env/version; done\` (10 calls took ${fmtMs(httpieTotal10)}, scaled ×100) | ${fmtMs(httpieTotal10 * 100)} |`,
      `| speed-up | ${fmtRatio((httpieTotal10 * 100) / median(tallyRuns))} |`,
      "",
      "Last tally output:",
      "",
      "```",
      tallyOutput.trimEnd(),
      "```",
    ].join("\n");

    console.log(report);
    if (settings.write) {
      writeFileSync(RESULTS, withNotes(report, existsSync(RESULTS) ? readFileSync(RESULTS, "utf8") : undefined));
      log(`bench: wrote ${RESULTS}`);
    }
  } finally {
    killAll();
    rmSync(work, { recursive: true, force: true });
  }
}

runMain("bench", main);
