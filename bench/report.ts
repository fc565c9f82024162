// Pure reporting: medians, ratios, targets and the markdown of bench/RESULTS.md.
import type { WrkResult } from "./wrk.ts";

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The ratio of two series measured in turn (interleaved rounds, alternating
 * cold starts): the median of the pairwise ratios, so that a slow minute of
 * the shared machine hits both sides.
 */
export function medianRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  return median(Array.from({ length: n }, (_, i) => a[i]! / b[i]!));
}

/** a's req/s over b's, round by round (the spread behind roundRatio). */
export function roundRatios(a: readonly WrkResult[], b: readonly WrkResult[]): number[] {
  const n = Math.min(a.length, b.length);
  return Array.from({ length: n }, (_, i) => a[i]!.reqPerSec / b[i]!.reqPerSec);
}

/** medianRatio of two loads' req/s, round by round. */
export function roundRatio(a: readonly WrkResult[], b: readonly WrkResult[]): number {
  return medianRatio(
    a.map((r) => r.reqPerSec),
    b.map((r) => r.reqPerSec),
  );
}

export interface Load {
  name: string;
  what: string;
  url: string;
  rounds: WrkResult[];
  /** peak resident memory of the server's process tree, kB: all of it, and the anonymous part (not the mapped node/python binaries) */
  peakRssKb: number;
  peakAnonKb: number;
  /** CPU time the server's process tree used during the measured rounds, ms */
  cpuMs: number;
}

/** CPU time per request: unlike req/s, it hardly moves when other processes compete for the cores. */
export function cpuUsPerRequest(load: Load): number {
  const requests = load.rounds.reduce((sum, r) => sum + r.requests, 0);
  return requests === 0 ? Number.NaN : (load.cpuMs * 1000) / requests;
}

export interface Target {
  what: string;
  measured: number;
  /** the measured value is good when it is >= bound (or <= bound when atMost) */
  bound: number;
  atMost: boolean;
  format: (value: number) => string;
}

export function targetMet(target: Target): boolean {
  return target.atMost ? target.measured <= target.bound : target.measured >= target.bound;
}

export const fmtRatio = (value: number): string => `${value.toFixed(2)}×`;
export const fmtMs = (value: number): string =>
  value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 0)} ms`;
export const fmtMb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
const fmtRate = (value: number): string => Math.round(value).toLocaleString("en-US");

export function loadsTable(loads: readonly Load[]): string {
  const rows = loads.map((load) => {
    const rates = load.rounds.map((r) => r.reqPerSec);
    const errors = load.rounds.reduce((sum, r) => sum + r.errors, 0);
    const memory = load.peakRssKb > 0 ? `${fmtMb(load.peakRssKb)} | ${fmtMb(load.peakAnonKb)}` : "— | —";
    return `| ${load.name} | ${load.what} | ${fmtRate(median(rates))} | ${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))} | ${fmtMs(median(load.rounds.map((r) => r.p50Ms)))} | ${fmtMs(median(load.rounds.map((r) => r.p99Ms)))} | ${Math.round(cpuUsPerRequest(load))} µs | ${memory} | ${errors} |`;
  });
  return [
    "| load | what | req/s (median) | req/s (min–max) | p50 | p99 | server CPU per request | peak RSS | of which anonymous | errors |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...rows,
  ].join("\n");
}

export function targetsTable(targets: readonly Target[]): string {
  const rows = targets.map((t) => {
    const met = targetMet(t);
    const gap = met ? "" : ` (gap: ${t.format(Math.abs(t.bound - t.measured))})`;
    return `| ${t.what} | ${t.format(t.measured)} | ${t.atMost ? "<" : "≥"} ${t.format(t.bound)} | ${met ? "met" : `**not met**${gap}`} |`;
  });
  return ["| measure | measured | target | verdict |", "|---|--:|--:|---|", ...rows].join("\n");
}

export function roundsTable(loads: readonly Load[]): string {
  const count = Math.max(...loads.map((l) => l.rounds.length));
  const header = `| load | ${Array.from({ length: count }, (_, i) => `round ${i + 1}`).join(" | ")} |`;
  const rule = `|---|${"--:|".repeat(count)}`;
  const rows = loads.map((l) => `| ${l.name} | ${l.rounds.map((r) => fmtRate(r.reqPerSec)).join(" | ")} |`);
  return [header, rule, ...rows].join("\n");
}

export const NOTES_MARKER = "<!-- notes: written by hand; npm run bench keeps everything below this line -->";

/** The generated report followed by the hand-written notes of the previous file, if any. */
export function withNotes(generated: string, previous: string | undefined): string {
  const at = previous?.indexOf(NOTES_MARKER) ?? -1;
  const notes = previous !== undefined && at >= 0 ? previous.slice(at) : `${NOTES_MARKER}\n`;
  return `${generated.trimEnd()}\n\n${notes}`;
}
