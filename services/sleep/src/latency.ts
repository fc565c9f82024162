// The latencies of a run, in a histogram of fixed size (HdrHistogram, through
// hdr-histogram-js) instead of a list of every one: a run of an hour at -c 1000
// takes the same memory as a run of ten requests (issue 29: `tally -d 240s -c 50`
// kept every latency and was OOM-killed at 256Mi).
//
// Precision (README, "Latency"): latencies are recorded in whole microseconds.
// min and max are exact to the microsecond. p50, p90 and p99 are the nearest-rank
// percentiles as before (the value of the ceil(p/100 * n)-th fastest response),
// read from the histogram: below 2.048 ms exact to the microsecond, above it
// never below the exact value and at most 1/1024 (under 0.1%) above it, and
// never above max.
//
// Only the histogram's own modules are imported (not the package's index, which
// brings its WebAssembly build, log encoding and compression into the bundle).
import Float64HistogramModule from "hdr-histogram-js/dist/Float64Histogram.js";
import type { Latencies } from "./expect.ts";

// A CommonJS module whose class is its `default` property: Node (and esbuild for
// a "type": "module" package) give the whole module.exports as the default
// import, vitest's loader gives the class itself.
type HistogramClass = typeof Float64HistogramModule.default;
const imported = Float64HistogramModule as unknown as HistogramClass | { default: HistogramClass };
const Float64Histogram: HistogramClass = typeof imported === "function" ? imported : imported.default;

/** The histogram's range and resolution: 1 µs to 1 hour, 3 significant decimal digits. */
export const LATENCY_HISTOGRAM = {
  lowestUs: 1,
  /** Longer than any latency tally can measure (--timeout is at most 10 minutes); a longer one is recorded as this. */
  highestUs: 3_600_000_000,
  significantDigits: 3,
} as const;

/** The most a percentile read from the histogram exceeds the exact one, relative to it (3 significant digits: 2048 sub-buckets, half of them per octave). */
export const LATENCY_RELATIVE_PRECISION = 1 / 1024;

export class LatencyHistogram {
  // Float64 counts: exact up to 2^53 per bucket, so no run can overflow one.
  readonly #histogram = new Float64Histogram(
    LATENCY_HISTOGRAM.lowestUs,
    LATENCY_HISTOGRAM.highestUs,
    LATENCY_HISTOGRAM.significantDigits,
  );

  /** Records one latency, in milliseconds (as performance.now() differences are). No allocation. */
  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.#histogram.recordValue(Math.min(Math.max(us, LATENCY_HISTOGRAM.lowestUs), LATENCY_HISTOGRAM.highestUs));
  }

  /** Latencies recorded. */
  get count(): number {
    return this.#histogram.totalCount;
  }

  /** The histogram's memory, in bytes: the same from the first request to the last. */
  get footprintBytes(): number {
    return this.#histogram.estimatedFootprintInBytes;
  }

  /** min, nearest-rank p50, p90, p99 and max, in milliseconds (to the microsecond); nulls when nothing was recorded. */
  figures(): Latencies {
    const h = this.#histogram;
    if (h.totalCount === 0) return { min: null, p50: null, p90: null, p99: null, max: null };
    const max = h.maxValue;
    const at = (p: number) => Math.min(h.getValueAtPercentile(p), max) / 1000;
    return { min: h.minNonZeroValue / 1000, p50: at(50), p90: at(90), p99: at(99), max: max / 1000 };
  }
}

/** A histogram holding `latenciesMs`: for tests and callers that have a list. */
export function histogramOf(latenciesMs: Iterable<number>): LatencyHistogram {
  const histogram = new LatencyHistogram();
  for (const ms of latenciesMs) histogram.record(ms);
  return histogram;
}
