// One parser for every duration the project accepts: flaskapp's environment
// (FETCH_TIMEOUT=10s), tally's options (-d 1m, --timeout 500ms) and Istio's
// protobuf durations in VirtualServices (timeout: 1s, fixedDelay: 0.5s).

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)$/;

export const DURATION_FORM = "a number with a unit: 500ms, 1.5s, 10s, 1m, 1h";

/** Parses "1.5s" into 1500 milliseconds; returns undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2]!]!;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Formats milliseconds the way a person writes them: 1500 → "1.5s", 60000 → "1m". */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))}s`;
  return `${Math.round(ms)}ms`;
}
