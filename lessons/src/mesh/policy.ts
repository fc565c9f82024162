// The per-request decisions of the mesh preview's proxies, as pure functions:
// which destination and endpoint a request goes to, whether a fault or a retry
// applies, and when an endpoint is ejected. Randomness and time are passed in,
// so every decision is testable with fixed values.
import { createHash } from "node:crypto";
import { pickWeighted } from "#common/weighted.ts";
import type { LoadBalancer, OutlierDetection, RetryPolicy, WeightedDestination } from "./model.ts";
import { labelsMatch } from "../core/kustomize.ts";

/** Picks a route destination by weight; weights are relative (weight / sum of weights). `random` is in [0, 1). */
export function pickDestination(destinations: WeightedDestination[], random: number): WeightedDestination {
  return pickWeighted(destinations, random);
}

export interface EndpointState {
  id: string;
  labels: Record<string, string>;
  ready: boolean;
}

/** The ready endpoints of a cluster (its labels) that are not ejected. */
export function healthyEndpoints<E extends EndpointState>(
  endpoints: E[],
  selector: Record<string, string>,
  isEjected: (id: string) => boolean,
): E[] {
  return endpoints.filter((e) => e.ready && labelsMatch(selector, e.labels) && !isEjected(e.id));
}

/** The endpoints a retry may go to: those this request has not tried yet, when one is left (Istio's previous_hosts predicate). */
export function untried<E extends { id: string }>(healthy: E[], tried: ReadonlySet<string>): E[] {
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

const RING_POINTS_PER_HOST = 64;

function hash64(text: string): bigint {
  return createHash("sha256").update(text).digest().readBigUInt64BE(0);
}

/**
 * Consistent hashing over a ring: each host owns points on a ring of 64-bit
 * hashes, and a key goes to the owner of the first point at or after its hash.
 * The same key reaches the same host while the set of hosts stays the same,
 * and adding or removing a host moves only the keys it owned.
 */
export function ringHashPick(ids: string[], key: string): number {
  const ring = ids.flatMap((id, index) =>
    Array.from({ length: RING_POINTS_PER_HOST }, (_, i) => ({ point: hash64(`${id}_${i}`), index })),
  );
  ring.sort((a, b) => (a.point < b.point ? -1 : a.point > b.point ? 1 : 0));
  const h = hash64(key);
  return (ring.find((p) => p.point >= h) ?? ring[0]!).index;
}

/**
 * Picks an endpoint: round robin from `cursor`, random, Envoy's least-request
 * (the less busy of two random choices), or a consistent hash of `hashKey`
 * (random when the request has no key). Returns the index in `candidates`.
 */
export function pickEndpoint(
  lb: LoadBalancer,
  candidates: Candidate[],
  cursor: number,
  random: () => number,
  hashKey?: string,
): number {
  const n = candidates.length;
  if ("consistentHash" in lb)
    return hashKey === undefined
      ? Math.floor(random() * n)
      : ringHashPick(
          candidates.map((c) => c.id),
          hashKey,
        );
  if (lb.simple === "ROUND_ROBIN") return cursor % n;
  const first = Math.floor(random() * n);
  if (lb.simple === "RANDOM" || n === 1) return first;
  const second = Math.floor(random() * n);
  return candidates[second]!.active < candidates[first]!.active ? second : first;
}

/** How an attempt to reach an upstream ended. */
export type AttemptOutcome =
  | { kind: "response"; status: number; serverSideOverflow?: boolean }
  | { kind: "connect-failure" }
  | { kind: "reset" }
  | { kind: "per-try-timeout" }
  | { kind: "overflow" };

/** Envoy's retryOn semantics for an attempt's outcome. */
export function isRetriable(policy: RetryPolicy, outcome: AttemptOutcome): boolean {
  const on = new Set(policy.retryOn);
  switch (outcome.kind) {
    case "overflow":
      return false;
    case "connect-failure":
      // Nothing of the request was sent: reset-before-request covers it too.
      return (
        on.has("connect-failure") ||
        on.has("5xx") ||
        on.has("gateway-error") ||
        on.has("reset") ||
        on.has("reset-before-request")
      );
    case "reset":
      return on.has("reset") || on.has("5xx") || on.has("gateway-error");
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

/** Outcomes that count as a 5xx for outlier detection (local connection errors included, as Istio configures Envoy); never an overflow. */
export function countsAsError(outcome: AttemptOutcome): boolean {
  if (outcome.kind === "overflow") return false;
  return outcome.kind !== "response" || outcome.status >= 500;
}

interface EjectionState {
  consecutive: number;
  timesEjected: number;
  ejectedUntil: number;
}

/**
 * Envoy's consecutive-5xx outlier detection for one cluster. An endpoint is
 * ejected the moment it reaches the threshold, unless the ejected share would
 * then exceed maxEjectionPercent (no ejection is exempt: Istio does not set
 * always_eject_one_host, so with the default 10% and fewer than 10 endpoints
 * none is ever ejected); it returns at the first detection interval after
 * baseEjectionTime × times ejected.
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

  /** When `id`'s current (or last) ejection ends, in ms since the epoch; 0 if never ejected. */
  ejectedUntil(id: string): number {
    return this.#state.get(id)?.ejectedUntil ?? 0;
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
    if (((ejected + 1) * 100) / clusterSize > this.#config.maxEjectionPercent) return false;
    state.timesEjected += 1;
    state.consecutive = 0;
    const { intervalMs, baseEjectionTimeMs } = this.#config;
    const duration = baseEjectionTimeMs * state.timesEjected;
    state.ejectedUntil = now + Math.ceil(duration / intervalMs) * intervalMs;
    return true;
  }
}

/** Envoy's shadow host: `-shadow` appended to the host, before any port. */
export function shadowHost(host: string): string {
  const match = /^(.*?)(:\d+)?$/.exec(host)!;
  return `${match[1]}-shadow${match[2] ?? ""}`;
}
