// Runs a program to completion and collects its output: tally for the preview,
// kubectl for verify. Never rejects: a program that cannot start is reported
// with code 127 and the reason on stderr.
import { execFile } from "node:child_process";

export interface ProgramRun {
  code: number;
  stdout: string;
  stderr: string;
}

const MAX_OUTPUT = 64 * 1024 * 1024;

export function runProgram(file: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<ProgramRun> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: MAX_OUTPUT, ...(env ? { env } : {}) }, (error, stdout, stderr) => {
      if (!error) return resolve({ code: 0, stdout, stderr });
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return resolve({ code: 127, stdout, stderr: `${file}: not installed or not on PATH` });
      if (typeof error.code === "number") return resolve({ code: error.code, stdout, stderr });
      const reason = error.killed ? `stopped after ${timeoutMs} ms` : error.message;
      resolve({ code: -1, stdout, stderr: `${stderr}${file}: ${reason}\n` });
    });
  });
}
