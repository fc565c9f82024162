// The routing decisions of the mesh preview, as pure functions: which route a
// request takes, which destination and endpoint it goes to, whether a fault or
// a retry applies, and when an endpoint is ejected. Randomness and time are
// passed in, so every decision is testable with fixed values.
import type { HttpRoute, LoadBalancer, OutlierDetection, RequestMatch, RetryPolicy, StringMatch, WeightedDestination } from "./rules.ts";

export interface RequestInfo {
  /** The request target as sent: path plus query string. */
  path: string;
  method: string;
  /** Lower-case names. */
  headers: Record<string, string | undefined>;
}

export function matchString(match: StringMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  if ("exact" in match) return value === match.exact;
  if ("prefix" in match) return value.startsWith(match.prefix);
  return match.regex.test(value);
}

/** Envoy compares exact and regex URI matches with the path alone, prefix matches with path and query. */
export function matchRequest(match: RequestMatch, request: RequestInfo): boolean {
  if (match.uri) {
    const pathOnly = request.path.split("?")[0]!;
    if (!matchString(match.uri, "prefix" in match.uri ? request.path : pathOnly)) return false;
  }
  if (match.method && !matchString(match.method, request.method)) return false;
  return Object.entries(match.headers).every(([name, m]) => matchString(m, request.headers[name]));
}

/** The first route with no match conditions or with one matching condition set (Istio ORs the list). */
export function selectRoute(routes: HttpRoute[], request: RequestInfo): HttpRoute | undefined {
  return routes.find((route) => route.match.length === 0 || route.match.some((m) => matchRequest(m, request)));
}

/** Picks a destination by weight; `random` is in [0, 1). */
export function pickWeighted(destinations: WeightedDestination[], random: number): WeightedDestination {
  const total = destinations.reduce((sum, d) => sum + d.weight, 0);
  let point = random * total;
  for (const d of destinations) {
    if (point < d.weight) return d;
    point -= d.weight;
  }
  return destinations[destinations.length - 1]!;
}

/** True when every label the subset names is on the pod with the same value. */
export function labelsMatch(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export interface EndpointState {
  id: string;
  labels: Record<string, string>;
  ready: boolean;
}

/**
 * The endpoints a cluster may send a try to: ready, carrying the cluster's
 * labels (Service selector plus subset labels), not ejected, and not already
 * tried by this request when another one is left (Istio's previous_hosts retry predicate).
 */
export function selectCandidates<E extends EndpointState>(endpoints: E[], selector: Record<string, string>, isEjected: (id: string) => boolean, tried: ReadonlySet<string>): E[] {
  const healthy = endpoints.filter((e) => e.ready && labelsMatch(selector, e.labels) && !isEjected(e.id));
  const fresh = healthy.filter((e) => !tried.has(e.id));
  return fresh.length > 0 ? fresh : healthy;
}

/** True with probability percent/100, given a `random` in [0, 1). */
export function applies(percent: number, random: number): boolean {
  return random * 100 < percent;
}

export interface Candidate {
  id: string;
  active: number;
}

/**
 * Picks an endpoint: round robin from `cursor`, random, or Envoy's least-request
 * (the less busy of two random choices). Returns the index in `candidates`.
 */
export function pickEndpoint(lb: LoadBalancer, candidates: Candidate[], cursor: number, random: () => number): number {
  const n = candidates.length;
  if (lb === "ROUND_ROBIN") return cursor % n;
  const first = Math.floor(random() * n);
  if (lb === "RANDOM" || n === 1) return first;
  const second = Math.floor(random() * n);
  return candidates[second]!.active < candidates[first]!.active ? second : first;
}

/** How an attempt to reach an upstream ended. */
export type AttemptOutcome =
  | { kind: "response"; status: number }
  | { kind: "connect-failure" }
  | { kind: "reset" }
  | { kind: "per-try-timeout" };

/** Envoy's retryOn semantics for an attempt's outcome. */
export function isRetriable(policy: RetryPolicy, outcome: AttemptOutcome): boolean {
  const on = new Set(policy.retryOn);
  switch (outcome.kind) {
    case "connect-failure":
      return on.has("connect-failure") || on.has("5xx") || on.has("reset");
    case "reset":
      return on.has("reset") || on.has("5xx");
    case "per-try-timeout":
      return on.has("5xx") || on.has("gateway-error");
    case "response": {
      const s = outcome.status;
      if (on.has("5xx") && s >= 500) return true;
      if (on.has("gateway-error") && (s === 502 || s === 503 || s === 504)) return true;
      if (on.has("retriable-4xx") && s === 409) return true;
      return on.has("retriable-status-codes") && policy.retriableStatusCodes.includes(s);
    }
  }
}

/** Whether to try again after attempt number `tried` (1 = the first try) ended with `outcome`. */
export function shouldRetry(policy: RetryPolicy, tried: number, outcome: AttemptOutcome): boolean {
  return tried <= policy.attempts && isRetriable(policy, outcome);
}

/** Envoy's fully jittered back-off before retry `retry` (1-based): random in [0, 25ms·(2^retry − 1)), capped at 250ms. */
export function retryBackoffMs(retry: number, random: number): number {
  const ceiling = Math.min(250, 25 * (2 ** retry - 1));
  return Math.floor(random * ceiling);
}

/** Outcomes that count as a 5xx for outlier detection (local connection errors included, as Istio configures Envoy). */
export function countsAsError(outcome: AttemptOutcome): boolean {
  return outcome.kind !== "response" || outcome.status >= 500;
}

interface EjectionState {
  consecutive: number;
  timesEjected: number;
  ejectedUntil: number;
}

/**
 * Envoy's consecutive-5xx outlier detection for one cluster. An endpoint is
 * ejected the moment it reaches the threshold, unless that would eject more
 * than maxEjectionPercent of the cluster (one ejection is always allowed); it
 * returns at the first detection interval after baseEjectionTime × times ejected.
 */
export class OutlierDetector {
  readonly #config: OutlierDetection;
  readonly #state = new Map<string, EjectionState>();

  constructor(config: OutlierDetection) {
    this.#config = config;
  }

  #get(id: string): EjectionState {
    let state = this.#state.get(id);
    if (!state) this.#state.set(id, (state = { consecutive: 0, timesEjected: 0, ejectedUntil: 0 }));
    return state;
  }

  isEjected(id: string, now: number): boolean {
    return (this.#state.get(id)?.ejectedUntil ?? 0) > now;
  }

  /** Records an attempt's outcome; `clusterSize` is the number of endpoints in the cluster. Returns true if it ejected `id`. */
  record(id: string, error: boolean, now: number, clusterSize: number): boolean {
    const state = this.#get(id);
    if (!error) {
      state.consecutive = 0;
      return false;
    }
    state.consecutive += 1;
    const threshold = this.#config.consecutive5xxErrors;
    if (threshold === 0 || state.consecutive < threshold || this.isEjected(id, now)) return false;
    const ejected = [...this.#state.keys()].filter((other) => this.isEjected(other, now)).length;
    if (ejected > 0 && ((ejected + 1) * 100) / clusterSize > this.#config.maxEjectionPercent) return false;
    state.timesEjected += 1;
    state.consecutive = 0;
    const { intervalMs, baseEjectionTimeMs } = this.#config;
    const duration = baseEjectionTimeMs * state.timesEjected;
    state.ejectedUntil = now + Math.ceil(duration / intervalMs) * intervalMs;
    return true;
  }
}

/** Envoy sends mirrored requests with `-shadow` appended to the host (before any port). */
export function shadowHost(host: string): string {
  const match = /^(.*?)(:\d+)?$/.exec(host)!;
  return `${match[1]}-shadow${match[2] ?? ""}`;
}

export function isShadowHost(host: string): boolean {
  return host.replace(/:\d+$/, "").endsWith("-shadow");
}
