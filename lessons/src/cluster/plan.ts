// A command plan: the exact command lines the cluster tooling runs, in order.
// The same list is printed by --dry-run and run for real, so what is printed is
// what runs. Each step says how long it may take and how its result is judged;
// the first step that fails stops the plan with one line and an exit code.
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { USAGE_EXIT } from "#common/usage-error.ts";
import { formatCommand, shellQuote } from "../core/shell.ts";
import { NOT_INSTALLED, runProgram, type ProgramRun } from "../core/run.ts";
import { findOnPath, isTool, missingToolMessage, type Tool } from "./tools.ts";

/** Exit codes of `npm run cluster`, `npm run lesson` and `npm run verify`. */
export const EXIT = {
  ok: 0,
  /** a check failed, or a step (build, install, apply) failed */
  failed: 1,
  /** usage error: bad option or unknown lesson */
  usage: USAGE_EXIT,
  /** no cluster: kubectl has no context, or the API server does not answer */
  noCluster: 3,
  /** the cluster answers but is not ready for the lesson: namespace, pods, sidecars or rules */
  notReady: 4,
  /** a program the command needs is not installed */
  missingTool: 5,
} as const;

/** Ends a plan: the message is one line (or a few, for several problems), printed as `<command>: <message>`. */
export class StepError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface Step {
  argv: string[];
  /** What the step waits for or checks, printed after the command as a shell comment. */
  note?: string;
  /** Stops the program if it has not finished by then. */
  timeoutMs: number;
  /** A query whose output is read, not shown: it is not echoed on a real run (only --dry-run prints it). */
  quiet?: boolean;
  /** Decided when the step is reached: a reason to skip it, or undefined to run it. */
  skip?: () => string | undefined;
  /** Judges the finished run; throws a StepError when it failed. Default: a non-zero exit fails with exit code 1. */
  judge?: (run: ProgramRun) => void;
  /** Saves stdout and stderr to this file (relative to the plan's cwd) instead (diagnostics); a failure is noted in the file and does not stop the plan. */
  outFile?: string;
}

export interface PlanIo {
  dryRun: boolean;
  write: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Where the commands run (paths in them are relative to it): the repository root. */
  cwd: string;
}

/** A step as printed: the command, copy-paste safe, and its note as a comment. */
export function describeStep(step: Step): string {
  const redirect = step.outFile ? ` > ${shellQuote(step.outFile)} 2>&1` : "";
  return `${formatCommand(step.argv)}${redirect}${step.note ? `   # ${step.note}` : ""}`;
}

/** The last line of a program's stderr that says something (kubectl's memcache.go noise dropped), else of its stdout. */
export function lastError(run: ProgramRun): string {
  const meaningful = (text: string) =>
    text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !/^[EWI]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.]+:\d+\]/.test(l));
  return meaningful(run.stderr).at(-1) ?? meaningful(run.stdout).at(-1) ?? `exit code ${run.code}`;
}

/** "`docker build -f ...` failed (exit code 1): <kubectl's or docker's last words>". */
export function failedMessage(argv: readonly string[], run: ProgramRun): string {
  const shown = argv.length > 4 ? `${argv.slice(0, 4).join(" ")} ...` : argv.join(" ");
  return `\`${shown}\` failed (exit code ${run.code}): ${lastError(run)}`;
}

function defaultJudge(step: Step, run: ProgramRun): void {
  if (run.code !== 0) throw new StepError(failedMessage(step.argv, run), EXIT.failed);
}

/** Runs one step (or prints it on a dry run); returns its run, or undefined when it was printed or skipped. */
export async function runStep(step: Step, io: PlanIo): Promise<ProgramRun | undefined> {
  if (io.dryRun) {
    io.write(`${describeStep(step)}\n`);
    return undefined;
  }
  const skipped = step.skip?.();
  if (skipped !== undefined) {
    io.write(`${describeStep(step)}\n(skipped: ${skipped})\n`);
    return undefined;
  }
  if (!step.quiet) io.write(`${describeStep(step)}\n`);
  const stream = !step.quiet && !step.outFile;
  const run = await runProgram(step.argv[0]!, step.argv.slice(1), step.timeoutMs, {
    env: io.env,
    cwd: io.cwd,
    ...(stream ? { onOutput: io.write } : {}),
  });
  const tool = step.argv[0]!;
  if (run.code === NOT_INSTALLED && isTool(tool) && /not installed or not on PATH/.test(run.stderr)) {
    if (step.outFile) {
      await writeFile(resolve(io.cwd, step.outFile), `${missingToolMessage(tool)}\n`);
      return run;
    }
    throw new StepError(missingToolMessage(tool), EXIT.missingTool);
  }
  if (step.outFile) {
    await writeFile(
      resolve(io.cwd, step.outFile),
      `${run.stdout}${run.stderr}${run.code === 0 ? "" : `\n(exit code ${run.code})\n`}`,
    );
    return run;
  }
  (step.judge ?? ((r: ProgramRun) => defaultJudge(step, r)))(run);
  return run;
}

/** Runs the steps in order (or prints them all on a dry run); the first failure throws its StepError. */
export async function runSteps(steps: readonly Step[], io: PlanIo): Promise<void> {
  for (const step of steps) await runStep(step, io);
}

/** Where a command writes and what it runs with: process.stdout and friends, or a test's buffers. */
export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Runs a command body; a StepError becomes `<name>: <message>` on stderr and its exit code. */
export async function withExitCodes(name: string, io: CommandIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    io.err(`${name}: ${error.message}\n`);
    return error.exitCode;
  }
}

/** One line for each of these tools that is not on PATH, saying how to get it. */
export function missingTools(tools: readonly Tool[], env: NodeJS.ProcessEnv): string[] {
  return tools.filter((tool) => !findOnPath(tool, env)).map(missingToolMessage);
}

/** Stops with exit code 5 when kubectl is missing: it renders the overlays, before any cluster command. */
export function requireKubectl(env: NodeJS.ProcessEnv): void {
  const missing = missingTools(["kubectl"], env);
  if (missing.length > 0) throw new StepError(missing.join("\n"), EXIT.missingTool);
}
