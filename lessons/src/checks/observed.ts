// For a failing expectation, the rules behind what was observed: tally's report names the
// expectation and what it saw, the preview's proxies recorded which rule decided each request.
// A key is tied to the decisions that produced it by what both show: a status (`503`,
// `503 (empty)`), or a version the destination names (`v2`: `flaskapp subset v2`, `flaskapp-v2`).
import type { Decision } from "../mesh/proxy.ts";

/** tally's "FAIL  v1=70±10  expected 70% ±10, observed 13.3% (53 of 400)" lines: the expression and what was observed. */
export function failedExpectations(report: string): Array<{ expr: string; key: string; observed: string }> {
  return [...report.matchAll(/^FAIL {2}(\S+) +expected [^\n]*?, observed ([^\n]*)$/gm)].flatMap((m) => {
    const key = /^(.+?)(?:[<>!]?=|[<>])/.exec(m[1]!)?.[1];
    return key === undefined ? [] : [{ expr: m[1]!, key, observed: m[2]! }];
  });
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether a decision produced answers counted under `key`, as far as the decision shows. */
export function producedKey(decision: Decision, key: string): boolean {
  const status = /^(\d{3})(?: \(empty\))?$/.exec(key)?.[1];
  if (status !== undefined) return decision.status === Number(status);
  if (decision.subset === key) return true;
  return (
    decision.destination !== undefined && new RegExp(`(subset |-)${escapeRegex(key)}(\\b|$)`).test(decision.destination)
  );
}

function describe(decision: Decision): string {
  return `${decision.rule}${decision.destination ? ` → ${decision.destination}` : ""} → ${decision.status}`;
}

/** Counted lines of the decisions, most first, at most `max`. */
function counted(decisions: readonly Decision[], max: number): string {
  const counts = new Map<string, number>();
  for (const d of decisions) counts.set(describe(d), (counts.get(describe(d)) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, max)
    .map(([line, n]) => `${n} × ${line}`)
    .join("; ");
}

/**
 * One line per failing expectation: the rules that produced what it counted, or (when none
 * did) that no rule produced it and which rules the answers came from instead.
 */
export function explainFailures(report: string, all: readonly Decision[], max = 3): string {
  // A mirrored copy's answer never reaches the client: tally did not count it.
  const decisions = all.filter((d) => d.kind !== "mirror");
  if (decisions.length === 0) return "";
  return failedExpectations(report)
    .map(({ expr, key, observed }) => {
      const behind = decisions.filter((d) => producedKey(d, key));
      const from =
        behind.length > 0
          ? `came from ${counted(behind, max)}`
          : `no rule produced ${key}; the answers came from ${counted(decisions, max)}`;
      return `why ${expr} failed (observed ${observed}): ${from}\n`;
    })
    .join("");
}
