// Command-line options shared by `npm run cluster`, `npm run lesson` and
// `npm run verify`: their limits, defaults and parsing. A bad value is a
// UsageError (exit 2) naming the option and the accepted range.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { checkDuration, checkWholeNumber, rangeText, type Range } from "#common/bounded.ts";
import { DURATION_FORM } from "#common/duration.ts";
import { UsageError } from "#common/usage-error.ts";

export interface Limit extends Range {
  default: number;
}

const S = 1000;
const M = 60 * S;

/** Every limit of the cluster tooling: durations in milliseconds, counts as numbers. */
export const LIMITS = {
  /** --wait: how long kubectl rollout status waits for each Deployment, and Istio's install for each component. */
  wait: { min: 1 * S, max: 60 * M, default: 5 * M },
  /** --request-timeout: how long the API server may take to answer one query. */
  requestTimeout: { min: 1 * S, max: 5 * M, default: 10 * S },
  /** --passes: consecutive passes a check needs (Istio's integration tests use 3). */
  passes: { min: 1, max: 10, default: 3 },
  /** --within: how long a failing check is retried (0: not retried). */
  within: { min: 0, max: 30 * M, default: 60 * S },
  /** --build-timeout: how long each docker build may take. */
  buildTimeout: { min: 1 * M, max: 120 * M, default: 20 * M },
} as const satisfies Record<string, Limit>;

export function durationOption(flag: string, value: string | undefined, limit: Limit): number {
  if (value === undefined) return limit.default;
  const ms = checkDuration(value, limit);
  if (!ms.ok) throw new UsageError(`--${flag} "${value}": expected ${DURATION_FORM}, ${rangeText(limit, true)}`);
  return ms.value;
}

export function countOption(flag: string, value: string | undefined, limit: Limit): number {
  if (value === undefined) return limit.default;
  const n = checkWholeNumber(value, limit);
  if (!n.ok) throw new UsageError(`--${flag} "${value}": expected a whole number ${rangeText(limit)}`);
  return n.value;
}

/** A kubeconfig context name: anything but empty, whitespace or an option. */
export function contextOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[^\s-][^\s]*$/.test(value)) throw new UsageError(`--context "${value}" is not a context name`);
  return value;
}

/** node:util parseArgs, with its errors as usage errors. */
export function parseCommandLine<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The options the three commands share. */
export const COMMON_OPTIONS = {
  "dry-run": { type: "boolean" },
  context: { type: "string" },
  wait: { type: "string" },
  "request-timeout": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;
