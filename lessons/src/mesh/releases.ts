// The Istio releases the preview models, and the defaults that differ between
// them. Every value here is cited in docs/mesh-preview.md.
export interface RetryPolicy {
  /** Retries after the first try (Istio's `attempts`): 3 means up to 4 tries. */
  attempts: number;
  perTryTimeoutMs?: number;
  retryOn: string[];
  /** Status codes retried by `retriable-status-codes` or listed as numbers in retryOn. */
  retriableStatusCodes: number[];
}

export interface IstioRelease {
  /** Minor version, "1.31". */
  version: string;
  /** Its latest patch release known on 2026-11-25 (what the CI workflow installs). */
  patch: string;
  /** The Gateway API release it is built against (sigs.k8s.io/gateway-api in its go.mod). */
  gatewayApi: string;
  /** Whether upstream still supports it on the date the preview's sources were read (2026-11-25). */
  supportedUpstream: boolean;
  /** The retry policy of a route that sets no `retries`. */
  defaultRetry: RetryPolicy;
  /** Whether mirrored copies get `-shadow` appended to their Host. */
  shadowHostSuffix: boolean;
}

/**
 * Istio's default retry policy since 1.24: 2 retries on connection failures
 * (and gRPC conditions that plain HTTP never meets). `retriable-status-codes`
 * is in the list, but with no code: 503 is not retried since 1.24 (an opt-out
 * flag in 1.24–1.26, gone in 1.27).
 */
const DEFAULT_RETRY: RetryPolicy = {
  attempts: 2,
  retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
  retriableStatusCodes: [],
};

function release(patch: string, gatewayApi: string, supportedUpstream: boolean, shadowHostSuffix: boolean): IstioRelease {
  return { version: patch.split(".").slice(0, 2).join("."), patch, gatewayApi, supportedUpstream, defaultRetry: DEFAULT_RETRY, shadowHostSuffix };
}

/** Oldest first. 1.27 and 1.28 are past their end of life; they stay for the defaults that changed since. */
export const RELEASES: readonly IstioRelease[] = [
  release("1.27.9", "v1.3.0", false, true),
  release("1.28.10", "v1.4.1", false, false),
  release("1.29.9", "v1.4.1", false, false),
  release("1.30.5", "v1.5.1", true, false),
  release("1.31.1", "v1.6.0", true, false),
];

/** The releases the lessons are written for and checked with (the CI workflow runs the oldest and the newest): the newest three minors. */
export const LESSON_RELEASES: readonly IstioRelease[] = RELEASES.slice(-3);

export const NEWEST_RELEASE = RELEASES.at(-1)!;
export const OLDEST_RELEASE = RELEASES[0]!;
export const OLDEST_LESSON_RELEASE = LESSON_RELEASES[0]!;

/** The release for "1.31" (or "1.31.2"); undefined for one the preview does not model. */
export function findRelease(text: string): IstioRelease | undefined {
  const minor = /^(\d+\.\d+)(\.\d+)?$/.exec(text.trim())?.[1];
  return RELEASES.find((r) => r.version === minor);
}
