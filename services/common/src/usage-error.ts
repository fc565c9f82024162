// One UsageError for every command of the project: tally (services/sleep) and
// the learner tooling (npm run demo, cluster, lesson, verify). A command prints
// its message, points at its usage, and exits 2.

/** A bad command line: the command says what is wrong in one line and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The exit code of a usage error, for every command. */
export const USAGE_EXIT = 2;

/**
 * node:util parseArgs's error as one clean line: its messages carry advice for another
 * tool, with unbalanced quotes (`as in '-- "--all"`); keep what is wrong.
 */
export function parseArgsUsageError(error: unknown): UsageError {
  const err = error as Error & { code?: string };
  const option = /'([^']+)'/.exec(err.message)?.[1] ?? "";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown option ${option}`);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new UsageError(
        /argument missing|ambiguous/.test(err.message)
          ? `option ${option} needs a value`
          : `option ${option} takes no value`,
      );
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`unexpected argument ${option}`);
    default:
      return new UsageError(err.message.split("\n")[0]!);
  }
}
