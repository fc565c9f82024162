// tally as a library (runTally) and as a command (runCli); main.ts only wires
// runCli to the process.
import { UsageError, USAGE_EXIT } from "#common/usage-error.ts";
import { terminalJson, visibleLine } from "#common/visible-text.ts";
import { type Command, HELP, parseCommand } from "./args.ts";
import type { TallyOptions } from "./types.ts";
import { runLoad } from "./load.ts";
import { NO_PROGRESS, startProgress, type ProgressStream } from "./progress.ts";
import { expectationLine, renderText, summarize, type TallyResult } from "./report.ts";

export { parseCommand } from "./args.ts";
export type { TallyOptions } from "./types.ts";
export { UsageError } from "#common/usage-error.ts";
export type { TallyResult } from "./report.ts";

export const EXIT = { ok: 0, expectationFailed: 1, usage: USAGE_EXIT } as const;

export interface CliStreams {
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
}

/** Sends the requests described by `options` and returns the counts, latencies and expectation results. */
export async function runTally(options: TallyOptions, onRequestDone?: () => void): Promise<TallyResult> {
  return summarize(options, await runLoad(options, onRequestDone));
}

/** Runs the command line `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], streams: CliStreams): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // The message may quote the command line: shown, never acted on by the terminal.
    streams.stderr.write(`tally: ${visibleLine(err.message)} (see tally --help)\n`);
    return EXIT.usage;
  }
  if (command.kind === "help") {
    streams.stdout.write(HELP);
    return EXIT.ok;
  }
  const { options } = command;
  const progress = options.quiet ? NO_PROGRESS : startProgress(streams.stderr, options.amount);
  let result: TallyResult;
  try {
    result = await runTally(options, progress.tick);
  } finally {
    progress.stop();
  }
  if (options.json) streams.stdout.write(`${terminalJson(result, 2)}\n`);
  else if (!options.quiet) streams.stdout.write(renderText(result));
  if (options.quiet) {
    for (const e of result.expectations.filter((e) => !e.pass))
      streams.stderr.write(`tally: ${expectationLine(e, result)}\n`);
  }
  return result.pass ? EXIT.ok : EXIT.expectationFailed;
}
