// What every command shares: its exit code from its main run (usage errors print the
// usage, any other error one line, never a stack), and the process's own io.
import { UsageError, USAGE_EXIT } from "#common/usage-error.ts";
import { visibleText } from "#common/visible-text.ts";
import type { CommandIo } from "../cluster/plan.ts";
import { ROOT } from "../core/paths.ts";

/**
 * A command's main run on `argv`, to its exit code: usage errors (a bad command line,
 * an unknown lesson) print the message and the usage (exit 2); any other error (a
 * render, rule or checks error, a pod that would not start) prints one line, never
 * a stack (exit 1).
 */
export async function commandExitCode(
  name: string,
  usage: string,
  main: (argv: string[]) => Promise<number>,
  argv: string[],
  err: (text: string) => void,
): Promise<number> {
  try {
    return await main(argv);
  } catch (error) {
    const usageError = error instanceof UsageError;
    // A message may quote what a downloaded overlay holds: its control characters are shown, not acted on.
    err(`${name}: ${visibleText((error as Error).message)}\n${usageError ? `${usage}\n` : ""}`);
    return usageError ? USAGE_EXIT : 1;
  }
}

/** commandExitCode for this process: its arguments, its stderr, its exit code. */
export async function runCommand(
  name: string,
  usage: string,
  main: (argv: string[]) => Promise<number>,
): Promise<void> {
  process.exitCode = await commandExitCode(
    name,
    usage,
    main,
    process.argv.slice(2),
    (text) => void process.stderr.write(text),
  );
}

/** The io of this process: its stdout and stderr, its environment, the repository root. */
export function processIo(): CommandIo {
  // Output piped into `head` and closed early: stop quietly instead of an EPIPE stack.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    env: process.env,
    cwd: ROOT,
  };
}
