// One way to run a check, wherever the mesh is: the mesh preview on this
// machine or a real cluster. A CheckRunner says how tally runs there and how
// the pods' request logs are read; runCheck does the rest the same way for both.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { RequestLogLine } from "../core/request-log.ts";
import { formatCommand } from "../core/shell.ts";
import { countMirroredCopies, mirroredNeeded, tallyArgs, type Check } from "./checks.ts";
import type { ProgramRun } from "../core/run.ts";

export interface CheckRunner {
  /** The command line a learner would type to run tally with these arguments (shown before it runs). */
  command(args: string[]): string[];
  /** Runs tally with these arguments (the URL, last, as the sleep pod calls it). */
  tally(args: string[]): Promise<ProgramRun>;
  /** The command line that reads a Deployment's request logs, shown for mirror checks. */
  logsCommand(deployment: string): string[];
  /** The request-log lines of every pod of a Deployment; throws an Error whose message says why it cannot. */
  requestLogs(deployment: string): Promise<RequestLogLine[]>;
  /** What decided the outcome (the preview knows each rule its proxies applied); called once before each tally run and once after. */
  explain?(): string;
  /** For a run that failed: one line per failing expectation of tally's report, naming the rules behind what it observed. */
  explainFailures?(report: string): string;
}

export interface CheckResult {
  name: string;
  passed: boolean;
  /** How many times the check ran (more than once only when retried until it converged). */
  tries: number;
  /** Why it failed, when tally's own output does not say (mirror checks, tally crashes). */
  detail?: string;
}

export interface RunCheckOptions {
  write?: (text: string) => void;
  /** How long mirrored copies (fire and forget) may take to show up in the logs. */
  mirrorWaitMs?: number;
  /**
   * Retry a failing check until it passes `passes` times in a row or `deadlineMs`
   * has passed (rules take a moment to reach every sidecar), as Istio's own
   * integration tests do. Unset: one try.
   */
  converge?: { passes: number; deadlineMs: number };
}

export const MIRROR_WAIT_MS = 5_000;
const MIRROR_POLL_MS = 100;

/** Exit codes 0 and 1 are tally's verdicts; anything else means it could not judge (usage, crash, not found). */
export function describeTallyExit(run: ProgramRun): string | undefined {
  if (run.code === 0 || run.code === 1) return undefined;
  return `tally exited with code ${run.code}: ${run.stderr.trim()}`;
}

async function mirroredCopies(
  check: Check,
  runner: CheckRunner,
  runId: string,
  waitMs: number,
  write: (t: string) => void,
): Promise<string | undefined> {
  const { deployment } = check.mirroredTo!;
  const needed = mirroredNeeded(check);
  const deadline = Date.now() + waitMs;
  let seen = { copies: 0, shadowHost: 0 };
  write(`${formatCommand(runner.logsCommand(deployment))}\n`);
  for (;;) {
    try {
      seen = countMirroredCopies(await runner.requestLogs(deployment), runId);
    } catch (error) {
      const line = `cannot read ${deployment}'s logs: ${(error as Error).message}`;
      write(`${line}\n`);
      return line;
    }
    if (seen.copies >= needed || Date.now() >= deadline) break;
    await sleep(MIRROR_POLL_MS);
  }
  const hosts =
    seen.copies === 0
      ? ""
      : seen.shadowHost === seen.copies
        ? ", all with Host *-shadow"
        : seen.shadowHost === 0
          ? ", Host unchanged"
          : `, ${seen.shadowHost} with Host *-shadow`;
  const line = `${deployment} logged ${seen.copies} mirrored copies of this run's requests${hosts}; at least ${needed} expected`;
  write(`${line}\n`);
  return seen.copies >= needed ? undefined : line;
}

async function runOnce(
  check: Check,
  runner: CheckRunner,
  options: RunCheckOptions,
): Promise<{ passed: boolean; detail?: string }> {
  const write = options.write ?? (() => undefined);
  const runId = check.mirroredTo ? `lesson-check-${randomUUID()}` : undefined;
  const args = tallyArgs(check, runId);
  write(`${formatCommand(runner.command(args))}\n`);
  runner.explain?.();
  const run = await runner.tally(args);
  if (run.stdout) write(run.stdout.replace(/\n?$/, "\n"));
  const explanation = runner.explain?.();
  if (explanation) write(`\n${explanation}`);
  if (run.code === 1) write(runner.explainFailures?.(run.stdout) ?? "");
  if (run.code !== 0 && run.stderr.trim()) write(run.stderr.replace(/\n?$/, "\n"));
  let detail = describeTallyExit(run);
  let passed = run.code === 0;
  if (runId && detail === undefined) {
    const missing = await mirroredCopies(check, runner, runId, options.mirrorWaitMs ?? MIRROR_WAIT_MS, write);
    if (missing) {
      passed = false;
      detail = missing;
    }
  }
  return detail === undefined ? { passed } : { passed, detail };
}

/** Runs one check, writing the command, tally's report and the verdict. */
export async function runCheck(check: Check, runner: CheckRunner, options: RunCheckOptions = {}): Promise<CheckResult> {
  const write = options.write ?? (() => undefined);
  const converge = options.converge;
  const deadline = converge ? Date.now() + converge.deadlineMs : 0;
  let tries = 0;
  let streak = 0;
  let last: { passed: boolean; detail?: string };
  for (;;) {
    tries++;
    last = await runOnce(check, runner, options);
    streak = last.passed ? streak + 1 : 0;
    if (!converge || streak >= converge.passes || (streak === 0 && Date.now() >= deadline)) break;
    write(
      last.passed
        ? `(passed ${streak} of ${converge.passes} times in a row; again)\n`
        : "(failed; trying again: rules take a moment to reach every sidecar)\n",
    );
  }
  const passed = last.passed && (!converge || streak >= converge.passes);
  const how = converge && tries > 1 ? ` (${tries} tries)` : "";
  write(`${passed ? "PASS" : "FAIL"}  ${check.name}${how}\n`);
  const result: CheckResult = { name: check.name, passed, tries };
  if (!passed && last.detail) result.detail = last.detail;
  return result;
}
