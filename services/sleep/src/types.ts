// What tally's modules hand each other: the parsed command line, a finished
// load and the report's row limits. The bottom of tally's imports: it imports
// nothing of tally's but the expectations (which import nothing of tally's), so
// args.ts, load.ts, report.ts and tally.ts import down to here and never in a
// circle (issue 28).
import type { Expectation } from "./expect.ts";
import type { LatencyHistogram } from "./latency.ts";

/** How responses are grouped into rows. */
export type GroupBy = { kind: "body" } | { kind: "status" } | { kind: "header"; name: string };

export type Amount = { kind: "requests"; count: number } | { kind: "duration"; ms: number };

export interface TallyOptions {
  url: URL;
  method: string;
  /** Request headers in the order given, names lower-cased. */
  headers: [string, string][];
  amount: Amount;
  concurrency: number;
  by: GroupBy;
  timeoutMs: number;
  expectations: Expectation[];
  json: boolean;
  quiet: boolean;
}

export interface LoadResult {
  /** Requests per key; error rows are keyed `error:<kind>`. With `untracked`, sums to `requests`. */
  counts: Map<string, number>;
  /** Requests whose answer came after MAX_TRACKED_KEYS distinct ones and was not an expected key. */
  untracked: number;
  /** The first error message seen for each error key, to say what "error:other" was. */
  errorDetails: Map<string, string>;
  /** Time to the end of the body, for every request that got a response, in a histogram of fixed size. */
  latency: LatencyHistogram;
  requests: number;
  elapsedMs: number;
}

/** Answer rows shown one by one (most frequent first); the rest become one grouped row. Error rows are always shown. */
export const MAX_ROWS = 20;
export const GROUPED_KEY = "(other answers)";
