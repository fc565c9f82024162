// Expectations: what a lesson's outcome should be, written on the command line
// (`--expect v1=70±10`, `--expect-latency p99<=200ms`) and checked against a
// finished run. Parsing and evaluation are pure so the lessons tooling and the
// tests can use them without sending a request.
import { DURATION_FORM, formatDuration, parseDuration } from "#common/duration.ts";

export type Comparison = "=" | ">=" | "<=";

/** `KEY=PCT`, `KEY=PCT±TOL`, `KEY>=PCT`, `KEY<=PCT`: a key's share of all requests sent, in percent. */
export interface ShareExpectation {
  kind: "share";
  expr: string;
  key: string;
  op: Comparison;
  expected: number;
  tolerance: number;
}

export const LATENCY_STATS = ["min", "p50", "p90", "p99", "max"] as const;
export type LatencyStat = (typeof LATENCY_STATS)[number];

/** `p99<=200ms`, `min>=1s`: a latency figure of the responses, in milliseconds. */
export interface LatencyExpectation {
  kind: "latency";
  expr: string;
  key: LatencyStat;
  op: Exclude<Comparison, "=">;
  expected: number;
  tolerance: 0;
}

/** `=1`, `>=3`, `<=2` (a bare number means =): how many distinct answers (rows, errors included) the run saw. */
export interface DistinctExpectation {
  kind: "distinct";
  expr: string;
  key: "distinct";
  op: Comparison;
  expected: number;
  tolerance: 0;
}

export type Expectation = ShareExpectation | LatencyExpectation | DistinctExpectation;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export type Latencies = Record<LatencyStat, number | null>;

export interface ExpectationResult {
  kind: Expectation["kind"];
  expr: string;
  key: string;
  op: Comparison;
  expected: number;
  tolerance: number;
  /** Percent of requests for a share, milliseconds for a latency, a count of distinct answers; null when there was no response to measure. */
  observed: number | null;
  pass: boolean;
}

const SHARE_FORM = "KEY=PCT, KEY=PCT±TOL (or +-TOL), KEY>=PCT or KEY<=PCT, with PCT and TOL from 0 to 100";
const LATENCY_FORM = `min|p50|p90|p99|max, then >= or <=, then ${DURATION_FORM}`;
const DISTINCT_FORM = "N, =N, >=N or <=N, with N a whole number from 1 to 1000000";

const NUMBER = String.raw`(\d+(?:\.\d+)?|\.\d+)`;
// The key is lazy and the value is anchored, so a key may itself contain `=`.
const SHARE = new RegExp(String.raw`^(.+?)(>=|<=|=)${NUMBER}(?:(?:±|\+-)${NUMBER})?$`);
// A complete expectation followed by a comma or semicolon inside a key: a list written as one.
// A key may hold commas otherwise (a body "Hello, world", or header values joined with ", ").
const LIST = new RegExp(String.raw`(?:>=|<=|=)${NUMBER}(?:(?:±|\+-)${NUMBER})?\s*[,;]`);
const LATENCY = /^(min|p50|p90|p99|max)(>=|<=)(.+)$/;

// Percentages are computed with floating point (1 of 3 is 33.333...%), so
// comparisons allow for rounding far below anything a person can write.
const EPSILON = 1e-9;

export function parseShareExpectation(expr: string): Parsed<ShareExpectation> {
  const match = SHARE.exec(expr);
  if (!match) return { ok: false, error: `--expect "${expr}" is not ${SHARE_FORM}` };
  const [, key, op, pct, tol] = match as unknown as [string, string, Comparison, string, string | undefined];
  // `v2==100` would otherwise expect the key "v2=", which no answer has.
  if (/[=<>]$/.test(key))
    return {
      ok: false,
      error: `--expect "${expr}": the key "${key}" ends in "${key.at(-1)}"; write one operator: ${SHARE_FORM}`,
    };
  // `v2=100,v1=0` would otherwise expect the key "v2=100,v1" at 0% and pass against a pure-v1 server.
  if (LIST.test(key)) {
    const parts = expr.split(/\s*[,;]\s*/).filter((part) => part !== "");
    return {
      ok: false,
      error: `--expect "${expr}" holds several expectations; give one per --expect: ${parts.map((part) => `--expect '${part}'`).join(" ")}`,
    };
  }
  if (key.trim() !== key)
    return {
      ok: false,
      error: `--expect "${expr}": the key "${key}" has spaces around it; write KEY=PCT without spaces, e.g. v2=100`,
    };
  const expected = Number(pct);
  const tolerance = tol === undefined ? 0 : Number(tol);
  if (expected > 100 || tolerance > 100) {
    return { ok: false, error: `--expect "${expr}": percentages go from 0 to 100` };
  }
  if (tol !== undefined && op !== "=") {
    return { ok: false, error: `--expect "${expr}": a tolerance (±) only goes with =` };
  }
  return { ok: true, value: { kind: "share", expr, key, op, expected, tolerance } };
}

export function parseLatencyExpectation(expr: string): Parsed<LatencyExpectation> {
  const match = LATENCY.exec(expr);
  const ms = match ? parseDuration(match[3]!) : undefined;
  if (!match || ms === undefined) {
    return { ok: false, error: `--expect-latency "${expr}" is not ${LATENCY_FORM}` };
  }
  const value: LatencyExpectation = {
    kind: "latency",
    expr,
    key: match[1] as LatencyStat,
    op: match[2] as LatencyExpectation["op"],
    expected: ms,
    tolerance: 0,
  };
  return { ok: true, value };
}

export function parseDistinctExpectation(expr: string): Parsed<DistinctExpectation> {
  const match = /^(>=|<=|=)?(\d{1,7})$/.exec(expr.trim());
  const expected = match ? Number(match[2]) : NaN;
  if (!match || expected < 1 || expected > 1_000_000)
    return { ok: false, error: `--expect-distinct "${expr}" is not ${DISTINCT_FORM}` };
  return {
    ok: true,
    value: { kind: "distinct", expr, key: "distinct", op: (match[1] ?? "=") as Comparison, expected, tolerance: 0 },
  };
}

function holds(observed: number, op: Comparison, expected: number, tolerance: number): boolean {
  switch (op) {
    case "=":
      return Math.abs(observed - expected) <= tolerance + EPSILON;
    case ">=":
      return observed >= expected - EPSILON;
    case "<=":
      return observed <= expected + EPSILON;
  }
}

/** Checks each expectation against the counts per key and the latency figures of a run. */
export function evaluate(
  expectations: readonly Expectation[],
  counts: ReadonlyMap<string, number>,
  requests: number,
  latency: Latencies,
  /** Distinct answers seen, errors included (by default the keys of `counts`). */
  distinct: number = counts.size,
): ExpectationResult[] {
  return expectations.map((e) => {
    const observed =
      e.kind === "share"
        ? requests === 0
          ? 0
          : ((counts.get(e.key) ?? 0) * 100) / requests
        : e.kind === "distinct"
          ? distinct
          : latency[e.key];
    const pass = observed !== null && holds(observed, e.op, e.expected, e.tolerance);
    return {
      kind: e.kind,
      expr: e.expr,
      key: e.key,
      op: e.op,
      expected: e.expected,
      tolerance: e.tolerance,
      observed,
      pass,
    };
  });
}

export function formatPercent(pct: number): string {
  return `${Number(pct.toFixed(1))}%`;
}

/** Milliseconds as a person reads a latency: 0.4ms, 12ms, 1.25s. */
export function formatLatency(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return formatDuration(Math.round(ms));
}

/** "expected 70% ±10, observed 52% (104 of 200)": what the expectation wanted and what the run saw. */
export function describeOutcome(
  result: ExpectationResult,
  counts: ReadonlyMap<string, number>,
  requests: number,
): string {
  const wanted = { "=": "", ">=": "at least ", "<=": "at most " }[result.op];
  if (result.kind === "share") {
    const tolerance = result.tolerance > 0 ? ` ±${result.tolerance}` : "";
    const observed = `${formatPercent(result.observed ?? 0)} (${counts.get(result.key) ?? 0} of ${requests})`;
    return `expected ${wanted}${result.expected}%${tolerance}, observed ${observed}`;
  }
  if (result.kind === "distinct")
    return `expected ${wanted}${result.expected} distinct answers, observed ${result.observed}`;
  const observed = result.observed === null ? "no response to measure" : formatLatency(result.observed);
  return `expected ${result.key} ${wanted}${formatDuration(result.expected)}, observed ${observed}`;
}
