// One UsageError for every command of the project: tally (services/sleep) and
// the learner tooling (npm run demo, cluster, lesson, verify). A command prints
// its message, points at its usage, and exits 2.

/** A bad command line: the command says what is wrong in one line and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The exit code of a usage error, for every command. */
export const USAGE_EXIT = 2;
