// The latency histogram against exact nearest-rank percentiles of known samples:
// within the documented precision, and a memory that does not grow.
import { describe, expect, it } from "vitest";
import { LATENCY_HISTOGRAM, LATENCY_RELATIVE_PRECISION, LatencyHistogram, histogramOf } from "#sleep/latency.ts";
import { LATENCY_STATS, type Latencies } from "#sleep/expect.ts";

/** What tally computed before the histogram: the exact nearest-rank figures of every latency, kept and sorted. */
function exactFigures(latenciesMs: readonly number[]): Latencies {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted.length === 0 ? null : sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { min: rank(0), p50: rank(50), p90: rank(90), p99: rank(99), max: rank(100) };
}

/** A repeatable pseudo-random sequence in [0, 1) (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const us = (n: number) => n / 1000;
const rnd = random(29);

// Latencies in milliseconds, whole microseconds (what tally records), sorted or not.
const SAMPLES: [name: string, latenciesMs: number[]][] = [
  ["one response", [7]],
  ["two responses", [0.3, 250]],
  ["all the same", Array.from({ length: 1000 }, () => 4.2)],
  ["1..100 ms, descending", Array.from({ length: 100 }, (_, i) => 100 - i)],
  ["below 2.048 ms (exact range), 10k", Array.from({ length: 10_000 }, () => us(1 + Math.floor(rnd() * 2047)))],
  ["uniform 0.1 ms to 10 s, 10k", Array.from({ length: 10_000 }, () => us(100 + Math.floor(rnd() * 9_999_900)))],
  [
    "long tail (exponential, mean 3 ms), 50k",
    Array.from({ length: 50_000 }, () => us(Math.max(1, Math.round(-Math.log(1 - rnd()) * 3000)))),
  ],
  [
    "two modes: 1 ms and the injected 3 s delay",
    Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? us(3_000_000 + i) : us(1000 + i))),
  ],
  ["the longest --timeout, 10 minutes", [1, 2, 600_000]],
  ["the edges of a bucket: 2047, 2048, 2049 µs", [us(2047), us(2048), us(2049), us(4095), us(4096)]],
];

describe("LatencyHistogram", () => {
  it.each(SAMPLES)(
    "%s: min and max exact, percentiles nearest-rank within 1/1024 above, never below, never above max",
    (_name, latenciesMs) => {
      const exact = exactFigures(latenciesMs);
      const figures = histogramOf(latenciesMs).figures();
      expect(figures.min).toBe(exact.min);
      expect(figures.max).toBe(exact.max);
      for (const stat of LATENCY_STATS) {
        const [got, want] = [figures[stat]!, exact[stat]!];
        expect(got, stat).toBeGreaterThanOrEqual(want);
        expect(got, stat).toBeLessThanOrEqual(Math.min(want * (1 + LATENCY_RELATIVE_PRECISION), exact.max!));
        // Below 2048 µs every microsecond has its own bucket.
        if (want < 2.048) expect(got, stat).toBe(want);
      }
    },
  );

  it.each([
    ["a latency under a microsecond counts as 1 µs", [0.0001], 0.001],
    ["a latency is rounded to the microsecond", [1.2344], 1.234],
    ["a latency above the histogram's range counts as its top (1 h)", [5_000_000], LATENCY_HISTOGRAM.highestUs / 1000],
  ])("%s", (_name, latenciesMs, ms) => {
    expect(histogramOf(latenciesMs).figures()).toEqual({ min: ms, p50: ms, p90: ms, p99: ms, max: ms });
  });

  it("gives nulls when nothing was recorded", () => {
    expect(new LatencyHistogram().figures()).toEqual({ min: null, p50: null, p90: null, p99: null, max: null });
  });

  it("keeps the same memory from the first latency to the millionth", () => {
    const histogram = new LatencyHistogram();
    const empty = histogram.footprintBytes;
    const next = random(1);
    for (let i = 0; i < 1_000_000; i++) histogram.record(next() * 600_000);
    expect(histogram.count).toBe(1_000_000);
    expect(histogram.footprintBytes).toBe(empty);
    // 1 µs to 1 h at 3 significant digits: about 23k buckets of 8 bytes.
    expect(empty).toBeLessThan(256 * 1024);
  });
});
