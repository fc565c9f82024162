// Runs a program to completion and collects its output: tally for the preview,
// kubectl, kind, istioctl and docker for the cluster tooling. Never rejects: a
// program that cannot start is reported with code 127 and the reason on stderr.
import { spawn } from "node:child_process";

export interface ProgramRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Stopped at its time limit. */
  timedOut?: boolean;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Receives stdout and stderr as they arrive (a long build or install shows its progress). */
  onOutput?: (text: string) => void;
  /** After the time limit's SIGTERM, how long until SIGKILL (default KILL_GRACE_MS). */
  killGraceMs?: number;
}

/** Exit code of a program that is not installed (as a shell reports it). */
export const NOT_INSTALLED = 127;
/** After its time limit a program gets SIGTERM, and SIGKILL this much later if it is still there. */
export const KILL_GRACE_MS = 5_000;

const MAX_OUTPUT = 64 * 1024 * 1024;

/** Whether `run` is `file` itself failing to start because it is not installed (not a program it ran). */
export function notInstalled(run: ProgramRun, file: string): boolean {
  return run.code === NOT_INSTALLED && run.stderr === notInstalledMessage(file);
}

function notInstalledMessage(file: string): string {
  return `${file}: not installed or not on PATH`;
}

export function runProgram(
  file: string,
  args: string[],
  timeoutMs: number,
  options: RunOptions = {},
): Promise<ProgramRun> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let done = false;
    const finish = (run: ProgramRun) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(run);
    };
    const collect = (stream: "stdout" | "stderr") => (text: string) => {
      if (stream === "stdout" && stdout.length < MAX_OUTPUT) stdout += text;
      if (stream === "stderr" && stderr.length < MAX_OUTPUT) stderr += text;
      options.onOutput?.(text);
    };
    // Decoded as a stream: a character split between two chunks stays whole.
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", collect("stdout"));
    child.stderr.on("data", collect("stderr"));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(
        () => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"),
        options.killGraceMs ?? KILL_GRACE_MS,
      ).unref();
    }, timeoutMs);
    child.on("error", (error: NodeJS.ErrnoException) => {
      finish(
        error.code === "ENOENT"
          ? { code: NOT_INSTALLED, stdout, stderr: notInstalledMessage(file) }
          : { code: -1, stdout, stderr: `${stderr}${file}: ${error.message}\n` },
      );
    });
    // A program stopped at its time limit is done when it exits, even if a child of its
    // own still holds its output open; otherwise wait for the output to end ('close').
    child.on("exit", () => {
      if (!timedOut) return;
      child.stdout.destroy();
      child.stderr.destroy();
      finish({ code: -1, stdout, stderr: `${stderr}${file}: stopped after ${timeoutMs} ms\n`, timedOut: true });
    });
    child.on("close", (code, signal) => {
      if (code !== null) finish({ code, stdout, stderr });
      else
        finish({
          code: -1,
          stdout,
          stderr: `${stderr}${file}: ${timedOut ? `stopped after ${timeoutMs} ms` : `killed by ${signal}`}\n`,
          ...(timedOut ? { timedOut } : {}),
        });
    });
  });
}
