// Turns the counts of a finished run into the result object (what --json
// prints and runTally returns) and renders that object as the text report.
import {
  LATENCY_STATS,
  describeOutcome,
  evaluate,
  formatLatency,
  type ExpectationResult,
  type Latencies,
} from "./expect.ts";
import { visibleLine } from "#common/visible-text.ts";
import type { LatencyHistogram } from "./latency.ts";
import { GROUPED_KEY, MAX_ROWS, type GroupBy, type LoadResult, type TallyOptions } from "./types.ts";

export { GROUPED_KEY, MAX_ROWS } from "./types.ts";

export interface Row {
  key: string;
  count: number;
  /** Share of all requests sent, 0 to 100. */
  percent: number;
  error: boolean;
  /** Error rows: the first error message seen, to say what went wrong; the grouped row: how many answers it holds. */
  detail?: string;
  /** Only on the one row that groups the answers beyond MAX_ROWS. */
  grouped?: true;
}

export interface TallyResult {
  url: string;
  method: string;
  requests: number;
  concurrency: number;
  elapsedMs: number;
  rps: number;
  by: string;
  /** Most frequent first; counts sum to `requests`. */
  rows: Row[];
  /** Requests that ended in an error (the sum of the error rows). */
  errors: number;
  /** Over the requests that got a response; null when none did. */
  latencyMs: Latencies;
  expectations: ExpectationResult[];
  pass: boolean;
}

const BAR_WIDTH = 40;
const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

const round = (n: number, digits: number) => Number(n.toFixed(digits));

export function describeGroupBy(by: GroupBy): string {
  return by.kind === "header" ? `header:${by.name}` : by.kind;
}

/** Nearest-rank percentiles (plus min and max) of the latencies, within the histogram's precision (latency.ts), or nulls when none was recorded. */
export function latencyFigures(latency: LatencyHistogram): Latencies {
  return latency.figures();
}

export function summarize(options: TallyOptions, load: LoadResult): TallyResult {
  const { counts, requests } = load;
  const percent = (count: number): number => round((count * 100) / requests, 3);
  const byCount = (a: Row, b: Row): number =>
    b.count - a.count || Number(a.error) - Number(b.error) || a.key.localeCompare(b.key);
  const all: Row[] = [...counts]
    .map(([key, count]) => {
      const error = key.startsWith("error:");
      const detail = load.errorDetails.get(key);
      return { key, count, percent: percent(count), error, ...(detail === undefined ? {} : { detail }) };
    })
    .sort(byCount);
  const answers = all.filter((r) => !r.error);
  const rest = answers.slice(MAX_ROWS);
  const rows = [...answers.slice(0, MAX_ROWS), ...all.filter((r) => r.error)];
  if (rest.length > 0 || load.untracked > 0) {
    const count = rest.reduce((sum, r) => sum + r.count, load.untracked);
    const distinct = load.untracked > 0 ? `${rest.length + 1} or more` : String(rest.length);
    rows.push({
      key: GROUPED_KEY,
      count,
      percent: percent(count),
      error: false,
      detail: `${distinct} other distinct answers`,
      grouped: true,
    });
  }
  rows.sort(byCount);
  const latency = latencyFigures(load.latency);
  // Answers beyond the tracked ones are at least one more distinct answer.
  const distinct = counts.size + (load.untracked > 0 ? 1 : 0);
  const expectations = evaluate(options.expectations, counts, requests, latency, distinct).map((e) => ({
    ...e,
    observed: e.observed === null ? null : round(e.observed, 3),
  }));
  const latencyMs = Object.fromEntries(
    LATENCY_STATS.map((stat) => [stat, latency[stat] === null ? null : round(latency[stat], 3)]),
  ) as Latencies;
  return {
    url: options.url.href,
    method: options.method,
    requests,
    concurrency: options.concurrency,
    elapsedMs: round(load.elapsedMs, 1),
    rps: load.elapsedMs > 0 ? round((requests * 1000) / load.elapsedMs, 1) : 0,
    by: describeGroupBy(options.by),
    rows,
    errors: rows.filter((r) => r.error).reduce((sum, r) => sum + r.count, 0),
    latencyMs,
    expectations,
    pass: expectations.every((e) => e.pass),
  };
}

/** A bar of BAR_WIDTH cells for 100%, in eighths of a cell; any non-zero share shows at least a sliver. */
export function bar(percent: number): string {
  const eighths = Math.max(percent > 0 ? 1 : 0, Math.round((percent / 100) * BAR_WIDTH * 8));
  return "█".repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
}

function countsOf(result: TallyResult): Map<string, number> {
  return new Map(result.rows.map((r) => [r.key, r.count]));
}

/** "FAIL  v1=100  expected 100%, observed 0% (0 of 200)" */
export function expectationLine(e: ExpectationResult, result: TallyResult, exprWidth = 0): string {
  return `${e.pass ? "pass" : "FAIL"}  ${visibleLine(e.expr).padEnd(exprWidth)}  ${describeOutcome(e, countsOf(result), result.requests)}`;
}

/**
 * The text report. Everything in it that came from outside (row keys from bodies
 * and headers, error messages, the URL, the expressions of the command line) is
 * written with its control characters made visible (`\x1b`), so an answer cannot
 * act on the terminal; the JSON object keeps them as they were (JSON escapes them).
 */
export function renderText(result: TallyResult): string {
  const seconds = (result.elapsedMs / 1000).toFixed(2);
  const lines = [
    `${result.requests} requests to ${result.method} ${visibleLine(result.url)}, concurrency ${result.concurrency}: ${seconds}s, ${Math.round(result.rps)} req/s`,
    "",
  ];
  const keys = result.rows.map((r) => visibleLine(r.key));
  const keyWidth = Math.max(...keys.map((k) => Array.from(k).length), 3);
  const countWidth = Math.max(...result.rows.map((r) => String(r.count).length), 1);
  result.rows.forEach((row, i) => {
    const key = keys[i]! + " ".repeat(keyWidth - Array.from(keys[i]!).length);
    const line = `  ${key}  ${String(row.count).padStart(countWidth)}  ${row.percent.toFixed(1).padStart(5)}%  ${bar(row.percent)}`;
    lines.push(
      row.detail === undefined
        ? line
        : `${line.padEnd(keyWidth + countWidth + 14 + BAR_WIDTH)}  ${visibleLine(row.detail)}`,
    );
  });
  const { latencyMs } = result;
  lines.push(
    "",
    latencyMs.min === null
      ? "latency  no responses"
      : `latency  ${LATENCY_STATS.map((stat) => `${stat} ${formatLatency(latencyMs[stat]!)}`).join("  ")}`,
  );
  if (result.expectations.length > 0) {
    const exprWidth = Math.max(...result.expectations.map((e) => visibleLine(e.expr).length));
    lines.push("", ...result.expectations.map((e) => expectationLine(e, result, exprWidth)));
  }
  return `${lines.join("\n")}\n`;
}
