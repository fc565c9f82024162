// Runs a program to completion and collects its output: tally for the preview,
// kubectl, kind, istioctl and docker for the cluster tooling. Never rejects: a
// program that cannot start is reported with code 127 and the reason on stderr.
import { execFile } from "node:child_process";

export interface ProgramRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Receives stdout and stderr as they arrive (a long build or install shows its progress). */
  onOutput?: (text: string) => void;
}

/** Exit code of a program that is not installed (as a shell reports it). */
export const NOT_INSTALLED = 127;

const MAX_OUTPUT = 64 * 1024 * 1024;

export function runProgram(file: string, args: string[], timeoutMs: number, options: RunOptions = {}): Promise<ProgramRun> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: MAX_OUTPUT, ...(options.env ? { env: options.env } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return resolve({ code: NOT_INSTALLED, stdout, stderr: `${file}: not installed or not on PATH` });
        if (typeof error.code === "number") return resolve({ code: error.code, stdout, stderr });
        const reason = error.killed ? `stopped after ${timeoutMs} ms` : error.message;
        resolve({ code: -1, stdout, stderr: `${stderr}${file}: ${reason}\n` });
      },
    );
    if (options.onOutput) {
      const forward = (chunk: string | Buffer) => options.onOutput!(String(chunk));
      child.stdout?.on("data", forward);
      child.stderr?.on("data", forward);
    }
  });
}
