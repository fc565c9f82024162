// One way to read a bounded number or duration, for every setting and option of
// the project: flaskapp's environment, tally's options, the cluster tooling's
// options, checks.yaml and the mesh preview's rules. Each caller words its own
// error (an environment variable, an option, a field), from what is wrong here:
// the form, or the range.
import { formatDuration, parseDuration } from "./duration.ts";

/** Inclusive limits. */
export interface Range {
  readonly min: number;
  readonly max: number;
}

export type Checked = { ok: true; value: number } | { ok: false; problem: "form" | "range" };

/** Decimal digits only ("10"; no sign, point, exponent or space), as a number; undefined for anything else or for a value above 2^53 - 1. */
export function parseWholeNumber(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function within(n: number | undefined, range: Range): Checked {
  if (n === undefined) return { ok: false, problem: "form" };
  return n >= range.min && n <= range.max ? { ok: true, value: n } : { ok: false, problem: "range" };
}

/** A whole number written in text (an option, a variable), within `range`. */
export function checkWholeNumber(text: string, range: Range): Checked {
  return within(parseWholeNumber(text), range);
}

/** A duration written in text (`500ms`, `1.5s`, `1m`: see parseDuration), in milliseconds within `range`. */
export function checkDuration(text: string, range: Range): Checked {
  return within(parseDuration(text), range);
}

/** A typed value (from YAML or JSON) that must be an integer within `range`. */
export function isIntegerIn(value: unknown, range: Range): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= range.min && value <= range.max;
}

/** `from 1 to 10`, or for durations in milliseconds `from 1ms to 1m`. */
export function rangeText(range: Range, durations = false): string {
  const show = durations ? formatDuration : String;
  return `from ${show(range.min)} to ${show(range.max)}`;
}
