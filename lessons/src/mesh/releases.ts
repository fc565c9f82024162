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
  /** Minor version, "1.28". */
  version: string;
  /** The retry policy of a route that sets no `retries`. */
  defaultRetry: RetryPolicy;
  /** Whether mirrored copies get `-shadow` appended to their Host. */
  shadowHostSuffix: boolean;
}

const RETRY_CONDITIONS = ["connect-failure", "refused-stream", "unavailable", "cancelled"];

function release(version: string, retries503: boolean, shadowHostSuffix: boolean): IstioRelease {
  return {
    version,
    defaultRetry: { attempts: 2, retryOn: [...RETRY_CONDITIONS, "retriable-status-codes"], retriableStatusCodes: retries503 ? [503] : [] },
    shadowHostSuffix,
  };
}

/** Oldest first. */
export const RELEASES: readonly IstioRelease[] = [
  release("1.27", false, true),
  release("1.28", false, false),
];

export const NEWEST_RELEASE = RELEASES.at(-1)!;
export const OLDEST_RELEASE = RELEASES[0]!;

/** The release for "1.28" (or "1.28.2"); undefined for one the preview does not model. */
export function findRelease(text: string): IstioRelease | undefined {
  const minor = /^(\d+\.\d+)(\.\d+)?$/.exec(text.trim())?.[1];
  return RELEASES.find((r) => r.version === minor);
}
