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
  /**
   * The Kubernetes minors it supports, as its announcement states them ("Istio 1.31.0 is officially
   * supported on Kubernetes versions 1.32 to 1.36", istio.io content/en/news/releases/<minor>.x/announcing-<minor>).
   * istio.io's table (data/compatibility/supportStatus.yml) is edited later and may list one more.
   */
  kubernetes: { min: string; max: string };
  /** Patch releases a lesson is known to fail on, with why and where it was found. */
  knownBad: readonly KnownBadPatch[];
  /** Ambient: whether a waypoint's route for a Service with no route of its own has the default retry policy (istio/istio#60682, 1.30.3). */
  waypointDefaultRetry: boolean;
  /** Ambient: whether a waypoint hashes by a DestinationRule's consistentHash for a Service with no route (istio/istio#61045, 1.31). */
  waypointHashWithoutRoute: boolean;
}

export interface KnownBadPatch {
  patch: string;
  lesson: string;
  why: string;
  fixedIn: string;
  source: string;
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

function release(
  patch: string,
  gatewayApi: string,
  supportedUpstream: boolean,
  shadowHostSuffix: boolean,
  kubernetes: [string, string],
  waypoint: { defaultRetry: boolean; hashWithoutRoute: boolean },
  knownBad: KnownBadPatch[] = [],
): IstioRelease {
  return {
    version: patch.split(".").slice(0, 2).join("."),
    patch,
    gatewayApi,
    supportedUpstream,
    defaultRetry: DEFAULT_RETRY,
    shadowHostSuffix,
    kubernetes: { min: kubernetes[0], max: kubernetes[1] },
    knownBad,
    waypointDefaultRetry: waypoint.defaultRetry,
    waypointHashWithoutRoute: waypoint.hashWithoutRoute,
  };
}

/** Waypoint defaults before the fixes of 1.30.3 (default retries) and 1.31 (a hash without a route). */
const OLD_WAYPOINTS = { defaultRetry: false, hashWithoutRoute: false };

/**
 * Oldest first. 1.27 and 1.28 are past their end of life; they stay for the defaults that changed since.
 * The newest release was rechecked on 2026-12-08: istio/istio.io's content/en/news/releases holds
 * 1.31.x (announcing-1.31, announcing-1.31.1) and no 1.32.x, and no release-1.32 branch of
 * istio/istio was found; 1.31.1 is the newest.
 */
export const RELEASES: readonly IstioRelease[] = [
  release("1.27.9", "v1.3.0", false, true, ["1.29", "1.33"], OLD_WAYPOINTS),
  release("1.28.10", "v1.4.1", false, false, ["1.29", "1.34"], OLD_WAYPOINTS),
  release("1.29.9", "v1.4.1", false, false, ["1.31", "1.35"], OLD_WAYPOINTS),
  release("1.30.5", "v1.5.1", true, false, ["1.32", "1.36"], { defaultRetry: true, hashWithoutRoute: false }, [
    {
      patch: "1.30.0",
      lesson: "session-affinity",
      why: "Envoy's ring-hash load balancer regressed: requests with the same header no longer stay on one pod",
      fixedIn: "1.30.1",
      source: "istio/istio#60312",
    },
  ]),
  release("1.31.1", "v1.6.0", true, false, ["1.32", "1.36"], { defaultRetry: true, hashWithoutRoute: true }),
];

/** "1.30.0" against the known-bad patches: what fails there, or undefined. */
export function knownBadPatch(version: string): KnownBadPatch | undefined {
  const patch = /^v?(\d+\.\d+\.\d+)/.exec(version.trim())?.[1];
  return RELEASES.flatMap((r) => r.knownBad).find((bad) => bad.patch === patch);
}

/** Whether a release supports a Kubernetes minor ("1.35"). */
export function supportsKubernetes(release: IstioRelease, minor: string): boolean {
  const n = (v: string) => Number(v.split(".")[1]);
  return n(minor) >= n(release.kubernetes.min) && n(minor) <= n(release.kubernetes.max);
}

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
