// Where flaskapp spends its time per request: runs the flaskapp source (not the
// minified bundle, so names and packages stay readable) with `node --cpu-prof`
// under wrk load, stops it with SIGTERM so the profile is written, and prints the
// top self-time functions and the self time per package.
// Usage: npx node bench/profile.ts [--path /env/version] [--duration 10s] [--connections 32] [--top 30] [--callers FUNCTION]...
//        [--entry services/flaskapp/src/main.ts] [--ready /readyz] [--node-flag FLAG]... [--env NAME=value]...
// --entry profiles another server the same way (bench/express-min.ts with --ready /env/version).
// A path containing {upstream} gets the URL of a bare node:http upstream (e.g. "/fetch?url={upstream}").
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DURATION_FORM, parseDuration } from "#common/duration.ts";
import { exited, freePort, killAll, killAllOnExit, runMain, start, waitFor200, withUpstream } from "./procs.ts";
import { runWrk } from "./wrk.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** Preloaded so that any server, not only flaskapp, exits on SIGTERM and so writes its profile. */
const EXIT_ON_SIGTERM = `data:text/javascript,process.once("SIGTERM", () => process.exit(0));`;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: a package, node's internals, our source, or a V8 pseudo-frame. */
export function ownerOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return "node internals";
  const ours = /\/work\/[^/]+\/(services\/[^/]+)\//.exec(url) ?? /\/(services\/[^/]+)\//.exec(url);
  return ours ? ours[1]! : url;
}

export interface SelfTime {
  key: string;
  ms: number;
}

/** Self time per function and per owner, most expensive first, in ms. */
export function selfTimes(profile: CpuProfile): { functions: SelfTime[]; owners: SelfTime[]; totalMs: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const functions = new Map<string, number>();
  const owners = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (!node || us <= 0) return;
    totalUs += us;
    const fn = frameName(node);
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    const owner = ownerOf(node.callFrame.url, node.callFrame.functionName);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
  });
  const sorted = (map: Map<string, number>): SelfTime[] =>
    [...map].map(([key, us]) => ({ key, ms: us / 1000 })).sort((a, b) => b.ms - a.ms);
  return { functions: sorted(functions), owners: sorted(owners), totalMs: totalUs / 1000 };
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where =
    url === ""
      ? ""
      : ` ${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/services\//, "services/")}:${lineNumber + 1}`;
  return `${functionName || "(anonymous)"}${where}`;
}

/** The call stacks (innermost first, `depth` frames) under which functions named `name` spent their self time. */
export function callersOf(profile: CpuProfile, name: string, depth: number): SelfTime[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stacks = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName !== name) return;
    const frames: string[] = [];
    for (let at: number | undefined = id; at !== undefined && frames.length < depth; at = parent.get(at))
      frames.push(frameName(byId.get(at)!));
    const key = frames.join(" < ");
    stacks.set(key, (stacks.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...stacks].map(([key, us]) => ({ key, ms: us / 1000 })).sort((a, b) => b.ms - a.ms);
}

function table(rows: SelfTime[], totalMs: number, top: number): string {
  return rows
    .slice(0, top)
    .map((r) => `${((100 * r.ms) / totalMs).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(6)} ms  ${r.key}`)
    .join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      path: { type: "string", default: "/env/version" },
      duration: { type: "string", default: "10s" },
      connections: { type: "string", default: "32" },
      top: { type: "string", default: "30" },
      callers: { type: "string", multiple: true, default: [] },
      entry: { type: "string", default: "services/flaskapp/src/main.ts" },
      ready: { type: "string", default: "/readyz" },
      "node-flag": { type: "string", multiple: true, default: [] },
      env: { type: "string", multiple: true, default: [] },
    },
  });
  const durationMs = parseDuration(values.duration);
  const connections = Number(values.connections);
  const top = Number(values.top);
  if (durationMs === undefined || durationMs < 1000 || durationMs > 60_000)
    throw new Error(`--duration: ${DURATION_FORM}, 1s to 1m`);
  if (!Number.isInteger(connections) || connections < 1 || connections > 1000)
    throw new Error("--connections: an integer from 1 to 1000");
  if (!Number.isInteger(top) || top < 1) throw new Error("--top: a positive integer");
  if (!values.path.startsWith("/")) throw new Error("--path must start with /");
  const extraEnv = Object.fromEntries(
    values.env.map((assignment) => {
      const at = assignment.indexOf("=");
      if (at < 1) throw new Error(`--env ${assignment}: expected NAME=value`);
      return [assignment.slice(0, at), assignment.slice(at + 1)];
    }),
  );

  killAllOnExit();
  const work = mkdtempSync(join(tmpdir(), "bench-profile-"));
  try {
    const path = await withUpstream(values.path, ROOT);
    const port = await freePort();
    const log = openSync(join(work, "flaskapp.log"), "w");
    const child = start(
      process.execPath,
      [...values["node-flag"], "--cpu-prof", `--cpu-prof-dir=${work}`, "--import", EXIT_ON_SIGTERM, values.entry],
      {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: "production",
          version: "v1",
          ...extraEnv,
          PORT: String(port),
          HOST: "127.0.0.1",
          SHUTDOWN_DELAY: "0s",
        },
        stdio: ["ignore", log, log],
        cwd: ROOT,
      },
    );
    closeSync(log);
    const base = `http://127.0.0.1:${port}`;
    await waitFor200(child, base + values.ready, 15_000, 20);
    await runWrk(base + path, { threads: 1, connections, durationMs: 2000 }); // warm-up, inside the profile too
    const result = await runWrk(base + path, { threads: 1, connections, durationMs });
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited(child);
    clearTimeout(timer);
    const file = readdirSync(work).find((name) => name.endsWith(".cpuprofile"));
    if (!file) throw new Error(`${values.entry} wrote no .cpuprofile (did it exit on SIGTERM?)`);
    const profile = JSON.parse(readFileSync(join(work, file), "utf8")) as CpuProfile;
    const { functions, owners, totalMs } = selfTimes(profile);
    console.log(
      `GET ${values.path}: ${Math.round(result.reqPerSec)} req/s under profiling (${result.requests} requests, p50 ${result.p50Ms} ms)`,
    );
    console.log(`\nself time by owner (of ${totalMs.toFixed(0)} ms sampled):\n${table(owners, totalMs, top)}`);
    console.log(`\ntop ${top} functions by self time:\n${table(functions, totalMs, top)}`);
    for (const name of values.callers)
      console.log(`\nwhere ${name} is called from:\n${table(callersOf(profile, name, 8), totalMs, 8)}`);
  } finally {
    killAll();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) runMain("profile", main);
