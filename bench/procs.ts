// Child processes of the bench: spawned in their own process group so that a
// server and everything it forks (gunicorn's worker) die together, tracked so
// that every one is killed on exit, on error and on Ctrl-C.
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { Children } from "#lessons/core/children.ts";

const running = new Children();

export function start(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdio: StdioOptions; cwd?: string },
): ChildProcess {
  return running.track(spawn(command, args, { ...options, detached: true }));
}

export function kill(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export function killAll(): void {
  running.killAll(kill);
}

/** Runs a bench program's main: on failure, one line naming the program, every child killed, exit 1. */
export function runMain(program: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(`${program}: ${(error as Error).message ?? error}`);
    killAll();
    process.exit(1);
  });
}

/** Kills every child however the bench ends. */
export function killAllOnExit(): void {
  process.once("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no ephemeral port");
  return address.port;
}

export interface Reply {
  status: number;
  contentType: string;
  body: string;
}

export function get(url: string, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers["content-type"] ?? ""),
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Polls url until it answers 200; fails when the child exits or the deadline passes. */
export async function waitFor200(child: ChildProcess, url: string, deadlineMs: number, pollMs = 2): Promise<void> {
  const until = performance.now() + deadlineMs;
  while (performance.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${url}: server exited (${child.exitCode ?? child.signalCode}) before answering`);
    try {
      if ((await get(url, 1000)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`${url}: no 200 within ${deadlineMs} ms`);
}

/**
 * A process's children, from /proc/PID/task/TID/children (each thread lists
 * the children it started): a file per thread instead of a /proc/PID/stat per
 * process on the machine, for a bench that samples its servers' trees four
 * times a second while they are under load.
 */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found; // exited
  }
  for (const tid of threads) {
    try {
      const listed = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (listed !== "") found.push(...listed.split(/\s+/).map(Number));
    } catch {
      // the thread ended meanwhile
    }
  }
  return found;
}

export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length && i < 64; i++) tree.push(...childrenOf(tree[i]!));
  return tree;
}

const TICKS_PER_SECOND = 100; // USER_HZ, what /proc/PID/stat reports CPU time in on Linux

/** CPU time (user + system) of a process, in ms, from /proc/PID/stat: all its threads, those that have ended too, in 10 ms ticks. */
function statCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after "(comm) ": state ppid ... utime is the 12th, stime the 13th
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0; // exited meanwhile
  }
}

/** Run time of a process's live threads, in ms, from their schedstat (nanoseconds); 0 where there is no schedstat. */
function liveThreadsCpuMs(pid: number): number {
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`))
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    return ns / 1e6;
  } catch {
    return 0; // no schedstat here, or a thread ended meanwhile
  }
}

/**
 * CPU time of one process, in ms. The live threads' schedstat is exact but
 * loses the threads that have ended (the Flask dev server's per-connection
 * threads); /proc/PID/stat keeps them, to 10 ms. The larger of the two.
 */
export function processCpuMs(pid: number): number {
  return Math.max(liveThreadsCpuMs(pid), statCpuMs(pid));
}

/** CPU time (user + system) used so far by a process tree, in ms; exited members no longer count. */
export function cpuMs(pid: number): number {
  return processTree(pid).reduce((sum, member) => sum + processCpuMs(member), 0);
}

/** A field of /proc/PID/status in kB (VmRSS, VmHWM, RssAnon), 0 when the process is gone. */
export function statusKb(pid: number, field: "VmRSS" | "VmHWM" | "RssAnon"): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export interface PeakMemory {
  /** highest VmHWM, kB, summed over the process tree */
  rssKb: number;
  /** highest RssAnon, kB: the memory that is the process's own, not the mapped binary and libraries */
  anonKb: number;
}

/** Samples the peak resident memory of each process tree (gunicorn's master and worker together) every 250 ms until stop(). */
export function samplePeaks(pids: readonly number[]): { peaks: PeakMemory[]; stop(): void } {
  const peaks = pids.map(() => ({ rssKb: 0, anonKb: 0 }));
  const sample = (): void => {
    pids.forEach((pid, i) => {
      const tree = processTree(pid);
      const peak = peaks[i]!;
      peak.rssKb = Math.max(
        peak.rssKb,
        tree.reduce((sum, member) => sum + statusKb(member, "VmHWM"), 0),
      );
      peak.anonKb = Math.max(
        peak.anonKb,
        tree.reduce((sum, member) => sum + statusKb(member, "RssAnon"), 0),
      );
    });
  };
  sample();
  const timer = setInterval(sample, 250);
  return {
    peaks,
    stop() {
      clearInterval(timer);
      sample();
    },
  };
}

/**
 * Starts bench/bare-server.ts as an upstream for /fetch and returns `path` with
 * "{upstream}" replaced by its URL, percent-encoded for a query string.
 */
export async function withUpstream(path: string, root: string): Promise<string> {
  if (!path.includes("{upstream}")) return path;
  const port = await freePort();
  const upstream = start(process.execPath, ["bench/bare-server.ts", String(port)], { stdio: "ignore", cwd: root });
  await waitFor200(upstream, `http://127.0.0.1:${port}/`, 15_000, 20);
  return path.replace("{upstream}", encodeURIComponent(`http://127.0.0.1:${port}/env/version`));
}

export interface ColdStart {
  /** wall time from spawn to the first 200 */
  ms: number;
  /** CPU time the process used until then: unlike wall time, hardly affected by other load */
  cpuMs: number;
}

/** Spawns `node ARGS` (PORT in its environment) and times it to its first 200 on path. */
export async function timeColdStart(
  args: (port: number) => string[],
  env: NodeJS.ProcessEnv,
  path: string,
  cwd: string,
): Promise<ColdStart> {
  const port = await freePort();
  const began = performance.now();
  const child = start(process.execPath, args(port), {
    env: { PATH: process.env.PATH, ...env, PORT: String(port) },
    stdio: "ignore",
    cwd,
  });
  try {
    await waitFor200(child, `http://127.0.0.1:${port}${path}`, 5000, 1);
    const ms = performance.now() - began;
    return { ms, cpuMs: cpuMs(child.pid!) };
  } finally {
    kill(child);
    await exited(child);
  }
}
